//! Building valid ID numbers and fixed dates for the tests.

use chrono::NaiveDate;

/// The "today" most tests judge against.
pub fn today() -> NaiveDate {
    date(2024, 6, 15)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The 18-character number for 17 ASCII digits: the digits and their check character.
pub fn with_check(first17: &str) -> String {
    let digits: [u8; 17] = first17.as_bytes().try_into().expect("17 ASCII digits");
    let mut number = first17.to_owned();
    number.push(char::from(identity::check_char(&digits)));
    number
}

/// A valid number with the given address code, birth date and 3-digit sequence.
pub fn id(address: &str, birth: NaiveDate, sequence: &str) -> String {
    with_check(&format!("{address}{}{sequence}", birth.format("%Y%m%d")))
}

/// ASCII digits and `X` as their full-width forms.
pub fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap(),
            'X' => 'Ｘ',
            'x' => 'ｘ',
            c => c,
        })
        .collect()
}
