use crate::helpers::*;
use sandbox::{Quotas, SandboxConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn each_result_of_the_spec_table() {
    let app = TestSandbox::spawn().await;
    let cases = [
        (
            ALICE.openid,
            ALICE.name,
            ALICE.cred_id,
            ("V_OP_NM_MA", "V_NM_ID_MA"),
        ),
        (
            ALICE.openid,
            ALICE.name,
            BOB.cred_id,
            ("V_OP_NM_MA", "V_NM_ID_UM"),
        ),
        (ALICE.openid, BOB.name, ALICE.cred_id, ("V_OP_NM_UM", "")),
        (ALICE.openid, BOB.name, BOB.cred_id, ("V_OP_NM_UM", "")),
        (CAROL_UNVERIFIED, ALICE.name, ALICE.cred_id, ("V_OP_NA", "")),
    ];
    for (openid, name, cred_id, expected) in cases {
        let v = app.check_person(openid, name, cred_id).await;
        assert_eq!(verdict(&v), expected, "{openid}");
        assert_eq!(v["errmsg"], "ok");
    }
    let stats = app.handle.stats();
    assert_eq!(stats.outcome("V_NM_ID_MA"), 1);
    assert_eq!(stats.outcome("V_NM_ID_UM"), 1);
    assert_eq!(stats.outcome("V_OP_NM_UM"), 2);
    assert_eq!(stats.outcome("V_OP_NA"), 1);
    assert_eq!(stats.codes_consumed, 5);
}

#[tokio::test]
async fn the_check_character_x_matches_in_either_case_but_the_name_matches_exactly() {
    let app = TestSandbox::spawn().await;
    let stored = "11010119881108007X";
    assert_eq!(check_char(&stored[..17]), 'X');
    app.handle
        .state()
        .add_user(APPID, "o-x", Some("孙七"), Some(stored))
        .unwrap();
    let lower = app.check_person("o-x", "孙七", "11010119881108007x").await;
    assert_eq!(verdict(&lower), ("V_OP_NM_MA", "V_NM_ID_MA"));
    let spaced = app.check_person("o-x", "孙七 ", stored).await;
    assert_eq!(
        verdict(&spaced),
        ("V_OP_NM_UM", ""),
        "names compare exactly"
    );

    app.handle
        .state()
        .add_user(APPID, "o-x2", Some("孙七"), Some("11010119881108007x"))
        .unwrap();
    let upper = app.check_person("o-x2", "孙七", stored).await;
    assert_eq!(verdict(&upper), ("V_OP_NM_MA", "V_NM_ID_MA"));
}

#[tokio::test]
async fn cred_type_may_be_the_string_or_the_integer_1_or_absent() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    for cred_type in [json!("1"), json!(1), Value::Null] {
        let code = app.consent(APPID, ALICE.openid);
        let mut body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
        if cred_type.is_null() {
            body.as_object_mut().unwrap().remove("cred_type");
        } else {
            body["cred_type"] = cred_type.clone();
        }
        assert_eq!(
            verdict(&app.check(&token, &body).await),
            ("V_OP_NM_MA", "V_NM_ID_MA"),
            "{cred_type}"
        );
    }
}

#[tokio::test]
async fn other_cred_types_answer_40097_and_leave_the_code_usable() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    for cred_type in [
        json!("2"),
        json!(2),
        json!(""),
        json!("01"),
        json!(1.5),
        json!(true),
    ] {
        let mut body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
        body["cred_type"] = cred_type.clone();
        assert_eq!(
            errcode(&app.check(&token, &body).await),
            40097,
            "{cred_type}"
        );
    }
    let ok = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
        )
        .await;
    assert_eq!(verdict(&ok).1, "V_NM_ID_MA");
}

#[tokio::test]
async fn bodies_that_are_not_the_expected_json_answer_47001() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    let full = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
    let mut bodies: Vec<String> = vec!["".into(), "{".into(), "[]".into(), "\"x\"".into()];
    for field in ["openid", "real_name", "cred_id", "code"] {
        let mut missing = full.clone();
        missing.as_object_mut().unwrap().remove(field);
        bodies.push(missing.to_string());
        let mut wrong_type = full.clone();
        wrong_type[field] = json!(42);
        bodies.push(wrong_type.to_string());
    }
    for body in bodies {
        let v: Value = app
            .http
            .post(&url)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(errcode(&v), 47001, "{body}");
    }
    // 47001 comes before the cred_type check.
    let mut both = full.clone();
    both.as_object_mut().unwrap().remove("code");
    both["cred_type"] = json!("9");
    assert_eq!(errcode(&app.check(&token, &both).await), 47001);
    assert_eq!(
        verdict(&app.check(&token, &full).await).1,
        "V_NM_ID_MA",
        "the code survived"
    );
}

#[tokio::test]
async fn an_app_without_the_permission_answers_48001_before_reading_the_body() {
    let app = TestSandbox::spawn().await;
    app.handle.state().add_app("wxnoperm", "s", false).unwrap();
    let token = app.classic_token("wxnoperm", "s").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    let v: Value = app
        .http
        .post(&url)
        .body("garbage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 48001);

    // Granting the permission (replacing the app) takes effect at once; tokens survive the replacement.
    app.handle.state().add_app("wxnoperm", "s", true).unwrap();
    let v: Value = app
        .http
        .post(&url)
        .body("garbage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 47001);
}

#[tokio::test]
async fn an_unknown_openid_answers_40003_and_does_not_consume_the_code() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let v = app
        .check(
            &token,
            &check_body("o-stranger", ALICE.name, ALICE.cred_id, &code),
        )
        .await;
    assert_eq!(errcode(&v), 40003);
    let v = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
        )
        .await;
    assert_eq!(verdict(&v).1, "V_NM_ID_MA");
}

#[tokio::test]
async fn unknown_used_and_expired_codes_answer_80113() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let body = |code: &str| check_body(ALICE.openid, ALICE.name, ALICE.cred_id, code);

    assert_eq!(
        errcode(&app.check(&token, &body("no-such-code")).await),
        80113
    );
    assert_eq!(errcode(&app.check(&token, &body("")).await), 80113);

    let code = app.consent(APPID, ALICE.openid);
    assert_eq!(errcode(&app.check(&token, &body(&code)).await), 0);
    assert_eq!(
        errcode(&app.check(&token, &body(&code)).await),
        80113,
        "single use"
    );

    let code = app.consent(APPID, ALICE.openid);
    app.advance(299);
    let token = app.token().await;
    assert_eq!(
        errcode(&app.check(&token, &body(&code)).await),
        0,
        "valid for 5 minutes"
    );
    let code = app.consent(APPID, ALICE.openid);
    app.advance(300);
    let token = app.token().await;
    assert_eq!(
        errcode(&app.check(&token, &body(&code)).await),
        80113,
        "expired"
    );
    assert_eq!(app.handle.stats().codes_consumed, 2);
}

#[tokio::test]
async fn a_code_of_another_user_or_app_answers_80113_and_stays_with_its_owner() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let bobs = app.consent(APPID, BOB.openid);
    let v = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &bobs),
        )
        .await;
    assert_eq!(errcode(&v), 80113, "issued to another openid");

    let other_apps = app.consent(OTHER_APPID, ALICE.openid);
    let v = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &other_apps),
        )
        .await;
    assert_eq!(errcode(&v), 80113, "issued under another app");

    let v = app
        .check(
            &token,
            &check_body(BOB.openid, BOB.name, BOB.cred_id, &bobs),
        )
        .await;
    assert_eq!(verdict(&v).1, "V_NM_ID_MA", "the owner can still use it");
    let other_token = app.classic_token(OTHER_APPID, OTHER_SECRET).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = app
        .check(
            &other_token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &other_apps),
        )
        .await;
    assert_eq!(verdict(&v).1, "V_NM_ID_MA");
    assert_eq!(app.handle.stats().errcode(80113), 2);
}

#[tokio::test]
async fn the_token_is_checked_before_anything_else() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    app.advance(7200);
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    let v: Value = app
        .http
        .post(&url)
        .body("garbage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 42001);
}

#[tokio::test]
async fn the_daily_check_quota_answers_45009_before_the_permission_check_and_resets_at_midnight() {
    let cfg = SandboxConfig {
        quotas: Quotas {
            checkrealnameinfo: Some(2),
            ..Quotas::unlimited()
        },
        ..SandboxConfig::default()
    };
    let app = TestSandbox::with(cfg).await;
    app.advance_to_next_day(); // so the test cannot straddle a real midnight
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
    assert_eq!(
        errcode(
            &app.check(&token, &check_body("o-stranger", "x", "y", "z"))
                .await
        ),
        40003
    );
    assert_eq!(errcode(&app.check(&token, &body).await), 0);
    assert_eq!(
        errcode(&app.check(&token, &body).await),
        45009,
        "every authenticated call counts"
    );
    app.handle.state().add_app(APPID, SECRET, false).unwrap();
    assert_eq!(
        errcode(&app.check(&token, &body).await),
        45009,
        "the quota comes before the permission"
    );

    app.advance_to_next_day();
    let token = app.token().await;
    assert_eq!(errcode(&app.check(&token, &body).await), 48001);
    app.handle.state().add_app(APPID, SECRET, true).unwrap();
    let code = app.consent(APPID, ALICE.openid);
    let body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
    assert_eq!(errcode(&app.check(&token, &body).await), 0);
}
