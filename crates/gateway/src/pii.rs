//! Personal data at rest: keys, blind indexes, fingerprints.
//!
//! One master key (32 bytes) from config, the environment, a file, or `{data_dir}/master.key` (created with mode
//! 0600 on first start). Purpose keys are derived with HKDF-SHA256 so one leaked purpose key reveals nothing
//! about another. A blind index is an HMAC: equality lookups without storing the value. A plain hash would not
//! do: there are only about 2^37 valid ID numbers, so an unkeyed hash is reversed by enumeration.

use crate::config::{BlindIndex, ConfigError};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use identity::{CredId, RealName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

const INFO_INDEX: &[u8] = b"wxrealname/blind-index/v1";
const INFO_FINGERPRINT: &[u8] = b"wxrealname/request-fingerprint/v1";

/// The derived keys. `Debug` shows nothing.
pub struct Pii {
    index: Zeroizing<[u8; 32]>,
    fingerprint: Zeroizing<[u8; 32]>,
    pub key_version: i32,
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pii")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// The two blind indexes stored for a verification.
#[derive(Debug, Clone)]
pub struct BlindIndexes {
    pub cred: Vec<u8>,
    pub pair: Vec<u8>,
}

impl Pii {
    pub fn from_master(master: &[u8; 32], key_version: i32) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"wxrealname"), master);
        let mut index = Zeroizing::new([0u8; 32]);
        let mut fingerprint = Zeroizing::new([0u8; 32]);
        hk.expand(INFO_INDEX, index.as_mut())
            .expect("32 bytes is a valid HKDF length");
        hk.expand(INFO_FINGERPRINT, fingerprint.as_mut())
            .expect("32 bytes is a valid HKDF length");
        Self {
            index,
            fingerprint,
            key_version,
        }
    }

    /// Load the master key as configured, creating `{data_dir}/master.key` if nothing is configured.
    pub fn load(cfg: &BlindIndex, data_dir: &Path) -> Result<Self, ConfigError> {
        let hex_key: SecretString = if let Some(k) = &cfg.key {
            k.clone()
        } else if let Some(var) = &cfg.key_env {
            crate::config::read_env(var)?
        } else {
            let path = cfg
                .key_file
                .clone()
                .unwrap_or_else(|| data_dir.join("master.key"));
            if cfg.key_file.is_none() && !path.exists() {
                write_new_key(&path)?;
                tracing::warn!(path = %path.display(), "generated a new blind-index master key; back it up");
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::Invalid(format!("blind-index key file {}: {e}", path.display()))
            })?;
            SecretString::from(text.trim().to_owned())
        };
        let master = parse_key(hex_key.expose_secret())?;
        Ok(Self::from_master(&master, cfg.key_version))
    }

    fn mac(&self, key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    pub fn blind_indexes(&self, name: &RealName, cred: &CredId) -> BlindIndexes {
        let c = cred.expose().as_bytes();
        BlindIndexes {
            cred: self.mac(&self.index, &[b"cred:v1:", c]),
            pair: self.mac(
                &self.index,
                &[b"pair:v1:", name.expose().as_bytes(), &[0], c],
            ),
        }
    }

    /// A keyed fingerprint of a request, to tell an Idempotency-Key replay from a different request.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut framed: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2);
        let lens: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        for (p, l) in parts.iter().zip(&lens) {
            framed.push(l);
            framed.push(p);
        }
        self.mac(&self.fingerprint, &framed)
    }
}

/// The replay guard's key for a code: not secret after use, but hashed so the table holds nothing replayable.
pub fn code_hash(appid: &str, code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"wxrealname/code/v1\0");
    h.update(appid.as_bytes());
    h.update([0]);
    h.update(code.as_bytes());
    h.finalize().to_vec()
}

fn parse_key(text: &str) -> Result<[u8; 32], ConfigError> {
    let bytes =
        Zeroizing::new(hex::decode(text).map_err(|_| {
            ConfigError::Invalid("the blind-index key must be 64 hex digits".into())
        })?);
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        ConfigError::Invalid("the blind-index key must be 64 hex digits (32 bytes)".into())
    })
}

/// Create a new random key file readable by its owner only.
pub fn write_new_key(path: &Path) -> Result<(), ConfigError> {
    use rand::RngCore;
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    let text = Zeroizing::new(hex::encode(key.as_ref()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", dir.display())))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts
        .open(path)
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(())
}
