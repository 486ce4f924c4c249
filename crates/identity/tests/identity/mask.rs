//! Masking on inputs that are not valid values: it must never panic or split a character.

use identity::mask::{mask_cred_id, mask_name};

#[test]
fn masks_any_string_by_characters() {
    assert_eq!(mask_name("😀a"), "😀*");
    assert_eq!(mask_name("\u{0301}e"), "\u{0301}*");
    assert_eq!(mask_cred_id("😀😀😀😀😀😀😀😀"), "😀😀😀*****");
    assert_eq!(mask_cred_id("abcdefgh"), "abc*****");
    assert_eq!(mask_cred_id("1234567"), "*******");
}
