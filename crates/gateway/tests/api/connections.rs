//! The connection loops (`gateway::serve`), over raw TCP: kept-alive and pipelined requests on one connection,
//! `Connection: close`, the `limits.max_in_flight` admission limit, a verification that finishes and is audited
//! when its client resets the connection mid-request, and clients without a key that try to hold the permits
//! (issue 12 §1). Every test runs against both loops (`limits.connection_loop`): `connections::lean::*` and
//! `connections::plain::*`.

use crate::helpers::*;
use gateway::config::ConnectionLoop;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PATIENCE: Duration = Duration::from_secs(10);

/// Each `async fn name;` becomes the test `lean::name` and the test `plain::name`, calling `name(loop)`.
macro_rules! on_both_loops {
    ($( $(#[$attr:meta])* async fn $name:ident; )*) => {
        mod lean {
            $( $(#[$attr])* async fn $name() { super::$name(gateway::config::ConnectionLoop::Lean).await } )*
        }
        mod plain {
            $( $(#[$attr])* async fn $name() { super::$name(gateway::config::ConnectionLoop::Plain).await } )*
        }
    };
}

on_both_loops! {
    #[tokio::test] async fn a_kept_alive_connection_serves_one_request_after_another;
    #[tokio::test] async fn pipelined_requests_are_answered_in_order;
    #[tokio::test] async fn connection_close_is_honoured;
    #[tokio::test] async fn a_request_beyond_max_in_flight_waits_for_one_to_finish;
    #[tokio::test] async fn unkeyed_routes_do_not_wait_for_the_keyed_permits;
    #[tokio::test] async fn a_verification_whose_client_resets_the_connection_still_ends_in_the_audit_trail;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_kept_alive_clients_in_a_closed_loop_lose_no_request;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verifications_on_kept_alive_connections_in_a_closed_loop_all_succeed;
    #[tokio::test] async fn an_answer_given_before_the_body_was_read_closes_the_connection;
    #[tokio::test] async fn an_idle_kept_alive_connection_holds_no_permit;
    #[tokio::test] async fn a_client_dribbling_its_headers_holds_no_permit;
    #[tokio::test] async fn a_request_split_across_rounds_is_served_whole;
    #[tokio::test] async fn pipelined_partial_heads_without_a_key_hold_no_permit;
    #[tokio::test] async fn endless_heads_are_answered_431_at_once;
    #[tokio::test] async fn bodies_that_never_come_without_a_key_are_answered_401_at_once;
    #[tokio::test] async fn unkeyed_routes_with_bodies_that_never_come_hold_no_permit;
    #[tokio::test] async fn every_shape_at_once_leaves_keyed_requests_answered;
    #[tokio::test] async fn one_address_holds_no_more_than_max_in_flight_per_ip;
}

/// A test app on the given connection loop.
fn on(connection_loop: ConnectionLoop) -> Builder {
    TestApp::builder().config(move |c| c.limits.connection_loop = connection_loop)
}

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

async fn a_kept_alive_connection_serves_one_request_after_another(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
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

async fn pipelined_requests_are_answered_in_order(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
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

async fn connection_close_is_honoured(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
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

async fn a_request_beyond_max_in_flight_waits_for_one_to_finish(lp: ConnectionLoop) {
    let held = Duration::from_millis(400);
    let app = std::sync::Arc::new(on(lp).config(|c| c.limits.max_in_flight = 1).spawn().await);
    app.fault(Fault::delay(CHECK, held));
    let first = {
        let app = app.clone();
        tokio::spawn(async move { app.verify(&app.body_for(0)).await.0 })
    };
    // The verification is inside WeChat, holding the one permit, for about `held` from here.
    let inside = until_checks(&app, 1).await;
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    assert_eq!(exchange(&mut conn, &keyed_lookup(&app)).await.status, 404);
    let waited = inside.elapsed();
    // Unlimited, the lookup answers in about a millisecond; here it waited for the verification's permit.
    assert!(
        waited >= held - Duration::from_millis(100),
        "answered after {waited:?}, while a verification held the only permit"
    );
    assert_eq!(first.await.unwrap(), 200);
}

/// A keyed request that costs one read: the lookup of a verification that does not exist (404).
fn keyed_lookup(app: &TestApp) -> String {
    get(
        "/v1/verifications/00000000-0000-0000-0000-000000000000",
        &format!("Authorization: Bearer {}\r\n", app.key),
    )
}

async fn unkeyed_routes_do_not_wait_for_the_keyed_permits(lp: ConnectionLoop) {
    let held = Duration::from_millis(1_500);
    let app = std::sync::Arc::new(on(lp).config(|c| c.limits.max_in_flight = 1).spawn().await);
    app.fault(Fault::delay(CHECK, held));
    let first = {
        let app = app.clone();
        tokio::spawn(async move { app.verify(&app.body_for(0)).await.0 })
    };
    let inside = until_checks(&app, 1).await;
    // The one keyed permit is held; /healthz, /metrics and a refusal are answered from the open budget.
    for (request, status) in [
        (get("/healthz", ""), 200),
        (get("/metrics", ""), 200),
        (
            keyed_lookup(&app).replace(&app.key, "wxrn_nokey_nosecret"),
            401,
        ),
    ] {
        let mut conn = TcpStream::connect(&app.addr).await.unwrap();
        assert_eq!(
            exchange(&mut conn, &request).await.status,
            status,
            "{request}"
        );
    }
    let waited = inside.elapsed();
    assert!(
        waited < held - Duration::from_millis(500),
        "answered after {waited:?}: the unkeyed requests waited for the keyed permit"
    );
    assert_eq!(first.await.unwrap(), 200);
}

async fn a_verification_whose_client_resets_the_connection_still_ends_in_the_audit_trail(
    lp: ConnectionLoop,
) {
    let app = on(lp).spawn().await;
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

async fn many_kept_alive_clients_in_a_closed_loop_lose_no_request(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
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

async fn verifications_on_kept_alive_connections_in_a_closed_loop_all_succeed(lp: ConnectionLoop) {
    let app = std::sync::Arc::new(
        on(lp)
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

async fn an_answer_given_before_the_body_was_read_closes_the_connection(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
    // A body too large to drain is refused at once, unread: hyper would otherwise be left mid-body.
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    let request = format!(
        "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{{\"openid\"",
        app.key
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let r = read_responses(&mut conn, 1).await.remove(0);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.head.contains("connection: close"), "{r:?}");
    assert!(closed_by_server(&mut conn).await);

    // With the whole body sent with its head, a refusal (no key) reads it and keeps the connection.
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

async fn an_idle_kept_alive_connection_holds_no_permit(lp: ConnectionLoop) {
    let app = on(lp).config(|c| c.limits.max_in_flight = 1).spawn().await;
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

async fn a_client_dribbling_its_headers_holds_no_permit(lp: ConnectionLoop) {
    let app = on(lp)
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

async fn a_request_split_across_rounds_is_served_whole(lp: ConnectionLoop) {
    let app = on(lp).spawn().await;
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

// Clients without a key that try to hold the permits (issue 12 §1). Each shape is opened `max_in_flight` times
// with a long header timeout: before the fix, each socket held a permit until that timeout, so a keyed request
// waited 10 s.

const SHAPE_MAX_IN_FLIGHT: usize = 8;

async fn app_for_shapes(lp: ConnectionLoop) -> TestApp {
    on(lp)
        .config(|c| {
            c.limits.max_in_flight = SHAPE_MAX_IN_FLIGHT;
            c.limits.header_timeout_ms = 10_000;
        })
        .spawn()
        .await
}

/// A keyed request on a fresh connection is answered, and well under a second.
async fn keyed_requests_are_answered_at_once(app: &TestApp) {
    let started = Instant::now();
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    let r = exchange(&mut conn, &keyed_lookup(app)).await;
    let took = started.elapsed();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        took < Duration::from_millis(500),
        "a keyed request took {took:?}"
    );
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A complete request, then the start of a second head on the same connection.
    PipelinedPartialHead,
    /// A head over 16 KiB that never ends.
    EndlessHead,
    /// `POST /v1/verifications` announcing 1000 bytes that never come, without a key (or with a wrong one).
    MissingBody { key: Option<&'static str> },
    /// The same on an unkeyed route.
    MissingBodyUnkeyedRoute,
}

/// Opens one socket of the shape, checks what the gateway answers at once, and returns the socket (still open
/// for `PipelinedPartialHead`, closed by the gateway otherwise).
async fn open_shape(app: &TestApp, shape: Shape) -> TcpStream {
    let mut conn = TcpStream::connect(&app.addr).await.unwrap();
    let started = Instant::now();
    match shape {
        Shape::PipelinedPartialHead => {
            // The first request has a body that arrives with it, and no key: refused, the connection kept.
            let body = r#"{"openid":"o"}"#;
            let first = format!(
                "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(format!("{first}GET /healthz HTTP/1.1\r\nHo").as_bytes())
                .await
                .unwrap();
            let r = read_responses(&mut conn, 1).await.remove(0);
            assert_eq!(r.status, 401, "{r:?}");
        }
        Shape::EndlessHead => {
            let mut head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Pad: ".to_vec();
            head.resize(17 * 1024, b'a');
            conn.write_all(&head).await.unwrap();
            let r = read_responses(&mut conn, 1).await.remove(0);
            assert_eq!(r.status, 431, "{r:?}");
            assert!(closed_by_server(&mut conn).await, "open after a 431");
        }
        Shape::MissingBody { key } => {
            let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n"));
            let head = format!(
                "POST /v1/verifications HTTP/1.1\r\nHost: gateway\r\n{}Content-Type: application/json\r\n\
                 Content-Length: 1000\r\n\r\n",
                auth.unwrap_or_default()
            );
            conn.write_all(head.as_bytes()).await.unwrap();
            let r = read_responses(&mut conn, 1).await.remove(0);
            assert_eq!(r.status, 401, "{r:?}");
            assert!(r.body.contains("\"unauthorized\""), "{r:?}");
            assert!(r.head.contains("connection: close"), "{r:?}");
            assert!(closed_by_server(&mut conn).await, "open after a 401");
        }
        Shape::MissingBodyUnkeyedRoute => {
            let head = "POST /healthz HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1000\r\n\r\n";
            conn.write_all(head.as_bytes()).await.unwrap();
            let r = read_responses(&mut conn, 1).await.remove(0);
            assert!((400..500).contains(&r.status), "{r:?}");
            assert!(closed_by_server(&mut conn).await, "open after its answer");
        }
    }
    // Answered at once: not after the header or request timeout.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "{shape:?}: answered after {took:?}"
    );
    conn
}

/// `max_in_flight` sockets of each shape at once, then a keyed request.
async fn shapes_leave_keyed_requests_answered(
    lp: ConnectionLoop,
    shapes: &[Shape],
) -> Vec<TcpStream> {
    let app = app_for_shapes(lp).await;
    let mut open = Vec::new();
    for shape in shapes {
        for _ in 0..SHAPE_MAX_IN_FLIGHT {
            open.push(open_shape(&app, *shape).await);
        }
    }
    keyed_requests_are_answered_at_once(&app).await;
    // And a whole verification goes through.
    let (status, body, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(status, 200, "{body}");
    open
}

async fn pipelined_partial_heads_without_a_key_hold_no_permit(lp: ConnectionLoop) {
    let app = app_for_shapes(lp).await;
    let mut open = Vec::new();
    for _ in 0..SHAPE_MAX_IN_FLIGHT {
        open.push(open_shape(&app, Shape::PipelinedPartialHead).await);
    }
    keyed_requests_are_answered_at_once(&app).await;
    // The waiting heads are still good once they are finished.
    for conn in &mut open {
        conn.write_all(b"st: gateway\r\n\r\n").await.unwrap();
        assert_eq!(read_responses(conn, 1).await[0].status, 200);
    }
}

async fn endless_heads_are_answered_431_at_once(lp: ConnectionLoop) {
    shapes_leave_keyed_requests_answered(lp, &[Shape::EndlessHead]).await;
}

async fn bodies_that_never_come_without_a_key_are_answered_401_at_once(lp: ConnectionLoop) {
    let shapes = [
        Shape::MissingBody { key: None },
        Shape::MissingBody {
            key: Some("wxrn_nosuchkey_0000000000000000000000000000000000000000"),
        },
    ];
    shapes_leave_keyed_requests_answered(lp, &shapes).await;
}

async fn unkeyed_routes_with_bodies_that_never_come_hold_no_permit(lp: ConnectionLoop) {
    shapes_leave_keyed_requests_answered(lp, &[Shape::MissingBodyUnkeyedRoute]).await;
}

async fn every_shape_at_once_leaves_keyed_requests_answered(lp: ConnectionLoop) {
    let shapes = [
        Shape::PipelinedPartialHead,
        Shape::EndlessHead,
        Shape::MissingBody { key: None },
        Shape::MissingBodyUnkeyedRoute,
    ];
    shapes_leave_keyed_requests_answered(lp, &shapes).await;
}

/// A connection from another loopback address (127.0.0.0/8 is all local on Linux).
async fn connect_from(source: [u8; 4], app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(app.addr.parse().unwrap()).await.unwrap()
}

async fn one_address_holds_no_more_than_max_in_flight_per_ip(lp: ConnectionLoop) {
    let held = Duration::from_millis(1_000);
    let app = std::sync::Arc::new(
        on(lp)
            .config(|c| {
                c.limits.max_in_flight = 4;
                c.limits.max_in_flight_per_ip = 1;
            })
            .spawn()
            .await,
    );
    app.fault(Fault::delay(CHECK, held));
    // 127.0.0.1 (reqwest) holds its one permit inside WeChat.
    let first = {
        let app = app.clone();
        tokio::spawn(async move { app.verify(&app.body_for(0)).await.0 })
    };
    let inside = until_checks(&app, 1).await;
    // Another address is served at once ...
    let mut other = connect_from([127, 0, 0, 2], &app).await;
    assert_eq!(exchange(&mut other, &keyed_lookup(&app)).await.status, 404);
    let waited = inside.elapsed();
    assert!(
        waited < held - Duration::from_millis(500),
        "another address waited {waited:?}"
    );
    // ... and a second keyed request from the same address waits for the first to finish.
    let mut same = connect_from([127, 0, 0, 1], &app).await;
    assert_eq!(exchange(&mut same, &keyed_lookup(&app)).await.status, 404);
    let waited = inside.elapsed();
    assert!(
        waited >= held - Duration::from_millis(100),
        "the same address was answered after {waited:?}, while it held its one permit"
    );
    // Unkeyed routes are not counted against the address.
    assert_eq!(exchange(&mut same, &get("/healthz", "")).await.status, 200);
    assert_eq!(first.await.unwrap(), 200);
}
