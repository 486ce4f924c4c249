use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::io::Write;
use std::sync::{Mutex, Once};

/// Everything the sandbox logs, at every level, from the moment the first test here installs the subscriber.
/// Global, not scoped: tracing caches per-callsite interest across threads, so a thread-local subscriber can
/// miss events and make the canary below pass vacuously.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("sandbox=trace,tower_http=trace")
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_name_openids_and_errcodes_but_no_personal_data_secrets_tokens_or_codes() {
    capture_logs();
    let app = TestSandbox::spawn().await;
    let user = json!({"appid": APPID, "openid": "o-dave", "real_name": "周九", "cred_id": "110101199508080039"});
    app.admin(Method::POST, "/sandbox/users", Some(user)).await;
    let (_, v) = app
        .admin(
            Method::POST,
            "/sandbox/login",
            Some(json!({"appid": APPID, "openid": "o-dave"})),
        )
        .await;
    let js_code = v["js_code"].as_str().unwrap().to_owned();
    let session = app
        .get(&format!("/sns/jscode2session?appid={APPID}&secret={SECRET}&js_code={js_code}&grant_type=authorization_code"))
        .await;
    let session_key = session["session_key"].as_str().unwrap().to_owned();
    let token = app.token().await;
    let stable = app.stable_token(APPID, SECRET, false).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.consent(APPID, "o-dave");
    let v = app
        .check(
            &token,
            &check_body("o-dave", "周九", "110101199508080039", &code),
        )
        .await;
    assert_eq!(verdict(&v).1, "V_NM_ID_MA");
    app.check(
        &token,
        &check_body("o-dave", "周九", "110101199508080039", &code),
    )
    .await;

    let logs = String::from_utf8(LOGS.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("o-dave") && logs.contains("80113"),
        "the capture works: {logs}"
    );
    for secret in [
        ALICE.name,
        ALICE.cred_id,
        BOB.name,
        BOB.cred_id,
        "周九",
        "110101199508080039",
        SECRET,
        &token,
        &stable,
        &code,
        &js_code,
        &session_key,
    ] {
        assert!(!logs.contains(secret), "leaked into the logs: {secret}");
    }
}
