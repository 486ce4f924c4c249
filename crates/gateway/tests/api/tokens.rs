//! Access tokens seen from the gateway: shared, refreshed once, recovered after rotation.

use crate::helpers::*;
use std::sync::Arc;

#[tokio::test]
async fn two_hundred_concurrent_verifications_fetch_one_token() {
    let app = Arc::new(
        TestApp::builder()
            .config(|c| {
                c.limits.per_openid_per_day = 0;
                c.limits.per_key_per_second = 0;
            })
            .spawn()
            .await,
    );
    let bodies: Vec<_> = (0..200).map(|i| app.body_for(i % USERS.len())).collect();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let app = app.clone();
            tokio::spawn(async move { app.verify(&b).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(app.token_fetches(), 1);
    assert_eq!(app.checks(), 200);
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.rows, 200);
}

#[tokio::test]
async fn a_token_revoked_mid_run_is_replaced_and_the_check_succeeds() {
    let app = TestApp::spawn().await;
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);
    assert_eq!(app.token_fetches(), 1);
    app.sandbox.state().revoke_tokens(APPID).unwrap();
    let (s, body, _) = app.verify(&app.body_for(3)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["outcome"], "id_mismatch");
    assert_eq!(app.token_fetches(), 2, "one new token");
    assert_eq!(app.checks(), 3, "the refused call plus one resend");
    assert_eq!(app.stats().errcode(40001), 1);
}

#[tokio::test]
async fn classic_tokens_work_too() {
    let app = TestApp::builder()
        .config(|c| c.token_kind = wechat::TokenKind::Classic)
        .spawn()
        .await;
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);
    let st = app.stats();
    assert_eq!((st.calls.token, st.calls.stable_token), (1, 0));
}
