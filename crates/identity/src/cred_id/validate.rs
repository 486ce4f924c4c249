//! The validation core: normalise, check, extract facts, without allocating for ASCII input.
//!
//! [`super::CredId::parse_on`] is this plus one allocation for the stored number. Everything here is
//! arithmetic on a fixed `[u8; 18]` buffer (no regex, no string parsing of dates) because a gateway validates
//! every request and the sandbox validates every simulated call; the benchmark in `benches/validate.rs` keeps
//! it honest.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

use super::{CredIdError, Sex};
use crate::text;

/// Trimmed inputs longer than this are rejected as [`CredIdError::Length`] before normalisation, so a huge input
/// costs no more than a short one. 18 characters of at most 4 UTF-8 bytes each: even an ID number typed in
/// mathematical digits (`𝟏`, 4 bytes, NFKC `1`) still gets through to normalisation.
pub const MAX_INPUT_BYTES: usize = 18 * 4;

/// Age (full years) from which PIPL Art. 31 no longer treats a person as a minor needing guardian consent.
pub const PIPL_MINOR_AGE: u32 = 14;

/// ISO 7064 MOD 11-2 weights, 2^(17 - i) mod 11 for position i.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each weighted sum mod 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// Province-level codes (GB/T 2260 first two digits) in use on resident ID cards, as a bit set indexed by code.
/// 71 and 83 are Taiwan, 81 Hong Kong, 82 Macao (residence permits since 2018).
const PROVINCES: u128 = {
    let ranges: [(u32, u32); 8] = [
        (11, 15),
        (21, 23),
        (31, 37),
        (41, 46),
        (50, 54),
        (61, 65),
        (71, 71),
        (81, 83),
    ];
    let mut set = 0u128;
    let mut r = 0;
    while r < ranges.len() {
        let mut code = ranges[r].0;
        while code <= ranges[r].1 {
            set |= 1 << code;
            code += 1;
        }
        r += 1;
    }
    set
};

/// What a valid ID number says about its holder. `Debug` hides the birth date.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdFacts {
    /// From digits 7-14.
    pub birth_date: NaiveDate,
    /// From the 17th digit: odd for men, even for women.
    pub sex: Sex,
}

impl IdFacts {
    /// Full years reached on `today`; 0 if `today` is before the birth date.
    ///
    /// A year is complete on the birthday itself; someone born on 29 February completes it on 1 March in a
    /// common year (28 February is still before the birthday).
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        if today < self.birth_date {
            return 0;
        }
        let birthday_reached =
            (today.month(), today.day()) >= (self.birth_date.month(), self.birth_date.day());
        let years = today.year() - self.birth_date.year() - i32::from(!birthday_reached);
        u32::try_from(years).unwrap_or(0)
    }

    /// Under 14 on `today` (PIPL Art. 31: processing a minor's data needs a guardian's consent).
    pub fn is_minor_on(&self, today: NaiveDate) -> bool {
        self.age_on(today) < PIPL_MINOR_AGE
    }
}

impl fmt::Debug for IdFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdFacts")
            .field("birth_date", &"****-**-**")
            .field("sex", &self.sex)
            .finish()
    }
}

/// Validate an ID number as [`super::CredId::parse_on`] does, keeping only the facts.
///
/// Checks run in this order and the first failure is returned: `empty` (nothing left after trimming),
/// `legacy_15` (exactly 15 digits after normalisation), `length` (more than [`MAX_INPUT_BYTES`] after trimming,
/// or not 18 characters after normalisation), `charset` (not 17 digits then a digit or `X`), `province`,
/// `date` (not a real date, before 1900-01-01 or after `today`), `checksum`.
///
/// Allocates nothing unless the input is a 15-digit legacy number (the error carries a hint).
pub fn validate_cred_id_on(input: &str, today: NaiveDate) -> Result<IdFacts, CredIdError> {
    validate(input, today).map(|(_, facts)| facts)
}

/// [`validate_cred_id_on`], also handing back the normalised number.
pub(crate) fn validate(input: &str, today: NaiveDate) -> Result<([u8; 18], IdFacts), CredIdError> {
    let number = fold(input)?;
    let facts = check(&number, today)?;
    Ok((number, facts))
}

/// The ISO 7064 MOD 11-2 check character (`b'0'..=b'9'` or `b'X'`) for the first 17 digits of an ID number.
///
/// Expects ASCII digits; other bytes give a meaningless character, never a panic.
pub fn check_char(first17: &[u8; 17]) -> u8 {
    check_char_of(first17)
}

fn check_char_of(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(&b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

/// The 18-digit number for a 15-digit number issued before 1999 (`19` inserted before the 2-digit year, check
/// character appended), after the same normalisation as [`validate_cred_id_on`].
///
/// `None` unless the input is 15 digits whose upgrade is itself a valid number (known province, real date).
/// The result is personal data.
pub fn upgrade_legacy_15(input: &str) -> Option<String> {
    match fold(input) {
        Err(CredIdError::Legacy15 { hint }) => hint,
        _ => None,
    }
}

/// Byte standing for a character that is not ASCII after NFKC, which no check accepts.
const NOT_ASCII: u8 = 0xFF;

/// Trim, normalise and check the shape: `empty`, `legacy_15`, `length`, `charset`.
fn fold(input: &str) -> Result<[u8; 18], CredIdError> {
    let trimmed = text::trim(input);
    if trimmed.is_empty() {
        return Err(CredIdError::Empty);
    }
    if trimmed.len() > MAX_INPUT_BYTES {
        return Err(CredIdError::Length);
    }
    let mut buf = [0u8; 18];
    let len = if trimmed.is_ascii() {
        // NFKC leaves ASCII unchanged: the common case skips it.
        let bytes = trimmed.as_bytes();
        if let Some(slot) = buf.get_mut(..bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        bytes.len()
    } else if let Some(len) = fold_full_width(trimmed, &mut buf) {
        len
    } else {
        let mut len = 0;
        for c in trimmed.nfkc() {
            match buf.get_mut(len) {
                Some(slot) => *slot = if c.is_ascii() { c as u8 } else { NOT_ASCII },
                None => {
                    // 19 characters or more: the length is wrong whatever follows.
                    len += 1;
                    break;
                }
            }
            len += 1;
        }
        len
    };

    if len == 15 && buf[..15].iter().all(u8::is_ascii_digit) {
        let hint = buf.first_chunk::<15>().and_then(upgrade_digits);
        return Err(CredIdError::Legacy15 { hint });
    }
    if len != 18 {
        return Err(CredIdError::Length);
    }
    if buf[17] == b'x' {
        buf[17] = b'X';
    }
    if !buf[..17].iter().all(u8::is_ascii_digit) || !(buf[17].is_ascii_digit() || buf[17] == b'X') {
        return Err(CredIdError::Charset);
    }
    Ok(buf)
}

/// NFKC for the one non-ASCII form people commonly type, full-width digits and `Ｘ` (possibly mixed with
/// ASCII): each maps to one ASCII character and none composes, so a per-character fold is exactly NFKC, at a
/// fraction of its cost. Returns the length in characters, or `None` (and the caller runs NFKC) on any other
/// character.
fn fold_full_width(trimmed: &str, buf: &mut [u8; 18]) -> Option<usize> {
    let mut len = 0;
    for c in trimmed.chars() {
        let byte = match c {
            '\0'..='\x7F' => c as u8,
            '\u{FF10}'..='\u{FF19}' => b'0' + (c as u32 - 0xFF10) as u8,
            'Ｘ' => b'X',
            'ｘ' => b'x',
            _ => return None,
        };
        if let Some(slot) = buf.get_mut(len) {
            *slot = byte;
        }
        len += 1;
    }
    Some(len)
}

fn upgrade_digits(old: &[u8; 15]) -> Option<String> {
    let mut new = [0u8; 18];
    new[..6].copy_from_slice(&old[..6]);
    new[6..8].copy_from_slice(b"19");
    new[8..17].copy_from_slice(&old[6..]);
    new[17] = check_char_of(&new[..17]);
    // A 19xx date is never in the future, so no clock is needed.
    check(&new, NaiveDate::MAX).ok()?;
    Some(new.iter().map(|&b| char::from(b)).collect())
}

/// Whether 17 ASCII digits and a digit or `X` are a valid number on some day: province, a real date from 1900
/// on (however recent), the check character. For [`crate::detect`].
pub(crate) fn is_valid_number(number: &[u8; 18]) -> bool {
    check(number, NaiveDate::MAX).is_ok()
}

/// The checks after the shape, on a buffer `fold` accepted: `province`, `date`, `checksum`.
fn check(number: &[u8; 18], today: NaiveDate) -> Result<IdFacts, CredIdError> {
    let digit = |i: usize| u32::from(number[i].wrapping_sub(b'0'));

    let province = digit(0) * 10 + digit(1);
    if PROVINCES
        .checked_shr(province)
        .is_none_or(|set| set & 1 == 0)
    {
        return Err(CredIdError::Province);
    }

    let year = digit(6) * 1000 + digit(7) * 100 + digit(8) * 10 + digit(9);
    let month = digit(10) * 10 + digit(11);
    let day = digit(12) * 10 + digit(13);
    if year < 1900 || day == 0 || day > days_in_month(year, month) {
        return Err(CredIdError::Date);
    }
    let birth_date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(CredIdError::Date)?;
    if birth_date > today {
        return Err(CredIdError::Date);
    }

    if check_char_of(&number[..17]) != number[17] {
        return Err(CredIdError::Checksum);
    }

    let sex = if digit(16) % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    Ok(IdFacts { birth_date, sex })
}

/// Days in `month` of `year` (Gregorian), 0 for a month that does not exist.
const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn province_set_holds_exactly_the_listed_codes() {
        let listed: Vec<u32> = (0..128).filter(|&c| PROVINCES >> c & 1 == 1).collect();
        let expected: Vec<u32> = [
            11..=15,
            21..=23,
            31..=37,
            41..=46,
            50..=54,
            61..=65,
            71..=71,
            81..=83,
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn days_in_month_follows_the_gregorian_leap_rule() {
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2004, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
        assert_eq!(days_in_month(2023, 0), 0);
        assert_eq!(days_in_month(2023, 13), 0);
    }

    #[test]
    fn weights_are_powers_of_two_mod_11() {
        for (i, w) in WEIGHTS.iter().enumerate() {
            assert_eq!(*w, (1u32 << (17 - i)) % 11, "weight {i}");
        }
    }
}
