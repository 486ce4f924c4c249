//! The command line's language: `--lang`, else `LC_ALL` / `LC_MESSAGES` / `LANG`, else English.

use serde_json::Value;
use std::process::{Command, Output};

fn run(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxrealname"));
    for var in ["LC_ALL", "LC_MESSAGES", "LANG", "RUST_LOG"] {
        c.env_remove(var);
    }
    c.envs(env.iter().copied()).args(args).output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const BAD_CHECKSUM: &str = "110101199003070039";
const VALID: &str = "11010519491231002X";

#[test]
fn idcard_check_speaks_chinese_under_a_chinese_locale() {
    let o = run(
        &[("LANG", "zh_CN.UTF-8")],
        &["idcard", "check", VALID, BAD_CHECKSUM],
    );
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    assert!(
        text.contains("有效  11010519491231002X  出生 1949-12-31  女"),
        "{text}"
    );
    assert!(
        text.contains(
            "无效  110101199003070039  checksum: 身份证号最后一位与前17位不符，请检查是否输错"
        ),
        "{text}"
    );

    let o = run(&[], &["idcard", "check", BAD_CHECKSUM]);
    assert!(
        out(&o)
            .starts_with("invalid  110101199003070039  checksum: the ID number's last character"),
        "{}",
        out(&o)
    );
}

/// `--json` keeps its keys and codes; only `error.message` changes language.
#[test]
fn idcard_check_json_message_follows_the_language_and_the_code_does_not() {
    for (env, args, chinese) in [
        (vec![("LC_ALL", "zh_CN.UTF-8")], vec![], true),
        (
            vec![("LANG", "en_US.UTF-8"), ("LC_MESSAGES", "zh_TW")],
            vec![],
            true,
        ),
        (
            vec![("LC_ALL", "C"), ("LANG", "zh_CN.UTF-8")],
            vec![],
            false,
        ),
        (vec![], vec!["--lang", "zh-CN"], true),
        (vec![("LANG", "zh_CN.UTF-8")], vec!["--lang", "en"], false),
    ] {
        let mut a = args.clone();
        a.extend(["idcard", "check", "--json", BAD_CHECKSUM]);
        let o = run(&env, &a);
        let v: Value = serde_json::from_str(out(&o).trim()).unwrap();
        assert_eq!(v["error"]["code"], "checksum", "{env:?} {args:?}");
        let message = v["error"]["message"].as_str().unwrap();
        assert_eq!(
            i18n::has_cjk(message),
            chinese,
            "{env:?} {args:?}: {message}"
        );
    }
}

#[test]
fn cli_errors_are_in_chinese_too() {
    let o = run(&[("LANG", "zh_CN.UTF-8")], &["idcard", "check"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).starts_with("错误：没有给出身份证号"), "{}", err(&o));

    let o = run(
        &[],
        &["--lang", "zh-CN", "audit", "export", "--format", "xml"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("错误：--format 只能是 jsonl 或 csv"),
        "{}",
        err(&o)
    );

    let o = run(&[], &["audit", "export", "--format", "xml"]);
    assert!(
        err(&o).contains("error: --format must be jsonl or csv"),
        "{}",
        err(&o)
    );

    let o = run(&[], &["--lang", "fr", "idcard", "check", VALID]);
    assert_eq!(o.status.code(), Some(2), "clap refuses an unknown language");
}
