//! The request step: read the JSON body and check every field locally, before anything is stored or sent.
//!
//! [`parse`] and [`validate`] serve `POST /v1/verifications`; [`subject`], [`purpose`] and [`idempotency_key`]
//! are the checks any route that takes a name and ID number shares (`/v1/identities/match` uses [`subject`]).

use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use chrono::NaiveDate;
use identity::{CredId, OpenId, RealName};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;

const MAX_CODE_LEN: usize = 256;
const MAX_PURPOSE_CHARS: usize = 200;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A verification request.
// The name and ID number are `SecretString`s: `Debug` shows neither, and their memory is zeroised when the request
// is dropped (right after `validate`). Copies the JSON reader made before (of an escaped string) are not.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The mini program's appid; may be omitted when the API key is bound to one app.
    pub appid: Option<String>,
    /// The user's openid under that mini program.
    pub openid: String,
    /// The name to check (Chinese characters and the middle dot; normalised before checking).
    #[schema(value_type = String)]
    pub real_name: SecretString,
    /// The 18-character mainland resident ID number.
    #[schema(value_type = String)]
    pub cred_id: SecretString,
    /// `1` or `"1"` (resident ID card), the default and the only type supported.
    #[schema(value_type = Option<Object>)]
    pub cred_type: Option<serde_json::Value>,
    /// The one-time code WeChat returned in `extraData` after the user agreed.
    pub code: String,
    /// Why the check is made, kept in the audit trail (PIPL: purpose limitation). At most 200 characters.
    pub purpose: Option<String>,
    /// A guardian agreed (needed for users under 14 when `policy.require_guardian_consent` is on).
    pub guardian_consent: Option<bool>,
}

/// The person a check is about: a valid name and ID number, and whether the ID number says they are under 14.
pub(crate) struct Subject {
    pub name: RealName,
    pub cred: CredId,
    pub minor: bool,
}

/// A verification request that passed every local check. From here on no raw string is handled: the name and ID
/// number travel as newtypes whose `Debug` masks them.
pub(crate) struct ValidRequest {
    pub caller: Caller,
    pub appid: String,
    pub openid: OpenId,
    pub subject: Subject,
    pub code: String,
    pub purpose: Option<String>,
    pub guardian_consent: bool,
    pub idempotency_key: Option<String>,
}

/// Read the body into a [`VerifyRequest`]: 413 over the body limit, 400 `invalid_request` for anything that is
/// not the expected JSON (the message never quotes a submitted value).
pub(crate) fn parse(bytes: Result<Bytes, BytesRejection>) -> Result<VerifyRequest, ApiError> {
    // The rejection is mapped here, not left to axum, so an oversized body gets the envelope (413).
    body::parse(&body::bytes(bytes)?)
}

/// Every local check, in the order the answers promise: the app (403 / 422 `unknown_app`), the openid, the name,
/// the ID number, the credential type, the code, the purpose, the `Idempotency-Key` header.
pub(crate) fn validate(
    st: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    req: &VerifyRequest,
) -> Result<ValidRequest, ApiError> {
    let appid = caller.resolve_app(req.appid.as_deref())?;
    if !st.apps.contains_key(&appid) {
        return Err(ApiError::UnknownApp);
    }
    let openid = openid(&req.openid)?;
    let subject = subject(&req.real_name, &req.cred_id, st.today())?;
    match &req.cred_type {
        None => {}
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(serde_json::Value::String(s)) if s == "1" => {}
        Some(_) => return Err(ApiError::UnsupportedCredType),
    }
    let code = req.code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidRequest(
            i18n::api::request::CODE_FORMAT.msg(&[("max", &MAX_CODE_LEN)]),
        ));
    }
    no_cred_id_in("code", code)?;
    let purpose = purpose(req.purpose.as_deref())?;
    let idempotency_key = idempotency_key(headers)?;
    Ok(ValidRequest {
        caller,
        appid,
        openid,
        subject,
        code: code.to_owned(),
        purpose,
        guardian_consent: req.guardian_consent == Some(true),
        idempotency_key,
    })
}

/// An openid: refused with 422 `personal_data_in_field` when it holds an ID number (an 18-character ID number
/// is a well-formed openid), then 422 `invalid_openid` unless it is 1 to 128 characters of `A-Z a-z 0-9 _ -`.
pub(crate) fn openid(raw: &str) -> Result<OpenId, ApiError> {
    no_cred_id_in("openid", raw)?;
    OpenId::parse(raw).map_err(|_| ApiError::InvalidOpenid)
}

/// 422 `personal_data_in_field` when `value` holds an ID number, however spread out or typed: such a field
/// would be stored, logged or sent as is. Checked before anything else reads the value.
pub(crate) fn no_cred_id_in(field: &'static str, value: &str) -> Result<(), ApiError> {
    if identity::contains_cred_id(value) {
        return Err(ApiError::PersonalDataInField { field });
    }
    Ok(())
}

/// The name, then the ID number (422 `invalid_real_name` / `invalid_cred_id` with the rule that failed), with
/// dates judged on `today` (Asia/Shanghai).
pub(crate) fn subject(
    real_name: &SecretString,
    cred_id: &SecretString,
    today: NaiveDate,
) -> Result<Subject, ApiError> {
    let name =
        RealName::parse(real_name.expose_secret()).map_err(|e| ApiError::invalid_real_name(&e))?;
    let cred = CredId::parse_on(cred_id.expose_secret(), today)
        .map_err(|e| ApiError::invalid_cred_id(&e))?;
    let minor = cred.is_minor_on(today);
    Ok(Subject { name, cred, minor })
}

/// The purpose, trimmed (empty counts as none): at most 200 characters, no control characters, no ID number.
pub(crate) fn purpose(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let purpose = raw.map(str::trim).filter(|p| !p.is_empty());
    if purpose
        .is_some_and(|p| p.chars().count() > MAX_PURPOSE_CHARS || p.chars().any(char::is_control))
    {
        return Err(ApiError::InvalidRequest(
            i18n::api::request::PURPOSE_FORMAT.msg(&[("max", &MAX_PURPOSE_CHARS)]),
        ));
    }
    if let Some(p) = purpose {
        no_cred_id_in("purpose", p)?;
    }
    Ok(purpose.map(str::to_owned))
}

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII characters, no ID number.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= MAX_IDEMPOTENCY_KEY_LEN);
    let v = v.ok_or_else(|| {
        ApiError::InvalidRequest(
            i18n::api::request::IDEMPOTENCY_KEY_FORMAT.msg(&[("max", &MAX_IDEMPOTENCY_KEY_LEN)]),
        )
    })?;
    no_cred_id_in("Idempotency-Key", v)?;
    Ok(Some(v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_request_shows_no_name_or_id_number() {
        let req: VerifyRequest = crate::body::parse(
            br#"{"openid":"o1","real_name":"\u5f20\u4e09","cred_id":"11010519491231002X","code":"c"}"#,
        )
        .unwrap();
        let shown = format!("{req:?}");
        assert!(shown.contains("o1"), "{shown}");
        assert!(
            !shown.contains("张三") && !shown.contains("11010519491231002X"),
            "{shown}"
        );
    }
}
