//! Test support, for the workspace's tests only (a dev-dependency: none of it ships in the binary).
//!
//! - [`fresh_pg_schema`]: a throw-away PostgreSQL schema per test, so that tests (of the store, the gateway, a
//!   multi-instance setup) share one server without seeing each other's rows. Hand the URL it returns to
//!   `store::open` once per "instance".
//! - [`TcpProxy`] stands between a client and a server (PostgreSQL, Redis) and can be switched off and on again on
//!   the same port: an outage without touching the shared server.
//! - [`needs!`]: the first line of a test that needs PostgreSQL or Redis. Outside CI, a developer without those
//!   servers gets one line per test binary saying which tests were skipped and how to run them; with `CI=true`
//!   a missing server fails the test loudly.
//!
//! These helpers panic instead of returning errors: a test that cannot reach its database must fail, not skip
//! (the skip is [`needs!`]'s decision alone, made before the test starts).

mod services;

pub use services::{REDIS_TEST_URL_VAR, Service, reachable, redis_test_url};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The environment variable that names the test server, and its default (trust auth on loopback).
pub const PG_TEST_URL_VAR: &str = "WXRN_TEST_POSTGRES_URL";
pub const PG_TEST_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `$WXRN_TEST_POSTGRES_URL`, or the default.
pub fn pg_test_url() -> String {
    std::env::var(PG_TEST_URL_VAR).unwrap_or_else(|_| PG_TEST_URL_DEFAULT.to_owned())
}

/// Create an empty schema `wxrn_test_<random>` and return `base_url` pointed at it (through
/// `options=-c search_path=...`, which [`crate::open`] passes on), and a guard that drops the schema.
///
/// Panics when the server cannot be reached.
pub async fn fresh_pg_schema(base_url: &str) -> (String, SchemaGuard) {
    let schema = format!("wxrn_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(base_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL ({PG_TEST_URL_VAR}): {e}"));
    // The name is ours (hex digits), so formatting it into DDL is safe.
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create test schema {schema}: {e}"));
    let _ = conn.close().await;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{sep}options=-c%20search_path%3D{schema}");
    let guard = SchemaGuard {
        base_url: base_url.to_owned(),
        schema,
    };
    (url, guard)
}

/// Drops its schema (with everything in it) when dropped. Best effort: a failure is only logged.
#[derive(Debug)]
pub struct SchemaGuard {
    base_url: String,
    schema: String,
}

impl SchemaGuard {
    pub fn schema(&self) -> &str {
        &self.schema
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.base_url.clone(), self.schema.clone());
        // Drop cannot await, and blocking on the test's own runtime would stall it: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            tracing::warn!(schema = %self.schema, error = %e, "could not drop test schema");
        }
    }
}

/// A TCP relay that a test can cut (every connection closed, new ones refused) and restore on the same port.
#[derive(Debug)]
pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: String,
    up: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listen on a free loopback port and relay every connection to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let mut p = Self {
            addr: listener.local_addr().unwrap(),
            upstream: upstream.to_owned(),
            up: watch::channel(true).0,
            accept: None,
        };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        let (upstream, up) = (self.upstream.clone(), self.up.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(pipe(client, upstream.clone(), up.subscribe()));
            }
        }));
    }

    /// Cut every connection and refuse new ones (the listener is closed).
    pub async fn down(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
            let _ = a.await;
        }
        self.up.send_replace(false);
    }

    /// Listen again on the same port.
    pub async fn up(&mut self) {
        self.up.send_replace(true);
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the same port again");
        self.serve(listener);
    }
}

async fn pipe(mut client: TcpStream, upstream: String, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

/// `url` with its host and port replaced by `addr`, and the host:port it named (`default_port` when none).
pub fn reroute(url: &str, addr: SocketAddr, default_port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let upstream = if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    };
    (format!("{scheme}://{userinfo}{addr}{tail}"), upstream)
}
