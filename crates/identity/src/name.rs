//! Real names as written on a resident ID card.
use std::fmt;

/// A valid, normalised name. `Debug` masks it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RealName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealNameError {
    #[error("the name is empty")]
    Empty,
    #[error("a name holds only Chinese characters and the middle dot")]
    Charset,
    #[error("the middle dot may only stand between two parts of a name")]
    Separator,
    #[error("a name has at most 50 characters")]
    Length,
}

impl RealNameError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Charset => "charset",
            Self::Separator => "separator",
            Self::Length => "length",
        }
    }
}

impl RealName {
    pub fn parse(_input: &str) -> Result<Self, RealNameError> {
        unimplemented!()
    }
    /// The normalised name. Personal data: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> String {
        crate::mask::mask_name(&self.0)
    }
}

impl fmt::Debug for RealName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RealName({})", self.masked())
    }
}
