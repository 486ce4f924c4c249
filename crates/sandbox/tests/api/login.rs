use crate::helpers::*;

fn session_path(appid: &str, secret: &str, js_code: &str) -> String {
    format!(
        "/sns/jscode2session?appid={appid}&secret={secret}&js_code={js_code}&grant_type=authorization_code"
    )
}

#[tokio::test]
async fn a_js_code_gives_the_openid_once() {
    let app = TestSandbox::spawn().await;
    let js_code = app.handle.state().login(APPID, ALICE.openid).unwrap();
    let v = app.get(&session_path(APPID, SECRET, &js_code)).await;
    assert_eq!(v["openid"], ALICE.openid);
    let key = v["session_key"].as_str().unwrap();
    assert_eq!(key.len(), 24, "base64 of 16 bytes, like WeChat's");
    assert!(
        v.get("unionid").is_none() && v.get("errcode").is_none(),
        "{v}"
    );

    assert_eq!(
        errcode(&app.get(&session_path(APPID, SECRET, &js_code)).await),
        40029,
        "single use"
    );
    let stats = app.handle.stats();
    assert_eq!((stats.js_codes_issued, stats.js_codes_consumed), (1, 1));
}

#[tokio::test]
async fn bad_expired_and_foreign_js_codes_answer_40029() {
    let app = TestSandbox::spawn().await;
    assert_eq!(
        errcode(&app.get(&session_path(APPID, SECRET, "nonsense")).await),
        40029
    );

    let expiring = app.handle.state().login(APPID, ALICE.openid).unwrap();
    let foreign = app.handle.state().login(OTHER_APPID, ALICE.openid).unwrap();
    assert_eq!(
        errcode(&app.get(&session_path(APPID, SECRET, &foreign)).await),
        40029,
        "another app's code"
    );
    let v = app
        .get(&session_path(OTHER_APPID, OTHER_SECRET, &foreign))
        .await;
    assert_eq!(v["openid"], ALICE.openid, "left for its own app");

    app.advance(300);
    assert_eq!(
        errcode(&app.get(&session_path(APPID, SECRET, &expiring)).await),
        40029,
        "expired"
    );
}

#[tokio::test]
async fn jscode2session_checks_credentials_first() {
    let app = TestSandbox::spawn().await;
    let js_code = app.handle.state().login(APPID, ALICE.openid).unwrap();
    assert_eq!(
        errcode(&app.get(&session_path(APPID, "wrong", &js_code)).await),
        40125
    );
    assert_eq!(
        errcode(&app.get(&session_path("wxnobody", SECRET, &js_code)).await),
        40013
    );
    let no_grant = format!("/sns/jscode2session?appid={APPID}&secret={SECRET}&js_code={js_code}");
    assert_eq!(errcode(&app.get(&no_grant).await), 40002);
    let no_code =
        format!("/sns/jscode2session?appid={APPID}&secret={SECRET}&grant_type=authorization_code");
    assert_eq!(errcode(&app.get(&no_code).await), 41008);
    assert_eq!(
        app.get(&session_path(APPID, SECRET, &js_code)).await["openid"],
        ALICE.openid,
        "not consumed"
    );
}

#[tokio::test]
async fn login_over_the_admin_api() {
    let app = TestSandbox::spawn().await;
    let body = serde_json::json!({"appid": APPID, "openid": BOB.openid});
    let (status, v) = app
        .admin(reqwest::Method::POST, "/sandbox/login", Some(body))
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["expires_in"], 300);
    let js_code = v["js_code"].as_str().unwrap();
    assert_eq!(
        app.get(&session_path(APPID, SECRET, js_code)).await["openid"],
        BOB.openid
    );

    let unknown = serde_json::json!({"appid": APPID, "openid": "o-nobody"});
    let (status, v) = app
        .admin(reqwest::Method::POST, "/sandbox/login", Some(unknown))
        .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "unknown_user");
}
