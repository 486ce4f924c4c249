//! Each errcode the sandbox answers surfaces as `Error::WeChat` with the right `ErrCode`.
use crate::helpers::*;
use identity::{AppId, OpenId};
use sandbox::{Endpoint, Fault, Quotas, SandboxConfig};
use std::time::Duration;
use wechat::{AccessToken, AppSecret, ErrCode, Error};

fn code_of(err: Error) -> ErrCode {
    match err {
        Error::WeChat { code, .. } => code,
        other => panic!("expected a WeChat error, got {other:?}"),
    }
}

#[tokio::test]
async fn token_endpoint_errors() {
    let app = TestApp::spawn().await;
    let unknown = AppId::parse("wx00000000000000ff").unwrap();
    let wrong = AppSecret::new("not-the-secret".into());
    assert_eq!(
        code_of(app.client.token(&unknown, &app.secret).await.unwrap_err()),
        ErrCode::InvalidAppId
    );
    assert_eq!(
        code_of(app.client.token(&app.appid, &wrong).await.unwrap_err()),
        ErrCode::InvalidAppSecret
    );
    let err = app
        .client
        .stable_token(&unknown, &app.secret, false)
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidAppId);
    let err = app
        .client
        .stable_token(&app.appid, &wrong, false)
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidAppSecret);
}

#[tokio::test]
async fn daily_quota() {
    let cfg = SandboxConfig {
        quotas: Quotas {
            token: Some(1),
            ..Quotas::default()
        },
        ..Default::default()
    };
    let app = TestApp::spawn_with(cfg).await;
    app.client.token(&app.appid, &app.secret).await.unwrap();
    let err = app.client.token(&app.appid, &app.secret).await.unwrap_err();
    assert_eq!(code_of(err), ErrCode::DailyQuotaReached);
}

#[tokio::test]
async fn check_errors() {
    let app = TestApp::spawn().await;
    let token = app
        .client
        .stable_token(&app.appid, &app.secret, false)
        .await
        .unwrap()
        .token;
    let check = |openid: &str, code: &str| Check::new(openid, NAME, CRED, code.to_owned());

    let c = Check::matching(&app);
    let err = app
        .client
        .check_real_name_info(&AccessToken::new(String::new()), &c.req())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::AccessTokenMissing);
    let err = app
        .client
        .check_real_name_info(&AccessToken::new("forged".repeat(20)), &c.req())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidCredential);

    let err = app
        .client
        .check_real_name_info(&token, &check("o_nobody", &c.code).req())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidOpenId);
    let err = app
        .client
        .check_real_name_info(&token, &check(VERIFIED, "no-such-code").req())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidCode);

    // Rejections before the code check leave the code usable.
    let result = app
        .client
        .check_real_name_info(&token, &c.req())
        .await
        .unwrap();
    assert_eq!(result.outcome, wechat::CheckOutcome::Match);

    // An app without the permission.
    let other = AppId::parse(APPID_NO_PERMISSION).unwrap();
    let other_token = app
        .client
        .stable_token(&other, &app.secret, false)
        .await
        .unwrap()
        .token;
    let code = app
        .sandbox
        .state()
        .consent(APPID_NO_PERMISSION, VERIFIED)
        .unwrap();
    let err = app
        .client
        .check_real_name_info(&other_token, &check(VERIFIED, &code).req())
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::Unauthorized);

    // The token expires on the sandbox clock.
    app.sandbox.advance(Duration::from_secs(7201));
    let c = Check::matching(&app);
    let err = app
        .client
        .check_real_name_info(&token, &c.req())
        .await
        .unwrap_err();
    assert!(err.is_token_error());
    assert_eq!(code_of(err), ErrCode::AccessTokenExpired);
}

#[tokio::test]
async fn jscode2session_errors() {
    let app = TestApp::spawn().await;
    let err = app
        .client
        .jscode2session(&app.appid, &app.secret, "not-a-js-code")
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::InvalidJsCode);
}

/// Codes a well-formed typed request cannot provoke (47001 body, 40097 cred_type, -1 busy, 40014, 45011, and
/// codes this crate does not know) still surface with their code, through an injected answer.
#[tokio::test]
async fn injected_errcodes_pass_through() {
    let app = TestApp::spawn().await;
    let token = app
        .client
        .stable_token(&app.appid, &app.secret, false)
        .await
        .unwrap()
        .token;
    let check = Check::matching(&app);
    for code in [47001, 40097, -1, 40014, 45011, 40164, 99999] {
        app.fault(Fault::errcode(Endpoint::Checkrealnameinfo, code));
        let err = app
            .client
            .check_real_name_info(&token, &check.req())
            .await
            .unwrap_err();
        assert_eq!(code_of(err), ErrCode::from_code(code));
    }
    for code in [40002, 40164, 45009] {
        app.fault(Fault::errcode(Endpoint::Token, code));
        let err = app.client.token(&app.appid, &app.secret).await.unwrap_err();
        assert_eq!(code_of(err), ErrCode::from_code(code));
    }
    app.fault(Fault::errcode(Endpoint::Jscode2session, 40226));
    let js_code = app.sandbox.state().login(APPID, VERIFIED).unwrap();
    let err = app
        .client
        .jscode2session(&app.appid, &app.secret, &js_code)
        .await
        .unwrap_err();
    assert_eq!(code_of(err), ErrCode::HighRiskUser);
    // Not processed: the js_code is still good.
    let session = app
        .client
        .jscode2session(&app.appid, &app.secret, &js_code)
        .await
        .unwrap();
    assert_eq!(session.openid, OpenId::parse(VERIFIED).unwrap());
}
