//! The check with token handling and the circuit breaker: the one place that resends, and only after a token
//! error.
use crate::{Breaker, CheckRequest, CheckResult, Client, Error, Permit, TokenProvider};
use std::sync::Arc;

/// The real-name check as an application uses it: gets the token, recovers from a rejected token, and (with a
/// [`Breaker`]) stops calling WeChat while it is failing.
#[derive(Debug, Clone)]
pub struct RealnameApi {
    client: Client,
    tokens: Arc<dyn TokenProvider>,
    breaker: Option<Arc<Breaker>>,
}

impl RealnameApi {
    pub fn new(client: Client, tokens: Arc<dyn TokenProvider>) -> Self {
        Self {
            client,
            tokens,
            breaker: None,
        }
    }

    /// Guard the check with this breaker (one per app: one app's failures say nothing about another's).
    pub fn with_breaker(mut self, breaker: Arc<Breaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }

    pub fn tokens(&self) -> &Arc<dyn TokenProvider> {
        &self.tokens
    }

    pub fn breaker(&self) -> Option<&Arc<Breaker>> {
        self.breaker.as_ref()
    }

    /// Leave for one check, asked before anything is spent: [`Error::CircuitOpen`] while the breaker is open,
    /// which provably sent nothing. Without a breaker, always granted.
    pub fn admit(&self) -> Result<Permit, Error> {
        match &self.breaker {
            Some(b) => b.admit(),
            None => Ok(Permit::unguarded()),
        }
    }

    /// [`admit`](Self::admit), then [`check_with`](Self::check_with).
    pub async fn check(&self, req: &CheckRequest<'_>) -> Result<CheckResult, Error> {
        let permit = self.admit()?;
        self.check_with(permit, req).await
    }

    /// One call, plus at most one resend, and only after 40001/40014/42001: WeChat rejects a bad token
    /// before it looks at the code, so the code is still unused. Every other failure is returned as is, since
    /// a resend could burn the single-use code and turn the real answer into 80113. The result is reported to
    /// the breaker through `permit`.
    pub async fn check_with(
        &self,
        permit: Permit,
        req: &CheckRequest<'_>,
    ) -> Result<CheckResult, Error> {
        let result = self.call(req).await;
        permit.record(&result);
        let openid = req.openid.as_str();
        match &result {
            Ok(r) => tracing::info!(
                openid,
                outcome = r.outcome.as_str(),
                token_retries = r.token_retries,
                "real-name check"
            ),
            Err(e) => {
                tracing::warn!(openid, error_kind = e.kind(), errcode = e.errcode(), error = %e, "real-name check failed")
            }
        }
        result
    }

    async fn call(&self, req: &CheckRequest<'_>) -> Result<CheckResult, Error> {
        let token = self.tokens.token().await?;
        match self.client.check_real_name_info(&token, req).await {
            Err(err) if err.is_token_error() => {
                tracing::info!(openid = req.openid.as_str(), token = %token.fingerprint(), error = %err, "token rejected; refreshing and resending once");
                self.tokens.invalidate(&token).await;
                let fresh = self.tokens.token().await?;
                self.client
                    .check_real_name_info(&fresh, req)
                    .await
                    .map(|mut r| {
                        r.token_retries = 1;
                        r
                    })
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        AppSecret, BreakerConfig, BreakerState, ClientConfig, ManualClock, MemoryTokenStore,
        TokenKind, TokenManager,
    };
    use identity::{AppId, CredId, OpenId, RealName};
    use sandbox::{Endpoint, Fault, Sandbox, SandboxConfig};
    use std::time::Duration;

    const APPID: &str = "wx00000000000000c3";
    const SECRET: &str = "breaker-secret-c3";
    const OPENID: &str = "o_breaker";

    /// The breaker in the real call path, over loopback HTTP: failures open it, an open circuit sends nothing,
    /// and after the cool-down one probe closes it.
    #[tokio::test]
    async fn an_open_breaker_sends_nothing_until_a_probe_succeeds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sb = Sandbox::spawn(listener, SandboxConfig::default())
            .await
            .unwrap();
        sb.state().add_app(APPID, SECRET, true).unwrap();
        sb.state()
            .add_user(APPID, OPENID, Some("张三"), Some("11010519491231002X"))
            .unwrap();
        let clock = Arc::new(ManualClock::default());
        let client = Client::new(ClientConfig {
            base_url: sb.base_url(),
            ..Default::default()
        })
        .unwrap();
        let tokens = TokenManager::new(
            client.clone(),
            AppId::parse(APPID).unwrap(),
            AppSecret::new(SECRET.into()),
            TokenKind::Stable,
            Arc::new(MemoryTokenStore::with_clock(clock.clone())),
            clock.clone(),
        );
        let breaker = Arc::new(Breaker::new(
            APPID,
            BreakerConfig {
                failures: 2,
                cool_down: Duration::from_secs(10),
            },
            clock.clone(),
        ));
        let api = RealnameApi::new(client, Arc::new(tokens)).with_breaker(breaker.clone());
        let (openid, name, cred) = (
            OpenId::parse(OPENID).unwrap(),
            RealName::parse("张三").unwrap(),
            CredId::parse("11010519491231002X").unwrap(),
        );
        let check = |code: String| {
            let api = api.clone();
            let (openid, name, cred) = (openid.clone(), name.clone(), cred.clone());
            async move {
                api.check(&CheckRequest {
                    openid: &openid,
                    real_name: &name,
                    cred_id: &cred,
                    code: &code,
                })
                .await
            }
        };
        let code = || sb.state().consent(APPID, OPENID).unwrap();

        sb.state()
            .add_fault(Fault::http_status(Endpoint::Checkrealnameinfo, 503).times(2))
            .unwrap();
        for _ in 0..2 {
            assert_eq!(check(code()).await.unwrap_err(), Error::HttpStatus(503));
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        let calls = sb.stats().calls.checkrealnameinfo;
        let err = check(code()).await.unwrap_err();
        assert!(matches!(err, Error::CircuitOpen { .. }), "{err}");
        assert!(!err.may_have_reached_wechat());
        assert_eq!(sb.stats().calls.checkrealnameinfo, calls, "nothing sent");

        clock.advance(Duration::from_secs(10));
        let r = check(code()).await.unwrap();
        assert_eq!(r.outcome.as_str(), "match");
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(sb.stats().calls.checkrealnameinfo, calls + 1);
    }
}
