use crate::helpers::*;
use reqwest::Method;
use sandbox::SandboxConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn a_newcomer_can_set_up_a_whole_check_over_http() {
    let app = TestSandbox::spawn().await;
    let (status, _) = app
        .admin(
            Method::POST,
            "/sandbox/apps",
            Some(json!({"appid": "wxnew", "secret": "s3", "realname_permission": true})),
        )
        .await;
    assert_eq!(status, 200);
    let user = json!({"appid": "wxnew", "openid": "o-new", "real_name": "钱八", "cred_id": "110101199201010087"});
    let (status, v) = app.admin(Method::POST, "/sandbox/users", Some(user)).await;
    assert_eq!((status.as_u16(), &v["verified"]), (200, &json!(true)));
    let (status, v) = app
        .admin(
            Method::POST,
            "/sandbox/consent",
            Some(json!({"appid": "wxnew", "openid": "o-new"})),
        )
        .await;
    assert_eq!((status.as_u16(), &v["expires_in"]), (200, &json!(300)));
    let code = v["code"].as_str().unwrap().to_owned();

    let token = app.classic_token("wxnew", "s3").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = app
        .check(
            &token,
            &check_body("o-new", "钱八", "110101199201010087", &code),
        )
        .await;
    assert_eq!(verdict(&v), ("V_OP_NM_MA", "V_NM_ID_MA"));

    let (_, apps) = app.admin(Method::GET, "/sandbox/apps", None).await;
    let listed = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["appid"] == "wxnew")
        .cloned();
    assert_eq!(
        listed,
        Some(json!({"appid": "wxnew", "realname_permission": true, "users": 1}))
    );
}

#[tokio::test]
async fn a_user_can_be_replaced_by_an_unverified_one() {
    let app = TestSandbox::spawn().await;
    let user = json!({"appid": APPID, "openid": ALICE.openid, "real_name": null, "cred_id": null});
    let (status, v) = app.admin(Method::POST, "/sandbox/users", Some(user)).await;
    assert_eq!((status.as_u16(), &v["verified"]), (200, &json!(false)));
    let v = app
        .check_person(ALICE.openid, ALICE.name, ALICE.cred_id)
        .await;
    assert_eq!(verdict(&v), ("V_OP_NA", ""));
}

#[tokio::test]
async fn admin_errors_use_the_envelope_and_4xx() {
    let app = TestSandbox::spawn().await;
    let cases: [(Method, &str, Option<Value>, u16, &str); 8] = [
        (
            Method::POST,
            "/sandbox/users",
            Some(json!({"appid": "wxnobody", "openid": "o", "real_name": null, "cred_id": null})),
            404,
            "unknown_app",
        ),
        (
            Method::POST,
            "/sandbox/consent",
            Some(json!({"appid": "wxnobody", "openid": "o"})),
            404,
            "unknown_app",
        ),
        (
            Method::POST,
            "/sandbox/consent",
            Some(json!({"appid": APPID, "openid": "o-nobody"})),
            404,
            "unknown_user",
        ),
        (
            Method::POST,
            "/sandbox/tokens/revoke",
            Some(json!({"appid": "wxnobody"})),
            404,
            "unknown_app",
        ),
        (
            Method::POST,
            "/sandbox/apps",
            Some(json!({"appid": "bad id!", "secret": "s"})),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/sandbox/users",
            Some(json!({"appid": APPID, "openid": "o", "real_name": "张三", "cred_id": null})),
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/sandbox/clock",
            Some(json!({"advance_secs": -5})),
            400,
            "invalid_request",
        ),
        (Method::GET, "/sandbox/nothing-here", None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let (got, v) = app.admin(method, path, body).await;
        assert_eq!(
            (got.as_u16(), v["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}"
        );
        assert!(v["error"]["message"].is_string());
    }
    let resp = app
        .http
        .post(app.url("/sandbox/consent"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn error_messages_never_quote_submitted_personal_data() {
    let app = TestSandbox::spawn().await;
    // A type error serde would describe by quoting the value.
    let user = json!({"appid": APPID, "openid": "o-leak", "real_name": ["张三"], "cred_id": "110101199003070038"});
    let (status, v) = app.admin(Method::POST, "/sandbox/users", Some(user)).await;
    assert_eq!(status, 400);
    let user = json!({"appid": APPID, "openid": "o-leak", "real_name": "张三", "cred_id": 110101199003070038u64});
    let (status, w) = app.admin(Method::POST, "/sandbox/users", Some(user)).await;
    assert_eq!(status, 400);
    for msg in [&v, &w].map(|v| v["error"]["message"].as_str().unwrap().to_owned()) {
        assert!(
            !msg.contains("张三") && !msg.contains("110101199003070038"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn bulk_consent_issues_one_code_per_openid_in_order() {
    let app = TestSandbox::spawn().await;
    let body = json!({"appid": APPID, "openids": [BOB.openid, ALICE.openid, BOB.openid]});
    let (status, v) = app
        .admin(Method::POST, "/sandbox/consent/bulk", Some(body))
        .await;
    assert_eq!(status, 200);
    let codes: Vec<String> = serde_json::from_value(v["codes"].clone()).unwrap();
    assert_eq!(codes.len(), 3);
    let token = app.token().await;
    let as_alice = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &codes[0]),
        )
        .await;
    assert_eq!(errcode(&as_alice), 80113, "codes[0] belongs to Bob");
    for (code, p) in codes.iter().zip([&BOB, &ALICE, &BOB]) {
        let v = app
            .check(&token, &check_body(p.openid, p.name, p.cred_id, code))
            .await;
        assert_eq!(verdict(&v).1, "V_NM_ID_MA");
    }

    let with_unknown = json!({"appid": APPID, "openids": [ALICE.openid, "o-nobody"]});
    let (status, _) = app
        .admin(Method::POST, "/sandbox/consent/bulk", Some(with_unknown))
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.handle.stats().codes_issued, 3, "all or nothing");
}

#[tokio::test]
async fn the_clock_endpoint_moves_time_for_everything() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let (_, before) = app.admin(Method::GET, "/sandbox/clock", None).await;
    let (status, after) = app
        .admin(
            Method::POST,
            "/sandbox/clock",
            Some(json!({"advance_secs": 7200})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(after["offset_secs"], 7200);
    let parse =
        |v: &Value| chrono::DateTime::parse_from_rfc3339(v["now"].as_str().unwrap()).unwrap();
    assert!((parse(&after) - parse(&before)).num_seconds() >= 7200);
    let code = app.consent(APPID, ALICE.openid);
    assert_eq!(
        errcode(
            &app.check(
                &token,
                &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code)
            )
            .await
        ),
        42001
    );
}

#[tokio::test]
async fn stats_count_calls_tokens_codes_and_errcodes() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    app.stable_token(APPID, SECRET, false).await;
    app.stable_token(APPID, SECRET, false).await;
    app.classic_token(APPID, "wrong").await;
    let js = app.handle.state().login(APPID, ALICE.openid).unwrap();
    app.get(&format!("/sns/jscode2session?appid={APPID}&secret={SECRET}&js_code={js}&grant_type=authorization_code")).await;
    let code = app.consent(APPID, ALICE.openid);
    let _unused = app.consent(APPID, BOB.openid);
    app.check(
        &token,
        &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
    )
    .await;
    app.check(
        &token,
        &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
    )
    .await;
    app.check(
        "stale",
        &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
    )
    .await;

    let (status, v) = app.admin(Method::GET, "/sandbox/stats", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["calls"],
        json!({"token": 2, "stable_token": 2, "jscode2session": 1, "checkrealnameinfo": 3,
               "tencent_idcard": 0, "aliyun_id2meta": 0})
    );
    assert_eq!(
        v["billed"],
        json!({"tencent_idcard": 0, "aliyun_id2meta": 0})
    );
    assert_eq!(v["tokens_issued"], json!({"token": 1, "stable_token": 1}));
    assert_eq!(
        (v["codes_issued"].as_u64(), v["codes_consumed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(v["errcodes"], json!({"40001": 1, "40125": 1, "80113": 1}));
    let typed: sandbox::Stats = serde_json::from_value(v).unwrap();
    assert_eq!(
        typed,
        app.handle.stats(),
        "the JSON and the in-process view agree"
    );
}

#[tokio::test]
async fn reset_clears_everything_and_zeroes_the_counters() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    app.handle
        .state()
        .add_fault(sandbox::Fault::errcode(sandbox::Endpoint::Token, -1))
        .unwrap();
    app.advance(1000);
    let (status, _) = app.admin(Method::POST, "/sandbox/reset", None).await;
    assert_eq!(status, 200);

    assert_eq!(app.handle.stats(), sandbox::Stats::default());
    assert!(app.handle.state().pending_faults().is_empty());
    assert_eq!(app.handle.state().clock_offset().as_secs(), 0);
    assert!(
        app.handle.state().apps().is_empty(),
        "no demo data configured"
    );
    assert_eq!(errcode(&app.classic_token(APPID, SECRET).await), 40013);
    app.handle.state().add_app(APPID, SECRET, true).unwrap();
    app.handle
        .state()
        .add_user(APPID, ALICE.openid, Some(ALICE.name), Some(ALICE.cred_id))
        .unwrap();
    let v = app
        .check(
            &token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
        )
        .await;
    assert_eq!(errcode(&v), 40001, "old tokens are gone");
}

#[tokio::test]
async fn health_answers() {
    let app = TestSandbox::with(SandboxConfig::default()).await;
    let (status, v) = app.admin(Method::GET, "/sandbox/health", None).await;
    assert_eq!((status.as_u16(), v), (200, json!({"status": "ok"})));
}
