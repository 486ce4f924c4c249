//! The messages a developer meets first (issue 13 §5): each says what to do.

use crate::helpers::*;
use serde_json::Value;

async fn raw_post(app: &TestApp, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(&app.key)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    crate::canary::inspect("a response", text.as_bytes());
    (status, serde_json::from_str(&text).unwrap())
}

fn message(b: &Value) -> &str {
    b["error"]["message"].as_str().unwrap()
}

#[tokio::test]
async fn a_form_encoded_body_is_told_to_send_json() {
    let app = TestApp::spawn().await;
    for path in ["/v1/verifications", "/v1/identities/match"] {
        let (s, b) = raw_post(
            &app,
            path,
            "application/x-www-form-urlencoded",
            "openid=oDEMO-match-adult&code=abc",
        )
        .await;
        assert_eq!((s, error_code(&b)), (400, "invalid_request"), "{path}: {b}");
        assert!(
            message(&b).contains("form-encoded")
                && message(&b).contains("Content-Type: application/json"),
            "{path}: {b}"
        );
        // Plain broken JSON says the same about the content type.
        let (s, b) = raw_post(&app, path, "application/json", "{\"openid\":").await;
        assert_eq!(s, 400);
        assert!(
            message(&b).contains("Content-Type: application/json"),
            "{b}"
        );
    }
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn an_unknown_field_is_named_with_the_one_it_likely_meant() {
    let app = TestApp::spawn().await;
    let mut body = app.body_for(0);
    let name = body["real_name"].take();
    body.as_object_mut().unwrap().remove("real_name");
    body["realName"] = name;
    let (s, b, _) = app.verify(&body).await;
    assert_eq!((s, error_code(&b)), (400, "invalid_request"), "{b}");
    assert_eq!(
        message(&b),
        "unknown field `realName`: did you mean `real_name`?"
    );

    let mut body = app.body_for(0);
    body["purpse"] = "x".into();
    let (_, b, _) = app.verify(&body).await;
    assert_eq!(
        message(&b),
        "unknown field `purpse`: did you mean `purpose`?"
    );

    let mut body = app.body_for(0);
    body["zzz"] = "x".into();
    let (_, b, _) = app.verify(&body).await;
    assert!(
        message(&b)
            .starts_with("unknown field `zzz`; the fields are `appid`, `openid`, `real_name`, "),
        "{b}"
    );
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn an_unknown_identity_names_the_appid_and_openid() {
    let app = TestApp::spawn().await;
    let (s, b) = app
        .get(&format!("/v1/identities/{APPID}/oNOBODY-here"))
        .await;
    assert_eq!((s, error_code(&b)), (404, "not_found"), "{b}");
    assert!(
        message(&b).contains("`oNOBODY-here`") && message(&b).contains(&format!("`{APPID}`")),
        "{b}"
    );
    let resp = app
        .http
        .delete(app.url(&format!("/v1/identities/{APPID}/oNOBODY-here")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let b: Value = resp.json().await.unwrap();
    assert!(message(&b).contains("`oNOBODY-here`"), "{b}");
}
