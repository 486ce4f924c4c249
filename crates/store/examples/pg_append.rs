//! What a verification's two durable writes cost on the PostgreSQL store, without HTTP or WeChat around them:
//! CALLERS concurrent callers per instance (closed loop), each reserving a fresh code and appending a matching
//! audit row that binds an identity, as the gateway does; INSTANCES stores (each its own pool and writer task, as
//! separate gateway processes would have) on one fresh schema. Prints verifications/s and latency percentiles,
//! then verifies the chain.
//!
//! `cargo run --release -p store --example pg_append -- [CALLERS, default 64] [INSTANCES, default 1]
//!  [SECONDS, default 5] [URL, default $WXRN_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432/test]`
//!
//! The schema is created through the URL and dropped at the end; the round trip to the server is measured and
//! printed first. To put PostgreSQL a network hop away, run a relay that holds every chunk ONE_WAY_MS in each
//! direction (2.5: a 5 ms round trip) in another shell and point the URL at it:
//! `pg_append relay 127.0.0.1:15435 2.5 [UPSTREAM, default 127.0.0.1:5432]`.

mod common;

use common::verification;
use sqlx::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("relay") {
        let listen = args.nth(1).expect("relay LISTEN ONE_WAY_MS [UPSTREAM]");
        let one_way_ms: f64 = args
            .next()
            .and_then(|a| a.parse().ok())
            .expect("ONE_WAY_MS");
        let upstream = args.next().unwrap_or_else(|| "127.0.0.1:5432".into());
        let listener = TcpListener::bind(&listen)
            .await
            .expect("the relay's address");
        delay_proxy(
            listener,
            upstream,
            Duration::from_secs_f64(one_way_ms / 1e3),
        )
        .await;
        return;
    }
    let callers: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let instances: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let base = args.next().unwrap_or_else(test_support::pg_test_url);
    let (url, _guard) = test_support::fresh_pg_schema(&base).await;
    let url = format!("{url}&pool_size=10");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let t = Instant::now();
    for _ in 0..20 {
        sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    }
    println!(
        "round trip to the server: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / 20.0
    );
    let keys = store::chain::AuditKeys::new([1; 32]);
    let mut stores = Vec::new();
    for _ in 0..instances {
        stores.push(
            store::open(&url, keys.clone())
                .await
                .expect("open the store"),
        );
    }
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut running = Vec::new();
    for s in &stores {
        for _ in 0..callers {
            let (s, next) = (Arc::clone(s), Arc::clone(&next));
            running.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    verification(s.as_ref(), i).await;
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
    }
    let mut latencies = Vec::new();
    for r in running {
        latencies.extend(r.await.expect("caller"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "{instances} instance(s) x {callers} callers, {secs} s: {} verifications, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    let report = store::chain::verify_store(stores[0].as_ref(), &keys, &[])
        .await
        .expect("read the chain")
        .expect("the chain verifies");
    assert_eq!(
        report.rows,
        latencies.len() as u64,
        "one row per verification"
    );
}

/// Relay every connection to `upstream`, each chunk held `delay` in each direction (order kept).
async fn delay_proxy(listener: TcpListener, upstream: String, delay: Duration) {
    while let Ok((client, _)) = listener.accept().await {
        let Ok(server) = TcpStream::connect(&upstream).await else {
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::spawn(delayed(cr, sw, delay));
        tokio::spawn(delayed(sr, cw, delay));
    }
}

async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
        {
            break;
        }
    }
}
