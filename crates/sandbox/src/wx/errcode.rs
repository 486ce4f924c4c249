//! WeChat errcodes and their usual `errmsg` texts.
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A WeChat-side failure: answered with HTTP 200 and `{"errcode", "errmsg"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WxError(pub(crate) i64);

impl WxError {
    pub(crate) const INVALID_CREDENTIAL: WxError = WxError(40001);
    pub(crate) const INVALID_GRANT_TYPE: WxError = WxError(40002);
    pub(crate) const INVALID_OPENID: WxError = WxError(40003);
    pub(crate) const INVALID_APPID: WxError = WxError(40013);
    pub(crate) const INVALID_JS_CODE: WxError = WxError(40029);
    pub(crate) const INVALID_ARGS: WxError = WxError(40097);
    pub(crate) const INVALID_SECRET: WxError = WxError(40125);
    pub(crate) const TOKEN_MISSING: WxError = WxError(41001);
    pub(crate) const APPID_MISSING: WxError = WxError(41002);
    pub(crate) const SECRET_MISSING: WxError = WxError(41004);
    pub(crate) const CODE_MISSING: WxError = WxError(41008);
    pub(crate) const TOKEN_EXPIRED: WxError = WxError(42001);
    pub(crate) const DAILY_QUOTA: WxError = WxError(45009);
    pub(crate) const TOO_FREQUENT: WxError = WxError(45011);
    pub(crate) const DATA_FORMAT: WxError = WxError(47001);
    pub(crate) const UNAUTHORIZED: WxError = WxError(48001);
    pub(crate) const INVALID_CODE: WxError = WxError(80113);
}

/// WeChat's wording, so that logs and screenshots from the sandbox read like the real thing.
pub(crate) fn errmsg(code: i64) -> &'static str {
    match code {
        0 => "ok",
        -1 => "system error",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40097 => "invalid args",
        40125 => "invalid appsecret",
        40164 => "invalid ip, not in whitelist",
        40226 => "invalid user, high risk",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        42001 => "access_token expired",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit  mustslower  retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        80113 => "invalid code",
        _ => "error",
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        // WeChat appends a request id; clients must match on errcode, never on the text.
        let rid = format!(
            "{}-{}-{}",
            crate::data::random_hex(4),
            crate::data::random_hex(4),
            crate::data::random_hex(4)
        );
        let errmsg = format!("{} rid: {rid}", errmsg(self.0));
        axum::Json(json!({"errcode": self.0, "errmsg": errmsg})).into_response()
    }
}
