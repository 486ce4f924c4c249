//! The OpenAPI document, generated from the handlers and types. CI compares it with the committed
//! `docs/openapi.json` (regenerate with `WXRN_BLESS=1 cargo test -p gateway openapi`).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "wxrealname gateway", description = "Run WeChat City Services' real-name check safely: validation, replay protection, rate limits, a hash-chained audit trail and an identity registry with no raw personal data at rest."),
    paths(
        crate::routes::verify::create,
        crate::routes::verify::fetch,
        crate::routes::identities::latest,
        crate::routes::identities::erase,
        crate::routes::identities::matches,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::health::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerKey),
)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as committed: pretty JSON with a trailing newline.
pub fn render() -> String {
    let mut s = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}
