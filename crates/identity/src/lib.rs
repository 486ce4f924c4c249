//! Resident ID numbers and names for the WeChat real-name check: normalisation, validation, masking.
//!
//! Everything that reaches WeChat or the store passes through here first, so the rest of the workspace never
//! handles a raw name or ID number: it holds a [`CredId`] or a [`RealName`], whose `Debug` and `Display` mask
//! the value and whose `expose()` is the one, greppable, way to the raw text. Rejections carry a stable machine
//! code and a message in English and Chinese, never the input.
//!
//! Pure: no I/O, and no clock reads except in [`today_in_china`] and the `parse` conveniences that call it;
//! every date-dependent check has an `_on(today)` form.
//!
//! ```
//! use identity::{CredId, RealName};
//!
//! let today = chrono::NaiveDate::from_ymd_opt(2024, 6, 15).unwrap();
//! let id = CredId::parse_on("\u{3000}１１０１０５１９４９１２３１００２ｘ", today)?; // full-width, as IMEs type it
//! assert_eq!(id.expose(), "11010519491231002X");
//! assert_eq!(format!("{id:?}"), "CredId(110***********002X)");
//! assert!(!id.is_minor_on(today));
//!
//! let err = CredId::parse_on("110105491231002", today).unwrap_err();
//! assert_eq!(err.code(), "legacy_15");
//!
//! let name = RealName::parse("阿依古丽・买买提")?; // katakana middle dot, as some IMEs type it
//! assert_eq!(name.expose(), "阿依古丽·买买提");
//! assert_eq!(name.masked(), "阿*******");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`cred_id`]: GB 11643-1999 resident ID numbers: normalisation, the allocation-free validation core
//!   ([`validate_cred_id_on`]), facts (birth date, sex, age, minor), the 15-digit legacy upgrade.
//! - [`name`]: real names as written on a resident ID card: normalisation and validation.
//! - [`mask`]: the masked forms used for display and storage.
//! - [`ids`]: `AppId` and `OpenId`, the WeChat identifiers the check is keyed by.
//! - [`detect`]: [`contains_cred_id`], an ID number hidden in free text (spread out, full-width), for refusing
//!   fields where none belongs.
//! - `text` (private): the padding trimmed from typed values.

pub mod cred_id;
pub mod detect;
pub mod ids;
pub mod mask;
pub mod name;
mod text;

pub use cred_id::{
    CredId, CredIdError, IdFacts, PIPL_MINOR_AGE, Sex, check_char, upgrade_legacy_15,
    validate_cred_id_on,
};
pub use detect::contains_cred_id;
pub use ids::{AppId, IdError, OpenId};
pub use name::{RealName, RealNameError};

/// Asia/Shanghai's offset from UTC in seconds: +8 hours all year (no daylight saving since 1991). ID numbers are
/// written in that calendar, and WeChat's quotas and the gateway's daily limits and budgets turn at its midnight.
pub const CHINA_UTC_OFFSET_SECS: i32 = 8 * 3600;

/// Asia/Shanghai as a chrono offset.
pub fn china_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(CHINA_UTC_OFFSET_SECS).expect("UTC+8 is a valid offset")
}

/// The calendar date in Asia/Shanghai at `t`.
pub fn china_date(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    t.with_timezone(&china_offset()).date_naive()
}

/// Today's date in Asia/Shanghai.
pub fn today_in_china() -> chrono::NaiveDate {
    china_date(chrono::Utc::now())
}
