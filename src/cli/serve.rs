//! `wxrealname serve`.

use super::{ConfigArg, EXIT_OK};
use gateway::Application;

pub async fn run(c: ConfigArg) -> anyhow::Result<u8> {
    let cfg = c.load()?;
    super::init_tracing(&cfg.log_format);
    if cfg.apps.is_empty() {
        tracing::warn!("no [[apps]] configured: every verification will answer unknown_app");
    }
    let listen = cfg.listen.clone();
    let var = gateway::config::env_var_for("listen");
    let set_by = match &c.config {
        Some(file) => {
            i18n::cli::LISTEN_SET_BY_FILE.cli_fill(&[("file", &file.display()), ("var", &var)])
        }
        None => i18n::cli::LISTEN_SET_BY_KEY.cli_fill(&[("var", &var)]),
    };
    let app = Application::build(cfg)
        .await
        .map_err(|e| super::gateway_listen_error(e, &listen, &set_by))?;
    tracing::info!(addr = %app.local_addr(), "wxrealname gateway listening");
    app.run_until_stopped().await?;
    Ok(EXIT_OK)
}
