//! TC3-HMAC-SHA256, Tencent Cloud API 3.0's signature (spec §1.8), for signing (the client) and checking
//! (the sandbox) with the same code.
//!
//! The steps, in the spec's numbering: (1) hash the payload; (2) the canonical request over the signed headers
//! (names lowercased, values trimmed and lowercased, sorted by name); (3) the credential scope
//! `DATE/service/tc3_request` with the **UTC** date of the timestamp; (4) the string to sign; (5) the derived
//! key `HMAC(HMAC(HMAC("TC3"+SecretKey, date), service), "tc3_request")` and the signature; (6) the
//! `Authorization` header, parts separated by a comma and a space.
use super::{hmac_sha256, sha256_hex};
use chrono::DateTime;
use secrecy::{ExposeSecret, SecretString};

pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// What is signed. `headers` are the signed headers as sent (at least `content-type` and `host`), in any
/// order and case; `payload` the exact body bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tc3Request<'a> {
    pub method: &'a str,
    pub service: &'a str,
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: i64,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Every intermediate value of a signature: the tests compare each with the spec's vectors. Holds no secret
/// (the derived keys stay inside [`signing_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Signature {
    pub hashed_payload: String,
    pub canonical_headers: String,
    pub signed_headers: String,
    pub canonical_request: String,
    pub hashed_canonical_request: String,
    pub date: String,
    pub credential_scope: String,
    pub string_to_sign: String,
    pub signature: String,
}

impl Tc3Signature {
    /// The `Authorization` header value.
    pub fn authorization(&self, secret_id: &str) -> String {
        format!(
            "{ALGORITHM} Credential={secret_id}/{}, SignedHeaders={}, Signature={}",
            self.credential_scope, self.signed_headers, self.signature
        )
    }
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp; `None` if it is out of range.
pub fn utc_date(timestamp: i64) -> Option<String> {
    DateTime::from_timestamp(timestamp, 0).map(|t| t.format("%Y-%m-%d").to_string())
}

/// Step 5's key derivation: `[SecretDate, SecretService, SecretSigning]`.
fn derived_keys(secret_key: &SecretString, date: &str, service: &str) -> [[u8; 32]; 3] {
    let mut k = Vec::with_capacity(3 + secret_key.expose_secret().len());
    k.extend_from_slice(b"TC3");
    k.extend_from_slice(secret_key.expose_secret().as_bytes());
    let secret_date = hmac_sha256(&k, date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, service.as_bytes());
    let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
    [secret_date, secret_service, secret_signing]
}

/// The signing key of one day and service (SecretSigning).
fn signing_key(secret_key: &SecretString, date: &str, service: &str) -> [u8; 32] {
    derived_keys(secret_key, date, service)[2]
}

/// Signs `req` with `secret_key`. `None` only if the timestamp has no calendar date.
pub fn sign(secret_key: &SecretString, req: &Tc3Request<'_>) -> Option<Tc3Signature> {
    let date = utc_date(req.timestamp)?;
    let hashed_payload = sha256_hex(req.payload);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_lowercase()))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n/\n\n{canonical_headers}\n{signed_headers}\n{hashed_payload}",
        req.method
    );
    let hashed_canonical_request = sha256_hex(canonical_request.as_bytes());
    let credential_scope = format!("{date}/{}/tc3_request", req.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{hashed_canonical_request}",
        req.timestamp
    );
    let key = signing_key(secret_key, &date, req.service);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    Some(Tc3Signature {
        hashed_payload,
        canonical_headers,
        signed_headers,
        canonical_request,
        hashed_canonical_request,
        date,
        credential_scope,
        string_to_sign,
        signature,
    })
}

/// A parsed `Authorization: TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    /// Lowercased header names, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses an `Authorization` header; `None` if it is not a well-formed TC3 header.
pub fn parse_authorization(value: &str) -> Option<Tc3Authorization> {
    let super::AuthorizationParts {
        credential,
        signed_headers,
        signature,
    } = super::split_authorization(value, ALGORITHM)?;
    let mut scope = credential.split('/');
    let (secret_id, date, service, terminator) =
        (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    if terminator != "tc3_request" || scope.next().is_some() || secret_id.is_empty() {
        return None;
    }
    Some(Tc3Authorization {
        secret_id: secret_id.to_owned(),
        date: date.to_owned(),
        service: service.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §1.9's common inputs.
    const BODY: &[u8] = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const CT: &str = "application/json; charset=utf-8";
    const TS: i64 = 1551113065;

    fn key(k: &str) -> SecretString {
        SecretString::from(k.to_owned())
    }

    #[test]
    fn vector_a_the_current_chinese_doc() {
        let secret_key = key(&"*".repeat(32));
        let headers = [
            ("Content-Type", CT),
            ("Host", "cvm.tencentcloudapi.com"),
            ("X-TC-Action", "DescribeInstances"),
        ];
        let sig = sign(
            &secret_key,
            &Tc3Request {
                method: "POST",
                service: "cvm",
                timestamp: TS,
                headers: &headers,
                payload: BODY,
            },
        )
        .unwrap();
        assert_eq!(
            sig.hashed_payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            sig.canonical_headers,
            "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\nx-tc-action:describeinstances\n"
        );
        assert_eq!(sig.signed_headers, "content-type;host;x-tc-action");
        assert_eq!(
            sig.hashed_canonical_request,
            "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
        );
        assert_eq!(sig.date, "2019-02-25");
        let [secret_date, secret_service, secret_signing] =
            derived_keys(&secret_key, &sig.date, "cvm");
        assert_eq!(
            hex::encode(secret_date),
            "da98fb70dcf6b112dc21038d1eeeb3a95c74b4dcb12c1131f864f6066bd02be0"
        );
        assert_eq!(
            hex::encode(secret_service),
            "8d70cbefb03939f929db64d32dc2ba89b1095620119fe3e050e2b18c5bd2752f"
        );
        assert_eq!(
            hex::encode(secret_signing),
            "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
        );
        assert_eq!(
            sig.signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
        let id = format!("AKID{}", "*".repeat(32));
        assert_eq!(
            sig.authorization(&id),
            format!(
                "TC3-HMAC-SHA256 Credential={id}/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
            )
        );
    }

    #[test]
    fn vector_b_the_older_english_doc() {
        let headers = [("content-type", CT), ("host", "cvm.tencentcloudapi.com")];
        let sig = sign(
            &key("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            &Tc3Request {
                method: "POST",
                service: "cvm",
                timestamp: TS,
                headers: &headers,
                payload: BODY,
            },
        )
        .unwrap();
        assert_eq!(sig.signed_headers, "content-type;host");
        assert_eq!(
            sig.canonical_headers,
            "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n"
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            sig.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        // The same page's other key name does not produce the published signature (the spec's caveat).
        let other = sign(
            &key("sk0123456789********************EXAMPLE"),
            &Tc3Request {
                method: "POST",
                service: "cvm",
                timestamp: TS,
                headers: &headers,
                payload: BODY,
            },
        )
        .unwrap();
        assert_ne!(other.signature, sig.signature);
    }

    #[test]
    fn vector_c_derived_faceid_with_a_utf8_body() {
        let body = r#"{"IdCard":"11204416541220243X","Name":"韦小宝"}"#;
        let headers = [("content-type", CT), ("host", "faceid.tencentcloudapi.com")];
        let sig = sign(
            &key("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            &Tc3Request {
                method: "POST",
                service: "faceid",
                timestamp: TS,
                headers: &headers,
                payload: body.as_bytes(),
            },
        )
        .unwrap();
        assert_eq!(
            sig.hashed_payload,
            "fb6b844fc834611fc0eae31abfa1387934a0a20e8e0ab3046083777ca76352ac"
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "bb98a79b496966336e87fd366dfc15f1f92c7bb3376172e521e53b00386dc75b"
        );
        assert_eq!(sig.credential_scope, "2019-02-25/faceid/tc3_request");
        assert_eq!(
            sig.signature,
            "d02c4c4cac78c1b5aa9ccf2ecc5e1427ac04bb17896ba10a47e5194f92fd7ca2"
        );
    }

    #[test]
    fn the_date_is_utc_not_beijing_time() {
        // 2019-02-25T16:30:00Z is already the 26th in Beijing; the scope must still say the 25th.
        assert_eq!(utc_date(1551112200).unwrap(), "2019-02-25");
        assert_eq!(utc_date(1551139200).unwrap(), "2019-02-26");
    }

    #[test]
    fn authorization_round_trips_and_rejects_garbage() {
        let header = "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/faceid/tc3_request, SignedHeaders=content-type;host, Signature=abc";
        let parsed = parse_authorization(header).unwrap();
        assert_eq!(parsed.secret_id, "AKIDx");
        assert_eq!(parsed.date, "2019-02-25");
        assert_eq!(parsed.service, "faceid");
        assert_eq!(parsed.signed_headers, ["content-type", "host"]);
        assert_eq!(parsed.signature, "abc");
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "Bearer x",
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/faceid/other, SignedHeaders=host, Signature=abc",
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/faceid/tc3_request, SignedHeaders=host",
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/faceid/tc3_request, SignedHeaders=host;, Signature=a",
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/faceid/tc3_request, Credential=b, SignedHeaders=host, Signature=a",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }
}
