//! Properties over generated inputs.

use crate::helpers::{date, full_width, id, today};
use identity::mask::{mask_cred_id, mask_name};
use identity::{CredId, RealName, Sex, upgrade_legacy_15, validate_cred_id_on};
use proptest::prelude::*;
use proptest::sample::select;
use unicode_normalization::UnicodeNormalization;

const PROVINCES: [&str; 41] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82", "83", "11", "31", "44", "51", "65", "71",
];

/// A valid number: province, any county digits, a birth date from 1900-01-01 to today, any sequence.
fn valid_id() -> impl Strategy<Value = String> {
    let days = (today() - date(1900, 1, 1)).num_days() as u64;
    (select(&PROVINCES[..]), "[0-9]{4}", 0..=days, "[0-9]{3}").prop_map(
        |(province, county, offset, seq)| {
            let birth = date(1900, 1, 1)
                .checked_add_days(chrono::Days::new(offset))
                .unwrap();
            id(&format!("{province}{county}"), birth, &seq)
        },
    )
}

/// Strings made of what ID numbers and names are made of, plus the characters that trip normalisation.
fn id_like() -> impl Strategy<Value = String> {
    let alphabet = vec![
        '0',
        '1',
        '2',
        '9',
        'X',
        'x',
        'Ｘ',
        '１',
        '０',
        '𝟏',
        ' ',
        '\u{3000}',
        '\u{200B}',
        '\u{FEFF}',
        '\u{FDFA}',
        '\u{0301}',
        '张',
        '·',
        '・',
        '.',
        '\u{F900}',
        '𠮷',
        '〇',
        'a',
        '\0',
        '\u{10FFFF}',
    ];
    proptest::collection::vec(select(alphabet), 0..80).prop_map(String::from_iter)
}

fn huge() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..5000).prop_map(String::from_iter)
}

fn exercise(input: &str) {
    let parsed = CredId::parse_on(input, today());
    assert_eq!(
        parsed.clone().map(|id| id.facts()),
        validate_cred_id_on(input, today())
    );
    let _ = upgrade_legacy_15(input);
    let _ = RealName::parse(input);
    assert_eq!(mask_name(input).chars().count(), input.chars().count());
    assert_eq!(mask_cred_id(input).chars().count(), input.chars().count());
}

proptest! {
    #[test]
    fn nothing_panics_on_arbitrary_strings(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn nothing_panics_on_huge_strings(s in huge()) {
        exercise(&s);
    }

    #[test]
    fn nothing_panics_on_id_like_strings(s in id_like()) {
        exercise(&s);
    }

    #[test]
    fn a_valid_number_parses_and_any_one_changed_character_breaks_it(
        number in valid_id(),
        position in 0usize..18,
        shift in 1u8..11,
    ) {
        let id = CredId::parse_on(&number, today()).unwrap();
        prop_assert_eq!(id.expose(), number.as_str());
        prop_assert_eq!(id.birth_date().format("%Y%m%d").to_string(), &number[6..14]);
        let sex = if (number.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female };
        prop_assert_eq!(id.sex(), sex);

        // Move the character along the check alphabet; for digits, stay among digits.
        let alphabet = b"0123456789X";
        let modulus = if position == 17 { 11 } else { 10 };
        let mut changed = number.clone().into_bytes();
        let old = alphabet.iter().position(|&b| b == changed[position]).unwrap();
        changed[position] = alphabet[(old + usize::from(shift)) % modulus];
        prop_assume!(changed[position] != number.as_bytes()[position]);
        let changed = String::from_utf8(changed).unwrap();
        prop_assert!(CredId::parse_on(&changed, today()).is_err(), "{} still valid", position);
    }

    #[test]
    fn masking_never_reveals_the_birth_date(number in valid_id()) {
        let masked = CredId::parse_on(&number, today()).unwrap().masked();
        prop_assert_eq!(&masked[..3], &number[..3]);
        prop_assert_eq!(&masked[14..], &number[14..]);
        prop_assert!(masked[3..14].bytes().all(|b| b == b'*'));
        let legacy = format!("{}{}", &number[..6], &number[8..17]);
        prop_assert!(mask_cred_id(&legacy).chars().skip(3).take(11).all(|c| c == '*'));
    }

    #[test]
    fn masking_hides_characters_4_to_14_of_anything(s in any::<String>()) {
        let masked: Vec<char> = mask_cred_id(&s).chars().collect();
        let hidden = if masked.len() < 8 { 0..masked.len() } else { 3..masked.len().min(14) };
        prop_assert!(masked[hidden].iter().all(|&c| c == '*'));
    }

    #[test]
    fn id_normalisation_is_idempotent(
        number in valid_id(),
        wide in any::<bool>(),
        lower in any::<bool>(),
        pad in select(vec!["", " ", "\u{3000}", "\u{200B}\u{FEFF}", "\t\u{2060}"]),
    ) {
        let mut typed = if lower { number.replace('X', "x") } else { number.clone() };
        if wide { typed = full_width(&typed) }
        let typed = format!("{pad}{typed}{pad}");
        let id = CredId::parse_on(&typed, today()).unwrap();
        prop_assert_eq!(id.expose(), number.as_str());
        prop_assert_eq!(CredId::parse_on(id.expose(), today()).unwrap(), id);
    }

    /// The ASCII and full-width shortcuts agree with plain NFKC on whatever they accept.
    #[test]
    fn shortcuts_agree_with_nfkc(s in id_like()) {
        let padding = |c: char| c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}');
        let reference: String = s.trim_matches(padding).nfkc().collect();
        prop_assert_eq!(
            validate_cred_id_on(&s, today()).ok(),
            validate_cred_id_on(&reference, today()).ok()
        );
    }

    #[test]
    fn name_normalisation_is_idempotent(s in id_like()) {
        if let Ok(name) = RealName::parse(&s) {
            prop_assert_eq!(RealName::parse(name.expose()).unwrap(), name);
        }
    }

    #[test]
    fn names_of_han_and_inner_dots_parse_and_stay_equal(
        parts in proptest::collection::vec("[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}〇]{1,8}", 1..4),
        dot in select(vec!['·', '・', '.', '•', '\u{FF0E}']),
    ) {
        let typed = parts.join(&dot.to_string());
        let canonical = parts.join("·");
        let name = RealName::parse(&typed).unwrap();
        prop_assert_eq!(name.expose(), canonical.as_str());
        prop_assert_eq!(RealName::parse(name.expose()).unwrap(), name);
    }
}

/// Separators a person might put between the characters of an ID number.
fn separator() -> impl Strategy<Value = &'static str> {
    select(vec![
        "", "", " ", "-", "\u{3000}", "\u{200B}", ".", "/", " - ",
    ])
}

proptest! {
    /// A valid number is found in any text around it, however it is spread out (any separator between any
    /// characters), in full-width digits or with a lower-case x.
    #[test]
    fn contains_cred_id_finds_any_valid_number_however_written(
        number in valid_id(),
        separators in proptest::collection::vec(separator(), 17),
        full in any::<bool>(),
        lower in any::<bool>(),
        before in "[a-z ,:;!?张三]{0,20}",
        after in "[a-z ,:;!?张三]{0,20}",
    ) {
        let number = if lower { number.to_ascii_lowercase() } else { number };
        let number = if full { full_width(&number) } else { number };
        let mut spread = String::new();
        for (i, c) in number.chars().enumerate() {
            spread.push(c);
            if let Some(sep) = separators.get(i) {
                spread.push_str(sep);
            }
        }
        // A letter right before or after is a boundary, not part of the number: put a space between.
        let text = format!("{before} {spread} {after}");
        prop_assert!(identity::contains_cred_id(&text), "{}", text.len());
    }

    /// Text that holds fewer than 17 digits (any openid-like or free text) is never taken for an ID number.
    #[test]
    fn contains_cred_id_never_fires_without_seventeen_digits(text in "[A-Za-z_\\-张三 ]{0,40}[0-9]{0,16}[A-Za-z_\\- ]{0,40}") {
        prop_assert!(!identity::contains_cred_id(&text));
    }

    /// It agrees with validation on 18-character inputs: a number `CredId::parse_on` accepts is found; one
    /// it refuses for its checksum is not.
    #[test]
    fn contains_cred_id_agrees_with_validation(number in valid_id(), last in select(vec!['0','1','2','3','4','5','6','7','8','9','X'])) {
        let mut altered = number[..17].to_owned();
        altered.push(last);
        let valid = validate_cred_id_on(&altered, today()).is_ok();
        prop_assert_eq!(identity::contains_cred_id(&altered), valid);
    }
}
