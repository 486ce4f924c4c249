//! What a verification's two durable writes cost on the SQLite store, without HTTP or WeChat around them: at a fixed
//! rate (open loop, latency counted from each write's scheduled start), reserve a fresh code and append a
//! matching audit row that binds an identity, as the gateway does, and print the percentiles.
//!
//! `cargo run --release -p store --example commit_latency -- [RATE per second, default 2000] [SECONDS, default 5]`
//!
//! The database is a new file in a temporary directory under the current directory (so on the disk being judged).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir_in(".").expect("a temporary directory here");
    let store = Arc::new(
        store::sqlite::SqliteStore::open(
            &dir.path().join("latency.db"),
            store::chain::AuditKeys::new([1; 32]),
        )
        .await
        .expect("open the store"),
    );
    let total = rate * secs;
    let start = Instant::now();
    let mut running = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let store = Arc::clone(&store);
        running.push(tokio::spawn(async move {
            common::verification(store.as_ref(), i).await;
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(running.len());
    for r in running {
        latencies.push(r.await.expect("task"));
    }
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "{total} reservations + appends at {rate}/s: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}
