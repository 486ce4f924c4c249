//! `wxrealname`: the one binary. Parses arguments and hands over to `cli`, which calls the libraries.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    args.set_language();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            cli::error(i18n::cli::CANNOT_START_RUNTIME.cli_fill(&[("error", &e)]));
            return ExitCode::from(cli::EXIT_FAILURE);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            cli::error(format_args!("{e:#}"));
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
