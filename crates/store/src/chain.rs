//! The audit hash chain.
//!
//! `hash = SHA-256(prev_hash || canonical(row))`, the first row's `prev_hash` being 32 zero bytes (or, after a
//! purge, the checkpoint's hash). `canonical` writes every field in a fixed order, each with a tag and a length,
//! so no two different rows share bytes. Changing it breaks every existing chain: version it instead.

use crate::model::{AuditRecord, ChainLink, NewAuditEntry};
use sha2::{Digest, Sha256};

pub const GENESIS: [u8; 32] = [0; 32];
const VERSION: &[u8] = b"wxrealname/audit/v1";

fn field(h: &mut Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn opt_str(h: &mut Sha256, tag: u8, v: Option<&str>) {
    match v {
        None => h.update([tag, 0]),
        Some(s) => {
            h.update([tag, 1]);
            field(h, tag, s.as_bytes());
        }
    }
}

/// The hash of `entry` at position `seq` after `prev_hash`.
pub fn link_hash(prev_hash: &[u8], seq: i64, e: &NewAuditEntry) -> Vec<u8> {
    let mut h = Sha256::new();
    field(&mut h, 0, VERSION);
    field(&mut h, 1, prev_hash);
    field(&mut h, 2, &seq.to_be_bytes());
    field(&mut h, 3, e.id.as_bytes());
    field(&mut h, 4, &e.at_ms.to_be_bytes());
    field(&mut h, 5, e.key_id.as_bytes());
    field(&mut h, 6, e.appid.as_bytes());
    field(&mut h, 7, e.openid.as_bytes());
    field(&mut h, 8, e.masked_name.as_bytes());
    field(&mut h, 9, e.masked_cred_id.as_bytes());
    field(&mut h, 10, &e.blind_cred);
    field(&mut h, 11, &e.blind_pair);
    field(&mut h, 12, &e.key_version.to_be_bytes());
    opt_str(&mut h, 13, e.purpose.as_deref());
    opt_str(&mut h, 14, e.outcome.as_deref());
    opt_str(&mut h, 15, e.error_code.as_deref());
    match e.errcode {
        None => h.update([16, 0]),
        Some(c) => field(&mut h, 16, &c.to_be_bytes()),
    }
    field(&mut h, 17, e.verify_openid.join(";").as_bytes());
    opt_str(&mut h, 18, e.verify_real_name.as_deref());
    field(&mut h, 19, &[u8::from(e.minor)]);
    field(&mut h, 20, &e.latency_ms.to_be_bytes());
    h.finalize().to_vec()
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "row {seq}: its prev_hash does not match the row before it (a row was removed or reordered)"
    )]
    BrokenLink { seq: i64 },
    #[error("row {seq}: its hash does not match its contents (the row was edited)")]
    BadHash { seq: i64 },
    #[error("row {seq}: expected position {expected} (rows are missing)")]
    Gap { seq: i64, expected: i64 },
    #[error(
        "the chain head says {head_seq}, but the last row is {last_seq} (rows at the end were removed)"
    )]
    Truncated { head_seq: i64, last_seq: i64 },
}

impl ChainError {
    /// The first row that fails.
    pub fn seq(&self) -> i64 {
        match self {
            Self::BrokenLink { seq } | Self::BadHash { seq } | Self::Gap { seq, .. } => *seq,
            Self::Truncated { last_seq, .. } => *last_seq + 1,
        }
    }
}

/// Walks rows in order and checks every link. Feed it pages; call [`Verifier::finish`] at the end.
#[derive(Debug)]
pub struct Verifier {
    prev: Vec<u8>,
    next_seq: Option<i64>,
    pub rows: u64,
}

impl Verifier {
    /// Start at the genesis, or at a purge checkpoint.
    pub fn new(checkpoint: Option<&ChainLink>) -> Self {
        match checkpoint {
            None => Self {
                prev: GENESIS.to_vec(),
                next_seq: None,
                rows: 0,
            },
            Some(c) => Self {
                prev: c.hash.clone(),
                next_seq: Some(c.seq + 1),
                rows: 0,
            },
        }
    }

    pub fn push(&mut self, r: &AuditRecord) -> Result<(), ChainError> {
        if let Some(expected) = self.next_seq
            && r.seq != expected
        {
            return Err(ChainError::Gap {
                seq: r.seq,
                expected,
            });
        }
        if r.prev_hash != self.prev {
            return Err(ChainError::BrokenLink { seq: r.seq });
        }
        if link_hash(&r.prev_hash, r.seq, &r.entry) != r.hash {
            return Err(ChainError::BadHash { seq: r.seq });
        }
        self.prev = r.hash.clone();
        self.next_seq = Some(r.seq + 1);
        self.rows += 1;
        Ok(())
    }

    /// Compare the last row seen with the chain head, which catches rows cut from the end.
    pub fn finish(&self, head: Option<&ChainLink>) -> Result<(), ChainError> {
        let last_seq = self.next_seq.map(|n| n - 1).unwrap_or(0);
        match head {
            Some(h) if h.seq != last_seq || h.hash != self.prev => Err(ChainError::Truncated {
                head_seq: h.seq,
                last_seq,
            }),
            _ => Ok(()),
        }
    }
}

/// The result of walking a whole stored chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub rows: u64,
    pub first_seq: Option<i64>,
    pub last_seq: Option<i64>,
    pub from_checkpoint: bool,
}

/// Walk every stored row from the genesis or the purge checkpoint up to the head as it was when the walk
/// started. `Ok(Err(_))` names the first bad row.
///
/// Rows appended during the walk (other requests, other gateway processes) are left for the next one: checking
/// them against the older head would report the chain as truncated.
pub async fn verify_store(
    store: &dyn crate::Store,
) -> crate::Result<Result<VerifyReport, ChainError>> {
    const PAGE: i64 = 2000;
    let state = store.chain_state().await?;
    let end = state.head.as_ref().map(|h| h.seq);
    let mut v = Verifier::new(state.checkpoint.as_ref());
    let mut after = state.checkpoint.as_ref().map(|c| c.seq).unwrap_or(0);
    let mut first_seq = None;
    loop {
        let page = store.audit_page(after, None, PAGE).await?;
        let mut past_end = false;
        for r in &page {
            if end.is_some_and(|end| r.seq > end) {
                past_end = true;
                break;
            }
            first_seq.get_or_insert(r.seq);
            if let Err(e) = v.push(r) {
                return Ok(Err(e));
            }
        }
        match page.last() {
            Some(last) if !past_end && page.len() as i64 == PAGE => after = last.seq,
            _ => break,
        }
    }
    if let Err(e) = v.finish(state.head.as_ref()) {
        return Ok(Err(e));
    }
    let last_seq = state.head.map(|h| h.seq);
    Ok(Ok(VerifyReport {
        rows: v.rows,
        first_seq,
        last_seq: last_seq.filter(|_| v.rows > 0),
        from_checkpoint: state.checkpoint.is_some(),
    }))
}
