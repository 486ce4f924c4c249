//! Masked forms for display and storage.

/// `张三` -> `张*`, `欧阳娜娜` -> `欧***`.
pub fn mask_name(_name: &str) -> String {
    unimplemented!()
}

/// `11010519491231002X` -> `110***********002X`: first 3 and last 4 at most, never the birth date.
pub fn mask_cred_id(_id: &str) -> String {
    unimplemented!()
}
