//! Rows as plain structs. Every personal value in here is already masked or blind-indexed.

use serde::Serialize;

/// An API key as stored: the secret part only as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub key_hash: Vec<u8>,
    /// The appids this key may verify for (its WeChat scope).
    pub apps: Vec<String>,
    /// Scopes beyond the apps': `"idcheck"` (the paid name + ID-number check). A key may have both.
    #[serde(default)]
    pub scopes: Vec<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// One verification attempt, as the gateway hands it to the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewAuditEntry {
    pub id: String,
    pub at_ms: i64,
    pub key_id: String,
    pub appid: String,
    pub openid: String,
    pub masked_name: String,
    pub masked_cred_id: String,
    #[serde(with = "hex_bytes")]
    pub blind_cred: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub blind_pair: Vec<u8>,
    pub key_version: i32,
    pub purpose: Option<String>,
    /// `match`, `id_mismatch`, ... when WeChat answered.
    pub outcome: Option<String>,
    /// The gateway's error code when it did not (`invalid_code`, `rate_limited`, ...).
    pub error_code: Option<String>,
    /// WeChat's errcode, when WeChat answered with one.
    pub errcode: Option<i64>,
    pub verify_openid: Vec<String>,
    pub verify_real_name: Option<String>,
    pub minor: bool,
    pub latency_ms: i64,
    /// What the row records: [`KIND_VERIFICATION`] (WeChat's check; the only kind before issue 14) or
    /// [`KIND_IDCHECK`] (a paid provider's name + ID-number check, in the same chain) or [`KIND_IDENTITY_MATCH`].
    pub kind: String,
    /// An idcheck's provider: the one that answered, or the last one tried.
    pub provider: Option<String>,
    /// An idcheck's billing: whether a provider call was, or may have been, billed.
    pub billed: Option<bool>,
    /// An idcheck's reference to the user's separate consent to processing their ID number (PIPL Art. 29).
    pub consent_ref: Option<String>,
}

/// [`NewAuditEntry::kind`] of a WeChat verification.
pub const KIND_VERIFICATION: &str = "verification";
/// [`NewAuditEntry::kind`] of a paid provider's name + ID-number check.
pub const KIND_IDCHECK: &str = "idcheck";
/// [`NewAuditEntry::kind`] of a comparison with a user's verified identity (`POST /v1/identities/match`):
/// `outcome` is `match`, `mismatch` or `no_identity`, or `error_code` says why it was refused.
pub const KIND_IDENTITY_MATCH: &str = "identity_match";

/// An audit row with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
    #[serde(with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    #[serde(with = "hex_bytes")]
    pub hash: Vec<u8>,
}

/// What else [`crate::Store::append`] does in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// Record this row as the user's latest successful match.
    pub bind_identity: bool,
    /// Store this answer for the request's Idempotency-Key.
    pub idempotent: Option<IdemAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemAnswer {
    pub key_id: String,
    pub idem_key: String,
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct IdemBeginRequest {
    pub key_id: String,
    pub idem_key: String,
    /// Keyed hash of the request body: the same key must come with the same request.
    pub fingerprint: Vec<u8>,
    pub now_ms: i64,
    /// An in-progress record older than this is taken over (its request died).
    pub stale_after_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemBegin {
    /// First time: go on, then finish with [`AppendOptions::idempotent`] or abort.
    Started,
    /// Answered before: replay this.
    Done { status: u16, body: String },
    /// Another request with this key is running now.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// The latest successful match of one user in one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityRecord {
    pub appid: String,
    pub openid: String,
    pub verification_id: String,
    pub verified_at_ms: i64,
    pub masked_name: String,
    pub masked_cred_id: String,
    #[serde(skip)]
    pub blind_cred: Vec<u8>,
    #[serde(skip)]
    pub blind_pair: Vec<u8>,
    pub key_version: i32,
}

/// A position in the audit chain: the chain head (the last row) or the purge checkpoint (the last purged row),
/// with the time it was signed and its signature (see [`crate::chain::AuditKeys`]). `mac` is `None` for a link
/// nobody signed (a store from before signed heads, or one tampered with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub at_ms: i64,
    pub mac: Option<Vec<u8>>,
}

/// One chain's ends (see [`crate::chain::POSITION_BITS`] for what a chain is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainState {
    /// Which chain, from 1.
    pub chain: u32,
    /// Always present once the gateway has opened the store (at position 0 before the first row): a missing
    /// head means it was deleted.
    pub head: Option<ChainLink>,
    pub checkpoint: Option<ChainLink>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub rows_deleted: u64,
    pub codes_forgotten: u64,
    /// The checkpoint of the last chain purged (for one chain, its checkpoint).
    pub checkpoint_seq: Option<i64>,
    /// How many chains had rows purged.
    pub chains_purged: usize,
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}
