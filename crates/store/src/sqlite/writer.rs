//! The writer thread: group commit for the verification path.
//!
//! It waits for a write, takes everything else already queued (up to [`MAX_BATCH`]), applies it in one
//! `BEGIN IMMEDIATE` transaction with cached prepared statements and answers each caller after `COMMIT`. If the
//! batch fails as a whole, each write is retried in its own transaction, so one bad write cannot fail its
//! neighbours. The thread ends when the store is dropped (its channel closes); the store's `Drop` waits for it,
//! so its connection is closed before the store's other connections are.

use crate::chain::{self, AuditKeys};
use crate::model::*;
use crate::writes::{self, Done, IdemFound, IdemNext, MAX_BATCH, Write, idem_next};
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
                .prepare_cached(
                    "INSERT INTO used_codes (code_hash, appid, used_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )?
                .execute(params![code_hash, appid, at_ms])?;
            Ok(Done::Bool(n == 1))
        }
        Write::DeleteIdentity { appid, openid, .. } => {
            let n = conn
                .prepare_cached("DELETE FROM identities WHERE appid = ?1 AND openid = ?2")?
                .execute(params![appid, openid])?;
            Ok(Done::Bool(n == 1))
        }
        Write::ReleaseCode { code_hash, .. } => {
            conn.prepare_cached("DELETE FROM used_codes WHERE code_hash = ?1")?
                .execute([code_hash])?;
            Ok(Done::Unit)
        }
        Write::IdemBegin { begin, .. } => idem_begin(conn, begin).map(Done::Idem),
        Write::IdemAbort {
            key_id, idem_key, ..
        } => {
            conn.prepare_cached(
                "DELETE FROM idempotency WHERE key_id = ?1 AND idem_key = ?2 AND status IS NULL",
            )?
            .execute(params![key_id, idem_key])?;
            Ok(Done::Unit)
        }
        Write::Append { entry, opts, .. } => {
            append(conn, entry, opts, head, keys).map(|r| Done::Record(Box::new(r)))
        }
    }
}

fn idem_begin(conn: &Connection, b: &IdemBeginRequest) -> Result<IdemBegin> {
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
    if let IdemNext::Answer(a) = idem_next(found, b)? {
        return Ok(a);
    }
    conn.prepare_cached(
        "UPDATE idempotency SET created_at = ?1 WHERE key_id = ?2 AND idem_key = ?3",
    )?
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
            conn.prepare_cached(super::HEAD_SQL)?
                .query_row([], super::link)
                .optional()?,
            keys,
        )?,
    };
    let seq = prev.seq + 1;
    let hash = chain::link_hash(&prev.hash, seq, e);
    conn.prepare_cached(
        "INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred, blind_pair,
         key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor, latency_ms,
         prev_hash, hash, kind, provider, billed, consent_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        seq,
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
        prev.hash,
        hash,
        e.kind,
        e.provider,
        e.billed,
        e.consent_ref,
    ])?;
    if opts.bind_identity {
        conn.prepare_cached(
            "INSERT INTO identities (appid, openid, verification_id, verified_at, masked_name, masked_cred_id,
             blind_cred, blind_pair, key_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (appid, openid) DO UPDATE SET verification_id = excluded.verification_id,
             verified_at = excluded.verified_at, masked_name = excluded.masked_name,
             masked_cred_id = excluded.masked_cred_id, blind_cred = excluded.blind_cred,
             blind_pair = excluded.blind_pair, key_version = excluded.key_version",
        )?
        .execute(params![
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
        conn.prepare_cached(
            "UPDATE idempotency SET status = ?1, body = ?2 WHERE key_id = ?3 AND idem_key = ?4",
        )?
        .execute(params![i64::from(a.status), a.body, a.key_id, a.idem_key])?;
    }
    *head = Some(ChainLink {
        seq,
        hash: hash.clone(),
        ..ChainLink::default()
    });
    Ok(AuditRecord {
        seq,
        entry: e.clone(),
        prev_hash: prev.hash,
        hash,
    })
}
