//! `Accept-Language` and the configuration's `language`: which language each sentence of the envelope is in.

use crate::helpers::*;
use serde_json::{Value, json};

async fn verify_in(
    app: &TestApp,
    body: &Value,
    lang: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app
        .http
        .post(app.url("/v1/verifications"))
        .bearer_auth(&app.key)
        .json(body);
    if let Some(l) = lang {
        req = req.header("Accept-Language", l);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap(), headers)
}

fn bad_id(app: &TestApp) -> Value {
    let mut b = app.body_for(0);
    b["cred_id"] = json!("110101199003070039");
    b
}

#[tokio::test]
async fn without_accept_language_the_user_reads_chinese_and_the_developer_english() {
    let app = TestApp::spawn().await;
    let (status, body, headers) = verify_in(&app, &bad_id(&app), None).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "invalid_cred_id");
    assert_eq!(body["error"]["reason"], "checksum");
    assert_eq!(
        body["error"]["user_message"],
        "身份证号码有误，请核对后重试"
    );
    assert_eq!(
        body["error"]["message"],
        "the ID number's last character does not match the others; check it for a typo"
    );
    assert_eq!(headers["vary"], "accept-language");
}

#[tokio::test]
async fn accept_language_picks_both_sentences_and_never_changes_the_code() {
    let app = TestApp::spawn().await;
    for (asked, chinese) in [
        ("zh-CN", true),
        ("zh", true),
        ("zh-CN,zh;q=0.9,en;q=0.8", true),
        ("en", false),
        ("en-US,en;q=0.9", false),
        ("en;q=0.3, zh;q=0.7", true),
        ("zh;q=0, en", false),
        ("fr, en;q=0.5", false),
    ] {
        let (status, body, _) = verify_in(&app, &bad_id(&app), Some(asked)).await;
        assert_eq!(status, 422, "{asked}");
        assert_eq!(body["error"]["code"], "invalid_cred_id", "{asked}");
        assert_eq!(body["error"]["reason"], "checksum", "{asked}");
        let (message, user) = if chinese {
            (
                "身份证号最后一位与前17位不符，请检查是否输错",
                "身份证号码有误，请核对后重试",
            )
        } else {
            (
                "the ID number's last character does not match the others; check it for a typo",
                "The ID number is not correct. Please check it and try again.",
            )
        };
        assert_eq!(body["error"]["message"], message, "{asked}");
        assert_eq!(body["error"]["user_message"], user, "{asked}");
    }
}

/// Answers built outside the handlers (the router's fallback, the API-key extractor, the body parser) speak the
/// asked language too.
#[tokio::test]
async fn errors_from_every_layer_are_localised() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(app.url("/no/such/page"))
        .header("Accept-Language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["error"]["code"], "not_found");
    // From the catalogue: a literal of Han characters only would count as a name for the PII canaries.
    assert_eq!(b["error"]["message"], i18n::api::NOT_FOUND.message.zh);
    assert_eq!(
        b["error"]["user_message"],
        i18n::api::NOT_FOUND.user_message.zh
    );

    let resp = app
        .http
        .post(app.url("/v1/verifications"))
        .header("Accept-Language", "zh")
        .json(&app.body_for(0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["error"]["code"], "unauthorized");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("需要有效的 API 密钥"),
        "{b}"
    );

    let mut body = app.body_for(0);
    body["nmae"] = json!("x");
    let (status, b, _) = verify_in(&app, &body, Some("zh-CN")).await;
    assert_eq!(status, 400);
    assert_eq!(b["error"]["code"], "invalid_request");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("未知字段 `nmae`；可用的字段有 `appid`"),
        "{b}"
    );
    assert_eq!(b["error"]["user_message"], "请求出错了，请稍后重试");
}

#[tokio::test]
async fn the_configured_language_is_the_developers_default() {
    let app = TestApp::builder()
        .config(|c| c.language = i18n::Lang::Zh)
        .spawn()
        .await;
    let (_, body, _) = verify_in(&app, &bad_id(&app), None).await;
    assert_eq!(
        body["error"]["message"],
        "身份证号最后一位与前17位不符，请检查是否输错"
    );
    assert_eq!(
        body["error"]["user_message"],
        "身份证号码有误，请核对后重试"
    );
    let (_, body, _) = verify_in(&app, &bad_id(&app), Some("en")).await;
    assert_eq!(
        body["error"]["user_message"],
        "The ID number is not correct. Please check it and try again."
    );
}
