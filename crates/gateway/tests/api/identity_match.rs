//! Issue 12 §5: `POST /v1/identities/match` is not an oracle. Every call that passes validation is an audit row
//! (kind `identity_match`, masked values, the result), `limits.match_per_openid_per_day` bounds the calls per user
//! (then 429 `rate_limited` with `Retry-After`, also audited), and the key's `limits.per_key_per_second` applies.
//! On SQLite with counters in memory, and on PostgreSQL with counters in Redis.

use crate::helpers::*;
use serde_json::{Value, json};
use store::{AuditRecord, KIND_IDENTITY_MATCH};

const MATCH: &str = "/v1/identities/match";

fn builder(match_per_day: u32, per_key_per_second: u32) -> Builder {
    TestApp::builder().config(|c| {
        c.limits.match_per_openid_per_day = match_per_day;
        c.limits.per_key_per_second = per_key_per_second;
    })
}

async fn rows_after(app: &TestApp, before: usize) -> Vec<AuditRecord> {
    let rows = app.state.store.audit_page(0, None, 1_000).await.unwrap();
    rows[before..].to_vec()
}

fn pair(openid: &str, user: usize) -> Value {
    json!({"openid": openid, "real_name": USERS[user].submit_name, "cred_id": USERS[user].submit_cred_id})
}

async fn every_match_is_audited_and_limited(app: TestApp) {
    let owner = USERS[0].openid;
    let (s, b, _) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("match")), "{b}");
    let before = app
        .state
        .store
        .audit_page(0, None, 1_000)
        .await
        .unwrap()
        .len();

    // Refused by validation: no row, no count.
    let mut bad = pair(owner, 0);
    bad["cred_id"] = json!("12345");
    let (s, r) = app.post(MATCH, &bad).await;
    assert_eq!((s, error_code(&r)), (422, "invalid_cred_id"));
    assert!(rows_after(&app, before).await.is_empty());

    let (s, r) = app.post(MATCH, &pair(owner, 0)).await;
    assert_eq!((s, &r["matches"]), (200, &json!(true)), "{r}");
    let (s, r) = app.post(MATCH, &pair(owner, 3)).await;
    assert_eq!((s, &r["matches"]), (200, &json!(false)), "{r}");
    let (s, r) = app.post(MATCH, &pair(USERS[4].openid, 4)).await;
    assert_eq!(
        (s, &r),
        (200, &json!({"matches": false, "verified_at": null}))
    );

    let rows = rows_after(&app, before).await;
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.entry.kind.as_str(),
                r.entry.openid.as_str(),
                r.entry.outcome.as_deref(),
                r.entry.key_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                KIND_IDENTITY_MATCH,
                owner,
                Some("match"),
                app.key_id.as_str()
            ),
            (
                KIND_IDENTITY_MATCH,
                owner,
                Some("mismatch"),
                app.key_id.as_str()
            ),
            (
                KIND_IDENTITY_MATCH,
                USERS[4].openid,
                Some("no_identity"),
                app.key_id.as_str()
            ),
        ]
    );
    // Masked, as for a verification; the blind indexes of the pair asked about.
    assert_eq!(rows[0].entry.masked_name, "张*");
    assert_eq!(rows[0].entry.masked_cred_id, "110***********0038");
    assert_ne!(rows[0].entry.blind_pair, rows[1].entry.blind_pair);
    // A match row is not a verification.
    let (s, _) = app
        .get(&format!("/v1/verifications/{}", rows[0].entry.id))
        .await;
    assert_eq!(s, 404);

    // The day's third call for the owner is the last (limit 3): then 429 with Retry-After, audited.
    let (s, _) = app.post(MATCH, &pair(owner, 0)).await;
    assert_eq!(s, 200);
    let resp = app
        .http
        .post(app.url(MATCH))
        .bearer_auth(&app.key)
        .json(&pair(owner, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let r: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&r), "rate_limited");
    let last = rows_after(&app, before).await.pop().unwrap();
    assert_eq!(
        (
            last.entry.kind.as_str(),
            last.entry.outcome,
            last.entry.error_code.as_deref()
        ),
        (KIND_IDENTITY_MATCH, None, Some("rate_limited"))
    );
    // Another user's calls are counted apart.
    let (s, _) = app.post(MATCH, &pair(USERS[4].openid, 4)).await;
    assert_eq!(s, 200);
    assert_eq!(app.checks(), 1, "no WeChat call for a match");

    // The chain, with its match rows, still verifies.
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.rows as usize, before + 6);
}

#[tokio::test]
async fn every_identity_match_is_audited_and_limited_per_user() {
    every_match_is_audited_and_limited(builder(3, 0).spawn().await).await;
}

#[tokio::test]
async fn every_identity_match_is_audited_and_limited_per_user_on_postgres_and_redis() {
    test_support::needs!(Postgres, Redis);
    let (url, _schema) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    every_match_is_audited_and_limited(
        builder(3, 0)
            .config(|c| c.database_url = Some(url.clone().into()))
            .redis(&test_support::redis_test_url())
            .spawn()
            .await,
    )
    .await;
}

#[tokio::test]
async fn the_per_key_limit_applies_to_identity_matches() {
    let app = builder(0, 2).spawn().await;
    for _ in 0..2 {
        let (s, _) = app.post(MATCH, &pair(USERS[0].openid, 0)).await;
        assert_eq!(s, 200);
    }
    let (s, r) = app.post(MATCH, &pair(USERS[4].openid, 4)).await;
    assert_eq!((s, error_code(&r)), (429, "rate_limited"), "{r}");
    app.clock.advance(std::time::Duration::from_secs(1));
    let (s, _) = app.post(MATCH, &pair(USERS[4].openid, 4)).await;
    assert_eq!(s, 200);
}
