//! The writes that go through a backend's writer task (group commit), how their answers reach the callers,
//! and the idempotency rules both SQL backends apply. The SQL itself stays in each backend.

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
    IdemBegin {
        begin: IdemBeginRequest,
        reply: oneshot::Sender<Result<IdemBegin>>,
    },
    IdemAbort {
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
    #[cfg(feature = "postgres")]
    pub(crate) fn is_append(&self) -> bool {
        matches!(self, Write::Append { .. })
    }

    pub(crate) fn answer(self, result: Result<Done>) {
        // A caller that gave up has dropped its receiver; nothing to do then.
        match self {
            Write::ReserveCode { reply, .. } | Write::DeleteIdentity { reply, .. } => {
                let _ = reply.send(result.map(|d| matches!(d, Done::Bool(true))));
            }
            Write::IdemBegin { reply, .. } => {
                let _ = reply.send(result.and_then(|d| match d {
                    Done::Idem(b) => Ok(b),
                    _ => Err(Error::Corrupt("idempotency answer".into())),
                }));
            }
            Write::IdemAbort { reply, .. } | Write::ReleaseCode { reply, .. } => {
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
#[derive(Debug, Clone)]
pub(crate) struct Queue(pub(crate) mpsc::Sender<Write>);

impl Queue {
    /// Queue a write and wait for its answer, which comes after the commit.
    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.0.send(make(tx)).await.map_err(|_| Error::WriterGone)?;
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

    pub(crate) async fn idem_begin(&self, begin: &IdemBeginRequest) -> Result<IdemBegin> {
        let begin = begin.clone();
        self.send(|reply| Write::IdemBegin { begin, reply }).await
    }

    pub(crate) async fn idem_abort(&self, key_id: &str, idem_key: &str) -> Result<()> {
        let (key_id, idem_key) = (key_id.to_owned(), idem_key.to_owned());
        self.send(|reply| Write::IdemAbort {
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

pub(crate) fn idem_next(found: IdemFound, b: &IdemBeginRequest) -> Result<IdemNext> {
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
