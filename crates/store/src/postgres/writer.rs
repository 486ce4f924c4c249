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

use crate::chain::AuditKeys;
use crate::model::*;
use crate::sql::pg as sql;
use crate::writes::{self, Done, IdemFound, IdemNext, MAX_BATCH, Write, on_existing_key};
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
        super::write_head(&mut tx, &writes::new_head(keys, h.seq, h.hash)).await?;
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
    let row: Option<super::LinkRow> = sqlx::query_as(super::HEAD_FOR_UPDATE)
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
            let done = sqlx::query(sql::RESERVE_CODE)
                .bind(code_hash)
                .bind(appid)
                .bind(at_ms)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Bool(done.rows_affected() == 1))
        }
        Write::DeleteIdentity { appid, openid, .. } => {
            let done = sqlx::query(sql::DELETE_IDENTITY)
                .bind(appid)
                .bind(openid)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Bool(done.rows_affected() == 1))
        }
        Write::ReleaseCode { code_hash, .. } => {
            sqlx::query(sql::RELEASE_CODE)
                .bind(code_hash)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Unit)
        }
        Write::BeginIdempotent { begin, .. } => begin_idempotent(conn, begin).await.map(Done::Idem),
        Write::AbortIdempotent {
            key_id, idem_key, ..
        } => {
            sqlx::query(sql::ABORT_IDEMPOTENT)
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

async fn begin_idempotent(conn: &mut PgConnection, b: &IdemBeginRequest) -> Result<IdemBegin> {
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
        if let IdemNext::Answer(a) = on_existing_key(found, b)? {
            return Ok(a);
        }
        sqlx::query(sql::RESTART_IDEMPOTENT)
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
    let record = writes::next_record(head, e);
    sqlx::query(sql::INSERT_AUDIT)
        .bind(record.seq)
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
        .bind(&record.prev_hash)
        .bind(&record.hash)
        .bind(&e.kind)
        .bind(&e.provider)
        .bind(e.billed)
        .bind(&e.consent_ref)
        .execute(&mut *conn)
        .await?;
    if opts.bind_identity {
        sqlx::query(sql::UPSERT_IDENTITY)
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
        sqlx::query(sql::STORE_IDEMPOTENT_ANSWER)
            .bind(i32::from(a.status))
            .bind(&a.body)
            .bind(&a.key_id)
            .bind(&a.idem_key)
            .execute(&mut *conn)
            .await?;
    }
    *head = writes::head_after(&record);
    Ok(record)
}
