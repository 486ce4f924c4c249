//! Every outcome, end to end.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn every_demo_user_gets_its_outcome_with_masked_values() {
    let app = TestApp::spawn().await;
    for (i, u) in USERS.iter().enumerate() {
        let (status, body, _) = app.verify(&app.body_for(i)).await;
        assert_eq!(status, 200, "{}: {body}", u.openid);
        assert_eq!(body["outcome"], u.outcome, "{}", u.openid);
        assert_eq!(body["appid"], APPID);
        assert_eq!(body["openid"], u.openid);
        let (vo, vr) = u.expected();
        assert_eq!(body["verify_openid"], json!([vo]));
        if vr.is_empty() {
            assert!(body["verify_real_name"].is_null(), "{body}");
        } else {
            assert_eq!(body["verify_real_name"], vr);
        }
        let masked_name = body["masked_real_name"].as_str().unwrap();
        assert!(
            masked_name.ends_with('*')
                && masked_name.chars().count() == u.submit_name.chars().count()
        );
        let masked_id = body["masked_cred_id"].as_str().unwrap();
        assert_eq!(&masked_id[..3], &u.submit_cred_id[..3]);
        assert_eq!(masked_id[14..], u.submit_cred_id[14..].to_uppercase());
        assert!(masked_id[3..14].chars().all(|c| c == '*'));
        assert!(body["checked_at"].as_str().unwrap().ends_with('Z'));
        assert!(body["id"].as_str().is_some_and(|s| s.len() == 36));
        assert_eq!(
            body["minor"],
            u.note.contains("under 14") || u.note.contains("minor"),
            "{}",
            u.note
        );
    }
    assert_eq!(app.checks(), USERS.len() as u64);
}

#[tokio::test]
async fn a_strange_answer_is_unknown_with_raw_values_kept() {
    let app = TestApp::spawn().await;
    app.fault(Fault::body(CHECK, json!({"errcode": 0, "errmsg": "ok", "verify_openid": "V_OP_NM_MA;V_SOMETHING_NEW", "verify_real_name": ""})));
    let (status, body, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "unknown");
    assert_eq!(
        body["verify_openid"],
        json!(["V_OP_NM_MA", "V_SOMETHING_NEW"])
    );
}

#[tokio::test]
async fn full_width_and_lowercase_input_is_normalised_before_wechat_sees_it() {
    let app = TestApp::spawn().await;
    let u = &USERS[0];
    let wide: String = u
        .submit_cred_id
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
        .collect();
    let body = json!({"openid": u.openid, "real_name": format!(" {} ", u.submit_name), "cred_id": format!("\u{3000}{wide}"), "code": app.consent(u.openid), "cred_type": "1"});
    let (status, body, _) = app.verify(&body).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("match")),
        "{body}"
    );
}

#[tokio::test]
async fn cred_type_one_as_number_or_string() {
    let app = TestApp::spawn().await;
    for ct in [json!(1), json!("1")] {
        let mut b = app.body_for(0);
        b["cred_type"] = ct;
        let (status, body, _) = app.verify(&b).await;
        assert_eq!(status, 200, "{body}");
    }
}
