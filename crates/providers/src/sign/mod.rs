//! The two signature algorithms, shared by the clients (which sign) and the sandbox (which checks), so
//! both ends run the same, vector-tested code.
pub mod acs3;
pub mod tc3;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Lowercase hex of SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Compares two hex signatures in constant time (a checker must not leak how much of a guess was right).
pub fn signatures_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The three fields both algorithms' `Authorization` headers carry: `ALGORITHM Credential=..,SignedHeaders=..,
/// Signature=..`.
pub(crate) struct AuthorizationParts<'a> {
    pub(crate) credential: &'a str,
    /// Lowercased header names, in the order given; none empty.
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: &'a str,
}

/// Splits an `Authorization` header of `algorithm`; `None` unless each field appears exactly once and nothing else does.
pub(crate) fn split_authorization<'a>(
    value: &'a str,
    algorithm: &str,
) -> Option<AuthorizationParts<'a>> {
    let rest = value.strip_prefix(algorithm)?.strip_prefix(' ')?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(v).is_some() {
            return None;
        }
    }
    let signed_headers: Vec<String> = signed?
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if signed_headers.iter().any(String::is_empty) {
        return None;
    }
    Some(AuthorizationParts {
        credential: credential?,
        signed_headers,
        signature: signature?,
    })
}
