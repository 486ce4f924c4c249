//! Resident ID numbers: one table per rule, then the facts.

use crate::helpers::{date, full_width, id, today, with_check};
use chrono::Days;
use identity::{CredId, CredIdError, Sex, upgrade_legacy_15, validate_cred_id_on};

/// `Ok(())` or the error code, judged against [`today`]; also checks that the fast path agrees with `parse_on`.
fn outcome(input: &str) -> Result<(), &'static str> {
    let parsed = CredId::parse_on(input, today());
    let fast = validate_cred_id_on(input, today());
    assert_eq!(
        parsed.clone().map(|id| id.facts()),
        fast.clone(),
        "fast path disagrees"
    );
    parsed.map(|_| ()).map_err(|e| e.code())
}

fn check_table(table: &[(&str, Result<(), &'static str>)]) {
    for (i, (input, expected)) in table.iter().enumerate() {
        assert_eq!(outcome(input), *expected, "row {i}");
    }
}

const VALID: &str = "11010519491231002X";

#[test]
fn accepts_a_valid_number_and_exposes_it_normalised() {
    let id = CredId::parse_on(VALID, today()).unwrap();
    assert_eq!(id.expose(), VALID);
    assert_eq!(id.birth_date(), date(1949, 12, 31));
}

#[test]
fn empty_rule() {
    check_table(&[
        ("", Err("empty")),
        ("   ", Err("empty")),
        ("\u{3000}\u{200B}\u{FEFF}\t\n", Err("empty")),
    ]);
}

#[test]
fn length_rule() {
    let huge = "1".repeat(1 << 20);
    let just_over = format!("{VALID}{}", "\u{3000}1".repeat(10)); // trims to more than 72 bytes
    check_table(&[
        ("1", Err("length")),
        ("abc", Err("length")),
        (&VALID[..17], Err("length")),
        (&format!("{VALID}1"), Err("length")),
        ("1101051949123100", Err("length")), // 16 digits
        ("11010519491231002X\u{200B}1", Err("length")), // padding inside is not trimmed
        (&huge, Err("length")),
        (&just_over, Err("length")),
        ("身份证号码", Err("length")),
    ]);
}

#[test]
fn charset_rule() {
    check_table(&[
        ("1101051949123100AX", Err("charset")),
        ("X1010519491231002X", Err("charset")),
        ("11010519491231002Y", Err("charset")),
        ("110105 9491231002X", Err("charset")),
        ("1101051949\u{200B}231002X", Err("charset")),
        ("11010519491231002\u{00D7}", Err("charset")), // the multiplication sign is not X
        ("一一〇一〇五一九四九一二三一〇〇二X", Err("charset")),
        ("11010519491231002\0", Err("charset")),
    ]);
}

#[test]
fn province_rule() {
    for code in (0..100).map(|c| format!("{c:02}")) {
        let number = id(&format!("{code}0101"), date(1990, 1, 1), "123");
        let known = matches!(code.parse::<u32>().unwrap(),
            11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82 | 83);
        let expected = if known { Ok(()) } else { Err("province") };
        assert_eq!(outcome(&number), expected, "province {code}");
    }
}

#[test]
fn abolished_county_codes_are_accepted() {
    // 110103 (Beijing Chongwen) was abolished in 2010 but stays on the cards it issued.
    check_table(&[
        (&id("110103", date(1980, 1, 1), "123"), Ok(())),
        (&id("110104", date(1975, 5, 5), "456"), Ok(())), // Xuanwu, abolished with it
        (&id("119999", date(1975, 5, 5), "456"), Ok(())),
    ]);
}

#[test]
fn date_rule() {
    let tomorrow = today().checked_add_days(Days::new(1)).unwrap();
    check_table(&[
        (&with_check("11010520000229123"), Ok(())),
        (&with_check("11010519000229123"), Err("date")),
        (&with_check("11010520040229123"), Ok(())),
        (&with_check("11010520230229123"), Err("date")),
        (&with_check("11010519000101123"), Ok(())),
        (&with_check("11010518991231123"), Err("date")),
        (&with_check("11010500000101123"), Err("date")),
        (&id("110105", today(), "123"), Ok(())),
        (&id("110105", tomorrow, "123"), Err("date")),
        (&with_check("11010529991231123"), Err("date")),
        (&with_check("11010519900001123"), Err("date")),
        (&with_check("11010519901301123"), Err("date")),
        (&with_check("11010519900100123"), Err("date")),
        (&with_check("11010519900431123"), Err("date")),
        (&with_check("11010519900132123"), Err("date")),
    ]);
}

#[test]
fn checksum_rule() {
    let body = &VALID[..17];
    for last in "0123456789".chars() {
        assert_eq!(
            outcome(&format!("{body}{last}")),
            Err("checksum"),
            "check char {last}"
        );
    }
    check_table(&[
        ("11010519491231002x", Ok(())),
        ("11010519491231003X", Err("checksum")),
        ("01010519491231002X", Err("province")),
    ]);
}

#[test]
fn checks_run_in_the_documented_order() {
    check_table(&[
        // bad charset, province, date and check character: charset is reported
        ("99010518991399002Y", Err("charset")),
        // bad province, date and check character: the province
        ("990105189913990021", Err("province")),
        // bad date and bad check character: the date
        ("110105189913990021", Err("date")),
        // 15 characters that are digits: legacy_15, not length
        ("990105991399002", Err("legacy_15")),
        // 18 characters that are not an ID at all: charset, not province
        ("abcdefghijklmnopqr", Err("charset")),
    ]);
}

#[test]
fn typed_forms_normalise_to_the_same_number() {
    for typed in [
        full_width(VALID),
        full_width("11010519491231002x"),
        "11010519491231002x".to_owned(),
        format!("\u{3000}{VALID}\u{3000}"),
        format!("\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF} {VALID}\t\u{200B}\u{FEFF}"),
        format!("\u{00A0}{}\u{3000}\u{200B}", full_width(VALID)),
        format!("\r\n{VALID}\r\n"),
        format!("{}{}", full_width(&VALID[..9]), &VALID[9..]), // half switched to full-width
        "𝟏𝟏𝟎𝟏𝟎𝟓𝟏𝟗𝟒𝟗𝟏𝟐𝟑𝟏𝟎𝟎𝟐X".to_owned(),                       // mathematical digits, 4 bytes each
        "⑪⓪①⓪⑤①⑨④⑨①②③①⓪⓪②Ｘ".to_owned(),                       // circled digits (NFKC digits too)
    ] {
        let id = CredId::parse_on(&typed, today()).unwrap();
        assert_eq!(id.expose(), VALID, "{typed:?}");
        assert_eq!(id, CredId::parse_on(VALID, today()).unwrap());
    }
}

#[test]
fn legacy_15_digit_numbers_carry_the_18_digit_hint() {
    let upgraded = with_check("11010519491231002");
    for typed in [
        "110105491231002",
        "\u{3000}110105491231002\u{200B}",
        &full_width("110105491231002"),
    ] {
        let err = CredId::parse_on(typed, today()).unwrap_err();
        assert_eq!(
            err,
            CredIdError::Legacy15 {
                hint: Some(upgraded.clone())
            },
            "{typed:?}"
        );
        assert_eq!(upgrade_legacy_15(typed).as_deref(), Some(upgraded.as_str()));
    }
    assert!(CredId::parse_on(&upgraded, today()).is_ok());

    // no hint when the upgrade would not be valid itself
    for (typed, why) in [
        ("110105490231002", "31 February"),
        ("110105491331002", "month 13"),
        ("990105491231002", "no province 99"),
    ] {
        assert_eq!(
            CredId::parse_on(typed, today()),
            Err(CredIdError::Legacy15 { hint: None }),
            "{why}"
        );
        assert_eq!(upgrade_legacy_15(typed), None, "{why}");
    }
    assert_eq!(upgrade_legacy_15(VALID), None);
    assert_eq!(upgrade_legacy_15("11010549123100X"), None);
}

#[test]
fn birth_date_and_sex_come_from_the_number() {
    let woman = CredId::parse_on(VALID, today()).unwrap();
    assert_eq!(
        (woman.birth_date(), woman.sex()),
        (date(1949, 12, 31), Sex::Female)
    );
    let man = CredId::parse_on(&id("440305", date(2000, 2, 29), "131"), today()).unwrap();
    assert_eq!(
        (man.birth_date(), man.sex()),
        (date(2000, 2, 29), Sex::Male)
    );
    assert_eq!(man.facts().sex, Sex::Male);
}

#[test]
fn age_counts_full_years_and_minors_are_under_14() {
    let born = date(2010, 6, 15);
    let holder = CredId::parse_on(&id("310101", born, "001"), today()).unwrap();
    for (on, age, minor) in [
        (date(2010, 6, 15), 0, true),
        (date(2011, 6, 14), 0, true),
        (date(2011, 6, 15), 1, true),
        (date(2024, 6, 14), 13, true),
        (date(2024, 6, 15), 14, false), // the 14th birthday itself
        (date(2024, 12, 31), 14, false),
        (date(2009, 1, 1), 0, true), // before birth
    ] {
        assert_eq!(
            (holder.age_on(on), holder.is_minor_on(on)),
            (age, minor),
            "on {on}"
        );
    }
}

#[test]
fn a_29_february_birthday_counts_on_1_march_in_common_years() {
    let leapling = CredId::parse_on(&id("310101", date(2008, 2, 29), "002"), today()).unwrap();
    for (on, age, minor) in [
        (date(2009, 2, 28), 0, true),
        (date(2009, 3, 1), 1, true),
        (date(2022, 2, 28), 13, true),
        (date(2022, 3, 1), 14, false),
        (date(2024, 2, 28), 15, false),
        (date(2024, 2, 29), 16, false),
    ] {
        assert_eq!(
            (leapling.age_on(on), leapling.is_minor_on(on)),
            (age, minor),
            "on {on}"
        );
    }
}

#[test]
fn every_error_has_a_distinct_code_and_messages_without_the_input() {
    let errors = [
        CredIdError::Empty,
        CredIdError::Length,
        CredIdError::Charset,
        CredIdError::Checksum,
        CredIdError::Date,
        CredIdError::Province,
        CredIdError::Legacy15 {
            hint: Some(VALID.to_owned()),
        },
    ];
    let codes: Vec<_> = errors.iter().map(CredIdError::code).collect();
    assert_eq!(
        codes,
        [
            "empty",
            "length",
            "charset",
            "checksum",
            "date",
            "province",
            "legacy_15"
        ]
    );
    for err in &errors {
        for text in [
            err.to_string(),
            err.message_zh().to_owned(),
            format!("{err:?}"),
        ] {
            assert!(!text.is_empty());
            assert!(
                !text.contains("19491231") && !text.contains(VALID),
                "{text}"
            );
        }
    }
    assert_eq!(
        format!("{:?}", errors[6]),
        r#"Legacy15 { hint: Some("110***********002X") }"#
    );
}

#[test]
fn debug_and_display_mask_the_number() {
    let id = CredId::parse_on(VALID, today()).unwrap();
    assert_eq!(format!("{id:?}"), "CredId(110***********002X)");
    assert_eq!(id.to_string(), "110***********002X");
    assert_eq!(id.masked(), "110***********002X");
    let facts = format!("{:?}", id.facts());
    assert!(!facts.contains("1949"), "{facts}");
}

#[test]
fn parse_uses_todays_date_in_china() {
    assert!(CredId::parse(VALID).is_ok());
    let next_year = identity::today_in_china()
        .checked_add_days(Days::new(366))
        .unwrap();
    assert_eq!(
        CredId::parse(&id("110105", next_year, "123")),
        Err(CredIdError::Date)
    );
}
