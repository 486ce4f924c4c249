//! `jscode2session`: a `wx.login` code becomes the openid.
use crate::helpers::*;
use wechat::{ErrCode, ExposeSecret};

#[tokio::test]
async fn login_gives_the_openid_once() {
    let app = TestApp::spawn().await;
    let js_code = app.sandbox.state().login(APPID, VERIFIED).unwrap();
    let session = app
        .client
        .jscode2session(&app.appid, &app.secret, &js_code)
        .await
        .unwrap();
    assert_eq!(session.openid.as_str(), VERIFIED);
    assert!(!session.session_key.expose_secret().is_empty());
    assert!(!format!("{session:?}").contains(session.session_key.expose_secret()));

    let err = app
        .client
        .jscode2session(&app.appid, &app.secret, &js_code)
        .await
        .unwrap_err();
    assert_eq!(
        err.errcode(),
        Some(ErrCode::InvalidJsCode.code()),
        "a js_code is single use"
    );
    assert_eq!(app.stats().js_codes_consumed, 1);
}
