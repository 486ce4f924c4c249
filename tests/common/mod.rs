//! Shared by the tests that run the real binary as a service (`multi_instance.rs`, `crash.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running gateway process. Dropping it kills it.
pub struct Gateway {
    child: Child,
    pub url: String,
}

impl Gateway {
    /// Start `wxrealname serve` and wait for its "listening" line.
    pub fn start(config: &Path) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wxrealname"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "warn,wxrealname=info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_owned();
                // Keep draining stderr so the child never blocks on a full pipe.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return Gateway {
                    child,
                    url: format!("http://{addr}"),
                };
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the gateway did not start (could it not open its store?):\n{seen}");
    }

    /// SIGKILL on Unix: no shutdown hook, no flush, no graceful anything.
    #[allow(dead_code)] // crash.rs only
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
