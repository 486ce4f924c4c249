//! GB 11643-1999 resident ID numbers (公民身份号码).
//!
//! Eighteen characters: a 6-digit address code (province, city, county, GB/T 2260), an 8-digit birth date
//! `YYYYMMDD`, a 3-digit sequence whose last digit is odd for men and even for women, and an ISO 7064 MOD 11-2
//! check character (`0`-`9` or `X`).
//!
//! # Normalisation
//! What people type is folded before it is checked, in this order:
//! 1. padding is trimmed from both ends: Unicode whitespace (including the ideographic space U+3000) and the
//!    invisible characters that copy-paste brings (U+200B-U+200F, U+2060, U+FEFF);
//! 2. inputs still longer than [`MAX_INPUT_BYTES`] are rejected (`length`) so that huge inputs stay cheap;
//! 3. NFKC (skipped for ASCII input, which it leaves unchanged): full-width digits `１２３` and `Ｘ`, typed by
//!    Chinese IMEs in full-width mode, become ASCII;
//! 4. a final `x` becomes `X`.
//!
//! # Checks
//! In this order, the first failure wins: `empty`, `legacy_15` (15 digits: a pre-1999 number, rejected with
//! the 18-digit equivalent as a hint), `length`, `charset`, `province`, `date`, `checksum`. See
//! [`validate_cred_id_on`].
//!
//! The county part of the address code is deliberately not checked: a number keeps the code of the county that
//! issued it for life, and many codes have been abolished since (110103, Beijing Chongwen district, abolished in
//! 2010, is still on valid cards). Only the province, which has been stable, is checked.

mod validate;
pub(crate) use validate::is_valid_number;

use chrono::NaiveDate;
use std::fmt;

pub use validate::{
    IdFacts, MAX_INPUT_BYTES, PIPL_MINOR_AGE, check_char, upgrade_legacy_15, validate_cred_id_on,
};

/// A valid, normalised 18-character resident ID number. `Debug` and `Display` mask it; [`CredId::expose`]
/// gives the number itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredId {
    number: String,
    facts: IdFacts,
}

/// Sex as encoded in the 17th digit of an ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

/// Why an ID number was rejected. `code()` is the stable machine code, `Display` the English message,
/// `message_zh()` the Chinese one.
///
/// No variant carries the input (it is personal data). `Legacy15` carries the 18-digit equivalent as a hint,
/// which is personal data too: `Debug` masks it, and a caller should show it only to the person who typed it.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredIdError {
    #[error("enter an ID number")]
    Empty,
    #[error("an ID number has 18 characters")]
    Length,
    #[error("an ID number is 17 digits followed by a digit or X")]
    Charset,
    #[error("the ID number's last character does not match the others; check it for a typo")]
    Checksum,
    #[error("the birth date in the ID number is not a real date between 1900-01-01 and today")]
    Date,
    #[error("the first two digits of the ID number are not a province code")]
    Province,
    #[error("this is a 15-digit ID number from before 1999; enter the 18-digit number")]
    Legacy15 {
        /// The 18-digit equivalent, when it is itself a valid number. Personal data.
        hint: Option<String>,
    },
}

impl CredIdError {
    /// Stable machine code: `empty`, `length`, `charset`, `checksum`, `date`, `province` or `legacy_15`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Length => "length",
            Self::Charset => "charset",
            Self::Checksum => "checksum",
            Self::Date => "date",
            Self::Province => "province",
            Self::Legacy15 { .. } => "legacy_15",
        }
    }

    /// The message in Chinese, for the mini-program UI.
    pub fn message_zh(&self) -> &'static str {
        match self {
            Self::Empty => "请填写身份证号",
            Self::Length => "身份证号应为18位",
            Self::Charset => "身份证号应为17位数字加1位数字或X",
            Self::Checksum => "身份证号最后一位与前17位不符，请检查是否输错",
            Self::Date => "身份证号中的出生日期无效",
            Self::Province => "身份证号前两位不是有效的省份代码",
            Self::Legacy15 { .. } => "这是1999年以前的15位身份证号，请填写18位身份证号",
        }
    }
}

impl fmt::Debug for CredIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Empty => "Empty",
            Self::Length => "Length",
            Self::Charset => "Charset",
            Self::Checksum => "Checksum",
            Self::Date => "Date",
            Self::Province => "Province",
            Self::Legacy15 { hint } => {
                let masked = hint.as_deref().map(crate::mask::mask_cred_id);
                return f.debug_struct("Legacy15").field("hint", &masked).finish();
            }
        };
        f.write_str(name)
    }
}

impl CredId {
    /// Parse, judging "not in the future" against today's date in Asia/Shanghai.
    pub fn parse(input: &str) -> Result<Self, CredIdError> {
        Self::parse_on(input, crate::today_in_china())
    }

    /// Parse, judging "not in the future" against `today`. See the module docs for the normalisation and the
    /// order of the checks.
    pub fn parse_on(input: &str, today: NaiveDate) -> Result<Self, CredIdError> {
        let (number, facts) = validate::validate(input, today)?;
        // `number` is ASCII: one allocation and a copy.
        let number = String::from_utf8_lossy(&number).into_owned();
        Ok(Self { number, facts })
    }

    /// The normalised number (18 ASCII characters). Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.number
    }

    /// Birth date, digits 7-14.
    pub fn birth_date(&self) -> NaiveDate {
        self.facts.birth_date
    }

    /// Sex, from the parity of the 17th digit.
    pub fn sex(&self) -> Sex {
        self.facts.sex
    }

    /// Everything the number says about its holder.
    pub fn facts(&self) -> IdFacts {
        self.facts
    }

    /// Full years on `today` (see [`IdFacts::age_on`] for 29 February); 0 before the birth date.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        self.facts.age_on(today)
    }

    /// Under 14 on `today` (PIPL Art. 31).
    pub fn is_minor_on(&self, today: NaiveDate) -> bool {
        self.facts.is_minor_on(today)
    }

    /// `110***********002X`: safe to display and store.
    pub fn masked(&self) -> String {
        crate::mask::mask_cred_id(&self.number)
    }
}

impl fmt::Debug for CredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredId({})", self.masked())
    }
}

/// Masked, like `Debug`, so that a stray `{}` in a log line leaks nothing.
impl fmt::Display for CredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}
