//! ID numbers: `CredId::parse_on`, `validate_cred_id_on`, `upgrade_legacy_15` and masking, on any string.
//!
//! Beyond "no panic": the two validators agree; a parsed number is canonical (18 ASCII characters, right check
//! character) and re-parses to itself; its facts match its digits; no masked or formatted form (Debug,
//! Display, error messages) shows the birth date digits or the number; a legacy hint is itself a valid number.
#![no_main]

use chrono::{Datelike, NaiveDate};
use identity::mask::mask_cred_id;
use identity::{CredId, CredIdError, check_char, upgrade_legacy_15, validate_cred_id_on};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte moves "today" over ~70 years, so the future-date and minor rules see both sides.
    let Some((&day, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let today =
        NaiveDate::from_ymd_opt(1960, 1, 1).unwrap() + chrono::Days::new(u64::from(day) * 100);

    let parsed = CredId::parse_on(input, today);
    let facts = validate_cred_id_on(input, today);
    match (&parsed, &facts) {
        (Ok(id), Ok(f)) => assert_eq!(id.facts(), *f),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("parse_on and validate_cred_id_on disagree"),
    }

    match parsed {
        Ok(id) => valid(&id, today),
        Err(e) => rejected(&e, input),
    }

    // Masking any string: one output character per input character, characters 4 to 14 always hidden.
    let masked = mask_cred_id(input);
    assert_eq!(masked.chars().count(), input.chars().count());
    let len = input.chars().count();
    for (i, c) in masked.chars().enumerate() {
        if (3..14).contains(&i) || len < 8 {
            assert_eq!(c, '*', "position {i} of a masked ID number is visible");
        }
    }

    if let Some(hint) = upgrade_legacy_15(input) {
        // A legacy number is a 19xx birth: valid on any day from 2000 on, whatever the fuzzed "today".
        let upgraded = CredId::parse_on(&hint, NaiveDate::from_ymd_opt(2000, 1, 1).unwrap())
            .expect("an upgrade hint is a valid 18-digit number");
        assert_eq!(upgraded.expose(), hint);
        assert_eq!(
            &hint[6..8],
            "19",
            "a 15-digit number was issued for a 19xx birth"
        );
    }
});

fn valid(id: &CredId, today: NaiveDate) {
    let number = id.expose();
    let bytes = number.as_bytes();
    assert_eq!(bytes.len(), 18);
    assert!(bytes[..17].iter().all(u8::is_ascii_digit));
    let first17: &[u8; 17] = bytes[..17].try_into().unwrap();
    assert_eq!(
        check_char(first17),
        bytes[17],
        "wrong check character accepted"
    );

    // Canonical: parsing the normalised form gives the same value.
    assert_eq!(CredId::parse_on(number, today).as_ref(), Ok(id));

    // The facts are the digits.
    let birth = id.birth_date();
    let digits = &number[6..14];
    assert_eq!(
        digits,
        format!("{:04}{:02}{:02}", birth.year(), birth.month(), birth.day())
    );
    assert!(birth <= today && birth.year() >= 1900);
    let odd = (bytes[16] - b'0') % 2 == 1;
    assert_eq!(id.sex() == identity::Sex::Male, odd);
    assert_eq!(
        id.is_minor_on(today),
        id.age_on(today) < identity::PIPL_MINOR_AGE
    );

    // Nothing shown reveals the birth date or the number.
    for shown in [
        id.masked(),
        format!("{id:?}"),
        format!("{id}"),
        format!("{:?}", id.facts()),
    ] {
        assert!(
            !shown.contains(digits),
            "birth date digits shown: {shown:?}"
        );
        assert!(!shown.contains(number));
    }
    assert_eq!(id.masked(), mask_cred_id(number));
}

fn rejected(e: &CredIdError, input: &str) {
    // Messages are fixed sentences: none quotes the input.
    let message = e.to_string();
    assert!(!message.is_empty() && !e.message_zh().is_empty());
    let debug = format!("{e:?}");
    if let CredIdError::Legacy15 { hint } = e {
        assert_eq!(upgrade_legacy_15(input), *hint);
        if let Some(hint) = hint {
            assert!(!debug.contains(hint.as_str()) && !debug.contains(&hint[6..14]));
            assert!(!message.contains(hint.as_str()));
        }
    }
    // A digit run from the input is never quoted (the only digits in messages are "18", "17", "15", "1900",
    // "1999").
    for run in input
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| r.len() >= 5)
    {
        assert!(
            !message.contains(run) && !debug.contains(run),
            "{e:?} quotes the input"
        );
    }
}
