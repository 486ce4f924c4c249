//! For the operator: the effective configuration with its secrets redacted (`wxrealname config show`), and the
//! checks that need more than the file (`wxrealname config check`): are the secrets it names set, can the files
//! it names be read.

use super::Config;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// What a redacted secret shows.
pub const REDACTED: &str = "<redacted>";

/// Something `config check` found that would stop the gateway (or one of its parts) from working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key to fix, dotted (`apps`, `blind_index.key_env`).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

impl Config {
    /// The configuration as TOML, as the gateway would use it: defaults filled in, relative paths resolved,
    /// the database URL spelled out, secrets replaced by `<redacted>` (and passwords in URLs by `***`).
    pub fn to_redacted_toml(&self) -> String {
        let mut doc = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let secret = |s: &Option<SecretString>| s.as_ref().map(|_| toml::Value::from(REDACTED));
        doc.insert(
            "database_url".into(),
            redact_url(self.database_url().expose_secret()).into(),
        );
        if let Some(url) = &self.redis_url {
            doc.insert("redis_url".into(), redact_url(url.expose_secret()).into());
        }
        if let Some(v) = secret(&self.admin_token) {
            doc.insert("admin_token".into(), v);
        }
        if let Some(toml::Value::Table(bi)) = doc.get_mut("blind_index") {
            if let Some(v) = secret(&self.blind_index.key) {
                bi.insert("key".into(), v);
            }
            if let Some(toml::Value::Array(prev)) = bi.get_mut("previous") {
                for (t, p) in prev.iter_mut().zip(&self.blind_index.previous) {
                    if let (Some(t), Some(v)) = (t.as_table_mut(), secret(&p.key)) {
                        t.insert("key".into(), v);
                    }
                }
            }
        }
        if let Some(toml::Value::Array(apps)) = doc.get_mut("apps") {
            for (t, a) in apps.iter_mut().zip(&self.apps) {
                if let (Some(t), Some(v)) = (t.as_table_mut(), secret(&a.secret)) {
                    t.insert("secret".into(), v);
                }
            }
        }
        toml::to_string(&doc).unwrap_or_default()
    }

    /// What the gateway would fail on at start (or later) although the file itself is valid: a secret's
    /// variable unset, a key file missing or malformed, an anchor file inside `data_dir`, a CA file unreadable, a
    /// URL scheme it does not speak.
    /// Reads nothing but the environment and the named files; creates nothing.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut problem = |key: &str, message: String| {
            out.push(Problem {
                key: key.to_owned(),
                message,
            })
        };
        for app in &self.apps {
            if let Err(e) = app.secret() {
                problem("apps", format!("{}: {}", app.appid, plain(&e)));
            }
        }
        if let Err(e) = self.admin_token() {
            problem("admin_token_env", plain(&e));
        }
        if let Err(e) = crate::pii::Pii::check_keys(&self.blind_index, &self.data_dir) {
            problem("blind_index", plain(&e));
        }
        if let Some(message) = self.anchor_file_problem() {
            problem("audit.anchor_file", message);
        }
        if let Some(ca) = &self.upstream_ca_file {
            match std::fs::read_to_string(ca) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
                Ok(_) => problem(
                    "upstream_ca_file",
                    format!("{} holds no PEM certificate", ca.display()),
                ),
                Err(e) => problem("upstream_ca_file", format!("{}: {e}", ca.display())),
            }
        }
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            problem(
                "data_dir",
                format!("{} is not a directory", self.data_dir.display()),
            );
        }
        let db = self.database_url();
        let db = db.expose_secret();
        if !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|s| db.starts_with(s))
        {
            problem(
                "database_url",
                "must start with sqlite://, postgres:// or postgresql://".into(),
            );
        }
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                problem("redis_url", "must start with redis:// or rediss://".into());
            }
        }
        out
    }
}

/// The message of a [`super::ConfigError::Invalid`] without its "configuration:" prefix.
fn plain(e: &super::ConfigError) -> String {
    match e {
        super::ConfigError::Invalid(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A URL with its password (in the user part or a `password=` parameter) replaced by `***`.
fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        // Not a URL we can take apart: show only its scheme.
        return match text.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://{REDACTED}"),
            None => REDACTED.to_owned(),
        };
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query_pairs().any(|(k, _)| k == "password") {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_only() {
        assert_eq!(
            redact_url("postgres://wx:s3cret@db:5432/wx?sslmode=require&password=p2"),
            "postgres://wx:***@db:5432/wx?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/wx.db"),
            "sqlite:///var/lib/wx.db"
        );
    }

    #[test]
    fn show_redacts_every_secret() {
        let mut cfg = Config {
            admin_token: Some("admin-s3cret".to_owned().into()),
            database_url: Some("postgres://u:db-s3cret@h/d".to_owned().into()),
            redis_url: Some("redis://:redis-s3cret@h:6379".to_owned().into()),
            ..Config::default()
        };
        cfg.blind_index.key = Some("ab".repeat(32).into());
        cfg.blind_index.key_version = 2;
        cfg.blind_index.previous.push(super::super::PreviousKey {
            version: 1,
            key: Some("cd".repeat(32).into()),
            key_env: None,
            key_file: None,
        });
        cfg.apps.push(super::super::App {
            appid: "wxd0000000000de301".into(),
            secret: Some("app-s3cret".to_owned().into()),
            secret_env: None,
            token_kind: None,
        });
        let shown = cfg.to_redacted_toml();
        for secret in [
            "admin-s3cret",
            "db-s3cret",
            "redis-s3cret",
            "abab",
            "cdcd",
            "app-s3cret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(shown.matches(REDACTED).count(), 4, "{shown}");
        assert!(shown.contains("postgres://u:***@h/d"), "{shown}");
        let parsed: toml::Table = toml::from_str(&shown).unwrap();
        assert_eq!(parsed["limits"]["per_openid_per_day"].as_integer(), Some(5));
    }
}
