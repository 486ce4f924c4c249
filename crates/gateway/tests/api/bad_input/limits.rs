//! Limits, tested with raw TCP: bodies over `limits.max_body_bytes` get 413 however their length is told (or not),
//! and slow clients are cut off by `limits.header_timeout_ms` (headers never finished) and
//! `limits.request_timeout_ms` (body never finished). Each runs on both connection loops (`limits.connection_loop`).

use super::{MATCH, VERIFY};
use crate::helpers::*;
use gateway::config::ConnectionLoop;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Write `request` on a new connection, then `trickled` one byte every `every`, then read until the server
/// closes the connection, for at most `within`. Returns what was read and when the connection closed, counted
/// from the connect.
async fn raw_exchange(
    addr: &str,
    request: Vec<u8>,
    trickled: Option<(Vec<u8>, Duration)>,
    within: Duration,
) -> (String, Option<Duration>) {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        if wr.write_all(&request).await.is_ok()
            && let Some((bytes, every)) = trickled
        {
            for b in bytes {
                if wr.write_all(&[b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(every).await;
            }
        }
        // Keep the write half open: a closed write half would end the request early.
        std::future::pending::<()>().await;
    });
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(n)) => read.extend_from_slice(&buf[..n]),
            Err(_) => break None,
        }
    };
    writer.abort();
    (String::from_utf8_lossy(&read).into_owned(), closed)
}

/// The first response in `raw`: status and body (hyper sends a Content-Length for our JSON answers).
fn first_response(raw: &str) -> (u16, String) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let Some((head, rest)) = raw.split_once("\r\n\r\n") else {
        return (status, String::new());
    };
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (status, rest.get(..len).unwrap_or(rest).to_owned())
}

fn head(path: &str, key: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
    )
}

fn chunked(body: &[u8], chunk: usize, finish: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    if finish {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

#[tokio::test]
async fn oversized_bodies_are_413_however_their_length_is_told() {
    oversized_bodies_are_413(ConnectionLoop::Lean).await;
}

#[tokio::test]
async fn oversized_bodies_are_413_however_their_length_is_told_on_the_plain_loop() {
    oversized_bodies_are_413(ConnectionLoop::Plain).await;
}

async fn oversized_bodies_are_413(connection_loop: ConnectionLoop) {
    const MAX: usize = 1_024;
    let app = TestApp::builder()
        .config(move |c| {
            c.limits.max_body_bytes = MAX;
            c.limits.connection_loop = connection_loop;
        })
        .spawn()
        .await;
    let wait = Duration::from_secs(10);
    for path in [VERIFY, MATCH] {
        // Honest Content-Length: one byte over is refused, the limit itself is read (and is not JSON).
        for (len, status, code) in [
            (MAX + 1, 413, "payload_too_large"),
            (MAX, 400, "invalid_request"),
        ] {
            let resp = app
                .http
                .post(app.url(path))
                .bearer_auth(&app.key)
                .body(vec![b' '; len])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), status, "{path} {len}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(error_code(&body), code, "{path} {len}: {body}");
        }

        let big = format!(r#"{{"openid": "o", "pad": "{}"}}"#, "x".repeat(2 * MAX));
        let key = &app.key;
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            // Announces more than the limit and sends a little: refused after a short wait for the rest (read
            // and discarded, so that a client still sending gets its answer) or, past 1 MiB, at once.
            (
                "Content-Length too large",
                [
                    head(path, key, "Content-Length: 1000000\r\n").as_bytes(),
                    b"{}",
                ]
                .concat(),
                413,
                "payload_too_large",
            ),
            (
                "Content-Length far too large",
                [
                    head(path, key, "Content-Length: 1000000000\r\n").as_bytes(),
                    b"{}",
                ]
                .concat(),
                413,
                "payload_too_large",
            ),
            // Chunked, no length announced: cut off once the limit is crossed, finished or not.
            (
                "chunked",
                [
                    head(path, key, "Transfer-Encoding: chunked\r\n").into_bytes(),
                    chunked(big.as_bytes(), 100, true),
                ]
                .concat(),
                413,
                "payload_too_large",
            ),
            (
                "chunked, never finished",
                [
                    head(path, key, "Transfer-Encoding: chunked\r\n").into_bytes(),
                    chunked(big.as_bytes(), 100, false),
                ]
                .concat(),
                413,
                "payload_too_large",
            ),
            // Announces less than it sends: the body is cut at the announced length (not JSON); the rest is not
            // a request.
            (
                "Content-Length too small",
                [
                    head(path, key, "Content-Length: 5\r\n").into_bytes(),
                    big.clone().into_bytes(),
                ]
                .concat(),
                400,
                "invalid_request",
            ),
            // No length at all: an HTTP/1.1 request without one has no body.
            (
                "no Content-Length",
                [head(path, key, "").into_bytes(), big.clone().into_bytes()].concat(),
                400,
                "invalid_request",
            ),
        ];
        for (what, request, status, code) in cases {
            let (raw, closed) = raw_exchange(&app.addr, request, None, wait).await;
            let (got, body) = first_response(&raw);
            assert_eq!(got, status, "{path}, {what}: {raw}");
            let body: Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {raw}"));
            assert_eq!(error_code(&body), code, "{path}, {what}");
            assert!(
                closed.is_some(),
                "{path}, {what}: the connection stays open"
            );
            assert!(!raw.contains("HTTP/1.1 5"), "{path}, {what}: {raw}");
        }

        // Both lengths at once (a request-smuggling shape): refused, never a 5xx.
        let both = [
            head(
                path,
                key,
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
            )
            .into_bytes(),
            chunked(b"{}", 2, true),
        ]
        .concat();
        let (raw, _) = raw_exchange(&app.addr, both, None, wait).await;
        let (status, _) = first_response(&raw);
        assert!((400..500).contains(&status), "{path}, CL + TE: {raw}");
    }
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    slow_clients_cut_off(ConnectionLoop::Lean).await;
}

#[tokio::test]
async fn slow_clients_are_cut_off_on_the_plain_loop() {
    slow_clients_cut_off(ConnectionLoop::Plain).await;
}

async fn slow_clients_cut_off(connection_loop: ConnectionLoop) {
    let header_timeout = Duration::from_millis(300);
    let request_timeout = Duration::from_millis(700);
    let app = TestApp::builder()
        .config(move |c| {
            c.limits.connection_loop = connection_loop;
            c.limits.header_timeout_ms = 300;
            c.upstream_timeout_ms = 200;
            c.limits.request_timeout_ms = Some(700);
        })
        .spawn()
        .await;
    let patience = Duration::from_secs(5);
    let partial_head = head(VERIFY, &app.key, "Content-Length: 100\r\n");

    // Never finishes its headers: silent, half-sent, or trickled a byte at a time (which does not restart the
    // clock). The connection is closed, with no answer, once the header timeout has passed.
    let every = Duration::from_millis(20);
    for (what, request, trickle) in [
        ("silent", Vec::new(), None),
        (
            "half the headers",
            partial_head.as_bytes()[..40].to_vec(),
            None,
        ),
        (
            "headers trickled",
            Vec::new(),
            Some((partial_head.clone().into_bytes(), every)),
        ),
    ] {
        let (raw, closed) = raw_exchange(&app.addr, request, trickle, patience).await;
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after {patience:?}"));
        assert!(closed >= header_timeout, "{what}: closed after {closed:?}");
        assert!(!raw.contains("HTTP/1.1 5"), "{what}: {raw}");
    }

    // Headers in, body never finished (stalled or trickled): 408 once the request timeout has passed, then
    // the connection is closed.
    let stalled = [partial_head.as_bytes(), br#"{"openid":"#].concat();
    for (what, request, trickle) in [
        ("body stalled", stalled, None),
        (
            "body trickled",
            partial_head.clone().into_bytes(),
            Some((vec![b' '; 99], every)),
        ),
    ] {
        let (raw, closed) = raw_exchange(&app.addr, request, trickle, patience).await;
        let closed = closed.unwrap_or_else(|| panic!("{what}: still open after {patience:?}"));
        let (status, body) = first_response(&raw);
        assert_eq!(status, 408, "{what}: {raw}");
        let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: {raw}"));
        assert_eq!(error_code(&body), "request_timeout", "{what}: {raw}");
        assert!(closed >= request_timeout, "{what}: closed after {closed:?}");
    }

    // The gateway is still serving, and nothing reached WeChat.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(app.checks(), 0);
}
