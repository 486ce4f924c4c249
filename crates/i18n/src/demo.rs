//! The demo web app's back end (`wxrealname demo`, `src/cli/demo_web/api.rs`): its own errors, in the API's
//! envelope, `message` for developers and `user_message` for the person at the page.

use crate::Text;
use crate::api::ErrorText;

crate::api::errors! {
    BAD_JSON {
        message: ("the body is not JSON of the expected shape", "请求体不是预期格式的 JSON"),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    UNKNOWN_FIELD {
        message: ("field must be real_name or cred_id", "field 只能是 real_name 或 cred_id"),
        user: ("Something went wrong. Please try again later.", "请求出错了，请稍后重试"),
    }
    NO_USER {
        message: ("pick a demo user first", "请先选择一个演示用户"),
        user: ("Please choose a user first.", "请先选择用户"),
    }
    INVALID_FIELDS {
        message: ("fix the highlighted fields", "请修改标出的字段"),
        user: ("Please correct the highlighted fields.", "请修改标红的内容后重试"),
    }
    BUSY {
        message: ("too many verifications in progress; try again in a few minutes", "进行中的核验太多，请几分钟后再试"),
        user: ("The service is busy. Please try again in a few minutes.", "服务繁忙，请几分钟后再试"),
    }
    UNKNOWN_STATE {
        message: ("this verification is unknown or expired; start again", "这次核验不存在或已过期，请重新开始"),
        user: ("This verification has expired. Please start again.", "本次核验已过期，请重新开始"),
    }
    GATEWAY_UNREACHABLE {
        message: ("the gateway did not answer", "网关没有应答"),
        user: ("The service is busy. Please try again later.", "服务繁忙，请稍后重试"),
    }
    /// `consent_required` (the ID check tab): the box for the separate consent was not ticked.
    CONSENT_NOT_GIVEN {
        message: (
            "the user did not agree to the processing of their ID number; tick the consent box",
            "用户没有同意处理其身份证号，请勾选同意",
        ),
        user: ("Please agree to the processing of your ID number first.", "请先勾选同意处理你的身份证号"),
    }
    GATEWAY_UNREADABLE {
        message: ("the gateway's answer could not be read", "无法读取网关的应答"),
        user: ("The service is busy. Please try again later.", "服务繁忙，请稍后重试"),
    }
}
