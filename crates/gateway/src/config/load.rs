//! Loading: the layers, relative paths, and errors a person can act on.
//!
//! - **Layers**: the defaults, then the TOML file, then one provider per `WXRN_*` variable. The variables are
//!   read by our own provider, not figment's `Env`: figment compared the variable names, as written (upper case),
//!   with our lower-case key list, so `WXRN_DATA_DIR` was silently dropped; and it parses values, so a numeric
//!   `WXRN_ADMIN_TOKEN` or `WXRN_REDIS_PREFIX` became a number that no string key accepts. Here a value stays
//!   text and the extraction is lossy (text becomes a number or a boolean where the key wants one); only a value
//!   that starts with `[` or `{` (an array such as `WXRN_APPS`) is parsed.
//! - **Relative paths** set in the file (`data_dir`, `upstream_ca_file`, `blind_index.key_file`, a
//!   `sqlite://` `database_url`, ...: every key in [`Config::paths_mut`]) are resolved against the file's
//!   directory, so a service started from any directory reads the same files. Paths from the defaults or the
//!   environment stay relative to the working directory, as a shell user expects.
//! - **Errors** name the key and where its value came from (the file, or the variable), suggest the nearest
//!   valid key, and never show figment's profile names or a secret's value.

use super::{Config, ConfigError, Origin};
use figment::error::{Actual, Kind};
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The prefix of the variables that set keys.
pub const ENV_PREFIX: &str = "WXRN_";

/// Keys whose values are secrets: an error about them never repeats the value.
const SECRET_KEYS: &[&str] = &["database_url", "redis_url", "admin_token", "key", "secret"];

pub(super) fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
    let file = match file {
        Some(f) => {
            // Absolute, so figment does not search parent directories for it and paths resolve the same way
            // whatever the working directory is later.
            let f = std::path::absolute(f).unwrap_or_else(|_| f.to_owned());
            if !f.is_file() {
                return Err(ConfigError::FileNotFound(f));
            }
            Some(f)
        }
        None => None,
    };
    let fig = figment(file.as_deref(), std::env::vars_os());
    let mut cfg: Config = fig.extract_lossy().map_err(|e| explain(&fig, e))?;
    if let Err((key, reason)) = cfg.check() {
        return Err(ConfigError::BadValue {
            origin: origin_of(&fig, &key),
            key,
            reason,
        });
    }
    resolve_paths(&mut cfg, &fig);
    if cfg.audit.anchor_file.is_none() {
        // Beside the configuration, which is kept apart from the data.
        let dir = file
            .as_deref()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""));
        cfg.audit.anchor_file = Some(dir.join("wxrealname.anchor"));
    }
    Ok(cfg)
}

fn figment(
    file: Option<&Path>,
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> Figment {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        fig = fig.merge(Toml::file_exact(file));
    }
    let mut vars: Vec<EnvVar> = vars.filter_map(|(k, v)| EnvVar::new(k, v)).collect();
    // Deterministic order: with `WXRN_LIMITS` and `WXRN_LIMITS__X` both set, the more specific one wins.
    vars.sort_by(|a, b| a.key.cmp(&b.key));
    for var in vars {
        fig = fig.merge(var);
    }
    fig
}

/// The top-level keys of [`Config`], from serde itself (the list a `deny_unknown_fields` error carries), so a
/// key added to the struct can be set from the environment without another list to keep up to date.
pub(super) fn top_level_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<&'static [&'static str]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let probe = Figment::from(Serialized::defaults(
            [("\u{0}", 0)]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        ));
        match probe.extract::<Config>().map(|_| ()).map_err(|e| e.kind) {
            Err(Kind::UnknownField(_, expected)) => expected,
            _ => &[],
        }
    })
}

/// One `WXRN_*` variable that names a key: `WXRN_LIMITS__PER_OPENID_PER_DAY` -> `limits.per_openid_per_day`.
/// Variables whose first part is not a key (`WXRN_SECRET_DEMO`, named by `secret_env`; `WXRN_CONFIG`) are not
/// configuration and are left alone.
#[derive(Debug)]
struct EnvVar {
    name: String,
    key: String,
    value: String,
}

impl EnvVar {
    fn new(name: std::ffi::OsString, value: std::ffi::OsString) -> Option<Self> {
        let name = name.into_string().ok()?;
        let rest = name
            .get(..ENV_PREFIX.len())
            .filter(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
            .map(|_| &name[ENV_PREFIX.len()..])?;
        let key = rest.to_ascii_lowercase().replace("__", ".");
        let top = key.split('.').next().unwrap_or_default();
        if !top_level_keys().contains(&top) {
            return None;
        }
        let value = value.into_string().ok()?;
        Some(Self { name, key, value })
    }
}

impl Provider for EnvVar {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").source(Source::Custom(self.name.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let text = self.value.trim();
        let value = if text.starts_with(['[', '{']) {
            text.parse::<Value>().unwrap_or_else(|e| match e {})
        } else {
            Value::from(self.value.clone())
        };
        let nested = figment::util::nest(&self.key, value);
        let dict = nested.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// The variable that sets `key`, as an operator would write it.
pub fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.to_ascii_uppercase().replace('.', "__")
    )
}

fn origin_from(md: Option<&Metadata>) -> Origin {
    match md.and_then(|m| m.source.as_ref()) {
        Some(Source::File(p)) => Origin::File(p.clone()),
        Some(Source::Custom(var)) => Origin::Env(var.clone()),
        _ => Origin::Defaults,
    }
}

/// Where the value at `key` came from. A key missing from the merged value (an unknown one) is looked up
/// through its nearest existing parent.
pub(super) fn origin_of(fig: &Figment, key: &str) -> Origin {
    let mut key = key;
    loop {
        if let Some(md) = fig.find_metadata(key) {
            return origin_from(Some(md));
        }
        match key.rsplit_once('.') {
            Some((parent, _)) => key = parent,
            None => return Origin::Defaults,
        }
    }
}

/// A figment error as one sentence: the first problem only (figment may chain several for one mistake).
fn explain(fig: &Figment, e: figment::Error) -> ConfigError {
    let e = e
        .into_iter()
        .next()
        .unwrap_or_else(|| "unknown error".into());
    // For an unknown key, figment's path already ends with it.
    let mut path = e.path.clone();
    if let Kind::UnknownField(field, _) = &e.kind
        && path.last() == Some(field)
    {
        path.pop();
    }
    let parent = path.join(".");
    let full = |field: &str| {
        if parent.is_empty() {
            field.to_owned()
        } else {
            format!("{parent}.{field}")
        }
    };
    match &e.kind {
        Kind::UnknownField(field, expected) => {
            let key = full(field);
            let origin = origin_of(fig, &key);
            // An unknown key set from the environment is found through its variable's name; the file's key
            // otherwise. Either way the suggestion is written the way the mistake was.
            let origin = match origin {
                Origin::Defaults => origin_from(e.metadata.as_ref()),
                o => o,
            };
            let suggestion = nearest(field, expected).map(|s| match &origin {
                Origin::Env(_) => env_var_for(&full(s)),
                _ => full(s),
            });
            ConfigError::UnknownKey {
                key,
                origin,
                suggestion,
            }
        }
        kind => {
            let key = parent;
            let origin = if key.is_empty() {
                origin_from(e.metadata.as_ref())
            } else {
                origin_of(fig, &key)
            };
            let secret = key
                .rsplit('.')
                .next()
                .is_some_and(|last| SECRET_KEYS.contains(&last));
            let reason = reason(kind, secret);
            if key.is_empty() {
                ConfigError::Syntax { origin, reason }
            } else {
                ConfigError::BadValue {
                    key,
                    origin,
                    reason,
                }
            }
        }
    }
}

/// What is wrong with a value, without repeating a secret.
fn reason(kind: &Kind, secret: bool) -> String {
    let found = |a: &Actual| match a {
        Actual::Str(_) if secret => "text".to_owned(),
        Actual::Str(s) => format!("{s:?}"),
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Seq => "an array".to_owned(),
        Actual::Map => "a table".to_owned(),
        other => other.to_string(),
    };
    match kind {
        Kind::InvalidType(a, expected) | Kind::InvalidValue(a, expected) => {
            format!("expected {expected}, found {}", found(a))
        }
        Kind::UnknownVariant(v, expected) => {
            let one_of = expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let shown = if secret { "this value" } else { v.as_str() };
            match nearest(v, expected) {
                Some(s) => format!("`{shown}` is not one of {one_of}; did you mean `{s}`?"),
                None => format!("`{shown}` is not one of {one_of}"),
            }
        }
        Kind::Message(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The valid key closest to a mistyped one, if any is close (the measure clap uses for its suggestions).
fn nearest<'a>(typed: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (strsim::jaro_winkler(typed, v), *v))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, v)| v)
}

/// Make the relative paths the file set relative to the file's directory.
fn resolve_paths(cfg: &mut Config, fig: &Figment) {
    let mut db_url = None;
    for (key, path) in cfg.paths_mut() {
        if let Origin::File(file) = origin_of(fig, key)
            && path.is_relative()
            && let Some(dir) = file.parent()
        {
            *path = join_clean(dir, path);
        }
    }
    if let Some(url) = &cfg.database_url {
        let url = secrecy::ExposeSecret::expose_secret(url);
        if let Some(rest) = url.strip_prefix("sqlite://")
            && Path::new(rest).is_relative()
            && let Origin::File(file) = origin_of(fig, "database_url")
            && let Some(dir) = file.parent()
        {
            db_url = Some(format!(
                "sqlite://{}",
                join_clean(dir, Path::new(rest)).display()
            ));
        }
    }
    if let Some(url) = db_url {
        cfg.database_url = Some(url.into());
    }
}

/// `dir` joined with `rel`, without the `./` steps (so `config show` prints `/etc/wxrealname/data`).
fn join_clean(dir: &Path, rel: &Path) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn load_with(file: Option<&Path>, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let fig = figment(file, env(vars).into_iter());
        let mut cfg: Config = fig.extract_lossy().map_err(|e| explain(&fig, e))?;
        if let Err((key, reason)) = cfg.check() {
            return Err(ConfigError::BadValue {
                origin: origin_of(&fig, &key),
                key,
                reason,
            });
        }
        resolve_paths(&mut cfg, &fig);
        Ok(cfg)
    }

    #[test]
    fn the_top_level_keys_come_from_serde() {
        let keys = top_level_keys();
        for k in ["listen", "data_dir", "limits", "apps", "blind_index"] {
            assert!(keys.contains(&k), "{k} in {keys:?}");
        }
    }

    #[test]
    fn upper_case_variables_set_every_kind_of_key() {
        let cfg = load_with(
            None,
            &[
                ("WXRN_DATA_DIR", "./data/demo"),
                ("WXRN_LIMITS__PER_OPENID_PER_DAY", "10"),
                ("WXRN_LIMITS__REQUEST_TIMEOUT_MS", "20000"),
                ("WXRN_POLICY__REQUIRE_GUARDIAN_CONSENT", "true"),
                ("WXRN_REDIS_PREFIX", "123"),
                ("WXRN_ADMIN_TOKEN", "0123456789"),
                ("WXRN_TOKEN_KIND", "classic"),
                ("wxrn_listen", "127.0.0.1:9999"),
                ("WXRN_SECRET_DEMO", "not a key: left alone"),
                (
                    "WXRN_APPS",
                    r#"[{appid = "wxd0000000000de301", secret_env = "WXRN_SECRET_DEMO"}]"#,
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            cfg.data_dir,
            Path::new("./data/demo"),
            "relative to the cwd"
        );
        assert_eq!(cfg.limits.per_openid_per_day, 10);
        assert_eq!(cfg.limits.request_timeout_ms, Some(20000));
        assert!(cfg.policy.require_guardian_consent);
        assert_eq!(cfg.redis_prefix, "123");
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(cfg.admin_token.as_ref().unwrap()),
            "0123456789"
        );
        assert_eq!(cfg.token_kind, wechat::TokenKind::Classic);
        assert_eq!(cfg.listen, "127.0.0.1:9999");
        assert_eq!(cfg.apps[0].secret_env.as_deref(), Some("WXRN_SECRET_DEMO"));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[limits]\nper_openid_per_day = 3\nper_key_per_second = 9\n",
        )
        .unwrap();
        let cfg = load_with(Some(&p), &[("WXRN_LIMITS__PER_OPENID_PER_DAY", "10")]).unwrap();
        assert_eq!(cfg.limits.per_openid_per_day, 10);
        assert_eq!(
            cfg.limits.per_key_per_second, 9,
            "the file's other keys stay"
        );
    }

    #[test]
    fn relative_paths_in_the_file_resolve_against_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "data_dir = \"./state\"\nupstream_ca_file = \"ca.pem\"\ndatabase_url = \"sqlite://db/x.db\"\n\
             [blind_index]\nkey_file = \"keys/master.key\"\nkey_version = 2\n\
             [[blind_index.previous]]\nversion = 1\nkey_file = \"keys/v1.key\"\n",
        )
        .unwrap();
        let cfg = load_with(Some(&p), &[]).unwrap();
        let d = dir.path();
        assert_eq!(cfg.data_dir, d.join("state"));
        assert_eq!(cfg.upstream_ca_file, Some(d.join("ca.pem")));
        assert_eq!(cfg.blind_index.key_file, Some(d.join("keys/master.key")));
        assert_eq!(
            cfg.blind_index.previous[0].key_file,
            Some(d.join("keys/v1.key"))
        );
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&cfg.database_url()),
            format!("sqlite://{}", d.join("db/x.db").display())
        );

        // From the environment, a relative path stays relative to the working directory.
        let cfg = load_with(Some(&p), &[("WXRN_DATA_DIR", "here")]).unwrap();
        assert_eq!(cfg.data_dir, Path::new("here"));
        // Absolute paths are kept.
        std::fs::write(&p, "data_dir = \"/var/lib/wxrealname\"\n").unwrap();
        let cfg = load_with(Some(&p), &[]).unwrap();
        assert_eq!(cfg.data_dir, Path::new("/var/lib/wxrealname"));
    }

    /// Every `*_file` and `*_dir` key the template documents is resolved against the file's directory: a path
    /// key added to the template but not to `Config::paths_mut` fails here.
    #[test]
    fn every_path_key_in_the_template_is_resolved() {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wxrealname.example.toml"),
        )
        .unwrap();
        let mut path_keys = Vec::new();
        let mut table = String::new();
        for line in template.lines() {
            let l = line.trim_start_matches('#').trim();
            if let Some(t) = l.strip_prefix("[[").and_then(|t| t.strip_suffix("]]")) {
                table = t.to_owned();
            } else if let Some(t) = l.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                table = t.to_owned();
            } else if let Some((k, _)) = l.split_once(" = ") {
                let k = k.trim();
                if (k.ends_with("_file") || k.ends_with("_dir"))
                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    path_keys.push(if table.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{table}.{k}")
                    });
                }
            }
        }
        assert!(path_keys.len() >= 3, "{path_keys:?}");
        // A file that sets each of them to a relative path...
        let mut doc = toml::Table::new();
        for k in &path_keys {
            let mut t = &mut doc;
            let parts: Vec<&str> = k.split('.').collect();
            for p in &parts[..parts.len() - 1] {
                t = t
                    .entry(p.to_string())
                    .or_insert_with(|| toml::Value::Table(Default::default()))
                    .as_table_mut()
                    .unwrap();
            }
            t.insert(parts[parts.len() - 1].into(), format!("rel/{k}").into());
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml::to_string(&doc).unwrap()).unwrap();
        // ...loads with each of them under the file's directory.
        let cfg = toml::Value::try_from(load_with(Some(&p), &[]).unwrap()).unwrap();
        for k in &path_keys {
            let mut v = &cfg;
            for part in k.split('.') {
                v = &v[part];
            }
            assert_eq!(
                v.as_str(),
                dir.path().join(format!("rel/{k}")).to_str(),
                "`{k}` is not resolved against the file's directory (add it to Config::paths_mut)"
            );
        }
    }

    #[test]
    fn errors_name_the_key_and_the_file_and_suggest_the_nearest_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let shown = p.display().to_string();
        for (text, expected) in [
            (
                "listne = \"127.0.0.1:1\"\n",
                format!("unknown key `listne` in {shown}; did you mean `listen`?"),
            ),
            (
                "[limits]\nper_openid_per_dya = 3\n",
                format!(
                    "unknown key `limits.per_openid_per_dya` in {shown}; did you mean `limits.per_openid_per_day`?"
                ),
            ),
            ("zzzz = 1\n", format!("unknown key `zzzz` in {shown}")),
            (
                "[limits]\nmax_in_flight = 0\n",
                format!("invalid value for `limits.max_in_flight` in {shown}: must be at least 1"),
            ),
            (
                "[limits]\nmax_in_flight = \"lots\"\n",
                format!(
                    "invalid value for `limits.max_in_flight` in {shown}: expected usize, found \"lots\""
                ),
            ),
            (
                "token_kind = \"stabel\"\n",
                format!(
                    "invalid value for `token_kind` in {shown}: `stabel` is not one of `stable`, `classic`; did you mean `stable`?"
                ),
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let err = load_with(Some(&p), &[]).unwrap_err().to_string();
            assert_eq!(err, expected, "{text}");
            assert!(!err.contains("default."), "no profile names: {err}");
        }
    }

    #[test]
    fn errors_from_the_environment_name_the_variable() {
        let err = load_with(None, &[("WXRN_LIMITS__PER_OPENID_PER_DYA", "3")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown key `limits.per_openid_per_dya` in environment variable WXRN_LIMITS__PER_OPENID_PER_DYA; \
             did you mean `WXRN_LIMITS__PER_OPENID_PER_DAY`?"
        );
        let err = load_with(None, &[("WXRN_LIMITS__MAX_IN_FLIGHT", "none")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "invalid value for `limits.max_in_flight` in environment variable WXRN_LIMITS__MAX_IN_FLIGHT:"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_secret_with_a_bad_type_is_not_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "admin_token = [\"hunter2-secret\"]\n[[apps]]\nappid = \"wx1\"\nsecret = 5\n",
        )
        .unwrap();
        let err = load_with(Some(&p), &[]).unwrap_err().to_string();
        assert!(err.contains("admin_token"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_syntax_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \n").unwrap();
        let err = load_with(Some(&p), &[]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:", p.display())), "{err}");
    }
}
