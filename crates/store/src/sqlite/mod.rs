//! The embedded default: one SQLite file in WAL mode, driven through `rusqlite` on threads of the store's own.
//!
//! - **Writes on the verification path** (code reservations, audit appends, idempotency records) go to one
//!   writer thread that owns a connection. It takes whatever is queued, applies it in a single
//!   `BEGIN IMMEDIATE` transaction and answers each caller only after `COMMIT` returned (group commit): under
//!   load one fsync serves many verifications, and no acknowledged write is lost. `synchronous = FULL` makes
//!   each commit durable against power loss, not just a process crash. The whole batch runs on that thread:
//!   one wake-up per batch, not one thread round trip per statement.
//! - **The two reads of every verification** (the API key, the replay guard) run inline on the calling task's
//!   thread with a pooled connection: primary-key lookups in a local file, a few microseconds, less than a hop to
//!   another thread and back costs. Measured both ways in the benchmark: on the blocking pool they cost about a
//!   third more CPU per verification, with no better tail.
//! - **Other reads and maintenance** (audit pages, lists, single records, prune, purge, key changes) run on
//!   tokio's blocking pool, so a long one never holds up a runtime thread.
//! - **Checkpoints** (copying the WAL back into the database file) are SQLite's automatic ones, run by the
//!   writer inside the commit that takes the WAL past 1,000 pages. Two alternatives were measured and dropped:
//!   a checkpoint thread of its own made the writer's next `fdatasync` wait for the checkpoint's pages on ext4
//!   (a 266 ms commit in the benchmark), and checkpointing whenever the writer's queue ran empty added fsyncs
//!   without shortening the tail (`examples/commit_latency.rs`).

mod migrate;
mod writer;

use crate::chain::AuditKeys;
use crate::model::*;
use crate::rows;
use crate::sql::sqlite as sql;
use crate::writes;
use crate::{Error, OpenMode, Result, Store};
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Reads and maintenance on the blocking pool: at most this many at once, the rest wait their turn. With the
/// inline reads (at most one per runtime thread) that bounds the connections kept open; opening one per read
/// instead, under load, costs more than the read.
const READERS: usize = 4;
/// How long a statement waits for a lock held by another connection (a maintenance write, another process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct SqliteStore {
    pool: Arc<Pool>,
    writer: writes::Queue,
    /// The writer thread, joined on drop.
    writer_thread: Option<std::thread::JoinHandle<()>>,
    keys: AuditKeys,
}

/// SQLite folds the WAL into the database and removes the `-wal` and `-shm` files when the last connection to it
/// closes. The writer thread's connection closes only once that thread has seen its queue close, which, without
/// waiting for it here, could be after the process has exited (a CLI command returning from `main`): its
/// connection is then never closed and both files stay behind, with whatever the WAL holds.
impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue (its only senders) ends the thread once it has answered what was queued.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(
            &mut self.writer,
            writes::Queue::one(closed),
        ));
        if let Some(thread) = self.writer_thread.take() {
            // A writer that panicked has nothing left to close; the panic was already reported.
            let _ = thread.join();
        }
    }
}

/// Connections for everything but the writer thread's own.
#[derive(Debug)]
struct Pool {
    path: PathBuf,
    mode: OpenMode,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: held while a closure runs on the blocking pool.
    turns: Arc<tokio::sync::Semaphore>,
}

impl Pool {
    /// Run `f` with a connection from the pool, on this thread.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => connect(&self.path, self.mode)?,
        };
        let out = f(&mut conn);
        // A connection that failed may be in any state; let it go (the next use opens a new one).
        if out.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        out
    }
}

/// One connection with the store's settings. Only [`OpenMode::Create`] may create the file.
///
/// A read-only store's connections refuse every write with `PRAGMA query_only` rather than opening the file
/// `SQLITE_OPEN_READONLY`: a reader of a WAL database creates the `-wal` and `-shm` files when they are missing,
/// and only a connection that may write removes them when it is the last to close (its checkpoint of an empty
/// WAL writes nothing). Opened `SQLITE_OPEN_READONLY`, every read-only command left both files behind. Where the
/// file system lets this user only read the database, SQLite opens it read-only anyway.
fn connect(path: &Path, mode: OpenMode) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
        | match mode {
            OpenMode::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            OpenMode::Existing | OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_WRITE,
        };
    let conn = Connection::open_with_flags(path, flags)?;
    if mode == OpenMode::ReadOnly {
        conn.pragma_update(None, "query_only", true)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Setting the journal mode writes to the file; a read-only connection finds the store in WAL mode already.
    if mode != OpenMode::ReadOnly {
        let journal: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(Error::Config(format!(
                "SQLite would not use WAL mode (got {journal:?})"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A WAL that grew in a burst is cut back to this size when it starts over.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

impl SqliteStore {
    /// Open the file, creating it (and its directory) if missing; `keys` sign the audit chain's head and
    /// checkpoints.
    pub async fn open(path: &Path, keys: AuditKeys) -> Result<Self> {
        Self::open_with(path, OpenMode::Create, keys).await
    }

    pub async fn open_with(path: &Path, mode: OpenMode, keys: AuditKeys) -> Result<Self> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path, mode, keys))
            .await
            .map_err(|e| Error::Unavailable(format!("opening the database: {e}")))?
    }

    fn open_blocking(path: PathBuf, mode: OpenMode, keys: AuditKeys) -> Result<Self> {
        let missing = || Error::NotFound(format!("at {}", path.display()));
        match mode {
            OpenMode::Create => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::files::private_dir(dir)?;
                }
            }
            OpenMode::Existing | OpenMode::ReadOnly => {
                // Look before touching: a missing file, or one without our tables, is not a store (and is left
                // as it was).
                if !path.is_file() {
                    return Err(missing());
                }
                let probe = connect(&path, OpenMode::ReadOnly)?;
                if migrate::version(&probe)? == 0 {
                    return Err(missing());
                }
            }
        }
        if mode != OpenMode::ReadOnly {
            // Before SQLite's first open: the WAL and shared-memory files it creates take the database's mode.
            crate::files::private_db_files(&path)?;
        }
        let mut first = connect(&path, mode)?;
        match mode {
            OpenMode::Create | OpenMode::Existing => {
                migrate::run(&mut first)?;
                seal(&mut first, &keys)?;
            }
            OpenMode::ReadOnly => migrate::check_current(&first)?,
        }
        let (tx, rx) = mpsc::channel(4096);
        let writer_thread = writer::spawn(connect(&path, mode)?, rx, keys.clone())?;
        Ok(Self {
            pool: Arc::new(Pool {
                path,
                mode,
                idle: Mutex::new(vec![first]),
                turns: Arc::new(tokio::sync::Semaphore::new(READERS)),
            }),
            writer: writes::Queue::one(tx),
            writer_thread: Some(writer_thread),
            keys,
        })
    }

    /// Run `f` here, with a pooled connection: for the verification path's primary-key lookups only.
    fn inline<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        self.pool.with(f)
    }

    /// Run `f` on tokio's blocking pool with a pooled connection.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let pool = Arc::clone(&self.pool);
        let turn = Arc::clone(&self.pool.turns)
            .acquire_owned()
            .await
            .map_err(|_| Error::WriterGone)?;
        tokio::task::spawn_blocking(move || {
            let out = pool.with(f);
            drop(turn);
            out
        })
        .await
        .map_err(|e| Error::Unavailable(format!("database task: {e}")))?
    }
}

/// SQLite's only chain (see [`crate::chain::POSITION_BITS`]): one process, one writer thread.
pub(super) const CHAIN: u32 = 1;

fn link(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChainLink> {
    Ok(ChainLink {
        seq: r.get(0)?,
        hash: r.get(1)?,
        at_ms: r.get(2)?,
        mac: r.get(3)?,
    })
}

pub(super) fn write_head(conn: &Connection, head: &ChainLink) -> Result<()> {
    conn.prepare_cached(sql::WRITE_HEAD)?
        .execute(params![head.seq, head.hash, head.at_ms, head.mac, CHAIN])?;
    Ok(())
}

/// Sign what this release's migration found unsigned, or what an earlier master key signed (see
/// [`writes::seal`]), in one transaction with the removal of the migration's marker.
fn seal(conn: &mut Connection, keys: &AuditKeys) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let pending: bool = tx.query_row(sql::SEAL_PENDING, [], |r| r.get(0))?;
    let empty: bool = tx.query_row(sql::NO_AUDIT_ROWS, [], |r| r.get(0))?;
    let head = tx.query_row(sql::HEAD, [CHAIN], link).optional()?;
    let checkpoint = tx.query_row(sql::CHECKPOINT, [CHAIN], link).optional()?;
    let seal = writes::seal(keys, pending, empty, head.as_ref(), checkpoint.as_ref());
    if let Some(h) = &seal.head {
        write_head(&tx, h)?;
    }
    if let Some(c) = &seal.checkpoint {
        tx.execute(sql::SIGN_CHECKPOINT, params![c.mac, CHAIN])?;
    }
    tx.execute(sql::SEAL_DONE, [])?;
    tx.commit()?;
    Ok(())
}

fn audit_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, rows::AuditRow::from_sqlite)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r?.into());
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.blocking(move |c| {
            c.prepare_cached("SELECT 1")?.query_row([], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let key = key.clone();
        self.blocking(move |c| {
            c.execute(
                sql::INSERT_API_KEY,
                params![
                    key.id,
                    key.name,
                    key.key_hash,
                    serde_json::to_string(&key.apps).unwrap_or_default(),
                    serde_json::to_string(&key.scopes).unwrap_or_default(),
                    key.created_at_ms,
                    key.revoked_at_ms
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>> {
        let row = self.inline(|c| {
            Ok(c.prepare_cached(sql::API_KEY)?
                .query_row([id], rows::KeyRow::from_sqlite)
                .optional()?)
        })?;
        row.map(TryInto::try_into).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = self
            .blocking(|c| {
                let mut stmt = c.prepare_cached(sql::API_KEYS)?;
                let rows = stmt.query_map([], rows::KeyRow::from_sqlite)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let id = id.to_owned();
        self.blocking(move |c| {
            let n = c.execute(sql::REVOKE_API_KEY, params![at_ms, id])?;
            Ok(n == 1)
        })
        .await
    }

    async fn code_seen(&self, code_hash: &[u8]) -> Result<bool> {
        self.inline(|c| Ok(c.prepare_cached(sql::CODE_SEEN)?.exists([code_hash])?))
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

    async fn begin_idempotent(&self, begin: &IdemBeginRequest) -> Result<IdemBegin> {
        self.writer.begin_idempotent(begin).await
    }

    async fn abort_idempotent(&self, key_id: &str, idem_key: &str) -> Result<()> {
        self.writer.abort_idempotent(key_id, idem_key).await
    }

    async fn append(&self, entry: NewAuditEntry, opts: AppendOptions) -> Result<AuditRecord> {
        self.writer.append(entry, opts).await
    }

    async fn verification(&self, id: &str) -> Result<Option<AuditRecord>> {
        let id = id.to_owned();
        self.blocking(move |c| {
            Ok(c.prepare_cached(sql::VERIFICATION)?
                .query_row([id], rows::AuditRow::from_sqlite)
                .optional()?
                .map(Into::into))
        })
        .await
    }

    async fn idcheck_verdict(
        &self,
        blind_pair: &[u8],
        since_ms: i64,
    ) -> Result<Option<AuditRecord>> {
        // Inline, like the replay guard's read: the idcheck route asks it on every check, and it is one lookup
        // through the partial index `audit_idcheck_pair` (a hand-off to the blocking pool cost more than it).
        self.inline(|c| {
            Ok(c.prepare_cached(
                "SELECT * FROM audit WHERE kind = 'idcheck' AND blind_pair = ?1 AND at >= ?2 \
                 AND outcome IN ('match', 'mismatch') AND billed = 1 ORDER BY at DESC, seq DESC LIMIT 1",
            )?
            .query_row(rusqlite::params![blind_pair, since_ms], rows::AuditRow::from_sqlite)
            .optional()?
            .map(Into::into))
        })
    }

    async fn identity(&self, appid: &str, openid: &str) -> Result<Option<IdentityRecord>> {
        let (appid, openid) = (appid.to_owned(), openid.to_owned());
        self.blocking(move |c| {
            Ok(c.prepare_cached(sql::IDENTITY)?
                .query_row([appid, openid], rows::IdentityRow::from_sqlite)
                .optional()?
                .map(Into::into))
        })
        .await
    }

    async fn audit_page(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        self.blocking(move |c| {
            audit_rows(
                c,
                sql::AUDIT_PAGE,
                params![after_seq, since_ms.unwrap_or(i64::MIN), limit],
            )
        })
        .await
    }

    async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        self.blocking(move |c| audit_rows(c, sql::RECENT, [limit]))
            .await
    }

    async fn chain_state(&self) -> Result<ChainState> {
        self.blocking(|c| {
            // One read transaction, so the head and the checkpoint belong to the same moment.
            let tx = c.transaction()?;
            let head = tx.query_row(sql::HEAD, [CHAIN], link).optional()?;
            let checkpoint = tx.query_row(sql::CHECKPOINT, [CHAIN], link).optional()?;
            tx.finish()?;
            Ok(ChainState {
                chain: CHAIN,
                head,
                checkpoint,
            })
        })
        .await
    }

    async fn chain_states(&self) -> Result<Vec<ChainState>> {
        Ok(vec![self.chain_state().await?])
    }

    async fn prune(&self, codes_before_ms: i64, idempotency_before_ms: i64) -> Result<(u64, u64)> {
        self.blocking(move |c| {
            let codes = c.execute(sql::FORGET_CODES, [codes_before_ms])?;
            let idem = c.execute(sql::FORGET_IDEMPOTENT_ANSWERS, [idempotency_before_ms])?;
            Ok((codes as u64, idem as u64))
        })
        .await
    }

    async fn purge_audit(&self, before_ms: i64, now_ms: i64) -> Result<PurgeReport> {
        let keys = self.keys.clone();
        self.blocking(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Only a prefix of the chain can go: stop at the first row that is new enough to keep.
            let keep_from: Option<i64> =
                tx.query_row(sql::PURGE_KEEP_FROM, [before_ms, 0, i64::MAX], |r| r.get(0))?;
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row(sql::PURGE_LAST, [keep_from.unwrap_or(i64::MAX), 0], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let mut report = PurgeReport::default();
            if let Some((seq, hash)) = last {
                // The signed checkpoint first, then the rows: the trigger lets a delete through only up to the
                // position the permit names, and the permit lives only inside this transaction.
                let cp = writes::new_checkpoint(&keys, seq, hash, now_ms);
                tx.execute(
                    sql::WRITE_CHECKPOINT,
                    params![cp.seq, cp.hash, cp.at_ms, cp.mac, CHAIN],
                )?;
                tx.execute(sql::GRANT_PURGE_PERMIT, params![seq, CHAIN])?;
                report.rows_deleted = tx.execute(sql::PURGE_ROWS, [seq, 0])? as u64;
                tx.execute(sql::DROP_PURGE_PERMIT, [])?;
                report.checkpoint_seq = Some(seq);
                report.chains_purged = 1;
            }
            report.codes_forgotten = tx.execute(sql::FORGET_CODES, [before_ms])? as u64;
            tx.execute(sql::FORGET_IDEMPOTENCY, [before_ms])?;
            tx.commit()?;
            Ok(report)
        })
        .await
    }
}
