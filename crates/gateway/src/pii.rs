//! Personal data at rest: keys, blind indexes, fingerprints.
//!
//! One master key (32 bytes) from config, the environment or a file, never from inside `data_dir`: a copy of the
//! data directory must not carry the key that turns its masked ID numbers back into full ones (the masked form
//! leaves about 400,000 candidates; with the key, trying each takes a second). Purpose keys are derived with HKDF-SHA256 so one leaked purpose key reveals nothing
//! about another. A blind index is an HMAC: equality lookups without storing the value. A plain hash would not
//! do: there are only about 2^37 valid ID numbers, so an unkeyed hash is reversed by enumeration.
//!
//! Rotation: rows record the key version they were indexed under; earlier versions' keys can be kept
//! (`[[blind_index.previous]]`) so those rows can still be matched until they age out (SECURITY.md).

use crate::config::{BlindIndex, ConfigError};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use identity::{CredId, RealName};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;
type Key = Zeroizing<[u8; 32]>;

const INFO_INDEX: &[u8] = b"wxrealname/blind-index/v1";
const INFO_FINGERPRINT: &[u8] = b"wxrealname/request-fingerprint/v1";
const INFO_AUDIT_HEAD: &[u8] = b"wxrealname/audit-head/v1";

/// The derived keys. `Debug` shows the versions only.
pub struct Pii {
    index: Key,
    fingerprint: Key,
    /// Signs the audit chain's head and checkpoints (see `store::chain`).
    audit_head: Key,
    pub key_version: i32,
    /// Index keys of earlier versions, for matching rows written before a rotation.
    previous: BTreeMap<i32, Key>,
    /// Audit-head keys of earlier versions: signatures made before a rotation still verify.
    previous_audit_head: Vec<Key>,
}

impl fmt::Debug for Pii {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pii")
            .field("key_version", &self.key_version)
            .field(
                "previous_versions",
                &self.previous.keys().collect::<Vec<_>>(),
            )
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
        Self {
            index: derive(master, INFO_INDEX),
            fingerprint: derive(master, INFO_FINGERPRINT),
            audit_head: derive(master, INFO_AUDIT_HEAD),
            key_version,
            previous: BTreeMap::new(),
            previous_audit_head: Vec::new(),
        }
    }

    /// The keys that sign and check the audit chain's head and checkpoints: the current master key's, and the
    /// earlier versions' for signatures made before a rotation.
    pub fn audit_keys(&self) -> store::chain::AuditKeys {
        self.previous_audit_head
            .iter()
            .fold(store::chain::AuditKeys::new(*self.audit_head), |keys, k| {
                keys.with_previous(**k)
            })
    }

    /// Keep an earlier version's master key, for matching old rows.
    pub fn with_previous(mut self, version: i32, master: &[u8; 32]) -> Self {
        self.previous.insert(version, derive(master, INFO_INDEX));
        self.previous_audit_head
            .push(derive(master, INFO_AUDIT_HEAD));
        self
    }

    /// Load the master key as configured and the earlier versions' keys. Refuses to start without a key, and
    /// refuses a key file inside `data_dir`; the message says how to make a key (and how to move the one an older
    /// release created in `{data_dir}/master.key`).
    pub fn load(cfg: &BlindIndex, data_dir: &Path) -> Result<Self, ConfigError> {
        if cfg.key.is_none() && cfg.key_env.is_none() && cfg.key_file.is_none() {
            return Err(missing_key(data_dir));
        }
        let master = read_key(
            cfg.key.as_ref(),
            cfg.key_env.as_deref(),
            cfg.key_file.as_deref(),
            data_dir,
        )?;
        let mut pii = Self::from_master(&master, cfg.key_version);
        for p in &cfg.previous {
            if p.key.is_none() && p.key_env.is_none() && p.key_file.is_none() {
                return Err(ConfigError::Invalid(
                    "each [[blind_index.previous]] needs key_env, key_file or key".into(),
                ));
            }
            let key = read_key(
                p.key.as_ref(),
                p.key_env.as_deref(),
                p.key_file.as_deref(),
                data_dir,
            )?;
            pii = pii.with_previous(p.version, &key);
        }
        Ok(pii)
    }

    /// Whether the configured keys can be read and are well formed (`wxrealname config check`). Loading creates
    /// nothing, so this is [`Pii::load`] without keeping the keys.
    pub fn check_keys(cfg: &BlindIndex, data_dir: &Path) -> Result<(), ConfigError> {
        Self::load(cfg, data_dir).map(|_| ())
    }

    fn mac(key: &[u8; 32], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn pair(key: &[u8; 32], name: &RealName, cred: &CredId) -> Vec<u8> {
        Self::mac(
            key,
            &[
                b"pair:v1:",
                name.expose().as_bytes(),
                &[0],
                cred.expose().as_bytes(),
            ],
        )
    }

    pub fn blind_indexes(&self, name: &RealName, cred: &CredId) -> BlindIndexes {
        BlindIndexes {
            cred: Self::mac(&self.index, &[b"cred:v1:", cred.expose().as_bytes()]),
            pair: Self::pair(&self.index, name, cred),
        }
    }

    /// The pair index under the key of `version` (the current one or a kept earlier one); None if that key is gone.
    pub fn pair_index_for(&self, version: i32, name: &RealName, cred: &CredId) -> Option<Vec<u8>> {
        let key = if version == self.key_version {
            &self.index
        } else {
            self.previous.get(&version)?
        };
        Some(Self::pair(key, name, cred))
    }

    /// A keyed fingerprint of a request, to tell an Idempotency-Key replay from a different request. Each part is
    /// length-prefixed, so moving bytes between parts changes the fingerprint.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> Vec<u8> {
        let lens: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        let mut framed: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2);
        for (p, l) in parts.iter().zip(&lens) {
            framed.push(l);
            framed.push(p);
        }
        Self::mac(&self.fingerprint, &framed)
    }
}

fn derive(master: &[u8; 32], info: &[u8]) -> Key {
    let hk = Hkdf::<Sha256>::new(Some(b"wxrealname"), master);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(info, out.as_mut())
        .expect("32 bytes is a valid HKDF length");
    out
}

/// The error for "no key configured", with the command that makes one and, for an install an older release set
/// up, the one line that moves its key out of the data directory.
fn missing_key(data_dir: &Path) -> ConfigError {
    let old = data_dir.join("master.key");
    let mut msg = String::from(
        "no blind-index master key is configured, and the gateway never keeps one in data_dir. \
         Create one outside the data directory with `wxrealname keys init-master --out /etc/wxrealname/master.key` \
         and set `[blind_index] key_file` to that path (or name an environment variable in `key_env`)",
    );
    if old.exists() {
        msg = format!(
            "{} is the key an older release created inside data_dir; move it out and point the config at it: \
             `mv {} /etc/wxrealname/master.key` then set `[blind_index] key_file = \"/etc/wxrealname/master.key\"` \
             (docs/deploy.md, \"Moving the master key out of the data directory\")",
            old.display(),
            old.display()
        );
    }
    ConfigError::Invalid(msg)
}

/// Whether `path` lies inside `dir` (both made absolute and, where they exist, with links resolved).
pub fn is_inside(path: &Path, dir: &Path) -> bool {
    fn resolved(p: &Path) -> std::path::PathBuf {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        // A file that does not exist yet: resolve its directory.
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => {
                resolved(parent).join(name)
            }
            _ => std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
        }
    }
    resolved(path).starts_with(resolved(dir))
}

/// A 32-byte key, hex, from (in order) the config value, an environment variable or a file outside `data_dir`.
fn read_key(
    inline: Option<&SecretString>,
    env: Option<&str>,
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<[u8; 32], ConfigError> {
    let text: SecretString = if let Some(k) = inline {
        k.clone()
    } else if let Some(var) = env {
        crate::config::read_env(var)?
    } else if let Some(path) = file {
        if is_inside(path, data_dir) {
            return Err(ConfigError::Invalid(format!(
                "the blind-index key file {} is inside data_dir: a copy of the data directory would carry the key. \
                 Move it elsewhere and point `key_file` at the new place",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Invalid(format!("blind-index key file {}: {e}", path.display()))
        })?;
        SecretString::from(text.trim().to_owned())
    } else {
        return Err(missing_key(data_dir));
    };
    parse_key(text.expose_secret())
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

/// Create a new random key file readable by its owner only; refuses to overwrite an existing file.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (RealName, CredId) {
        (
            RealName::parse("张三").unwrap(),
            CredId::parse("11010519491231002X").unwrap(),
        )
    }

    #[test]
    fn indexes_are_keyed_and_versioned() {
        let (n, c) = sample();
        let a = Pii::from_master(&[1; 32], 1);
        let b = Pii::from_master(&[2; 32], 2).with_previous(1, &[1; 32]);
        assert_ne!(
            a.blind_indexes(&n, &c).pair,
            b.blind_indexes(&n, &c).pair,
            "another key, another index"
        );
        assert_ne!(
            a.blind_indexes(&n, &c).cred,
            a.blind_indexes(&n, &c).pair,
            "purposes are separated"
        );
        assert_eq!(
            b.pair_index_for(1, &n, &c),
            Some(a.blind_indexes(&n, &c).pair),
            "old rows stay matchable"
        );
        assert_eq!(
            b.pair_index_for(2, &n, &c),
            Some(b.blind_indexes(&n, &c).pair)
        );
        assert_eq!(b.pair_index_for(3, &n, &c), None);
        assert_eq!(
            format!("{b:?}"),
            "Pii { key_version: 2, previous_versions: [1], .. }"
        );
    }

    #[test]
    fn fingerprints_frame_their_parts() {
        let p = Pii::from_master(&[1; 32], 1);
        assert_ne!(p.fingerprint(&[b"ab", b"c"]), p.fingerprint(&[b"a", b"bc"]));
        assert_eq!(p.fingerprint(&[b"ab", b"c"]), p.fingerprint(&[b"ab", b"c"]));
    }

    #[test]
    fn a_key_is_required_and_never_read_from_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let none = crate::config::Config::default().blind_index;
        let err = Pii::load(&none, &data).unwrap_err().to_string();
        assert!(err.contains("keys init-master --out"), "{err}");
        assert!(!data.join("master.key").exists(), "nothing is created");

        write_new_key(&data.join("master.key")).unwrap();
        let err = Pii::load(&none, &data).unwrap_err().to_string();
        assert!(err.contains("mv ") && err.contains("key_file"), "{err}");

        let mut inside = none.clone();
        inside.key_file = Some(data.join("./master.key"));
        let err = Pii::load(&inside, &data).unwrap_err().to_string();
        assert!(err.contains("inside data_dir"), "{err}");

        let mut outside = none;
        outside.key_file = Some(dir.path().join("master.key"));
        write_new_key(outside.key_file.as_ref().unwrap()).unwrap();
        assert!(Pii::load(&outside, &data).is_ok());
        assert!(
            write_new_key(outside.key_file.as_ref().unwrap()).is_err(),
            "an existing key is never overwritten"
        );
    }
}
