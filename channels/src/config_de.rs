//! Lenient numbers for provider settings.
//!
//! Settings can come from environment variables, where every value is
//! text, and a provider section is an internally tagged enum in the
//! service's config — serde buffers those, so the config loader cannot tell
//! a number field from a string field. Numeric settings therefore accept
//! both `587` and `"587"`.

use serde::{Deserialize, Deserializer};
use std::fmt::Display;
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Text(String),
}

pub(crate) fn opt_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64> + FromStr,
    <T as TryFrom<u64>>::Error: Display,
    <T as FromStr>::Err: Display,
{
    let raw: Option<NumOrText> = Option::deserialize(d)?;
    raw.map(|v| match v {
        NumOrText::Num(n) => T::try_from(n).map_err(serde::de::Error::custom),
        NumOrText::Text(t) => t
            .trim()
            .parse()
            .map_err(|e| serde::de::Error::custom(format!("\"{t}\" is not a number: {e}"))),
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct S {
        #[serde(default, deserialize_with = "super::opt_number")]
        port: Option<u16>,
    }

    #[test]
    fn numbers_and_numeric_text_both_parse() {
        let a: S = serde_json::from_str(r#"{"port": 587}"#).unwrap();
        let b: S = serde_json::from_str(r#"{"port": "587"}"#).unwrap();
        let c: S = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!((a.port, b.port, c.port), (Some(587), Some(587), None));
        assert!(serde_json::from_str::<S>(r#"{"port": "smtp"}"#).is_err());
        assert!(serde_json::from_str::<S>(r#"{"port": 70000}"#).is_err());
    }
}
