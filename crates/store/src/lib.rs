//! Storage for the wxrealname gateway: the audit chain, the identity registry, API keys, the replay guard and
//! idempotency records, behind one object-safe [`Store`] trait.
//!
//! No method takes a raw name or ID number: callers hand in masked forms and keyed blind indexes only.
//!
//! # Layout
//! - [`model`]: the rows, as plain structs.
//! - [`chain`]: the audit hash chain (canonical bytes, hashing, signed heads and checkpoints, verification),
//!   the same for every backend; [`anchor`]: signed heads kept outside the database.
//! - `sqlite` (feature `sqlite`, on by default): the embedded default backend, with group commit through one
//!   writer thread.
//! - `postgres` (feature `postgres`, on by default): the shared backend for several gateway processes; group
//!   commit per process, the chain serialised in the database.
//! - `writes`, `rows` and `sql` (private): what both SQL backends share: the writer-task protocol and the chain's
//!   links, the row structs, and the text of every statement the two dialects agree on.
//! - [`files`]: owner-only modes for the data directory and the database files.
//! - [`open`] / [`open_with`]: picks a backend from a database URL; [`OpenMode`] says whether a missing store
//!   is created, and whether it may be written.

pub mod anchor;
pub mod chain;
mod error;
pub mod files;
pub mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod writes;

use async_trait::async_trait;
use std::sync::Arc;

pub use error::{Error, Result};
pub use model::*;

/// Everything the gateway keeps. One implementation per database; the gateway holds it as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// A cheap round trip to the database, for `/readyz`.
    async fn ping(&self) -> Result<()>;

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>>;
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Returns false when no live key has that id.
    async fn revoke_api_key(&self, id: &str, at_ms: i64) -> Result<bool>;

    /// Whether a code (by hash) was already reserved. A read, used before spending a rate-limit slot.
    async fn code_seen(&self, code_hash: &[u8]) -> Result<bool>;
    /// Atomically reserve a code; false when it was already reserved. Durable before it returns.
    async fn reserve_code(&self, code_hash: &[u8], appid: &str, at_ms: i64) -> Result<bool>;
    /// Forget a reservation: only for a code that provably never reached WeChat, so that it can be sent again.
    /// Durable before it returns.
    async fn release_code(&self, code_hash: &[u8]) -> Result<()>;

    /// Start an idempotent request, or find the answer of an earlier one with the same key.
    async fn begin_idempotent(&self, begin: &IdemBeginRequest) -> Result<IdemBegin>;
    /// Forget an in-progress idempotency record (the request ended without touching WeChat).
    async fn abort_idempotent(&self, key_id: &str, idem_key: &str) -> Result<()>;

    /// Append one audit row, and in the same transaction bind the identity on a match and store the
    /// idempotent answer. Committed (durable) before it returns.
    async fn append(&self, entry: NewAuditEntry, opts: AppendOptions) -> Result<AuditRecord>;

    async fn verification(&self, id: &str) -> Result<Option<AuditRecord>>;
    /// The newest provider verdict of an idcheck ([`KIND_IDCHECK`], outcome `match` or `mismatch`, billed) for
    /// this pair (the blind index of name + ID number) at or after `since_ms`: the answer the idcheck cache
    /// repeats. A row answered from the cache is not billed, so it is never a source: a cached answer does not
    /// make the verdict it repeats any younger.
    async fn idcheck_verdict(
        &self,
        blind_pair: &[u8],
        since_ms: i64,
    ) -> Result<Option<AuditRecord>>;
    async fn identity(&self, appid: &str, openid: &str) -> Result<Option<IdentityRecord>>;
    /// Forget a user's identity binding (the user's erasure request); false when there was none. Durable before it
    /// returns. Audit rows are kept (masked values and blind indexes only) until the audit retention purges them.
    async fn delete_identity(&self, appid: &str, openid: &str) -> Result<bool>;

    /// Audit rows in chain order with `seq > after_seq` (and `at >= since_ms` when given), at most `limit`.
    async fn audit_page(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>>;
    /// The newest rows, newest first.
    async fn recent(&self, limit: i64) -> Result<Vec<AuditRecord>>;
    /// The first chain's signed head and purge checkpoint, read together (a SQLite store's only chain).
    async fn chain_state(&self) -> Result<ChainState>;
    /// Every chain's signed head and purge checkpoint, read together, by chain number; chain 1 is always there
    /// (with no head if it was deleted). PostgreSQL holds a chain per gateway process that appended (see
    /// [`chain::POSITION_BITS`]).
    async fn chain_states(&self) -> Result<Vec<ChainState>>;
    /// Delete audit rows older than `before_ms` (from the start of each chain only), after writing a signed
    /// checkpoint per chain so the rest still verifies; the only way audit rows are deleted (a trigger refuses any other
    /// delete). Also forgets replay-guard entries older than `before_ms`.
    async fn purge_audit(&self, before_ms: i64, now_ms: i64) -> Result<PurgeReport>;
    /// Forget replay-guard entries used before `codes_before_ms` and finished idempotency answers created before
    /// `idempotency_before_ms` (the retention settings); returns how many of each. The audit rows stay.
    async fn prune(&self, codes_before_ms: i64, idempotency_before_ms: i64) -> Result<(u64, u64)>;
}

/// How [`open_with`] treats a store that is not there yet, and whether it may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create what is missing (the SQLite file and its directory; the tables) and migrate: for the commands that
    /// start a gateway or make its first API key.
    Create,
    /// The store must exist already ([`Error::NotFound`] otherwise); it is migrated and may be written: for
    /// commands that change an existing store (`keys revoke`, `audit purge`).
    Existing,
    /// The store must exist already and is opened read-only: no migration, and every write fails (SQLite
    /// `PRAGMA query_only`; PostgreSQL `default_transaction_read_only`). For commands that only read, so a wrong
    /// `data_dir` or `database_url` is an error rather than a new, empty store that "verifies".
    ReadOnly,
}

/// Open the store a URL names, creating it if missing: `sqlite://PATH`, or `postgres://...` /
/// `postgresql://...` (see [`postgres::PgStore::open`] for the query parameters). Migrations run before it
/// returns, and the chain's head and checkpoint are signed with `keys` where this release's migration found them
/// unsigned (see `writes::seal`).
pub async fn open(url: &str, keys: chain::AuditKeys) -> Result<Arc<dyn Store>> {
    open_with(url, OpenMode::Create, keys).await
}

/// Open the store a URL names, as `mode` says. `keys` sign the audit chain's ends (nothing is signed read-only).
pub async fn open_with(
    url: &str,
    mode: OpenMode,
    keys: chain::AuditKeys,
) -> Result<Arc<dyn Store>> {
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(Arc::new(
            sqlite::SqliteStore::open_with(std::path::Path::new(path), mode, keys).await?,
        ));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            postgres::PgStore::open_with(url, mode, keys).await?,
        ));
    }
    drop(keys);
    {
        // Only the scheme: the rest of a URL may hold a password.
        Err(Error::Config(format!(
            "unsupported database URL scheme {:?}: use sqlite://PATH or postgres://...",
            url.split_once("://").map_or("", |(scheme, _)| scheme)
        )))
    }
}
