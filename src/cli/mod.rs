//! The subcommands. Each file is one command; each returns the process exit code.
//!
//! Language: `--lang en|zh-CN`, else the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`: `zh*` is Chinese), else
//! English. Every sentence is in `i18n::cli`; print errors with [`error`].
//!
//! Exit codes: 0 success, 1 the command ran and found a failure (an invalid ID number, a broken audit chain,
//! an error from WeChat), 2 usage or configuration errors (clap uses 2 for bad arguments too).

mod audit;
mod check;
mod config;
mod demo;
mod demo_web;
mod idcard;
mod keys;
mod sandbox;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "wxrealname",
    version,
    about = "WeChat City Services real-name check: gateway, sandbox and tools"
)]
pub struct Cli {
    /// Language of messages: en or zh-CN (default: from LC_ALL, LC_MESSAGES or LANG; zh* is Chinese).
    #[arg(long, global = true, value_name = "LANG")]
    lang: Option<i18n::Lang>,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Fix the process's message language: `--lang`, else the locale.
    pub fn set_language(&self) {
        i18n::set_cli_lang(self.lang.unwrap_or_else(i18n::Lang::from_process_env));
    }
}

/// Print an error line on stderr, in the command line's language.
pub fn error(message: impl std::fmt::Display) {
    eprintln!("{}{message}", i18n::cli::ERROR_PREFIX.cli());
}

/// `--config`, shared by every command that touches the store.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// TOML configuration file (every key can also come from WXRN_* environment variables).
    #[arg(long, short = 'c', env = "WXRN_CONFIG")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<gateway::Config> {
        Ok(gateway::Config::load(self.config.as_deref())?)
    }

    /// The file, or that there is none, for messages.
    fn describe(&self) -> String {
        match &self.config {
            Some(f) => f.display().to_string(),
            None => "no config file (defaults and WXRN_* variables)".to_owned(),
        }
    }

    /// For the commands that open the store (not `serve`): as [`Self::load`], but a demo's data directory lends
    /// its demo key when the configuration names none (see [`demo::lend_key`]).
    fn load_for_store(&self) -> anyhow::Result<gateway::Config> {
        let mut cfg = self.load()?;
        demo::lend_key(&mut cfg)?;
        Ok(cfg)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the verification gateway.
    Serve(ConfigArg),
    /// Run the WeChat sandbox and the gateway together, with a demo app, users and API key.
    Demo(demo::Args),
    /// Run the WeChat sandbox (WeChat's APIs, simulated).
    Sandbox(sandbox::Args),
    /// Validate resident ID numbers.
    Idcard {
        #[command(subcommand)]
        command: idcard::Command,
    },
    /// One direct real-name check against WeChat (or the sandbox), for operators.
    Check(check::Args),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
    /// Verify, export and purge the audit trail.
    Audit {
        #[command(subcommand)]
        command: audit::Command,
    },
    /// Check or show the configuration, without starting anything.
    Config {
        #[command(subcommand)]
        command: config::Command,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(c) => serve::run(c).await,
        Command::Demo(a) => demo::run(a).await,
        Command::Sandbox(a) => sandbox::run(a).await,
        Command::Idcard { command } => idcard::run(command),
        Command::Check(a) => check::run(a).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Config { command } => config::run(command),
    }
}

/// Logs go to stderr; `json` for machines. `RUST_LOG` overrides the level.
pub fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
