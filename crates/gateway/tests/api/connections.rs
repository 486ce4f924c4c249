//! The connection loop (`gateway::serve`), over raw TCP: kept-alive and pipelined requests on one connection,
//! `Connection: close`, the `limits.max_in_flight` admission limit, and a verification that finishes and is
//! audited when its client resets the connection mid-request.

use crate::helpers::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATIENCE: Duration = Duration::from_secs(10);

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gateway\r\n{extra}\r\n")
}

/// One response as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

/// Read exactly `n` responses (each with a Content-Length, as all of ours have).
async fn read_responses(stream: &mut TcpStream, n: usize) -> Vec<Raw> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("a Content-Length");
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                out.push(Raw { status, head, body });
                buf.drain(..end + 4 + len);
                continue;
            }
        }
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(read > 0, "closed after {} responses: {out:?}", out.len());
        buf.extend_from_slice(&chunk[..read]);
    }
    assert!(buf.is_empty(), "more than {n} responses");
    out
}

/// Send one request and read its response.
async fn exchange(stream: &mut TcpStream, request: &str) -> Raw {
    stream.write_all(request.as_bytes()).await.unwrap();
    read_responses(stream, 1).await.remove(0)
}

#[tokio::test]
async fn a_kept_alive_connection_serves_one_request_after_another() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    for round in 0..5 {
        conn.write_all(get("/healthz", "").as_bytes())
            .await
            .unwrap();
        let r = read_responses(&mut conn, 1).await.remove(0);
        assert_eq!(r.status, 200, "round {round}: {r:?}");
        assert!(
            !r.head.contains("connection: close"),
            "round {round}: {r:?}"
        );
    }
    // Between exchanges the connection goes back to the idle wait; a request on it after a pause is served too.
    tokio::task::yield_now().await;
    assert_eq!(exchange(&mut conn, &get("/healthz", "")).await.status, 200);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    let three = [
        get("/healthz", ""),
        get("/v1/no-such-thing", ""),
        get("/openapi.json", ""),
    ]
    .concat();
    conn.write_all(three.as_bytes()).await.unwrap();
    let answers = read_responses(&mut conn, 3).await;
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 404, 200], "{answers:?}");
    assert!(answers[2].body.contains("\"openapi\""), "{answers:?}");
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    conn.write_all(get("/healthz", "Connection: close\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_responses(&mut conn, 1).await[0].status, 200);
    let mut rest = [0u8; 16];
    let read = tokio::time::timeout(PATIENCE, conn.read(&mut rest))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(read, 0, "the server closes after Connection: close");
}

/// Wait (without sleeping for a fixed time) until the sandbox has received `n` check calls.
async fn until_checks(app: &TestApp, n: u64) -> Instant {
    let started = Instant::now();
    while app.checks() < n {
        assert!(
            started.elapsed() < PATIENCE,
            "the check never reached WeChat"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Instant::now()
}

#[tokio::test]
async fn a_request_beyond_max_in_flight_waits_for_one_to_finish() {
    let held = Duration::from_millis(400);
    let app = std::sync::Arc::new(
        TestApp::builder()
            .config(|c| c.limits.max_in_flight = 1)
            .spawn()
            .await,
    );
    app.fault(Fault::delay(CHECK, held));
    let first = {
        let app = app.clone();
        tokio::spawn(async move { app.verify(&app.body_for(0)).await.0 })
    };
    // The verification is inside WeChat, holding the one permit, for about `held` from here.
    let inside = until_checks(&app, 1).await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    assert_eq!(exchange(&mut conn, &get("/healthz", "")).await.status, 200);
    let waited = inside.elapsed();
    // Unlimited, /healthz answers in about a millisecond; here it waited for the verification's permit.
    assert!(
        waited >= held - Duration::from_millis(100),
        "answered after {waited:?}, while a verification held the only permit"
    );
    assert_eq!(first.await.unwrap(), 200);
}

#[tokio::test]
async fn a_verification_whose_client_resets_the_connection_still_ends_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    app.fault(Fault::delay(CHECK, Duration::from_millis(300)));
    let body = serde_json::to_string(&app.body_for(0)).unwrap();
    let request = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        app.key,
        body.len()
    );
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    until_checks(&app, 1).await;
    // A reset, not a polite close: the client is gone while WeChat is answering.
    #[allow(deprecated)]
    conn.set_linger(Some(Duration::ZERO)).unwrap();
    drop(conn);

    let started = Instant::now();
    let rows = loop {
        let rows = app.state.store.recent(10).await.unwrap();
        if !rows.is_empty() {
            break rows;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no audit row for the verification"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.outcome.as_deref(), Some("match"), "{rows:?}");
    assert_eq!(app.checks(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_kept_alive_clients_in_a_closed_loop_lose_no_request() {
    let app = TestApp::spawn().await;
    let mut clients = Vec::new();
    for _ in 0..32 {
        let addr = app.addr.clone();
        clients.push(tokio::spawn(async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            let body = r#"{"openid":"o"}"#;
            let post = format!(
                "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            for i in 0..200 {
                let (req, want) = if i % 2 == 0 { (get("/healthz", ""), 200) } else { (post.clone(), 401) };
                conn.write_all(req.as_bytes()).await.unwrap();
                let r = read_responses(&mut conn, 1).await.remove(0);
                assert_eq!(r.status, want, "{r:?}");
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifications_on_kept_alive_connections_in_a_closed_loop_all_succeed() {
    let app = std::sync::Arc::new(
        TestApp::builder()
            .config(|c| {
                c.limits.per_openid_per_day = 0;
                c.limits.per_key_per_second = 0;
            })
            .spawn()
            .await,
    );
    let mut clients = Vec::new();
    for c in 0..16 {
        let app = app.clone();
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut bad = Vec::new();
            for i in 0..40 {
                let body = app.body_for((c * 40 + i) % 4);
                let r = http
                    .post(app.url("/v1/verifications"))
                    .bearer_auth(&app.key)
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => bad.push(format!("status {}", r.status())),
                    Err(e) => bad.push(format!("{e:?}")),
                }
            }
            bad
        }));
    }
    let mut bad = Vec::new();
    for c in clients {
        bad.extend(c.await.unwrap());
    }
    assert!(
        bad.is_empty(),
        "{} failed: {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
}

/// A request on a connection that has stopped sending: the socket must be closed by the server, with nothing
/// more written, within `PATIENCE`.
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut rest = [0u8; 64];
    matches!(
        tokio::time::timeout(PATIENCE, conn.read(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn an_answer_given_before_the_body_was_read_closes_the_connection() {
    let app = TestApp::spawn().await;
    // A body too large to drain is refused at once, unread: hyper would otherwise be left mid-body.
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    conn.write_all(
        b"POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
          Content-Length: 2000000\r\n\r\n{\"openid\"",
    )
    .await
    .unwrap();
    let r = read_responses(&mut conn, 1).await.remove(0);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.head.contains("connection: close"), "{r:?}");
    assert!(closed_by_server(&mut conn).await);

    // With the whole body sent and read, a refusal keeps the connection.
    let body = r#"{"openid":"o","code":"c"}"#;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    let post = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for round in 0..3 {
        conn.write_all(post.as_bytes()).await.unwrap();
        let r = read_responses(&mut conn, 1).await.remove(0);
        assert_eq!(r.status, 401, "round {round}: {r:?}");
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_holds_no_permit() {
    let app = TestApp::builder()
        .config(|c| c.limits.max_in_flight = 1)
        .spawn()
        .await;
    let mut first = TcpStream::connect(&app.addr).await.unwrap();
    assert_eq!(exchange(&mut first, &get("/healthz", "")).await.status, 200);
    // `first` stays open and idle. The one permit is free again: other connections are served at once ...
    for _ in 0..3 {
        let mut other = TcpStream::connect(&app.addr).await.unwrap();
        assert_eq!(exchange(&mut other, &get("/healthz", "")).await.status, 200);
    }
    // ... and the idle connection is still good for its next request.
    assert_eq!(
        exchange(&mut first, &get("/openapi.json", "")).await.status,
        200
    );
}

#[tokio::test]
async fn a_client_dribbling_its_headers_holds_no_permit() {
    let app = TestApp::builder()
        .config(|c| {
            c.limits.max_in_flight = 1;
            c.limits.header_timeout_ms = 5_000;
        })
        .spawn()
        .await;
    let mut slow = TcpStream::connect(&app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: gat")
        .await
        .unwrap();
    // The slow head is not complete, so it waits without a permit and others are served.
    let started = Instant::now();
    let mut other = TcpStream::connect(&app.addr).await.unwrap();
    assert_eq!(exchange(&mut other, &get("/healthz", "")).await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?} behind a slow client",
        started.elapsed()
    );
    // Once its head is complete, the slow client is served too.
    slow.write_all(b"eway\r\n\r\n").await.unwrap();
    assert_eq!(read_responses(&mut slow, 1).await[0].status, 200);
}

#[tokio::test]
async fn a_request_split_across_rounds_is_served_whole() {
    let app = TestApp::spawn().await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    // The first request and the start of the second arrive together: hyper reads the second's first bytes
    // ahead, and they must reach the next round.
    let second = get("/openapi.json", "");
    let (start, end) = second.split_at(10);
    conn.write_all([get("/healthz", ""), start.to_owned()].concat().as_bytes())
        .await
        .unwrap();
    assert_eq!(read_responses(&mut conn, 1).await[0].status, 200);
    conn.write_all(end.as_bytes()).await.unwrap();
    let r = read_responses(&mut conn, 1).await.remove(0);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\"openapi\""), "{r:?}");
}
