//! Who is calling: the API-key and admin-token checks, shared by the extractors ([`Caller`], [`Admin`]) and by
//! [`Doorman`], which the connection loop asks before a request gets a permit or its body is read.
//!
//! A key's row comes from [`KeyCache`] (`limits.api_key_cache_ms`, at most a second: the longest a revoked key
//! is still accepted); the presented secret is hashed and compared with the row's hash on every request.

mod key_cache;

pub use key_cache::KeyCache;

use crate::error::ApiError;
use crate::keys;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

/// A caller that presented a live API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub apps: Vec<String>,
    /// Scopes beyond the apps' (`idcheck`).
    pub scopes: Vec<String>,
}

impl Caller {
    /// The appid a request is for: the one named, which the key must allow, or the key's only app.
    pub fn resolve_app(&self, named: Option<&str>) -> Result<String, ApiError> {
        match named {
            // A key made for idchecks only (`--scope idcheck`, no app) may not make WeChat checks.
            _ if self.apps.is_empty() => Err(ApiError::Forbidden),
            Some(appid) if self.apps.iter().any(|a| a == appid) => Ok(appid.to_owned()),
            Some(_) => Err(ApiError::ForbiddenApp),
            None if self.apps.len() == 1 => Ok(self.apps[0].clone()),
            None => Err(ApiError::invalid_request(
                i18n::api::request::APPID_REQUIRED,
            )),
        }
    }

    pub fn may_use(&self, appid: &str) -> bool {
        self.apps.iter().any(|a| a == appid)
    }

    /// Whether the key has the `idcheck` scope (the paid name + ID-number check).
    pub fn may_idcheck(&self) -> bool {
        self.scopes.iter().any(|s| s == "idcheck")
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The caller an `Authorization: Bearer wxrn_<id>_<secret>` header names, if its key is live: the key's row from
/// the cache (read from the store at most `limits.api_key_cache_ms` ago), the secret checked against it.
pub(crate) async fn caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let (id, secret) = bearer(parts)
        .and_then(keys::split)
        .ok_or(ApiError::Unauthorized)?;
    let record = state
        .key_cache
        .get(id, state.clock.as_ref(), || state.store.api_key(id))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    // Every request, cached row or not: a right id with a wrong secret is never let in.
    if record.revoked_at_ms.is_some() || !keys::matches(secret, &record.key_hash) {
        return Err(ApiError::Unauthorized);
    }
    Ok(Caller {
        key_id: record.id.clone(),
        apps: record.apps.clone(),
        scopes: record.scopes.clone(),
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Put there by `Doorman` when the connection loop checked this request's key from its head.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        caller(parts, state).await
    }
}

/// A caller that presented the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Whether the request carries the admin token (compared in constant time).
pub(crate) fn admin(parts: &Parts, state: &AppState) -> Result<Admin, ApiError> {
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

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        admin(parts, state)
    }
}

/// What a route asks of its caller, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `/v1/...`: an API key.
    ApiKey,
    /// `/admin/api/...`: the admin token.
    AdminToken,
    /// Everything else: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, the admin console's page and assets,
    /// unknown paths.
    Nothing,
}

impl Needs {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v1/") {
            Needs::ApiKey
        } else if path.starts_with("/admin/api/") {
            Needs::AdminToken
        } else {
            Needs::Nothing
        }
    }
}

/// The connection loop's [`Gate`](crate::serve::Gate): keyed (a `max_in_flight` permit) only with a live API key
/// on an API route or the admin token on an admin route, checked from the head alone.
#[derive(Debug, Clone)]
pub struct Doorman(pub AppState);

impl crate::serve::Gate for Doorman {
    fn admit<'a>(
        &'a self,
        head: &'a Parts,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::serve::Admit> + Send + 'a>> {
        use crate::serve::Admit;
        Box::pin(async move {
            match Needs::of(head.uri.path()) {
                Needs::Nothing => Admit::Open,
                Needs::ApiKey => match caller(head, &self.0).await {
                    Ok(caller) => {
                        let mut extensions = Extensions::new();
                        extensions.insert(caller);
                        Admit::Keyed(extensions)
                    }
                    // A store failure too: the router then answers as the extractor finds it (503).
                    Err(_) => Admit::Refused,
                },
                Needs::AdminToken => match admin(head, &self.0) {
                    Ok(_) => Admit::Keyed(Extensions::new()),
                    Err(_) => Admit::Refused,
                },
            }
        })
    }

    fn head_too_large(&self) -> Vec<u8> {
        serde_json::to_vec(&ApiError::HeadersTooLarge.body()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Needs;

    #[test]
    fn routes_are_keyed_by_their_prefix() {
        assert_eq!(Needs::of("/v1/verifications"), Needs::ApiKey);
        assert_eq!(Needs::of("/v1/identities/wx1/o"), Needs::ApiKey);
        assert_eq!(Needs::of("/admin/api/overview"), Needs::AdminToken);
        for open in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/admin",
            "/admin/admin.js",
            "/v1",
            "/",
        ] {
            assert_eq!(Needs::of(open), Needs::Nothing, "{open}");
        }
    }
}
