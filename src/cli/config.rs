//! `wxrealname config check|show`: look at a configuration without starting anything.

use super::{ConfigArg, EXIT_FAILURE, EXIT_OK};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the configuration (the file, the WXRN_* variables) and check that the secrets and files it
    /// names are there, without starting anything or creating any file. Exit 1 on any problem.
    Check {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the effective configuration (defaults, then the file, then WXRN_* variables) as TOML, relative
    /// paths resolved, secrets redacted.
    Show {
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Check { config } => {
            let cfg = config.load()?;
            let what = config.describe();
            let problems = cfg.problems();
            for p in &problems {
                super::error(p);
            }
            if !problems.is_empty() {
                eprintln!(
                    "{}",
                    i18n::cli::CONFIG_CHECK_PROBLEMS
                        .cli_fill(&[("what", &what), ("count", &problems.len())])
                );
                return Ok(EXIT_FAILURE);
            }
            let store = if cfg.database_url.is_some() {
                "database_url"
            } else {
                "SQLite"
            };
            println!(
                "{}",
                i18n::cli::CONFIG_CHECK_OK.cli_fill(&[
                    ("what", &what),
                    ("apps", &cfg.apps.len()),
                    ("data_dir", &cfg.data_dir.display()),
                    ("store", &store),
                    ("listen", &cfg.listen),
                ])
            );
            if cfg.apps.is_empty() {
                eprintln!("{}", i18n::cli::CONFIG_NO_APPS.cli());
            }
            Ok(EXIT_OK)
        }
        Command::Show { config } => {
            let cfg = config.load()?;
            println!(
                "{}",
                i18n::cli::CONFIG_SHOW_HEADER.cli_fill(&[("what", &config.describe())])
            );
            print!("{}", cfg.to_redacted_toml());
            Ok(EXIT_OK)
        }
    }
}
