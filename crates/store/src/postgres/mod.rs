//! PostgreSQL: one database shared by several gateway processes.
//!
//! Each process batches its verification-path writes through one writer task, like SQLite does (group commit),
//! but nothing that must hold across processes lives in process memory: the audit chain serialises on the
//! `chain_head` row (`SELECT ... FOR UPDATE` in the appending transaction), code reservations and idempotency
//! records rely on primary keys (`INSERT ... ON CONFLICT DO NOTHING`).
//!
//! A short pool `acquire_timeout` makes calls fail with an [`Error`] within seconds while the database is down;
//! the pool tests connections before handing them out and reconnects on its own when the database is back.

mod writer;

use crate::chain::{AuditKeys, LinkKind};
use crate::model::*;
use crate::rows;
use crate::writes;
use crate::{Error, OpenMode, Result, Store};
use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::mpsc;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const DEFAULT_POOL_SIZE: u32 = 10;
/// How long a call waits for a connection before it fails: long enough for a busy pool, short enough that
/// `/readyz` and verifications answer promptly while PostgreSQL is down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
const IDLE_IN_TX_TIMEOUT: &str = "10s";

#[derive(Debug)]
pub struct PgStore {
    /// Reads, API keys and purges; the writer task takes its connections from the same pool.
    pool: PgPool,
    writer: writes::Queue,
    keys: AuditKeys,
}

impl PgStore {
    /// Connect, run the migrations and start the writer task.
    ///
    /// `url` is a libpq-style URL as sqlx understands it, plus one parameter of ours, `pool_size` (default 10).
    /// To keep the tables in a schema other than `public`, pass
    /// `options=-c%20search_path%3Dmyschema` (the schema must exist). Sessions get
    /// `idle_in_transaction_session_timeout=10s` unless the URL sets it.
    ///
    /// `keys` sign the audit chain's head and checkpoints.
    pub async fn open(url: &str, keys: AuditKeys) -> Result<Self> {
        Self::open_with(url, OpenMode::Create, keys).await
    }

    /// [`open`](Self::open), or, in the other [`OpenMode`]s, only onto existing tables: a schema without them (or
    /// a `search_path` naming no schema) is [`Error::NotFound`]. Read-only sessions run no migration and the
    /// server refuses their writes (`default_transaction_read_only`).
    pub async fn open_with(url: &str, mode: OpenMode, keys: AuditKeys) -> Result<Self> {
        let (url, pool_size) = take_pool_size(url)?;
        let mut opts = PgConnectOptions::from_str(&url)?;
        if !url.contains("idle_in_transaction_session_timeout") {
            // A process that freezes (or loses the network) while holding the chain head would stall every
            // other instance's appends until the server noticed the dead peer, which can take hours. Our
            // transactions never sit idle for more than a moment, so let the server end such a session.
            opts = opts.options([("idle_in_transaction_session_timeout", IDLE_IN_TX_TIMEOUT)]);
        }
        if mode == OpenMode::ReadOnly {
            opts = opts.options([("default_transaction_read_only", "on")]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(opts)
            .await?;
        if mode != OpenMode::Create {
            // `current_schema()` is NULL when the search_path names no existing schema.
            let (schema, tables): (Option<String>, bool) =
                sqlx::query_as("SELECT current_schema(), to_regclass('chain_head') IS NOT NULL")
                    .fetch_one(&pool)
                    .await?;
            if !tables {
                return Err(Error::NotFound(match schema {
                    Some(s) => format!("in PostgreSQL schema {s:?} (it has no wxrealname tables)"),
                    None => "in PostgreSQL: the search_path names no existing schema".to_owned(),
                }));
            }
        }
        if mode != OpenMode::ReadOnly {
            MIGRATOR.run(&pool).await?;
            seal(&pool, &keys).await?;
        }
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer::run(pool.clone(), rx, keys.clone()));
        Ok(Self {
            pool,
            writer: writes::Queue(tx),
            keys,
        })
    }
}

type LinkRow = (i64, Vec<u8>, i64, Option<Vec<u8>>);

fn link((seq, hash, at_ms, mac): LinkRow) -> ChainLink {
    ChainLink {
        seq,
        hash,
        at_ms,
        mac,
    }
}

/// Sign what this release's migration found unsigned, or what an earlier master key signed (see
/// [`writes::seal`]), in one transaction with the removal of the migration's marker. With several processes
/// starting at once, the head's row lock makes them take turns; the second finds nothing left to do.
async fn seal(pool: &PgPool, keys: &AuditKeys) -> Result<()> {
    let mut tx = pool.begin().await?;
    let head: Option<LinkRow> =
        sqlx::query_as("SELECT seq, hash, at, mac FROM chain_head WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_seal_pending)")
        .fetch_one(&mut *tx)
        .await?;
    let empty: bool = sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM audit)")
        .fetch_one(&mut *tx)
        .await?;
    let checkpoint: Option<LinkRow> =
        sqlx::query_as("SELECT seq, hash, purged_at, mac FROM audit_checkpoint WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (head, checkpoint) = (head.map(link), checkpoint.map(link));
    let seal = writes::seal(keys, pending, empty, head.as_ref(), checkpoint.as_ref());
    if let Some(h) = &seal.head {
        sqlx::query(
            "INSERT INTO chain_head (id, seq, hash, at, mac) VALUES (1, $1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, mac = excluded.mac",
        )
        .bind(h.seq)
        .bind(&h.hash)
        .bind(h.at_ms)
        .bind(&h.mac)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(c) = &seal.checkpoint {
        sqlx::query("UPDATE audit_checkpoint SET mac = $1 WHERE id = 1")
            .bind(&c.mac)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM audit_seal_pending")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Split our `pool_size` parameter off the URL; everything else goes to sqlx as it came.
fn take_pool_size(url: &str) -> Result<(String, u32)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_POOL_SIZE));
    };
    let mut size = DEFAULT_POOL_SIZE;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("pool_size=") {
            Some(v) => {
                size =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::Config("pool_size must be a positive integer".into())
                    })?;
            }
            None => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, name, key_hash, apps, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.key_hash)
            .bind(serde_json::to_string(&key.apps).unwrap_or_default())
            .bind(serde_json::to_string(&key.scopes).unwrap_or_default())
            .bind(key.created_at_ms)
            .bind(key.revoked_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query_as::<_, rows::KeyRow>("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows =
            sqlx::query_as::<_, rows::KeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn code_seen(&self, code_hash: &[u8]) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM used_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn reserve_code(&self, code_hash: &[u8], appid: &str, at_ms: i64) -> Result<bool> {
        self.writer.reserve_code(code_hash, appid, at_ms).await
    }

    async fn delete_identity(&self, appid: &str, openid: &str) -> Result<bool> {
        self.writer.delete_identity(appid, openid).await
    }

    async fn release_code(&self, code_hash: &[u8]) -> Result<()> {
        self.writer.release_code(code_hash).await
    }

    async fn idem_begin(&self, begin: &IdemBeginRequest) -> Result<IdemBegin> {
        self.writer.idem_begin(begin).await
    }

    async fn idem_abort(&self, key_id: &str, idem_key: &str) -> Result<()> {
        self.writer.idem_abort(key_id, idem_key).await
    }

    async fn append(&self, entry: NewAuditEntry, opts: AppendOptions) -> Result<AuditRecord> {
        self.writer.append(entry, opts).await
    }

    async fn verification(&self, id: &str) -> Result<Option<AuditRecord>> {
        let row = sqlx::query_as::<_, rows::AuditRow>("SELECT * FROM audit WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn idcheck_verdict(
        &self,
        blind_pair: &[u8],
        since_ms: i64,
    ) -> Result<Option<AuditRecord>> {
        let row = sqlx::query_as::<_, rows::AuditRow>(
            "SELECT * FROM audit WHERE kind = 'idcheck' AND blind_pair = $1 AND at >= $2 \
             AND outcome IN ('match', 'mismatch') AND billed ORDER BY at DESC, seq DESC LIMIT 1",
        )
        .bind(blind_pair)
        .bind(since_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn identity(&self, appid: &str, openid: &str) -> Result<Option<IdentityRecord>> {
        let row = sqlx::query_as::<_, rows::IdentityRow>(
            "SELECT * FROM identities WHERE appid = $1 AND openid = $2",
        )
        .bind(appid)
        .bind(openid)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn audit_page(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query_as::<_, rows::AuditRow>(
            "SELECT * FROM audit WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(after_seq)
        .bind(since_ms.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows =
            sqlx::query_as::<_, rows::AuditRow>("SELECT * FROM audit ORDER BY seq DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn chain_state(&self) -> Result<ChainState> {
        // One statement, one snapshot: the head and the checkpoint agree even while others append or purge.
        // seq, hash, at, mac of one side of the join; both sides in one row.
        type Side = (Option<i64>, Option<Vec<u8>>, Option<i64>, Option<Vec<u8>>);
        type Both = (
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
        );
        let row: Both = sqlx::query_as(
            "SELECT h.seq, h.hash, h.at, h.mac, c.seq, c.hash, c.purged_at, c.mac FROM (SELECT 1 AS id) one
             LEFT JOIN chain_head h ON h.id = one.id
             LEFT JOIN audit_checkpoint c ON c.id = one.id",
        )
        .fetch_one(&self.pool)
        .await?;
        let side = |(seq, hash, at, mac): Side| {
            Some(ChainLink {
                seq: seq?,
                hash: hash?,
                at_ms: at?,
                mac,
            })
        };
        Ok(ChainState {
            head: side((row.0, row.1, row.2, row.3)),
            checkpoint: side((row.4, row.5, row.6, row.7)),
        })
    }

    async fn prune(&self, codes_before_ms: i64, idempotency_before_ms: i64) -> Result<(u64, u64)> {
        let codes = sqlx::query("DELETE FROM used_codes WHERE used_at < $1")
            .bind(codes_before_ms)
            .execute(&self.pool)
            .await?;
        // Only finished answers: an in-progress key belongs to a running request.
        let idem =
            sqlx::query("DELETE FROM idempotency WHERE created_at < $1 AND status IS NOT NULL")
                .bind(idempotency_before_ms)
                .execute(&self.pool)
                .await?;
        Ok((codes.rows_affected(), idem.rows_affected()))
    }

    async fn purge_audit(&self, before_ms: i64, now_ms: i64) -> Result<PurgeReport> {
        let mut tx = self.pool.begin().await?;
        // Hold the chain head so that no process appends between choosing the checkpoint and deleting.
        sqlx::query("SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        // Only a prefix of the chain can go: stop at the first row that is new enough to keep.
        let keep_from: Option<i64> =
            sqlx::query_scalar("SELECT MIN(seq) FROM audit WHERE at >= $1")
                .bind(before_ms)
                .fetch_one(&mut *tx)
                .await?;
        let last: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT 1")
                .bind(keep_from.unwrap_or(i64::MAX))
                .fetch_optional(&mut *tx)
                .await?;
        let mut report = PurgeReport::default();
        if let Some((seq, hash)) = last {
            // The signed checkpoint first, then the rows: the trigger lets a delete through only up to the
            // position the permit names, and the permit lives only inside this transaction.
            let cp = self.keys.signed(
                LinkKind::Checkpoint,
                ChainLink {
                    seq,
                    hash,
                    at_ms: now_ms,
                    mac: None,
                },
            );
            sqlx::query(
                "INSERT INTO audit_checkpoint (id, seq, hash, purged_at, mac) VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                 purged_at = excluded.purged_at, mac = excluded.mac",
            )
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(cp.at_ms)
            .bind(&cp.mac)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO audit_purge_permit (id, upto) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET upto = excluded.upto",
            )
            .bind(seq)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM audit WHERE seq <= $1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM audit_purge_permit")
                .execute(&mut *tx)
                .await?;
            report.rows_deleted = done.rows_affected();
            report.checkpoint_seq = Some(seq);
        }
        let codes = sqlx::query("DELETE FROM used_codes WHERE used_at < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        report.codes_forgotten = codes.rows_affected();
        sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_ours_and_the_rest_goes_to_sqlx() {
        let (url, n) = take_pool_size("postgres://h/db?pool_size=3&options=-c%20x%3Dy").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://h/db?options=-c%20x%3Dy", 3));
        let (url, n) = take_pool_size("postgres://h/db?pool_size=4").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://h/db", 4));
        let (url, n) = take_pool_size("postgres://h/db").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://h/db", DEFAULT_POOL_SIZE));
        assert!(take_pool_size("postgres://h/db?pool_size=0").is_err());
        assert!(take_pool_size("postgres://h/db?pool_size=x").is_err());
    }
}
