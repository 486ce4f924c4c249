//! Names: one table per rule.

use identity::{RealName, RealNameError};

fn outcome(input: &str) -> Result<String, &'static str> {
    RealName::parse(input)
        .map(|n| n.expose().to_owned())
        .map_err(|e| e.code())
}

fn check_table(table: &[(&str, Result<&str, &'static str>)]) {
    for (i, (input, expected)) in table.iter().enumerate() {
        assert_eq!(outcome(input), expected.map(str::to_owned), "row {i}");
    }
}

#[test]
fn accepts_han_names() {
    check_table(&[
        ("张三", Ok("张三")),
        ("欧阳娜娜", Ok("欧阳娜娜")),
        ("王", Ok("王")),
        ("阿依古丽·买买提", Ok("阿依古丽·买买提")),
        ("王〇", Ok("王〇")),
        ("㐀丽", Ok("㐀丽")),               // Extension A
        ("\u{20000}", Ok("\u{20000}")),     // Extension B, 𠀀
        ("𠮷田", Ok("𠮷田")),               // Extension B
        ("张\u{2A700}", Ok("张\u{2A700}")), // Extension C
        ("张\u{2EBF0}", Ok("张\u{2EBF0}")), // Extension I
        ("张\u{30000}", Ok("张\u{30000}")), // Extension G
        ("张\u{31350}", Ok("张\u{31350}")), // Extension H
        ("山\u{FA11}", Ok("山\u{FA11}")),   // 﨑: a unified ideograph in the compatibility block
    ]);
}

#[test]
fn compatibility_forms_fold_to_the_canonical_character() {
    check_table(&[
        ("\u{F900}三", Ok("\u{8C48}三")), // CJK compatibility ideograph 豈 -> 豈
        ("\u{2F00}二", Ok("一二")),       // Kangxi radical ⼀ -> 一
        ("\u{2F805}三", Ok("\u{4FAE}三")), // supplement compatibility ideograph
    ]);
    assert_eq!(
        RealName::parse("\u{F900}三").unwrap(),
        RealName::parse("\u{8C48}三").unwrap()
    );
}

#[test]
fn look_alike_dots_become_the_middle_dot() {
    for dot in [
        '\u{30FB}', '\u{FF65}', '\u{2022}', '\u{2027}', '\u{2219}', '\u{22C5}', '\u{FF0E}', '.',
        '\u{2E31}', '\u{00B7}', '\u{0387}', '\u{2024}',
    ] {
        let typed = format!("阿依古丽{dot}买买提");
        assert_eq!(
            outcome(&typed),
            Ok("阿依古丽\u{00B7}买买提".to_owned()),
            "U+{:04X}",
            dot as u32
        );
    }
}

#[test]
fn padding_is_trimmed() {
    check_table(&[
        ("\u{3000}张三\u{3000}", Ok("张三")),
        (
            "\u{200B}\u{FEFF} 张三\t\u{200D}\u{2060}\u{200C}",
            Ok("张三"),
        ),
        ("\u{00A0}张三\r\n", Ok("张三")),
    ]);
}

#[test]
fn empty_rule() {
    check_table(&[
        ("", Err("empty")),
        ("   ", Err("empty")),
        ("\u{3000}\u{200B}\u{FEFF}", Err("empty")),
    ]);
}

#[test]
fn separator_rule() {
    check_table(&[
        ("·张三", Err("separator")),
        ("张三·", Err("separator")),
        ("张··三", Err("separator")),
        ("张・・三", Err("separator")), // two katakana dots, mapped then doubled
        ("张.·三", Err("separator")),
        ("·", Err("separator")),
        ("...", Err("separator")),
        ("阿·依·古丽", Ok("阿·依·古丽")),
    ]);
}

#[test]
fn charset_rule() {
    check_table(&[
        ("张3", Err("charset")),
        ("张３", Err("charset")), // full-width digit, NFKC 3
        ("张san", Err("charset")),
        ("Zhang San", Err("charset")),
        ("张😀", Err("charset")),
        ("张 三", Err("charset")),
        ("张\u{3000}三", Err("charset")),
        ("张\u{200B}三", Err("charset")),
        ("张\u{7}三", Err("charset")),
        ("张-三", Err("charset")),
        ("张_三", Err("charset")),
        ("さくら", Err("charset")),
        ("김민준", Err("charset")),
        ("佐々木", Err("charset")),     // 々 is not in the allowed set
        ("张\u{E000}", Err("charset")), // private use
        ("·3", Err("charset")),         // charset is checked before separator
    ]);
}

#[test]
fn length_counts_characters_up_to_50() {
    let han = |n: usize| "张".repeat(n);
    let ext_b = |n: usize| "𠮷".repeat(n);
    let fifty_with_dots = format!("{}·{}", "阿".repeat(24), "买".repeat(25));
    check_table(&[
        (&han(50), Ok(&han(50))),
        (&han(51), Err("length")),
        (&ext_b(50), Ok(&ext_b(50))), // 200 bytes, 50 characters
        (&ext_b(51), Err("length")),
        (&fifty_with_dots, Ok(&fifty_with_dots)),
        (&format!("{fifty_with_dots}张"), Err("length")),
        (&format!("\u{3000}{}\u{3000}", han(50)), Ok(&han(50))),
        (&"a".repeat(1 << 20), Err("length")),
        (&"张".repeat(1 << 18), Err("length")),
    ]);
}

#[test]
fn every_error_has_a_distinct_code_and_messages_without_the_input() {
    let errors = [
        RealNameError::Empty,
        RealNameError::Charset,
        RealNameError::Separator,
        RealNameError::Length,
    ];
    let codes: Vec<_> = errors.iter().map(RealNameError::code).collect();
    assert_eq!(codes, ["empty", "charset", "separator", "length"]);
    for err in &errors {
        assert!(!err.to_string().is_empty());
        assert!(!err.message_zh().is_empty());
    }
}

#[test]
fn debug_and_display_mask_the_name() {
    let name = RealName::parse("欧阳娜娜").unwrap();
    assert_eq!(format!("{name:?}"), "RealName(欧***)");
    assert_eq!(name.to_string(), "欧***");
    assert_eq!(name.masked(), "欧***");
    assert_eq!(RealName::parse("张三").unwrap().masked(), "张*");
}
