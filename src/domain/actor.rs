//! Who the journal names. People are `admin`, `organisation:<id>` or
//! `operator:<name>`; the service's own parts are `system:<part>`, a
//! prefix no person's actor has. People's names must also not *read* like
//! the service's: "scheduler", "system", "admin" and "service" are refused
//! for operators and console accounts, and so is anything that looks like
//! them once Unicode tricks are undone (compatibility forms, case,
//! accents, invisible characters, Cyrillic and Greek look-alikes,
//! punctuation).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Scheduled checks, reminders, expiry and missed runs.
pub const SCHEDULER: &str = "system:scheduler";
/// The service itself: configuration changes, sealing the journal.
pub const SERVICE: &str = "system:service";

const RESERVED: [&str; 4] = ["scheduler", "system", "admin", "service"];

/// Refuses a person's name that reads like one of the service's actors;
/// the message says which.
pub fn check_name(name: &str) -> Result<(), String> {
    // After NFKC a fullwidth colon is a colon: "system：x" is two parts.
    let composed: String = name.nfkc().collect();
    let parts = std::iter::once(composed.as_str()).chain(composed.split(':'));
    for part in parts {
        let seen = skeleton(part);
        if let Some(word) = RESERVED.iter().find(|w| skeleton(w) == seen) {
            return Err(format!(
                "reads like \"{word}\", which the journal uses for the service itself; \
                 choose another name"
            ));
        }
    }
    Ok(())
}

/// The letters a reader sees: compatibility forms and accents removed,
/// lower case, look-alikes mapped to one Latin letter, everything that is
/// not a letter or digit dropped.
fn skeleton(s: &str) -> String {
    let letters: String = s
        .nfkd()
        .filter(|c| !is_combining_mark(*c) && !invisible(*c))
        .flat_map(char::to_lowercase)
        .map(look_alike)
        .filter(|c| c.is_alphanumeric())
        .collect();
    letters.replace("rn", "m")
}

/// Characters that render as nothing (or as blank space while counting
/// as letters): zero-width, joiners, direction marks, fillers, tags.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Cyrillic, Greek and ASCII stand-ins for Latin letters (lower case).
/// `l`, `1` and `|` read like `i`, so they all become `i`.
fn look_alike(c: char) -> char {
    match c {
        'а' | 'ɑ' | 'α' | '@' => 'a',
        'в' | 'β' | 'ь' => 'b',
        'с' | 'ϲ' | 'ς' => 'c',
        'ԁ' => 'd',
        'е' | 'є' | 'ε' | 'ҽ' => 'e',
        'һ' | 'н' | 'η' => 'h',
        'і' | 'ı' | 'ι' | 'ӏ' | 'ɩ' | 'l' | '1' | '|' | '!' | 'ǀ' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' | 'μ' => 'm',
        'п' => 'n',
        'о' | 'ο' | 'σ' | 'ө' | '0' => 'o',
        'р' | 'ρ' => 'p',
        'г' => 'r',
        'ѕ' | '$' | '5' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ս' => 'u',
        'х' | 'χ' => 'x',
        'у' | 'γ' | 'ү' => 'y',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_names_and_their_look_alikes_are_refused() {
        for name in [
            "scheduler",
            "Ѕcheduler", // Cyrillic capital dze
            "ADMIN",
            "Sсhеdulеr",     // Cyrillic с, е
            "ѕуѕтем",        // all Cyrillic
            "ａｄｍｉｎ",    // fullwidth
            "𝐚𝐝𝐦𝐢𝐧",         // mathematical bold
            "ad\u{200B}min", // zero-width space
            "adm\u{3164}in", // Hangul filler
            "  admin. ",
            "\"system\"",
            "a-d-m-i-n",
            "ádmín",
            "adm1n",
            "systern",
            "Service",
            "system:scheduler",
            "Olena: admin",
            "αdmιn", // Greek alpha, iota
        ] {
            assert!(check_name(name).is_err(), "{name:?} passed");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        for name in [
            "Олена Коваленко",
            "duty officer 2",
            "Administrator",
            "admiral",
            "Systems team",
            "schedule",
            "Łukasz",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn the_message_names_the_reserved_word() {
        let err = check_name("Ѕcheduler").unwrap_err();
        assert!(err.contains("\"scheduler\""), "{err}");
    }
}
