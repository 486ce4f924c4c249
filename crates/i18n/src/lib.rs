//! The languages wxrealname speaks, English and Simplified Chinese, and every sentence it says in them.
//!
//! A translator reads the catalogue, nothing else: each entry holds its English and its Chinese side by side.
//! - [`api`]: the HTTP API's errors: per error, `message` (for the integrating developer) and `user_message`
//!   (a sentence a mini program shows its user as is).
//! - [`cli`]: the command line's errors and labels.
//! - [`demo`]: the errors of the demo's own back end (`wxrealname demo`'s web app), shaped like the API's.
//! - The ID number and name rules' messages stay beside their rules (`identity::CredIdError::message_zh`,
//!   `identity::RealNameError::message_zh`; `Display` is the English), because `identity` has no dependencies
//!   to speak of and its callers include the fuzz targets.
//!
//! Placeholders are `{name}`, filled by [`Text::fill`]; both languages of an entry name the same placeholders
//! (a test checks it, and that every Chinese sentence is Chinese and every English one is not).
//!
//! Choosing the language: [`Lang::from_accept_language`] for HTTP (q-values honoured), [`Lang::from_locale_env`]
//! for the command line (`LC_ALL`, then `LC_MESSAGES`, then `LANG`, as POSIX orders them).
//!
//! Pure: no I/O; the one environment read is in [`Lang::from_process_env`].

pub mod api;
pub mod cli;
pub mod demo;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::OnceLock;

/// A language wxrealname speaks. Serialised as `en` / `zh-CN`; parsed from any tag whose primary subtag is
/// `en` or `zh` (`zh-TW` and `zh-Hant` too: Simplified Chinese is closer for them than English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// `en`, `en-US`, `zh`, `zh-CN`, `zh_CN.UTF-8`, ... (case-insensitive). `None` for other languages.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag
            .trim()
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The BCP 47 tag, for `Content-Language` and the configuration: `en` or `zh-CN`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The best language of an `Accept-Language` header (RFC 9110 12.5.4): the supported language with the
    /// highest q-value, the first one listed on a tie. `q=0` means "not this one". `None` when the header names
    /// none we speak (`*` included: it leaves the choice to the server's default).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(Lang, u16)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let mut q = 1000u16;
            for param in parts {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = parse_qvalue(v.trim()).unwrap_or(0);
                }
            }
            if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((lang, q));
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// The command line's language from locale variables: the first set and non-empty of `LC_ALL`,
    /// `LC_MESSAGES`, `LANG`; Chinese when it starts with `zh`, English otherwise (`C`, `POSIX`, `en_US.UTF-8`,
    /// any other language).
    pub fn from_locale_env(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .and_then(Lang::parse)
            .unwrap_or(Lang::En)
    }

    /// [`Lang::from_locale_env`] on this process's environment.
    pub fn from_process_env() -> Lang {
        let var = |k: &str| std::env::var(k).ok();
        Lang::from_locale_env(
            var("LC_ALL").as_deref(),
            var("LC_MESSAGES").as_deref(),
            var("LANG").as_deref(),
        )
    }
}

/// A q-value, in thousandths: `1`, `0.8`, `0.125` (at most three decimals, at most 1).
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Lang::parse(s).ok_or_else(|| format!("unknown language `{s}`: use `en` or `zh-CN`"))
    }
}

impl Serialize for Lang {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.tag())
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One sentence in both languages, from the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub en: &'static str,
    pub zh: &'static str,
}

impl Text {
    pub const fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Zh => self.zh,
        }
    }

    /// The sentence with each `{name}` replaced by its value.
    pub fn fill(self, lang: Lang, args: &[(&str, &dyn fmt::Display)]) -> String {
        let mut out = self.get(lang).to_owned();
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), &value.to_string());
        }
        out
    }

    /// Both languages filled, for a value that is rendered later in a language not yet known.
    pub fn msg(self, args: &[(&str, &dyn fmt::Display)]) -> Msg {
        Msg {
            en: self.fill(Lang::En, args),
            zh: self.fill(Lang::Zh, args),
        }
    }

    /// The sentence in the command line's language ([`cli_lang`]).
    pub fn cli(self) -> &'static str {
        self.get(cli_lang())
    }

    /// [`Text::fill`] in the command line's language.
    pub fn cli_fill(self, args: &[(&str, &dyn fmt::Display)]) -> String {
        self.fill(cli_lang(), args)
    }
}

/// A sentence in both languages, placeholders filled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Msg {
    pub en: String,
    pub zh: String,
}

impl Msg {
    pub fn new(en: impl Into<String>, zh: impl Into<String>) -> Msg {
        Msg {
            en: en.into(),
            zh: zh.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }
}

impl From<Text> for Msg {
    fn from(t: Text) -> Msg {
        Msg::new(t.en, t.zh)
    }
}

static CLI_LANG: OnceLock<Lang> = OnceLock::new();

/// Fix the command line's language for this process (`--lang`, else the locale). The first call wins.
pub fn set_cli_lang(lang: Lang) {
    let _ = CLI_LANG.set(lang);
}

/// The command line's language: what [`set_cli_lang`] fixed, else the locale variables.
pub fn cli_lang() -> Lang {
    *CLI_LANG.get_or_init(Lang::from_process_env)
}

/// Define catalogue entries: `NAME { en: "...", zh: "..." }` becomes `pub const NAME: Text`, and `ALL` lists
/// every entry by name (the tests walk it).
macro_rules! texts {
    ($( $(#[$meta:meta])* $name:ident { en: $en:literal, zh: $zh:literal $(,)? } )*) => {
        $( $(#[$meta])* pub const $name: $crate::Text = $crate::Text { en: $en, zh: $zh }; )*
        /// Every entry of this table, by name.
        pub const ALL: &[(&str, $crate::Text)] = &[ $( (stringify!($name), $name) ),* ];
    };
}
pub(crate) use texts;

/// Whether a sentence holds a CJK ideograph or CJK punctuation.
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}')
    })
}

/// The `{name}` placeholders of a sentence, sorted.
pub fn placeholders(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = s
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_honours_q_values() {
        for (header, want) in [
            ("zh-CN", Some(Lang::Zh)),
            ("zh", Some(Lang::Zh)),
            ("ZH-cn", Some(Lang::Zh)),
            ("en", Some(Lang::En)),
            ("en-US,en;q=0.9", Some(Lang::En)),
            ("zh-CN,zh;q=0.9,en;q=0.8", Some(Lang::Zh)),
            ("en;q=0.5, zh-CN;q=0.8", Some(Lang::Zh)),
            ("zh;q=0.5, en;q=0.5", Some(Lang::Zh)),
            ("fr-FR, en;q=0.3", Some(Lang::En)),
            ("zh;q=0, en;q=0.1", Some(Lang::En)),
            ("zh;q=0", None),
            ("fr", None),
            ("*", None),
            ("", None),
            ("zh;q=2, en", Some(Lang::En)),
            ("zh;q=0.8;foo=bar, en;q=0.7", Some(Lang::Zh)),
        ] {
            assert_eq!(Lang::from_accept_language(header), want, "{header}");
        }
    }

    #[test]
    fn locale_variables_in_posix_order() {
        assert_eq!(
            Lang::from_locale_env(None, None, Some("zh_CN.UTF-8")),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_locale_env(Some("C"), None, Some("zh_CN.UTF-8")),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale_env(Some(""), Some("zh_TW"), Some("en_US")),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_locale_env(None, None, Some("de_DE.UTF-8")),
            Lang::En
        );
        assert_eq!(Lang::from_locale_env(None, None, None), Lang::En);
    }

    #[test]
    fn language_config_values_round_trip() {
        let l: Lang = serde_json::from_str("\"zh-CN\"").unwrap();
        assert_eq!(l, Lang::Zh);
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"zh-CN\"");
        assert!(serde_json::from_str::<Lang>("\"fr\"").is_err());
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        let t = Text {
            en: "no {what} at {path}",
            zh: "{path} 处没有{what}",
        };
        assert_eq!(
            t.fill(Lang::En, &[("what", &"store"), ("path", &"/x")]),
            "no store at /x"
        );
        assert_eq!(t.msg(&[("what", &"库"), ("path", &"/x")]).zh, "/x 处没有库");
        assert_eq!(placeholders(t.en), ["path", "what"]);
    }

    /// Every sentence of every table: the English is English, the Chinese is Chinese, and both name the same
    /// placeholders. A missing translation (an English sentence pasted into `zh`) fails here.
    #[test]
    fn every_catalogue_entry_has_both_languages() {
        let mut entries: Vec<(String, Text)> = cli::ALL
            .iter()
            .map(|(n, t)| (format!("cli::{n}"), *t))
            .collect();
        entries.extend(
            api::request::ALL
                .iter()
                .map(|(n, t)| (format!("api::request::{n}"), *t)),
        );
        for (n, e) in api::ALL.iter().chain(demo::ALL) {
            entries.push((format!("api::{n}.message"), e.message));
            entries.push((format!("api::{n}.user_message"), e.user_message));
        }
        assert!(entries.len() > 40, "{}", entries.len());
        for (name, t) in entries {
            assert!(!t.en.trim().is_empty() && !t.zh.trim().is_empty(), "{name}");
            assert!(!has_cjk(t.en), "{name}: English holds Chinese: {}", t.en);
            assert!(has_cjk(t.zh), "{name}: no Chinese translation: {}", t.zh);
            assert_eq!(placeholders(t.en), placeholders(t.zh), "{name}");
        }
    }

    /// What an end user reads says nothing a developer would: no header names, no field names, no HTTP.
    #[test]
    fn user_messages_hold_no_developer_hints() {
        for (name, e) in api::ALL.iter().chain(demo::ALL) {
            for s in [e.user_message.en, e.user_message.zh] {
                for hint in [
                    "Retry-After",
                    "Authorization",
                    "Idempotency",
                    "appid",
                    "openid",
                    "API key",
                    "`",
                    "_",
                    "HTTP",
                    "JSON",
                ] {
                    assert!(!s.contains(hint), "{name}: {s}");
                }
            }
        }
    }
}
