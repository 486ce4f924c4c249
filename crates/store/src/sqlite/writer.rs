//! The writer task: group commit for the verification path.
//!
//! It takes everything queued (up to [`MAX_BATCH`]), applies it in one `BEGIN IMMEDIATE` transaction and
//! answers each caller after `COMMIT`. If the batch fails as a whole, each write is retried in its own
//! transaction, so one bad write cannot fail its neighbours.

use crate::chain;
use crate::model::*;
use crate::writes::{Done, IdemFound, IdemNext, MAX_BATCH, Write, idem_next};
use crate::{Error, Result};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::mpsc;

pub(super) async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let writes: Vec<Write> = std::mem::take(&mut batch);
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                for w in writes {
                    w.answer(Err(Error::Unavailable(msg.clone())));
                }
                continue;
            }
        };
        match apply_all(&mut conn, &writes).await {
            Ok(done) => {
                for (w, d) in writes.into_iter().zip(done) {
                    w.answer(Ok(d));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = writes.len(), "store batch failed; retrying its writes one by one");
                for w in writes {
                    let one = apply_all(&mut conn, std::slice::from_ref(&w)).await;
                    w.answer(one.map(|mut d| d.remove(0)));
                }
            }
        }
    }
}

async fn apply_all(conn: &mut SqliteConnection, writes: &[Write]) -> Result<Vec<Done>> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut out = Vec::with_capacity(writes.len());
    let mut head: Option<ChainLink> = None;
    for w in writes {
        match apply(conn, w, &mut head).await {
            Ok(d) => out.push(d),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(e);
            }
        }
    }
    // The head is written once per batch, not once per appended row: only the committed transaction is ever
    // seen, and every statement costs a round trip to the connection's thread on the writer's serial path.
    if let Some(link) = &head
        && let Err(e) = write_head(conn, link).await
    {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e);
    }
    if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    Ok(out)
}

async fn apply(
    conn: &mut SqliteConnection,
    w: &Write,
    head: &mut Option<ChainLink>,
) -> Result<Done> {
    match w {
        Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            ..
        } => {
            let done = sqlx::query("INSERT INTO used_codes (code_hash, appid, used_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(code_hash)
                .bind(appid)
                .bind(at_ms)
                .execute(&mut *conn)
                .await?;
            Ok(Done::Bool(done.rows_affected() == 1))
        }
        Write::IdemBegin { begin, .. } => idem_begin(conn, begin).await.map(Done::Idem),
        Write::IdemAbort {
            key_id, idem_key, ..
        } => {
            sqlx::query(
                "DELETE FROM idempotency WHERE key_id = ? AND idem_key = ? AND status IS NULL",
            )
            .bind(key_id)
            .bind(idem_key)
            .execute(&mut *conn)
            .await?;
            Ok(Done::Unit)
        }
        Write::Append { entry, opts, .. } => append(conn, entry, opts, head)
            .await
            .map(|r| Done::Record(Box::new(r))),
    }
}

async fn write_head(conn: &mut SqliteConnection, link: &ChainLink) -> Result<()> {
    sqlx::query(
        "INSERT INTO chain_head (id, seq, hash) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )
    .bind(link.seq)
    .bind(&link.hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// fingerprint, created_at, status, body
type IdemRow = (Vec<u8>, i64, Option<i64>, Option<String>);

async fn idem_begin(conn: &mut SqliteConnection, b: &IdemBeginRequest) -> Result<IdemBegin> {
    let found: Option<IdemRow> = sqlx::query_as(
        "SELECT fingerprint, created_at, status, body FROM idempotency WHERE key_id = ? AND idem_key = ?",
    )
    .bind(&b.key_id)
    .bind(&b.idem_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((fingerprint, created_at, status, body)) = found else {
        sqlx::query("INSERT INTO idempotency (key_id, idem_key, fingerprint, created_at) VALUES (?, ?, ?, ?)")
            .bind(&b.key_id)
            .bind(&b.idem_key)
            .bind(&b.fingerprint)
            .bind(b.now_ms)
            .execute(&mut *conn)
            .await?;
        return Ok(IdemBegin::Started);
    };
    let found = IdemFound {
        fingerprint,
        created_at,
        status,
        body,
    };
    if let IdemNext::Answer(a) = idem_next(found, b)? {
        return Ok(a);
    }
    sqlx::query("UPDATE idempotency SET created_at = ? WHERE key_id = ? AND idem_key = ?")
        .bind(b.now_ms)
        .bind(&b.key_id)
        .bind(&b.idem_key)
        .execute(&mut *conn)
        .await?;
    Ok(IdemBegin::Started)
}

async fn append(
    conn: &mut SqliteConnection,
    e: &NewAuditEntry,
    opts: &AppendOptions,
    head: &mut Option<ChainLink>,
) -> Result<AuditRecord> {
    if head.is_none() {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1")
                .fetch_optional(&mut *conn)
                .await?;
        *head = Some(
            row.map(|(seq, hash)| ChainLink { seq, hash })
                .unwrap_or(ChainLink {
                    seq: 0,
                    hash: chain::GENESIS.to_vec(),
                }),
        );
    }
    let prev = head.as_ref().cloned().unwrap_or_default();
    let seq = prev.seq + 1;
    let hash = chain::link_hash(&prev.hash, seq, e);
    sqlx::query(
        "INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred, blind_pair,
         key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor, latency_ms,
         prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .bind(&prev.hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    if opts.bind_identity {
        sqlx::query(
            "INSERT INTO identities (appid, openid, verification_id, verified_at, masked_name, masked_cred_id,
             blind_cred, blind_pair, key_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            "UPDATE idempotency SET status = ?, body = ? WHERE key_id = ? AND idem_key = ?",
        )
        .bind(i64::from(a.status))
        .bind(&a.body)
        .bind(&a.key_id)
        .bind(&a.idem_key)
        .execute(&mut *conn)
        .await?;
    }
    let link = ChainLink {
        seq,
        hash: hash.clone(),
    };
    *head = Some(link);
    Ok(AuditRecord {
        seq,
        entry: e.clone(),
        prev_hash: prev.hash,
        hash,
    })
}
