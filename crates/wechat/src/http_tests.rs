//! Over real HTTP against a minimal fake upstream on 127.0.0.1:0: the check's wire format, and that secrets
//! and personal data never reach an error (the token and secret travel in URLs, the name and ID number in
//! bodies, and a hostile upstream may echo any of them back).
use crate::{AccessToken, AppSecret, CheckRequest, Client, ClientConfig, Error};
use identity::{AppId, CredId, OpenId, RealName};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const TOKEN: &str = "TOKEN_0123456789abcdefSECRET";
const SECRET: &str = "APPSECRET_fedcba9876543210";
const NAME: &str = "张三丰";
const CRED: &str = "11010519491231002X";
const CODE: &str = "CODE_single_use_777";
const SESSION_KEY: &str = "SESSIONKEY_abcabcabc";

#[derive(Clone, Copy)]
enum Upstream {
    /// Answers 200 with this body.
    Reply(&'static str),
    Status(u16),
    /// Reads the request, then closes without answering.
    Close,
    /// Reads the request and never answers.
    Hang,
}

/// Reads one HTTP/1.1 request: the head, then `content-length` bytes of body.
async fn read_request(socket: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(head_end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if request.len() >= head_end + 4 + length {
                return request;
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return request,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
}

/// A one-trick HTTP server: `kind` decides the answer; every request it read is sent to the receiver.
async fn upstream(kind: Upstream) -> (String, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let _ = seen.send(read_request(&mut socket).await);
                let response = match kind {
                    Upstream::Reply(body) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    Upstream::Status(status) => {
                        format!(
                            "HTTP/1.1 {status} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                    }
                    Upstream::Close => return,
                    Upstream::Hang => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}"), requests)
}

async fn upstream_url(kind: Upstream) -> String {
    upstream(kind).await.0
}

fn client(base_url: String) -> Client {
    Client::new(ClientConfig {
        base_url,
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ca_file: None,
    })
    .unwrap()
}

fn assert_clean(err: &Error) {
    for text in [err.to_string(), format!("{err:?}")] {
        for secret in [
            TOKEN,
            SECRET,
            NAME,
            CRED,
            CODE,
            SESSION_KEY,
            "access_token=",
            "secret=",
        ] {
            assert!(!text.contains(secret), "{secret:?} leaked into {text:?}");
        }
    }
}

async fn check_error(base_url: String) -> Error {
    let openid = OpenId::parse("o_user_1").unwrap();
    let name = RealName::parse(NAME).unwrap();
    let cred = CredId::parse(CRED).unwrap();
    let req = CheckRequest {
        openid: &openid,
        real_name: &name,
        cred_id: &cred,
        code: CODE,
    };
    client(base_url)
        .check_real_name_info(&AccessToken::new(TOKEN.into()), &req)
        .await
        .unwrap_err()
}

/// A port that was just free: connecting to it is refused.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn check_errors_carry_no_secret_or_personal_data() {
    let echo = r#"{"errcode":40001,"errmsg":"invalid credential TOKEN_0123456789abcdefSECRET for 张三丰 11010519491231002X CODE_single_use_777"}"#;
    let cases = [
        (closed_port().await, "not_sent"),
        (upstream_url(Upstream::Reply(echo)).await, "wechat"),
        (
            upstream_url(Upstream::Reply("<html>TOKEN_0123456789abcdefSECRET")).await,
            "malformed",
        ),
        (
            upstream_url(Upstream::Reply(r#"{"errcode":0,"verify_openid":7}"#)).await,
            "malformed",
        ),
        (upstream_url(Upstream::Status(502)).await, "http_status"),
        (upstream_url(Upstream::Close).await, "transport"),
        (upstream_url(Upstream::Hang).await, "timeout"),
    ];
    for (base_url, kind) in cases {
        let err = check_error(base_url).await;
        assert_eq!(err.kind(), kind, "{err}");
        assert_clean(&err);
    }
}

#[tokio::test]
async fn echoed_errmsg_is_scrubbed_but_kept() {
    let echo =
        r#"{"errcode":40001,"errmsg":"invalid credential TOKEN_0123456789abcdefSECRET, rid: 42"}"#;
    let err = check_error(upstream_url(Upstream::Reply(echo)).await).await;
    assert!(err.is_token_error());
    assert_eq!(
        err.to_string(),
        "WeChat error 40001 (invalid credential: access token invalid or not the latest): invalid credential [redacted], rid: 42"
    );
}

#[tokio::test]
async fn token_and_session_errors_carry_no_secret() {
    let appid = AppId::parse("wx0000000000000001").unwrap();
    let secret = AppSecret::new(SECRET.into());
    let refused = client(closed_port().await);
    let err = refused.token(&appid, &secret).await.unwrap_err();
    assert_eq!(err.kind(), "not_sent");
    assert_clean(&err);
    let err = refused
        .stable_token(&appid, &secret, false)
        .await
        .unwrap_err();
    assert_clean(&err);

    let bad_openid = r#"{"openid":"not an openid","session_key":"SESSIONKEY_abcabcabc"}"#;
    let err = client(upstream_url(Upstream::Reply(bad_openid)).await)
        .jscode2session(&appid, &secret, CODE)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "malformed");
    assert_clean(&err);

    let ok = r#"{"openid":"o_user_1","session_key":"SESSIONKEY_abcabcabc","unionid":""}"#;
    let session = client(upstream_url(Upstream::Reply(ok)).await)
        .jscode2session(&appid, &secret, CODE)
        .await
        .unwrap();
    assert_eq!(session.openid.as_str(), "o_user_1");
    assert_eq!(session.unionid, None);
    assert!(!format!("{session:?}").contains(SESSION_KEY));
}

#[test]
fn check_request_debug_shows_only_the_openid() {
    let openid = OpenId::parse("o_user_1").unwrap();
    let name = RealName::parse(NAME).unwrap();
    let cred = CredId::parse(CRED).unwrap();
    let req = CheckRequest {
        openid: &openid,
        real_name: &name,
        cred_id: &cred,
        code: CODE,
    };
    let debug = format!("{req:?}");
    assert!(debug.contains("o_user_1"));
    for secret in [NAME, CRED, CODE] {
        assert!(!debug.contains(secret), "{debug}");
    }
    // The body, by contrast, carries everything, with the name as UTF-8 and cred_type as the string "1".
    let body: serde_json::Value = serde_json::from_slice(&req.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"openid": "o_user_1", "real_name": NAME, "cred_id": CRED, "cred_type": "1", "code": CODE})
    );
    assert!(String::from_utf8(req.body()).unwrap().contains(NAME));
}

#[tokio::test]
async fn the_check_request_on_the_wire() {
    let reply = r#"{"errcode":0,"errmsg":"ok","verify_openid":"V_OP_NM_MA","verify_real_name":"V_NM_ID_MA"}"#;
    let (base_url, mut requests) = upstream(Upstream::Reply(reply)).await;
    let openid = OpenId::parse("o_user_1").unwrap();
    let name = RealName::parse(NAME).unwrap();
    let cred = CredId::parse(CRED).unwrap();
    let req = CheckRequest {
        openid: &openid,
        real_name: &name,
        cred_id: &cred,
        code: CODE,
    };
    let result = client(base_url)
        .check_real_name_info(&AccessToken::new(TOKEN.into()), &req)
        .await
        .unwrap();
    assert_eq!(result.outcome, crate::CheckOutcome::Match);

    let raw = requests.recv().await.unwrap();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let body = &raw[head_end + 4..];
    let request_line = head.lines().next().unwrap();
    assert_eq!(
        request_line,
        format!("POST /intp/realname/checkrealnameinfo?access_token={TOKEN} HTTP/1.1")
    );
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/json; charset=utf-8")),
        "{head}"
    );
    // UTF-8 as is: the name's bytes, not \u escapes.
    let body = std::str::from_utf8(body).unwrap();
    assert!(
        body.contains(NAME) && !body.contains("\\u"),
        "body not raw UTF-8"
    );
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["cred_type"], "1");
}

/// Records every counter increment and histogram sample as `name{label=value,...}`.
#[derive(Debug, Default)]
struct LogRecorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

#[derive(Debug)]
struct Entry(String, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl metrics::CounterFn for Entry {
    fn increment(&self, n: u64) {
        self.1.lock().unwrap().push(format!("{} +{n}", self.0));
    }
    fn absolute(&self, _: u64) {}
}

impl metrics::HistogramFn for Entry {
    fn record(&self, _: f64) {
        self.1.lock().unwrap().push(format!("{} sample", self.0));
    }
}

impl LogRecorder {
    fn entry(&self, key: &metrics::Key) -> std::sync::Arc<Entry> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        std::sync::Arc::new(Entry(
            format!("{}{{{}}}", key.name(), labels.join(",")),
            self.0.clone(),
        ))
    }
}

impl metrics::Recorder for LogRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.entry(key))
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.entry(key))
    }
}

#[test]
fn metrics_label_endpoint_and_result() {
    let recorder = LogRecorder::default();
    // The recorder is local to this thread, so everything runs on a current-thread runtime here.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let appid = AppId::parse("wx0000000000000001").unwrap();
            let secret = AppSecret::new(SECRET.into());
            let ok = r#"{"access_token":"abc","expires_in":7200}"#;
            let tokens = crate::TokenManager::new(
                client(upstream_url(Upstream::Reply(ok)).await),
                appid.clone(),
                secret.clone(),
                crate::TokenKind::Classic,
                std::sync::Arc::new(crate::MemoryTokenStore::new()),
                std::sync::Arc::new(crate::SystemClock),
            );
            crate::TokenProvider::token(&tokens).await.unwrap();
            let busy = r#"{"errcode":-1,"errmsg":"system busy"}"#;
            let _ = client(upstream_url(Upstream::Reply(busy)).await)
                .stable_token(&appid, &secret, false)
                .await;
            let _ = client(closed_port().await)
                .jscode2session(&appid, &secret, CODE)
                .await;
            let _ = check_error(upstream_url(Upstream::Hang).await).await;
        })
    });
    let log = recorder.0.lock().unwrap().clone();
    for expected in [
        "wxrn_upstream_requests_total{endpoint=token,result=ok} +1",
        "wxrn_upstream_request_duration_seconds{endpoint=token} sample",
        "wxrn_token_fetches_total{kind=classic,result=ok} +1",
        "wxrn_upstream_requests_total{endpoint=stable_token,result=-1} +1",
        "wxrn_upstream_requests_total{endpoint=jscode2session,result=not_sent} +1",
        "wxrn_upstream_requests_total{endpoint=checkrealnameinfo,result=timeout} +1",
    ] {
        assert!(
            log.iter().any(|l| l == expected),
            "{expected} not in {log:#?}"
        );
    }
}
