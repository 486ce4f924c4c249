//! WeChat's error codes, as far as the four endpoints use them; any other code passes through as `Other`.
use std::fmt;

macro_rules! errcodes {
    ($($variant:ident = $code:literal, $text:literal;)*) => {
        /// A WeChat `errcode`. Codes this crate does not know keep their value in `Other`, so
        /// `ErrCode::from_code(c).code() == c` for every `c`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrCode {
            $(#[doc = $text] $variant,)*
            /// A code not listed above.
            Other(i64),
        }

        impl ErrCode {
            pub fn from_code(code: i64) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Other(other),
                }
            }

            pub fn code(self) -> i64 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Other(code) => code,
                }
            }

            /// A short English description.
            pub fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Other(_) => "unknown error code",
                }
            }
        }
    };
}

errcodes! {
    SystemBusy = -1, "system busy, try later";
    InvalidCredential = 40001, "invalid credential: access token invalid or not the latest";
    InvalidGrantType = 40002, "invalid grant_type";
    InvalidOpenId = 40003, "invalid openid";
    InvalidAppId = 40013, "invalid appid";
    InvalidAccessToken = 40014, "invalid access token";
    InvalidJsCode = 40029, "invalid js_code";
    InvalidArgs = 40097, "invalid arguments (e.g. cred_type)";
    InvalidAppSecret = 40125, "invalid app secret";
    IpNotWhitelisted = 40164, "caller IP not in the whitelist";
    HighRiskUser = 40226, "high-risk user, login blocked";
    AccessTokenMissing = 41001, "access token missing";
    AccessTokenExpired = 42001, "access token expired";
    DailyQuotaReached = 45009, "daily quota reached";
    RateLimited = 45011, "too frequent, per-minute quota reached";
    InvalidBody = 47001, "request body malformed";
    Unauthorized = 48001, "API unauthorized for this app";
    InvalidCode = 80113, "invalid code: expired, reused, or not the consenting user's";
}

impl ErrCode {
    /// 40001, 40014 and 42001: WeChat refused the access token before doing anything else.
    pub fn is_token_error(self) -> bool {
        matches!(
            self,
            Self::InvalidCredential | Self::InvalidAccessToken | Self::AccessTokenExpired
        )
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

impl From<i64> for ErrCode {
    fn from(code: i64) -> Self {
        Self::from_code(code)
    }
}

// On the wire and in our own APIs an errcode is the bare integer, as WeChat sends it.
impl serde::Serialize for ErrCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for ErrCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Self::from_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KNOWN: [i64; 18] = [
        -1, 40001, 40002, 40003, 40013, 40014, 40029, 40097, 40125, 40164, 40226, 41001, 42001,
        45009, 45011, 47001, 48001, 80113,
    ];

    #[test]
    fn every_known_code_has_its_own_variant() {
        for code in KNOWN {
            let e = ErrCode::from_code(code);
            assert!(
                !matches!(e, ErrCode::Other(_)),
                "{code} fell through to Other"
            );
            assert_eq!(e.code(), code);
            assert_ne!(e.description(), "unknown error code");
        }
        assert_eq!(ErrCode::from_code(80113), ErrCode::InvalidCode);
        assert_eq!(ErrCode::from_code(48001), ErrCode::Unauthorized);
    }

    #[test]
    fn token_errors_are_exactly_the_three() {
        let token: Vec<i64> = KNOWN
            .into_iter()
            .filter(|c| ErrCode::from_code(*c).is_token_error())
            .collect();
        assert_eq!(token, [40001, 40014, 42001]);
        assert!(!ErrCode::Other(40015).is_token_error());
    }

    #[test]
    fn display_and_serde() {
        assert_eq!(
            ErrCode::AccessTokenExpired.to_string(),
            "42001 (access token expired)"
        );
        assert_eq!(
            ErrCode::Other(99999).to_string(),
            "99999 (unknown error code)"
        );
        assert_eq!(
            serde_json::to_string(&ErrCode::InvalidCode).unwrap(),
            "80113"
        );
        assert_eq!(
            serde_json::from_str::<ErrCode>("-1").unwrap(),
            ErrCode::SystemBusy
        );
    }

    proptest! {
        #[test]
        fn round_trip(code in any::<i64>()) {
            prop_assert_eq!(ErrCode::from_code(code).code(), code);
            let known = KNOWN.contains(&code);
            prop_assert_eq!(matches!(ErrCode::from_code(code), ErrCode::Other(_)), !known);
        }
    }
}
