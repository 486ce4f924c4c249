use crate::helpers::*;
use chrono::NaiveDate;
use reqwest::Method;
use sandbox::{SandboxConfig, demo};
use serde_json::json;

async fn demo_sandbox() -> TestSandbox {
    TestSandbox::with(SandboxConfig {
        seed_demo: true,
        ..SandboxConfig::default()
    })
    .await
}

#[tokio::test]
async fn every_demo_provider_case_produces_the_advertised_outcome_on_both_providers() {
    use crate::providers::{acs_now, aliyun, id_body, now, result_of, tencent};
    let app = demo_sandbox().await;
    for (i, c) in demo::PROVIDER_CASES.iter().enumerate() {
        let v = tencent(
            &app,
            demo::TENCENT_SECRET_ID,
            demo::TENCENT_SECRET_KEY,
            now(&app),
            &id_body(c.submit_name, c.submit_cred_id),
            None,
        )
        .await;
        let want = match c.outcome {
            "match" => ("0", "1"),
            "mismatch" => ("-1", "2"),
            _ => ("-5", "3"),
        };
        assert_eq!(result_of(&v), want.0, "{c:?}");
        let params = [
            ("ParamType", "normal"),
            ("IdentifyNum", c.submit_cred_id),
            ("UserName", c.submit_name),
        ];
        let (status, v) = aliyun(
            &app,
            demo::ALIYUN_ACCESS_KEY_ID,
            demo::ALIYUN_ACCESS_KEY_SECRET,
            &acs_now(&app),
            &format!("demo-{i}"),
            &params,
            None,
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        assert_eq!(v["ResultObject"]["BizCode"], want.1, "{c:?}");
    }
    let banner = demo::banner(&app.handle.base_url());
    assert!(
        banner.contains(demo::TENCENT_SECRET_ID) && banner.contains(demo::ALIYUN_ACCESS_KEY_ID)
    );
}

#[tokio::test]
async fn every_demo_user_produces_the_advertised_outcome() {
    let app = demo_sandbox().await;
    let token = app.classic_token(demo::APPID, demo::SECRET).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for u in demo::USERS {
        let (_, v) = app
            .admin(
                Method::POST,
                "/sandbox/consent",
                Some(json!({"appid": demo::APPID, "openid": u.openid})),
            )
            .await;
        let code = v["code"].as_str().unwrap();
        let v = app
            .check(
                &token,
                &check_body(u.openid, u.submit_name, u.submit_cred_id, code),
            )
            .await;
        assert_eq!(verdict(&v), u.expected(), "{}", u.openid);
    }
    let outcomes: Vec<_> = demo::USERS.iter().map(|u| u.outcome).collect();
    for outcome in ["match", "id_mismatch", "name_mismatch", "not_verified"] {
        assert!(outcomes.contains(&outcome), "{outcome}");
    }
}

#[tokio::test]
async fn the_no_permission_demo_app_answers_48001() {
    let app = demo_sandbox().await;
    let v = app
        .classic_token(demo::NO_PERMISSION_APPID, demo::NO_PERMISSION_SECRET)
        .await;
    let token = v["access_token"].as_str().unwrap();
    let code = app.consent(demo::NO_PERMISSION_APPID, demo::NO_PERMISSION_OPENID);
    let u = &demo::USERS[0];
    let v = app
        .check(
            token,
            &check_body(
                demo::NO_PERMISSION_OPENID,
                u.submit_name,
                u.submit_cred_id,
                &code,
            ),
        )
        .await;
    assert_eq!(errcode(&v), 48001);
}

fn assert_valid_id(id: &str) -> NaiveDate {
    assert_eq!(id.len(), 18, "{id}");
    assert!(id[..17].bytes().all(|b| b.is_ascii_digit()));
    assert!(
        id.starts_with("110101"),
        "a fictional number in a plain region code: {id}"
    );
    assert_eq!(
        check_char(&id[..17]),
        id.as_bytes()[17].to_ascii_uppercase() as char,
        "{id}"
    );
    NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").unwrap_or_else(|_| panic!("bad date in {id}"))
}

#[test]
fn demo_id_numbers_are_valid_and_the_minor_is_under_14() {
    for u in demo::USERS {
        assert_valid_id(u.submit_cred_id);
        if let Some(stored) = u.stored_cred_id {
            assert_valid_id(stored);
        }
        assert_eq!(u.stored_name.is_some(), u.stored_cred_id.is_some());
    }
    let minor = demo::USERS
        .iter()
        .find(|u| u.openid.contains("minor"))
        .unwrap();
    let born = assert_valid_id(minor.submit_cred_id);
    let fourteenth_birthday = born
        .checked_add_months(chrono::Months::new(14 * 12))
        .unwrap();
    assert!(
        chrono::Utc::now().date_naive() < fourteenth_birthday,
        "the demo minor has grown up: pick a later birth date"
    );
    let mismatch = demo::USERS
        .iter()
        .find(|u| u.outcome == "id_mismatch")
        .unwrap();
    assert_ne!(Some(mismatch.submit_cred_id), mismatch.stored_cred_id);
    assert!(demo::APPID.starts_with("wx") && demo::NO_PERMISSION_APPID.starts_with("wx"));
}

#[tokio::test]
async fn reset_seeds_the_demo_again() {
    let app = demo_sandbox().await;
    app.handle.state().add_app("wxextra", "s", true).unwrap();
    app.handle.state().reset();
    let apps: Vec<_> = app
        .handle
        .state()
        .apps()
        .into_iter()
        .map(|a| a.appid)
        .collect();
    assert_eq!(apps, [demo::APPID, demo::NO_PERMISSION_APPID]);
}

#[test]
fn the_banner_shows_the_demo_and_a_check_to_paste() {
    let text = demo::banner("http://127.0.0.1:9100/");
    for needle in [
        demo::APPID,
        demo::SECRET,
        demo::NO_PERMISSION_APPID,
        "/intp/realname/checkrealnameinfo",
        "/sandbox/consent",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert!(
        text.contains("http://127.0.0.1:9100/cgi-bin/token"),
        "no double slash"
    );
    for u in demo::USERS {
        assert!(text.contains(u.openid));
    }
    assert!(
        !format!("{:?}", demo::USERS[0]).contains(demo::USERS[0].submit_cred_id),
        "Debug hides the ID"
    );
}

#[test]
fn the_banner_speaks_english_and_chinese() {
    let banner = sandbox::demo::banner("http://127.0.0.1:9100");
    assert!(
        banner.contains("all names and ID numbers below are fictional"),
        "{banner}"
    );
    assert!(banner.contains("以下姓名和身份证号均为虚构"), "{banner}");
}
