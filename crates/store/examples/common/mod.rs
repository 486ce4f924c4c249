//! What the store's examples share: one verification's two durable writes, as the gateway makes them.

use sha2::{Digest, Sha256};
use store::{AppendOptions, NewAuditEntry, Store};

/// Reserve a fresh code, then append a match that binds an identity.
pub async fn verification(s: &dyn Store, i: u64) {
    let hash = Sha256::digest(i.to_le_bytes()).to_vec();
    assert!(s.reserve_code(&hash, "wxbench", 1).await.expect("reserve"));
    let entry = NewAuditEntry {
        id: format!("v-{i}"),
        at_ms: 1,
        key_id: "bench".into(),
        appid: "wxbench".into(),
        openid: format!("o-{}", i % 1000),
        masked_name: "张*".into(),
        masked_cred_id: "1101**********002X".into(),
        blind_cred: hash.clone(),
        blind_pair: hash,
        key_version: 1,
        purpose: None,
        outcome: Some("match".into()),
        error_code: None,
        errcode: Some(0),
        verify_openid: vec![],
        verify_real_name: None,
        minor: false,
        latency_ms: 0,
        kind: store::KIND_VERIFICATION.into(),
        provider: None,
        billed: None,
        consent_ref: None,
    };
    let opts = AppendOptions {
        bind_identity: true,
        idempotent: None,
    };
    s.append(entry, opts).await.expect("append");
}
