//! The writer thread: group commit for the verification path.
//!
//! It waits for a write, takes everything else already queued (up to [`MAX_BATCH`]), applies it in one
//! `BEGIN IMMEDIATE` transaction with cached prepared statements and answers each caller after `COMMIT`. If the
//! batch fails as a whole, each write is retried in its own transaction, so one bad write cannot fail its
//! neighbours. The thread ends when the store is dropped (its channel closes); the store's `Drop` waits for it,
//! so its connection is closed before the store's other connections are.

use crate::chain::AuditKeys;
use crate::model::*;
use crate::sql::sqlite as sql;
use crate::writes::{self, Done, IdemFound, IdemNext, MAX_BATCH, Write, on_existing_key};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A batch that takes longer than this (usually the disk's fsync) is logged: every write in it waited that long.
const SLOW_BATCH: Duration = Duration::from_millis(100);

pub(super) fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Write>,
    keys: AuditKeys,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wxrn-sqlite-writer".into())
        .spawn(move || run(conn, rx, keys))
        .map_err(Error::Io)
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Write>, keys: AuditKeys) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let writes: Vec<Write> = std::mem::take(&mut batch);
        let started = Instant::now();
        let result = apply_all(&mut conn, &writes, &keys);
        let took = started.elapsed();
        if took > SLOW_BATCH {
            tracing::warn!(
                ms = took.as_millis() as u64,
                size = writes.len(),
                "slow SQLite commit"
            );
        }
        match result {
            Ok(done) => {
                for (w, d) in writes.into_iter().zip(done) {
                    w.answer(Ok(d));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = writes.len(), "store batch failed; retrying its writes one by one");
                for w in writes {
                    let one = apply_all(&mut conn, std::slice::from_ref(&w), &keys);
                    w.answer(one.map(|mut d| d.remove(0)));
                }
            }
        }
    }
}

/// One transaction for the whole batch; dropped without `COMMIT` (on any error) it rolls back.
fn apply_all(conn: &mut Connection, writes: &[Write], keys: &AuditKeys) -> Result<Vec<Done>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(writes.len());
    let mut head: Option<ChainLink> = None;
    for w in writes {
        out.push(apply(&tx, w, &mut head, keys)?);
    }
    // The head is written and signed once per batch, not once per appended row: only the committed transaction
    // is ever seen.
    if let Some(link) = head {
        super::write_head(&tx, &writes::new_head(keys, link.seq, link.hash))?;
    }
    tx.commit()?;
    Ok(out)
}

fn apply(
    conn: &Connection,
    w: &Write,
    head: &mut Option<ChainLink>,
    keys: &AuditKeys,
) -> Result<Done> {
    match w {
        Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            ..
        } => {
            let n = conn
                .prepare_cached(sql::RESERVE_CODE)?
                .execute(params![code_hash, appid, at_ms])?;
            Ok(Done::Bool(n == 1))
        }
        Write::DeleteIdentity { appid, openid, .. } => {
            let n = conn
                .prepare_cached(sql::DELETE_IDENTITY)?
                .execute(params![appid, openid])?;
            Ok(Done::Bool(n == 1))
        }
        Write::ReleaseCode { code_hash, .. } => {
            conn.prepare_cached(sql::RELEASE_CODE)?
                .execute([code_hash])?;
            Ok(Done::Unit)
        }
        Write::BeginIdempotent { begin, .. } => begin_idempotent(conn, begin).map(Done::Idem),
        Write::AbortIdempotent {
            key_id, idem_key, ..
        } => {
            conn.prepare_cached(sql::ABORT_IDEMPOTENT)?
                .execute(params![key_id, idem_key])?;
            Ok(Done::Unit)
        }
        Write::Append { entry, opts, .. } => {
            append(conn, entry, opts, head, keys).map(|r| Done::Record(Box::new(r)))
        }
    }
}

fn begin_idempotent(conn: &Connection, b: &IdemBeginRequest) -> Result<IdemBegin> {
    let found = conn
        .prepare_cached(
            "SELECT fingerprint, created_at, status, body FROM idempotency WHERE key_id = ?1 AND idem_key = ?2",
        )?
        .query_row(params![b.key_id, b.idem_key], |r| {
            Ok(IdemFound {
                fingerprint: r.get(0)?,
                created_at: r.get(1)?,
                status: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .optional()?;
    let Some(found) = found else {
        conn.prepare_cached(
            "INSERT INTO idempotency (key_id, idem_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![b.key_id, b.idem_key, b.fingerprint, b.now_ms])?;
        return Ok(IdemBegin::Started);
    };
    if let IdemNext::Answer(a) = on_existing_key(found, b)? {
        return Ok(a);
    }
    conn.prepare_cached(sql::RESTART_IDEMPOTENT)?
        .execute(params![b.now_ms, b.key_id, b.idem_key])?;
    Ok(IdemBegin::Started)
}

fn append(
    conn: &Connection,
    e: &NewAuditEntry,
    opts: &AppendOptions,
    head: &mut Option<ChainLink>,
    keys: &AuditKeys,
) -> Result<AuditRecord> {
    let prev = match head.take() {
        Some(link) => link,
        None => writes::check_head(
            conn.prepare_cached(sql::HEAD)?
                .query_row([super::CHAIN], super::link)
                .optional()?,
            keys,
        )?,
    };
    let record = writes::next_record(&prev, e);
    conn.prepare_cached(sql::INSERT_AUDIT)?.execute(params![
        record.seq,
        e.id,
        e.at_ms,
        e.key_id,
        e.appid,
        e.openid,
        e.masked_name,
        e.masked_cred_id,
        e.blind_cred,
        e.blind_pair,
        e.key_version,
        e.purpose,
        e.outcome,
        e.error_code,
        e.errcode,
        e.verify_openid.join(";"),
        e.verify_real_name,
        e.minor,
        e.latency_ms,
        record.prev_hash,
        record.hash,
        e.kind,
        e.provider,
        e.billed,
        e.consent_ref,
    ])?;
    if opts.bind_identity {
        conn.prepare_cached(sql::UPSERT_IDENTITY)?.execute(params![
            e.appid,
            e.openid,
            e.id,
            e.at_ms,
            e.masked_name,
            e.masked_cred_id,
            e.blind_cred,
            e.blind_pair,
            e.key_version,
        ])?;
    }
    if let Some(a) = &opts.idempotent {
        conn.prepare_cached(sql::STORE_IDEMPOTENT_ANSWER)?
            .execute(params![i64::from(a.status), a.body, a.key_id, a.idem_key])?;
    }
    *head = Some(writes::head_after(&record));
    Ok(record)
}
