//! The HTTP API's errors: one envelope, `{"error": {"code", "message"}}`, and one table from code to status.
//!
//! Library crates keep their own error types (`identity::CredIdError`, `wechat::Error`, `store::Error`); this
//! module is the only place that turns them into HTTP answers. 5xx bodies say nothing internal: the detail goes
//! to the log (never personal data: library errors do not carry any).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest(String),
    PayloadTooLarge,
    /// The request head (line and headers) is longer than `serve::MAX_HEAD_BYTES` (16 KiB).
    HeadersTooLarge,
    /// The request (its body upload included) was not complete within `limits.request_timeout_ms`.
    RequestTimeout,
    InvalidCredId {
        reason: &'static str,
        message: String,
    },
    InvalidRealName {
        reason: &'static str,
        message: String,
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
    /// A human sentence. Never contains the submitted name or ID number.
    pub message: String,
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
            GuardianConsentRequired | InvalidCode | IdempotencyKeyReused | UnknownApp => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Unauthorized | AdminUnauthorized => StatusCode::UNAUTHORIZED,
            ForbiddenApp => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            CodeAlreadyUsed | IdempotencyInProgress => StatusCode::CONFLICT,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            UpstreamPermissionDenied | UpstreamRejected { .. } => StatusCode::BAD_GATEWAY,
            UpstreamQuotaExhausted
            | UpstreamUnavailable
            | UpstreamPaused { .. }
            | UpstreamNoToken
            | UpstreamNotReached
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
            NotFound => "not_found",
            CodeAlreadyUsed => "code_already_used",
            IdempotencyKeyReused => "idempotency_key_reused",
            IdempotencyInProgress => "idempotency_in_progress",
            InvalidCode => "invalid_code",
            RateLimited { .. } => "rate_limited",
            UpstreamPermissionDenied => "upstream_permission_denied",
            UpstreamQuotaExhausted => "upstream_quota_exhausted",
            UpstreamUnavailable | UpstreamPaused { .. } | UpstreamNoToken | UpstreamNotReached => {
                "upstream_unavailable"
            }
            UpstreamRejected { .. } => "upstream_rejected",
            DependencyUnavailable => "dependency_unavailable",
            Internal => "internal",
        }
    }

    pub fn message(&self) -> String {
        use ApiError::*;
        match self {
            InvalidRequest(m) => m.clone(),
            PayloadTooLarge => "the request body is larger than this gateway accepts".into(),
            HeadersTooLarge => "the request line and headers are longer than this gateway accepts (16 KiB)".into(),
            RequestTimeout => "the request was not completed in time; send it again".into(),
            InvalidCredId { message, .. } | InvalidRealName { message, .. } => message.clone(),
            InvalidOpenid => "openid must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
            PersonalDataInField { field } => format!(
                "{field} holds what reads as an ID number; an ID number belongs in cred_id only, and is never kept or logged anywhere else"
            ),
            UpstreamUnknownOpenid => "WeChat does not know this openid under this appid".into(),
            UnsupportedCredType => "only cred_type 1 (mainland resident ID card) is supported".into(),
            GuardianConsentRequired => {
                "the ID number belongs to a child under 14: send \"guardian_consent\": true once a guardian has agreed"
                    .into()
            }
            Unauthorized => "a valid API key is required: Authorization: Bearer wxrn_...".into(),
            AdminUnauthorized => "the admin token is required: Authorization: Bearer <admin token> (the admin API is off unless admin_token or admin_token_env is set)".into(),
            ForbiddenApp => "this API key may not verify for that appid".into(),
            UnknownApp => "this gateway has no configuration for that appid".into(),
            NotFound => "not found".into(),
            CodeAlreadyUsed => "this code was already used; a code from WeChat's consent page is good for one check".into(),
            IdempotencyKeyReused => "this Idempotency-Key was used with a different request".into(),
            IdempotencyInProgress => "a request with this Idempotency-Key is still running; retry shortly".into(),
            InvalidCode => "WeChat rejected the code: it is unknown, expired, used, or belongs to another user".into(),
            RateLimited { .. } => "too many verifications; retry after the time in Retry-After".into(),
            UpstreamPermissionDenied => "WeChat says this app does not hold the real-name check permission".into(),
            UpstreamQuotaExhausted => "WeChat's daily quota for this app is used up".into(),
            UpstreamUnavailable => "WeChat did not answer usefully; the code may be spent, ask the user to consent again".into(),
            UpstreamPaused { .. } => "WeChat has been failing, so this gateway is not calling it for now; the code was not used: retry with it after the time in Retry-After".into(),
            UpstreamNoToken => "no access token could be obtained from WeChat, so nothing was sent; the code was not used: retry with it shortly".into(),
            UpstreamNotReached => "WeChat could not be reached, so nothing was sent; the code was not used: retry with it shortly".into(),
            UpstreamRejected { .. } => "WeChat rejected the call".into(),
            DependencyUnavailable => "a backing service is unavailable; retry later".into(),
            Internal => "internal error".into(),
        }
    }

    pub fn body(&self) -> ErrorBody {
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
                message: self.message(),
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
        | ApiError::UpstreamPaused { retry_after_secs } = self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if let ApiError::Unauthorized | ApiError::AdminUnauthorized = self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        tracing::error!(error = %e, "store error");
        ApiError::DependencyUnavailable
    }
}
