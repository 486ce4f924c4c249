//! The second tab, "ID check without WeChat / 无需微信的身份核验": a name + ID-number check through the paid
//! providers (Tencent Cloud FaceID, Aliyun Cloudauth; both played by the sandbox) behind the gateway's
//! `POST /v1/idchecks`, for an organisation without WeChat's real-name permission.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /api/idcheck/examples` | the sandbox's demo cases (fictional): a match, a mismatch, no record |
//! | `POST /api/idcheck` `{real_name, cred_id, purpose, consent}` | validates, records the user's consent under a fresh `consent_ref`, calls the gateway with the API key |
//!
//! There is no consent page here: the user's separate consent to the processing of their ID number (PIPL
//! Art. 29) is the page's checkbox, and this server, as a business's would, keeps its own reference to it and
//! hands the gateway only that reference. Without the box ticked the gateway is not called.
use super::Shared;
use super::api::{bad_json, error, forward, parse_pair};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<Shared> {
    use axum::routing::{get, post};
    Router::new()
        .route("/api/idcheck/examples", get(examples))
        .route("/api/idcheck", post(check))
}

/// The consent reference this server keeps for one ticked box: `demo-consent-<uuid>`. A business would store
/// what the user agreed to, when, under this reference; the demo only makes it up.
pub(super) fn new_consent_ref() -> String {
    format!("demo-consent-{}", uuid::Uuid::new_v4())
}

async fn examples() -> Json<Value> {
    let examples: Vec<Value> = sandbox::demo::PROVIDER_CASES
        .iter()
        .map(|c| {
            json!({
                "real_name": c.submit_name,
                "cred_id": c.submit_cred_id,
                "outcome": c.outcome,
                "note": c.note,
                "note_zh": c.note_zh,
            })
        })
        .collect();
    Json(json!({"examples": examples}))
}

/// Personal data: no `Debug`.
#[derive(Deserialize)]
struct CheckBody {
    real_name: String,
    cred_id: String,
    #[serde(default)]
    purpose: String,
    /// The box "I agree to the processing of my ID number for this check" was ticked.
    #[serde(default)]
    consent: bool,
}

async fn check(State(s): State<Shared>, body: Result<Json<CheckBody>, JsonRejection>) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    // The same rules as the live validation (and the gateway's): a bad value is not sent anywhere.
    let (name, cred) = match parse_pair(&b.real_name, &b.cred_id) {
        Ok(pair) => pair,
        Err(refused) => return refused.into_response(),
    };
    if !b.consent {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "consent_required",
            i18n::demo::CONSENT_NOT_GIVEN,
        );
    }
    let request = json!({
        "real_name": name.expose(),
        "cred_id": cred.expose(),
        "purpose": b.purpose.trim(),
        "consent_ref": new_consent_ref(),
    });
    forward(&s, "/v1/idchecks", request, "demo idcheck").await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_consent_ref_is_fresh_and_says_what_it_is() {
        let a = super::new_consent_ref();
        assert!(a.starts_with("demo-consent-"), "{a}");
        assert_eq!(a.len(), "demo-consent-".len() + 36);
        assert_ne!(a, super::new_consent_ref());
    }
}
