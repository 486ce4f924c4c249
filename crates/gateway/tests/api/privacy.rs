//! Canaries: a full scenario with a distinctive name and ID number, then a search for them everywhere.

use crate::helpers::*;
use serde_json::json;

/// Valid, fictional, and unlike anything else in the tests.
const CANARY_NAME: &str = "龘靐齉";
const CANARY_ID: &str = "650102198801010017";

fn check_char(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn canary_name_and_id_appear_nowhere_but_masked() {
    let id = format!("{}{}", &CANARY_ID[..17], check_char(&CANARY_ID[..17]));
    let app = TestApp::spawn().await;
    let openid = "oCANARY";
    app.sandbox
        .state()
        .add_user(APPID, openid, Some(CANARY_NAME), Some(&id))
        .unwrap();
    let mut responses = Vec::new();
    let body = |code: String| json!({"openid": openid, "real_name": CANARY_NAME, "cred_id": id, "code": code, "purpose": "canary"});
    let (_, r, _) = app.verify(&body(app.consent(openid))).await;
    assert_eq!(r["outcome"], "match", "{r}");
    responses.push(r.to_string());
    let reused = body(app.consent(openid));
    responses.push(app.verify(&reused).await.1.to_string());
    responses.push(app.verify(&reused).await.1.to_string()); // 409
    app.fault(Fault::errcode(CHECK, -1));
    responses.push(app.verify(&body(app.consent(openid))).await.1.to_string());
    let mut wrong = body(app.consent(openid));
    wrong["real_name"] = json!(format!("{CANARY_NAME}1"));
    responses.push(app.verify(&wrong).await.1.to_string());
    let mut wrong = body(app.consent(openid));
    wrong["cred_id"] = json!(format!("{}0", &id[..17]));
    responses.push(app.verify(&wrong).await.1.to_string());
    let mut wrong = body(app.consent(openid));
    wrong["cred_id"] = json!(110101199003070038u64);
    responses.push(app.verify(&wrong).await.1.to_string());
    responses.push(
        app.post(
            "/v1/identities/match",
            &json!({"openid": openid, "real_name": CANARY_NAME, "cred_id": id}),
        )
        .await
        .1
        .to_string(),
    );
    responses.push(
        app.get(&format!("/v1/identities/{APPID}/{openid}"))
            .await
            .1
            .to_string(),
    );
    responses.push(
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );

    // Responses: only masked forms.
    for r in &responses {
        assert!(
            !r.contains(CANARY_NAME) && !r.contains(&id) && !r.contains(&id[6..14]),
            "a response leaks: {r}"
        );
    }
    assert!(responses[0].contains("龘**"), "{}", responses[0]);

    // Every file in the data directory, WAL included, after the writes.
    let mut files = 0;
    for entry in std::fs::read_dir(&app.data_dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        assert!(
            !find(&bytes, CANARY_NAME),
            "{} holds the raw name",
            path.display()
        );
        assert!(
            !find(&bytes, &id),
            "{} holds the raw ID number",
            path.display()
        );
        assert!(
            !find(&bytes, &id[6..14]),
            "{} holds the birth date digits",
            path.display()
        );
    }
    assert!(files >= 2, "the database was found");

    // The logs, at trace level, of everything the test binary did.
    let logs = logs().lock().unwrap().clone();
    assert!(
        find(&logs, "oCANARY"),
        "the log capture works (the openid is logged)"
    );
    assert!(!find(&logs, CANARY_NAME), "the logs hold the raw name");
    assert!(!find(&logs, &id), "the logs hold the raw ID number");
    for secret in [sandbox::demo::SECRET, app.key.as_str()] {
        assert!(!find(&logs, secret), "the logs hold a secret");
    }
}
