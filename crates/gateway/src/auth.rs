//! Who is calling: the API-key extractor, and the admin-token check.

use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

/// A caller that presented a live API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub apps: Vec<String>,
}

impl Caller {
    /// The appid a request is for: the one named, which the key must allow, or the key's only app.
    pub fn resolve_app(&self, named: Option<&str>) -> Result<String, ApiError> {
        match named {
            Some(appid) if self.apps.iter().any(|a| a == appid) => Ok(appid.to_owned()),
            Some(_) => Err(ApiError::ForbiddenApp),
            None if self.apps.len() == 1 => Ok(self.apps[0].clone()),
            None => Err(ApiError::InvalidRequest(
                "appid is required: this API key is bound to several apps".into(),
            )),
        }
    }

    pub fn may_use(&self, appid: &str) -> bool {
        self.apps.iter().any(|a| a == appid)
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (id, secret) = bearer(parts)
            .and_then(keys::split)
            .ok_or(ApiError::Unauthorized)?;
        let record = state
            .store
            .api_key(id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if record.revoked_at_ms.is_some() || !keys::matches(secret, &record.key_hash) {
            return Err(ApiError::Unauthorized);
        }
        Ok(Caller {
            key_id: record.id,
            apps: record.apps,
        })
    }
}

/// A caller that presented the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state
            .admin_token
            .as_ref()
            .ok_or(ApiError::AdminUnauthorized)?;
        let presented = bearer(parts).ok_or(ApiError::AdminUnauthorized)?;
        if bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        ) {
            Ok(Admin)
        } else {
            Err(ApiError::AdminUnauthorized)
        }
    }
}
