//! The writer: group commit for one process, in two lanes, each a task with a connection of its own, so that a
//! batch costs as few round trips to the server as it can.
//!
//! - The **chain lane** appends to a chain of this process's own ([`Chain`]: a session advisory lock keeps other
//!   processes off it, so their appends never wait for ours). It takes the queued appends (up to [`MAX_BATCH`])
//!   and writes them in ONE statement ([`APPEND`]): the audit rows, the identity bindings and the idempotent
//!   answers, each kind as one multi-row `INSERT`/`UPDATE` over arrays, all gated on a compare-and-swap of its
//!   chain's `chain_head` row from the head the lane last wrote (or read and checked to be signed) to the new
//!   signed head. In autocommit that statement is one durable transaction: a batch is one round trip. Should the
//!   swap miss (another session extended the chain: only when two sessions share one, e.g. after a lost
//!   connection), nothing was written, and the same statement answers with the head as it is now; once its
//!   signature is checked, the batch is linked to it and sent again. A batch that loses the swap [`SWAPS`] times
//!   is written in a transaction that first locks the head (`SELECT ... FOR UPDATE`), so it gets its turn.
//! - The **row lane** takes every other write: the code reservations of a batch in one statement
//!   ([`RESERVE_CODES`]), the rarer writes (releases, erasures, idempotency starts and aborts) one by one
//!   ([`ROW_WORKERS`] worker). Reservations never wait behind an append batch, and touch nothing an append locks.
//!
//! Each write is answered after the statement or transaction that holds it commits. Lock order: the chain lane
//! takes the head before any identity or idempotency row (its sub-statements wait for the head's swap), and the
//! row lane holds at most one such row at a time, so the two lanes of any number of processes cannot deadlock;
//! reservations are inserted in the order of their hashes, so two processes' batches cannot either.
//!
//! Failures are sorted by what they leave behind:
//! - the database rejected a statement (constraint, ...): nothing of it was committed, so each of its writes is
//!   retried on its own and one bad write cannot fail its neighbours;
//! - no connection: nothing was sent, every caller gets [`Error::Unavailable`];
//! - the connection failed while a statement or `COMMIT` was under way: the writes may be stored or not, so they
//!   are not retried (a retried reservation would report its own code as replayed); callers get
//!   [`Error::Unavailable`], and the chain lane reads the head again before its next batch.
//!
//! A lane never stops on an error: it drops a failed connection and takes a fresh one for its next batch.

use crate::chain::AuditKeys;
use crate::model::*;
use crate::sql::pg as sql;
use crate::writes::{self, Done, IdemFound, IdemNext, MAX_BATCH, Write, on_existing_key};
use crate::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One batch of appends: the rows (25 arrays, in the column order of `audit`), the identity bindings, the
/// idempotent answers, all written only if the head is still `($5, $6, $7)`, which becomes the signed
/// `($1, $2, $3, $4)`. `head` runs first (the others wait for it through `EXISTS`), so its row lock is the first
/// one taken. Returns 1 when the swap matched; 0 when it missed (and nothing was written) with the head as it is
/// now: a locking read in READ COMMITTED sees the latest committed version, not the statement's snapshot (and
/// no head at all when the row is gone).
const APPEND: &str = "WITH head AS (
        UPDATE chain_head SET seq = $1, hash = $2, at = $3, mac = $4
        WHERE id = $46 AND seq = $5 AND hash = $6 AND mac = $7 RETURNING 1
    ), audit_rows AS (
        INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred,
            blind_pair, key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor,
            latency_ms, prev_hash, hash, kind, provider, billed, consent_ref)
        SELECT * FROM UNNEST($8::bigint[], $9::text[], $10::bigint[], $11::text[], $12::text[], $13::text[],
            $14::text[], $15::text[], $16::bytea[], $17::bytea[], $18::integer[], $19::text[], $20::text[],
            $21::text[], $22::bigint[], $23::text[], $24::text[], $25::boolean[], $26::bigint[], $27::bytea[],
            $28::bytea[], $29::text[], $30::text[], $31::boolean[], $32::text[])
        WHERE EXISTS (SELECT 1 FROM head)
    ), bound AS (
        INSERT INTO identities (appid, openid, verification_id, verified_at, masked_name, masked_cred_id,
            blind_cred, blind_pair, key_version)
        SELECT * FROM UNNEST($33::text[], $34::text[], $35::text[], $36::bigint[], $37::text[], $38::text[],
            $39::bytea[], $40::bytea[], $41::integer[])
        WHERE EXISTS (SELECT 1 FROM head)
        ON CONFLICT (appid, openid) DO UPDATE SET verification_id = excluded.verification_id,
            verified_at = excluded.verified_at, masked_name = excluded.masked_name,
            masked_cred_id = excluded.masked_cred_id, blind_cred = excluded.blind_cred,
            blind_pair = excluded.blind_pair, key_version = excluded.key_version
    ), answered AS (
        UPDATE idempotency i SET status = a.status, body = a.body
        FROM UNNEST($42::integer[], $43::text[], $44::text[], $45::text[]) AS a (status, body, key_id, idem_key)
        WHERE i.key_id = a.key_id AND i.idem_key = a.idem_key AND EXISTS (SELECT 1 FROM head)
    ), latest AS (
        SELECT seq, hash, at, mac FROM chain_head WHERE id = $46 AND NOT EXISTS (SELECT 1 FROM head) FOR SHARE
    )
    SELECT (SELECT count(*) FROM head), l.seq, l.hash, l.at, l.mac FROM (SELECT 1) one LEFT JOIN latest l ON true";

/// A batch's code reservations, each code once and in order: the codes this statement reserved come back.
const RESERVE_CODES: &str = "INSERT INTO used_codes (code_hash, appid, used_at)
    SELECT * FROM UNNEST($1::bytea[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING RETURNING code_hash";

/// Take chain `$1` for this session, if no other session holds it. The lock's first key is the schema's, so
/// stores in different schemas of one database do not contend.
const TRY_CLAIM: &str =
    "SELECT pg_try_advisory_lock(hashtext(current_schema() || '/wxrealname-chain'), $1)";
/// The same, waiting (for as long as the transaction's `lock_timeout` lets it).
const CLAIM: &str =
    "SELECT pg_advisory_lock(hashtext(current_schema() || '/wxrealname-chain'), $1)";
/// A new chain: its genesis head, signed. Nothing if another process made it first.
const NEW_CHAIN: &str =
    "INSERT INTO chain_head (id, seq, hash, at, mac) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (id) DO NOTHING";
/// How long a process waits for the lowest chain when every chain is held, before it starts a chain of its own:
/// a process that has just stopped (or a store just dropped) may still be letting its chain go.
const CLAIM_WAIT: &str = "200ms";

/// A lane's connection is tested again (a ping) after this long unused: a server restart or a network cut while
/// idle fails the test rather than the next batch.
const IDLE_RETEST: Duration = Duration::from_secs(1);

enum Failed {
    Rejected(Error),
    /// No connection, so nothing was sent. `waited`: the pool gave up after its acquire timeout.
    Lost {
        msg: String,
        waited: bool,
    },
    /// The connection failed while a write was under way.
    Unknown(String),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        match e {
            Error::Database(e) if is_connection_error(&e) => Failed::Unknown(e.to_string()),
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

/// Which writes a lane takes, and what the chain lane remembers between batches.
pub(super) enum Lane {
    Chain(Chain),
    Rows,
}

impl Lane {
    /// One of the chain lane's [`CHAIN_WORKERS`] workers.
    pub(super) fn chain(keys: AuditKeys, shared: Arc<tokio::sync::Mutex<ChainShared>>) -> Self {
        Lane::Chain(Chain::new(keys, shared))
    }

    /// A batch split into the parts that are each written by one statement (or transaction).
    fn units(&self, batch: Vec<Write>) -> Vec<Vec<Write>> {
        match self {
            Lane::Chain(_) => vec![batch],
            Lane::Rows => {
                let (codes, rest): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .partition(|w| matches!(w, Write::ReserveCode { .. }));
                let mut units = Vec::with_capacity(rest.len() + 1);
                if !codes.is_empty() {
                    units.push(codes);
                }
                units.extend(rest.into_iter().map(|w| vec![w]));
                units
            }
        }
    }

    async fn apply(
        &mut self,
        conn: &mut PgConnection,
        fresh: bool,
        writes: &[Write],
    ) -> Result<Vec<Done>, Failed> {
        match self {
            Lane::Chain(chain) => chain.append(conn, fresh, writes).await,
            Lane::Rows => match writes {
                [one] if !matches!(one, Write::ReserveCode { .. }) => {
                    Ok(vec![apply_row(conn, one).await?])
                }
                codes => reserve(conn, codes).await,
            },
        }
    }
}

/// The lane's connection, kept from batch to batch; tested after a pause, and a fresh one from the pool after a
/// failure.
struct Held {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    used: Instant,
    trouble: Arc<super::Trouble>,
}

impl Held {
    /// The connection, and whether it came from the pool just now (it may then be another session).
    async fn get(&mut self) -> Result<(&mut PgConnection, bool), Failed> {
        if (self.used.elapsed() > IDLE_RETEST || self.trouble.recent())
            && let Some(c) = self.conn.as_mut()
            && c.ping().await.is_err()
        {
            self.discard();
            self.trouble.note();
        }
        self.used = Instant::now();
        let (conn, fresh) = match self.conn.take() {
            Some(c) => (c, false),
            None => (
                self.pool.acquire().await.map_err(|e| Failed::Lost {
                    waited: matches!(e, sqlx::Error::PoolTimedOut),
                    msg: e.to_string(),
                })?,
                true,
            ),
        };
        Ok((&mut **self.conn.insert(conn), fresh))
    }

    /// Close the connection rather than give it back to the pool, which would hand it out again untested.
    fn discard(&mut self) {
        if let Some(mut c) = self.conn.take() {
            c.close_on_drop();
        }
    }
}

/// A lane's queue, shared by its workers: whichever worker is free takes what is queued.
pub(super) type Queue = Arc<tokio::sync::Mutex<mpsc::Receiver<Write>>>;

pub(super) async fn run(pool: PgPool, rx: Queue, mut lane: Lane, trouble: Arc<super::Trouble>) {
    let mut held = Held {
        pool,
        conn: None,
        used: Instant::now(),
        trouble,
    };
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut units = lane.units(std::mem::take(&mut batch)).into_iter();
        while let Some(unit) = units.next() {
            if let Some(msg) = settle(&mut held, &mut lane, unit).await {
                // Whoever queued meanwhile has already waited a whole acquire timeout: answer them now rather
                // than make them wait another one.
                let unavailable = || Err(Error::Unavailable(msg.clone()));
                units
                    .by_ref()
                    .flatten()
                    .for_each(|w| w.answer(unavailable()));
                // Unless another worker is taking the queue, in which case it answers what it takes.
                if let Ok(mut queued) = rx.try_lock() {
                    while let Ok(w) = queued.try_recv() {
                        w.answer(unavailable());
                    }
                }
                break;
            }
        }
    }
}

/// Write one unit and answer its writes; on a rejection, each of them on its own. Returns the error when the
/// pool gave up waiting for a connection.
async fn settle(held: &mut Held, lane: &mut Lane, unit: Vec<Write>) -> Option<String> {
    match apply(held, lane, &unit).await {
        Ok(done) => {
            for (w, d) in unit.into_iter().zip(done) {
                w.answer(Ok(d));
            }
            None
        }
        Err(Failed::Rejected(e)) if unit.len() > 1 => {
            tracing::warn!(error = %e, size = unit.len(), "store batch failed; retrying its writes one by one");
            one_by_one(held, lane, unit).await
        }
        Err(Failed::Rejected(e)) => {
            if let Some(w) = unit.into_iter().next() {
                w.answer(Err(e));
            }
            None
        }
        Err(Failed::Lost { msg, waited }) => {
            tracing::warn!(error = %msg, size = unit.len(), "database unreachable; store batch failed");
            for w in unit {
                w.answer(Err(Error::Unavailable(msg.clone())));
            }
            waited.then_some(msg)
        }
        Err(Failed::Unknown(msg)) => {
            tracing::error!(error = %msg, size = unit.len(), "connection lost while writing; the batch may or may not be stored");
            answer_unknown(unit, &msg);
            None
        }
    }
}

fn answer_unknown(unit: Vec<Write>, msg: &str) {
    for w in unit {
        w.answer(Err(Error::Unavailable(format!(
            "commit outcome unknown: {msg}"
        ))));
    }
}

async fn one_by_one(held: &mut Held, lane: &mut Lane, writes: Vec<Write>) -> Option<String> {
    let mut down: Option<(String, bool)> = None;
    for w in writes {
        if let Some((msg, _)) = &down {
            w.answer(Err(Error::Unavailable(msg.clone())));
            continue;
        }
        match apply(held, lane, std::slice::from_ref(&w)).await {
            Ok(mut d) => w.answer(Ok(d.remove(0))),
            Err(Failed::Rejected(e)) => w.answer(Err(e)),
            Err(Failed::Lost { msg, waited }) => {
                w.answer(Err(Error::Unavailable(msg.clone())));
                down = Some((msg, waited));
            }
            Err(Failed::Unknown(msg)) => answer_unknown(vec![w], &msg),
        }
    }
    down.and_then(|(msg, waited)| waited.then_some(msg))
}

async fn apply(held: &mut Held, lane: &mut Lane, writes: &[Write]) -> Result<Vec<Done>, Failed> {
    let result = match held.get().await {
        Ok((conn, fresh)) => lane.apply(conn, fresh, writes).await,
        Err(f) => Err(f),
    };
    if matches!(result, Err(Failed::Unknown(_) | Failed::Lost { .. })) {
        // Never reuse a connection that failed mid-write; the next batch takes a fresh one. Every other
        // connection of the store is suspect for a while too (see `Trouble`).
        held.discard();
        held.trouble.note();
    }
    result
}

/// How many times a batch is swapped in before the lane takes the head's lock for it: a batch that keeps losing
/// the swap to other processes still gets its turn.
const SWAPS: usize = 3;

/// How many batches of appends a process has in flight at once by default (`append_workers` in the database URL
/// sets 1 to 4), each on a connection of its own. With more than one, while one batch's statement travels to the
/// server and back, the next is already sent, linked to the head the first will end on, and the server holds it
/// on the head's row lock until the first commits. Measured interleaved with PostgreSQL 5 ms away (BENCHMARKS.md,
/// 4dab), two did fewer verifications per second than one, at more CPU per verification: the batches split in
/// two, and twice the statements cost more than the overlap saved. So one, by default.
pub(super) const CHAIN_WORKERS: usize = 1;

/// How many workers the row lane has, each with a connection of its own. Their writes are independent rows (a
/// code, an idempotency key), each settled by its primary key, so several workers would need not agree on
/// anything; one, for the reason [`CHAIN_WORKERS`] gives.
pub(super) const ROW_WORKERS: usize = 1;

/// What the chain lane's workers share: the chain this process appends to, and the head the batch started last
/// will end on if it commits (the next batch is linked to it), or `None` to read the head afresh.
///
/// Each process appends to a chain of its own (`crate::chain::POSITION_BITS`), held by a session advisory lock
/// on the connection of the worker that took it: the lowest chain no session holds, else (after a short wait for
/// the lowest) a new one. Nothing then makes one process's appends wait for another's. The lock is only what
/// keeps processes apart; correctness never rests on it: every batch is a compare-and-swap of its chain's head,
/// so a batch linked to a head that never committed (the batch before it failed), or two sessions that ever
/// append to one chain (a lock lost with its connection, say), write nothing and are linked again.
#[derive(Debug, Default)]
pub(super) struct ChainShared {
    chain: Option<u32>,
    expected: Option<ChainLink>,
}

/// One worker of the chain lane: its session, and whether it is the one holding the chain's lock.
pub(super) struct Chain {
    keys: AuditKeys,
    shared: Arc<tokio::sync::Mutex<ChainShared>>,
    /// This worker's session (backend process id), read whenever its connection is new from the pool.
    session: Option<i32>,
    /// The session with which this worker took the chain, if it did.
    claimed_with: Option<i32>,
}

impl Chain {
    pub(super) fn new(keys: AuditKeys, shared: Arc<tokio::sync::Mutex<ChainShared>>) -> Self {
        Chain {
            keys,
            shared,
            session: None,
            claimed_with: None,
        }
    }

    async fn append(
        &mut self,
        conn: &mut PgConnection,
        fresh: bool,
        writes: &[Write],
    ) -> Result<Vec<Done>, Failed> {
        let entries = writes
            .iter()
            .map(|w| match w {
                Write::Append { entry, opts, .. } => Ok((&**entry, opts)),
                _ => Err(Failed::Rejected(Error::Corrupt(
                    "a write other than an append in the chain lane".into(),
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if fresh || self.session.is_none() {
            self.session = Some(
                sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut *conn)
                    .await?,
            );
        }
        let result = self.try_append(conn, &entries).await;
        if result.is_err() {
            // Whatever happened, read (and check) the head again before the next batch.
            self.shared.lock().await.expected = None;
        }
        result
    }

    /// The chain to append to (taken for this process first, or again when the session that held it is gone),
    /// and the head the next batch is linked to.
    async fn next_from(
        &mut self,
        conn: &mut PgConnection,
        sh: &mut ChainShared,
    ) -> Result<(u32, ChainLink), Failed> {
        let lost = self.claimed_with.is_some() && self.claimed_with != self.session;
        let chain = match sh.chain {
            Some(c) if !lost => c,
            had => {
                let chain = claim(conn, &self.keys, had).await?;
                match had {
                    Some(c) if c != chain => tracing::info!(
                        chain,
                        "this process appends to another audit chain from now on (its session was replaced)"
                    ),
                    Some(_) => {}
                    None => tracing::debug!(chain, "this process appends to audit chain {chain}"),
                }
                sh.chain = Some(chain);
                sh.expected = None;
                self.claimed_with = self.session;
                chain
            }
        };
        let from = match sh.expected.take() {
            Some(h) => h,
            None => {
                let row: Option<super::LinkRow> = sqlx::query_as(sql::HEAD)
                    .bind(chain as i32)
                    .fetch_optional(&mut *conn)
                    .await?;
                writes::check_head(row.map(super::link), &self.keys)?
            }
        };
        Ok((chain, from))
    }

    /// The batch written under the head's row lock (the last resort after [`SWAPS`] misses).
    async fn write_locked<'a>(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chain: u32,
        entries: &'a [(&'a NewAuditEntry, &'a AppendOptions)],
    ) -> Result<Batch<'a>, Failed> {
        let row: Option<super::LinkRow> = sqlx::query_as(super::HEAD_FOR_UPDATE)
            .bind(chain as i32)
            .fetch_optional(&mut **tx)
            .await?;
        let from = writes::check_head(row.map(super::link), &self.keys)?;
        let batch = Batch::new(&self.keys, &from, entries);
        self.shared.lock().await.expected = Some(batch.head.clone());
        if !matches!(batch.write(tx, chain, &from).await?, Swap::Done) {
            return Err(Failed::Rejected(Error::Corrupt(
                "the audit chain head changed while locked".into(),
            )));
        }
        Ok(batch)
    }

    async fn try_append(
        &mut self,
        conn: &mut PgConnection,
        entries: &[(&NewAuditEntry, &AppendOptions)],
    ) -> Result<Vec<Done>, Failed> {
        let shared = self.shared.clone();
        let (chain, mut from, mut batch) = {
            let mut sh = shared.lock().await;
            let (chain, from) = self.next_from(conn, &mut sh).await?;
            let batch = Batch::new(&self.keys, &from, entries);
            sh.expected = Some(batch.head.clone());
            (chain, from, batch)
        };
        for _ in 0..SWAPS {
            match batch.write(&mut *conn, chain, &from).await? {
                Swap::Done => return Ok(batch.done()),
                // The head is elsewhere: the batch before this one failed or was linked again, or another
                // session extended the chain. Nothing was written. Go on from the head as it is, once it is
                // checked to be signed.
                Swap::Missed(now) => {
                    from = writes::check_head(now, &self.keys)?;
                    let mut sh = shared.lock().await;
                    batch = Batch::new(&self.keys, &from, entries);
                    sh.expected = Some(batch.head.clone());
                }
            }
        }
        let mut tx = conn.begin().await?;
        let locked = self.write_locked(&mut tx, chain, entries).await;
        let batch = match locked {
            Ok(batch) => batch,
            Err(e) => {
                // End the transaction now rather than at the connection's next statement: until then it would
                // hold the head's row lock, and the other worker's next batch would wait on it.
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        tx.commit().await.map_err(|e| match e {
            // The server answered: the transaction is rolled back for certain.
            e @ sqlx::Error::Database(_) => Failed::Rejected(e.into()),
            e => Failed::Unknown(e.to_string()),
        })?;
        Ok(batch.done())
    }
}

/// Take a chain for this session (see [`Chain`]): `prefer` first (the one this process had), then the lowest
/// free one; when every chain is held, wait [`CLAIM_WAIT`] for the lowest, then start a new chain.
async fn claim(conn: &mut PgConnection, keys: &AuditKeys, prefer: Option<u32>) -> Result<u32> {
    let mut ids = super::chain_ids(conn).await?;
    if let Some(p) = prefer {
        ids.retain(|n| *n != p);
        ids.insert(0, p);
    }
    for n in &ids {
        let got: bool = sqlx::query_scalar(TRY_CLAIM)
            .bind(*n as i32)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            return Ok(*n);
        }
    }
    let lowest = ids.iter().copied().min().unwrap_or(1);
    let mut tx = conn.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{CLAIM_WAIT}'"))
        .execute(&mut *tx)
        .await?;
    match sqlx::query(CLAIM)
        .bind(lowest as i32)
        .execute(&mut *tx)
        .await
    {
        Ok(_) => {
            // A session-level advisory lock outlives the transaction that took it.
            tx.commit().await?;
            return Ok(lowest);
        }
        Err(sqlx::Error::Database(_)) => tx.rollback().await?,
        Err(e) => return Err(e.into()),
    }
    loop {
        let next = super::chain_ids(conn)
            .await?
            .into_iter()
            .max()
            .unwrap_or(1)
            .checked_add(1)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| Error::Corrupt("no audit chain number left".into()))?;
        let genesis = writes::new_head(
            keys,
            crate::chain::base(next),
            crate::chain::GENESIS.to_vec(),
        );
        sqlx::query(NEW_CHAIN)
            .bind(next as i32)
            .bind(genesis.seq)
            .bind(&genesis.hash)
            .bind(genesis.at_ms)
            .bind(&genesis.mac)
            .execute(&mut *conn)
            .await?;
        let got: bool = sqlx::query_scalar(TRY_CLAIM)
            .bind(next as i32)
            .fetch_one(&mut *conn)
            .await?;
        if got {
            tracing::info!(
                chain = next,
                "started audit chain {next}: every other chain is held by another gateway process"
            );
            return Ok(next);
        }
    }
}

/// What [`APPEND`] did: wrote the batch, or found the head elsewhere (or gone).
enum Swap {
    Done,
    Missed(Option<ChainLink>),
}

/// A batch of appends linked from a head: the rows as stored (and answered), and the signed head they end on.
struct Batch<'a> {
    entries: &'a [(&'a NewAuditEntry, &'a AppendOptions)],
    records: Vec<AuditRecord>,
    head: ChainLink,
}

impl<'a> Batch<'a> {
    fn new(
        keys: &AuditKeys,
        from: &ChainLink,
        entries: &'a [(&'a NewAuditEntry, &'a AppendOptions)],
    ) -> Self {
        let mut last = from.clone();
        let records = entries
            .iter()
            .map(|(e, _)| {
                let r = writes::next_record(&last, e);
                last = writes::head_after(&r);
                r
            })
            .collect();
        Batch {
            entries,
            records,
            head: writes::new_head(keys, last.seq, last.hash),
        }
    }

    /// Run [`APPEND`]: whether `chain`'s head was still `from` (and the batch is written).
    async fn write(&self, conn: &mut PgConnection, chain: u32, from: &ChainLink) -> Result<Swap> {
        let rows = self.records.as_slice();
        // The latest match per user binds (the later rows of a batch are the later matches); one row each,
        // since one statement cannot update a row twice.
        let mut bind = BTreeMap::new();
        let mut answers = BTreeMap::new();
        for (r, (_, opts)) in rows.iter().zip(self.entries) {
            let e = &r.entry;
            if opts.bind_identity {
                bind.insert((e.appid.as_str(), e.openid.as_str()), e);
            }
            if let Some(a) = &opts.idempotent {
                answers.insert((a.key_id.as_str(), a.idem_key.as_str()), a);
            }
        }
        let bind: Vec<&NewAuditEntry> = bind.into_values().collect();
        let answers: Vec<&IdemAnswer> = answers.into_values().collect();
        type Answer = (
            i64,
            Option<i64>,
            Option<Vec<u8>>,
            Option<i64>,
            Option<Vec<u8>>,
        );
        let (swapped, seq, hash, at_ms, mac): Answer = sqlx::query_as(APPEND)
            .bind(self.head.seq)
            .bind(&self.head.hash)
            .bind(self.head.at_ms)
            .bind(&self.head.mac)
            .bind(from.seq)
            .bind(&from.hash)
            .bind(&from.mac)
            .bind(col(rows, |r| r.seq))
            .bind(col(rows, |r| r.entry.id.as_str()))
            .bind(col(rows, |r| r.entry.at_ms))
            .bind(col(rows, |r| r.entry.key_id.as_str()))
            .bind(col(rows, |r| r.entry.appid.as_str()))
            .bind(col(rows, |r| r.entry.openid.as_str()))
            .bind(col(rows, |r| r.entry.masked_name.as_str()))
            .bind(col(rows, |r| r.entry.masked_cred_id.as_str()))
            .bind(col(rows, |r| r.entry.blind_cred.as_slice()))
            .bind(col(rows, |r| r.entry.blind_pair.as_slice()))
            .bind(col(rows, |r| r.entry.key_version))
            .bind(col(rows, |r| r.entry.purpose.as_deref()))
            .bind(col(rows, |r| r.entry.outcome.as_deref()))
            .bind(col(rows, |r| r.entry.error_code.as_deref()))
            .bind(col(rows, |r| r.entry.errcode))
            .bind(col(rows, |r| r.entry.verify_openid.join(";")))
            .bind(col(rows, |r| r.entry.verify_real_name.as_deref()))
            .bind(col(rows, |r| r.entry.minor))
            .bind(col(rows, |r| r.entry.latency_ms))
            .bind(col(rows, |r| r.prev_hash.as_slice()))
            .bind(col(rows, |r| r.hash.as_slice()))
            .bind(col(rows, |r| r.entry.kind.as_str()))
            .bind(col(rows, |r| r.entry.provider.as_deref()))
            .bind(col(rows, |r| r.entry.billed))
            .bind(col(rows, |r| r.entry.consent_ref.as_deref()))
            .bind(col(&bind, |e| e.appid.as_str()))
            .bind(col(&bind, |e| e.openid.as_str()))
            .bind(col(&bind, |e| e.id.as_str()))
            .bind(col(&bind, |e| e.at_ms))
            .bind(col(&bind, |e| e.masked_name.as_str()))
            .bind(col(&bind, |e| e.masked_cred_id.as_str()))
            .bind(col(&bind, |e| e.blind_cred.as_slice()))
            .bind(col(&bind, |e| e.blind_pair.as_slice()))
            .bind(col(&bind, |e| e.key_version))
            .bind(col(&answers, |a| i32::from(a.status)))
            .bind(col(&answers, |a| a.body.as_str()))
            .bind(col(&answers, |a| a.key_id.as_str()))
            .bind(col(&answers, |a| a.idem_key.as_str()))
            .bind(chain as i32)
            .fetch_one(conn)
            .await?;
        Ok(match swapped {
            1 => Swap::Done,
            _ => Swap::Missed(super::maybe_link(seq, hash, at_ms, mac)),
        })
    }

    fn done(self) -> Vec<Done> {
        self.records
            .into_iter()
            .map(|r| Done::Record(Box::new(r)))
            .collect()
    }
}

/// One column of a batch's rows (audit rows, bindings, answers), as an array to bind.
fn col<'r, R, T>(rows: &'r [R], f: impl Fn(&'r R) -> T) -> Vec<T> {
    rows.iter().map(f).collect()
}

/// A batch's reservations in one statement: each code is sent once (in the order of the hashes, so that two
/// processes reserving overlapping codes take their rows in the same order), and only its first write in the
/// batch can win it.
async fn reserve(conn: &mut PgConnection, writes: &[Write]) -> Result<Vec<Done>, Failed> {
    let mut codes = BTreeMap::new();
    for (i, w) in writes.iter().enumerate() {
        let Write::ReserveCode {
            code_hash,
            appid,
            at_ms,
            ..
        } = w
        else {
            return Err(Failed::Rejected(Error::Corrupt(
                "a write other than a reservation among the reservations".into(),
            )));
        };
        codes
            .entry(code_hash.as_slice())
            .or_insert((i, appid.as_str(), *at_ms));
    }
    let won: Vec<Vec<u8>> = sqlx::query_scalar(RESERVE_CODES)
        .bind(codes.keys().copied().collect::<Vec<_>>())
        .bind(codes.values().map(|c| c.1).collect::<Vec<_>>())
        .bind(codes.values().map(|c| c.2).collect::<Vec<_>>())
        .fetch_all(conn)
        .await?;
    let won: HashSet<&[u8]> = won.iter().map(Vec::as_slice).collect();
    Ok(writes
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let first = matches!(w, Write::ReserveCode { code_hash, .. }
                if won.contains(code_hash.as_slice()) && codes[code_hash.as_slice()].0 == i);
            Done::Bool(first)
        })
        .collect())
}

/// One of the row lane's rarer writes, in a statement (or for a take-over, a transaction) of its own.
async fn apply_row(conn: &mut PgConnection, w: &Write) -> Result<Done> {
    match w {
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
        Write::ReserveCode { .. } | Write::Append { .. } => Err(Error::Corrupt(
            "a reservation or an append outside its batch".into(),
        )),
    }
}

/// fingerprint, created_at, status, body
type IdemRow = (Vec<u8>, i64, Option<i32>, Option<String>);

async fn begin_idempotent(conn: &mut PgConnection, b: &IdemBeginRequest) -> Result<IdemBegin> {
    // Insert first, then look: two processes starting the same key cannot both see "absent". The look and a
    // take-over of a stale record share a transaction, whose row lock (FOR UPDATE) makes a concurrent take-over
    // wait and then see the record fresh. An abort in another process can delete the record between the
    // insert and the look: then insert again.
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
        let mut tx = conn.begin().await?;
        let found: Option<IdemRow> = sqlx::query_as(
            "SELECT fingerprint, created_at, status, body FROM idempotency
             WHERE key_id = $1 AND idem_key = $2 FOR UPDATE",
        )
        .bind(&b.key_id)
        .bind(&b.idem_key)
        .fetch_optional(&mut *tx)
        .await?;
        // Every way out of the transaction ends it now: a dropped transaction's ROLLBACK waits for the
        // connection's next statement, and this worker's connection may sit idle meanwhile, holding the row.
        let Some((fingerprint, created_at, status, body)) = found else {
            tx.rollback().await?;
            continue;
        };
        let found = IdemFound {
            fingerprint,
            created_at,
            status: status.map(i64::from),
            body,
        };
        let next = on_existing_key(found, b);
        if !matches!(next, Ok(IdemNext::TakeOver)) {
            tx.rollback().await?;
            return match next? {
                IdemNext::Answer(a) => Ok(a),
                IdemNext::TakeOver => Err(Error::Corrupt("idempotency take-over".into())),
            };
        }
        sqlx::query(sql::RESTART_IDEMPOTENT)
            .bind(b.now_ms)
            .bind(&b.key_id)
            .bind(&b.idem_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(IdemBegin::Started);
    }
    Err(Error::Unavailable(
        "idempotency record kept changing under concurrent requests".into(),
    ))
}
