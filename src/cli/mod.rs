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
        gateway::Config::load(self.config.as_deref()).map_err(|e| anyhow::anyhow!(config_error(&e)))
    }

    /// The file, or that there is none, for messages.
    fn describe(&self) -> String {
        match &self.config {
            Some(f) => f.display().to_string(),
            None => i18n::cli::CONFIG_NO_FILE.cli().to_owned(),
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

/// A configuration error in the command line's language: one line naming the key and where it was set.
fn config_error(e: &gateway::config::ConfigError) -> String {
    use gateway::config::{ConfigError, Origin};
    use i18n::cli as t;
    let origin = |o: &Origin| match o {
        Origin::File(p) => p.display().to_string(),
        Origin::Env(var) => t::CONFIG_ORIGIN_ENV.cli_fill(&[("var", var)]),
        Origin::Defaults => t::CONFIG_ORIGIN_DEFAULTS.cli().to_owned(),
    };
    match e {
        ConfigError::FileNotFound(p) => {
            t::CONFIG_FILE_NOT_FOUND.cli_fill(&[("path", &p.display())])
        }
        ConfigError::UnknownKey {
            key,
            origin: o,
            suggestion,
        } => {
            let mut line = t::CONFIG_UNKNOWN_KEY.cli_fill(&[("key", key), ("origin", &origin(o))]);
            if let Some(s) = suggestion {
                line.push_str(&t::CONFIG_DID_YOU_MEAN.cli_fill(&[("suggestion", s)]));
            }
            line
        }
        ConfigError::BadValue {
            key,
            origin: o,
            reason,
        } => t::CONFIG_BAD_VALUE.cli_fill(&[
            ("key", key),
            ("origin", &origin(o)),
            ("reason", reason),
        ]),
        ConfigError::Syntax { origin: o, reason } => {
            t::CONFIG_SYNTAX.cli_fill(&[("origin", &origin(o)), ("reason", reason)])
        }
        other => other.to_string(),
    }
}

/// Listen on `addr`, or fail with a message that names the address and what sets it (`set_by`: a flag such as
/// `--addr`, or a config key).
pub async fn bind(addr: &str, set_by: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| listen_error(addr, &e, set_by))
}

/// The error for an address that cannot be listened on.
pub fn listen_error(addr: &str, e: &std::io::Error, set_by: &str) -> anyhow::Error {
    let text = if e.kind() == std::io::ErrorKind::AddrInUse {
        i18n::cli::LISTEN_IN_USE.cli_fill(&[("addr", &addr), ("set_by", &set_by)])
    } else {
        i18n::cli::LISTEN_FAILED.cli_fill(&[("addr", &addr), ("error", e), ("set_by", &set_by)])
    };
    anyhow::anyhow!(text)
}

/// `Application::build`'s error, with the same message when it is the gateway's listener that failed (its error
/// then starts "cannot listen on" and holds the `io::Error`).
pub fn gateway_listen_error(e: anyhow::Error, addr: &str, set_by: &str) -> anyhow::Error {
    let io = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>());
    match io {
        Some(io) if e.to_string().starts_with("cannot listen on") => listen_error(addr, io, set_by),
        _ => e,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// `--help` explains every flag and argument of every subcommand (issue 13: `keys revoke ID`,
    /// `keys list --json`, `check --appid` had none).
    #[test]
    fn every_flag_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "wxrealname", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    /// README's CLI table names every flag of every subcommand.
    #[test]
    fn the_readme_cli_table_lists_every_flag() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let section = readme
            .split("## The CLI")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap();
        fn walk(cmd: &clap::Command, section: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if let Some(long) = arg.get_long()
                    && !matches!(long, "help" | "version")
                    && !arg.is_hide_set()
                    && !section.contains(&format!("--{long}"))
                {
                    missing.push(format!("{} --{long}", cmd.get_name()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, section, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), section, &mut missing);
        assert!(
            missing.is_empty(),
            "not in README's CLI section: {missing:?}"
        );
    }
}
