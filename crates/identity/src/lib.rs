//! Resident ID numbers and names for the WeChat real-name check.
//!
//! Pure: no I/O, no clock reads except in the `*_today` convenience functions.
//!
//! # Layout
//! - [`cred_id`]: GB 11643-1999 resident ID numbers: normalisation, validation, facts (birth date, sex, age).
//! - [`name`]: real names as written on a resident ID card: normalisation and validation.
//! - [`ids`]: `AppId` and `OpenId`, the WeChat identifiers the check is keyed by.
//! - [`mask`]: the masked forms used for display and storage.

pub mod cred_id;
pub mod ids;
pub mod mask;
pub mod name;

pub use cred_id::{CredId, CredIdError, Sex};
pub use ids::{AppId, IdError, OpenId};
pub use name::{RealName, RealNameError};

/// Today's date in Asia/Shanghai (UTC+8, no daylight saving since 1991), the calendar ID numbers are written in.
pub fn today_in_china() -> chrono::NaiveDate {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::Utc::now().with_timezone(&offset).date_naive()
}
