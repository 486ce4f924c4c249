//! `wxrealname serve`.

use super::{ConfigArg, EXIT_OK};
use gateway::Application;

pub async fn run(c: ConfigArg) -> anyhow::Result<u8> {
    let cfg = c.load()?;
    super::init_tracing(&cfg.log_format);
    if cfg.apps.is_empty() {
        tracing::warn!("no [[apps]] configured: every verification will answer unknown_app");
    }
    let app = Application::build(cfg).await?;
    tracing::info!(addr = %app.local_addr(), "wxrealname gateway listening");
    app.run_until_stopped().await?;
    Ok(EXIT_OK)
}
