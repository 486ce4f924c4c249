//! The browser consent page (`/consent`) over HTTP: render, agree, decline, cancel, refusals, escaping.
use crate::helpers::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};

const RETURN: &str = "http://127.0.0.1:1/return";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn page_query(
    appid: &str,
    openid: &str,
    return_url: &str,
    state: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("appid", appid.to_owned()),
        ("openid", openid.to_owned()),
        ("return_url", return_url.to_owned()),
        ("state", state.to_owned()),
    ]
}

/// Submit the page's form with `action`; `(status, Location)`.
async fn decide(
    app: &TestSandbox,
    openid: &str,
    action: &str,
    state: &str,
) -> (StatusCode, Option<String>) {
    let mut form = page_query(APPID, openid, RETURN, state);
    form.push(("action", action.to_owned()));
    let resp = no_redirects()
        .post(app.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status(), location)
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn param(location: &str, name: &str) -> Option<String> {
    query_of(location)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[tokio::test]
async fn the_page_names_the_app_the_user_and_what_is_checked() {
    let app = TestSandbox::spawn().await;
    let resp = app
        .http
        .get(app.url("/consent"))
        .query(&page_query(APPID, ALICE.openid, RETURN, "s1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(html.contains(APPID));
    assert!(html.contains(ALICE.openid));
    assert!(html.contains("WeChat Pay real-name record"));
    assert!(html.contains(r#"value="agree""#) && html.contains(r#"value="decline""#));
    assert!(html.contains("/consent/cancel?"));
    assert_eq!(
        app.handle.stats().codes_issued,
        0,
        "showing the page issues no code"
    );

    let css = app
        .http
        .get(app.url("/consent/consent.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn agreeing_returns_a_single_use_code_bound_to_the_user() {
    let app = TestSandbox::spawn().await;
    let (status, location) = decide(&app, ALICE.openid, "agree", "st-42").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert!(location.starts_with(RETURN), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some("st-42"));
    assert_eq!(param(&location, "reason"), None);
    let code = param(&location, "code").expect("a code");
    assert_eq!(app.handle.stats().codes_issued, 1);

    let token = app.token().await;
    // Another user cannot spend it, and the failed attempt does not burn it.
    let v = app
        .check(
            &token,
            &check_body(BOB.openid, BOB.name, BOB.cred_id, &code),
        )
        .await;
    assert_eq!(errcode(&v), 80113);
    let body = check_body(ALICE.openid, ALICE.name, ALICE.cred_id, &code);
    assert_eq!(
        verdict(&app.check(&token, &body).await),
        ("V_OP_NM_MA", "V_NM_ID_MA")
    );
    assert_eq!(
        errcode(&app.check(&token, &body).await),
        80113,
        "single use"
    );
}

#[tokio::test]
async fn agreeing_keeps_the_return_urls_own_query_and_fragment() {
    let app = TestSandbox::spawn().await;
    let mut form = page_query(
        APPID,
        ALICE.openid,
        "https://shop.example/back?x=1#done",
        "",
    );
    form.push(("action", "agree".to_owned()));
    let resp = no_redirects()
        .post(app.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://shop.example/back?x=1&code="),
        "{location}"
    );
    assert!(location.ends_with("#done"), "{location}");
    assert_eq!(
        param(&location, "state"),
        None,
        "an empty state is not echoed"
    );
}

#[tokio::test]
async fn declining_returns_without_a_code() {
    let app = TestSandbox::spawn().await;
    let (status, location) = decide(&app, ALICE.openid, "decline", "s2").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    assert_eq!(param(&location, "reason").as_deref(), Some("declined"));
    assert_eq!(param(&location, "state").as_deref(), Some("s2"));
    assert_eq!(param(&location, "code"), None);
    assert_eq!(app.handle.stats().codes_issued, 0);
}

#[tokio::test]
async fn the_back_link_returns_cancelled() {
    let app = TestSandbox::spawn().await;
    let resp = no_redirects()
        .get(app.url("/consent/cancel"))
        .query(&[("appid", APPID), ("return_url", RETURN), ("state", "s3")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(param(&location, "reason").as_deref(), Some("cancelled"));
    assert_eq!(param(&location, "state").as_deref(), Some("s3"));
    assert_eq!(param(&location, "code"), None);

    // Not a redirector for strangers.
    let resp = no_redirects()
        .get(app.url("/consent/cancel"))
        .query(&[("appid", "wxnobody"), ("return_url", RETURN)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.headers().get(LOCATION).is_none());
}

#[tokio::test]
async fn unknown_apps_and_users_get_an_html_error_page() {
    let app = TestSandbox::spawn().await;
    for (appid, openid, says) in [
        ("wxnobody", ALICE.openid, "no app with appid wxnobody"),
        (APPID, "o-nobody", "has no user with openid o-nobody"),
    ] {
        let resp = app
            .http
            .get(app.url("/consent"))
            .query(&page_query(appid, openid, RETURN, ""))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(
            resp.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = resp.text().await.unwrap();
        assert!(html.contains(says), "{html}");
        assert!(html.contains("consent-error"));
    }
    let (status, location) = decide(&app, "o-nobody", "agree", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(location, None);
    assert_eq!(app.handle.stats().codes_issued, 0);
}

#[tokio::test]
async fn bad_return_urls_missing_fields_and_actions_are_refused_without_a_redirect() {
    let app = TestSandbox::spawn().await;
    for bad in [
        "javascript:alert(1)",
        "/relative",
        "//evil.example/x",
        "ftp://h/",
        "",
    ] {
        let resp = app
            .http
            .get(app.url("/consent"))
            .query(&page_query(APPID, ALICE.openid, bad, ""))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let mut form = page_query(APPID, ALICE.openid, bad, "");
        form.push(("action", "agree".to_owned()));
        let resp = no_redirects()
            .post(app.url("/consent"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert!(resp.headers().get(LOCATION).is_none());
    }
    let resp = app
        .http
        .get(app.url("/consent"))
        .query(&[("appid", APPID), ("return_url", RETURN)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("openid is missing"));
    let (status, location) = decide(&app, ALICE.openid, "maybe", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None);
    assert_eq!(app.handle.stats().codes_issued, 0);
}

#[tokio::test]
async fn regression_xss_through_state_and_return_url_is_escaped() {
    let app = TestSandbox::spawn().await;
    let state = r#""><script>alert(1)</script>"#;
    let return_url = r#"http://h/r?a="><img/src=x/onerror=alert(2)>"#;
    let resp = app
        .http
        .get(app.url("/consent"))
        .query(&page_query(APPID, ALICE.openid, return_url, state))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(!html.contains("<img/src=x"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));

    // The state comes back byte for byte, encoded in the URL.
    let mut form = page_query(APPID, ALICE.openid, RETURN, state);
    form.push(("action", "decline".to_owned()));
    let resp = no_redirects()
        .post(app.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(!location.contains('<'), "{location}");
    assert_eq!(param(&location, "state").as_deref(), Some(state));
}
