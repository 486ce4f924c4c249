//! The embedded default: one SQLite file in WAL mode.
//!
//! Reads go through a small pool. Every write that sits on the verification path (code reservations,
//! audit appends, idempotency records) goes through one writer task that batches whatever is queued into a
//! single `BEGIN IMMEDIATE` transaction and answers each caller only after `COMMIT` returned (group commit):
//! under load one fsync serves many verifications, and no acknowledged write is lost. `synchronous = FULL`
//! makes each commit durable against power loss, not just a process crash.

mod writer;

use crate::model::*;
use crate::rows;
use crate::writes::{self, Write};
use crate::{Result, Store};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug)]
pub struct SqliteStore {
    read: SqlitePool,
    /// One connection, for writes that do not go through the writer task (keys, purge).
    write: SqlitePool,
    writer: mpsc::Sender<Write>,
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await?;
        MIGRATOR.run(&write).await?;
        restrict_permissions(path);
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.clone())
            .await?;
        let batch_conn = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(writer::run(batch_conn, rx));
        Ok(Self {
            read,
            write,
            writer: tx,
        })
    }

    async fn send<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Write) -> Result<T> {
        writes::send(&self.writer, make).await
    }
}

/// The database holds masked data only, but still: owner-only, like the keys beside it.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, name, key_hash, apps, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.key_hash)
            .bind(serde_json::to_string(&key.apps).unwrap_or_default())
            .bind(key.created_at_ms)
            .bind(key.revoked_at_ms)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let row = sqlx::query_as::<_, rows::KeyRow>("SELECT * FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows =
            sqlx::query_as::<_, rows::KeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(at_ms)
                .bind(id)
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn code_seen(&self, code_hash: &[u8]) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM used_codes WHERE code_hash = ?")
            .bind(code_hash)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    async fn reserve_code(&self, code_hash: &[u8], appid: &str, at_ms: i64) -> Result<bool> {
        let (code_hash, appid) = (code_hash.to_vec(), appid.to_owned());
        self.send(|reply| Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            reply,
        })
        .await
    }

    async fn idem_begin(&self, begin: &IdemBeginRequest) -> Result<IdemBegin> {
        let begin = begin.clone();
        self.send(|reply| Write::IdemBegin { begin, reply }).await
    }

    async fn idem_abort(&self, key_id: &str, idem_key: &str) -> Result<()> {
        let (key_id, idem_key) = (key_id.to_owned(), idem_key.to_owned());
        self.send(|reply| Write::IdemAbort {
            key_id,
            idem_key,
            reply,
        })
        .await
    }

    async fn append(&self, entry: NewAuditEntry, opts: AppendOptions) -> Result<AuditRecord> {
        self.send(|reply| Write::Append {
            entry: Box::new(entry),
            opts,
            reply,
        })
        .await
    }

    async fn verification(&self, id: &str) -> Result<Option<AuditRecord>> {
        let row = sqlx::query_as::<_, rows::AuditRow>("SELECT * FROM audit WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(Into::into))
    }

    async fn identity(&self, appid: &str, openid: &str) -> Result<Option<IdentityRecord>> {
        let row = sqlx::query_as::<_, rows::IdentityRow>(
            "SELECT * FROM identities WHERE appid = ? AND openid = ?",
        )
        .bind(appid)
        .bind(openid)
        .fetch_optional(&self.read)
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
            "SELECT * FROM audit WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(since_ms.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows =
            sqlx::query_as::<_, rows::AuditRow>("SELECT * FROM audit ORDER BY seq DESC LIMIT ?")
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn chain_state(&self) -> Result<ChainState> {
        let head =
            sqlx::query_as::<_, (i64, Vec<u8>)>("SELECT seq, hash FROM chain_head WHERE id = 1")
                .fetch_optional(&self.read)
                .await?;
        let checkpoint = sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT seq, hash FROM audit_checkpoint WHERE id = 1",
        )
        .fetch_optional(&self.read)
        .await?;
        let link = |(seq, hash)| ChainLink { seq, hash };
        Ok(ChainState {
            head: head.map(link),
            checkpoint: checkpoint.map(link),
        })
    }

    async fn prune(&self, codes_before_ms: i64, idempotency_before_ms: i64) -> Result<(u64, u64)> {
        let codes = sqlx::query("DELETE FROM used_codes WHERE used_at < ?")
            .bind(codes_before_ms)
            .execute(&self.write)
            .await?;
        // Only finished answers: an in-progress key belongs to a running request.
        let idem =
            sqlx::query("DELETE FROM idempotency WHERE created_at < ? AND status IS NOT NULL")
                .bind(idempotency_before_ms)
                .execute(&self.write)
                .await?;
        Ok((codes.rows_affected(), idem.rows_affected()))
    }

    async fn purge_audit(&self, before_ms: i64, now_ms: i64) -> Result<PurgeReport> {
        let mut tx = self.write.begin().await?;
        // Only a prefix of the chain can go: stop at the first row that is new enough to keep.
        let keep_from: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit WHERE at >= ?")
            .bind(before_ms)
            .fetch_one(&mut *tx)
            .await?;
        let last: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1")
                .bind(keep_from.unwrap_or(i64::MAX))
                .fetch_optional(&mut *tx)
                .await?;
        let mut report = PurgeReport::default();
        if let Some((seq, hash)) = last {
            sqlx::query(
                "INSERT INTO audit_checkpoint (id, seq, hash, purged_at) VALUES (1, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, purged_at = excluded.purged_at",
            )
            .bind(seq)
            .bind(&hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM audit WHERE seq <= ?")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            report.rows_deleted = done.rows_affected();
            report.checkpoint_seq = Some(seq);
        }
        let codes = sqlx::query("DELETE FROM used_codes WHERE used_at < ?")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        report.codes_forgotten = codes.rows_affected();
        sqlx::query("DELETE FROM idempotency WHERE created_at < ?")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(report)
    }
}
