//! Masked forms for display and storage.
//!
//! Both functions take any string (valid or not, any script) and work on characters, never bytes, so they
//! cannot split a UTF-8 sequence; the output has one character per input character.

/// `张三` -> `张*`, `欧阳娜娜` -> `欧***`, a one-character name -> `*`: the first character stays.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match (chars.next(), chars.clone().next()) {
        (None, _) => String::new(),
        (Some(_), None) => "*".to_owned(),
        (Some(first), Some(_)) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
    }
}

/// `11010519491231002X` -> `110***********002X`.
///
/// Shows at most the first 3 characters (part of the province and city code) and the last 4 (sequence and
/// check character), and never characters 4 to 14, where the birth date of an 18-digit number (characters
/// 7-14) or a 15-digit one (7-12) lies: a 15-digit number shows its last character only. Anything shorter than
/// 8 characters is masked entirely.
pub fn mask_cred_id(id: &str) -> String {
    let len = id.chars().count();
    if len < 8 {
        return "*".repeat(len);
    }
    id.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || (i + 4 >= len && i >= 14) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_their_first_character() {
        for (name, masked) in [
            ("张三", "张*"),
            ("欧阳娜娜", "欧***"),
            ("王", "*"),
            ("", ""),
            ("𠀀𠮷", "𠀀*"),
            ("阿依古丽·买买提", "阿*******"),
        ] {
            assert_eq!(mask_name(name), masked, "{masked}");
        }
    }

    #[test]
    fn id_numbers_show_first_three_and_last_four() {
        assert_eq!(mask_cred_id("11010519491231002X"), "110***********002X");
        assert_eq!(mask_cred_id("110105491231002"), "110***********2");
        assert_eq!(mask_cred_id("1101054"), "*******");
        assert_eq!(mask_cred_id(""), "");
        assert_eq!(mask_cred_id("11010519491231002X99"), "110*************2X99");
    }

    #[test]
    fn masking_counts_characters_not_bytes() {
        assert_eq!(
            mask_cred_id("１１０１０５１９４９１２３１００２Ｘ"),
            "１１０***********００２Ｘ"
        );
        assert_eq!(mask_cred_id("身份证"), "***");
    }
}
