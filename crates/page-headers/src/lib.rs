//! The security headers every page this project serves to a browser carries (the gateway's admin console, the
//! demo web app, the sandbox's consent page), as one tower layer instead of a helper copied into each:
//! the page's own `Content-Security-Policy` and `Cache-Control`, `Referrer-Policy: no-referrer` (a return URL can
//! carry a one-time code, which must not leak to another origin in a `Referer`) and
//! `X-Content-Type-Options: nosniff`.
//!
//! ```
//! use axum::{Router, routing::get};
//! let pages: Router = Router::new()
//!     .route("/", get(|| async { "page" }))
//!     .layer(page_headers::layer("default-src 'none'", "no-cache"));
//! ```
//! Like every `Router::layer`, it applies to the routes added before it.

use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower::util::MapResponseLayer;

/// A layer that sets the page headers on every response of the routes it wraps (replacing any a handler set).
pub fn layer(
    csp: &'static str,
    cache_control: &'static str,
) -> MapResponseLayer<impl FnMut(Response) -> Response + Clone> {
    MapResponseLayer::new(move |mut resp: Response| {
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use axum::{Router, routing::get};
    use tower::ServiceExt;

    #[tokio::test]
    async fn every_response_of_the_wrapped_routes_carries_the_headers_and_later_routes_do_not() {
        let app = Router::new()
            .route("/page", get(|| async { "page" }))
            .layer(super::layer("default-src 'none'", "no-store"))
            .route("/api", get(|| async { "json" }));
        let page = app
            .clone()
            .oneshot(Request::get("/page").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = page.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'none'");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let api = app
            .oneshot(Request::get("/api").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(api.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    }
}
