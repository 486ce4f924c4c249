//! GB 11643-1999 resident ID numbers.
use chrono::NaiveDate;
use std::fmt;

/// A valid, normalised 18-character resident ID number. `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CredId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

/// Why an ID number was rejected. `code()` is the stable machine code, `Display` the human message.
/// No variant carries the input (it is personal data); `Legacy15` carries the 18-digit equivalent as a hint,
/// which the caller must treat as personal data too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredIdError {
    #[error("the ID number is empty")]
    Empty,
    #[error("an ID number has 18 characters")]
    Length,
    #[error("an ID number is 17 digits followed by a digit or X")]
    Charset,
    #[error("the check character does not match (ISO 7064 MOD 11-2)")]
    Checksum,
    #[error("the birth date is not a real date between 1900-01-01 and today")]
    Date,
    #[error("the first two digits are not a province code")]
    Province,
    #[error("this is a 15-digit ID number from before 1999; enter the 18-digit number")]
    Legacy15 { hint: Option<String> },
}

impl CredIdError {
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
}

impl CredId {
    /// Parse with today's date in Asia/Shanghai.
    pub fn parse(input: &str) -> Result<Self, CredIdError> {
        Self::parse_on(input, crate::today_in_china())
    }
    /// Parse, judging "not in the future" against `today`.
    pub fn parse_on(_input: &str, _today: NaiveDate) -> Result<Self, CredIdError> {
        unimplemented!()
    }
    /// The normalised number. Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn birth_date(&self) -> NaiveDate {
        unimplemented!()
    }
    pub fn sex(&self) -> Sex {
        unimplemented!()
    }
    pub fn age_on(&self, _today: NaiveDate) -> u32 {
        unimplemented!()
    }
    /// Under 14 on `today` (PIPL Art. 31).
    pub fn is_minor_on(&self, today: NaiveDate) -> bool {
        self.age_on(today) < 14
    }
    pub fn masked(&self) -> String {
        crate::mask::mask_cred_id(&self.0)
    }
}

impl fmt::Debug for CredId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CredId({})", self.masked())
    }
}
