use crate::helpers::*;
use sandbox::{Quotas, SandboxConfig};
use serde_json::json;

fn token_of(v: &serde_json::Value) -> String {
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {v}"))
        .to_owned()
}

async fn check_with(app: &TestSandbox, token: &str) -> i64 {
    // A verified user and a fresh code each time: only the token decides the errcode.
    let code = app.consent(APPID, ALICE.openid);
    errcode(
        &app.check(
            token,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
        )
        .await,
    )
}

#[tokio::test]
async fn classic_token_is_new_each_call_and_the_previous_one_lives_out_its_grace() {
    let app = TestSandbox::spawn().await;
    let first = app.classic_token(APPID, SECRET).await;
    assert_eq!(first["expires_in"], 7200);
    let old = token_of(&first);
    let new = app.token().await;
    assert_ne!(old, new);

    app.advance(299);
    assert_eq!(check_with(&app, &old).await, 0, "within the 5-minute grace");
    app.advance(2);
    assert_eq!(check_with(&app, &old).await, 40001, "replaced, grace over");
    assert_eq!(check_with(&app, &new).await, 0);
}

#[tokio::test]
async fn grace_starts_at_the_first_replacement_not_the_last() {
    let app = TestSandbox::spawn().await;
    let a = app.token().await;
    let _b = app.token().await;
    app.advance(200);
    let _c = app.token().await;
    app.advance(101);
    assert_eq!(check_with(&app, &a).await, 40001);
}

#[tokio::test]
async fn an_expired_token_answers_42001() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    app.advance(7199);
    assert_eq!(check_with(&app, &token).await, 0);
    app.advance(1);
    assert_eq!(check_with(&app, &token).await, 42001);
}

#[tokio::test]
async fn token_lifetime_and_grace_are_configurable() {
    let cfg = SandboxConfig {
        token_ttl: std::time::Duration::from_secs(60),
        token_grace: std::time::Duration::from_secs(10),
        ..SandboxConfig::default()
    };
    let app = TestSandbox::with(cfg).await;
    assert_eq!(app.classic_token(APPID, SECRET).await["expires_in"], 60);
    let old = app.token().await;
    let _new = app.token().await;
    app.advance(11);
    assert_eq!(check_with(&app, &old).await, 40001);
}

#[tokio::test]
async fn token_requests_with_bad_credentials_get_wechats_errcodes() {
    let app = TestSandbox::spawn().await;
    let cases = [
        (
            format!("grant_type=password&appid={APPID}&secret={SECRET}"),
            40002,
        ),
        (format!("appid={APPID}&secret={SECRET}"), 40002),
        (
            format!("grant_type=client_credential&appid=wxnobody&secret={SECRET}"),
            40013,
        ),
        (
            format!("grant_type=client_credential&appid={APPID}&secret=wrong"),
            40125,
        ),
        (
            format!("grant_type=client_credential&secret={SECRET}"),
            41002,
        ),
        (format!("grant_type=client_credential&appid={APPID}"), 41004),
        (
            format!("grant_type=client_credential&appid={OTHER_APPID}&secret={SECRET}"),
            40125,
        ),
    ];
    for (query, expected) in cases {
        let v = app.get(&format!("/cgi-bin/token?{query}")).await;
        assert_eq!(errcode(&v), expected, "{query}");
        assert!(
            v["errmsg"].as_str().unwrap().contains("rid:"),
            "WeChat-style errmsg: {v}"
        );
        assert!(v.get("access_token").is_none());
    }
    assert_eq!(app.handle.stats().tokens_issued.token, 0);
}

#[tokio::test]
async fn missing_unknown_and_foreign_tokens_are_refused() {
    let app = TestSandbox::spawn().await;
    let code = app.consent(APPID, ALICE.openid);
    let body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
    let missing = app.post("/intp/realname/checkrealnameinfo", &body).await;
    assert_eq!(errcode(&missing), 41001);
    let empty = app
        .post("/intp/realname/checkrealnameinfo?access_token=", &body)
        .await;
    assert_eq!(errcode(&empty), 41001);
    assert_eq!(errcode(&app.check("not-a-token", &body).await), 40001);

    // OTHER_APPID's token authenticates OTHER_APPID, where this code (issued for APPID) is foreign.
    let other = token_of(&app.classic_token(OTHER_APPID, OTHER_SECRET).await);
    assert_eq!(errcode(&app.check(&other, &body).await), 80113);
    // None of that consumed the code.
    assert_eq!(errcode(&app.check(&app.token().await, &body).await), 0);
}

#[tokio::test]
async fn stable_token_is_shared_until_near_expiry_then_renewed_and_the_old_one_lives_on() {
    let app = TestSandbox::spawn().await;
    let first = app.stable_token(APPID, SECRET, false).await;
    assert_eq!(first["expires_in"], 7200);
    let a = token_of(&first);

    app.advance(1000);
    let second = app.stable_token(APPID, SECRET, false).await;
    assert_eq!(token_of(&second), a, "every caller gets the same token");
    let left = second["expires_in"].as_u64().unwrap();
    assert!(
        (6198..=6200).contains(&left),
        "expires_in reports the remaining lifetime: {left}"
    );

    // 7200 - 1000 - 5900 = 300 s left: inside the 5-minute window, so the next call renews.
    app.advance(5900);
    let renewed = app.stable_token(APPID, SECRET, false).await;
    let b = token_of(&renewed);
    assert_ne!(b, a);
    assert_eq!(renewed["expires_in"], 7200);
    assert_eq!(
        token_of(&app.stable_token(APPID, SECRET, false).await),
        b,
        "shared again"
    );
    assert_eq!(
        check_with(&app, &a).await,
        0,
        "the old token lives to its own expiry"
    );
    app.advance(300);
    assert_eq!(check_with(&app, &a).await, 42001);
    assert_eq!(check_with(&app, &b).await, 0);
    assert_eq!(app.handle.stats().tokens_issued.stable_token, 2);
}

#[tokio::test]
async fn stable_token_checks_its_body_and_credentials() {
    let app = TestSandbox::spawn().await;
    let wrong_secret = app.stable_token(APPID, "nope", false).await;
    assert_eq!(errcode(&wrong_secret), 40125);
    assert_eq!(
        errcode(&app.stable_token("wxnobody", SECRET, false).await),
        40013
    );
    let bad_grant = json!({"grant_type": "authorization_code", "appid": APPID, "secret": SECRET});
    assert_eq!(
        errcode(&app.post("/cgi-bin/stable_token", &bad_grant).await),
        40002
    );
    let resp = app
        .http
        .post(app.url("/cgi-bin/stable_token"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(errcode(&resp.json().await.unwrap()), 47001);
    let no_flag = json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET});
    assert_eq!(
        app.post("/cgi-bin/stable_token", &no_flag).await["expires_in"],
        7200
    );
}

#[tokio::test]
async fn force_refresh_rotates_at_once_and_is_limited() {
    let cfg = SandboxConfig {
        force_refresh_per_day: 3,
        ..SandboxConfig::default()
    };
    let app = TestSandbox::with(cfg).await;
    app.advance_to_next_day(); // so the test cannot straddle a real midnight
    let a = token_of(&app.stable_token(APPID, SECRET, false).await);

    let b = token_of(&app.stable_token(APPID, SECRET, true).await);
    assert_ne!(a, b);
    assert_eq!(
        check_with(&app, &a).await,
        40001,
        "a force refresh invalidates the previous token at once"
    );
    assert_eq!(token_of(&app.stable_token(APPID, SECRET, false).await), b);

    app.advance(29);
    assert_eq!(
        errcode(&app.stable_token(APPID, SECRET, true).await),
        45011,
        "30 s apart"
    );
    assert_eq!(
        check_with(&app, &b).await,
        0,
        "a refused refresh changes nothing"
    );
    app.advance(1);
    let c = token_of(&app.stable_token(APPID, SECRET, true).await);
    app.advance(30);
    let _d = token_of(&app.stable_token(APPID, SECRET, true).await);
    app.advance(30);
    assert_eq!(
        errcode(&app.stable_token(APPID, SECRET, true).await),
        45011,
        "3 a day"
    );
    assert_ne!(c, b);

    app.advance_to_next_day();
    assert!(
        app.stable_token(APPID, SECRET, true).await["access_token"].is_string(),
        "a new day"
    );
}

#[tokio::test]
async fn classic_and_stable_tokens_do_not_affect_each_other() {
    let app = TestSandbox::spawn().await;
    let stable = token_of(&app.stable_token(APPID, SECRET, false).await);
    let classic = app.token().await;
    for _ in 0..3 {
        app.token().await;
    }
    app.advance(301);
    assert_eq!(
        check_with(&app, &stable).await,
        0,
        "classic fetches leave the stable token alone"
    );
    let _ = app.stable_token(APPID, SECRET, true).await;
    assert_eq!(
        check_with(&app, &classic).await,
        40001,
        "replaced by the later classic fetches"
    );
    let latest = app.token().await;
    let _ = app.stable_token(APPID, SECRET, true).await;
    assert_eq!(
        check_with(&app, &latest).await,
        0,
        "a stable force refresh leaves classic tokens alone"
    );
}

#[tokio::test]
async fn revoke_turns_every_token_of_the_app_into_40001_at_once() {
    let app = TestSandbox::spawn().await;
    let classic = app.token().await;
    let stable = token_of(&app.stable_token(APPID, SECRET, false).await);
    let other = token_of(&app.classic_token(OTHER_APPID, OTHER_SECRET).await);

    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/sandbox/tokens/revoke",
            Some(json!({"appid": APPID})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["revoked"], 2);
    assert_eq!(check_with(&app, &classic).await, 40001);
    assert_eq!(check_with(&app, &stable).await, 40001);
    let code = app.consent(OTHER_APPID, ALICE.openid);
    let v = app
        .check(
            &other,
            &check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code),
        )
        .await;
    assert_eq!(errcode(&v), 0, "other apps keep their tokens");

    let fresh = token_of(&app.stable_token(APPID, SECRET, false).await);
    assert_ne!(fresh, stable, "the next stable call issues a new token");
    assert_eq!(check_with(&app, &fresh).await, 0);
}

#[tokio::test]
async fn token_status_reports_valid_classic_tokens_and_the_stable_lifetime() {
    let app = TestSandbox::spawn().await;
    let path = format!("/sandbox/apps/{APPID}/tokens");
    let (_, empty) = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(
        empty,
        json!({"classic_valid": 0, "stable_expires_in": null})
    );
    app.token().await;
    app.token().await;
    app.stable_token(APPID, SECRET, false).await;
    app.advance(100);
    let (_, two) = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(two["classic_valid"], 2);
    let left = two["stable_expires_in"].as_u64().unwrap();
    assert!((7098..=7100).contains(&left), "{left}");
    app.advance(201);
    let (_, one) = app.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(one["classic_valid"], 1, "the replaced one left its grace");
    let (status, _) = app
        .admin(reqwest::Method::GET, "/sandbox/apps/wxnobody/tokens", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn daily_token_quota_answers_45009_until_midnight_in_shanghai() {
    let cfg = SandboxConfig {
        quotas: Quotas {
            token: Some(2),
            ..Quotas::unlimited()
        },
        ..SandboxConfig::default()
    };
    let app = TestSandbox::with(cfg).await;
    app.advance_to_next_day(); // so the test cannot straddle a real midnight
    app.token().await;
    app.token().await;
    assert_eq!(errcode(&app.classic_token(APPID, SECRET).await), 45009);
    assert_eq!(errcode(&app.classic_token(APPID, SECRET).await), 45009);
    assert!(
        app.classic_token(OTHER_APPID, OTHER_SECRET).await["access_token"].is_string(),
        "per app"
    );
    app.advance_to_next_day();
    assert!(app.classic_token(APPID, SECRET).await["access_token"].is_string());
    assert_eq!(app.handle.stats().errcode(45009), 2);
}
