//! Start-up time: from spawning the command to the first 200 from `--url` (the gateway's `/readyz`, which is
//! green only once the database answers and every app holds an access token).

use crate::{Result, StartupArgs};
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn run(a: StartupArgs) -> Result<String> {
    let uri: http::Uri = a.url.parse().map_err(|e| format!("{}: {e}", a.url))?;
    let authority = uri.authority().ok_or("--url needs a host")?.to_string();
    let path = uri.path_and_query().map_or("/".into(), ToString::to_string);
    let mut runs = Vec::new();
    for _ in 0..a.runs {
        if let Some(dir) = &a.fresh_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        runs.push(once(&a, &authority, &path).await?);
    }
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(json!({
        "label": "startup",
        "fresh": a.fresh_dir.is_some(),
        "runs_ms": runs,
        "min_ms": sorted.first(),
        "median_ms": sorted.get(sorted.len() / 2),
        "max_ms": sorted.last(),
    })
    .to_string())
}

async fn once(a: &StartupArgs, authority: &str, path: &str) -> Result<f64> {
    let log = match &a.log {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        None => Stdio::null(),
    };
    let log2 = match &a.log {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?,
        ),
        None => Stdio::null(),
    };
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&a.cmd[0])
        .args(&a.cmd[1..])
        .stdout(log)
        .stderr(log2)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", a.cmd[0]))?;
    let limit = started + Duration::from_secs_f64(a.timeout);
    let ready = loop {
        if probe(authority, path).await {
            break Some(started.elapsed());
        }
        if Instant::now() > limit {
            break None;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the command exited before it was ready: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    stop(&mut child).await;
    ready
        .map(|d| d.as_secs_f64() * 1000.0)
        .ok_or_else(|| format!("not ready within {} s", a.timeout))
}

/// One `GET` on a new connection; true on a 200 status line.
async fn probe(authority: &str, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(authority).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    while n < buf.len() {
        match s.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    buf[..n].starts_with(b"HTTP/1.1 200")
}

/// SIGTERM (a graceful stop), then SIGKILL if it lingers.
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}
