//! Validated recipient addresses.
//!
//! Each type can only be built through its parser, so a `PhoneNumber` is
//! always E.164 and a token always has a shape the provider accepts. Their
//! `Debug` output is masked, because addresses are personal data and debug
//! formatting tends to end up in logs.

use std::fmt;

use phonenumber::Mode;

use crate::ChannelKind;

/// Why a raw string is not a usable address.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AddressError {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("phone number must start with '+' and country code (E.164), got {raw:?}")]
    PhoneMissingCountryCode { raw: String },
    #[error(
        "phone number contains {found:?}; only digits, spaces, dashes, dots and parentheses may follow the '+'"
    )]
    PhoneBadCharacter { found: char },
    #[error("phone number must have 7 to 15 digits after the '+', got {digits}")]
    PhoneLength { digits: usize },
    #[error("not a valid phone number: {reason}")]
    PhoneUnparsable { reason: String },
    #[error("not a valid phone number for country code +{country_code}")]
    PhoneInvalid { country_code: u16 },
    #[error(
        "{number} is a fixed-line number and cannot receive SMS; give a mobile number (a landline can take voice calls)"
    )]
    PhoneFixedLine { number: String },
    #[error("email address has no '@'")]
    EmailNoAt,
    #[error("email address is longer than 254 characters")]
    EmailTooLong,
    #[error("invalid email address: {reason}")]
    EmailInvalid { reason: String },
    #[error("FCM token must be 1 to 4096 characters long, got {len}")]
    FcmTokenLength { len: usize },
    #[error("FCM token contains {found:?}; only letters, digits and _ : . - are allowed")]
    FcmTokenCharacter { found: char },
    #[error("APNs device token must be hexadecimal, found {found:?}")]
    ApnsTokenNotHex { found: char },
    #[error("APNs device token must be an even number of 64 to 200 hex digits, got {len}")]
    ApnsTokenLength { len: usize },
}

/// A phone number in E.164 form, e.g. `+380501234567`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts the usual human separators (spaces, dashes, dots, parentheses)
    /// but insists on a leading `+`: a city service has residents from many
    /// countries, so guessing a default country would mis-route messages.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        Self::parse_typed(raw).map(|(number, _)| number)
    }

    /// A number that can receive a text. A fixed line cannot (numbering
    /// plans say which ranges are fixed lines): an SMS to it is paid for
    /// and read by nobody. Numbers a plan does not tell apart (the US's
    /// "fixed line or mobile") are accepted.
    pub fn parse_for_sms(raw: &str) -> Result<Self, AddressError> {
        let (number, kind) = Self::parse_typed(raw)?;
        if kind == phonenumber::Type::FixedLine {
            return Err(AddressError::PhoneFixedLine {
                number: number.masked(),
            });
        }
        Ok(number)
    }

    fn parse_typed(raw: &str) -> Result<(Self, phonenumber::Type), AddressError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AddressError::Empty {
                what: "phone number",
            });
        }
        let Some(rest) = trimmed.strip_prefix('+') else {
            return Err(AddressError::PhoneMissingCountryCode {
                raw: trimmed.to_owned(),
            });
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                other => return Err(AddressError::PhoneBadCharacter { found: other }),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(AddressError::PhoneLength {
                digits: digits.len(),
            });
        }
        let number = phonenumber::parse(None, format!("+{digits}")).map_err(|e| {
            AddressError::PhoneUnparsable {
                reason: e.to_string(),
            }
        })?;
        if !phonenumber::is_valid(&number) {
            return Err(AddressError::PhoneInvalid {
                country_code: number.code().value(),
            });
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        // Normalizing may drop a national trunk prefix ("+43 0…" → "+43…"),
        // so the length rule is checked again on what is stored: a stored
        // number must parse again (found by the `addresses` fuzzer).
        let stored = e164.len() - 1;
        if !(7..=15).contains(&stored) {
            return Err(AddressError::PhoneLength { digits: stored });
        }
        let kind = number.number_type(&phonenumber::metadata::DATABASE);
        Ok((PhoneNumber(e164), kind))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+38050*****67`: enough to recognise the operator and the number's
    /// tail on a support call without exposing the whole number.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let head = 6.min(chars.len() / 2);
        let tail = 2;
        let hidden = chars.len().saturating_sub(head + tail).max(1);
        let mut out: String = chars[..head].iter().collect();
        out.push_str(&"*".repeat(hidden));
        out.extend(&chars[chars.len().saturating_sub(tail)..]);
        out
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PhoneNumber").field(&self.masked()).finish()
    }
}

/// An email address, lowercased whole. The local part is case-sensitive
/// in principle, but no mail service a resident uses treats it so, and
/// people write `Olena@` and `olena@` for one mailbox: one address must be
/// one identity for limits and de-duplication (`VICTIM@` must not earn a
/// fourth code).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(AddressError::Empty {
                what: "email address",
            });
        }
        if trimmed.len() > 254 {
            return Err(AddressError::EmailTooLong);
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(AddressError::EmailNoAt);
        };
        let normalized = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
        normalized
            .parse::<lettre::Address>()
            .map_err(|e| AddressError::EmailInvalid {
                reason: e.to_string(),
            })?;
        Ok(EmailAddress(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, lowercase.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// `o***@example.com`.
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.masked()).finish()
    }
}

/// An FCM registration token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FcmToken(String);

impl FcmToken {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(AddressError::Empty { what: "FCM token" });
        }
        let len = token.chars().count();
        if len > 4096 {
            return Err(AddressError::FcmTokenLength { len });
        }
        if let Some(found) = token
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-')))
        {
            return Err(AddressError::FcmTokenCharacter { found });
        }
        Ok(FcmToken(token.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_token(&self.0)
    }
}

impl fmt::Debug for FcmToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FcmToken").field(&self.masked()).finish()
    }
}

/// An APNs device token: hex, stored lowercase.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApnsToken(String);

impl ApnsToken {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let token = raw.trim();
        if token.is_empty() {
            return Err(AddressError::Empty {
                what: "APNs device token",
            });
        }
        if let Some(found) = token.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(AddressError::ApnsTokenNotHex { found });
        }
        let len = token.len();
        if !(64..=200).contains(&len) || !len.is_multiple_of(2) {
            return Err(AddressError::ApnsTokenLength { len });
        }
        Ok(ApnsToken(token.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_token(&self.0)
    }
}

impl fmt::Debug for ApnsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApnsToken").field(&self.masked()).finish()
    }
}

/// `a1b2…e9f0`: tokens are long and opaque, so the ends suffice to tell them apart.
fn mask_token(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 8 {
        return "…".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Where one message goes; the variant fixes the channel kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Fcm(FcmToken),
    Apns(ApnsToken),
    Sms(PhoneNumber),
    Email(EmailAddress),
    Voice(PhoneNumber),
}

impl Address {
    pub fn parse(kind: ChannelKind, raw: &str) -> Result<Address, AddressError> {
        Ok(match kind {
            ChannelKind::Fcm => Address::Fcm(FcmToken::parse(raw)?),
            ChannelKind::Apns => Address::Apns(ApnsToken::parse(raw)?),
            ChannelKind::Sms => Address::Sms(PhoneNumber::parse_for_sms(raw)?),
            ChannelKind::Email => Address::Email(EmailAddress::parse(raw)?),
            ChannelKind::Voice => Address::Voice(PhoneNumber::parse(raw)?),
        })
    }

    pub fn kind(&self) -> ChannelKind {
        match self {
            Address::Fcm(_) => ChannelKind::Fcm,
            Address::Apns(_) => ChannelKind::Apns,
            Address::Sms(_) => ChannelKind::Sms,
            Address::Email(_) => ChannelKind::Email,
            Address::Voice(_) => ChannelKind::Voice,
        }
    }

    /// The normalized address as the provider receives it.
    pub fn as_str(&self) -> &str {
        match self {
            Address::Fcm(t) => t.as_str(),
            Address::Apns(t) => t.as_str(),
            Address::Sms(p) | Address::Voice(p) => p.as_str(),
            Address::Email(e) => e.as_str(),
        }
    }

    /// A form safe to show operators without rights to personal data.
    pub fn masked(&self) -> String {
        match self {
            Address::Fcm(t) => t.masked(),
            Address::Apns(t) => t.masked(),
            Address::Sms(p) | Address::Voice(p) => p.masked(),
            Address::Email(e) => e.masked(),
        }
    }
}
