//! Real names as written on a resident ID card.
//!
//! # Normalisation
//! 1. Padding is trimmed from both ends, as for ID numbers: Unicode whitespace (including the ideographic space
//!    U+3000) and invisible characters (U+200B-U+200F, U+2060, U+FEFF).
//! 2. Inputs still longer than [`MAX_INPUT_BYTES`] are rejected (`length`) so that huge inputs stay cheap.
//! 3. NFKC. IMEs and copy-paste produce compatibility forms: full-width punctuation, CJK compatibility
//!    ideographs (U+F900-U+FAFF, U+2F800-U+2FA1F) and Kangxi radicals that look exactly like ordinary
//!    characters. NFKC folds them to the canonical character, so the same name typed two ways compares equal
//!    (and hashes equal in the blind index), and WeChat, which compares against the name on file, sees the
//!    canonical form.
//! 4. The dots people type between the parts of a transliterated name (`阿依古丽·买买提`) become the middle dot
//!    U+00B7 that the ID card uses: katakana middle dot U+30FB (and its half-width form U+FF65), bullet U+2022,
//!    hyphenation point U+2027, bullet operator U+2219, dot operator U+22C5, word separator middle dot U+2E31,
//!    full stop `.` (and full-width U+FF0E), Greek ano teleia U+0387.
//!
//! The result is stable: parsing [`RealName::expose`] again gives the same name.
//!
//! # Checks
//! In this order, the first failure wins: `empty` (nothing left after trimming), `length` (more than
//! [`MAX_CHARS`] characters after normalisation, separators included), `charset` (anything but Han characters
//! and the middle dot: digits, Latin, emoji, spaces, controls...), `separator` (a middle dot first, last or next
//! to another).
//!
//! Han characters are the CJK Unified Ideographs and Extensions A to I, counted by `char`, so a character
//! outside the Basic Multilingual Plane (`𠮷`, Extension B) counts as one; the twelve unified ideographs that sit
//! in the compatibility block (such as U+FA11 `﨑`) and `〇` (U+3007, used in names as a numeral) are allowed too.

use std::fmt;
use unicode_normalization::UnicodeNormalization;

use crate::text;

/// The longest name, in characters (the 2016 national rule for names in the household register).
pub const MAX_CHARS: usize = 50;

/// Trimmed inputs longer than this are rejected as `length` before normalisation: more bytes than
/// [`MAX_CHARS`] characters of 4 bytes each cannot normalise to a valid name, as NFKC never merges Han
/// characters.
pub const MAX_INPUT_BYTES: usize = MAX_CHARS * 4;

/// The separator between the parts of a name, as printed on ID cards.
pub const SEPARATOR: char = '\u{00B7}';

/// A valid, normalised name. `Debug` and `Display` mask it; [`RealName::expose`] gives the name itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RealName(String);

/// Why a name was rejected. `code()` is the stable machine code, `Display` the English message, `message_zh()`
/// the Chinese one. No variant carries the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealNameError {
    #[error("enter a name")]
    Empty,
    #[error("a name holds only Chinese characters and the middle dot (·)")]
    Charset,
    #[error("the middle dot (·) may only stand between two parts of a name, once")]
    Separator,
    #[error("a name has at most 50 characters")]
    Length,
}

impl RealNameError {
    /// Stable machine code: `empty`, `charset`, `separator` or `length`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Charset => "charset",
            Self::Separator => "separator",
            Self::Length => "length",
        }
    }

    /// The message in Chinese, for the mini-program UI.
    pub fn message_zh(&self) -> &'static str {
        match self {
            Self::Empty => "请填写姓名",
            Self::Charset => "姓名只能包含汉字和间隔号“·”",
            Self::Separator => "间隔号“·”只能用在姓名中间，且不能连续使用",
            Self::Length => "姓名最多50个字",
        }
    }
}

impl RealName {
    /// Normalise and validate a name as the module docs describe.
    pub fn parse(input: &str) -> Result<Self, RealNameError> {
        let trimmed = text::trim(input);
        if trimmed.is_empty() {
            return Err(RealNameError::Empty);
        }
        if trimmed.len() > MAX_INPUT_BYTES {
            return Err(RealNameError::Length);
        }
        // Every allowed character is its own NFKC form and no look-alike dot, so a name already in canonical
        // form (nearly every name) skips normalisation.
        let canonical = trimmed.chars().all(is_allowed);
        let name: String = if canonical {
            trimmed.to_owned()
        } else {
            trimmed.nfkc().map(fold_dot).collect()
        };
        if name.chars().count() > MAX_CHARS {
            return Err(RealNameError::Length);
        }
        if !canonical && !name.chars().all(is_allowed) {
            return Err(RealNameError::Charset);
        }
        if name.starts_with(SEPARATOR)
            || name.ends_with(SEPARATOR)
            || name.contains("\u{00B7}\u{00B7}")
        {
            return Err(RealNameError::Separator);
        }
        Ok(Self(name))
    }

    /// The normalised name. Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `张*`: safe to display and store.
    pub fn masked(&self) -> String {
        crate::mask::mask_name(&self.0)
    }
}

/// A dot someone typed between the parts of a name, as the middle dot; anything else unchanged.
fn fold_dot(c: char) -> char {
    match c {
        '\u{30FB}' | '\u{FF65}' | '\u{2022}' | '\u{2027}' | '\u{2219}' | '\u{22C5}'
        | '\u{FF0E}' | '.' | '\u{2E31}' | '\u{0387}' => SEPARATOR,
        c => c,
    }
}

/// What a normalised name is made of.
fn is_allowed(c: char) -> bool {
    c == SEPARATOR || is_name_char(c)
}

/// A Han character or `〇`, after NFKC.
fn is_name_char(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'      // CJK Unified Ideographs
        | '\u{3400}'..='\u{4DBF}'    // Extension A
        | '\u{20000}'..='\u{2A6DF}'  // Extension B
        | '\u{2A700}'..='\u{2B73F}'  // Extension C
        | '\u{2B740}'..='\u{2B81F}'  // Extension D
        | '\u{2B820}'..='\u{2CEAF}'  // Extension E
        | '\u{2CEB0}'..='\u{2EBEF}'  // Extension F
        | '\u{2EBF0}'..='\u{2EE5F}'  // Extension I
        | '\u{30000}'..='\u{3134F}'  // Extension G
        | '\u{31350}'..='\u{323AF}'  // Extension H
        // Unified ideographs in the compatibility block: no decomposition, so NFKC keeps them.
        | '\u{FA0E}' | '\u{FA0F}' | '\u{FA11}' | '\u{FA13}' | '\u{FA14}' | '\u{FA1F}'
        | '\u{FA21}' | '\u{FA23}' | '\u{FA24}' | '\u{FA27}' | '\u{FA28}' | '\u{FA29}'
        | '\u{3007}' // 〇
    )
}

impl fmt::Debug for RealName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RealName({})", self.masked())
    }
}

/// Masked, like `Debug`, so that a stray `{}` in a log line leaks nothing.
impl fmt::Display for RealName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::char::decompose_compatible;

    /// The fast path in `RealName::parse` skips NFKC for input made only of allowed characters: sound only if
    /// each of them is its own NFKC form.
    #[test]
    fn every_allowed_character_is_stable_under_nfkc() {
        let unstable: Vec<u32> = (0..=0x3_FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| is_allowed(c) && !c.to_string().nfkc().eq([c]))
            .map(u32::from)
            .collect();
        assert_eq!(unstable, Vec::<u32>::new());
    }

    /// The compatibility-block ideographs `is_name_char` lists are exactly those NFKC leaves alone.
    #[test]
    fn listed_compatibility_ideographs_are_the_ones_nfkc_keeps() {
        let kept: Vec<char> = ('\u{F900}'..='\u{FAFF}')
            .chain('\u{2F800}'..='\u{2FA1F}')
            .filter(|&c| {
                let mut out = Vec::new();
                decompose_compatible(c, |d| out.push(d));
                out == [c] && unicode_normalization::char::is_public_assigned(c)
            })
            .collect();
        let listed: Vec<char> = ('\u{F900}'..='\u{FAFF}')
            .filter(|&c| is_name_char(c))
            .collect();
        assert_eq!(kept, listed);
    }
}
