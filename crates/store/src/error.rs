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
