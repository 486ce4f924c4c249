//! The crate's one error type, and its conversions into the errors of the traits this crate implements:
//! [`wechat::Error::Store`] for the token store and [`limits::LimitError`] for the limiter.
//!
//! No message ever holds a token, a lock value, a counter or the URL's password. Messages are built from the
//! operation's fixed name and the Redis client's error, whose text names the failure (refused, timed out,
//! `WRONGTYPE`, ...) and never the arguments of the command.

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The longest detail kept from the Redis client's error, in characters.
const DETAIL_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The URL does not parse, or names a scheme this build cannot serve.
    #[error("invalid Redis URL: {0}")]
    Config(String),
    /// Redis did not answer within the per-call time limit (connecting included).
    #[error("redis {op} timed out after {after_ms} ms")]
    Timeout { op: &'static str, after_ms: u64 },
    /// Connecting failed, the connection broke, or Redis answered with an error.
    #[error("redis {op} failed: {detail}")]
    Redis { op: &'static str, detail: String },
    /// Redis answered something this crate did not write (another program shares the prefix?).
    #[error("redis {op}: unexpected reply")]
    Unexpected { op: &'static str },
}

impl Error {
    pub(crate) fn redis(op: &'static str, err: &redis::RedisError) -> Self {
        let text = err.to_string();
        let detail = match text.char_indices().nth(DETAIL_MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text,
        };
        Self::Redis { op, detail }
    }
}

impl From<Error> for wechat::Error {
    fn from(err: Error) -> Self {
        wechat::Error::Store(err.to_string())
    }
}

impl From<Error> for limits::LimitError {
    fn from(err: Error) -> Self {
        limits::LimitError(err.to_string())
    }
}
