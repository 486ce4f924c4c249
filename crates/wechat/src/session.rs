//! `sns/jscode2session`: a `wx.login` code in, the user's openid out.
use crate::client::{Endpoint, opt_str_field, str_field};
use crate::error::{Error, Result};
use crate::{AppSecret, Client};
use identity::{AppId, OpenId};
use secrecy::SecretString;
use std::fmt;

/// A login session. `session_key` decrypts the user's encrypted data: it never shows in `Debug`.
#[derive(Clone)]
pub struct Session {
    pub openid: OpenId,
    pub session_key: SecretString,
    pub unionid: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("openid", &self.openid.as_str())
            .field("session_key", &"[redacted]")
            .field("unionid", &self.unionid)
            .finish()
    }
}

impl Client {
    /// Exchanges a single-use `js_code` (from `wx.login`) for the user's openid and session key.
    pub async fn jscode2session(
        &self,
        appid: &AppId,
        secret: &AppSecret,
        js_code: &str,
    ) -> Result<Session> {
        let request = self.get(Endpoint::JsCode2Session).query(&[
            ("appid", appid.as_str()),
            ("secret", secret.expose()),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ]);
        let reply = self
            .call(
                Endpoint::JsCode2Session,
                request,
                &[secret.expose(), js_code],
            )
            .await?;
        let what = Endpoint::JsCode2Session;
        let openid = OpenId::parse(str_field(&reply, what, "openid")?)
            .map_err(|_| Error::Malformed("jscode2session: openid is not a valid openid".into()))?;
        let session_key = SecretString::from(str_field(&reply, what, "session_key")?.to_owned());
        let unionid = opt_str_field(&reply, what, "unionid")?
            .filter(|u| !u.is_empty())
            .map(str::to_owned);
        Ok(Session {
            openid,
            session_key,
            unionid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_session_key() {
        let session = Session {
            openid: OpenId::parse("o_user-1").unwrap(),
            session_key: SecretString::from("SESSIONKEY123"),
            unionid: None,
        };
        let debug = format!("{session:?}");
        assert!(!debug.contains("SESSIONKEY123"), "{debug}");
        assert!(debug.contains("o_user-1"));
    }
}
