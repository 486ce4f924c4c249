//! `wxrealname sandbox`.

use super::EXIT_OK;
use sandbox::{Quotas, Sandbox, SandboxConfig};
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: String,
    /// Access-token lifetime in seconds (WeChat: 7200).
    #[arg(long, default_value_t = 7200)]
    token_ttl: u64,
    /// How long a replaced classic token stays valid, in seconds (WeChat: 300).
    #[arg(long, default_value_t = 300)]
    token_grace: u64,
    /// Lifetime of a consent code in seconds (undocumented by WeChat; assumed 300).
    #[arg(long, default_value_t = 300)]
    code_ttl: u64,
    /// Daily quota of checkrealnameinfo calls per app (default: unlimited).
    #[arg(long)]
    quota_check: Option<u64>,
    /// Daily quota of classic token fetches per app (WeChat: about 2000).
    #[arg(long, default_value_t = 2000)]
    quota_token: u64,
    /// No quotas at all (load tests).
    #[arg(long)]
    unlimited: bool,
    /// Start empty, without the demo app and users.
    #[arg(long)]
    no_demo: bool,
    /// Milliseconds every WeChat endpoint waits before answering (WeChat's latency, for load tests).
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

impl Args {
    pub fn config(&self) -> SandboxConfig {
        let quotas = if self.unlimited {
            Quotas::unlimited()
        } else {
            Quotas {
                token: Some(self.quota_token),
                checkrealnameinfo: self.quota_check,
                ..Quotas::default()
            }
        };
        SandboxConfig {
            token_ttl: Duration::from_secs(self.token_ttl),
            token_grace: Duration::from_secs(self.token_grace),
            code_ttl: Duration::from_secs(self.code_ttl),
            quotas,
            seed_demo: !self.no_demo,
            upstream_delay: Duration::from_millis(self.delay_ms),
            ..SandboxConfig::default()
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    super::init_tracing("text");
    let listener = super::bind(&args.addr, "--addr").await?;
    let handle = Sandbox::spawn(listener, args.config()).await?;
    if !args.no_demo {
        println!("{}", sandbox::demo::banner(&handle.base_url()));
    }
    tracing::info!(addr = %handle.addr(), "WeChat sandbox listening");
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(EXIT_OK)
}
