//! The command line's sentences: errors first, then what the commands print.
//!
//! The language is `--lang`, else the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`: `zh*` is Chinese), else English.
//! Machine-readable output (`--json`, CSV, JSONL) keeps its keys and codes in every language; only the human
//! sentences in it change.

crate::texts! {
    /// Prefix of every error line on standard error.
    ERROR_PREFIX { en: "error: ", zh: "错误：" }
    NOTE_PREFIX { en: "note: ", zh: "注意：" }
    CANNOT_START_RUNTIME { en: "cannot start the async runtime: {error}", zh: "无法启动异步运行时：{error}" }
    CANNOT_LISTEN { en: "cannot listen on {addr}", zh: "无法监听 {addr}" }
    CANNOT_CREATE_DIR { en: "cannot create {path}", zh: "无法创建 {path}" }
    CANNOT_OPEN_DATABASE { en: "cannot open the database", zh: "无法打开数据库" }
    STORE_NOT_FOUND {
        en: "{error}: check data_dir or database_url (WXRN_DATA_DIR, WXRN_DATABASE_URL, --config); `wxrealname serve` and `wxrealname keys create` create a store, this command does not",
        zh: "{error}：请检查 data_dir 或 database_url（WXRN_DATA_DIR、WXRN_DATABASE_URL、--config）；`wxrealname serve` 和 `wxrealname keys create` 会创建数据库，本命令不会",
    }
    CANNOT_READ_FILE { en: "cannot read {path}: {error}", zh: "无法读取 {path}：{error}" }

    // wxrealname idcard check
    IDCARD_NO_INPUT {
        en: "no ID numbers given (pass them as arguments or with --file)",
        zh: "没有给出身份证号（请作为参数传入，或用 --file 指定文件）",
    }
    IDCARD_VALID { en: "valid", zh: "有效" }
    IDCARD_INVALID { en: "invalid", zh: "无效" }
    IDCARD_BORN { en: "born {date}", zh: "出生 {date}" }
    IDCARD_MALE { en: "male", zh: "男" }
    IDCARD_FEMALE { en: "female", zh: "女" }
    IDCARD_UNDER_14 { en: "under 14", zh: "未满14周岁" }
    IDCARD_LEGACY_HINT { en: " (18-digit form: {hint})", zh: "（18位号码：{hint}）" }
    IDCARD_SUMMARY {
        en: "{total} checked, {valid} valid, {invalid} invalid",
        zh: "共检查 {total} 个，有效 {valid} 个，无效 {invalid} 个",
    }

    // wxrealname check
    CHECK_NO_SECRET {
        en: "set the app secret in the WXRN_APP_SECRET environment variable",
        zh: "请在环境变量 WXRN_APP_SECRET 中设置小程序的 AppSecret",
    }
    CHECK_BAD_APPID { en: "--appid is not a valid appid", zh: "--appid 不是有效的 appid" }
    CHECK_BAD_OPENID { en: "--openid is not a valid openid", zh: "--openid 不是有效的 openid" }
    CHECK_BAD_NAME { en: "--name: {reason} ({code})", zh: "--name：{reason}（{code}）" }
    CHECK_BAD_CRED_ID { en: "--cred-id: {reason} ({code})", zh: "--cred-id：{reason}（{code}）" }
    CHECK_BAD_TOKEN_KIND {
        en: "--token-kind must be stable or classic, not {value}",
        zh: "--token-kind 只能是 stable 或 classic，而不是 {value}",
    }
    // `wxrealname check`'s error.message: the kind of failure (wechat::Error::kind), then WeChat's or the
    // transport's own detail (not translated: it is what WeChat or the network said).
    CHECK_ERR_WECHAT { en: "WeChat answered with an error: {detail}", zh: "微信返回了错误：{detail}" }
    CHECK_ERR_NOT_SENT { en: "nothing was sent to WeChat: {detail}", zh: "请求没有发到微信：{detail}" }
    CHECK_ERR_TIMEOUT { en: "WeChat did not answer in time: {detail}", zh: "微信没有按时应答：{detail}" }
    CHECK_ERR_TRANSPORT { en: "the connection to WeChat failed: {detail}", zh: "与微信的连接出错：{detail}" }
    CHECK_ERR_HTTP_STATUS { en: "WeChat answered with an HTTP error: {detail}", zh: "微信返回了 HTTP 错误：{detail}" }
    CHECK_ERR_MALFORMED { en: "WeChat's answer could not be read: {detail}", zh: "无法解析微信的应答：{detail}" }
    CHECK_ERR_OTHER { en: "the check failed: {detail}", zh: "核验失败：{detail}" }
    CHECK_MAY_HAVE_REACHED {
        en: "the call may have reached WeChat, so the code may be spent; it was not resent",
        zh: "这次调用可能已到达微信，code 可能已失效；没有重发",
    }

    // wxrealname config, wxrealname demo
    CONFIG_NO_APPS {
        en: "warning: no [[apps]]: every verification will answer unknown_app",
        zh: "警告：没有 [[apps]]：每次核验都会得到 unknown_app",
    }
    DEMO_KEY_BORROWED {
        en: "{dir} is a demo's data directory: using its demo key {path} (demo only, never in production)",
        zh: "{dir} 是演示用的数据目录：使用其中的演示密钥 {path}（仅限演示，切勿用于生产）",
    }

    // wxrealname keys
    KEYS_UNKNOWN_APP {
        en: "app {app} is not in the configuration's [[apps]]",
        zh: "小程序 {app} 不在配置的 [[apps]] 中",
    }
    KEYS_EMPTY_NAME { en: "--name must not be empty", zh: "--name 不能为空" }
    KEYS_CREATED {
        en: "Store the key now: it is not shown again (only its hash is kept).",
        zh: "请立即保存这个密钥：它不会再次显示（只保存其哈希）。",
    }
    KEYS_MASTER_EXISTS {
        en: "{path} already exists; refusing to overwrite a key (losing it would make the stored identities unmatchable and the audit trail unverifiable)",
        zh: "{path} 已存在；拒绝覆盖密钥（丢失它会使已存的身份无法匹配、审计链无法验证）",
    }
    KEYS_MASTER_WRITTEN {
        en: "wrote a new master key to {path} (mode 0600).\nSet it in the configuration:\n\n[blind_index]\nkey_file = \"{path}\"\n\nKeep it outside data_dir, and back it up apart from the database.",
        zh: "已将新的主密钥写入 {path}（权限 0600）。\n请在配置中设置：\n\n[blind_index]\nkey_file = \"{path}\"\n\n请把它放在 data_dir 之外，并与数据库分开备份。",
    }
    KEYS_REVOKED {
        en: "revoked {id}; running gateways refuse it within limits.api_key_cache_ms (at most a second)",
        zh: "已吊销 {id}；运行中的网关将在 limits.api_key_cache_ms（至多一秒）内拒绝它",
    }
    KEYS_NO_ACTIVE_KEY { en: "no active key with id {id}", zh: "没有 id 为 {id} 的有效密钥" }

    // wxrealname audit
    AUDIT_BAD_FORMAT { en: "--format must be jsonl or csv", zh: "--format 只能是 jsonl 或 csv" }
    AUDIT_BAD_SINCE {
        en: "--since must be RFC 3339, YYYY-MM-DD, or an age like 7d",
        zh: "--since 须为 RFC 3339 时间、YYYY-MM-DD 日期，或 7d 这样的时长",
    }
    AUDIT_BAD_OLDER_THAN {
        en: "--older-than must be an age like 180d, 12h or 30m",
        zh: "--older-than 须为 180d、12h 或 30m 这样的时长",
    }
    AUDIT_CHAIN_OK { en: "audit chain ok: {rows} rows verified", zh: "审计链完好：已验证 {rows} 行" }
    // A row of a chain other than the first, inside "row {seq}" / "第 {seq} 行"
    AUDIT_POSITION_IN_CHAIN { en: "{pos} of chain {chain}", zh: "{chain} 条链的第 {pos}" }
    AUDIT_CHAINS { en: " in {chains} chains (one per gateway process that appended)", zh: "，分布在 {chains} 条链中（每个追加过记录的网关进程一条）" }
    AUDIT_FROM_CHECKPOINT { en: " (from the purge checkpoint)", zh: "（从清理检查点开始）" }
    AUDIT_ANCHORED {
        en: ", agreeing with the anchor ({entries} entries, newest at row {seq})",
        zh: "，与锚点一致（{entries} 条，最新一条在第 {seq} 行）",
    }
    AUDIT_ANCHOR_UNREADABLE { en: "cannot read the anchor {path}: {error}", zh: "无法读取锚点文件 {path}：{error}" }
    AUDIT_ANCHOR_AT { en: " at {path}", zh: "（{path}）" }
    AUDIT_NO_ANCHOR {
        en: "no anchor file{at}: the database was checked on its own (an older copy of it put back whole would not show)",
        zh: "没有锚点文件{at}：只核对了数据库本身（整体换回一份旧副本将无法察觉）",
    }
    AUDIT_ANCHOR_INSIDE_DATA_DIR {
        en: "{path} is inside data_dir: keep the anchor apart from the database",
        zh: "{path} 位于 data_dir 之内：锚点文件须与数据库分开存放",
    }
    AUDIT_HEAD_MISSING {
        en: "audit chain BROKEN: the chain head is missing; nothing anchored",
        zh: "审计链断裂：缺少链头；未写入锚点",
    }
    AUDIT_ANCHOR_FAILED { en: "audit chain BROKEN: {error}", zh: "审计链断裂：{error}" }
    AUDIT_ANCHORED_TO { en: "anchored the chain head at row {seq} to {path}", zh: "已将第 {seq} 行的链头写入锚点文件 {path}" }
    AUDIT_CHAIN_BROKEN { en: "audit chain BROKEN at row {seq}: {error}", zh: "审计链在第 {seq} 行断裂：{error}" }
    AUDIT_PURGED {
        en: "purged {rows} audit rows and {codes} replay-guard entries",
        zh: "已清理 {rows} 行审计记录和 {codes} 条防重放记录",
    }
    AUDIT_PURGE_CHECKPOINT { en: "; the chain now starts after row {seq}", zh: "；审计链现在从第 {seq} 行之后开始" }

    // Listening: the address and what sets it (a flag, or a config key)
    LISTEN_IN_USE {
        en: "cannot listen on {addr}: the address is already in use (another program, or another wxrealname, listens there); choose another with {set_by}",
        zh: "无法监听 {addr}：该地址已被占用（另一个程序或另一个 wxrealname 正在监听）；请用 {set_by} 换一个地址",
    }
    LISTEN_FAILED {
        en: "cannot listen on {addr}: {error}; set the address with {set_by}",
        zh: "无法监听 {addr}：{error}；地址由 {set_by} 设置",
    }
    LISTEN_SET_BY_FILE { en: "`listen` in {file} (or {var})", zh: "{file} 中的 `listen`（或 {var}）" }
    LISTEN_SET_BY_KEY { en: "`listen` in the config file (or {var})", zh: "配置文件中的 `listen`（或 {var}）" }

    // Configuration errors (wxrealname config, and every command that reads the configuration)
    CONFIG_FILE_NOT_FOUND { en: "config file {path} not found", zh: "找不到配置文件 {path}" }
    CONFIG_UNKNOWN_KEY { en: "unknown key `{key}` in {origin}", zh: "{origin} 中有未知的配置项 `{key}`" }
    CONFIG_DID_YOU_MEAN { en: "; did you mean `{suggestion}`?", zh: "；是不是想写 `{suggestion}`？" }
    CONFIG_BAD_VALUE {
        en: "invalid value for `{key}` in {origin}: {reason}",
        zh: "{origin} 中配置项 `{key}` 的值无效：{reason}",
    }
    CONFIG_SYNTAX { en: "{origin}: {reason}", zh: "{origin}：{reason}" }
    CONFIG_ORIGIN_ENV { en: "environment variable {var}", zh: "环境变量 {var}" }
    CONFIG_ORIGIN_DEFAULTS { en: "the defaults", zh: "默认值" }
    CONFIG_NO_FILE {
        en: "no config file (defaults and WXRN_* variables)",
        zh: "没有配置文件（默认值和 WXRN_* 环境变量）",
    }
    CONFIG_CHECK_PROBLEMS { en: "{what}: {count} problem(s)", zh: "{what}：发现 {count} 个问题" }
    CONFIG_CHECK_OK {
        en: "{what}: ok ({apps} app(s), data in {data_dir} ({store}), listens on {listen})",
        zh: "{what}：没有问题（{apps} 个小程序，数据在 {data_dir}（{store}），监听 {listen}）",
    }
    CONFIG_SHOW_HEADER {
        en: "# {what}: defaults, then the file, then WXRN_* variables; secrets redacted",
        zh: "# {what}：默认值，然后是配置文件，再是 WXRN_* 环境变量；密钥已隐去",
    }
}
