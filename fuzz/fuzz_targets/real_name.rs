//! Names: `RealName::parse` and masking, on any string.
//!
//! Beyond "no panic": a parsed name is stable (re-parses to itself), within the length rule, made of allowed
//! characters with the separator only inside; its masked forms (`masked()`, Debug, Display) keep only the first
//! character; rejections are fixed sentences that never quote the input.
#![no_main]

use identity::mask::mask_name;
use identity::name::{MAX_CHARS, SEPARATOR};
use identity::{RealName, RealNameError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match RealName::parse(input) {
        Ok(name) => valid(&name),
        Err(e) => rejected(&e),
    }

    // Masking any string: same number of characters, only the first one visible.
    let masked = mask_name(input);
    assert_eq!(masked.chars().count(), input.chars().count());
    let visible = if input.chars().count() > 1 { 1 } else { 0 };
    assert!(masked.chars().skip(visible).all(|c| c == '*'));
});

fn valid(name: &RealName) {
    let text = name.expose();
    let chars: Vec<char> = text.chars().collect();
    assert!(!chars.is_empty() && chars.len() <= MAX_CHARS);
    assert!(chars.first() != Some(&SEPARATOR) && chars.last() != Some(&SEPARATOR));
    assert!(!text.contains("\u{00B7}\u{00B7}"));
    assert!(
        chars
            .iter()
            .all(|c| *c == SEPARATOR || !c.is_ascii() && !c.is_whitespace() && !c.is_control()),
        "a normalised name holds only Han characters and the middle dot"
    );
    assert_eq!(RealName::parse(text).as_ref(), Ok(name), "not stable");

    let masked = name.masked();
    assert_eq!(masked, mask_name(text));
    for shown in [masked, format!("{name:?}"), format!("{name}")] {
        if chars.len() >= 2 {
            assert!(!shown.contains(text), "the whole name is shown: {shown:?}");
        }
        // Nothing but the first character (and the wrapper's ASCII) is visible.
        let hidden: String = chars[1..].iter().filter(|c| **c != chars[0]).collect();
        for c in hidden.chars() {
            assert!(!shown.contains(c), "a character after the first is shown");
        }
    }
}

/// The message is the fixed sentence of its code, so it cannot quote the input.
fn rejected(e: &RealNameError) {
    let message = e.to_string();
    let expected = match e.code() {
        "empty" => "enter a name",
        "charset" => "a name holds only Chinese characters and the middle dot (·)",
        "separator" => "the middle dot (·) may only stand between two parts of a name, once",
        "length" => "a name has at most 50 characters",
        other => panic!("undocumented code {other}"),
    };
    assert_eq!(message, expected);
    assert!(!e.message_zh().is_empty());
}
