//! Issue 13 §5, the CLI side: a taken port is named with what sets it; the banners' columns line up with Chinese
//! names; every flag has help.

use super::{bin, stderr, stdout, write_config};
use std::process::Output;

/// Hold a port so that nothing else can listen on it.
fn taken() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

fn demo(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut all = vec![
        "demo",
        "--data-dir",
        dir.to_str().unwrap(),
        "--exit-when-ready",
    ];
    all.extend(args);
    bin().args(all).output().unwrap()
}

fn assert_names(o: &Output, addr: &str, set_by: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(
        line.contains(&format!("cannot listen on {addr}"))
            && line.contains("already in use")
            && line.contains(set_by),
        "{line}"
    );
}

#[test]
fn a_taken_port_is_named_with_the_flag_or_key_that_sets_it() {
    let (_held, addr) = taken();
    let dir = tempfile::tempdir().unwrap();

    let o = bin().args(["sandbox", "--addr", &addr]).output().unwrap();
    assert_names(&o, &addr, "--addr");

    let o = demo(
        dir.path(),
        &["--sandbox-addr", &addr, "--listen", "127.0.0.1:0"],
    );
    assert_names(&o, &addr, "--sandbox-addr");
    let o = demo(
        dir.path(),
        &["--sandbox-addr", "127.0.0.1:0", "--listen", &addr],
    );
    assert_names(&o, &addr, "--listen");
    let o = demo(
        dir.path(),
        &[
            "--sandbox-addr",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--web-addr",
            &addr,
        ],
    );
    assert_names(&o, &addr, "--web-addr");

    let cfg = write_config(dir.path());
    let o = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WXRN_LISTEN", &addr)
        .env("WXRN_SECRET_TEST", "x")
        .output()
        .unwrap();
    assert_names(&o, &addr, "`listen`");
    assert!(stderr(&o).contains("WXRN_LISTEN"), "{}", stderr(&o));

    // In Chinese under a Chinese locale.
    let o = bin()
        .args(["sandbox", "--addr", &addr])
        .env("LC_ALL", "zh_CN.UTF-8")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("无法监听 {addr}：该地址已被占用"))
            && stderr(&o).contains("--addr"),
        "{}",
        stderr(&o)
    );
}

/// The demo's banner lists the demo users in a table whose columns start at the same display column on every
/// line, although the names are Chinese (two columns per character).
#[test]
fn the_demo_banner_aligns_its_table_by_display_width() {
    use unicode_width::UnicodeWidthStr;
    let dir = tempfile::tempdir().unwrap();
    let o = demo(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("openid "))
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(table.len() >= 5, "{out}");
    // Where each column starts: the display width before the cell that follows a run of two spaces.
    let starts = |line: &str| -> Vec<usize> {
        let mut out = Vec::new();
        let mut rest = line;
        let mut offset = 0;
        for _ in 0..4 {
            let gap = rest.find("  ").unwrap();
            let cell = gap + rest[gap..].find(|c: char| c != ' ').unwrap();
            offset += rest[..cell].width();
            out.push(offset);
            rest = &rest[cell..];
        }
        out
    };
    let header = starts(table[0]);
    for line in &table[1..] {
        assert!(!line.is_ascii(), "a Chinese name: {line}");
        assert_eq!(starts(line), header, "{line}");
    }
}
