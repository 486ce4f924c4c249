use crate::helpers::*;
use reqwest::Method;
use sandbox::{Endpoint, Fault};
use serde_json::{Value, json};
use std::time::Duration;

async fn post_fault(app: &TestSandbox, fault: Value) -> (reqwest::StatusCode, Value) {
    app.admin(Method::POST, "/sandbox/faults", Some(fault))
        .await
}

fn alice_body(code: &str) -> Value {
    check_body(ALICE.openid, ALICE.name, ALICE.cred_id, code)
}

#[tokio::test]
async fn an_errcode_fault_answers_without_processing_for_the_next_n_calls() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let (status, v) = post_fault(
        &app,
        json!({"endpoint": "checkrealnameinfo", "times": 2, "errcode": -1}),
    )
    .await;
    assert_eq!((status.as_u16(), v["queued"].as_u64()), (200, Some(2)));

    for _ in 0..2 {
        let v = app.check(&token, &alice_body(&code)).await;
        assert_eq!(errcode(&v), -1);
        assert_eq!(
            v["errmsg"].as_str().unwrap().split(" rid:").next(),
            Some("system error")
        );
    }
    let v = app.check(&token, &alice_body(&code)).await;
    assert_eq!(
        verdict(&v).1,
        "V_NM_ID_MA",
        "the code was not consumed by the faulted calls"
    );

    let stats = app.handle.stats();
    assert_eq!(
        stats.calls.checkrealnameinfo, 3,
        "faulted calls count as calls"
    );
    assert_eq!(stats.faults_applied, 2);
    assert_eq!(stats.errcode(-1), 2);
    assert_eq!(stats.codes_consumed, 1);
}

#[tokio::test]
async fn an_errcode_fault_can_carry_its_own_errmsg() {
    let app = TestSandbox::spawn().await;
    let fault = Fault {
        errmsg: Some("系统繁忙".into()),
        ..Fault::errcode(Endpoint::Token, -1)
    };
    app.handle.state().add_fault(fault).unwrap();
    let v = app.classic_token(APPID, SECRET).await;
    assert_eq!(v, json!({"errcode": -1, "errmsg": "系统繁忙"}));
    assert_eq!(app.handle.stats().tokens_issued.token, 0);
}

#[tokio::test]
async fn an_http_status_fault_answers_html_without_processing() {
    let app = TestSandbox::spawn().await;
    post_fault(&app, json!({"endpoint": "token", "http_status": 502})).await;
    let resp = app
        .http
        .get(app.url(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
    assert_eq!(app.handle.stats().tokens_issued.token, 0);
    assert_eq!(app.handle.stats().calls.token, 1);
}

#[tokio::test]
async fn a_malformed_fault_answers_200_with_a_body_that_is_not_json() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    app.handle
        .state()
        .add_fault(Fault::malformed(Endpoint::Checkrealnameinfo))
        .unwrap();
    let resp = app
        .http
        .post(app.url(&format!(
            "/intp/realname/checkrealnameinfo?access_token={token}"
        )))
        .json(&alice_body(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(
        verdict(&app.check(&token, &alice_body(&code)).await).1,
        "V_NM_ID_MA",
        "not processed"
    );
}

#[tokio::test]
async fn a_body_fault_answers_exactly_that_json() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let odd = json!({"errcode": 0, "errmsg": "ok", "verify_openid": "V_OP_NM_MA;V_OP_NA", "verify_real_name": "V_NEW"});
    post_fault(&app, json!({"endpoint": "checkrealnameinfo", "body": odd})).await;
    assert_eq!(app.check(&token, &alice_body(&code)).await, odd);
    assert_eq!(app.handle.stats().codes_consumed, 0, "not processed");
}

#[tokio::test]
async fn a_delay_fault_processes_the_call_so_a_client_that_times_out_has_spent_its_code() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    post_fault(
        &app,
        json!({"endpoint": "checkrealnameinfo", "delay_ms": 5000}),
    )
    .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    let err = impatient
        .post(&url)
        .json(&alice_body(&code))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    assert_eq!(app.handle.stats().codes_consumed, 1);
    assert_eq!(
        errcode(&app.check(&token, &alice_body(&code)).await),
        80113,
        "a blind retry burns the outcome"
    );
}

#[tokio::test]
async fn a_delay_combined_with_an_errcode_delays_an_unprocessed_answer() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    let fault = Fault::errcode(Endpoint::Checkrealnameinfo, -1).with_delay(Duration::from_secs(5));
    app.handle.state().add_fault(fault).unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    assert!(
        impatient
            .post(&url)
            .json(&alice_body(&code))
            .send()
            .await
            .unwrap_err()
            .is_timeout()
    );
    assert_eq!(
        verdict(&app.check(&token, &alice_body(&code)).await).1,
        "V_NM_ID_MA",
        "code kept"
    );
}

#[tokio::test]
async fn a_short_delay_still_answers_normally() {
    let app = TestSandbox::spawn().await;
    app.handle
        .state()
        .add_fault(Fault::delay(Endpoint::Token, Duration::from_millis(50)))
        .unwrap();
    assert!(app.classic_token(APPID, SECRET).await["access_token"].is_string());
}

#[tokio::test]
async fn a_drop_fault_processes_the_call_then_closes_the_connection_without_a_response() {
    let app = TestSandbox::spawn().await;
    let token = app.token().await;
    let code = app.consent(APPID, ALICE.openid);
    post_fault(&app, json!({"endpoint": "checkrealnameinfo", "drop": true})).await;
    let url = app.url(&format!(
        "/intp/realname/checkrealnameinfo?access_token={token}"
    ));
    let err = app
        .http
        .post(&url)
        .json(&alice_body(&code))
        .send()
        .await
        .unwrap_err();
    assert!(
        !err.is_timeout() && !err.is_status(),
        "a transport error, not a response: {err}"
    );

    assert_eq!(
        app.handle.stats().codes_consumed,
        1,
        "processed before the drop"
    );
    assert_eq!(app.handle.stats().outcome("V_NM_ID_MA"), 1);
    assert_eq!(errcode(&app.check(&token, &alice_body(&code)).await), 80113);
}

#[tokio::test]
async fn a_dropped_token_call_still_issued_and_rotated_the_token() {
    let app = TestSandbox::spawn().await;
    let before = app.token().await;
    app.handle
        .state()
        .add_fault(Fault::drop_connection(Endpoint::Token))
        .unwrap();
    let url = app.url(&format!(
        "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
    ));
    assert!(app.http.get(&url).send().await.is_err());
    assert_eq!(app.handle.stats().tokens_issued.token, 2);
    let (_, status) = app
        .admin(Method::GET, &format!("/sandbox/apps/{APPID}/tokens"), None)
        .await;
    assert_eq!(
        status["classic_valid"], 2,
        "the lost token plus the one in grace"
    );
    app.advance(301);
    let code = app.consent(APPID, ALICE.openid);
    assert_eq!(
        errcode(&app.check(&before, &alice_body(&code)).await),
        40001
    );
}

#[tokio::test]
async fn faults_queue_per_endpoint_in_order() {
    let app = TestSandbox::spawn().await;
    let s = app.handle.state();
    s.add_fault(Fault::errcode(Endpoint::Token, 40164)).unwrap();
    s.add_fault(Fault::errcode(Endpoint::Token, -1).times(2))
        .unwrap();
    s.add_fault(Fault::errcode(Endpoint::Jscode2session, 40226))
        .unwrap();
    let (_, listed) = app.admin(Method::GET, "/sandbox/faults", None).await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 3);

    let mut seen = vec![];
    for _ in 0..4 {
        seen.push(app.classic_token(APPID, SECRET).await["errcode"].as_i64());
    }
    assert_eq!(seen, [Some(40164), Some(-1), Some(-1), None]);
    assert_eq!(
        s.pending_faults(),
        vec![Fault::errcode(Endpoint::Jscode2session, 40226)]
    );
    let path = format!(
        "/sns/jscode2session?appid={APPID}&secret={SECRET}&js_code=x&grant_type=authorization_code"
    );
    assert_eq!(errcode(&app.get(&path).await), 40226);
}

#[tokio::test]
async fn delete_clears_every_queued_fault() {
    let app = TestSandbox::spawn().await;
    post_fault(
        &app,
        json!({"endpoint": "token", "times": 3, "errcode": -1}),
    )
    .await;
    post_fault(&app, json!({"endpoint": "stable_token", "malformed": true})).await;
    let (status, v) = app.admin(Method::DELETE, "/sandbox/faults", None).await;
    assert_eq!((status.as_u16(), v["cleared"].as_u64()), (200, Some(4)));
    assert!(app.classic_token(APPID, SECRET).await["access_token"].is_string());
    assert!(app.stable_token(APPID, SECRET, false).await["access_token"].is_string());
}

#[tokio::test]
async fn contradictory_or_out_of_range_faults_are_refused() {
    let app = TestSandbox::spawn().await;
    for bad in [
        json!({"endpoint": "token", "errcode": -1, "drop": true}),
        json!({"endpoint": "token", "http_status": 502, "malformed": true}),
        json!({"endpoint": "token", "times": 0, "errcode": -1}),
        json!({"endpoint": "token", "http_status": 99}),
        json!({"endpoint": "token", "errmsg": "no errcode"}),
        json!({"endpoint": "somewhere", "errcode": -1}),
        json!({"endpoint": "token", "errcode": -1, "typo": true}),
    ] {
        let (status, v) = post_fault(&app, bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(v["error"]["code"], "invalid_request");
    }
    assert!(app.handle.state().pending_faults().is_empty());
}

#[tokio::test]
async fn drop_under_a_foreign_server_still_fails_the_client() {
    // `router` served by plain axum (as a caller embedding it might): no connection to close, so the body
    // fails instead. The client must still see an error, not an answer.
    let state = sandbox::SandboxState::new(sandbox::SandboxConfig::default());
    state.add_app(APPID, SECRET, true).unwrap();
    state
        .add_fault(Fault::drop_connection(Endpoint::Token))
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, sandbox::router(state)).await });
    let url = format!(
        "http://{addr}/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
    );
    let outcome = match reqwest::get(&url).await {
        Ok(resp) => resp.text().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err());
    server.abort();
}

#[tokio::test]
async fn the_configured_upstream_delay_holds_every_wechat_answer_and_adds_to_a_fault_delay() {
    let app = TestSandbox::with(sandbox::SandboxConfig {
        upstream_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    let token = app.token().await;
    assert!(started.elapsed() >= Duration::from_millis(300), "token");

    let code = app.consent(APPID, ALICE.openid);
    app.handle
        .state()
        .add_fault(Fault::delay(
            Endpoint::Checkrealnameinfo,
            Duration::from_millis(200),
        ))
        .unwrap();
    let started = std::time::Instant::now();
    let v = app.check(&token, &alice_body(&code)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "both delays"
    );
    assert_eq!(verdict(&v).1, "V_NM_ID_MA", "still processed");
}
