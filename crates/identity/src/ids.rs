//! WeChat identifiers.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an appid is 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")]
    AppId,
    #[error("an openid is 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'")]
    OpenId,
}

impl IdError {
    /// Stable machine code: `appid` or `openid`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AppId => "appid",
            Self::OpenId => "openid",
        }
    }
}

/// A plain token: what both WeChat identifiers are made of, and nothing that could smuggle markup or
/// separators into a URL or a log line.
fn plain(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A mini program's appid (`wx` followed by 16 hex digits at WeChat; any plain token is accepted).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if plain(s, 64) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::AppId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user's openid under one mini program. A pseudonymous identifier, not a name: it may be logged.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct OpenId(String);

impl OpenId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if plain(s, 128) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::OpenId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_conversions {
    ($t:ident) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_conversions!(AppId);
string_conversions!(OpenId);
