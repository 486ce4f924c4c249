//! Whether the servers a test needs are there, decided once per test binary.
//!
//! A developer without PostgreSQL or Redis can still run `cargo test --workspace`: the tests that need them return
//! at once, and the binary prints one line naming the server, the tests skipped and how to run them. In CI
//! (`CI` set to `true` or `1`, as `.ci/run`'s environment has it) nothing is skipped: the missing server fails the test.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{PG_TEST_URL_VAR, pg_test_url};

/// The environment variable that names the test Redis, and its default.
pub const REDIS_TEST_URL_VAR: &str = "WXRN_TEST_REDIS_URL";
const REDIS_TEST_URL_DEFAULT: &str = "redis://127.0.0.1:6379";

/// `$WXRN_TEST_REDIS_URL`, or the default.
pub fn redis_test_url() -> String {
    std::env::var(REDIS_TEST_URL_VAR).unwrap_or_else(|_| REDIS_TEST_URL_DEFAULT.to_owned())
}

/// A server some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Redis,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
        }
    }

    fn url_var(self) -> &'static str {
        match self {
            Service::Postgres => PG_TEST_URL_VAR,
            Service::Redis => REDIS_TEST_URL_VAR,
        }
    }

    fn url(self) -> String {
        match self {
            Service::Postgres => pg_test_url(),
            Service::Redis => redis_test_url(),
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Redis => 6379,
        }
    }

    fn state(self) -> &'static State {
        static PG: State = State::new();
        static REDIS: State = State::new();
        match self {
            Service::Postgres => &PG,
            Service::Redis => &REDIS,
        }
    }
}

struct State {
    up: OnceLock<bool>,
    skipped: AtomicUsize,
}

impl State {
    const fn new() -> Self {
        Self {
            up: OnceLock::new(),
            skipped: AtomicUsize::new(0),
        }
    }
}

fn in_ci() -> bool {
    matches!(
        std::env::var("CI")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Ok("true" | "1")
    )
}

/// `host:port` of a `scheme://[user[:password]@]host[:port][/...]` URL; never the user or password.
fn host_port(url: &str, default_port: u16) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    Some(if hostport.contains(':') {
        hostport.to_owned()
    } else {
        format!("{hostport}:{default_port}")
    })
}

fn tcp_reachable(hostport: &str) -> bool {
    let Ok(addrs) = hostport.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// Whether the test may use `service`: true when its server accepts connections. When it does not, outside CI
/// this returns false (and the binary prints one line the first time); in CI it panics, naming the server.
pub fn reachable(service: Service) -> bool {
    let url = service.url();
    let target =
        host_port(&url, service.default_port()).unwrap_or_else(|| "(unparsable URL)".to_owned());
    let state = service.state();
    let up = *state.up.get_or_init(|| tcp_reachable(&target));
    if up {
        return true;
    }
    if in_ci() {
        panic!(
            "{} at {target} is not reachable and CI is set: tests that need it must run (.ci/run starts it; or set {})",
            service.name(),
            service.url_var()
        );
    }
    if state.skipped.fetch_add(1, Ordering::Relaxed) == 0 {
        // Not `eprintln!`: the test harness captures that for passing tests, and this line is for the developer.
        let _ = writeln!(
            std::io::stderr(),
            "{} at {target} not reachable: the tests of this binary that need it are skipped; set {} or run .ci/run \
             (which starts it)",
            service.name(),
            service.url_var()
        );
    }
    false
}

/// The first line of a test that needs PostgreSQL and/or Redis: `test_support::needs!(Postgres, Redis);`.
/// Returns from the test (it passes, doing nothing) when one is missing outside CI; fails it in CI.
#[macro_export]
macro_rules! needs {
    ($($service:ident),+ $(,)?) => {
        if !($($crate::reachable($crate::Service::$service))&&+) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_never_keeps_credentials() {
        assert_eq!(
            host_port("postgres://postgres:pw@db.local/test?x=1", 5432).as_deref(),
            Some("db.local:5432")
        );
        assert_eq!(
            host_port("redis://127.0.0.1:6380", 6379).as_deref(),
            Some("127.0.0.1:6380")
        );
        assert_eq!(host_port("nonsense", 1), None);
    }
}
