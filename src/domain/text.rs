//! Bounded, trimmed free text (titles, causes, messages) from executors.

use serde::Serialize;
use std::fmt;

/// Non-empty text after trimming, at most `MAX` characters, without control
/// characters other than newline and tab. Limits exist because every
/// character of a title may be paid for in SMS segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(String);

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {found}")]
    TooLong { max: usize, found: usize },
    #[error("contains a control character (U+{0:04X})")]
    ControlCharacter(u32),
}

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty);
        }
        let count = trimmed.chars().count();
        if count > MAX {
            return Err(TextError::TooLong {
                max: MAX,
                found: count,
            });
        }
        if let Some(c) = trimmed
            .chars()
            .find(|c| c.is_control() && *c != '\n' && *c != '\t')
        {
            return Err(TextError::ControlCharacter(c as u32));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(Text::<5>::parse("  abc ").unwrap().as_str(), "abc");
        assert_eq!(Text::<5>::parse("   "), Err(TextError::Empty));
        assert_eq!(
            Text::<3>::parse("вода"),
            Err(TextError::TooLong { max: 3, found: 4 })
        );
        assert_eq!(
            Text::<10>::parse("a\u{7}b"),
            Err(TextError::ControlCharacter(7))
        );
        assert!(Text::<10>::parse("a\nb").is_ok());
    }
}
