//! The HTTP API's errors: one envelope, `{"error": {"code", "message", "user_message"}}`, and one table from
//! code to status.
//!
//! Every case's sentences are in the catalogue, `i18n::api`, in English and Chinese. `message` is for the
//! integrating developer, `user_message` for the end user. A response is first rendered in the defaults
//! (`message` English, `user_message` Chinese) and carries its `ApiError` as a response extension; the router's
//! outermost layer ([`localize`]) renders it again in the languages `Accept-Language` and the configuration's
//! `language` pick. Code built outside the router (the connection loop) calls [`ApiError::response_in`].
//!
//! Library crates keep their own error types (`identity::CredIdError`, `wechat::Error`, `store::Error`); this
//! module is the only place that turns them into HTTP answers. 5xx bodies say nothing internal: the detail goes
//! to the log (never personal data: library errors do not carry any).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use i18n::api::ErrorText;
use i18n::{Lang, Msg};
use serde::Serialize;
use utoipa::ToSchema;

/// Every error the HTTP API answers with. A new case needs its entry in `i18n::api` ([`ApiError::text`] does
/// not compile without one) and a line in docs/api.md's table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(test, derive(strum::EnumIter))]
pub enum ApiError {
    /// The request is malformed; the sentence says how (from `i18n::api::request`).
    InvalidRequest(Msg),
    PayloadTooLarge,
    /// The request head (line and headers) is longer than `serve::MAX_HEAD_BYTES` (16 KiB).
    HeadersTooLarge,
    /// The request (its body upload included) was not complete within `limits.request_timeout_ms`.
    RequestTimeout,
    /// `message` is the failed rule's own sentence (`identity::CredIdError`).
    InvalidCredId {
        reason: &'static str,
        message: Msg,
    },
    /// `message` is the failed rule's own sentence (`identity::RealNameError`).
    InvalidRealName {
        reason: &'static str,
        message: Msg,
    },
    InvalidOpenid,
    /// A field where no ID number belongs (`openid`, `purpose`, `code`, the `Idempotency-Key` header) holds one
    /// (`identity::contains_cred_id`): refused before anything is stored, logged or sent.
    PersonalDataInField {
        field: &'static str,
    },
    /// WeChat answered 40003: no such user under this app.
    UpstreamUnknownOpenid,
    UnsupportedCredType,
    GuardianConsentRequired,
    Unauthorized,
    /// The admin API without the admin token (the same code as `Unauthorized`, its own message).
    AdminUnauthorized,
    ForbiddenApp,
    UnknownApp,
    NotFound,
    /// No identity is kept for this user (`not_found`): the message names the appid and openid, which are not
    /// personal data here (SECURITY.md's data inventory), so an integrator sees which lookup missed.
    NoIdentity {
        appid: String,
        /// None when the path's openid is not repeated (it is not an openid, or it is an ID number).
        openid: Option<String>,
    },
    CodeAlreadyUsed,
    IdempotencyKeyReused,
    IdempotencyInProgress,
    InvalidCode,
    RateLimited {
        retry_after_secs: u64,
    },
    UpstreamPermissionDenied,
    UpstreamQuotaExhausted,
    UpstreamUnavailable,
    /// WeChat has been failing and the app's circuit breaker is open: refused before the code was reserved.
    /// The same code as `UpstreamUnavailable`, but the code is still good and `Retry-After` says when to retry.
    UpstreamPaused {
        retry_after_secs: u64,
    },
    /// No access token could be had (WeChat's token endpoint failing): nothing was sent, the code is unused.
    UpstreamNoToken,
    /// The connection to WeChat failed before the request was sent: the reservation is released, the code is
    /// unused.
    UpstreamNotReached,
    UpstreamRejected {
        errcode: i64,
    },
    DependencyUnavailable,
    Internal,
    /// The API key lacks the scope of this check: `idcheck` for `/v1/idchecks`, an app for WeChat's.
    Forbidden,
    /// `POST /v1/idchecks` on a gateway with no `[idcheck] providers`.
    IdcheckNotConfigured,
    /// An idcheck without `consent_ref`.
    ConsentRequired,
    /// The day's `idcheck.daily_budget` of provider calls is spent, until midnight in Asia/Shanghai.
    BudgetExhausted {
        retry_after_secs: u64,
    },
    /// No idcheck provider gave a verdict (`upstream_unavailable`, with its own sentences).
    ProvidersUnavailable,
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code, e.g. `invalid_cred_id`.
    pub code: &'static str,
    /// For the developer: what is wrong and what to change. Never contains the submitted name or ID number.
    /// In the language `Accept-Language` picks, else the configuration's `language` (default English).
    pub message: String,
    /// For the end user, to be shown by a mini program as is (e.g. "身份证号码有误，请核对后重试"): never a
    /// developer hint. In the language `Accept-Language` picks, else Chinese.
    pub user_message: String,
    /// For `invalid_cred_id` / `invalid_real_name`: which rule failed (`checksum`, `date`, `charset`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For upstream errors: WeChat's errcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            InvalidRequest(_) => StatusCode::BAD_REQUEST,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            InvalidCredId { .. }
            | InvalidRealName { .. }
            | InvalidOpenid
            | PersonalDataInField { .. }
            | UpstreamUnknownOpenid
            | UnsupportedCredType => StatusCode::UNPROCESSABLE_ENTITY,
            GuardianConsentRequired
            | InvalidCode
            | IdempotencyKeyReused
            | UnknownApp
            | ConsentRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Unauthorized | AdminUnauthorized => StatusCode::UNAUTHORIZED,
            ForbiddenApp | Forbidden => StatusCode::FORBIDDEN,
            NotFound | NoIdentity { .. } | IdcheckNotConfigured => StatusCode::NOT_FOUND,
            CodeAlreadyUsed | IdempotencyInProgress => StatusCode::CONFLICT,
            RateLimited { .. } | BudgetExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
            UpstreamPermissionDenied | UpstreamRejected { .. } => StatusCode::BAD_GATEWAY,
            UpstreamQuotaExhausted
            | UpstreamUnavailable
            | UpstreamPaused { .. }
            | UpstreamNoToken
            | UpstreamNotReached
            | ProvidersUnavailable
            | DependencyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            InvalidRequest(_) => "invalid_request",
            PayloadTooLarge => "payload_too_large",
            HeadersTooLarge => "headers_too_large",
            RequestTimeout => "request_timeout",
            InvalidCredId { .. } => "invalid_cred_id",
            InvalidRealName { .. } => "invalid_real_name",
            InvalidOpenid | UpstreamUnknownOpenid => "invalid_openid",
            PersonalDataInField { .. } => "personal_data_in_field",
            UnsupportedCredType => "unsupported_cred_type",
            GuardianConsentRequired => "guardian_consent_required",
            Unauthorized | AdminUnauthorized => "unauthorized",
            ForbiddenApp => "forbidden_app",
            UnknownApp => "unknown_app",
            NotFound | NoIdentity { .. } => "not_found",
            CodeAlreadyUsed => "code_already_used",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyInProgress => "idempotency_in_progress",
            InvalidCode => "invalid_code",
            RateLimited { .. } => "rate_limited",
            UpstreamPermissionDenied => "upstream_permission_denied",
            UpstreamQuotaExhausted => "upstream_quota_exhausted",
            UpstreamUnavailable
            | UpstreamPaused { .. }
            | UpstreamNoToken
            | UpstreamNotReached
            | ProvidersUnavailable => "upstream_unavailable",
            UpstreamRejected { .. } => "upstream_rejected",
            DependencyUnavailable => "dependency_unavailable",
            Internal => "internal",
            Forbidden => "forbidden",
            IdcheckNotConfigured => "idcheck_not_configured",
            ConsentRequired => "consent_required",
            BudgetExhausted { .. } => "budget_exhausted",
        }
    }

    /// This case's catalogue entry.
    pub fn text(&self) -> ErrorText {
        use ApiError::*;
        use i18n::api as t;
        match self {
            InvalidRequest(_) => t::INVALID_REQUEST,
            PayloadTooLarge => t::PAYLOAD_TOO_LARGE,
            HeadersTooLarge => t::HEADERS_TOO_LARGE,
            RequestTimeout => t::REQUEST_TIMEOUT,
            InvalidCredId { .. } => t::INVALID_CRED_ID,
            InvalidRealName { .. } => t::INVALID_REAL_NAME,
            InvalidOpenid => t::INVALID_OPENID,
            PersonalDataInField { .. } => t::PERSONAL_DATA_IN_FIELD,
            UpstreamUnknownOpenid => t::UPSTREAM_UNKNOWN_OPENID,
            UnsupportedCredType => t::UNSUPPORTED_CRED_TYPE,
            GuardianConsentRequired => t::GUARDIAN_CONSENT_REQUIRED,
            Unauthorized => t::UNAUTHORIZED,
            AdminUnauthorized => t::ADMIN_UNAUTHORIZED,
            ForbiddenApp => t::FORBIDDEN_APP,
            UnknownApp => t::UNKNOWN_APP,
            NotFound => t::NOT_FOUND,
            NoIdentity { .. } => t::NO_IDENTITY,
            CodeAlreadyUsed => t::CODE_ALREADY_USED,
            IdempotencyKeyReused => t::IDEMPOTENCY_KEY_REUSED,
            IdempotencyInProgress => t::IDEMPOTENCY_IN_PROGRESS,
            InvalidCode => t::INVALID_CODE,
            RateLimited { .. } => t::RATE_LIMITED,
            UpstreamPermissionDenied => t::UPSTREAM_PERMISSION_DENIED,
            UpstreamQuotaExhausted => t::UPSTREAM_QUOTA_EXHAUSTED,
            UpstreamUnavailable => t::UPSTREAM_UNAVAILABLE,
            UpstreamPaused { .. } => t::UPSTREAM_PAUSED,
            UpstreamNoToken => t::UPSTREAM_NO_TOKEN,
            UpstreamNotReached => t::UPSTREAM_NOT_REACHED,
            UpstreamRejected { .. } => t::UPSTREAM_REJECTED,
            DependencyUnavailable => t::DEPENDENCY_UNAVAILABLE,
            Internal => t::INTERNAL,
            Forbidden => t::FORBIDDEN,
            IdcheckNotConfigured => t::IDCHECK_NOT_CONFIGURED,
            ConsentRequired => t::CONSENT_REQUIRED,
            BudgetExhausted { .. } => t::BUDGET_EXHAUSTED,
            ProvidersUnavailable => t::PROVIDERS_UNAVAILABLE,
        }
    }

    /// The developer's sentence in `lang`.
    pub fn message_in(&self, lang: Lang) -> String {
        match self {
            ApiError::InvalidRequest(m)
            | ApiError::InvalidCredId { message: m, .. }
            | ApiError::InvalidRealName { message: m, .. } => m.get(lang).to_owned(),
            ApiError::PersonalDataInField { field } => i18n::api::PERSONAL_DATA_IN_FIELD
                .message
                .fill(lang, &[("field", field)]),
            ApiError::NoIdentity { appid, openid } => {
                let openid = match openid {
                    Some(o) => format!("`{o}`"),
                    None => i18n::api::request::OPENID_NOT_REPEATED.get(lang).to_owned(),
                };
                i18n::api::NO_IDENTITY
                    .message
                    .fill(lang, &[("appid", appid), ("openid", &openid)])
            }
            other => other.text().message.get(lang).to_owned(),
        }
    }

    /// The developer's sentence in English (logs, tests).
    pub fn message(&self) -> String {
        self.message_in(Lang::En)
    }

    /// `invalid_request` with one of the catalogue's sentences.
    pub fn invalid_request(text: i18n::Text) -> ApiError {
        ApiError::InvalidRequest(text.into())
    }

    pub fn invalid_cred_id(e: &identity::CredIdError) -> ApiError {
        ApiError::InvalidCredId {
            reason: e.code(),
            message: Msg::new(e.to_string(), e.message_zh()),
        }
    }

    pub fn invalid_real_name(e: &identity::RealNameError) -> ApiError {
        ApiError::InvalidRealName {
            reason: e.code(),
            message: Msg::new(e.to_string(), e.message_zh()),
        }
    }

    /// The envelope in the default languages (`message` English, `user_message` Chinese).
    pub fn body(&self) -> ErrorBody {
        self.body_in(Langs::default())
    }

    /// The whole answer in the given languages: what the connection loop, outside the router, sends.
    pub fn response_in(&self, langs: Langs) -> Response {
        let mut resp = self.clone().into_response();
        localize_response(&mut resp, langs);
        resp
    }

    /// The envelope with `message` and `user_message` in the given languages.
    pub fn body_in(&self, langs: Langs) -> ErrorBody {
        let (reason, errcode) = match self {
            ApiError::InvalidCredId { reason, .. } | ApiError::InvalidRealName { reason, .. } => {
                (Some(*reason), None)
            }
            ApiError::UpstreamRejected { errcode } => (None, Some(*errcode)),
            ApiError::InvalidCode => (None, Some(80113)),
            ApiError::UpstreamUnknownOpenid => (None, Some(40003)),
            ApiError::UpstreamPermissionDenied => (None, Some(48001)),
            ApiError::UpstreamQuotaExhausted => (None, Some(45009)),
            _ => (None, None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.message_in(langs.message),
                user_message: self.text().user_message.get(langs.user).to_owned(),
                reason,
                errcode,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs }
        | ApiError::UpstreamPaused { retry_after_secs }
        | ApiError::BudgetExhausted { retry_after_secs } = self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let ApiError::Unauthorized | ApiError::AdminUnauthorized = self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-language"));
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The languages of an error's two sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Langs {
    pub message: Lang,
    pub user: Lang,
}

impl Default for Langs {
    /// English for the developer, Chinese for the end user: who reads each, without being told otherwise.
    fn default() -> Self {
        Langs {
            message: Lang::En,
            user: Lang::Zh,
        }
    }
}

impl Langs {
    /// What a request asks for: `Accept-Language` (q-values honoured) picks both; without a language we speak in
    /// it, `message` is in `configured` (the configuration's `language`) and `user_message` in Chinese.
    pub fn negotiate(headers: &HeaderMap, configured: Lang) -> Langs {
        let asked = headers
            .get_all(header::ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        match Lang::from_accept_language(&asked) {
            Some(lang) => Langs {
                message: lang,
                user: lang,
            },
            None => Langs {
                message: configured,
                user: Lang::Zh,
            },
        }
    }
}

/// An error answer kept for idempotent replay, as rendered then (in the default languages). Replayed answers
/// carry it so that [`localize`] can speak the replaying request's language: the envelope's English `message`
/// names its catalogue entry (the replayed errors are the upstream ones, whose sentences are fixed).
#[derive(Debug, Clone)]
pub struct StoredError(pub String);

fn relocalize_stored(stored: &str, langs: Langs) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_str(stored).ok()?;
    let detail = v.get_mut("error")?.as_object_mut()?;
    let en = detail.get("message")?.as_str()?;
    let (_, text) = i18n::api::ALL.iter().find(|(_, t)| t.message.en == en)?;
    detail.insert("message".into(), text.message.get(langs.message).into());
    detail.insert(
        "user_message".into(),
        text.user_message.get(langs.user).into(),
    );
    serde_json::to_vec(&v).ok()
}

/// Render an error answer's body again in `langs`; any other response is left alone.
pub fn localize_response(resp: &mut Response, langs: Langs) {
    if langs == Langs::default() {
        return;
    }
    let body = if let Some(err) = resp.extensions().get::<ApiError>() {
        serde_json::to_vec(&err.body_in(langs)).ok()
    } else if let Some(StoredError(stored)) = resp.extensions().get::<StoredError>() {
        relocalize_stored(stored, langs)
    } else {
        return;
    };
    let Some(body) = body else {
        return;
    };
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    *resp.body_mut() = axum::body::Body::from(body);
}

/// The router's outermost layer: every error answer in the languages the request asks for.
pub async fn localize(
    configured: Lang,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let langs = Langs::negotiate(req.headers(), configured);
    let mut resp = next.run(req).await;
    localize_response(&mut resp, langs);
    resp
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::DependencyUnavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    fn zh_en() -> [(Langs, Lang); 2] {
        [
            (
                Langs {
                    message: Lang::En,
                    user: Lang::En,
                },
                Lang::En,
            ),
            (
                Langs {
                    message: Lang::Zh,
                    user: Lang::Zh,
                },
                Lang::Zh,
            ),
        ]
    }

    /// Every case of the enum, in both languages: the code and status never change, and each sentence is in the
    /// language asked for. A case whose catalogue entry lacks a translation fails here.
    #[test]
    fn every_error_speaks_both_languages_with_one_code() {
        let mut cases = 0;
        for err in ApiError::iter() {
            // The cases that carry their own sentence get one, as the callers give it.
            let err = match err {
                ApiError::InvalidRequest(_) => {
                    ApiError::invalid_request(i18n::api::request::NOT_JSON)
                }
                ApiError::InvalidCredId { .. } => {
                    ApiError::invalid_cred_id(&identity::CredIdError::Checksum)
                }
                ApiError::InvalidRealName { .. } => {
                    ApiError::invalid_real_name(&identity::RealNameError::Charset)
                }
                other => other,
            };
            cases += 1;
            let code = err.code();
            for (langs, lang) in zh_en() {
                let body = err.body_in(langs).error;
                assert_eq!(body.code, code);
                let chinese = lang == Lang::Zh;
                assert_eq!(
                    i18n::has_cjk(&body.message),
                    chinese,
                    "{code}: {}",
                    body.message
                );
                assert_eq!(
                    i18n::has_cjk(&body.user_message),
                    chinese,
                    "{code}: {}",
                    body.user_message
                );
                assert_ne!(body.message, body.user_message, "{code}");
            }
        }
        assert!(cases >= 28, "{cases}");
    }

    #[test]
    fn defaults_are_english_for_developers_and_chinese_for_users() {
        let body = ApiError::invalid_cred_id(&identity::CredIdError::Checksum)
            .body()
            .error;
        assert_eq!(body.user_message, "身份证号码有误，请核对后重试");
        assert!(body.message.contains("last character"), "{}", body.message);
    }

    #[test]
    fn negotiation_falls_back_to_the_configured_language_for_messages_only() {
        let mut h = HeaderMap::new();
        assert_eq!(
            Langs::negotiate(&h, Lang::Zh),
            Langs {
                message: Lang::Zh,
                user: Lang::Zh
            }
        );
        assert_eq!(Langs::negotiate(&h, Lang::En), Langs::default());
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr, en;q=0.5"),
        );
        assert_eq!(
            Langs::negotiate(&h, Lang::Zh),
            Langs {
                message: Lang::En,
                user: Lang::En
            }
        );
    }

    #[test]
    fn a_stored_upstream_error_is_replayed_in_the_asked_language() {
        let stored = serde_json::to_string(&ApiError::UpstreamUnavailable.body()).unwrap();
        let zh = Langs {
            message: Lang::Zh,
            user: Lang::Zh,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&relocalize_stored(&stored, zh).unwrap()).unwrap();
        assert_eq!(v["error"]["code"], "upstream_unavailable");
        assert_eq!(
            v["error"]["message"],
            i18n::api::UPSTREAM_UNAVAILABLE.message.zh
        );
        assert_eq!(
            v["error"]["user_message"],
            i18n::api::UPSTREAM_UNAVAILABLE.user_message.zh
        );
    }
}
