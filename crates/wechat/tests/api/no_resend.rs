//! The code is single use: after an ambiguous failure the check is reported, never resent.
use crate::helpers::*;
use sandbox::{Endpoint, Fault};
use std::sync::Arc;
use std::time::Duration;
use wechat::{CheckOutcome, Error, RealnameApi, TokenKind};

#[tokio::test]
async fn no_resend_after_ambiguous_failures() {
    let app = TestApp::spawn().await;
    let client = app.client_with_timeout(Duration::from_millis(300));
    let api = RealnameApi::new(client.clone(), Arc::new(app.manager(TokenKind::Stable)));
    api.tokens().token().await.unwrap();

    let cases: [(Fault, &str, bool); 5] = [
        (
            Fault::delay(Endpoint::Checkrealnameinfo, Duration::from_millis(1500)),
            "timeout",
            true,
        ),
        (
            Fault::errcode(Endpoint::Checkrealnameinfo, -1),
            "wechat",
            false,
        ),
        (
            Fault::drop_connection(Endpoint::Checkrealnameinfo),
            "transport",
            true,
        ),
        (
            Fault::http_status(Endpoint::Checkrealnameinfo, 500),
            "http_status",
            false,
        ),
        (
            Fault::malformed(Endpoint::Checkrealnameinfo),
            "malformed",
            false,
        ),
    ];
    for (fault, kind, code_spent) in cases {
        let before = app.stats();
        app.fault(fault);
        let check = Check::matching(&app);
        let err = api.check(&check.req()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.may_have_reached_wechat());
        let after = app.stats();
        assert_eq!(
            after.calls.checkrealnameinfo - before.calls.checkrealnameinfo,
            1,
            "{kind}: resent"
        );
        assert_eq!(
            after.codes_consumed - before.codes_consumed,
            u64::from(code_spent),
            "{kind}"
        );
    }
    if let Error::HttpStatus(status) = {
        app.fault(Fault::http_status(Endpoint::Checkrealnameinfo, 500));
        api.check(&Check::matching(&app).req()).await.unwrap_err()
    } {
        assert_eq!(status, 500);
    } else {
        panic!("expected HttpStatus");
    }
    // Nothing is wedged: the next check goes through.
    assert_eq!(
        api.check(&Check::matching(&app).req())
            .await
            .unwrap()
            .outcome,
        CheckOutcome::Match
    );
}

#[tokio::test]
async fn one_resend_at_most_after_token_errors() {
    let app = TestApp::spawn().await;
    let api = app.api();
    app.fault(Fault::errcode(Endpoint::Checkrealnameinfo, 40001).times(2));
    let check = Check::matching(&app);
    let err = api.check(&check.req()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    let stats = app.stats();
    assert_eq!(stats.calls.checkrealnameinfo, 2);
    // stable_token in normal mode handed back the very token just rejected (the fault did not really revoke
    // it), so the manager forced a refresh: the first fetch, the normal refetch, the forced one.
    assert_eq!(stats.calls.stable_token, 3);
    assert_eq!(stats.tokens_issued.stable_token, 2);
    // WeChat refused both calls before looking at the code, so the same code still works.
    let result = api.check(&check.req()).await.unwrap();
    assert_eq!(result.outcome, CheckOutcome::Match);
    assert_eq!(result.token_retries, 0);
}
