//! Every outcome, end to end through `RealnameApi`.
use crate::helpers::*;
use sandbox::{Endpoint, Fault};
use wechat::{CheckOutcome, ErrCode, Error};

#[tokio::test]
async fn every_outcome() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let cases = [
        (
            VERIFIED,
            NAME,
            CRED,
            CheckOutcome::Match,
            vec!["V_OP_NM_MA"],
            Some("V_NM_ID_MA"),
        ),
        (
            VERIFIED,
            NAME,
            OTHER_CRED,
            CheckOutcome::IdMismatch,
            vec!["V_OP_NM_MA"],
            Some("V_NM_ID_UM"),
        ),
        (
            VERIFIED,
            OTHER_NAME,
            CRED,
            CheckOutcome::NameMismatch,
            vec!["V_OP_NM_UM"],
            None,
        ),
        (
            UNVERIFIED,
            NAME,
            CRED,
            CheckOutcome::NotVerified,
            vec!["V_OP_NA"],
            None,
        ),
    ];
    for (openid, name, cred, outcome, verify_openid, verify_real_name) in cases {
        let check = Check::new(openid, name, cred, app.consent(openid));
        let result = api.check(&check.req()).await.unwrap();
        assert_eq!(result.outcome, outcome);
        assert_eq!(result.verify_openid, verify_openid);
        assert_eq!(result.verify_real_name.as_deref(), verify_real_name);
        assert_eq!(result.token_retries, 0);
    }
    let stats = app.stats();
    assert_eq!(stats.codes_consumed, 4);
    assert_eq!(stats.calls.checkrealnameinfo, 4);
    assert_eq!(stats.calls.stable_token, 1, "one token serves every check");
}

#[tokio::test]
async fn unknown_and_multi_value_answers() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let answers = [
        (
            serde_json::json!({"errcode": 0, "errmsg": "ok", "verify_openid": "V_OP_SOMETHING_NEW", "verify_real_name": ""}),
            CheckOutcome::Unknown,
        ),
        (
            serde_json::json!({"errcode": 0, "errmsg": "ok", "verify_openid": "V_OP_NM_MA"}),
            CheckOutcome::Unknown,
        ),
        (
            serde_json::json!({"errcode": 0, "errmsg": "ok", "verify_openid": "V_OP_NM_MA;V_OP_NA", "verify_real_name": "V_NM_ID_MA"}),
            CheckOutcome::NotVerified,
        ),
    ];
    for (body, outcome) in answers {
        app.fault(Fault::body(Endpoint::Checkrealnameinfo, body));
        let check = Check::matching(&app);
        let result = api.check(&check.req()).await.unwrap();
        assert_eq!(result.outcome, outcome);
    }
    let result = api.check(&Check::matching(&app).req()).await.unwrap();
    assert_eq!(
        result.outcome,
        CheckOutcome::Match,
        "the faults were used up"
    );
}

#[tokio::test]
async fn a_code_is_single_use() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let check = Check::matching(&app);
    assert_eq!(
        api.check(&check.req()).await.unwrap().outcome,
        CheckOutcome::Match
    );
    let err = api.check(&check.req()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::WeChat {
                code: ErrCode::InvalidCode,
                ..
            }
        ),
        "{err}"
    );
    // Another user's code is refused too (a code is bound to the consenting user).
    let foreign = Check::new(VERIFIED, NAME, CRED, app.consent(UNVERIFIED));
    let err = api.check(&foreign.req()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(80113));
}
