//! Finding an ID number where none belongs: in free text (a purpose, an Idempotency-Key, an openid) that would
//! otherwise be stored, logged or sent as is.
//!
//! [`contains_cred_id`] reads the text as a person might have typed an ID number into it: digits in any form NFKC
//! folds to ASCII (full-width `１２３`, mathematical `𝟏`), and anything that is neither a letter nor a digit
//! (spaces of every kind, hyphens, dots, slashes, invisible characters) between them ignored. Letters other than
//! a final `X` break a candidate. Every run of 18 such characters (17 digits, then a digit or `X`) is checked as
//! [`crate::validate_cred_id_on`] checks a number: a known province, a real birth date from 1900 on, the ISO 7064
//! check character. A random run of 18 digits passes about 1 time in 70,000, so ordinary numbers (timestamps,
//! order numbers) are rarely taken for one; a real ID number always is.

use crate::cred_id::is_valid_number;
use unicode_normalization::UnicodeNormalization;

/// Stands for a character that ends a candidate (a letter other than `X`).
const BREAK: u8 = b'#';

/// Whether `text` holds a valid resident ID number, possibly spread out by separators or typed in full-width
/// digits. Pure, and linear in the length of `text`.
pub fn contains_cred_id(text: &str) -> bool {
    // What is left of the text once separators are dropped: digits, `X`, and BREAK for any other letter.
    let folded: Vec<u8> = text
        .chars()
        .filter_map(|c| match fold(c) {
            Folded::Char(b) => Some(b),
            Folded::Break => Some(BREAK),
            Folded::Separator => None,
        })
        .collect();
    folded.windows(18).any(|w| {
        w[..17].iter().all(u8::is_ascii_digit)
            && (w[17].is_ascii_digit() || w[17] == b'X')
            && <&[u8; 18]>::try_from(w).is_ok_and(is_valid_number)
    })
}

enum Folded {
    Char(u8),
    Break,
    Separator,
}

/// One character as an ID-number reader sees it.
fn fold(c: char) -> Folded {
    match c {
        '0'..='9' => Folded::Char(c as u8),
        'X' | 'x' => Folded::Char(b'X'),
        _ if c.is_ascii() => {
            if c.is_ascii_alphabetic() {
                Folded::Break
            } else {
                Folded::Separator
            }
        }
        _ => {
            // Full-width and other compatibility digits fold to ASCII under NFKC.
            let mut folded = std::iter::once(c).nfkc();
            match (folded.next(), folded.next()) {
                (Some(d @ '0'..='9'), None) => Folded::Char(d as u8),
                (Some('X' | 'x'), None) => Folded::Char(b'X'),
                _ if c.is_alphanumeric() => Folded::Break,
                _ => Folded::Separator,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contains_cred_id;

    // 11010519491231002X: Beijing, born 1949-12-31, a valid check character.
    const ID: &str = "11010519491231002X";

    #[test]
    fn finds_a_plain_number_anywhere() {
        for text in [
            ID,
            "11010519491231002x",
            "purpose: 11010519491231002X checked",
            "order-11010519491231002X-1",
            "9911010519491231002X",
        ] {
            assert!(contains_cred_id(text), "{text}");
        }
    }

    #[test]
    fn finds_a_number_spread_out_or_full_width() {
        for text in [
            "110105 19491231 002X",
            "110105-1949-1231-002X",
            "1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 X",
            "１１０１０５１９４９１２３１００２Ｘ",
            "１１０１０５　１９４９１２３１　００２ｘ",
            "110105\u{200B}19491231002X",
            "110105.1949.12.31.002X",
            "𝟏𝟏𝟎𝟏𝟎𝟓𝟏𝟗𝟒𝟗𝟏𝟐𝟑𝟏𝟎𝟎𝟐X",
        ] {
            assert!(contains_cred_id(text), "{text}");
        }
    }

    #[test]
    fn ignores_what_is_not_a_valid_number() {
        for text in [
            "",
            "oDEMO-match-adult",
            "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
            "11010519491231002",   // 17 digits
            "110105194912310021",  // wrong check digit
            "110105194913310029",  // month 13
            "990105194912310025",  // no such province
            "110105a19491231002X", // a letter inside
            "X10105194912310021",  // X at the start
            "1101051949123X002X",  // X inside
            "550e8400-e29b-41d4-a716-446655440000",
            "1767225600000",
        ] {
            assert!(!contains_cred_id(text), "{text}");
        }
    }
}
