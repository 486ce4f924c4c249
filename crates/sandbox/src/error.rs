//! The crate's one error type, for the in-process admin actions of [`crate::SandboxState`].
//!
//! Layers: WeChat-side failures are not Rust errors at all but answers (`{"errcode", "errmsg"}`, built in
//! [`crate::wx`]); this enum is what the admin actions return, and [`crate::admin`] maps it onto the
//! `{"error": {"code", "message"}}` envelope. No variant carries a name, an ID number or a secret.

/// Why an admin action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no app with appid {0}")]
    UnknownApp(String),
    #[error("app {appid} has no user with openid {openid}")]
    UnknownUser { appid: String, openid: String },
    #[error("{0}")]
    InvalidRequest(String),
}

impl SandboxError {
    /// The stable machine code of the admin API's error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownApp(_) => "unknown_app",
            Self::UnknownUser { .. } => "unknown_user",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }
}

pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
