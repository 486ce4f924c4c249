//! Connections and the request loop.
//!
//! Every connection is one HTTP/1.1 keep-alive connection (as a back end talking to the gateway would hold),
//! opened before the clock starts. Requests take the next unused body from a shared counter, so no body is
//! ever sent twice, whatever the interleaving.

use crate::procfs::Watched;
use crate::summary::{Tally, summarise};
use crate::{Result, RunArgs};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    authority: String,
    path: String,
}

#[derive(Debug)]
struct Plan {
    targets: Vec<Target>,
    headers: Vec<(HeaderName, HeaderValue)>,
    bodies: Vec<Bytes>,
    next: AtomicUsize,
    limit: usize,
    rate: f64,
    burst: bool,
    expect: Option<Vec<u8>>,
    timeout: Duration,
    t0: Instant,
    deadline: Instant,
}

type Sender = SendRequest<Full<Bytes>>;

pub async fn run(args: RunArgs) -> Result<String> {
    let targets = parse_targets(&args.url).await?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>>>()?;
    let bodies = read_bodies(&args.bodies)?;
    let conns = args.connections.max(1);
    let mut limit = args.requests.unwrap_or(usize::MAX).min(bodies.len());
    if args.burst {
        limit = limit.min(conns);
    }
    if limit == 0 {
        return Err(format!("{}: no bodies to send", args.bodies.display()));
    }

    let senders = connect_all(&targets, conns, args.connect_parallel).await?;
    if args.settle > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    }
    let mut watched = Watched::parse(&args.watch, args.clk_tck)?;
    if args.reset_hwm {
        watched.reset_hwm();
    }
    watched.start();
    let t0 = Instant::now();
    let plan = Arc::new(Plan {
        targets,
        headers,
        bodies,
        next: AtomicUsize::new(0),
        limit,
        rate: args.rate,
        burst: args.burst,
        expect: args.expect.clone().map(String::into_bytes),
        timeout: Duration::from_secs_f64(args.timeout),
        t0,
        deadline: t0 + Duration::from_secs_f64(args.duration),
    });
    let mut tasks = JoinSet::new();
    for (i, sender) in senders.into_iter().enumerate() {
        tasks.spawn(connection(plan.clone(), i % plan.targets.len(), sender));
    }
    let mut tally = Tally::default();
    while let Some(t) = tasks.join_next().await {
        tally.merge(t.map_err(|e| format!("a connection task failed: {e}"))?);
    }
    let elapsed = t0.elapsed();
    let cpu = watched.finish();
    let exhausted = plan.next.load(Ordering::Relaxed) >= plan.bodies.len();
    Ok(summarise(
        &args.label,
        &args_echo(&args, conns),
        tally,
        elapsed,
        exhausted,
        cpu,
    )
    .to_string())
}

fn args_echo(a: &RunArgs, conns: usize) -> serde_json::Value {
    serde_json::json!({
        "connections": conns,
        "rate": a.rate,
        "burst": a.burst,
        "duration": a.duration,
        "urls": a.url,
        "loadgen_threads": a.threads,
        "settle_s": a.settle,
    })
}

async fn parse_targets(urls: &[String]) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    for url in urls {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// is supported"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: no host"))?
            .to_string();
        let addr = tokio::net::lookup_host(&authority)
            .await
            .map_err(|e| format!("{authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority}: no address"))?;
        let path = uri
            .path_and_query()
            .map_or("/".to_owned(), ToString::to_string);
        out.push(Target {
            addr,
            authority,
            path,
        });
    }
    Ok(out)
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue)> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| "--header takes 'Name: value'".to_owned())?;
    let name = HeaderName::try_from(name.trim()).map_err(|e| format!("header name: {e}"))?;
    let value = HeaderValue::try_from(value.trim()).map_err(|e| format!("header value: {e}"))?;
    Ok((name, value))
}

/// One body per non-empty line, sliced out of one buffer.
fn read_bodies(path: &std::path::Path) -> Result<Vec<Bytes>> {
    let all = Bytes::from(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in all.iter().enumerate() {
        if *b == b'\n' {
            if i > start {
                out.push(all.slice(start..i));
            }
            start = i + 1;
        }
    }
    if start < all.len() {
        out.push(all.slice(start..));
    }
    Ok(out)
}

async fn open(addr: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Open `n` connections, `parallel` at a time (a listen backlog is finite), retrying briefly on failure.
async fn connect_all(targets: &[Target], n: usize, parallel: usize) -> Result<Vec<Sender>> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let mut set = JoinSet::new();
        for j in i..(i + parallel.max(1)).min(n) {
            let addr = targets[j % targets.len()].addr;
            set.spawn(async move {
                let mut last = None;
                for _ in 0..20 {
                    match open(addr).await {
                        Ok(s) => return Ok((j, s)),
                        Err(e) => last = Some(e),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(format!("cannot connect to {addr}: {last:?}"))
            });
        }
        let mut batch = Vec::new();
        while let Some(r) = set.join_next().await {
            batch.push(r.map_err(|e| e.to_string())??);
        }
        batch.sort_by_key(|(j, _)| *j);
        i += batch.len();
        out.extend(batch.into_iter().map(|(_, s)| s));
    }
    Ok(out)
}

enum Sent {
    Answered(u16, Bytes),
    Transport(String),
    TimedOut,
}

async fn send(sender: &mut Sender, req: Request<Full<Bytes>>, timeout: Duration) -> Sent {
    let exchange = async {
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((status, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok((status, body))) => Sent::Answered(status, body),
        Ok(Err(e)) => Sent::Transport(e.to_string()),
        Err(_) => Sent::TimedOut,
    }
}

fn request(plan: &Plan, target: &Target, body: Bytes) -> Request<Full<Bytes>> {
    let mut req = Request::post(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(CONTENT_TYPE, "application/json");
    for (k, v) in &plan.headers {
        req = req.header(k, v);
    }
    req.body(Full::new(body))
        .expect("a request of parsed parts is valid")
}

async fn connection(plan: Arc<Plan>, target: usize, sender: Sender) -> Tally {
    let target = &plan.targets[target];
    let mut sender = Some(sender);
    let mut tally = Tally::default();
    loop {
        if plan.burst && tally.sent > 0 {
            break;
        }
        if plan.rate <= 0.0 && Instant::now() >= plan.deadline {
            break;
        }
        let i = plan.next.fetch_add(1, Ordering::Relaxed);
        if i >= plan.limit {
            break;
        }
        let start = if plan.rate > 0.0 {
            let scheduled = plan.t0 + Duration::from_secs_f64(i as f64 / plan.rate);
            if scheduled >= plan.deadline {
                break;
            }
            tokio::time::sleep_until(scheduled.into()).await;
            scheduled
        } else {
            Instant::now()
        };
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match open(target.addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    tally.transport(&e.to_string());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        tally.sent += 1;
        match send(
            s,
            request(&plan, target, plan.bodies[i].clone()),
            plan.timeout,
        )
        .await
        {
            Sent::Answered(status, body) => {
                let good = (200..300).contains(&status)
                    && plan.expect.as_deref().is_none_or(|e| contains(&body, e));
                tally.answered(status, good, start.elapsed(), &body);
            }
            Sent::Transport(e) => {
                tally.transport(&e);
                sender = None;
            }
            Sent::TimedOut => {
                tally.timeouts += 1;
                sender = None;
            }
        }
    }
    tally
}

/// `needle` occurs in `body` and is not followed by a digit (so `"errcode":0` does not match `"errcode":0123`).
fn contains(body: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    body.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && body
                .get(i + needle.len())
                .is_none_or(|b| !b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn expect_is_not_fooled_by_a_longer_number() {
        assert!(contains(
            br#"{"errcode":0,"errmsg":"ok"}"#,
            br#""errcode":0"#
        ));
        assert!(contains(
            br#"{"errmsg":"ok","errcode":0}"#,
            br#""errcode":0"#
        ));
        assert!(!contains(br#"{"errcode":40001}"#, br#""errcode":4"#));
        assert!(!contains(br#"{"errcode":-1}"#, br#""errcode":0"#));
    }
}
