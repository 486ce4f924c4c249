//! A sandbox on port 0 per test, a reqwest client, and the fixtures the tests share.
use chrono::Timelike;
use reqwest::StatusCode;
use sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use serde_json::{Value, json};
use std::time::Duration;

pub const APPID: &str = "wxtest0000000000a1";
pub const SECRET: &str = "test-secret-a1";
/// A second app with the permission, to prove codes and tokens do not cross apps.
pub const OTHER_APPID: &str = "wxtest0000000000b2";
pub const OTHER_SECRET: &str = "test-secret-b2";

pub struct Person {
    pub openid: &'static str,
    pub name: &'static str,
    pub cred_id: &'static str,
}

/// Verified users of `APPID` (and of `OTHER_APPID`, same openids).
pub const ALICE: Person = Person {
    openid: "o-alice",
    name: "张三",
    cred_id: "110101199003070038",
};
pub const BOB: Person = Person {
    openid: "o-bob",
    name: "李四",
    cred_id: "110101198512120051",
};
/// A user of `APPID` with no WeChat Pay real-name record.
pub const CAROL_UNVERIFIED: &str = "o-carol";

pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub http: reqwest::Client,
}

impl TestSandbox {
    /// An empty sandbox (no demo data) holding the fixture apps and users.
    pub async fn spawn() -> Self {
        Self::with(SandboxConfig::default()).await
    }

    pub async fn with(cfg: SandboxConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = Sandbox::spawn(listener, cfg).await.unwrap();
        let s = handle.state();
        if !s.config().seed_demo {
            s.add_app(APPID, SECRET, true).unwrap();
            s.add_app(OTHER_APPID, OTHER_SECRET, true).unwrap();
            for app in [APPID, OTHER_APPID] {
                for p in [&ALICE, &BOB] {
                    s.add_user(app, p.openid, Some(p.name), Some(p.cred_id))
                        .unwrap();
                }
            }
            s.add_user(APPID, CAROL_UNVERIFIED, None, None).unwrap();
        }
        Self {
            handle,
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url())
    }

    pub fn advance(&self, secs: u64) {
        self.handle.advance(Duration::from_secs(secs));
    }

    /// Move the sandbox clock just past the next midnight in Asia/Shanghai.
    pub fn advance_to_next_day(&self) {
        let local = self
            .handle
            .state()
            .now()
            .with_timezone(&identity::china_offset());
        let into_day = u64::from(local.num_seconds_from_midnight());
        self.advance(24 * 3600 - into_day + 1);
    }

    pub async fn get(&self, path: &str) -> Value {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "WeChat answers errors with HTTP 200"
        );
        resp.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "WeChat answers errors with HTTP 200"
        );
        resp.json().await.unwrap()
    }

    /// An admin call: `(status, body)`.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json().await.unwrap())
    }

    pub async fn classic_token(&self, appid: &str, secret: &str) -> Value {
        self.get(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}"
        ))
        .await
    }

    pub async fn stable_token(&self, appid: &str, secret: &str, force_refresh: bool) -> Value {
        let body = json!({"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force_refresh});
        self.post("/cgi-bin/stable_token", &body).await
    }

    /// A fresh classic token of `APPID`.
    pub async fn token(&self) -> String {
        let v = self.classic_token(APPID, SECRET).await;
        v["access_token"].as_str().expect("a token").to_owned()
    }

    pub fn consent(&self, appid: &str, openid: &str) -> String {
        self.handle.state().consent(appid, openid).unwrap()
    }

    pub async fn check(&self, token: &str, body: &Value) -> Value {
        self.post(
            &format!("/intp/realname/checkrealnameinfo?access_token={token}"),
            body,
        )
        .await
    }

    /// Consent, then check `person`'s own name and ID number with a fresh token.
    pub async fn check_person(&self, openid: &str, name: &str, cred_id: &str) -> Value {
        let token = self.token().await;
        let code = self.consent(APPID, openid);
        self.check(&token, &check_body(openid, name, cred_id, &code))
            .await
    }
}

pub fn check_body(openid: &str, name: &str, cred_id: &str, code: &str) -> Value {
    json!({"openid": openid, "real_name": name, "cred_id": cred_id, "cred_type": "1", "code": code})
}

pub fn errcode(v: &Value) -> i64 {
    v["errcode"]
        .as_i64()
        .unwrap_or_else(|| panic!("no errcode in {v}"))
}

pub fn verdict(v: &Value) -> (&str, &str) {
    assert_eq!(errcode(v), 0, "{v}");
    (
        v["verify_openid"].as_str().unwrap(),
        v["verify_real_name"].as_str().unwrap(),
    )
}

/// ISO 7064 MOD 11-2 check character of the first 17 digits (GB 11643-1999).
pub fn check_char(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

#[test]
fn check_char_matches_published_examples() {
    // The worked example of GB 11643-1999.
    assert_eq!(check_char("11010519491231002"), 'X');
    assert_eq!(check_char("44052418800101001"), '4');
}
