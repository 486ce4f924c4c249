//! API keys: `wxrn_<id>_<secret>`. The id finds the row; the secret is stored only as a SHA-256 hash and compared
//! in constant time. Keys carry 192 bits of randomness, so a fast hash is enough (no password stretching needed).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "wxrn_";

/// A freshly minted key: `full` is shown once and never stored.
#[derive(Debug)]
pub struct NewKey {
    pub id: String,
    pub full: secrecy::SecretString,
    pub hash: Vec<u8>,
}

pub fn mint() -> NewKey {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 24];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    NewKey {
        hash: hash_secret(&secret),
        full: format!("{PREFIX}{id}_{secret}").into(),
        id,
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Split a presented key into (id, secret); None when it does not have the shape of a key.
pub fn split(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, 12) && hexish(secret, 48)).then_some((id, secret))
}

/// Constant-time comparison of a presented secret with the stored hash.
pub fn matches(secret: &str, stored_hash: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn minted_key_splits_and_matches_its_hash_only() {
        let k = mint();
        let (id, secret) = split(k.full.expose_secret()).unwrap();
        assert_eq!(id, k.id);
        assert!(matches(secret, &k.hash));
        assert!(
            !matches(&secret.replace('a', "b").replace('1', "2"), &k.hash)
                || !secret.contains(['a', '1'])
        );
        assert!(!matches("", &k.hash));
    }

    #[test]
    fn malformed_keys_do_not_split() {
        for bad in [
            "",
            "wxrn_",
            "wxrn_abc_def",
            "Bearer x",
            "wxrn_0123456789ab_zz",
            "xxxx_0123456789ab_00",
        ] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
