//! The store's one error type. Messages name the operation, never row contents.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[cfg(feature = "postgres")]
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[cfg(feature = "sqlite")]
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[cfg(feature = "postgres")]
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store a read-only (or an existing-store-only) open was pointed at does not exist: no SQLite file, or
    /// no tables in the PostgreSQL schema. The text says where it looked (never a password).
    #[error("no wxrealname store {0}")]
    NotFound(String),
    #[error("store configuration: {0}")]
    Config(String),
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    /// The database could not be reached, or a commit's outcome is unknown because the connection broke.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
