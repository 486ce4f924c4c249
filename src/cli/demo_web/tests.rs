//! The demo back end over real HTTP, with a real sandbox and gateway on port 0: live validation, the jump, the
//! return and the call to the gateway.
use super::{DemoWeb, DemoWebHandle, Settings};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use sandbox::demo::{APPID, USERS};
use serde_json::{Value, json};

struct Demo {
    web: DemoWebHandle,
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
            ..gateway::Config::default()
        };
        let app = gateway::Application::build(cfg).await.unwrap();
        let gateway_url = format!("http://{}", app.local_addr());
        let (_, key) = crate::cli::keys::create(
            app.state().store.as_ref(),
            vec![APPID.into()],
            Vec::new(),
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
                gateway_url,
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
