//! PostgreSQL: one database shared by several gateway processes.
//!
//! Each process batches its verification-path writes through a writer (group commit, as SQLite does) with two
//! lanes: appends, to an audit chain of the process's own (held by a session advisory lock, see
//! `writer::Chain`), each batch in one statement gated on a compare-and-swap of that chain's `chain_head` row;
//! and every other write, a batch's code reservations in one statement (see `writer`). No process's append waits
//! for another's. Nothing that must hold across processes lives in process memory: each chain serialises on its
//! `chain_head` row (the head a lane remembers is only where it expects the next swap to start), code
//! reservations and idempotency records rely on primary keys (`INSERT ... ON CONFLICT DO NOTHING`).
//!
//! A short pool `acquire_timeout` makes calls fail with an [`Error`] within seconds while the database is down;
//! the pool tests a connection that sat idle for a second or more before handing it out, and reconnects on its own
//! when the database is back.

mod reads;
mod writer;

use crate::chain::AuditKeys;
use crate::model::*;
use crate::rows;
use crate::sql::pg as sql;
use crate::writes;
use crate::{Error, OpenMode, Result, Store};
use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
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
    /// Reads, API keys and purges; the writer's workers (for appends, and for the other writes) and the replay
    /// guard's lookups keep a connection each, from a pool of one of their own.
    pool: PgPool,
    writer: writes::Queue,
    /// The replay guard's lookups, batched.
    seen: reads::Seen,
    keys: AuditKeys,
}

impl PgStore {
    /// Connect, run the migrations and start the writer task.
    ///
    /// `url` is a libpq-style URL as sqlx understands it, plus two parameters of ours: `pool_size` (default 10:
    /// the connections for reads) and `append_workers` (default 1, at most 4: batches of audit appends in flight
    /// at once, a connection each; see `writer::CHAIN_WORKERS`). The writer keeps one more connection for the
    /// other writes, and the replay guard's lookups one.
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
        let (url, params) = take_params(url)?;
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
        let trouble = Arc::new(Trouble::default());
        let pool_options = {
            let trouble = trouble.clone();
            move || {
                let trouble = trouble.clone();
                PgPoolOptions::new()
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .test_before_acquire(false)
                    .before_acquire(move |conn, meta| {
                        let suspect = meta.idle_for >= RETEST_AFTER_IDLE || trouble.recent();
                        Box::pin(retest_if(suspect, conn))
                    })
            }
        };
        // The writer's workers keep a connection each, from a pool of one of their own: they never wait for
        // (or starve) the readers, and a chain worker's session (one of them holds the chain) is the same
        // session from batch to batch unless it fails.
        let lane_opts = opts.clone();
        let lane_pool = {
            let pool_options = pool_options.clone();
            move || {
                pool_options()
                    .max_connections(1)
                    .connect_lazy_with(lane_opts.clone())
            }
        };
        // The replay guard's batched lookups, a connection per worker. Their statement is planned once, generic:
        // planned afresh for each batch's array (PostgreSQL's default while its first custom plans look cheaper,
        // as they do on a young table), it cost PostgreSQL twice the CPU per verification of a lookup per code.
        let seen_pool = pool_options()
            .max_connections(reads::WORKERS as u32)
            .connect_lazy_with(
                opts.clone()
                    .options([("plan_cache_mode", "force_generic_plan")]),
            );
        let pool = pool_options()
            .max_connections(params.pool_size)
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
        let (chain_tx, chain_rx) = mpsc::channel(4096);
        let (rows_tx, rows_rx) = mpsc::channel(4096);
        let (chain_rx, rows_rx) = (
            Arc::new(tokio::sync::Mutex::new(chain_rx)),
            Arc::new(tokio::sync::Mutex::new(rows_rx)),
        );
        let shared = Arc::default();
        for _ in 0..params.append_workers {
            let lane = writer::Lane::chain(keys.clone(), Arc::clone(&shared));
            tokio::spawn(writer::run(
                lane_pool(),
                chain_rx.clone(),
                lane,
                trouble.clone(),
            ));
        }
        for _ in 0..writer::ROW_WORKERS {
            tokio::spawn(writer::run(
                lane_pool(),
                rows_rx.clone(),
                writer::Lane::Rows,
                trouble.clone(),
            ));
        }
        Ok(Self {
            seen: reads::Seen::start(seen_pool, trouble),
            pool,
            writer: writes::Queue::two(chain_tx, rows_tx),
            keys,
        })
    }
}

/// A connection unused for this long is tested (a round trip) before a caller gets it: a server restart or a
/// network cut while it sat idle fails the test rather than the caller's statement. One used more recently is
/// handed out as it is: testing every connection before every use cost a round trip per read (with PostgreSQL
/// 5 ms away, 5 ms more for every verification's replay-guard read), and a connection that breaks anyway fails
/// its statement as a connection error, which callers already handle.
const RETEST_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Test a connection before use when it is suspect (idle a while, or the store lost a connection recently).
async fn retest_if(
    suspect: bool,
    conn: &mut sqlx::PgConnection,
) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if suspect {
        conn.ping().await?;
    }
    Ok(true)
}

/// For how long after the store last lost a connection every connection is tested before use.
const TROUBLE_WINDOW: Duration = Duration::from_secs(5);

/// When this store last lost a connection (a statement failed on the way, or a connection could not be had):
/// for [`TROUBLE_WINDOW`] after, every connection, pooled or held by a writer, is tested before use, so that
/// after an outage (a server restart, a network cut, which break every connection at once) a stale connection
/// fails its test rather than a write. An append that failed on the way after WeChat answered would lose that
/// answer and leave the user's code spent.
#[derive(Debug)]
pub(super) struct Trouble {
    base: std::time::Instant,
    /// Milliseconds after `base` of the last loss, plus one; 0 for none.
    last: std::sync::atomic::AtomicU64,
}

impl Default for Trouble {
    fn default() -> Self {
        Trouble {
            base: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Trouble {
    pub(super) fn note(&self) {
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        self.last.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn recent(&self) -> bool {
        match self.last.load(std::sync::atomic::Ordering::Relaxed) {
            0 => false,
            at => {
                let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
                now.saturating_sub(at - 1) < TROUBLE_WINDOW.as_millis() as u64
            }
        }
    }
}

/// A chain's head, locked until the transaction ends: how appends of processes that share a chain take turns.
const HEAD_FOR_UPDATE: &str = "SELECT seq, hash, at, mac FROM chain_head WHERE id = $1 FOR UPDATE";

/// Every chain's head and checkpoint, by chain, in one snapshot (chain 1 always, with or without a head).
const CHAIN_STATES: &str =
    "SELECT id, h.seq, h.hash, h.at, h.mac, c.seq, c.hash, c.purged_at, c.mac
    FROM (SELECT 1 AS id UNION SELECT id FROM chain_head UNION SELECT id FROM audit_checkpoint) ids
    LEFT JOIN chain_head h USING (id) LEFT JOIN audit_checkpoint c USING (id) ORDER BY id";

type LinkRow = (i64, Vec<u8>, i64, Option<Vec<u8>>);

/// A link read through an outer join (or a statement that may find none): all of it, or nothing.
pub(super) fn maybe_link(
    seq: Option<i64>,
    hash: Option<Vec<u8>>,
    at_ms: Option<i64>,
    mac: Option<Vec<u8>>,
) -> Option<ChainLink> {
    Some(ChainLink {
        seq: seq?,
        hash: hash?,
        at_ms: at_ms?,
        mac,
    })
}

fn link((seq, hash, at_ms, mac): LinkRow) -> ChainLink {
    ChainLink {
        seq,
        hash,
        at_ms,
        mac,
    }
}

/// Write chain `chain`'s (signed) head: the row is created when missing, as SQLite's writer does.
pub(super) async fn write_head(
    conn: &mut sqlx::PgConnection,
    chain: u32,
    head: &ChainLink,
) -> Result<()> {
    sqlx::query(sql::WRITE_HEAD)
        .bind(head.seq)
        .bind(&head.hash)
        .bind(head.at_ms)
        .bind(&head.mac)
        .bind(chain as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every chain's number, the first always there.
async fn chain_ids(conn: &mut sqlx::PgConnection) -> Result<Vec<u32>> {
    let ids: Vec<i32> = sqlx::query_scalar("SELECT 1 UNION SELECT id FROM chain_head ORDER BY 1")
        .fetch_all(conn)
        .await?;
    Ok(ids
        .into_iter()
        .filter_map(|n| u32::try_from(n).ok())
        .collect())
}

/// Sign what this release's migration found unsigned, or what an earlier master key signed (see
/// [`writes::seal`]), in one transaction with the removal of the migration's marker. With several processes
/// starting at once, the heads' row locks make them take turns; the second finds nothing left to do. Only the
/// first chain can predate signatures; every chain is signed again after a master-key rotation.
async fn seal(pool: &PgPool, keys: &AuditKeys) -> Result<()> {
    let mut tx = pool.begin().await?;
    let pending: bool = sqlx::query_scalar(sql::SEAL_PENDING)
        .fetch_one(&mut *tx)
        .await?;
    let empty: bool = sqlx::query_scalar(sql::NO_AUDIT_ROWS)
        .fetch_one(&mut *tx)
        .await?;
    for chain in chain_ids(&mut tx).await? {
        let head: Option<LinkRow> = sqlx::query_as(HEAD_FOR_UPDATE)
            .bind(chain as i32)
            .fetch_optional(&mut *tx)
            .await?;
        let checkpoint: Option<LinkRow> = sqlx::query_as(sql::CHECKPOINT)
            .bind(chain as i32)
            .fetch_optional(&mut *tx)
            .await?;
        let (head, checkpoint) = (head.map(link), checkpoint.map(link));
        let first = chain == 1;
        let seal = writes::seal(
            keys,
            pending && first,
            empty && first,
            head.as_ref(),
            checkpoint.as_ref(),
        );
        if let Some(h) = &seal.head {
            write_head(&mut tx, chain, h).await?;
        }
        if let Some(c) = &seal.checkpoint {
            sqlx::query(sql::SIGN_CHECKPOINT)
                .bind(&c.mac)
                .bind(chain as i32)
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(sql::SEAL_DONE).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Our own query parameters of a database URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    /// Connections for reads.
    pool_size: u32,
    /// Batches of appends in flight at once, each on a connection of its own (1 to 4).
    append_workers: usize,
}

/// Split our parameters (`pool_size`, `append_workers`) off the URL; everything else goes to sqlx as it came.
fn take_params(url: &str) -> Result<(String, Params)> {
    let mut params = Params {
        pool_size: DEFAULT_POOL_SIZE,
        append_workers: writer::CHAIN_WORKERS,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), params));
    };
    let mut rest = Vec::new();
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("pool_size=") {
            params.pool_size = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::Config("pool_size must be a positive integer".into()))?;
        } else if let Some(v) = pair.strip_prefix("append_workers=") {
            params.append_workers = v
                .parse()
                .ok()
                .filter(|n| (1..=4).contains(n))
                .ok_or_else(|| Error::Config("append_workers must be 1, 2, 3 or 4".into()))?;
        } else {
            rest.push(pair);
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, params))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        sqlx::query(sql::INSERT_API_KEY)
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
        let row = sqlx::query_as::<_, rows::KeyRow>(sql::API_KEY)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let rows = sqlx::query_as::<_, rows::KeyRow>(sql::API_KEYS)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(sql::REVOKE_API_KEY)
            .bind(at_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn code_seen(&self, code_hash: &[u8]) -> Result<bool> {
        self.seen.code_seen(code_hash).await
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
        let row = sqlx::query_as::<_, rows::AuditRow>(sql::VERIFICATION)
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
        let row = sqlx::query_as::<_, rows::IdentityRow>(sql::IDENTITY)
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
        let rows = sqlx::query_as::<_, rows::AuditRow>(sql::AUDIT_PAGE)
            .bind(after_seq)
            .bind(since_ms.unwrap_or(i64::MIN))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query_as::<_, rows::AuditRow>(sql::RECENT)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn chain_state(&self) -> Result<ChainState> {
        let states = self.chain_states().await?;
        Ok(states
            .into_iter()
            .find(|c| c.chain == 1)
            .unwrap_or_default())
    }

    async fn chain_states(&self) -> Result<Vec<ChainState>> {
        // One statement, one snapshot: heads and checkpoints agree even while others append or purge.
        type Row = (
            i32,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
        );
        let rows: Vec<Row> = sqlx::query_as(CHAIN_STATES).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| ChainState {
                chain: u32::try_from(r.0).unwrap_or(0),
                head: maybe_link(r.1, r.2, r.3, r.4),
                checkpoint: maybe_link(r.5, r.6, r.7, r.8),
            })
            .collect())
    }

    async fn prune(&self, codes_before_ms: i64, idempotency_before_ms: i64) -> Result<(u64, u64)> {
        let codes = sqlx::query(sql::FORGET_CODES)
            .bind(codes_before_ms)
            .execute(&self.pool)
            .await?;
        let idem = sqlx::query(sql::FORGET_IDEMPOTENT_ANSWERS)
            .bind(idempotency_before_ms)
            .execute(&self.pool)
            .await?;
        Ok((codes.rows_affected(), idem.rows_affected()))
    }

    async fn purge_audit(&self, before_ms: i64, now_ms: i64) -> Result<PurgeReport> {
        let mut tx = self.pool.begin().await?;
        let mut report = PurgeReport::default();
        for chain in chain_ids(&mut tx).await? {
            // Hold the chain's head so that no process appends to it between choosing the checkpoint and
            // deleting (heads are taken in chain order, as by every purge).
            sqlx::query(HEAD_FOR_UPDATE)
                .bind(chain as i32)
                .execute(&mut *tx)
                .await?;
            let (genesis, end) = (
                crate::chain::base(chain),
                crate::chain::base(chain.saturating_add(1)),
            );
            // Only a prefix of the chain can go: stop at the first row that is new enough to keep.
            let keep_from: Option<i64> = sqlx::query_scalar(sql::PURGE_KEEP_FROM)
                .bind(before_ms)
                .bind(genesis)
                .bind(end)
                .fetch_one(&mut *tx)
                .await?;
            let last: Option<(i64, Vec<u8>)> = sqlx::query_as(sql::PURGE_LAST)
                .bind(keep_from.unwrap_or(end))
                .bind(genesis)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((seq, hash)) = last else {
                continue;
            };
            // The signed checkpoint first, then the rows: the trigger lets a delete through only up to the
            // position the chain's permit names, and the permit lives only inside this transaction.
            let cp = writes::new_checkpoint(&self.keys, seq, hash, now_ms);
            sqlx::query(sql::WRITE_CHECKPOINT)
                .bind(cp.seq)
                .bind(&cp.hash)
                .bind(cp.at_ms)
                .bind(&cp.mac)
                .bind(chain as i32)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::GRANT_PURGE_PERMIT)
                .bind(seq)
                .bind(chain as i32)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(sql::PURGE_ROWS)
                .bind(seq)
                .bind(genesis)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sql::DROP_PURGE_PERMIT)
                .execute(&mut *tx)
                .await?;
            report.rows_deleted += done.rows_affected();
            report.checkpoint_seq = Some(seq);
            report.chains_purged += 1;
        }
        let codes = sqlx::query(sql::FORGET_CODES)
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        report.codes_forgotten = codes.rows_affected();
        sqlx::query(sql::FORGET_IDEMPOTENCY)
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
    fn our_parameters_are_taken_and_the_rest_goes_to_sqlx() {
        let take = |u: &str| take_params(u).map(|(url, p)| (url, p.pool_size, p.append_workers));
        assert_eq!(
            take("postgres://h/db?pool_size=3&options=-c%20x%3Dy").unwrap(),
            ("postgres://h/db?options=-c%20x%3Dy".into(), 3, 1)
        );
        assert_eq!(
            take("postgres://h/db?pool_size=4&append_workers=2").unwrap(),
            ("postgres://h/db".into(), 4, 2)
        );
        assert_eq!(
            take("postgres://h/db").unwrap(),
            ("postgres://h/db".into(), DEFAULT_POOL_SIZE, 1)
        );
        for bad in [
            "pool_size=0",
            "pool_size=x",
            "append_workers=0",
            "append_workers=5",
        ] {
            assert!(take(&format!("postgres://h/db?{bad}")).is_err(), "{bad}");
        }
    }
}
