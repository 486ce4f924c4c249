//! The admin console: the page, and its JSON behind the admin token.

use crate::helpers::*;
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token";

async fn admin_get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const API: [&str; 3] = [
    "/admin/api/verifications",
    "/admin/api/overview",
    "/admin/api/tokens",
];

#[tokio::test]
async fn the_page_loads_without_a_token_and_runs_only_its_own_script() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/admin", "text/html"),
        ("/admin/admin.js", "text/javascript"),
        ("/admin/admin.css", "text/css"),
    ] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
    }
    let html = app
        .http
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"<script src="/admin/admin.js""#));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
}

#[tokio::test]
async fn the_json_needs_the_admin_token() {
    let app = TestApp::spawn().await;
    let api_key = app.key.clone();
    for path in API {
        for token in [None, Some("wrong"), Some(api_key.as_str())] {
            let (status, body) = admin_get(&app, path, token).await;
            assert_eq!(status, 401, "{path} with {token:?}");
            assert_eq!(error_code(&body), "unauthorized");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("admin token"), "{path}: {body}");
        }
        let (status, _) = admin_get(&app, path, Some(ADMIN)).await;
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn without_a_configured_admin_token_nothing_gets_in() {
    let app = TestApp::builder()
        .config(|c| c.admin_token = None)
        .spawn()
        .await;
    for path in API {
        let (status, _) = admin_get(&app, path, Some(ADMIN)).await;
        assert_eq!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn the_console_shows_outcomes_errcodes_rate_limits_and_tokens() {
    let app = TestApp::builder()
        .config(|c| c.limits.per_openid_per_day = 1)
        .spawn()
        .await;
    // One match, one name mismatch, one rate-limited retry of the matched user, one code WeChat refuses.
    assert_eq!(app.verify(&app.body_for(0)).await.0, 200);
    assert_eq!(app.verify(&app.body_for(4)).await.0, 200);
    assert_eq!(app.verify(&app.body_for(0)).await.0, 429);
    let u = &USERS[3];
    let bad = json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id, "code": "not-a-real-code"});
    assert_eq!(app.verify(&bad).await.0, 422);

    let (status, list) = admin_get(&app, "/admin/api/verifications?limit=10", Some(ADMIN)).await;
    assert_eq!(status, 200);
    let rows = list["verifications"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["error_code"], "invalid_code", "newest first");
    assert_eq!(rows[0]["errcode"], 80113);
    assert_eq!(rows[3]["outcome"], "match");
    assert_eq!(rows[3]["masked_real_name"], "张*");
    let text = list.to_string();
    for u in USERS {
        assert!(
            !text.contains(u.submit_cred_id),
            "raw ID number in the console"
        );
        assert!(!text.contains(u.submit_name), "raw name in the console");
    }

    let (status, o) = admin_get(&app, "/admin/api/overview?window=hour", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(o["rows"], 4);
    assert_eq!(o["bucket"], "minute");
    assert_eq!(o["buckets"].as_array().unwrap().len(), 60);
    assert_eq!(o["totals"]["match"], 1);
    assert_eq!(o["totals"]["name_mismatch"], 1);
    assert_eq!(o["totals"]["error"], 2);
    assert_eq!(o["errors"]["rate_limited"], 1);
    assert_eq!(o["rate_limited"]["count"], 1);
    assert_eq!(o["rate_limited"]["recent"][0]["openid"], USERS[0].openid);
    let summed: u64 = o["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["counts"].as_object().unwrap().values())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(summed, 4, "every row is in one bucket");
    assert_eq!(
        o["wechat"]["calls"], 3,
        "the rate-limited request never reached WeChat"
    );
    let codes = o["wechat"]["errcodes"].as_array().unwrap();
    let of = |c: i64| codes.iter().find(|e| e["errcode"] == c).unwrap()["count"].clone();
    assert_eq!(of(0), 2);
    assert_eq!(of(80113), 1);

    let (_, day) = admin_get(&app, "/admin/api/overview?window=day", Some(ADMIN)).await;
    assert_eq!(day["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(day["rows"], 4);
    let (status, body) = admin_get(&app, "/admin/api/overview?window=week", Some(ADMIN)).await;
    assert_eq!((status, error_code(&body)), (400, "invalid_request"));

    let (_, t) = admin_get(&app, "/admin/api/tokens", Some(ADMIN)).await;
    let apps = t["apps"].as_array().unwrap();
    let demo = apps.iter().find(|a| a["appid"] == APPID).unwrap();
    assert_eq!(demo["cached"], true);
    assert!(demo["fetches"].as_u64().unwrap() >= 1);
    assert!(demo["age_secs"].as_i64().unwrap() >= 0);
    assert!(demo["refresh_in_secs"].as_i64().unwrap() > 0);
    let idle = apps
        .iter()
        .find(|a| a["appid"] == NO_PERMISSION_APPID)
        .unwrap();
    assert_eq!(idle["cached"], false);
    assert_eq!(idle["fetches"], 0);
    assert!(!t.to_string().contains("access_token"));
}

#[tokio::test]
async fn list_limits_are_checked() {
    let app = TestApp::spawn().await;
    for bad in ["0", "501", "x"] {
        let (status, body) = admin_get(
            &app,
            &format!("/admin/api/verifications?limit={bad}"),
            Some(ADMIN),
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (400, "invalid_request"),
            "{bad}"
        );
    }
}

/// The console's sentences (admin.js's `TEXT`, `[English, Chinese]`) all have their Chinese, and its times name
/// their zone, Asia/Shanghai unless the reader picks another. (e2e/ drives the switch in a browser.)
#[tokio::test]
async fn the_console_is_bilingual_and_shows_times_in_asia_shanghai_by_default() {
    let app = TestApp::spawn().await;
    let get = |path: &'static str| {
        let req = app.http.get(app.url(path));
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let js = get("/admin/admin.js").await;
    assert!(js.contains("const DEFAULT_TZ = 'Asia/Shanghai';"));
    let table = js
        .split("const TEXT = {")
        .nth(1)
        .and_then(|rest| rest.split("\n  };").next())
        .expect("admin.js has its TEXT table");
    let mut pairs = 0;
    for line in table.lines().map(str::trim) {
        // `key: ['English', 'Chinese'],` on one line (the login help, made of pieces, is on several).
        let Some((key, rest)) = line.split_once(": [") else {
            continue;
        };
        let texts: Vec<&str> = rest.split('\'').skip(1).step_by(2).collect();
        let [en, zh] = texts[..] else {
            continue;
        };
        pairs += 1;
        let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        assert!(han(zh), "{key}: no Chinese: {zh}");
        assert!(!han(en), "{key}: the English holds Chinese: {en}");
    }
    assert!(pairs > 50, "{pairs}");
    let html = get("/admin").await;
    assert!(html.contains(r#"<option value="Asia/Shanghai">"#), "{html}");
    assert!(html.contains(r#"data-lang="en""#) && html.contains(r#"data-lang="zh""#));
}
