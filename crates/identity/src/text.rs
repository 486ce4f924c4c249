//! Input clean-up shared by ID numbers and names: what counts as padding around a typed value.
//!
//! People paste values from chat messages, spreadsheets and web pages, which bring along ideographic spaces
//! (U+3000, what a Chinese IME types for a space), no-break spaces and invisible characters (zero-width space,
//! joiners, word joiner, byte-order mark, direction marks). Such padding at either end is dropped; inside a value
//! it is a charset error, because there it is not padding but a sign the value is something else.

/// True for a character dropped from either end of a typed value: Unicode `White_Space` (which includes U+3000
/// and U+00A0) and the invisible format characters listed in the module docs.
pub(crate) fn is_padding(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{200B}' // zero-width space
                | '\u{200C}' // zero-width non-joiner
                | '\u{200D}' // zero-width joiner
                | '\u{200E}' // left-to-right mark
                | '\u{200F}' // right-to-left mark
                | '\u{2060}' // word joiner
                | '\u{FEFF}' // byte-order mark / zero-width no-break space
                | '\u{180E}' // Mongolian vowel separator, whitespace before Unicode 6.3
        )
}

/// The value without padding at its ends (any mix, any amount).
pub(crate) fn trim(input: &str) -> &str {
    // Most input has no padding: two byte tests instead of decoding characters from both ends.
    match input.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => input,
        _ => input.trim_matches(is_padding),
    }
}

#[cfg(test)]
mod tests {
    use super::trim;

    #[test]
    fn trims_every_kind_of_padding_in_any_mix() {
        assert_eq!(
            trim("\u{3000}\u{200B} 12\u{FEFF}\u{00A0}\u{2060}\t\u{200D}\u{200C}"),
            "12"
        );
        assert_eq!(trim("\u{200E}a b\u{200F}"), "a b");
        assert_eq!(trim("\u{3000}\u{200B}"), "");
    }

    #[test]
    fn keeps_padding_inside() {
        assert_eq!(trim("1\u{200B}2"), "1\u{200B}2");
        assert_eq!(trim("张\u{3000}三"), "张\u{3000}三");
    }
}
