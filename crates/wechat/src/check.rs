//! `intp/realname/checkrealnameinfo`: the request, the raw result and its interpretation.
//!
//! # How several `verify_openid` values combine
//! WeChat documents that `verify_openid` may hold several results joined by `;` without saying what that means.
//! We take the most conservative reading, so that a `Match` is only ever reported when nothing contradicts it:
//! 1. no value, or any value we do not recognise: `Unknown` (a new code could mean anything);
//! 2. otherwise the weakest claim wins: `V_OP_NA` (not verified) over `V_OP_NM_UM` (name mismatch) over
//!    `V_OP_NM_MA` (user and name match);
//! 3. only when every value is `V_OP_NM_MA` does `verify_real_name` decide: `V_NM_ID_MA` is `Match`,
//!    `V_NM_ID_UM` is `IdMismatch`, and anything else (missing, `""`, unrecognised) is `Unknown`.
//!
//! The raw values are kept alongside: `verify_openid` split on `;`, trimmed, empty parts dropped;
//! `verify_real_name` trimmed, `""` read as absent.
use crate::client::{Endpoint, opt_str_field, str_field};
use crate::error::Result;
use crate::{AccessToken, Client};
use identity::{CredId, OpenId, RealName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One check. Holds personal data: `Debug` shows only the openid.
#[derive(Clone, Copy)]
pub struct CheckRequest<'a> {
    pub openid: &'a OpenId,
    pub real_name: &'a RealName,
    pub cred_id: &'a CredId,
    /// The single-use code WeChat handed back after the user consented.
    pub code: &'a str,
}

impl fmt::Debug for CheckRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckRequest")
            .field("openid", &self.openid.as_str())
            .field("real_name", &"[redacted]")
            .field("cred_id", &"[redacted]")
            .field("code", &"[redacted]")
            .finish()
    }
}

/// The request body as WeChat wants it: `cred_type` is the string "1" (resident ID card, the only type).
#[derive(Serialize)]
struct WireRequest<'a> {
    openid: &'a str,
    real_name: &'a str,
    cred_id: &'a str,
    cred_type: &'static str,
    code: &'a str,
}

impl CheckRequest<'_> {
    /// UTF-8 JSON with non-ASCII characters as they are (serde_json never escapes them).
    pub(crate) fn body(&self) -> Vec<u8> {
        let wire = WireRequest {
            openid: self.openid.as_str(),
            real_name: self.real_name.expose(),
            cred_id: self.cred_id.expose(),
            cred_type: "1",
            code: self.code,
        };
        serde_json::to_vec(&wire).expect("a struct of strings serialises")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The user verified with WeChat Pay, and both the name and the ID number match.
    Match,
    /// The name matches the user, the ID number does not.
    IdMismatch,
    /// The name does not match the user.
    NameMismatch,
    /// The user has not completed WeChat Pay real-name verification.
    NotVerified,
    /// Anything else; see the raw values in [`CheckResult`].
    Unknown,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::IdMismatch => "id_mismatch",
            Self::NameMismatch => "name_mismatch",
            Self::NotVerified => "not_verified",
            Self::Unknown => "unknown",
        }
    }

    /// Interprets the raw values by the rules in this module's docs.
    pub fn from_raw(verify_openid: &[String], verify_real_name: Option<&str>) -> Self {
        const KNOWN: [&str; 3] = ["V_OP_NA", "V_OP_NM_UM", "V_OP_NM_MA"];
        if verify_openid.is_empty() || verify_openid.iter().any(|v| !KNOWN.contains(&v.as_str())) {
            return Self::Unknown;
        }
        let has = |code: &str| verify_openid.iter().any(|v| v == code);
        if has("V_OP_NA") {
            Self::NotVerified
        } else if has("V_OP_NM_UM") {
            Self::NameMismatch
        } else {
            match verify_real_name {
                Some("V_NM_ID_MA") => Self::Match,
                Some("V_NM_ID_UM") => Self::IdMismatch,
                _ => Self::Unknown,
            }
        }
    }
}

impl fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What WeChat said. The raw values are WeChat's result codes, not personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub outcome: CheckOutcome,
    pub verify_openid: Vec<String>,
    pub verify_real_name: Option<String>,
    /// How many times the call was resent after a token error (0 or 1); set by [`crate::RealnameApi`].
    pub token_retries: u32,
}

impl CheckResult {
    /// Builds a result from the reply's two fields, as WeChat sent them.
    pub fn from_raw(verify_openid: &str, verify_real_name: Option<&str>) -> Self {
        let verify_openid: Vec<String> = verify_openid
            .split(';')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        let verify_real_name = verify_real_name
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let outcome = CheckOutcome::from_raw(&verify_openid, verify_real_name.as_deref());
        Self {
            outcome,
            verify_openid,
            verify_real_name,
            token_retries: 0,
        }
    }
}

impl Client {
    /// Exactly one HTTP call. The code is single use: whatever fails, this does not resend it; see
    /// [`crate::Error::may_have_reached_wechat`] for what a failure means for the code.
    pub async fn check_real_name_info(
        &self,
        token: &AccessToken,
        req: &CheckRequest<'_>,
    ) -> Result<CheckResult> {
        let request = self
            .post(Endpoint::CheckRealNameInfo)
            .query(&[("access_token", token.expose())])
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(req.body());
        let secrets = [
            token.expose(),
            req.real_name.expose(),
            req.cred_id.expose(),
            req.code,
        ];
        let reply = self
            .call(Endpoint::CheckRealNameInfo, request, &secrets)
            .await?;
        let what = Endpoint::CheckRealNameInfo;
        let verify_openid = str_field(&reply, what, "verify_openid")?;
        let verify_real_name = opt_str_field(&reply, what, "verify_real_name")?;
        Ok(CheckResult::from_raw(verify_openid, verify_real_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckOutcome::*;

    #[test]
    fn outcome_table() {
        let table: &[(&str, Option<&str>, CheckOutcome)] = &[
            ("V_OP_NM_MA", Some("V_NM_ID_MA"), Match),
            ("V_OP_NM_MA", Some("V_NM_ID_UM"), IdMismatch),
            ("V_OP_NM_UM", Some(""), NameMismatch),
            ("V_OP_NM_UM", None, NameMismatch),
            ("V_OP_NA", Some(""), NotVerified),
            ("V_OP_NA", None, NotVerified),
            // verify_real_name is only meaningful after V_OP_NM_MA: missing or empty there is not a match.
            ("V_OP_NM_MA", Some(""), Unknown),
            ("V_OP_NM_MA", None, Unknown),
            ("V_OP_NM_MA", Some("V_NM_ID_XX"), Unknown),
            // A stray verify_real_name does not upgrade a weaker claim.
            ("V_OP_NM_UM", Some("V_NM_ID_MA"), NameMismatch),
            ("V_OP_NA", Some("V_NM_ID_MA"), NotVerified),
            // Several values: the weakest claim wins.
            ("V_OP_NM_MA;V_OP_NA", Some("V_NM_ID_MA"), NotVerified),
            ("V_OP_NM_UM;V_OP_NA", None, NotVerified),
            ("V_OP_NM_MA;V_OP_NM_UM", Some("V_NM_ID_MA"), NameMismatch),
            ("V_OP_NM_MA;V_OP_NM_MA", Some("V_NM_ID_MA"), Match),
            (" V_OP_NM_MA ; ", Some(" V_NM_ID_MA "), Match),
            // Anything unrecognised makes the whole answer unknown.
            ("V_OP_NM_MA;V_OP_NEW", Some("V_NM_ID_MA"), Unknown),
            ("V_OP_NA;v_op_na", None, Unknown),
            ("", Some("V_NM_ID_MA"), Unknown),
            (";;", None, Unknown),
            ("MATCH", None, Unknown),
        ];
        for (openid, real_name, expected) in table {
            let result = CheckResult::from_raw(openid, *real_name);
            assert_eq!(result.outcome, *expected, "{openid:?} / {real_name:?}");
        }
    }

    #[test]
    fn raw_values_are_split_trimmed_and_kept() {
        let r = CheckResult::from_raw(" V_OP_NM_MA ;;V_OP_X; ", Some(""));
        assert_eq!(r.verify_openid, ["V_OP_NM_MA", "V_OP_X"]);
        assert_eq!(r.verify_real_name, None);
        assert_eq!(r.outcome, Unknown);
        let r = CheckResult::from_raw("V_OP_NM_MA", Some("V_NM_ID_UM"));
        assert_eq!(r.verify_real_name.as_deref(), Some("V_NM_ID_UM"));
        assert_eq!(r.token_retries, 0);
    }

    #[test]
    fn outcome_names_match_serde() {
        for o in [Match, IdMismatch, NameMismatch, NotVerified, Unknown] {
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
            assert_eq!(
                serde_json::from_str::<CheckOutcome>(&format!("\"{o}\"")).unwrap(),
                o
            );
        }
    }

    #[test]
    fn wire_body_keeps_non_ascii_as_is() {
        let wire = WireRequest {
            openid: "o1",
            real_name: "张三",
            cred_id: "X",
            cred_type: "1",
            code: "c",
        };
        let body = String::from_utf8(serde_json::to_vec(&wire).unwrap()).unwrap();
        assert_eq!(
            body,
            r#"{"openid":"o1","real_name":"张三","cred_id":"X","cred_type":"1","code":"c"}"#
        );
    }
}
