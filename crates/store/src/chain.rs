//! The audit hash chain.
//!
//! `hash = SHA-256(prev_hash || canonical(row))`, the first row's `prev_hash` being 32 zero bytes (or, after a
//! purge, the checkpoint's hash). `canonical` writes every field in a fixed order, each with a tag and a length,
//! so no two different rows share bytes. Changing it breaks every existing chain: version it instead.
//!
//! The hashes alone only show an edit to someone who trusts the last hash: whoever holds the database can
//! recompute the whole chain. So the chain's two ends are signed with a key that is not in the database
//! ([`AuditKeys`]: HMAC-SHA256, derived from the master key): the head (the last row's position and hash,
//! rewritten with every append) and the purge checkpoint. A recomputed, cut or extended chain no longer meets
//! its signed head, and a forged head or checkpoint does not verify. What the database alone cannot show (a
//! whole older copy put back, head included) the anchor file shows ([`crate::anchor`]).

use crate::model::{AuditRecord, ChainLink, NewAuditEntry};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The name of chain 1, the only chain of a SQLite store and the first of a PostgreSQL one.
pub const MAIN_CHAIN: &str = "main";

/// How many low bits of a row's `seq` are its position in its chain. A store may hold several chains (PostgreSQL:
/// one per gateway process appending, so that no process ever waits for another's append); chain `n` (from 1)
/// owns the positions `(n - 1) << 40` + 1, 2, ...: every `seq` is unique across chains without anything all
/// appends must share, ordering by `seq` groups rows by chain, and chain 1's rows keep the positions they always
/// had.
pub const POSITION_BITS: u32 = 40;

/// The chain a row or link at `seq` belongs to (from 1).
pub fn chain_of(seq: i64) -> u32 {
    u32::try_from((seq >> POSITION_BITS) + 1).unwrap_or(u32::MAX)
}

/// The `seq` of chain `n`'s genesis: its first row is at `base(n) + 1`.
pub fn base(n: u32) -> i64 {
    i64::from(n.max(1) - 1) << POSITION_BITS
}

/// The name a chain's signatures (and anchor entries) carry: [`MAIN_CHAIN`] for chain 1, `chain-N` otherwise.
pub fn chain_name(n: u32) -> String {
    if n <= 1 {
        MAIN_CHAIN.to_owned()
    } else {
        format!("chain-{n}")
    }
}

/// A `seq` as people read it: the position, and for a chain other than the first, which chain
/// (`5` or `5 of chain 2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position(pub i64);

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match chain_of(self.0) {
            1 => write!(f, "{}", self.0),
            n => write!(f, "{} of chain {n}", self.0 - base(n)),
        }
    }
}

/// What a signature says about a link: "the chain ends here" or "the chain was purged up to here". Signed, so
/// that one cannot be passed off as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Head,
    Checkpoint,
}

/// The keys that sign and check chain heads and checkpoints: HMAC-SHA256 with a key derived from the master key
/// (the gateway derives it with HKDF, `wxrealname/audit-head/v1`). Signatures are made with the current key;
/// keys of earlier master-key versions still check old ones. `Debug` shows nothing of them.
#[derive(Clone)]
pub struct AuditKeys {
    current: Zeroizing<[u8; 32]>,
    previous: Vec<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeys")
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

impl AuditKeys {
    pub fn new(current: [u8; 32]) -> Self {
        Self {
            current: Zeroizing::new(current),
            previous: Vec::new(),
        }
    }

    /// Also accept signatures made with an earlier key (after a master-key rotation).
    pub fn with_previous(mut self, key: [u8; 32]) -> Self {
        self.previous.push(Zeroizing::new(key));
        self
    }

    /// The chain signed is the one `link.seq` lies in, by name: one chain's head cannot pass for another's.
    fn mac(key: &[u8; 32], kind: LinkKind, link: &ChainLink) -> Hmac<Sha256> {
        let chain = chain_name(chain_of(link.seq));
        let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
        m.update(b"wxrealname/audit-head/v1\0");
        m.update(match kind {
            LinkKind::Head => b"H",
            LinkKind::Checkpoint => b"C",
        });
        m.update(&(chain.len() as u64).to_be_bytes());
        m.update(chain.as_bytes());
        m.update(&link.seq.to_be_bytes());
        m.update(&(link.hash.len() as u64).to_be_bytes());
        m.update(&link.hash);
        m.update(&link.at_ms.to_be_bytes());
        m
    }

    /// The signature of `link` (its `mac` is ignored) under the current key.
    pub fn sign(&self, kind: LinkKind, link: &ChainLink) -> Vec<u8> {
        Self::mac(&self.current, kind, link)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// `link` with its signature set.
    pub fn signed(&self, kind: LinkKind, mut link: ChainLink) -> ChainLink {
        link.mac = Some(self.sign(kind, &link));
        link
    }

    /// Which key signed `link`: `Some(true)` the current one, `Some(false)` an earlier one, `None` none of them
    /// (unsigned, forged, or for another chain). Compared in constant time.
    pub fn signer(&self, kind: LinkKind, link: &ChainLink) -> Option<bool> {
        let mac = link.mac.as_deref()?;
        if Self::mac(&self.current, kind, link)
            .verify_slice(mac)
            .is_ok()
        {
            return Some(true);
        }
        self.previous
            .iter()
            .any(|k| Self::mac(k, kind, link).verify_slice(mac).is_ok())
            .then_some(false)
    }

    pub fn verifies(&self, kind: LinkKind, link: &ChainLink) -> bool {
        self.signer(kind, link).is_some()
    }
}

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
    // The idcheck fields (issue 14) are hashed only when a row uses them, so every row written before them (a
    // verification, with none set) keeps its hash and existing chains still verify.
    let plain_verification = e.kind == crate::KIND_VERIFICATION
        && e.provider.is_none()
        && e.billed.is_none()
        && e.consent_ref.is_none();
    if !plain_verification {
        field(&mut h, 21, e.kind.as_bytes());
        opt_str(&mut h, 22, e.provider.as_deref());
        match e.billed {
            None => h.update([23, 0]),
            Some(b) => field(&mut h, 23, &[u8::from(b)]),
        }
        opt_str(&mut h, 24, e.consent_ref.as_deref());
    }
    h.finalize().to_vec()
}

/// Why a chain does not verify. Positions are `seq`s (see [`Position`] for how they read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "row {}: its prev_hash does not match the row before it (a row was removed or reordered)", Position(*seq)
    )]
    BrokenLink { seq: i64 },
    #[error("row {}: its hash does not match its contents (the row was edited)", Position(*seq))]
    BadHash { seq: i64 },
    #[error("row {}: expected position {} (rows are missing)", Position(*seq), Position(*expected))]
    Gap { seq: i64, expected: i64 },
    #[error(
        "the chain head says {}, but the last row is {} (rows at the end were removed)", Position(*head_seq), Position(*last_seq)
    )]
    Truncated { head_seq: i64, last_seq: i64 },
    #[error(
        "row {}: the last row does not match the signed chain head (the chain was recomputed after an edit)", Position(*seq)
    )]
    HeadMismatch { seq: i64 },
    #[error(
        "the chain head is missing: it exists from the store's first start, so it (and maybe rows with it) was deleted"
    )]
    MissingHead,
    #[error(
        "row {}: its chain has no head (a chain's head exists from its first append, so it was deleted)", Position(*seq)
    )]
    UnknownChain { seq: i64 },
    #[error(
        "the chain head (row {}) is not signed: it was written without the audit key, or its signature was removed", Position(*seq)
    )]
    UnsignedHead { seq: i64 },
    #[error(
        "the chain head (row {}) is not signed by this key: it was forged or rewritten (or the master key is not the one that wrote it)", Position(*seq)
    )]
    ForgedHead { seq: i64 },
    #[error(
        "the purge checkpoint (row {}) is not signed: it was written without the audit key, or its signature was removed", Position(*seq)
    )]
    UnsignedCheckpoint { seq: i64 },
    #[error(
        "the purge checkpoint (row {}) is not signed by this key: rows before it were removed behind a forged checkpoint", Position(*seq)
    )]
    ForgedCheckpoint { seq: i64 },
    #[error(
        "row {} lies beyond the signed chain head (row {}): it was added without the audit key", Position(*seq), Position(*head_seq)
    )]
    BeyondHead { seq: i64, head_seq: i64 },
    #[error(
        "the anchor recorded row {}, but the database ends at row {}: rows were cut from the end, or an older copy of the database was put back", Position(*anchor_seq), Position(*head_seq)
    )]
    BehindAnchor { anchor_seq: i64, head_seq: i64 },
    #[error(
        "the anchor recorded row {}, but the database has no such chain: the chain (its head and its rows) was deleted", Position(*anchor_seq)
    )]
    MissingChain { anchor_seq: i64 },
    #[error("row {} differs from the anchor's record of it: the chain was rewritten", Position(*seq))]
    AnchorMismatch { seq: i64 },
    #[error("anchor entry {line}: not signed by this key (forged, or written for another store)")]
    BadAnchor { line: usize },
}

impl ChainError {
    /// The first row that fails (for errors about the whole chain, the head's position or the row after it).
    pub fn seq(&self) -> i64 {
        match self {
            Self::BrokenLink { seq }
            | Self::BadHash { seq }
            | Self::Gap { seq, .. }
            | Self::HeadMismatch { seq }
            | Self::UnknownChain { seq }
            | Self::UnsignedHead { seq }
            | Self::ForgedHead { seq }
            | Self::UnsignedCheckpoint { seq }
            | Self::ForgedCheckpoint { seq }
            | Self::BeyondHead { seq, .. }
            | Self::AnchorMismatch { seq } => *seq,
            Self::Truncated { last_seq, .. } => *last_seq + 1,
            Self::BehindAnchor { head_seq, .. } => *head_seq + 1,
            Self::MissingChain { anchor_seq } => base(chain_of(*anchor_seq)) + 1,
            Self::MissingHead | Self::BadAnchor { .. } => 0,
        }
    }
}

/// Walks one chain's rows in order and checks every link. Feed it pages; call [`Verifier::finish`] at the end.
#[derive(Debug)]
pub struct Verifier {
    prev: Vec<u8>,
    /// Where the chain starts: its genesis position, or its purge checkpoint's.
    start: i64,
    next_seq: Option<i64>,
    pub rows: u64,
}

impl Verifier {
    /// Start chain `chain` at its genesis, or at its purge checkpoint.
    pub fn new(chain: u32, checkpoint: Option<&ChainLink>) -> Self {
        match checkpoint {
            None => Self {
                prev: GENESIS.to_vec(),
                start: base(chain),
                next_seq: None,
                rows: 0,
            },
            Some(c) => Self {
                prev: c.hash.clone(),
                start: c.seq,
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

    /// The position of the last row seen (or of the checkpoint, or the chain's genesis).
    pub fn last_seq(&self) -> i64 {
        self.next_seq.map(|n| n - 1).unwrap_or(self.start)
    }

    /// Compare the last row seen with the (signed) chain head, which catches rows cut from the end and a chain
    /// recomputed after an edit.
    pub fn finish(&self, head: &ChainLink) -> Result<(), ChainError> {
        let last_seq = self.last_seq();
        if head.seq != last_seq {
            return Err(ChainError::Truncated {
                head_seq: head.seq,
                last_seq,
            });
        }
        if head.hash != self.prev {
            return Err(ChainError::HeadMismatch { seq: last_seq });
        }
        Ok(())
    }
}

/// The result of walking a whole stored audit trail (every chain in it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub rows: u64,
    /// How many chains the store holds (1 for SQLite; PostgreSQL: one per gateway process that appended).
    pub chains: usize,
    pub first_seq: Option<i64>,
    /// The highest head of a chain with rows.
    pub last_seq: Option<i64>,
    pub from_checkpoint: bool,
    /// Anchor entries checked against the chain (entries for rows purged since are counted but not compared).
    pub anchor_entries: usize,
    /// The newest position the anchor vouches for (the highest `seq` among its entries).
    pub anchored_seq: Option<i64>,
}

/// A chain's signed ends, checked.
#[derive(Debug, Clone)]
struct Ends {
    head: ChainLink,
    checkpoint: Option<ChainLink>,
}

/// Every chain's signed ends as they are now, by chain; an unsigned or forged one is an error.
async fn signed_chains(
    store: &dyn crate::Store,
    keys: &AuditKeys,
) -> crate::Result<Result<std::collections::BTreeMap<u32, Ends>, ChainError>> {
    let mut out = std::collections::BTreeMap::new();
    for state in store.chain_states().await? {
        let Some(head) = state.head else {
            return Ok(Err(match state.chain {
                1 => ChainError::MissingHead,
                n => ChainError::UnknownChain { seq: base(n) + 1 },
            }));
        };
        if head.mac.is_none() {
            return Ok(Err(ChainError::UnsignedHead { seq: head.seq }));
        }
        if !keys.verifies(LinkKind::Head, &head) || chain_of(head.seq) != state.chain {
            return Ok(Err(ChainError::ForgedHead { seq: head.seq }));
        }
        if let Some(cp) = &state.checkpoint {
            if cp.mac.is_none() {
                return Ok(Err(ChainError::UnsignedCheckpoint { seq: cp.seq }));
            }
            if !keys.verifies(LinkKind::Checkpoint, cp) || chain_of(cp.seq) != state.chain {
                return Ok(Err(ChainError::ForgedCheckpoint { seq: cp.seq }));
            }
        }
        out.insert(
            state.chain,
            Ends {
                head,
                checkpoint: state.checkpoint,
            },
        );
    }
    Ok(Ok(out))
}

/// Walk every stored row of every chain from its genesis or purge checkpoint up to its signed head, and hold the
/// result against the anchor's entries (read before this call: see [`crate::anchor::read`]). `Ok(Err(_))` names
/// the first failure.
///
/// Rows come in `seq` order, so one chain after another. Every row must lie at or before its chain's signed
/// head. A row found beyond the head read at the start may have been appended during the walk (by this or
/// another gateway process, which commits the row and its head together): the heads are read again, and only a
/// row beyond that one too is an error. So is a row of a chain with no head, after a fresh read (a gateway
/// process may have started its chain during the walk).
pub async fn verify_store(
    store: &dyn crate::Store,
    keys: &AuditKeys,
    anchor: &[crate::anchor::AnchorEntry],
) -> crate::Result<Result<VerifyReport, ChainError>> {
    const PAGE: i64 = 2000;
    for (i, a) in anchor.iter().enumerate() {
        if !keys.verifies(LinkKind::Head, &a.link) || a.chain != chain_name(chain_of(a.link.seq)) {
            return Ok(Err(ChainError::BadAnchor { line: i + 1 }));
        }
    }
    // Read after the anchor: the heads are then at least as far as anything the anchor holds.
    let mut chains = match signed_chains(store, keys).await? {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let mut anchored_per_chain = std::collections::BTreeMap::<u32, i64>::new();
    for a in anchor {
        let top = anchored_per_chain
            .entry(chain_of(a.link.seq))
            .or_insert(a.link.seq);
        *top = (*top).max(a.link.seq);
    }
    for (n, a) in &anchored_per_chain {
        match chains.get(n) {
            None => return Ok(Err(ChainError::MissingChain { anchor_seq: *a })),
            Some(c) if *a > c.head.seq => {
                return Ok(Err(ChainError::BehindAnchor {
                    anchor_seq: *a,
                    head_seq: c.head.seq,
                }));
            }
            Some(_) => {}
        }
    }
    let expect: std::collections::HashMap<i64, &[u8]> = anchor
        .iter()
        .map(|a| (a.link.seq, a.link.hash.as_slice()))
        .collect();
    for c in chains.values() {
        if let Some(cp) = &c.checkpoint
            && expect
                .get(&cp.seq)
                .is_some_and(|h| *h != cp.hash.as_slice())
        {
            return Ok(Err(ChainError::AnchorMismatch { seq: cp.seq }));
        }
    }
    let mut walk = Walk::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, None, PAGE).await?;
        for r in &page {
            let n = chain_of(r.seq);
            if walk.chain != Some(n) {
                if let Err(e) = walk.finish_up_to(&chains, n) {
                    return Ok(Err(e));
                }
                if !chains.contains_key(&n) {
                    chains = match signed_chains(store, keys).await? {
                        Ok(c) if c.contains_key(&n) => c,
                        Ok(_) => return Ok(Err(ChainError::UnknownChain { seq: r.seq })),
                        Err(e) => return Ok(Err(e)),
                    };
                }
                walk.start(n, &chains[&n]);
            }
            let (head_seq, checkpoint_seq) = match chains.get(&n) {
                Some(c) => (c.head.seq, c.checkpoint.as_ref().map(|cp| cp.seq)),
                None => return Ok(Err(ChainError::UnknownChain { seq: r.seq })),
            };
            if checkpoint_seq.is_some_and(|c| r.seq <= c) {
                // Left behind by nothing we know of, and vouched for by nothing: a purge deletes up to its
                // checkpoint in the same transaction. Not part of the chain either way.
                continue;
            }
            if r.seq > head_seq {
                match signed_chains(store, keys).await? {
                    Ok(fresh) if fresh.get(&n).is_some_and(|c| c.head.seq >= r.seq) => {
                        chains = fresh
                    }
                    Ok(_) => {
                        return Ok(Err(ChainError::BeyondHead {
                            seq: r.seq,
                            head_seq,
                        }));
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            if let Err(e) = walk.push(r) {
                return Ok(Err(e));
            }
            if expect.get(&r.seq).is_some_and(|h| *h != r.hash.as_slice()) {
                return Ok(Err(ChainError::AnchorMismatch { seq: r.seq }));
            }
        }
        match page.last() {
            // A full page, or a short one read before rows up to a head read since were all visible to it: go
            // on. An empty page ends the walk (rows missing at the end are then named by `finish`).
            Some(last) if page.len() as i64 == PAGE || rows_beyond(&chains, last.seq) => {
                after = last.seq
            }
            _ => break,
        }
    }
    if let Err(e) = walk.finish_up_to(&chains, u32::MAX) {
        return Ok(Err(e));
    }
    let last_seq = chains
        .values()
        .map(|c| c.head.seq)
        .filter(|s| walk.rows > 0 && *s > base(chain_of(*s)))
        .max();
    Ok(Ok(VerifyReport {
        rows: walk.rows,
        chains: chains.len(),
        first_seq: walk.first_seq,
        last_seq,
        from_checkpoint: chains.values().any(|c| c.checkpoint.is_some()),
        anchor_entries: anchor.len(),
        anchored_seq: anchored_per_chain.values().copied().max(),
    }))
}

/// Whether some chain's head says it has rows after `seq` (in `seq` order).
fn rows_beyond(chains: &std::collections::BTreeMap<u32, Ends>, seq: i64) -> bool {
    chains.iter().any(|(n, c)| {
        let start = c.checkpoint.as_ref().map_or(base(*n), |cp| cp.seq);
        c.head.seq > seq.max(start)
    })
}

/// Where [`verify_store`]'s walk is: the chain it is in, and the chains it has finished.
#[derive(Debug, Default)]
struct Walk {
    chain: Option<u32>,
    verifier: Option<Verifier>,
    rows: u64,
    first_seq: Option<i64>,
}

impl Walk {
    fn start(&mut self, n: u32, ends: &Ends) {
        self.chain = Some(n);
        self.verifier = Some(Verifier::new(n, ends.checkpoint.as_ref()));
    }

    fn push(&mut self, r: &AuditRecord) -> Result<(), ChainError> {
        let v = self.verifier.as_mut().expect("a chain is started first");
        v.push(r)?;
        self.rows += 1;
        self.first_seq.get_or_insert(r.seq);
        Ok(())
    }

    /// Finish the chain in hand and every chain before `next` that had no rows to walk.
    fn finish_up_to(
        &mut self,
        chains: &std::collections::BTreeMap<u32, Ends>,
        next: u32,
    ) -> Result<(), ChainError> {
        if let (Some(n), Some(v)) = (self.chain, self.verifier.take()) {
            match chains.get(&n) {
                Some(ends) => v.finish(&ends.head)?,
                None => {
                    return Err(ChainError::UnknownChain { seq: v.last_seq() });
                }
            }
        }
        let from = self.chain.map_or(0, |n| n + 1);
        for (n, ends) in chains.range(from..next) {
            Verifier::new(*n, ends.checkpoint.as_ref()).finish(&ends.head)?;
        }
        self.chain = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn idcheck_fields_are_hashed_only_when_set() {
        let base = NewAuditEntry {
            id: "v".into(),
            at_ms: 1,
            key_id: "k".into(),
            appid: "wx".into(),
            openid: "o".into(),
            masked_name: "张*".into(),
            masked_cred_id: "110***********0038".into(),
            blind_cred: vec![1],
            blind_pair: vec![2],
            key_version: 1,
            purpose: None,
            outcome: Some("match".into()),
            error_code: None,
            errcode: None,
            verify_openid: Vec::new(),
            verify_real_name: None,
            minor: false,
            latency_ms: 3,
            kind: crate::KIND_VERIFICATION.into(),
            provider: None,
            billed: None,
            consent_ref: None,
        };
        let idcheck = NewAuditEntry {
            kind: crate::KIND_IDCHECK.into(),
            provider: Some("tencent".into()),
            billed: Some(true),
            consent_ref: Some("c1".into()),
            ..base.clone()
        };
        let h = |e: &NewAuditEntry| link_hash(&GENESIS, 1, e);
        let mut seen = vec![h(&base), h(&idcheck)];
        for changed in [
            NewAuditEntry {
                kind: crate::KIND_VERIFICATION.into(),
                ..idcheck.clone()
            },
            NewAuditEntry {
                provider: Some("aliyun".into()),
                ..idcheck.clone()
            },
            NewAuditEntry {
                billed: Some(false),
                ..idcheck.clone()
            },
            NewAuditEntry {
                billed: None,
                ..idcheck.clone()
            },
            NewAuditEntry {
                consent_ref: None,
                ..idcheck.clone()
            },
        ] {
            let hash = h(&changed);
            assert!(!seen.contains(&hash), "{changed:?}");
            seen.push(hash);
        }
    }

    use super::*;

    fn link(seq: i64) -> ChainLink {
        ChainLink {
            seq,
            hash: vec![seq as u8; 32],
            at_ms: 1000 + seq,
            mac: None,
        }
    }

    #[test]
    fn signatures_bind_every_field_the_kind_and_the_key() {
        let keys = AuditKeys::new([1; 32]);
        let signed = keys.signed(LinkKind::Head, link(5));
        assert_eq!(keys.signer(LinkKind::Head, &signed), Some(true));
        assert!(
            !keys.verifies(LinkKind::Checkpoint, &signed),
            "a head is not a checkpoint"
        );
        for tampered in [
            ChainLink {
                seq: 4,
                ..signed.clone()
            },
            ChainLink {
                hash: vec![9; 32],
                ..signed.clone()
            },
            ChainLink {
                at_ms: 0,
                ..signed.clone()
            },
            ChainLink {
                mac: None,
                ..signed.clone()
            },
        ] {
            assert!(!keys.verifies(LinkKind::Head, &tampered), "{tampered:?}");
        }
        assert!(!AuditKeys::new([2; 32]).verifies(LinkKind::Head, &signed));
        let rotated = AuditKeys::new([2; 32]).with_previous([1; 32]);
        assert_eq!(rotated.signer(LinkKind::Head, &signed), Some(false));
        assert_eq!(format!("{rotated:?}"), "AuditKeys { previous: 1, .. }");
    }
}
