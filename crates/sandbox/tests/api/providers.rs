//! The two paid providers at `POST /`: signatures refused as the real services refuse them, and every answer
//! of the authoritative record, driven over raw HTTP with the shared signers (not the client, so a request can
//! be broken on purpose).
use crate::helpers::TestSandbox;
use providers::sign::{acs3, sha256_hex, tc3};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

const TC_ID: &str = "AKIDsandboxtest0000000000000000000";
const TC_KEY: &str = "sandbox-tencent-secret-key-000000";
const ALI_ID: &str = "LTAIsandboxtest000000";
const ALI_SECRET: &str = "sandbox-aliyun-secret-000000000";

const ZHANG: (&str, &str) = ("张三", "110101199003070038");
const LI: (&str, &str) = ("李四", "110101198512120051");
/// Valid, but nobody registered it.
const NOBODY: (&str, &str) = ("王五", "110101200001010010");

async fn sandbox() -> TestSandbox {
    let t = TestSandbox::spawn().await;
    let (s, b) = t
        .admin(
            reqwest::Method::POST,
            "/sandbox/providers/tencent",
            Some(json!({"secret_id": TC_ID, "secret_key": TC_KEY})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(!b.to_string().contains(TC_KEY), "the secret is not echoed");
    let (s, b) = t
        .admin(
            reqwest::Method::POST,
            "/sandbox/providers/aliyun",
            Some(json!({"access_key_id": ALI_ID, "access_key_secret": ALI_SECRET})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for (name, cred_id) in [ZHANG, LI] {
        let (s, b) = t
            .admin(
                reqwest::Method::POST,
                "/sandbox/people",
                Some(json!({"name": name, "cred_id": cred_id})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(!b.to_string().contains(cred_id), "no raw ID in {b}");
    }
    t
}

fn host(t: &TestSandbox) -> String {
    t.handle.addr().to_string()
}

/// A TC3-signed `IdCardVerification` call; `tamper` may change the body after signing.
pub(crate) async fn tencent(
    t: &TestSandbox,
    secret_id: &str,
    secret_key: &str,
    timestamp: i64,
    body: &str,
    tamper: Option<&str>,
) -> Value {
    let host = host(t);
    let ct = "application/json; charset=utf-8";
    let headers = [("content-type", ct), ("host", host.as_str())];
    let sig = tc3::sign(
        &SecretString::from(secret_key.to_owned()),
        &tc3::Tc3Request {
            method: "POST",
            service: "faceid",
            timestamp,
            headers: &headers,
            payload: body.as_bytes(),
        },
    )
    .unwrap();
    let resp = t
        .http
        .post(t.url("/"))
        .header("content-type", ct)
        .header("X-TC-Action", "IdCardVerification")
        .header("X-TC-Version", "2018-03-01")
        .header("X-TC-Timestamp", timestamp.to_string())
        .header("Authorization", sig.authorization(secret_id))
        .body(tamper.unwrap_or(body).to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "Tencent answers HTTP 200");
    assert!(resp.headers().contains_key("date"));
    resp.json().await.unwrap()
}

pub(crate) fn now(t: &TestSandbox) -> i64 {
    t.handle.state().now().timestamp()
}

pub(crate) fn id_body(name: &str, cred_id: &str) -> String {
    json!({"IdCard": cred_id, "Name": name}).to_string()
}

pub(crate) fn result_of(v: &Value) -> &str {
    v["Response"]["Result"]
        .as_str()
        .unwrap_or_else(|| panic!("no Result in {v}"))
}

fn error_of(v: &Value) -> &str {
    assert!(v["Response"]["RequestId"].is_string(), "{v}");
    v["Response"]["Error"]["Code"]
        .as_str()
        .unwrap_or_else(|| panic!("no Error in {v}"))
}

#[tokio::test]
async fn tencent_answers_every_verdict_and_bills_only_0_and_minus_1() {
    let t = sandbox().await;
    let ts = now(&t);
    let cases = [
        (id_body(ZHANG.0, ZHANG.1), "0"),
        (id_body(LI.0, ZHANG.1), "-1"),
        (id_body(NOBODY.0, NOBODY.1), "-5"),
        (id_body(ZHANG.0, "110101199003070039"), "-2"),
        (id_body("张3", ZHANG.1), "-3"),
    ];
    for (body, want) in &cases {
        let v = tencent(&t, TC_ID, TC_KEY, ts, body, None).await;
        assert_eq!(result_of(&v), *want, "{v}");
        assert!(v["Response"]["Description"].is_string());
    }
    let stats = t.handle.stats();
    assert_eq!(stats.calls.tencent_idcard, 5);
    assert_eq!(stats.billed.tencent_idcard, 2);
    assert_eq!(stats.billed.aliyun_id2meta, 0);
    // The lowercase x of a check character is the same ID number.
    let v = tencent(
        &t,
        TC_ID,
        TC_KEY,
        ts,
        &id_body("孙七", "11010119881108007x"),
        None,
    )
    .await;
    assert_eq!(result_of(&v), "-5");
}

#[tokio::test]
async fn tencent_refuses_bad_signatures_unknown_ids_and_stale_timestamps() {
    let t = sandbox().await;
    let ts = now(&t);
    let body = id_body(ZHANG.0, ZHANG.1);
    let v = tencent(&t, TC_ID, "not-the-key", ts, &body, None).await;
    assert_eq!(error_of(&v), "AuthFailure.SignatureFailure");
    let v = tencent(&t, "AKIDunknown", TC_KEY, ts, &body, None).await;
    assert_eq!(error_of(&v), "AuthFailure.SecretIdNotFound");
    let v = tencent(&t, TC_ID, TC_KEY, ts - 301, &body, None).await;
    assert_eq!(error_of(&v), "AuthFailure.SignatureExpire");
    // The sandbox's clock runs on while the call travels: ahead by 301 s could be 300 s by the time it is
    // checked (seen on a loaded machine), so a margin of seconds.
    let v = tencent(&t, TC_ID, TC_KEY, ts + 330, &body, None).await;
    assert_eq!(error_of(&v), "AuthFailure.SignatureExpire");
    // Within the window is fine.
    let v = tencent(&t, TC_ID, TC_KEY, ts - 290, &body, None).await;
    assert_eq!(result_of(&v), "0");
    // A body changed after signing (another person's ID number) is caught.
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, Some(&id_body(LI.0, LI.1))).await;
    assert_eq!(error_of(&v), "AuthFailure.SignatureFailure");
    // The sandbox clock moved 10 minutes on: a timestamp from our clock is now stale.
    t.advance(600);
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, None).await;
    assert_eq!(error_of(&v), "AuthFailure.SignatureExpire");
    // No Authorization at all.
    let resp = t
        .http
        .post(t.url("/"))
        .header("X-TC-Action", "IdCardVerification")
        .header("X-TC-Version", "2018-03-01")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(error_of(&v), "AuthFailure.InvalidAuthorization");
    let stats = t.handle.stats();
    assert_eq!(
        stats.billed.tencent_idcard, 1,
        "only the good call is billed"
    );
}

/// An ACS3-signed `Id2MetaVerify` call: `(status, body)`.
pub(crate) async fn aliyun(
    t: &TestSandbox,
    key_id: &str,
    secret: &str,
    date: &str,
    nonce: &str,
    params: &[(&str, &str)],
    tamper: Option<&str>,
) -> (StatusCode, Value) {
    let host = host(t);
    let body = acs3::canonical_query(params);
    let hash = sha256_hex(body.as_bytes());
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-acs-action", "Id2MetaVerify"),
        ("x-acs-version", "2019-03-07"),
        ("x-acs-date", date),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", hash.as_str()),
    ];
    let sig = acs3::sign(
        &SecretString::from(secret.to_owned()),
        &acs3::Acs3Request {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers,
            payload: body.as_bytes(),
        },
    );
    let mut req = t
        .http
        .post(t.url("/"))
        .header("Authorization", sig.authorization(key_id));
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k, v);
        }
    }
    let resp = req
        .body(tamper.map_or(body.clone(), str::to_owned))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}

pub(crate) fn acs_now(t: &TestSandbox) -> String {
    t.handle
        .state()
        .now()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn id2meta(name: &str, cred_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ParamType", "normal".to_owned()),
        ("IdentifyNum", cred_id.to_owned()),
        ("UserName", name.to_owned()),
    ]
}

fn refs<'a>(p: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    p.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn aliyun_answers_every_verdict_and_bills_only_bizcode_1_and_2() {
    let t = sandbox().await;
    let date = acs_now(&t);
    let cases = [
        (id2meta(ZHANG.0, ZHANG.1), "200", Some("1")),
        (id2meta(LI.0, ZHANG.1), "200", Some("2")),
        (id2meta(NOBODY.0, NOBODY.1), "200", Some("3")),
        (id2meta(ZHANG.0, "110101199003070039"), "401", None),
        (id2meta("张3", ZHANG.1), "401", None),
        (
            vec![
                ("ParamType", "md5".to_owned()),
                ("IdentifyNum", ZHANG.1.to_owned()),
                ("UserName", ZHANG.0.to_owned()),
            ],
            "401",
            None,
        ),
        (vec![("ParamType", "normal".to_owned())], "400", None),
    ];
    for (i, (params, code, biz)) in cases.iter().enumerate() {
        let nonce = format!("nonce-{i}");
        let (status, v) = aliyun(&t, ALI_ID, ALI_SECRET, &date, &nonce, &refs(params), None).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["Code"], *code, "{v}");
        assert_eq!(v["ResultObject"]["BizCode"].as_str(), *biz, "{v}");
    }
    let stats = t.handle.stats();
    assert_eq!(stats.calls.aliyun_id2meta, 7);
    assert_eq!(stats.billed.aliyun_id2meta, 2);
}

#[tokio::test]
async fn aliyun_refuses_bad_signatures_with_a_4xx_and_no_result() {
    let t = sandbox().await;
    let date = acs_now(&t);
    let p = id2meta(ZHANG.0, ZHANG.1);
    let p = refs(&p);
    let refused = |status: StatusCode, v: &Value, code: &str| {
        assert!(status.is_client_error(), "{status} {v}");
        assert_eq!(v["Code"], code, "{v}");
        assert!(v.get("ResultObject").is_none(), "{v}");
    };
    let (s, v) = aliyun(&t, ALI_ID, "wrong-secret", &date, "n1", &p, None).await;
    refused(s, &v, "SignatureDoesNotMatch");
    let (s, v) = aliyun(&t, "LTAIunknown", ALI_SECRET, &date, "n2", &p, None).await;
    refused(s, &v, "InvalidAccessKeyId.NotFound");
    let tampered = acs3::canonical_query(&[
        ("IdentifyNum", LI.1),
        ("ParamType", "normal"),
        ("UserName", LI.0),
    ]);
    let (s, v) = aliyun(&t, ALI_ID, ALI_SECRET, &date, "n3", &p, Some(&tampered)).await;
    refused(s, &v, "SignatureDoesNotMatch");
    let stale = (t.handle.state().now() - chrono::Duration::seconds(901))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (s, v) = aliyun(&t, ALI_ID, ALI_SECRET, &stale, "n4", &p, None).await;
    refused(s, &v, "InvalidTimeStamp.Expired");
    let (s, v) = aliyun(&t, ALI_ID, ALI_SECRET, &date, "n5", &p, None).await;
    assert_eq!(
        (s, v["ResultObject"]["BizCode"].as_str()),
        (StatusCode::OK, Some("1"))
    );
    // The same nonce again is a replay.
    let (s, v) = aliyun(&t, ALI_ID, ALI_SECRET, &date, "n5", &p, None).await;
    refused(s, &v, "SignatureNonceUsed");
    assert_eq!(t.handle.stats().billed.aliyun_id2meta, 1);
}

#[tokio::test]
async fn faults_force_provider_answers_and_post_slash_without_an_action_is_404() {
    let t = sandbox().await;
    for (endpoint, result) in [
        ("tencent_idcard", "-4"),
        ("tencent_idcard", "InternalError"),
        ("tencent_idcard", "0"),
        ("aliyun_id2meta", "402"),
    ] {
        let (s, b) = t
            .admin(
                reqwest::Method::POST,
                "/sandbox/faults",
                Some(json!({"endpoint": endpoint, "result": result})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let ts = now(&t);
    let body = id_body(NOBODY.0, NOBODY.1);
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, None).await;
    assert_eq!(result_of(&v), "-4");
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, None).await;
    assert_eq!(error_of(&v), "InternalError");
    // A forced "0" is billed like a real one; the record (no record here) is not consulted.
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, None).await;
    assert_eq!(result_of(&v), "0");
    let v = tencent(&t, TC_ID, TC_KEY, ts, &body, None).await;
    assert_eq!(result_of(&v), "-5", "the faults are used up");
    let p = id2meta(ZHANG.0, ZHANG.1);
    let (s, v) = aliyun(&t, ALI_ID, ALI_SECRET, &acs_now(&t), "f1", &refs(&p), None).await;
    assert_eq!((s, v["Code"].as_str()), (StatusCode::OK, Some("402")));
    let (s, stats) = t.admin(reqwest::Method::GET, "/sandbox/stats", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["calls"]["tencent_idcard"], 4);
    assert_eq!(stats["calls"]["aliyun_id2meta"], 1);
    assert_eq!(
        stats["billed"],
        json!({"tencent_idcard": 1, "aliyun_id2meta": 0})
    );
    // WeChat-only fault fields do not apply to providers, nor `result` to WeChat.
    for bad in [
        json!({"endpoint": "tencent_idcard", "errcode": -1}),
        json!({"endpoint": "checkrealnameinfo", "result": "-4"}),
        json!({"endpoint": "aliyun_id2meta", "result": "402", "drop": true}),
    ] {
        let (s, _) = t
            .admin(reqwest::Method::POST, "/sandbox/faults", Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
    let resp = t.http.post(t.url("/")).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn people_and_credentials_are_validated_and_never_echoed() {
    let t = sandbox().await;
    for bad in [
        json!({"name": "张三", "cred_id": "110101199003070039"}),
        json!({"name": "", "cred_id": ZHANG.1}),
        json!({"name": "张三"}),
    ] {
        let (s, b) = t
            .admin(reqwest::Method::POST, "/sandbox/people", Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!b.to_string().contains("110101199003070039"), "{b}");
    }
    for (path, bad) in [
        (
            "/sandbox/providers/tencent",
            json!({"secret_id": "", "secret_key": "k"}),
        ),
        (
            "/sandbox/providers/aliyun",
            json!({"access_key_id": "a", "access_key_secret": ""}),
        ),
    ] {
        let (s, _) = t.admin(reqwest::Method::POST, path, Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}");
    }
    // Re-registering an ID number under another name replaces the record.
    let (s, _) = t
        .admin(
            reqwest::Method::POST,
            "/sandbox/people",
            Some(json!({"name": LI.0, "cred_id": ZHANG.1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let v = tencent(&t, TC_ID, TC_KEY, now(&t), &id_body(ZHANG.0, ZHANG.1), None).await;
    assert_eq!(result_of(&v), "-1");
}
