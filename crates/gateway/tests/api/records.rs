//! What is kept: stored verifications, identities, idempotent replays, restarts, the audit chain.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_verification_can_be_fetched_by_id_masked() {
    let app = TestApp::spawn().await;
    let mut b = app.body_for(0);
    b["purpose"] = json!("outpatient registration");
    let (_, created, _) = app.verify(&b).await;
    let id = created["id"].as_str().unwrap();
    let (s, got) = app.get(&format!("/v1/verifications/{id}")).await;
    assert_eq!(s, 200);
    for f in [
        "id",
        "appid",
        "openid",
        "outcome",
        "verify_openid",
        "verify_real_name",
        "masked_real_name",
        "masked_cred_id",
        "minor",
        "checked_at",
    ] {
        assert_eq!(got[f], created[f], "{f}");
    }
    assert_eq!(got["purpose"], "outpatient registration");
    let (s, body) = app
        .get("/v1/verifications/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!((s, error_code(&body)), (404, "not_found"));
    // A key for another app does not see it.
    let (_, other) = app.key_for(&[NO_PERMISSION_APPID]).await;
    let resp = app
        .http
        .get(app.url(&format!("/v1/verifications/{id}")))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn identities_record_the_latest_match_and_match_by_blind_index() {
    let app = TestApp::spawn().await;
    let u = &USERS[0];
    let path = format!("/v1/identities/{APPID}/{}", u.openid);
    let (s, body) = app.get(&path).await;
    assert_eq!((s, error_code(&body)), (404, "not_found"));
    // A mismatch does not establish an identity.
    let (s, _, _) = app.verify(&app.body_for(3)).await;
    assert_eq!(s, 200);
    let (s, _) = app
        .get(&format!("/v1/identities/{APPID}/{}", USERS[3].openid))
        .await;
    assert_eq!(s, 404);

    let (_, v, _) = app.verify(&app.body_for(0)).await;
    let (s, id) = app.get(&path).await;
    assert_eq!(s, 200, "{id}");
    assert_eq!(id["verified"], true);
    assert_eq!(id["verification_id"], v["id"]);
    assert_eq!(id["masked_real_name"], v["masked_real_name"]);
    assert_eq!(id["masked_cred_id"], v["masked_cred_id"]);
    assert_eq!(id["verified_at"], v["checked_at"]);

    let before = app.checks();
    let m = |name: &str, cred: &str| json!({"appid": APPID, "openid": u.openid, "real_name": name, "cred_id": cred});
    let (s, r) = app
        .post("/v1/identities/match", &m(u.submit_name, u.submit_cred_id))
        .await;
    assert_eq!((s, &r["matches"]), (200, &json!(true)), "{r}");
    assert_eq!(r["verified_at"], v["checked_at"]);
    let other_id = USERS[3].submit_cred_id;
    let (_, r) = app
        .post("/v1/identities/match", &m(u.submit_name, other_id))
        .await;
    assert_eq!(r["matches"], false);
    let (_, r) = app
        .post("/v1/identities/match", &m("李四", u.submit_cred_id))
        .await;
    assert_eq!(r["matches"], false);
    let (_, r) = app.post("/v1/identities/match", &json!({"appid": APPID, "openid": "nobody", "real_name": u.submit_name, "cred_id": u.submit_cred_id})).await;
    assert_eq!(r, json!({"matches": false, "verified_at": null}));
    let (s, r) = app
        .post("/v1/identities/match", &m(u.submit_name, "123"))
        .await;
    assert_eq!((s, error_code(&r)), (422, "invalid_cred_id"));
    assert_eq!(app.checks(), before, "matching never calls WeChat");
    let (s, r) = app
        .get(&format!(
            "/v1/identities/{NO_PERMISSION_APPID}/{}",
            u.openid
        ))
        .await;
    assert_eq!((s, error_code(&r)), (403, "forbidden_app"));
}

#[tokio::test]
async fn an_erased_identity_is_forgotten_until_the_next_verification() {
    let app = TestApp::spawn().await;
    let u = &USERS[0];
    let path = format!("/v1/identities/{APPID}/{}", u.openid);
    let delete = |path: String, key: String| {
        let req = app.http.delete(app.url(&path)).bearer_auth(key);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or(serde_json::Value::String(text)),
            )
        }
    };
    let (s, body) = delete(path.clone(), app.key.clone()).await;
    assert_eq!(
        (s, error_code(&body)),
        (404, "not_found"),
        "nothing to erase yet"
    );

    let (_, v, _) = app.verify(&app.body_for(0)).await;
    let (s, _) = app.get(&path).await;
    assert_eq!(s, 200);
    // A key for another app may not erase it.
    let (_, other) = app.key_for(&[NO_PERMISSION_APPID]).await;
    let (s, body) = delete(path.clone(), other).await;
    assert_eq!((s, error_code(&body)), (403, "forbidden_app"));
    assert_eq!(app.get(&path).await.0, 200);

    let (s, body) = delete(path.clone(), app.key.clone()).await;
    assert_eq!((s, &body), (204, &serde_json::Value::String(String::new())));
    let (s, body) = app.get(&path).await;
    assert_eq!((s, error_code(&body)), (404, "not_found"));
    let m = json!({"appid": APPID, "openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id});
    let (_, r) = app.post("/v1/identities/match", &m).await;
    assert_eq!(r, json!({"matches": false, "verified_at": null}));
    // The verification itself stays in the audit trail, and the chain still verifies.
    let (s, _) = app
        .get(&format!("/v1/verifications/{}", v["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert!(app.state.store.chain_state().await.is_ok());
    let (s, _) = delete(path.clone(), app.key.clone()).await;
    assert_eq!(s, 404, "erased once");

    // A new verification (new consent) binds the identity again.
    let (s, v2, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200, "{v2}");
    let (s, id) = app.get(&path).await;
    assert_eq!((s, &id["verification_id"]), (200, &v2["id"]));
}

#[tokio::test]
async fn idempotent_replays_return_the_first_answer_without_calling_wechat() {
    let app = TestApp::spawn().await;
    let b = app.body_for(0);
    let (s1, first, h1) = app.verify_with(&b, Some(&app.key), Some("order-42")).await;
    assert_eq!(s1, 200);
    assert!(h1.get("idempotent-replayed").is_none());
    let (s2, second, h2) = app.verify_with(&b, Some(&app.key), Some("order-42")).await;
    assert_eq!((s2, &second), (200, &first));
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(app.checks(), 1);
    // The same key with another request is refused.
    let (s, body, _) = app
        .verify_with(&app.body_for(3), Some(&app.key), Some("order-42"))
        .await;
    assert_eq!((s, error_code(&body)), (422, "idempotency_key_reused"));
    // Failures after WeChat was reached are replayed too.
    app.fault(Fault::errcode(CHECK, -1));
    let b = app.body_for(3);
    let (s, first, _) = app.verify_with(&b, Some(&app.key), Some("order-43")).await;
    assert_eq!((s, error_code(&first)), (503, "upstream_unavailable"));
    let (s, again, _) = app.verify_with(&b, Some(&app.key), Some("order-43")).await;
    assert_eq!((s, &again), (503, &first));
    // Validation failures are not remembered: fix the request and use the same key.
    let mut bad = app.body_for(4);
    bad["cred_id"] = json!("123");
    let (s, _, _) = app
        .verify_with(&bad, Some(&app.key), Some("order-44"))
        .await;
    assert_eq!(s, 422);
    let (s, _, _) = app
        .verify_with(&app.body_for(4), Some(&app.key), Some("order-44"))
        .await;
    assert_eq!(s, 200);
    assert_eq!(app.checks(), 3);
}

#[tokio::test]
async fn a_restart_keeps_records_identities_and_the_replay_guard() {
    let app = TestApp::spawn().await;
    let b = app.body_for(0);
    let (_, v, _) = app.verify(&b).await;
    let app = app.restart().await;
    let (s, got) = app
        .get(&format!("/v1/verifications/{}", v["id"].as_str().unwrap()))
        .await;
    assert_eq!((s, &got["outcome"]), (200, &json!("match")));
    let (s, _) = app
        .get(&format!("/v1/identities/{APPID}/{}", USERS[0].openid))
        .await;
    assert_eq!(s, 200);
    let (s, body, _) = app.verify(&b).await;
    assert_eq!((s, error_code(&body)), (409, "code_already_used"));
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.rows, 2);
}

#[tokio::test]
async fn every_attempt_that_reached_policy_is_one_audit_row_in_a_valid_chain() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_openid_per_day = 1)
        .spawn()
        .await;
    let b = app.body_for(0);
    app.verify(&b).await; // match
    app.verify(&b).await; // code reused
    app.verify(&app.body_for(0)).await; // rate limited
    let mut bad = app.body_for(3);
    bad["cred_id"] = json!("123");
    app.verify(&bad).await; // invalid input: not audited
    app.fault(Fault::errcode(CHECK, 48001));
    app.verify(&app.body_for(3)).await; // upstream error
    let rows = app.state.store.audit_page(0, None, 100).await.unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.entry.outcome.clone().unwrap_or_default(),
                r.entry.error_code.clone().unwrap_or_default(),
                r.entry.errcode,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("match".into(), "".into(), Some(0)),
            ("".into(), "code_already_used".into(), None),
            ("".into(), "rate_limited".into(), None),
            ("".into(), "upstream_permission_denied".into(), Some(48001)),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.entry.key_id == app.key_id && r.entry.appid == APPID)
    );
    assert!(rows[0].entry.latency_ms >= 0 && rows[0].entry.blind_pair.len() == 32);
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.rows, 4);
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    let (s, b) = app.get("/healthz").await;
    assert_eq!((s, &b["status"]), (200, &json!("ok")));
    let (s, b) = app.get("/readyz").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["tokens"][APPID], "ok");
    app.verify(&app.body_for(0)).await;
    app.verify(&json!({})).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "wxrn_http_requests_total",
        "route=\"/v1/verifications\"",
        "wxrn_verifications_total",
        "result=\"match\"",
        "wxrn_upstream_requests_total",
        "wxrn_token_fetches_total",
        "wxrn_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}");
    }
    // Every family has its # HELP and # TYPE (issue 13).
    let declared = |tag: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect()
    };
    let (helps, types) = (declared("# HELP "), declared("# TYPE "));
    let mut families = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| types.iter().any(|t| t == f))
            .unwrap_or(name);
        assert!(helps.iter().any(|h| h == family), "no HELP for {family}");
        assert!(types.iter().any(|t| t == family), "no TYPE for {family}");
        families += 1;
    }
    assert!(families > 5, "{text}");
    let (s, doc) = app.get("/openapi.json").await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/v1/verifications"]["post"].is_object());
}

#[tokio::test]
async fn readyz_fails_when_no_token_can_be_had() {
    let app = TestApp::spawn().await;
    app.fault(Fault::errcode(Endpoint::StableToken, 40125).times(10));
    let (s, b) = app.get("/readyz").await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["tokens"][APPID]
            .as_str()
            .unwrap()
            .starts_with("unavailable")
    );
}

#[test]
fn the_committed_openapi_document_is_current() {
    let generated = gateway::openapi::render();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("WXRN_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `WXRN_BLESS=1 cargo test -p gateway openapi` and commit it"
    );
}

#[tokio::test]
async fn used_codes_and_idempotent_answers_are_forgotten_after_their_retention() {
    let app = TestApp::builder()
        .config(|c| {
            c.retention.used_codes_days = 30;
            c.retention.idempotency_hours = 24;
        })
        .spawn()
        .await;
    let b = app.body_for(0);
    let (s, _, _) = app.verify_with(&b, Some(&app.key), Some("k-1")).await;
    assert_eq!(s, 200);
    assert_eq!(
        gateway::maintenance::prune_once(&app.state).await.unwrap(),
        (0, 0),
        "nothing is old yet"
    );
    app.clock.advance(std::time::Duration::from_secs(25 * 3600));
    assert_eq!(
        gateway::maintenance::prune_once(&app.state).await.unwrap(),
        (0, 1),
        "the answer is 25 h old"
    );
    app.clock
        .advance(std::time::Duration::from_secs(30 * 86_400));
    assert_eq!(
        gateway::maintenance::prune_once(&app.state).await.unwrap(),
        (1, 0),
        "the code is 31 days old"
    );
    // Forgotten here, the code still cannot be replayed: WeChat refuses it (one call, 80113).
    let (s, body, _) = app.verify(&b).await;
    assert_eq!((s, error_code(&body)), (422, "invalid_code"), "{body}");
}
