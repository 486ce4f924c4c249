//! `wxrealname check`: one direct call through the SDK, for operators testing their permission.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use i18n::cli as t;
use identity::{AppId, CredId, OpenId, RealName};
use std::sync::Arc;
use std::time::Duration;
use wechat::{
    AppSecret, CheckRequest, Client, ClientConfig, MemoryTokenStore, RealnameApi, SystemClock,
    TokenKind, TokenManager,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// WeChat's API host, or a sandbox's.
    #[arg(long, default_value = wechat::WECHAT_API)]
    base_url: String,
    /// The mini program's appid (its secret comes from WXRN_APP_SECRET).
    #[arg(long)]
    appid: String,
    /// The user's openid in that mini program (the one the consent code was issued for).
    #[arg(long)]
    openid: String,
    /// The name to check.
    #[arg(long)]
    name: String,
    /// The ID number to check.
    #[arg(long)]
    cred_id: String,
    /// The code from the consent page.
    #[arg(long)]
    code: String,
    /// stable (default) or classic.
    #[arg(long, default_value = "stable")]
    token_kind: String,
    /// Per-call timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Trust this extra CA certificate (PEM) for the upstream.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
}

pub async fn run(a: Args) -> anyhow::Result<u8> {
    // The secret never travels on the command line, where `ps` and shell history would keep it.
    let Some(secret) = std::env::var("WXRN_APP_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        super::error(t::CHECK_NO_SECRET.cli());
        return Ok(EXIT_USAGE);
    };
    let usage = |m: String| {
        super::error(m);
        Ok(EXIT_USAGE)
    };
    let Ok(appid) = AppId::parse(&a.appid) else {
        return usage(t::CHECK_BAD_APPID.cli().into());
    };
    let Ok(openid) = OpenId::parse(&a.openid) else {
        return usage(t::CHECK_BAD_OPENID.cli().into());
    };
    let name = match RealName::parse(&a.name) {
        Ok(n) => n,
        Err(e) => {
            return usage(
                t::CHECK_BAD_NAME.cli_fill(&[("reason", &name_reason(&e)), ("code", &e.code())]),
            );
        }
    };
    let cred = match CredId::parse(&a.cred_id) {
        Ok(c) => c,
        Err(e) => {
            return usage(
                t::CHECK_BAD_CRED_ID.cli_fill(&[("reason", &cred_reason(&e)), ("code", &e.code())]),
            );
        }
    };
    let kind = match a.token_kind.as_str() {
        "stable" => TokenKind::Stable,
        "classic" => TokenKind::Classic,
        other => {
            return usage(t::CHECK_BAD_TOKEN_KIND.cli_fill(&[("value", &format!("{other:?}"))]));
        }
    };
    let client = Client::new(ClientConfig {
        base_url: a.base_url.clone(),
        timeout: Duration::from_secs(a.timeout),
        ca_file: a.ca_file.clone(),
        ..ClientConfig::default()
    })?;
    let clock = Arc::new(SystemClock);
    let store = Arc::new(MemoryTokenStore::with_clock(clock.clone()));
    let tokens = TokenManager::new(
        client.clone(),
        appid.clone(),
        AppSecret::new(secret),
        kind,
        store,
        clock,
    );
    let api = RealnameApi::new(client, Arc::new(tokens));
    let req = CheckRequest {
        openid: &openid,
        real_name: &name,
        cred_id: &cred,
        code: a.code.trim(),
    };
    match api.check(&req).await {
        Ok(r) => {
            let out = serde_json::json!({
                "outcome": r.outcome.as_str(),
                "verify_openid": r.verify_openid,
                "verify_real_name": r.verify_real_name,
                "masked_real_name": name.masked(),
                "masked_cred_id": cred.masked(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(EXIT_OK)
        }
        Err(e) => {
            let out = serde_json::json!({"error": {"kind": e.kind(), "errcode": e.errcode(), "message": error_message(&e)}});
            println!("{}", serde_json::to_string_pretty(&out)?);
            if e.may_have_reached_wechat() {
                eprintln!(
                    "{}{}",
                    t::NOTE_PREFIX.cli(),
                    t::CHECK_MAY_HAVE_REACHED.cli()
                );
            }
            Ok(EXIT_FAILURE)
        }
    }
}

/// An ID number rule's sentence in the command line's language.
pub(crate) fn cred_reason(e: &identity::CredIdError) -> String {
    match i18n::cli_lang() {
        i18n::Lang::En => e.to_string(),
        i18n::Lang::Zh => e.message_zh().to_owned(),
    }
}

/// A name rule's sentence in the command line's language.
pub(crate) fn name_reason(e: &identity::RealNameError) -> String {
    match i18n::cli_lang() {
        i18n::Lang::En => e.to_string(),
        i18n::Lang::Zh => e.message_zh().to_owned(),
    }
}

/// `check`'s error sentence: English as the SDK says it; in Chinese, what kind of failure it was, then the SDK's
/// detail (WeChat's errmsg or the transport's error, which are not ours to translate).
fn error_message(e: &wechat::Error) -> String {
    if i18n::cli_lang() == i18n::Lang::En {
        return e.to_string();
    }
    let text = match e.kind() {
        "wechat" => t::CHECK_ERR_WECHAT,
        "not_sent" => t::CHECK_ERR_NOT_SENT,
        "timeout" => t::CHECK_ERR_TIMEOUT,
        "transport" => t::CHECK_ERR_TRANSPORT,
        "http_status" => t::CHECK_ERR_HTTP_STATUS,
        "malformed" => t::CHECK_ERR_MALFORMED,
        _ => t::CHECK_ERR_OTHER,
    };
    text.cli_fill(&[("detail", e)])
}
