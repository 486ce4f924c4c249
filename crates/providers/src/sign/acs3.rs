//! ACS3-HMAC-SHA256, Alibaba Cloud's signature V3 (spec §2.6), for signing (the client) and checking (the
//! sandbox) with the same code.
//!
//! (1) hash the payload (also sent as `x-acs-content-sha256`); (2) the canonical query string, RFC 3986
//! encoded and sorted; (3) the canonical headers: `host`, `content-type` and every `x-acs-*` header, values
//! trimmed (case kept), sorted by name; (4) the canonical request; (5) the string to sign, with no date and no
//! scope; (6) `HMAC(AccessKeySecret, StringToSign)` with the raw secret as key; (7) the `Authorization`
//! header, parts separated by a comma and no space.
use super::{hmac_sha256, sha256_hex};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretString};

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// RFC 3986: everything but the unreserved characters `A-Z a-z 0-9 - _ . ~` is percent-encoded (a space is
/// `%20`, `*` is `%2A`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one key or value as the signature (and the form body) wants it.
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// `k=v&k=v`, each part RFC 3986 encoded, sorted by key (then value): the canonical query string, and also
/// the form body the client sends, so the two cannot disagree.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a header takes part in the signature.
pub fn is_signed_header(lowercase_name: &str) -> bool {
    lowercase_name == "host"
        || lowercase_name == "content-type"
        || lowercase_name.starts_with("x-acs-")
}

/// What is signed. `headers` may hold any headers: only those [`is_signed_header`] accepts are signed.
#[derive(Debug, Clone, Copy)]
pub struct Acs3Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Every intermediate value of a signature, for the tests. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Signature {
    pub hashed_payload: String,
    pub canonical_query: String,
    pub canonical_headers: String,
    pub signed_headers: String,
    pub canonical_request: String,
    pub hashed_canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

impl Acs3Signature {
    /// The `Authorization` header value.
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!(
            "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={}",
            self.signed_headers, self.signature
        )
    }
}

/// Signs `req` with `access_key_secret`.
pub fn sign(access_key_secret: &SecretString, req: &Acs3Request<'_>) -> Acs3Signature {
    let hashed_payload = sha256_hex(req.payload);
    let canonical_query = canonical_query(req.query);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| is_signed_header(k))
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{hashed_payload}",
        req.method, req.path
    );
    let hashed_canonical_request = sha256_hex(canonical_request.as_bytes());
    let string_to_sign = format!("{ALGORITHM}\n{hashed_canonical_request}");
    let signature = hex::encode(hmac_sha256(
        access_key_secret.expose_secret().as_bytes(),
        string_to_sign.as_bytes(),
    ));
    Acs3Signature {
        hashed_payload,
        canonical_query,
        canonical_headers,
        signed_headers,
        canonical_request,
        hashed_canonical_request,
        string_to_sign,
        signature,
    }
}

/// A parsed `Authorization: ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acs3Authorization {
    pub access_key_id: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses an `Authorization` header; `None` if it is not a well-formed ACS3 header.
pub fn parse_authorization(value: &str) -> Option<Acs3Authorization> {
    let super::AuthorizationParts {
        credential,
        signed_headers,
        signature,
    } = super::split_authorization(value, ALGORITHM)?;
    let access_key_id = Some(credential).filter(|c| !c.is_empty())?;
    Some(Acs3Authorization {
        access_key_id: access_key_id.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn the_official_fixed_parameter_example() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ];
        let empty = sha256_hex(b"");
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", empty.as_str()),
            // Not signed: neither host, content-type nor x-acs-*.
            ("accept", "application/json"),
        ];
        let sig = sign(
            &secret("YourAccessKeySecret"),
            &Acs3Request {
                method: "POST",
                path: "/",
                query: &query,
                headers: &headers,
                payload: b"",
            },
        );
        assert_eq!(
            sig.hashed_payload,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sig.signed_headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        assert_eq!(
            sig.signature,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        assert_eq!(
            sig.authorization("YourAccessKeyId"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn derived_id2meta_verify_with_a_form_body() {
        let body = canonical_query(&[
            ("UserName", "韦小宝"),
            ("ParamType", "normal"),
            ("IdentifyNum", "11204416541220243X"),
        ]);
        assert_eq!(
            body,
            "IdentifyNum=11204416541220243X&ParamType=normal&UserName=%E9%9F%A6%E5%B0%8F%E5%AE%9D"
        );
        let hashed = sha256_hex(body.as_bytes());
        assert_eq!(
            hashed,
            "ee18716122ca1abaf7c5133fd7e63818da7add75a91f19f6c12edbbaab471a55"
        );
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("host", "cloudauth.aliyuncs.com"),
            ("x-acs-action", "Id2MetaVerify"),
            ("x-acs-version", "2019-03-07"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", hashed.as_str()),
        ];
        let sig = sign(
            &secret("YourAccessKeySecret"),
            &Acs3Request {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: body.as_bytes(),
            },
        );
        assert_eq!(
            sig.signed_headers,
            "content-type;host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            sig.hashed_canonical_request,
            "b0e7c7d43c58b4ecb4c6b7fb0b0464c3cd6738a2c6100de8915d90dea8cb6ef0"
        );
        assert_eq!(
            sig.signature,
            "ceef13ff5728cf49decd713f3623f3494cf04eaeacccee49b44c11e73140adfc"
        );
    }

    #[test]
    fn rfc3986_encoding_of_the_awkward_characters() {
        assert_eq!(percent_encode("a b*c~d/e+f"), "a%20b%2Ac~d%2Fe%2Bf");
        assert_eq!(canonical_query(&[("b", ""), ("a", "1")]), "a=1&b=");
    }

    #[test]
    fn authorization_round_trips_and_rejects_garbage() {
        let parsed = parse_authorization(
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;x-acs-date,Signature=ff",
        )
        .unwrap();
        assert_eq!(parsed.access_key_id, "AK");
        assert_eq!(parsed.signed_headers, ["host", "x-acs-date"]);
        assert_eq!(parsed.signature, "ff");
        for bad in [
            "",
            "ACS3-HMAC-SHA256",
            "TC3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=ff",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ff",
            "ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host",
            "ACS3-HMAC-SHA256 Credential=AK,Foo=1,SignedHeaders=host,Signature=ff",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad}");
        }
    }
}
