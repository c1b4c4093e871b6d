//! SMS size rules: which encoding a text needs and how many billed parts it
//! becomes.
//!
//! Operators see this before sending a notice, because one non-GSM character
//! (a Cyrillic letter, a Polish "ł", an emoji) switches the whole message to
//! UCS-2 and cuts the per-part capacity from 160 to 70.

use serde::Serialize;

/// How the handset receives the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SmsEncoding {
    /// The GSM 03.38 default alphabet, 7 bits per character.
    Gsm7,
    /// UTF-16, 16 bits per code unit.
    Ucs2,
}

/// Size of one text as an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SmsInfo {
    pub encoding: SmsEncoding,
    /// Billed message parts.
    pub segments: u32,
    /// Septets for GSM-7 (extension characters count 2) or UTF-16 code units for UCS-2.
    pub units: u32,
}

/// GSM 03.38 basic character set (without the escape code itself).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Characters reached through the escape code; each costs two septets.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

const GSM7_SINGLE: u32 = 160;
/// A concatenated part loses 7 septets to the user data header.
const GSM7_PART: u32 = 153;
const UCS2_SINGLE: u32 = 70;
const UCS2_PART: u32 = 67;

/// Works out encoding, parts and units the way handsets and carriers do.
pub fn analyze(text: &str) -> SmsInfo {
    match gsm7_costs(text) {
        Some(costs) => SmsInfo {
            encoding: SmsEncoding::Gsm7,
            units: costs.iter().sum(),
            segments: count_segments(&costs, GSM7_SINGLE, GSM7_PART),
        },
        None => {
            let costs: Vec<u32> = text.chars().map(|c| c.len_utf16() as u32).collect();
            SmsInfo {
                encoding: SmsEncoding::Ucs2,
                units: costs.iter().sum(),
                segments: count_segments(&costs, UCS2_SINGLE, UCS2_PART),
            }
        }
    }
}

/// Septets per character, or `None` if any character is outside GSM-7.
fn gsm7_costs(text: &str) -> Option<Vec<u32>> {
    text.chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .collect()
}

/// Fills parts greedily with whole characters, because an escape sequence
/// or a surrogate pair must not straddle two parts.
fn count_segments(costs: &[u32], single: u32, part: u32) -> u32 {
    if costs.iter().sum::<u32>() <= single {
        return 1;
    }
    let mut segments = 1;
    let mut used = 0;
    for &cost in costs {
        if used + cost > part {
            segments += 1;
            used = 0;
        }
        used += cost;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(encoding: SmsEncoding, segments: u32, units: u32) -> SmsInfo {
        SmsInfo {
            encoding,
            segments,
            units,
        }
    }

    #[test]
    fn empty_text_is_one_segment() {
        assert_eq!(analyze(""), info(SmsEncoding::Gsm7, 1, 0));
    }

    #[test]
    fn gsm7_boundaries() {
        let a = |n| "a".repeat(n);
        assert_eq!(analyze(&a(160)), info(SmsEncoding::Gsm7, 1, 160));
        assert_eq!(analyze(&a(161)), info(SmsEncoding::Gsm7, 2, 161));
        assert_eq!(analyze(&a(306)), info(SmsEncoding::Gsm7, 2, 306));
        assert_eq!(analyze(&a(307)), info(SmsEncoding::Gsm7, 3, 307));
    }

    #[test]
    fn ucs2_boundaries() {
        let ye = |n| "є".repeat(n);
        assert_eq!(analyze(&ye(70)), info(SmsEncoding::Ucs2, 1, 70));
        assert_eq!(analyze(&ye(71)), info(SmsEncoding::Ucs2, 2, 71));
        assert_eq!(analyze(&ye(134)), info(SmsEncoding::Ucs2, 2, 134));
        assert_eq!(analyze(&ye(135)), info(SmsEncoding::Ucs2, 3, 135));
    }

    #[test]
    fn ukrainian_needs_ucs2() {
        let text = "Відключення води з 10:00 до 14:00 на вул. Шевченка, 12.";
        let result = analyze(text);
        assert_eq!(result.encoding, SmsEncoding::Ucs2);
        assert_eq!(result.units, text.chars().count() as u32);
        assert_eq!(result.segments, 1);
    }

    #[test]
    fn polish_diacritics_need_ucs2_but_plain_polish_fits_gsm7() {
        assert_eq!(
            analyze("Przerwa w dostawie wody: ulica Łąkowa, będzie naprawa.").encoding,
            SmsEncoding::Ucs2
        );
        assert_eq!(
            analyze("Przerwa w dostawie wody na ulicy Lakowej od 10:00.").encoding,
            SmsEncoding::Gsm7
        );
    }

    #[test]
    fn extension_characters_count_two_and_are_never_split() {
        assert_eq!(analyze("€"), info(SmsEncoding::Gsm7, 1, 2));
        assert_eq!(analyze("[x]"), info(SmsEncoding::Gsm7, 1, 5));
        assert_eq!(analyze(&"€".repeat(80)), info(SmsEncoding::Gsm7, 1, 160));
        // 152 septets then '€' would straddle the 153-septet boundary, so it
        // opens the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(analyze(&text), info(SmsEncoding::Gsm7, 2, 164));
        // 306 septets would fit two parts if the escape pair could be split.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(analyze(&text), info(SmsEncoding::Gsm7, 3, 306));
    }

    #[test]
    fn emoji_count_two_units_and_are_never_split() {
        assert_eq!(analyze("🚨"), info(SmsEncoding::Ucs2, 1, 2));
        assert_eq!(analyze(&"🚨".repeat(35)), info(SmsEncoding::Ucs2, 1, 70));
        // 66 units then a surrogate pair that would straddle 67.
        let text = format!("{}🚨{}", "є".repeat(66), "є".repeat(66));
        assert_eq!(analyze(&text), info(SmsEncoding::Ucs2, 3, 134));
    }

    #[test]
    fn serializes_like_the_api_shows_it() {
        let json = serde_json::to_value(analyze("hi")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"encoding": "GSM7", "segments": 1, "units": 2})
        );
    }
}
