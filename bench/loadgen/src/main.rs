//! `wxrn-load`: the load generator behind `bench/run.sh`.
//!
//! Why not wrk or oha: every verification spends a single-use consent code, so each request must carry its own
//! prepared body (one per line of `--bodies`, never reused), and a reused body would measure an error path.
//! Beyond that the tool does what a skeptic asks of a load generator: every connection is open before the clock
//! starts; in open-loop mode (`--rate`) latency counts from the scheduled send time, so a stalled server cannot
//! hide its stall (no coordinated omission); WeChat answers errors with HTTP 200, so `--expect` checks the body;
//! and the CPU time of the processes under test is read from `/proc` exactly at the start and end of the
//! measured window.
//!
//! ```text
//! wxrn-load run --label gateway --url http://127.0.0.1:8080/v1/verifications --header 'Authorization: Bearer ..'
//!     --bodies gateway.jsonl --connections 64 --duration 10 --expect '"outcome":"match"' --watch gateway=PID
//! wxrn-load startup --url http://127.0.0.1:8080/readyz --runs 10 -- wxrealname serve --config bench.toml
//! wxrn-load delay-proxy --listen 127.0.0.1:15432 --upstream 127.0.0.1:5432 --one-way-ms 2.5
//! ```
//!
//! Each prints one JSON object on stdout.
//!
//! # Layout
//! - `main.rs`: arguments and the two subcommands.
//! - `drive.rs`: connections and the request loop (closed loop, open loop, burst).
//! - `procfs.rs`: CPU seconds and peak RSS of watched processes.
//! - `startup.rs`: start a command and time it until a URL answers 200.
//! - `delay.rs`: a TCP proxy that delays every chunk each way (PostgreSQL "on another host").
//! - `summary.rs`: percentiles and the JSON summary.

mod delay;
mod drive;
mod procfs;
mod startup;
mod summary;

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "wxrn-load", about = "Load generator for bench/run.sh")]
enum Cmd {
    /// Send the prepared bodies and measure.
    Run(RunArgs),
    /// Time a command from spawn to the first 200 from a URL.
    Startup(StartupArgs),
    /// A TCP proxy that delays every chunk, to put a server on "another host".
    DelayProxy(delay::DelayArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// A name for this measurement, copied into the summary.
    #[arg(long)]
    pub label: String,
    /// Target URL (with its query); repeat to spread connections round-robin over several servers.
    #[arg(long, required = true)]
    pub url: Vec<String>,
    /// An extra request header, `Name: value` (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// One request body per line; each line is sent at most once.
    #[arg(long)]
    pub bodies: PathBuf,
    /// Connections, all established before the clock starts.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Stop sending new requests after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many requests (default: as many as there are bodies).
    #[arg(long)]
    pub requests: Option<usize>,
    /// Open loop: this many requests per second in total, latency from the scheduled time. 0: closed loop.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Every connection sends exactly one request, all released at the same instant.
    #[arg(long)]
    pub burst: bool,
    /// A response counts as good only if its status is 2xx and its body contains this (not followed by a digit).
    #[arg(long)]
    pub expect: Option<String>,
    /// `name=pid`: report this process's CPU seconds over the measured window (same names are summed).
    #[arg(long = "watch")]
    pub watch: Vec<String>,
    /// Reset the watched processes' peak RSS (VmHWM) when the clock starts.
    #[arg(long)]
    pub reset_hwm: bool,
    /// Runtime worker threads of this tool (it competes with the servers for the same cores).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// How many connections are opened at once before the run.
    #[arg(long, default_value_t = 256)]
    pub connect_parallel: usize,
    /// Seconds to wait after the last connection is open, before the clock starts: a server accepts from its
    /// backlog at its own pace, and a request on a connection not yet accepted would measure the backlog.
    #[arg(long, default_value_t = 0.0)]
    pub settle: f64,
    /// `getconf CLK_TCK`: the unit of /proc CPU times.
    #[arg(long, default_value_t = 100)]
    pub clk_tck: u64,
}

#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// Polled until it answers 200.
    #[arg(long)]
    pub url: String,
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Removed before every run, so each starts from nothing (first start: migrations, key generation).
    #[arg(long)]
    pub fresh_dir: Option<PathBuf>,
    /// Give up on one run after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Append the command's stdout and stderr here.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// The command to start.
    #[arg(trailing_var_arg = true, required = true)]
    pub cmd: Vec<String>,
}

fn main() -> std::process::ExitCode {
    let cmd = Cmd::parse();
    let threads = match &cmd {
        Cmd::Run(a) => a.threads,
        Cmd::Startup(_) | Cmd::DelayProxy(_) => 1,
    };
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wxrn-load: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match cmd {
        // Threads of its own, no runtime: see delay.rs.
        Cmd::DelayProxy(a) => delay::run(a),
        cmd => rt.block_on(async {
            match cmd {
                Cmd::Run(a) => drive::run(a).await,
                Cmd::Startup(a) => startup::run(a).await,
                Cmd::DelayProxy(_) => unreachable!(),
            }
        }),
    };
    match result {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wxrn-load: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// Errors are reported as text: this is a command-line tool, the message is all anyone needs.
pub type Result<T> = std::result::Result<T, String>;
