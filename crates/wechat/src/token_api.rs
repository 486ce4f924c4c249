//! `cgi-bin/token` and `cgi-bin/stable_token`: the two ways to get an access token.
use crate::client::{Endpoint, str_field};
use crate::error::{Error, Result};
use crate::{AccessToken, AppSecret, Client};
use identity::AppId;
use serde_json::{Map, Value};
use std::time::Duration;

/// A token as WeChat issued it, with the lifetime it announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: AccessToken,
    pub expires_in: Duration,
}

impl Client {
    /// The classic token. Each call invalidates the app's previous classic token (after a grace period), so
    /// several instances calling this independently break one another: prefer [`Client::stable_token`].
    pub async fn token(&self, appid: &AppId, secret: &AppSecret) -> Result<IssuedToken> {
        let request = self.get(Endpoint::Token).query(&[
            ("grant_type", "client_credential"),
            ("appid", appid.as_str()),
            ("secret", secret.expose()),
        ]);
        let reply = self
            .call(Endpoint::Token, request, &[secret.expose()])
            .await?;
        issued(&reply, Endpoint::Token)
    }

    /// The stable token: every caller gets the same token until it nears expiry. `force_refresh` replaces it
    /// (WeChat allows that 20 times a day, 30 s apart) and invalidates the old one for everybody.
    pub async fn stable_token(
        &self,
        appid: &AppId,
        secret: &AppSecret,
        force_refresh: bool,
    ) -> Result<IssuedToken> {
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": appid.as_str(),
            "secret": secret.expose(),
            "force_refresh": force_refresh,
        });
        let request = self.post(Endpoint::StableToken).json(&body);
        let reply = self
            .call(Endpoint::StableToken, request, &[secret.expose()])
            .await?;
        issued(&reply, Endpoint::StableToken)
    }
}

fn issued(reply: &Map<String, Value>, endpoint: Endpoint) -> Result<IssuedToken> {
    let token = str_field(reply, endpoint, "access_token")?;
    if token.is_empty() {
        return Err(Error::Malformed(format!(
            "{}: access_token is empty",
            endpoint.as_str()
        )));
    }
    let expires_in = reply
        .get("expires_in")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            Error::Malformed(format!(
                "{}: expires_in is not a positive integer",
                endpoint.as_str()
            ))
        })?;
    Ok(IssuedToken {
        token: AccessToken::new(token.to_owned()),
        expires_in: Duration::from_secs(expires_in),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_a_token_reply() {
        let t = issued(
            &object(r#"{"access_token":"abc","expires_in":7200}"#),
            Endpoint::Token,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "abc");
        assert_eq!(t.expires_in, Duration::from_secs(7200));
    }

    #[test]
    fn rejects_incomplete_token_replies_without_echoing_them() {
        for json in [
            r#"{"expires_in":7200}"#,
            r#"{"access_token":"","expires_in":7200}"#,
            r#"{"access_token":"SECRETTOKEN"}"#,
            r#"{"access_token":"SECRETTOKEN","expires_in":"7200"}"#,
            r#"{"access_token":"SECRETTOKEN","expires_in":0}"#,
            r#"{"access_token":42,"expires_in":7200}"#,
        ] {
            let err = issued(&object(json), Endpoint::StableToken).unwrap_err();
            assert_eq!(err.kind(), "malformed", "{json}");
            assert!(!err.to_string().contains("SECRETTOKEN"));
        }
    }
}
