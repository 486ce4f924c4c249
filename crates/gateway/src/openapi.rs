//! The OpenAPI document, generated from the handlers and types. CI compares it with the committed
//! `docs/openapi.json` (regenerate with `WXRN_BLESS=1 cargo test -p gateway openapi`).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "wxrealname gateway", description = "Run WeChat City Services' real-name check safely: validation, replay protection, rate limits, a hash-chained audit trail and an identity registry with no raw personal data at rest. Without WeChat's permission, the same gateway checks a name and ID number through Tencent Cloud FaceID or Aliyun Cloudauth (`/v1/idchecks`)."),
    paths(
        crate::routes::verify::create,
        crate::routes::verify::fetch,
        crate::routes::identities::latest,
        crate::routes::identities::erase,
        crate::routes::identities::matches,
        crate::routes::idchecks::create,
        crate::routes::idchecks::fetch,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::health::metrics,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerKey, &AcceptLanguage),
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

/// Every operation takes `Accept-Language`: it picks the language of an error's `message` and `user_message`.
#[derive(Debug)]
struct AcceptLanguage;

impl Modify for AcceptLanguage {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Type};
        let param = || -> Parameter {
            ParameterBuilder::new()
                .name("Accept-Language")
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::False)
                .description(Some(
                    "Language of an error's `message` and `user_message`: `zh-CN` (or `zh`) or `en`, q-values \
                     honoured (e.g. `zh-CN,zh;q=0.9,en;q=0.8`). Without a language the gateway speaks, `message` \
                     is in the configuration's `language` (default `en`) and `user_message` in Chinese. Error \
                     codes are the same in every language.",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                op.parameters.get_or_insert_with(Vec::new).push(param());
            }
        }
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
