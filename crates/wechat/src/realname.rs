//! The check with token handling: the one place that resends, and only after a token error.
use crate::{CheckRequest, CheckResult, Client, Error, TokenProvider};
use std::sync::Arc;

/// The real-name check as an application uses it: gets the token, and recovers from a rejected token.
#[derive(Debug, Clone)]
pub struct RealnameApi {
    client: Client,
    tokens: Arc<dyn TokenProvider>,
}

impl RealnameApi {
    pub fn new(client: Client, tokens: Arc<dyn TokenProvider>) -> Self {
        Self { client, tokens }
    }

    pub fn tokens(&self) -> &Arc<dyn TokenProvider> {
        &self.tokens
    }

    /// One call, plus at most one resend, and only after 40001/40014/42001: WeChat rejects a bad token
    /// before it looks at the code, so the code is still unused. Every other failure is returned as is, since
    /// a resend could burn the single-use code and turn the real answer into 80113.
    pub async fn check(&self, req: &CheckRequest<'_>) -> Result<CheckResult, Error> {
        let openid = req.openid.as_str();
        let token = self.tokens.token().await?;
        let result = match self.client.check_real_name_info(&token, req).await {
            Err(err) if err.is_token_error() => {
                tracing::info!(openid, token = %token.fingerprint(), error = %err, "token rejected; refreshing and resending once");
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
        };
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
}
