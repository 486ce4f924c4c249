//! `wxrn-load delay-proxy`: a TCP proxy that holds every chunk of bytes for a fixed time in each direction, to put
//! a server "on another host" for the benchmark (PostgreSQL 0.7 ms or 5 ms away). A round trip through it costs
//! twice `--one-way-ms` more than without it; `bench/run.sh` measures and prints the real figure.
//!
//! Order is kept and throughput is not limited: each direction has a reader that stamps every chunk with the
//! instant it is due and a writer that sends it then, so chunks in flight overlap as packets on a link do. Plain
//! threads and `std::thread::sleep`, not tokio: tokio's timers tick in whole milliseconds, too coarse for 0.35 ms.

use crate::Result;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct DelayArgs {
    /// Where to listen, e.g. 127.0.0.1:15432.
    #[arg(long)]
    pub listen: String,
    /// Where to forward, e.g. 127.0.0.1:5432.
    #[arg(long)]
    pub upstream: String,
    /// Milliseconds each chunk is held, in each direction (fractions allowed).
    #[arg(long)]
    pub one_way_ms: f64,
}

pub fn run(args: DelayArgs) -> Result<String> {
    let listener =
        TcpListener::bind(&args.listen).map_err(|e| format!("listen on {}: {e}", args.listen))?;
    let delay = Duration::from_secs_f64(args.one_way_ms / 1000.0);
    eprintln!(
        "wxrn-load delay-proxy: {} -> {}, {:?} each way",
        args.listen, args.upstream, delay
    );
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(&args.upstream) else {
            continue;
        };
        for s in [&client, &server] {
            let _ = s.set_nodelay(true);
        }
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        direction(client, s2, delay);
        direction(server, c2, delay);
    }
    Ok(String::new())
}

/// One direction: a reader thread stamps each chunk with its due time, a writer thread sends it then.
fn direction(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` lets the writer send what is due, then shut its side down.
    });
    std::thread::spawn(move || {
        while let Ok((due, bytes)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
