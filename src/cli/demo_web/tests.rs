//! The demo back end over real HTTP, with a real sandbox and gateway on port 0: live validation, the jump, the
//! return and the call to the gateway; and the second tab's ID check through the paid providers (the sandbox
//! again), configured as `wxrealname demo` configures them.
use super::{DemoWeb, DemoWebHandle, Settings};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use sandbox::demo::{APPID, PROVIDER_CASES, USERS};
use serde_json::{Value, json};

struct Demo {
    web: DemoWebHandle,
    gateway_url: String,
    sandbox: sandbox::SandboxHandle,
    key: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Demo {
    async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = sandbox::Sandbox::spawn(
            listener,
            sandbox::SandboxConfig {
                seed_demo: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cfg = gateway::Config {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            upstream_base_url: sandbox.base_url(),
            blind_index: gateway::config::BlindIndex {
                key: Some("42".repeat(32).into()),
                ..gateway::Config::default().blind_index
            },
            apps: vec![gateway::config::App {
                appid: APPID.into(),
                secret: Some(sandbox::demo::SECRET.to_owned().into()),
                secret_env: None,
                token_kind: None,
            }],
            // The demo's own provider set-up: both providers at the sandbox, their secrets set in code.
            providers: crate::cli::demo::demo_providers(&sandbox.base_url()),
            idcheck: gateway::config::Idcheck {
                providers: vec![
                    crate::cli::demo::TENCENT.into(),
                    crate::cli::demo::ALIYUN.into(),
                ],
                ..gateway::Config::default().idcheck
            },
            ..gateway::Config::default()
        };
        let app = gateway::Application::build(cfg).await.unwrap();
        let gateway_url = format!("http://{}", app.local_addr());
        let (_, key) = crate::cli::keys::create(
            app.state().store.as_ref(),
            vec![APPID.into()],
            vec![crate::cli::demo::IDCHECK_SCOPE.into()],
            "demo-test".into(),
        )
        .await
        .unwrap();
        tokio::spawn(async move {
            let _ = app.run_with_shutdown(std::future::pending()).await;
        });
        let web = DemoWeb::spawn(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Settings {
                gateway_url: gateway_url.clone(),
                sandbox_url: sandbox.base_url(),
                api_key: key.clone().into(),
                appid: APPID.into(),
            },
        )
        .await
        .unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Demo {
            web,
            gateway_url,
            sandbox,
            key,
            http,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.web.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    async fn validate(&self, field: &str, value: &str) -> Value {
        let (status, v) = self
            .post("/api/validate", json!({"field": field, "value": value}))
            .await;
        assert_eq!(status, StatusCode::OK);
        v
    }

    /// `/api/start` for demo user `i` with its own values: the consent URL.
    async fn start(&self, i: usize) -> String {
        let u = &USERS[i];
        let (status, v) = self
            .post(
                "/api/start",
                json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["consent_url"].as_str().unwrap().to_owned()
    }

    /// Press a button on the sandbox's consent page: the URL the browser is sent back to.
    async fn consent(&self, consent_url: &str, action: &str) -> reqwest::Url {
        let url = reqwest::Url::parse(consent_url).unwrap();
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("action".into(), action.into()));
        let resp = self
            .http
            .post(format!("{}/consent", self.sandbox.base_url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        reqwest::Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap()
    }

    fn checks(&self) -> u64 {
        self.sandbox.stats().calls.checkrealnameinfo
    }

    /// `/api/idcheck` for a pair, with the consent box ticked or not.
    async fn idcheck(&self, name: &str, cred_id: &str, consent: bool) -> (StatusCode, Value) {
        self.post(
            "/api/idcheck",
            json!({"real_name": name, "cred_id": cred_id, "purpose": "门诊挂号 · outpatient registration", "consent": consent}),
        )
        .await
    }

    /// Calls that reached each provider: (Tencent, Aliyun).
    fn provider_calls(&self) -> (u64, u64) {
        let c = self.sandbox.stats().calls;
        (c.tencent_idcard, c.aliyun_id2meta)
    }
}

fn param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn validation_answers_with_the_identity_crates_codes_in_both_languages() {
    let d = Demo::spawn().await;
    let ok = d.validate("cred_id", USERS[0].submit_cred_id).await;
    assert_eq!(
        ok,
        json!({"field": "cred_id", "valid": true, "minor": false})
    );
    let minor = d.validate("cred_id", USERS[1].submit_cred_id).await;
    assert_eq!(minor["minor"], true);

    let bad = d.validate("cred_id", "110101199003070039").await;
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["error"]["code"], "invalid_cred_id");
    assert_eq!(bad["error"]["reason"], "checksum");
    assert_eq!(
        bad["error"]["message_zh"],
        identity::CredIdError::Checksum.message_zh()
    );
    assert_eq!(
        bad["error"]["message"],
        identity::CredIdError::Checksum.to_string()
    );
    assert_eq!(
        d.validate("cred_id", "1101").await["error"]["reason"],
        "length"
    );

    assert_eq!(d.validate("real_name", "张三").await["valid"], true);
    let name = d.validate("real_name", "Zhang San").await;
    assert_eq!(name["error"]["code"], "invalid_real_name");
    assert_eq!(name["error"]["reason"], "charset");

    let (status, v) = d
        .post("/api/validate", json!({"field": "age", "value": "1"}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_bad_id_number_never_reaches_the_consent_page_or_the_gateway() {
    let d = Demo::spawn().await;
    let u = &USERS[0];
    let (status, v) = d
        .post(
            "/api/start",
            json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": "110101199003070039"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v.get("consent_url").is_none());
    assert_eq!(v["fields"][0]["field"], "cred_id");
    assert_eq!(v["fields"][0]["error"]["reason"], "checksum");
    assert_eq!(d.sandbox.stats().codes_issued, 0);
    assert_eq!(d.checks(), 0);
}

#[tokio::test]
async fn agree_then_the_back_end_verifies_through_the_gateway() {
    let d = Demo::spawn().await;
    let consent_url = d.start(0).await;
    assert!(consent_url.starts_with(&format!("{}/consent?", d.sandbox.base_url())));
    // The values stay on the server: the URL carries an opaque state.
    assert!(!consent_url.contains(USERS[0].submit_cred_id));
    assert!(!consent_url.contains("%E5%BC%A0"), "no name, even encoded");
    let back = d.consent(&consent_url, "agree").await;
    assert_eq!(
        back.as_str().split('?').next().unwrap(),
        format!("{}/return", d.web.url())
    );
    let state = param(&back, "state").unwrap();
    let code = param(&back, "code").unwrap();

    let (status, v) = d
        .post("/api/verify", json!({"state": state, "code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true);
    assert_eq!(v["body"]["outcome"], "match");
    assert_eq!(v["body"]["masked_real_name"], "张*");
    assert_eq!(v["body"]["masked_cred_id"], "110***********0038");
    assert_eq!(d.checks(), 1);

    // The state is used once: a replayed return does not call the gateway again.
    let (status, v) = d
        .post("/api/verify", json!({"state": state, "code": code}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_state"))
    );
    assert_eq!(d.checks(), 1);
}

#[tokio::test]
async fn gateway_errors_come_back_with_their_code() {
    let d = Demo::spawn().await;
    let back = d.consent(&d.start(4).await, "agree").await;
    let state = param(&back, "state").unwrap();
    let (status, v) = d
        .post(
            "/api/verify",
            json!({"state": state, "code": "not-the-code"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], false);
    assert_eq!(v["status"], 422);
    assert_eq!(v["body"]["error"]["code"], "invalid_code");
    assert_eq!(v["body"]["error"]["errcode"], 80113);
}

#[tokio::test]
async fn a_declined_return_is_forgotten_without_calling_the_gateway() {
    let d = Demo::spawn().await;
    let back = d.consent(&d.start(0).await, "decline").await;
    assert_eq!(param(&back, "reason").as_deref(), Some("declined"));
    assert_eq!(param(&back, "code"), None);
    let state = param(&back, "state").unwrap();
    let (_, v) = d.post("/api/abandon", json!({"state": state})).await;
    assert_eq!(v["forgotten"], true);
    let (status, _) = d
        .post("/api/verify", json!({"state": state, "code": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(d.checks(), 0);
}

#[tokio::test]
async fn the_page_is_served_and_the_api_key_never_reaches_the_browser() {
    let d = Demo::spawn().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/return?code=x&state=y", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/api/users", "application/json"),
    ] {
        let resp = d
            .http
            .get(format!("{}{path}", d.web.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains(&d.key), "{path} leaks the API key");
        assert!(!text.contains("wxrn_"), "{path} leaks an API key");
    }
    let users: Value = d
        .http
        .get(format!("{}/api/users", d.web.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), USERS.len());
    assert_eq!(users["appid"], APPID);
}

fn case(outcome: &str) -> &'static sandbox::demo::ProviderCase {
    PROVIDER_CASES
        .iter()
        .find(|c| c.outcome == outcome)
        .unwrap()
}

#[tokio::test]
async fn an_idcheck_goes_to_tencent_with_a_fresh_consent_ref_and_the_same_pair_again_is_cached() {
    let d = Demo::spawn().await;
    let c = case("match");
    let (status, v) = d.idcheck(c.submit_name, c.submit_cred_id, true).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    let body = &v["body"];
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["provider"], "tencent", "the first provider answers");
    assert_eq!(
        (&body["billed"], &body["cached"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(body["masked_real_name"], "张*");
    assert_eq!(body["masked_cred_id"], "110***********0038");
    assert_eq!(body["purpose"], "门诊挂号 · outpatient registration");
    let first_ref = body["consent_ref"].as_str().unwrap().to_owned();
    assert!(first_ref.starts_with("demo-consent-"), "{first_ref}");
    assert_eq!(d.provider_calls(), (1, 0));
    assert_eq!(d.sandbox.stats().billed.tencent_idcard, 1);

    let (_, again) = d.idcheck(c.submit_name, c.submit_cred_id, true).await;
    let body = &again["body"];
    assert_eq!(body["outcome"], "match", "{again}");
    assert_eq!(
        (&body["cached"], &body["billed"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(
        body["provider"], "tencent",
        "the provider that answered first"
    );
    assert_ne!(
        body["consent_ref"],
        first_ref.as_str(),
        "each check has its own consent"
    );
    assert_eq!(d.provider_calls(), (1, 0), "the cache answered");

    // The check is the gateway's: it can be read back there with the same key.
    let id = body["id"].as_str().unwrap();
    let read = d
        .http
        .get(format!("{}/v1/idchecks/{id}", d.gateway_url))
        .bearer_auth(&d.key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_mismatch_and_no_record_come_back_as_such() {
    let d = Demo::spawn().await;
    for outcome in ["mismatch", "no_record"] {
        let c = case(outcome);
        let (status, v) = d.idcheck(c.submit_name, c.submit_cred_id, true).await;
        assert_eq!((status, &v["ok"]), (StatusCode::OK, &json!(true)), "{v}");
        assert_eq!(v["body"]["outcome"], outcome, "{v}");
        assert_eq!(v["body"]["provider"], "tencent");
        assert_eq!(v["body"]["billed"], outcome == "mismatch", "{v}");
        assert!(
            v["body"]["masked_real_name"]
                .as_str()
                .unwrap()
                .contains('*')
        );
    }
    assert_eq!(d.provider_calls(), (2, 0));
}

#[tokio::test]
async fn without_consent_or_with_a_bad_id_number_no_provider_is_asked() {
    let d = Demo::spawn().await;
    let c = case("match");
    let (status, v) = d.idcheck(c.submit_name, c.submit_cred_id, false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], "consent_required");
    assert_eq!(
        v["error"]["user_message"],
        i18n::demo::CONSENT_NOT_GIVEN.user_message.zh
    );

    let (status, v) = d.idcheck(c.submit_name, "110101199003070039", true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], "invalid_fields");
    assert_eq!(v["fields"][0]["field"], "cred_id");
    assert_eq!(v["fields"][0]["error"]["reason"], "checksum");
    assert_eq!(d.provider_calls(), (0, 0));
}

#[tokio::test]
async fn tencent_failing_goes_to_aliyun_and_both_failing_shows_the_gateways_user_message() {
    let d = Demo::spawn().await;
    let fault = |body: Value| {
        let http = d.http.clone();
        let url = format!("{}/sandbox/faults", d.sandbox.base_url());
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
        }
    };
    // Tencent's "the record service is down" (-4) fails over to Aliyun.
    fault(json!({"endpoint": "tencent_idcard", "result": "-4"})).await;
    let c = case("match");
    let (_, v) = d.idcheck(c.submit_name, c.submit_cred_id, true).await;
    assert_eq!(v["body"]["outcome"], "match", "{v}");
    assert_eq!(v["body"]["provider"], "aliyun");
    assert_eq!(d.provider_calls(), (1, 1));

    // Both down: the gateway's error, with the sentence meant for the user.
    fault(json!({"endpoint": "tencent_idcard", "result": "-4"})).await;
    fault(json!({"endpoint": "aliyun_id2meta", "result": "500"})).await;
    let c = case("no_record");
    let (status, v) = d.idcheck(c.submit_name, c.submit_cred_id, true).await;
    assert_eq!(status, StatusCode::OK, "the demo's call went through: {v}");
    assert_eq!(
        (&v["ok"], &v["status"]),
        (&json!(false), &json!(503)),
        "{v}"
    );
    assert_eq!(v["body"]["error"]["code"], "upstream_unavailable");
    let user = v["body"]["error"]["user_message"].as_str().unwrap();
    assert!(
        user.chars()
            .any(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch)),
        "{user}"
    );
}

#[tokio::test]
async fn the_idcheck_tab_is_served_with_its_examples() {
    let d = Demo::spawn().await;
    let resp = d
        .http
        .get(format!("{}/idcheck", d.web.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains("无需微信的身份核验") && html.contains("ID check without WeChat"));
    assert!(!html.contains("<script>"), "no inline script");

    let v: Value = d
        .http
        .get(format!("{}/api/idcheck/examples", d.web.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outcomes: Vec<&str> = v["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    for o in ["match", "mismatch", "no_record"] {
        assert!(outcomes.contains(&o), "{o}: {v}");
    }
    assert!(!v.to_string().contains(&d.key));
}
