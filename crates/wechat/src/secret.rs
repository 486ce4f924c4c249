//! Secrets the client handles: the app secret and access tokens. Neither ever shows in `Debug` output.
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

/// A mini program's AppSecret.
#[derive(Clone)]
pub struct AppSecret(SecretString);

impl AppSecret {
    pub fn new(secret: String) -> Self {
        Self(SecretString::from(secret))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for AppSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecret([redacted])")
    }
}

impl From<SecretString> for AppSecret {
    fn from(s: SecretString) -> Self {
        Self(s)
    }
}

/// An access token. Its `Debug` shows only the [fingerprint](AccessToken::fingerprint).
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// Wraps a token, e.g. one read back from a shared token store.
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
    /// The first 12 hex digits of the token's SHA-256: enough to tell tokens apart in logs and status pages,
    /// useless to an attacker (a token has far more entropy than 48 bits to search).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.expose().as_bytes());
        hex::encode(&digest[..6])
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(fp={})", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = AppSecret::new("s3cr3t-app-secret".into());
        assert_eq!(format!("{secret:?}"), "AppSecret([redacted])");
        assert_eq!(secret.expose(), "s3cr3t-app-secret");

        let token = AccessToken::new("TOKEN-abcdefghijklmnop".into());
        let debug = format!("{token:?}");
        assert!(!debug.contains("TOKEN-abcdefghijklmnop"), "{debug}");
        assert!(debug.contains(&token.fingerprint()));
    }

    #[test]
    fn fingerprint_is_short_stable_and_distinguishes() {
        let a = AccessToken::new("token-a".into());
        let b = AccessToken::new("token-b".into());
        assert_eq!(a.fingerprint().len(), 12);
        assert_eq!(
            a.fingerprint(),
            AccessToken::new("token-a".into()).fingerprint()
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
    }
}
