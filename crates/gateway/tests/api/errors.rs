//! Every error code of the API, with the WeChat calls it costs (counted by the sandbox).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Send, expect `status` + `code`, and expect exactly `calls` new checkrealnameinfo calls.
async fn expect(app: &TestApp, body: &Value, status: u16, code: &str, calls: u64) -> Value {
    let before = app.checks();
    let (s, b, _) = app.verify(body).await;
    assert_eq!((s, error_code(&b)), (status, code), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{b}"
    );
    assert_eq!(app.checks() - before, calls, "WeChat calls for {code}");
    b
}

#[tokio::test]
async fn malformed_or_incomplete_bodies_are_400_and_never_reach_wechat() {
    let app = TestApp::spawn().await;
    let good = app.body_for(0);
    let mut cases: Vec<Value> = Vec::new();
    for field in ["openid", "real_name", "cred_id", "code"] {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        cases.push(b);
    }
    let mut wrong_type = good.clone();
    wrong_type["cred_id"] = json!(110101199003070038u64);
    cases.push(wrong_type);
    let mut empty_code = good.clone();
    empty_code["code"] = json!("");
    cases.push(empty_code);
    let mut unknown = good.clone();
    unknown["nmae"] = json!("x");
    cases.push(unknown);
    for b in &cases {
        let body = expect(&app, b, 400, "invalid_request", 0).await;
        assert!(!body.to_string().contains("110101199003070038"), "{body}");
    }
    for raw in ["{", "[]", "null", "\"x\"", ""] {
        let resp = app
            .http
            .post(app.url("/v1/verifications"))
            .bearer_auth(&app.key)
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{raw}");
        let b: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&b), "invalid_request");
    }
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn invalid_id_numbers_and_names_are_422_with_the_reason() {
    let app = TestApp::spawn().await;
    let base = app.body_for(0);
    for (cred, reason) in [
        ("110101199003070039", "checksum"),
        ("11010119900307003", "length"),
        ("990101199003070038", "province"),
        ("11010119901307003X", "date"),
        ("110101900307003", "legacy_15"),
        ("1101011990030700A8", "charset"),
    ] {
        let mut b = base.clone();
        b["cred_id"] = json!(cred);
        let body = expect(&app, &b, 422, "invalid_cred_id", 0).await;
        assert_eq!(body["error"]["reason"], reason, "{cred}: {body}");
        assert!(
            !body.to_string().contains(cred),
            "the error echoes the ID number: {body}"
        );
    }
    for (name, reason) in [
        ("", "empty"),
        ("张3", "charset"),
        ("·张三", "separator"),
        ("Zhang San", "charset"),
        (&*"张".repeat(51), "length"),
    ] {
        let mut b = base.clone();
        b["real_name"] = json!(name);
        let body = expect(&app, &b, 422, "invalid_real_name", 0).await;
        assert_eq!(body["error"]["reason"], reason, "{name}: {body}");
    }
    let mut b = base.clone();
    b["openid"] = json!("has space");
    expect(&app, &b, 422, "invalid_openid", 0).await;
}

#[tokio::test]
async fn other_cred_types_are_422() {
    let app = TestApp::spawn().await;
    for ct in [
        json!(2),
        json!("2"),
        json!("passport"),
        json!(null),
        json!(1.5),
    ] {
        let mut b = app.body_for(0);
        b["cred_type"] = ct.clone();
        if ct.is_null() {
            // null means "not given": the default, 1.
            let (s, body, _) = app.verify(&b).await;
            assert_eq!(s, 200, "{body}");
            continue;
        }
        expect(&app, &b, 422, "unsupported_cred_type", 0).await;
    }
}

#[tokio::test]
async fn keys_missing_malformed_unknown_or_revoked_are_401() {
    let app = TestApp::spawn().await;
    let b = app.body_for(0);
    let (_, other_key) = app.key_for(&[APPID]).await;
    let unknown = format!("wxrn_{}_{}", "0".repeat(12), "0".repeat(48));
    let wrong_secret = format!(
        "{}{}",
        &app.key[..app.key.len() - 1],
        if app.key.ends_with('0') { '1' } else { '0' }
    );
    for key in [
        None,
        Some("nonsense"),
        Some(unknown.as_str()),
        Some(wrong_secret.as_str()),
    ] {
        let (s, body, headers) = app.verify_with(&b, key, None).await;
        assert_eq!((s, error_code(&body)), (401, "unauthorized"), "{key:?}");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    // A key revoked before this instance ever read it is refused at once (a cached one within
    // `limits.api_key_cache_ms`: api_keys.rs).
    let id = other_key.split('_').nth(1).unwrap();
    assert!(app.state.store.revoke_api_key(id, 1).await.unwrap());
    let (s, _, _) = app.verify_with(&b, Some(&other_key), None).await;
    assert_eq!(s, 401);
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn a_key_for_app_a_cannot_verify_for_app_b() {
    let app = TestApp::spawn().await;
    let mut b = app.body_for(0);
    b["appid"] = json!(NO_PERMISSION_APPID);
    expect(&app, &b, 403, "forbidden_app", 0).await;
    let (_, k) = app.key_for(&["wxsomeoneelse"]).await;
    let (s, body, _) = app.verify_with(&app.body_for(0), Some(&k), None).await;
    assert_eq!(
        (s, error_code(&body)),
        (422, "unknown_app"),
        "a key bound to an app this gateway does not serve"
    );
}

#[tokio::test]
async fn a_reused_code_is_409_without_a_second_wechat_call() {
    let app = TestApp::spawn().await;
    let b = app.body_for(0);
    let (s, _, _) = app.verify(&b).await;
    assert_eq!(s, 200);
    let body = expect(&app, &b, 409, "code_already_used", 0).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one check")
    );
}

#[tokio::test]
async fn wechat_80113_is_invalid_code() {
    let app = TestApp::spawn().await;
    // A code issued to another user: WeChat refuses it.
    let mut b = app.body_for(0);
    b["code"] = json!(app.consent(USERS[3].openid));
    let body = expect(&app, &b, 422, "invalid_code", 1).await;
    assert_eq!(body["error"]["errcode"], 80113);
    // An unknown code.
    let mut b = app.body_for(0);
    b["code"] = json!("made-up-code");
    expect(&app, &b, 422, "invalid_code", 1).await;
}

#[tokio::test]
async fn per_openid_daily_limit_is_429_with_retry_after_and_no_wechat_call() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_openid_per_day = 2)
        .spawn()
        .await;
    for _ in 0..2 {
        let (s, _, _) = app.verify(&app.body_for(0)).await;
        assert_eq!(s, 200);
    }
    let b = app.body_for(0);
    let before = app.checks();
    let (s, body, headers) = app.verify(&b).await;
    assert_eq!((s, error_code(&body)), (429, "rate_limited"));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(app.checks(), before);
    // Another user is not affected, and the refused code was not burned: it works tomorrow.
    let (s, _, _) = app.verify(&app.body_for(3)).await;
    assert_eq!(s, 200);
    app.clock.advance(Duration::from_secs(retry));
    let (s, body, _) = app.verify(&b).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn per_key_per_second_limit_is_429() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_key_per_second = 3)
        .spawn()
        .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (s, _, h) = app.verify(&app.body_for(i % USERS.len())).await;
        if s == 429 {
            assert_eq!(h["retry-after"], "1");
        }
        statuses.push(s);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    assert_eq!(app.checks(), 3);
    app.clock.advance(Duration::from_secs(1));
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn wechat_refusals_map_to_stable_codes_with_one_call_each() {
    let app = TestApp::spawn().await;
    // The real thing: an app without the permission.
    let (_, k) = app.key_for(&[NO_PERMISSION_APPID]).await;
    let code = app
        .sandbox
        .state()
        .consent(NO_PERMISSION_APPID, NO_PERMISSION_OPENID)
        .unwrap();
    let u = &USERS[0];
    let b = json!({"openid": NO_PERMISSION_OPENID, "real_name": u.submit_name, "cred_id": u.submit_cred_id, "code": code});
    let before = app.checks();
    let (s, body, _) = app.verify_with(&b, Some(&k), None).await;
    assert_eq!(
        (s, error_code(&body)),
        (502, "upstream_permission_denied"),
        "{body}"
    );
    assert_eq!(app.checks() - before, 1);

    for (errcode, status, code) in [
        (48001, 502, "upstream_permission_denied"),
        (45009, 503, "upstream_quota_exhausted"),
        (-1, 503, "upstream_unavailable"),
        (40003, 422, "invalid_openid"),
        (61234, 502, "upstream_rejected"),
    ] {
        app.fault(Fault::errcode(CHECK, errcode));
        let body = expect(&app, &app.body_for(0), status, code, 1).await;
        if code != "upstream_unavailable" {
            assert_eq!(body["error"]["errcode"], errcode, "{body}");
        }
    }
}

#[tokio::test]
async fn timeouts_drops_5xx_and_garbage_are_503_after_exactly_one_call() {
    let app = TestApp::builder()
        .config(|c| c.upstream_timeout_ms = 300)
        .spawn()
        .await;
    let faults = [
        Fault::delay(CHECK, Duration::from_millis(1500)),
        Fault::drop_connection(CHECK),
        Fault::http_status(CHECK, 500),
        Fault::http_status(CHECK, 502),
        Fault::malformed(CHECK),
    ];
    for f in faults {
        app.fault(f.clone());
        let b = app.body_for(0);
        expect(&app, &b, 503, "upstream_unavailable", 1).await;
        // The code may have reached WeChat: it is spent here too, and not resent.
        expect(&app, &b, 409, "code_already_used", 0).await;
    }
}

#[tokio::test]
async fn guardian_consent_is_required_for_minors_when_the_policy_is_on() {
    let app = TestApp::builder()
        .config(|c| c.policy.require_guardian_consent = true)
        .spawn()
        .await;
    let minor = USERS.iter().position(|u| u.note.contains("minor")).unwrap();
    let b = app.body_for(minor);
    expect(&app, &b, 422, "guardian_consent_required", 0).await;
    let mut with = b.clone();
    with["guardian_consent"] = json!(true);
    let (s, body, _) = app.verify(&with).await;
    assert_eq!(s, 200, "the refused code was not spent: {body}");
    assert_eq!(body["minor"], true);
    // Adults need nothing.
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let mut b = app.body_for(0);
    b["purpose"] = json!("x".repeat(64 * 1024));
    let (s, body, _) = app.verify(&b).await;
    assert_eq!((s, error_code(&body)), (413, "payload_too_large"));
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (s, body) = app.get("/v2/nothing").await;
    assert_eq!((s, error_code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn no_token_means_503_before_the_code_is_spent() {
    let app = TestApp::spawn().await;
    app.fault(Fault::errcode(Endpoint::StableToken, -1).times(3));
    let b = app.body_for(0);
    let body = expect(&app, &b, 503, "upstream_unavailable", 0).await;
    assert!(body["error"]["message"].is_string());
    assert_eq!(
        app.state.store.audit_page(0, None, 10).await.unwrap().len(),
        0,
        "nothing was recorded"
    );
    // Once WeChat's token endpoint answers again, the same code still works.
    app.sandbox.state().clear_faults();
    let (s, body, _) = app.verify(&b).await;
    assert_eq!(
        (s, body["outcome"].as_str()),
        (200, Some("match")),
        "{body}"
    );
}
