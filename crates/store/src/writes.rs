//! The writes that go through a backend's writer task (group commit), how their answers reach the callers,
//! the idempotency rules and the chain's links both SQL backends apply. The SQL text is in `sql`; running it
//! stays in each backend.

use crate::chain::{self, AuditKeys, GENESIS, LinkKind};
use crate::model::*;
use crate::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// At most this many queued writes share one transaction.
pub(crate) const MAX_BATCH: usize = 512;

pub(crate) enum Write {
    ReserveCode {
        code_hash: Vec<u8>,
        appid: String,
        at_ms: i64,
        reply: oneshot::Sender<Result<bool>>,
    },
    ReleaseCode {
        code_hash: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    DeleteIdentity {
        appid: String,
        openid: String,
        reply: oneshot::Sender<Result<bool>>,
    },
    BeginIdempotent {
        begin: IdemBeginRequest,
        reply: oneshot::Sender<Result<IdemBegin>>,
    },
    AbortIdempotent {
        key_id: String,
        idem_key: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Append {
        entry: Box<NewAuditEntry>,
        opts: AppendOptions,
        reply: oneshot::Sender<Result<AuditRecord>>,
    },
}

/// What a write produced, held until the commit succeeds.
pub(crate) enum Done {
    Bool(bool),
    Idem(IdemBegin),
    Unit,
    Record(Box<AuditRecord>),
}

impl Write {
    pub(crate) fn answer(self, result: Result<Done>) {
        // A caller that gave up has dropped its receiver; nothing to do then.
        match self {
            Write::ReserveCode { reply, .. } | Write::DeleteIdentity { reply, .. } => {
                let _ = reply.send(result.map(|d| matches!(d, Done::Bool(true))));
            }
            Write::BeginIdempotent { reply, .. } => {
                let _ = reply.send(result.and_then(|d| match d {
                    Done::Idem(b) => Ok(b),
                    _ => Err(Error::Corrupt("idempotency answer".into())),
                }));
            }
            Write::AbortIdempotent { reply, .. } | Write::ReleaseCode { reply, .. } => {
                let _ = reply.send(result.map(|_| ()));
            }
            Write::Append { reply, .. } => {
                let _ = reply.send(result.and_then(|d| match d {
                    Done::Record(r) => Ok(*r),
                    _ => Err(Error::Corrupt("append answer".into())),
                }));
            }
        }
    }
}

/// The queue to a backend's writer: one method per write, each answered after the batch holding it commits.
/// Appends (the chain) and the other writes may go to writers of their own ([`Queue::two`]).
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    chain: mpsc::Sender<Write>,
    rows: mpsc::Sender<Write>,
}

impl Queue {
    /// One writer for every write (SQLite's writer thread).
    #[cfg(feature = "sqlite")]
    pub(crate) fn one(tx: mpsc::Sender<Write>) -> Self {
        Self {
            chain: tx.clone(),
            rows: tx,
        }
    }

    /// Appends to `chain`, every other write to `rows` (PostgreSQL's two writer lanes).
    #[cfg(feature = "postgres")]
    pub(crate) fn two(chain: mpsc::Sender<Write>, rows: mpsc::Sender<Write>) -> Self {
        Self { chain, rows }
    }

    /// Queue a write and wait for its answer, which comes after the commit.
    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        let w = make(tx);
        let lane = match w {
            Write::Append { .. } => &self.chain,
            _ => &self.rows,
        };
        lane.send(w).await.map_err(|_| Error::WriterGone)?;
        rx.await.map_err(|_| Error::WriterGone)?
    }

    pub(crate) async fn reserve_code(
        &self,
        code_hash: &[u8],
        appid: &str,
        at_ms: i64,
    ) -> Result<bool> {
        let (code_hash, appid) = (code_hash.to_vec(), appid.to_owned());
        self.send(|reply| Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            reply,
        })
        .await
    }

    pub(crate) async fn release_code(&self, code_hash: &[u8]) -> Result<()> {
        let code_hash = code_hash.to_vec();
        self.send(|reply| Write::ReleaseCode { code_hash, reply })
            .await
    }

    pub(crate) async fn delete_identity(&self, appid: &str, openid: &str) -> Result<bool> {
        let (appid, openid) = (appid.to_owned(), openid.to_owned());
        self.send(|reply| Write::DeleteIdentity {
            appid,
            openid,
            reply,
        })
        .await
    }

    pub(crate) async fn begin_idempotent(&self, begin: &IdemBeginRequest) -> Result<IdemBegin> {
        let begin = begin.clone();
        self.send(|reply| Write::BeginIdempotent { begin, reply })
            .await
    }

    pub(crate) async fn abort_idempotent(&self, key_id: &str, idem_key: &str) -> Result<()> {
        let (key_id, idem_key) = (key_id.to_owned(), idem_key.to_owned());
        self.send(|reply| Write::AbortIdempotent {
            key_id,
            idem_key,
            reply,
        })
        .await
    }

    pub(crate) async fn append(
        &self,
        entry: NewAuditEntry,
        opts: AppendOptions,
    ) -> Result<AuditRecord> {
        self.send(|reply| Write::Append {
            entry: Box::new(entry),
            opts,
            reply,
        })
        .await
    }
}

/// An idempotency record as stored.
pub(crate) struct IdemFound {
    pub fingerprint: Vec<u8>,
    pub created_at: i64,
    pub status: Option<i64>,
    pub body: Option<String>,
}

/// What to do about a request whose key already has a record.
pub(crate) enum IdemNext {
    Answer(IdemBegin),
    /// The record's request died: restart its clock and let this one go on.
    TakeOver,
}

/// What a request with the same key as `found` gets: the stored answer, a refusal (another request, or this
/// key's request still running), or the record itself when its request died.
pub(crate) fn on_existing_key(found: IdemFound, b: &IdemBeginRequest) -> Result<IdemNext> {
    if found.fingerprint != b.fingerprint {
        return Ok(IdemNext::Answer(IdemBegin::Mismatch));
    }
    if let Some(status) = found.status {
        let status =
            u16::try_from(status).map_err(|_| Error::Corrupt("idempotency status".into()))?;
        return Ok(IdemNext::Answer(IdemBegin::Done {
            status,
            body: found.body.unwrap_or_default(),
        }));
    }
    if found.created_at > b.now_ms - b.stale_after_ms {
        return Ok(IdemNext::Answer(IdemBegin::InProgress));
    }
    Ok(IdemNext::TakeOver)
}

/// The head to extend: it must exist and carry a signature by one of `keys`. A head the gateway did not sign is
/// never extended (and so never re-signed): that would launder whatever was done to the chain before.
pub(crate) fn check_head(head: Option<ChainLink>, keys: &AuditKeys) -> Result<ChainLink> {
    let head = head.ok_or_else(|| {
        Error::Corrupt(
            "the audit chain head is missing, so the audit trail was tampered with; run `wxrealname audit verify`"
                .into(),
        )
    })?;
    if !keys.verifies(LinkKind::Head, &head) {
        return Err(Error::Corrupt(
            "the audit chain head is not signed by this master key, so the audit trail was tampered with (or the key is not the one that wrote it); run `wxrealname audit verify`".into(),
        ));
    }
    Ok(head)
}

/// The row an append writes after `prev`: the next position, linked to `prev` by hash. What is stored is what the
/// caller gets back.
pub(crate) fn next_record(prev: &ChainLink, e: &NewAuditEntry) -> AuditRecord {
    let seq = prev.seq + 1;
    AuditRecord {
        seq,
        hash: chain::link_hash(&prev.hash, seq, e),
        entry: e.clone(),
        prev_hash: prev.hash.clone(),
    }
}

/// The head once `r` is appended, unsigned: a batch signs only the head it ends on ([`new_head`]).
pub(crate) fn head_after(r: &AuditRecord) -> ChainLink {
    ChainLink {
        seq: r.seq,
        hash: r.hash.clone(),
        ..ChainLink::default()
    }
}

/// The head after a batch of appends, signed now.
pub(crate) fn new_head(keys: &AuditKeys, seq: i64, hash: Vec<u8>) -> ChainLink {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    keys.signed(
        LinkKind::Head,
        ChainLink {
            seq,
            hash,
            at_ms,
            mac: None,
        },
    )
}

/// The checkpoint a purge leaves, signed now: the last purged row's position and hash.
pub(crate) fn new_checkpoint(
    keys: &AuditKeys,
    seq: i64,
    hash: Vec<u8>,
    purged_at_ms: i64,
) -> ChainLink {
    keys.signed(
        LinkKind::Checkpoint,
        ChainLink {
            seq,
            hash,
            at_ms: purged_at_ms,
            mac: None,
        },
    )
}

/// What opening a store writes to the chain's ends.
#[derive(Debug, Default)]
pub(crate) struct Seal {
    pub head: Option<ChainLink>,
    pub checkpoint: Option<ChainLink>,
}

/// Decide what to sign when a store is opened. `pending`: this release's migration has just added signatures
/// and not yet signed what it found (see `audit_seal_pending`); `empty`: no audit rows.
///
/// - A store the migration just made or upgraded: a missing head becomes a signed genesis head (only when
///   there are no rows and no checkpoint), an unsigned head or checkpoint is signed, with a logged note.
/// - Otherwise nothing unsigned is ever signed: a head or checkpoint that lost its signature after the upgrade
///   was tampered with, and `audit verify` says so.
/// - A head or checkpoint signed with an earlier master key (after a rotation) is signed again with the current
///   one.
pub(crate) fn seal(
    keys: &AuditKeys,
    pending: bool,
    empty: bool,
    head: Option<&ChainLink>,
    checkpoint: Option<&ChainLink>,
) -> Seal {
    let mut out = Seal::default();
    match head {
        None if pending && empty && checkpoint.is_none() => {
            out.head = Some(new_head(keys, 0, GENESIS.to_vec()));
        }
        None => tracing::error!("the audit chain head is missing: run `wxrealname audit verify`"),
        Some(h) => match (h.mac.is_some(), keys.signer(LinkKind::Head, h)) {
            (false, _) if pending => {
                tracing::info!(
                    seq = h.seq,
                    "signed the audit chain head this release found unsigned (first start with signed heads); from now on a head not signed with the master key fails `audit verify`"
                );
                out.head = Some(new_head(keys, h.seq, h.hash.clone()));
            }
            (_, Some(false)) => {
                tracing::info!(
                    seq = h.seq,
                    "signed the audit chain head again with the current master key"
                );
                out.head = Some(new_head(keys, h.seq, h.hash.clone()));
            }
            (_, None) => tracing::error!(
                seq = h.seq,
                "the audit chain head is not signed by this master key: run `wxrealname audit verify`"
            ),
            (_, Some(true)) => {}
        },
    }
    if let Some(c) = checkpoint {
        let resign = match (c.mac.is_some(), keys.signer(LinkKind::Checkpoint, c)) {
            (false, _) if pending => true,
            (_, Some(false)) => true,
            (_, None) => {
                tracing::error!(
                    seq = c.seq,
                    "the audit purge checkpoint is not signed by this master key: run `wxrealname audit verify`"
                );
                false
            }
            (_, Some(true)) => false,
        };
        if resign {
            tracing::info!(seq = c.seq, "signed the audit purge checkpoint");
            out.checkpoint = Some(keys.signed(
                LinkKind::Checkpoint,
                ChainLink {
                    mac: None,
                    ..c.clone()
                },
            ));
        }
    }
    out
}
