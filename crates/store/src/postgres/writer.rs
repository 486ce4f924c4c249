//! The writer task: group commit for one process, with the chain serialised in the database.
//!
//! It takes everything queued (up to [`MAX_BATCH`]) and applies it in one transaction, answering each caller
//! after `COMMIT`. A batch with an append locks the `chain_head` row before anything else, so appends from
//! every process form one chain, and a batch never holds a code or idempotency row while it waits for the
//! head (which would let two processes deadlock).
//!
//! Failures are sorted by what they leave behind:
//! - the database rejected a statement (constraint, deadlock, ...): nothing was committed, so each write is
//!   retried in its own transaction and one bad write cannot fail its neighbours;
//! - the connection failed before `COMMIT`: nothing was committed, every caller gets [`Error::Unavailable`];
//! - the connection failed during `COMMIT`: the writes may be stored or not, so they are not retried (a
//!   retried reservation would report its own code as replayed); callers get [`Error::Unavailable`].
//!
//! The task never stops on an error: the next batch takes a fresh connection from the pool.

use crate::chain::{self, AuditKeys};
use crate::model::*;
use crate::writes::{self, Done, IdemFound, IdemNext, MAX_BATCH, Write, idem_next};
use crate::{Error, Result};
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

enum Failed {
    Rejected(Error),
    /// `waited`: the pool gave up after its acquire timeout.
    Lost {
        msg: String,
        waited: bool,
    },
    Unknown(String),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        match e {
            Error::Database(e) if is_connection_error(&e) => Failed::Lost {
                waited: matches!(e, sqlx::Error::PoolTimedOut),
                msg: e.to_string(),
            },
            e => Failed::Rejected(e),
        }
    }
}

impl From<sqlx::Error> for Failed {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e).into()
    }
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

pub(super) async fn run(pool: PgPool, mut rx: mpsc::Receiver<Write>, keys: AuditKeys) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes: Vec<Write> = std::mem::take(&mut batch);
        match apply_all(&pool, &writes, &keys).await {
            Ok(done) => {
                for (w, d) in writes.into_iter().zip(done) {
                    w.answer(Ok(d));
                }
            }
            Err(Failed::Rejected(e)) => {
                tracing::warn!(error = %e, size = writes.len(), "store batch failed; retrying its writes one by one");
                one_by_one(&pool, writes, &keys).await;
            }
            Err(Failed::Lost { msg, waited }) => {
                tracing::warn!(error = %msg, size = writes.len(), "database unreachable; store batch failed");
                for w in writes {
                    w.answer(Err(Error::Unavailable(msg.clone())));
                }
                if waited {
                    // Whoever queued meanwhile has already waited a whole acquire timeout: answer them now
                    // rather than make them wait another one.
                    while let Ok(w) = rx.try_recv() {
                        w.answer(Err(Error::Unavailable(msg.clone())));
                    }
                }
            }
            Err(Failed::Unknown(msg)) => {
                tracing::error!(error = %msg, size = writes.len(), "connection lost during COMMIT; the batch may or may not be stored");
                for w in writes {
                    w.answer(Err(Error::Unavailable(format!(
                        "commit outcome unknown: {msg}"
                    ))));
                }
            }
        }
    }
}

async fn one_by_one(pool: &PgPool, writes: Vec<Write>, keys: &AuditKeys) {
    let mut down: Option<String> = None;
    for w in writes {
        if let Some(msg) = &down {
            w.answer(Err(Error::Unavailable(msg.clone())));
            continue;
        }
        match apply_all(pool, std::slice::from_ref(&w), keys).await {
            Ok(mut d) => w.answer(Ok(d.remove(0))),
            Err(Failed::Rejected(e)) => w.answer(Err(e)),
            Err(Failed::Lost { msg, .. }) => {
                w.answer(Err(Error::Unavailable(msg.clone())));
                down = Some(msg);
            }
            Err(Failed::Unknown(msg)) => {
                w.answer(Err(Error::Unavailable(format!(
                    "commit outcome unknown: {msg}"
                ))));
            }
        }
    }
}

async fn apply_all(pool: &PgPool, writes: &[Write], keys: &AuditKeys) -> Result<Vec<Done>, Failed> {
    // Dropping `tx` on an early return rolls it back before the connection is reused.
    let mut tx = pool.begin().await?;
    let mut head = None;
    if writes.iter().any(Write::is_append) {
        head = Some(lock_head(&mut tx, keys).await?);
    }
    let start = head.as_ref().map(|h| h.seq);
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        out.push(apply(&mut tx, w, &mut head).await?);
    }
    if let Some(h) = head.filter(|h| Some(h.seq) != start) {
        // Once per batch, not per append: every UPDATE leaves a dead row version behind.
        let h = writes::new_head(keys, h.seq, h.hash);
        sqlx::query("UPDATE chain_head SET seq = $1, hash = $2, at = $3, mac = $4 WHERE id = 1")
            .bind(h.seq)
            .bind(&h.hash)
            .bind(h.at_ms)
            .bind(&h.mac)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await.map_err(|e| match e {
        // The server answered: the transaction is rolled back for certain.
        e @ sqlx::Error::Database(_) => Failed::Rejected(e.into()),
        e => Failed::Unknown(e.to_string()),
    })?;
    Ok(out)
}

/// The head, locked until this transaction ends, and checked to be one this key signed. Appends from other
/// processes wait here.
async fn lock_head(conn: &mut PgConnection, keys: &AuditKeys) -> Result<ChainLink> {
    let row: Option<super::LinkRow> =
        sqlx::query_as("SELECT seq, hash, at, mac FROM chain_head WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut *conn)
            .await?;
    writes::check_head(row.map(super::link), keys)
}

async fn apply(conn: &mut PgConnection, w: &Write, head: &mut Option<ChainLink>) -> Result<Done> {
    match w {
        Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            ..
        } => {
            // A racer in another process waits here for our commit, then sees the conflict.
            let done = sqlx::query("INSERT INTO used_codes (code_hash, appid, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(code_hash)
                .bind(appid)
                .bind(at_ms)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Bool(done.rows_affected() == 1))
        }
        Write::DeleteIdentity { appid, openid, .. } => {
            let done = sqlx::query("DELETE FROM identities WHERE appid = $1 AND openid = $2")
                .bind(appid)
                .bind(openid)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Bool(done.rows_affected() == 1))
        }
        Write::ReleaseCode { code_hash, .. } => {
            sqlx::query("DELETE FROM used_codes WHERE code_hash = $1")
                .bind(code_hash)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Unit)
        }
        Write::IdemBegin { begin, .. } => idem_begin(conn, begin).await.map(Done::Idem),
        Write::IdemAbort {
            key_id, idem_key, ..
        } => {
            sqlx::query(
                "DELETE FROM idempotency WHERE key_id = $1 AND idem_key = $2 AND status IS NULL",
            )
            .bind(key_id)
            .bind(idem_key)
            .execute(&mut *conn)
            .await?;
            Ok(Done::Unit)
        }
        Write::Append { entry, opts, .. } => {
            let head = head
                .as_mut()
                .ok_or_else(|| Error::Corrupt("append without the chain head".into()))?;
            append(conn, entry, opts, head)
                .await
                .map(|r| Done::Record(Box::new(r)))
        }
    }
}

/// fingerprint, created_at, status, body
type IdemRow = (Vec<u8>, i64, Option<i32>, Option<String>);

async fn idem_begin(conn: &mut PgConnection, b: &IdemBeginRequest) -> Result<IdemBegin> {
    // Insert first, then look: two processes starting the same key cannot both see "absent". The row lock
    // taken by FOR UPDATE makes a concurrent take-over of a stale record wait and then see it fresh.
    // An abort in another process can delete the record between the two statements: then insert again.
    for _ in 0..3 {
        let inserted = sqlx::query(
            "INSERT INTO idempotency (key_id, idem_key, fingerprint, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(&b.key_id)
        .bind(&b.idem_key)
        .bind(&b.fingerprint)
        .bind(b.now_ms)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(IdemBegin::Started);
        }
        let found: Option<IdemRow> = sqlx::query_as(
            "SELECT fingerprint, created_at, status, body FROM idempotency
             WHERE key_id = $1 AND idem_key = $2 FOR UPDATE",
        )
        .bind(&b.key_id)
        .bind(&b.idem_key)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((fingerprint, created_at, status, body)) = found else {
            continue;
        };
        let found = IdemFound {
            fingerprint,
            created_at,
            status: status.map(i64::from),
            body,
        };
        if let IdemNext::Answer(a) = idem_next(found, b)? {
            return Ok(a);
        }
        sqlx::query("UPDATE idempotency SET created_at = $1 WHERE key_id = $2 AND idem_key = $3")
            .bind(b.now_ms)
            .bind(&b.key_id)
            .bind(&b.idem_key)
            .execute(&mut *conn)
            .await?;
        return Ok(IdemBegin::Started);
    }
    Err(Error::Unavailable(
        "idempotency record kept changing under concurrent requests".into(),
    ))
}

async fn append(
    conn: &mut PgConnection,
    e: &NewAuditEntry,
    opts: &AppendOptions,
    head: &mut ChainLink,
) -> Result<AuditRecord> {
    let seq = head.seq + 1;
    let hash = chain::link_hash(&head.hash, seq, e);
    sqlx::query(
        "INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred, blind_pair,
         key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor, latency_ms,
         prev_hash, hash, kind, provider, billed, consent_ref)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
         $22, $23, $24, $25)",
    )
    .bind(seq)
    .bind(&e.id)
    .bind(e.at_ms)
    .bind(&e.key_id)
    .bind(&e.appid)
    .bind(&e.openid)
    .bind(&e.masked_name)
    .bind(&e.masked_cred_id)
    .bind(&e.blind_cred)
    .bind(&e.blind_pair)
    .bind(e.key_version)
    .bind(&e.purpose)
    .bind(&e.outcome)
    .bind(&e.error_code)
    .bind(e.errcode)
    .bind(e.verify_openid.join(";"))
    .bind(&e.verify_real_name)
    .bind(e.minor)
    .bind(e.latency_ms)
    .bind(&head.hash)
    .bind(&hash)
    .bind(&e.kind)
    .bind(&e.provider)
    .bind(e.billed)
    .bind(&e.consent_ref)
    .execute(&mut *conn)
    .await?;
    if opts.bind_identity {
        sqlx::query(
            "INSERT INTO identities (appid, openid, verification_id, verified_at, masked_name, masked_cred_id,
             blind_cred, blind_pair, key_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (appid, openid) DO UPDATE SET verification_id = excluded.verification_id,
             verified_at = excluded.verified_at, masked_name = excluded.masked_name,
             masked_cred_id = excluded.masked_cred_id, blind_cred = excluded.blind_cred,
             blind_pair = excluded.blind_pair, key_version = excluded.key_version",
        )
        .bind(&e.appid)
        .bind(&e.openid)
        .bind(&e.id)
        .bind(e.at_ms)
        .bind(&e.masked_name)
        .bind(&e.masked_cred_id)
        .bind(&e.blind_cred)
        .bind(&e.blind_pair)
        .bind(e.key_version)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(a) = &opts.idempotent {
        sqlx::query(
            "UPDATE idempotency SET status = $1, body = $2 WHERE key_id = $3 AND idem_key = $4",
        )
        .bind(i32::from(a.status))
        .bind(&a.body)
        .bind(&a.key_id)
        .bind(&a.idem_key)
        .execute(&mut *conn)
        .await?;
    }
    let prev = std::mem::replace(
        head,
        ChainLink {
            seq,
            hash: hash.clone(),
            ..ChainLink::default()
        },
    );
    Ok(AuditRecord {
        seq,
        entry: e.clone(),
        prev_hash: prev.hash,
        hash,
    })
}
