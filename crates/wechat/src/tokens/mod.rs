//! Access tokens: the provider trait, the store behind it, and the single-flight manager.
//!
//! - [`TokenProvider`]: what callers use: `token()`, `invalidate(&failed)`, `status()`.
//! - [`TokenStore`] (`store.rs`): where tokens live, with a refresh lock so that only one holder of a shared
//!   store refreshes; [`MemoryTokenStore`] is the in-process one.
//! - [`TokenManager`] (`manager.rs`): the provider over a store and a [`crate::Client`].
use crate::{AccessToken, Error};
use serde::{Deserialize, Serialize};
use std::fmt::{self, Debug};
use std::time::SystemTime;

mod manager;
mod store;

pub use manager::TokenManager;
pub use store::{LockToken, MemoryTokenStore, StoredToken, TokenKey, TokenStore};

/// Which WeChat endpoint issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// `cgi-bin/stable_token`: the same token for every caller, so instances do not invalidate each other.
    #[default]
    Stable,
    /// `cgi-bin/token`: each fetch replaces the previous token (after a grace period).
    Classic,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Classic => "classic",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's view of its token, for status pages. Holds no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenStatus {
    pub kind: TokenKind,
    /// A token is held and has not expired.
    pub cached: bool,
    pub fetched_at: Option<SystemTime>,
    pub expires_at: Option<SystemTime>,
    pub refresh_at: Option<SystemTime>,
    /// Upstream fetches attempted by this provider.
    pub fetches: u64,
    /// Refreshes that failed.
    pub failures: u64,
    /// The last refresh failure, if the last refresh failed.
    pub last_error: Option<String>,
}

#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + Debug {
    /// A token believed valid: the cached one, or the result of the one refresh in flight.
    async fn token(&self) -> Result<AccessToken, Error>;
    /// WeChat rejected `failed`: forget it, but only if it is still the cached token (a newer one stays).
    async fn invalidate(&self, failed: &AccessToken);
    fn status(&self) -> TokenStatus;
}
