//! The HTTP API's errors, one entry per case of `gateway::error::ApiError`.
//!
//! - `message` is for the developer who integrates the gateway: what went wrong and what to change. It may name
//!   fields and headers.
//! - `user_message` is for the end user, shown by a mini program as is: short, polite, and only what the user can
//!   do (check what they typed, try again later, ask for help). Never a field, header or code.
//!
//! The language of both is chosen per request by `Accept-Language`; without one, `message` follows the
//! configuration's `language` (default English) and `user_message` is Chinese. Error codes never change.

use crate::Text;

/// One error's two sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorText {
    pub message: Text,
    pub user_message: Text,
}

macro_rules! errors {
    ($( $(#[$meta:meta])* $name:ident {
        message: ($men:expr, $mzh:expr $(,)?),
        user: ($uen:expr, $uzh:expr $(,)?) $(,)?
    } )*) => {
        $( $(#[$meta])* pub const $name: ErrorText = ErrorText {
            message: Text { en: $men, zh: $mzh },
            user_message: Text { en: $uen, zh: $uzh },
        }; )*
        /// Every entry, by name (the tests walk it).
        pub const ALL: &[(&str, ErrorText)] = &[ $( (stringify!($name), $name) ),* ];
    };
}
pub(crate) use errors;

// The user messages a mini program shows most often, shared by several errors.
const TRY_LATER_EN: &str = "The service is busy. Please try again later.";
const TRY_LATER_ZH: &str = "服务繁忙，请稍后重试";
const CONSENT_AGAIN_EN: &str = "Verification did not go through. Please tap to verify again.";
const CONSENT_AGAIN_ZH: &str = "实名核验未完成，请重新点击核验";
const CANNOT_VERIFY_EN: &str =
    "Real-name verification is not available right now. Please contact customer service.";
const CANNOT_VERIFY_ZH: &str = "暂时无法进行实名核验，请联系客服";

errors! {
    /// `invalid_request` (the request itself is malformed; its `message` is one of [`request`]'s).
    INVALID_REQUEST {
        message: ("the request is not valid", "请求无效"),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    /// `payload_too_large`
    PAYLOAD_TOO_LARGE {
        message: ("the request body is larger than this gateway accepts", "请求体超过了网关允许的大小"),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    /// `headers_too_large` (431), answered by the connection loop.
    HEADERS_TOO_LARGE {
        message: (
            "the request line and headers are longer than this gateway accepts (16 KiB)",
            "请求行和请求头超过了网关允许的长度（16 KiB）",
        ),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    /// `request_timeout`
    REQUEST_TIMEOUT {
        message: ("the request was not completed in time; send it again", "请求未能按时完成，请重新发送"),
        user: ("The network is slow. Please try again.", "网络较慢，请重试"),
    }
    /// `invalid_cred_id` (its `message` is the rule's own, from `identity::CredIdError`).
    INVALID_CRED_ID {
        message: ("the ID number is not valid", "身份证号码无效"),
        user: ("The ID number is not correct. Please check it and try again.", "身份证号码有误，请核对后重试"),
    }
    /// `invalid_real_name` (its `message` is the rule's own, from `identity::RealNameError`).
    INVALID_REAL_NAME {
        message: ("the name is not valid", "姓名无效"),
        user: ("The name is not correct. Please check it and try again.", "姓名有误，请核对后重试"),
    }
    /// `invalid_openid`, refused by the gateway.
    INVALID_OPENID {
        message: (
            "openid must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'",
            "openid 须为 1 至 128 个字符，只能包含 A-Z、a-z、0-9、“_”或“-”",
        ),
        user: ("Your account could not be recognised. Please reopen the mini program and try again.", "未能识别您的微信账号，请重新进入小程序后重试"),
    }
    /// `personal_data_in_field`: an ID number where none belongs.
    PERSONAL_DATA_IN_FIELD {
        message: (
            "{field} holds what reads as an ID number; an ID number belongs in cred_id only, and is never kept or logged anywhere else",
            "{field} 中含有疑似身份证号的内容；身份证号只能放在 cred_id 中，其他地方一律不保存、不记录",
        ),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    /// `invalid_openid`, WeChat's 40003.
    UPSTREAM_UNKNOWN_OPENID {
        message: ("WeChat does not know this openid under this appid", "微信在该 appid 下不认识这个 openid"),
        user: ("Your account could not be recognised. Please reopen the mini program and try again.", "未能识别您的微信账号，请重新进入小程序后重试"),
    }
    /// `unsupported_cred_type`
    UNSUPPORTED_CRED_TYPE {
        message: ("only cred_type 1 (mainland resident ID card) is supported", "仅支持 cred_type 1（中国大陆居民身份证）"),
        user: ("Only mainland resident ID cards can be verified here.", "目前仅支持中国大陆居民身份证核验"),
    }
    /// `guardian_consent_required`
    GUARDIAN_CONSENT_REQUIRED {
        message: (
            "the ID number belongs to a child under 14: send \"guardian_consent\": true once a guardian has agreed",
            "该身份证号属于未满14周岁的儿童：取得监护人同意后，请在请求中带上 \"guardian_consent\": true",
        ),
        user: ("A child under 14 needs a parent or guardian's consent. Please ask them to agree first.", "未满14周岁的儿童需要监护人同意，请先征得监护人同意"),
    }
    /// `unauthorized`, the verification API.
    UNAUTHORIZED {
        message: ("a valid API key is required: Authorization: Bearer wxrn_...", "需要有效的 API 密钥：Authorization: Bearer wxrn_..."),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `unauthorized`, the admin API.
    ADMIN_UNAUTHORIZED {
        message: (
            "the admin token is required: Authorization: Bearer <admin token> (the admin API is off unless admin_token or admin_token_env is set)",
            "需要管理令牌：Authorization: Bearer <管理令牌>（未设置 admin_token 或 admin_token_env 时管理接口关闭）",
        ),
        user: ("Please sign in as an administrator.", "请以管理员身份登录"),
    }
    /// `forbidden_app`
    FORBIDDEN_APP {
        message: ("this API key may not verify for that appid", "该 API 密钥无权为这个 appid 核验"),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `unknown_app`
    UNKNOWN_APP {
        message: ("this gateway has no configuration for that appid", "网关没有该 appid 的配置"),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `not_found`
    NOT_FOUND {
        message: ("not found", "未找到"),
        user: ("No record was found.", "未找到相关记录"),
    }
    /// `not_found` for `GET`/`DELETE /v1/identities/{appid}/{openid}`: names the lookup that missed.
    NO_IDENTITY {
        message: (
            "no identity is kept for openid {openid} of app `{appid}`: it has no successful verification, or it was erased",
            "小程序 `{appid}` 下的 openid {openid} 没有保存的身份：它没有核验成功过，或已被删除",
        ),
        user: ("No record was found.", "未找到相关记录"),
    }
    /// `code_already_used`
    CODE_ALREADY_USED {
        message: (
            "this code was already used; a code from WeChat's consent page is good for one check",
            "这个 code 已经用过；微信授权页给出的 code 只能核验一次",
        ),
        user: (CONSENT_AGAIN_EN, CONSENT_AGAIN_ZH),
    }
    /// `idempotency_key_reused`
    IDEMPOTENCY_KEY_REUSED {
        message: ("this Idempotency-Key was used with a different request", "这个 Idempotency-Key 已用于另一个不同的请求"),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    /// `idempotency_in_progress`
    IDEMPOTENCY_IN_PROGRESS {
        message: ("a request with this Idempotency-Key is still running; retry shortly", "使用这个 Idempotency-Key 的请求仍在处理中，请稍后重试"),
        user: ("Your verification is still in progress. Please wait a moment.", "核验正在进行中，请稍候"),
    }
    /// `invalid_code`, WeChat's 80113.
    INVALID_CODE {
        message: (
            "WeChat rejected the code: it is unknown, expired, used, or belongs to another user",
            "微信拒绝了这个 code：它不存在、已过期、已使用或属于其他用户",
        ),
        user: ("The authorisation has expired. Please tap to verify again.", "授权已失效，请重新点击核验"),
    }
    /// `rate_limited`
    RATE_LIMITED {
        message: ("too many verifications; retry after the time in Retry-After", "核验次数过多，请在 Retry-After 给出的时间之后重试"),
        user: ("Too many attempts. Please try again later.", "操作过于频繁，请稍后再试"),
    }
    /// `upstream_permission_denied`, WeChat's 48001.
    UPSTREAM_PERMISSION_DENIED {
        message: ("WeChat says this app does not hold the real-name check permission", "微信表示该小程序没有实名核验权限"),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `upstream_quota_exhausted`, WeChat's 45009.
    UPSTREAM_QUOTA_EXHAUSTED {
        message: ("WeChat's daily quota for this app is used up", "该小程序今天的微信调用额度已用完"),
        user: ("Verification is unavailable for today. Please try again tomorrow.", "今日核验次数已满，请明天再试"),
    }
    /// `upstream_unavailable`: WeChat did not answer usefully, the code may be spent.
    UPSTREAM_UNAVAILABLE {
        message: (
            "WeChat did not answer usefully; the code may be spent, ask the user to consent again",
            "微信没有给出有效答复；code 可能已失效，请让用户重新授权",
        ),
        user: ("WeChat is busy. Please tap to verify again.", "微信服务繁忙，请重新点击核验"),
    }
    /// `upstream_unavailable`: the circuit breaker is open; the code was not used.
    UPSTREAM_PAUSED {
        message: (
            "WeChat has been failing, so this gateway is not calling it for now; the code was not used: retry with it after the time in Retry-After",
            "微信持续出错，网关暂停调用；code 未被使用：请在 Retry-After 给出的时间之后用它重试",
        ),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
    /// `upstream_unavailable`: no access token; nothing was sent.
    UPSTREAM_NO_TOKEN {
        message: (
            "no access token could be obtained from WeChat, so nothing was sent; the code was not used: retry with it shortly",
            "无法从微信获取 access token，请求没有发出；code 未被使用：请稍后用它重试",
        ),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
    /// `upstream_unavailable`: WeChat could not be reached; nothing was sent.
    UPSTREAM_NOT_REACHED {
        message: (
            "WeChat could not be reached, so nothing was sent; the code was not used: retry with it shortly",
            "无法连接微信，请求没有发出；code 未被使用：请稍后用它重试",
        ),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
    /// `upstream_rejected`: another WeChat errcode (in `errcode`).
    UPSTREAM_REJECTED {
        message: ("WeChat rejected the call", "微信拒绝了这次调用"),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `forbidden`: the API key lacks the scope of this check (`idcheck` for `/v1/idchecks`, an app for WeChat's).
    FORBIDDEN {
        message: (
            "this API key may not make this kind of check: idchecks need a key created with `--scope idcheck`, WeChat verifications a key with `--app`",
            "该 API 密钥无权进行这类核验：身份核验（idcheck）需要用 `--scope idcheck` 创建的密钥，微信核验需要带 `--app` 的密钥",
        ),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `idcheck_not_configured`: `POST /v1/idchecks` with no `[idcheck] providers`.
    IDCHECK_NOT_CONFIGURED {
        message: (
            "this gateway has no ID-check providers: configure [[providers]] and [idcheck] providers",
            "网关没有配置身份核验服务商：请配置 [[providers]] 和 [idcheck] providers",
        ),
        user: (CANNOT_VERIFY_EN, CANNOT_VERIFY_ZH),
    }
    /// `consent_required`: an idcheck without `consent_ref` (PIPL Art. 29).
    CONSENT_REQUIRED {
        message: (
            "consent_ref is required: your reference to the user's separate consent to processing their ID number (PIPL Art. 29)",
            "缺少 consent_ref：请提供用户单独同意处理其身份证号码的凭证编号（《个人信息保护法》第二十九条）",
        ),
        user: (
            "Please agree to the processing of your ID number first.",
            "请先同意处理您的身份证号码",
        ),
    }
    /// `budget_exhausted`: the day's `idcheck.daily_budget` of provider calls is spent.
    BUDGET_EXHAUSTED {
        message: (
            "today's budget of paid provider calls (idcheck.daily_budget) is spent; retry after the time in Retry-After (midnight in Asia/Shanghai)",
            "今日付费核验调用额度（idcheck.daily_budget）已用完；请在 Retry-After 给出的时间之后重试（北京时间零点）",
        ),
        user: (
            "Verification is not available for today. Please try again tomorrow.",
            "今日核验次数已用完，请明天再试",
        ),
    }
    /// `upstream_unavailable` for an idcheck: no provider gave a verdict.
    PROVIDERS_UNAVAILABLE {
        message: (
            "no ID-check provider gave an answer (each failed or is paused by its circuit breaker); retry later",
            "没有身份核验服务商给出结果（均失败或被熔断暂停）；请稍后重试",
        ),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
    /// `dependency_unavailable`
    DEPENDENCY_UNAVAILABLE {
        message: ("a backing service is unavailable; retry later", "后端依赖服务不可用，请稍后重试"),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
    /// `internal`
    INTERNAL {
        message: ("internal error", "内部错误"),
        user: (TRY_LATER_EN, TRY_LATER_ZH),
    }
}

/// The `message` of an `invalid_request`: what exactly is wrong with the request.
pub mod request {
    crate::texts! {
        BODY_UNREADABLE { en: "the request body could not be read", zh: "无法读取请求体" }
        NOT_JSON {
            en: "the body is not valid JSON: send a JSON object with `Content-Type: application/json`",
            zh: "请求体不是有效的 JSON：请发送 JSON 对象，并带上 `Content-Type: application/json`",
        }
        /// The commonest mistake: `curl -d a=b` or an HTML form.
        FORM_ENCODED {
            en: "the body is form-encoded (a=b&c=d), not JSON: send a JSON object with `Content-Type: application/json`",
            zh: "请求体是表单编码（a=b&c=d），不是 JSON：请发送 JSON 对象，并带上 `Content-Type: application/json`",
        }
        MISSING_FIELD { en: "missing field `{field}`", zh: "缺少字段 `{field}`" }
        UNKNOWN_FIELD_SUGGEST {
            en: "unknown field `{field}`: did you mean `{suggestion}`?",
            zh: "未知字段 `{field}`：是不是想写 `{suggestion}`？",
        }
        UNKNOWN_FIELD_LIST {
            en: "unknown field `{field}`; the fields are {fields}",
            zh: "未知字段 `{field}`；可用的字段有 {fields}",
        }
        /// A key that could be personal data (an ID number or a name used as a key) is not repeated.
        UNKNOWN_FIELD_HIDDEN {
            en: "unknown field (its name is not repeated: it may hold personal data); the fields are {fields}",
            zh: "未知字段（字段名可能含个人信息，不予复述）；可用的字段有 {fields}",
        }
        /// In `not_found` for an identity, in place of a path segment that is not an openid.
        OPENID_NOT_REPEATED { en: "(not repeated: not an openid)", zh: "（不是 openid，不予复述）" }
        WRONG_TYPE {
            en: "a field has the wrong type: names, ID numbers, openids and codes are strings",
            zh: "有字段类型不对：姓名、身份证号、openid 和 code 都应是字符串",
        }
        CODE_FORMAT {
            en: "code must be 1 to {max} printable ASCII characters",
            zh: "code 须为 1 至 {max} 个可打印 ASCII 字符",
        }
        PURPOSE_FORMAT {
            en: "purpose must be at most {max} characters, no control characters",
            zh: "purpose 最多 {max} 个字符，且不能含控制字符",
        }
        IDEMPOTENCY_KEY_FORMAT {
            en: "Idempotency-Key must be 1 to {max} visible ASCII characters",
            zh: "Idempotency-Key 须为 1 至 {max} 个可见 ASCII 字符",
        }
        ADMIN_LIMIT { en: "limit must be a number between 1 and {max}", zh: "limit 须为 1 至 {max} 之间的数" }
        ADMIN_WINDOW { en: "window must be hour or day", zh: "window 只能是 hour 或 day" }
        CONSENT_REF_FORMAT {
            en: "consent_ref must be at most {max} characters, no control characters",
            zh: "consent_ref 最多 {max} 个字符，且不能含控制字符",
        }
        /// `invalid_cred_id` / `invalid_real_name` with reason `provider_refused`: our checks passed it, the
        /// provider did not.
        PROVIDER_REFUSED_CRED_ID {
            en: "the provider refused the ID number as invalid",
            zh: "核验服务商认定身份证号码无效",
        }
        PROVIDER_REFUSED_NAME {
            en: "the provider refused the name as invalid",
            zh: "核验服务商认定姓名无效",
        }
        PROVIDER_REFUSED_INPUT {
            en: "the provider refused the name or the ID number as invalid (it did not say which)",
            zh: "核验服务商认定姓名或身份证号码无效（未说明是哪一项）",
        }
        APPID_REQUIRED {
            en: "appid is required: this API key is bound to several apps",
            zh: "需要提供 appid：该 API 密钥绑定了多个小程序",
        }
    }
}
