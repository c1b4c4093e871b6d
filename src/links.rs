//! URLs Tocsin hands out: acknowledgement and unsubscribe links for
//! residents and status callback URLs for providers.
//!
//! A resident's link carries the delivery id and an HMAC of it under a
//! server secret, so links cannot be guessed or forged and nothing needs
//! to be stored per delivery. Each kind of link MACs a different prefix
//! (`Purpose`), so an acknowledgement token never works as an unsubscribe
//! token or the other way round.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tocsin_channels::ChannelKind;

use crate::domain::{DeliveryId, ResidentId};

/// 128 bits of MAC: far beyond guessing, short enough for an SMS link.
const MAC_BYTES: usize = 16;

/// What a resident's link does; MACed first (domain separation).
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Ack,
    Unsubscribe,
    /// A resident's link to see and delete their own subscription.
    Manage,
    /// A one-time code, MACed with the id of its request.
    Code,
}

impl Purpose {
    fn prefix(self) -> &'static [u8] {
        match self {
            Self::Ack => b"ack:",
            Self::Unsubscribe => b"unsubscribe:",
            Self::Manage => b"manage:",
            Self::Code => b"code:",
        }
    }
}

#[derive(Clone)]
pub struct Links {
    base: String,
    /// The HMAC keyed once: keying hashes the key's two pads, which every
    /// message's links would otherwise repeat.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Links {
    pub fn new(base: String, key: Vec<u8>) -> Self {
        let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        Self { base, keyed }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn hmac(&self, purpose: Purpose, id: i64) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(purpose.prefix());
        mac.update(id.to_string().as_bytes());
        mac
    }

    fn token(&self, purpose: Purpose, id: i64) -> String {
        let mac = self.hmac(purpose, id).finalize().into_bytes();
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(&mac[..MAC_BYTES]))
    }

    /// The id a token names, if the token is genuine for `purpose`.
    fn verify(&self, purpose: Purpose, token: &str) -> Option<i64> {
        let (id, mac) = token.split_once('.')?;
        let id: i64 = id.parse().ok()?;
        let given = URL_SAFE_NO_PAD.decode(mac).ok()?;
        // verify_truncated_left compares in constant time.
        self.hmac(purpose, id).verify_truncated_left(&given).ok()?;
        (given.len() == MAC_BYTES).then_some(id)
    }

    /// What is stored of a one-time code: a MAC under the server key, so a
    /// copy of the database does not give the codes away by brute force.
    pub fn code_hash(&self, address: &str, code: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(Purpose::Code.prefix());
        mac.update(address.as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn manage_url(&self, resident: ResidentId) -> String {
        format!(
            "{}/subscription/{}",
            self.base,
            self.token(Purpose::Manage, resident.0)
        )
    }

    pub fn verify_manage_token(&self, token: &str) -> Option<ResidentId> {
        self.verify(Purpose::Manage, token).map(ResidentId)
    }

    pub fn ack_token(&self, id: DeliveryId) -> String {
        self.token(Purpose::Ack, id.0)
    }

    pub fn verify_ack_token(&self, token: &str) -> Option<DeliveryId> {
        self.verify(Purpose::Ack, token).map(DeliveryId)
    }

    pub fn unsubscribe_token(&self, id: DeliveryId) -> String {
        self.token(Purpose::Unsubscribe, id.0)
    }

    pub fn verify_unsubscribe_token(&self, token: &str) -> Option<DeliveryId> {
        self.verify(Purpose::Unsubscribe, token).map(DeliveryId)
    }

    /// Stops email to the contact this delivery went to.
    pub fn unsubscribe_url(&self, id: DeliveryId) -> String {
        format!("{}/unsubscribe/{}", self.base, self.unsubscribe_token(id))
    }

    pub fn ack_url(&self, id: DeliveryId) -> String {
        format!("{}/ack/{}", self.base, self.ack_token(id))
    }

    pub fn status_callback(&self, channel: ChannelKind, id: DeliveryId) -> Option<String> {
        match channel {
            ChannelKind::Sms => Some(format!("{}/webhooks/twilio/sms/{id}", self.base)),
            ChannelKind::Voice => Some(format!("{}/webhooks/twilio/voice/{id}", self.base)),
            _ => None,
        }
    }

    pub fn gather_url(&self, id: DeliveryId) -> String {
        format!("{}/webhooks/twilio/voice/{id}/gather", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_links_and_code_hashes_are_their_own_purpose() {
        let links = Links::new("https://alerts.example".into(), b"k".repeat(32));
        let url = links.manage_url(ResidentId(7));
        let token = url.rsplit('/').next().unwrap();
        assert_eq!(links.verify_manage_token(token), Some(ResidentId(7)));
        assert_eq!(links.verify_ack_token(token), None, "not an ack token");
        let ack = links.ack_token(DeliveryId(7));
        assert_eq!(links.verify_manage_token(&ack), None, "not a manage token");
        let a = links.code_hash("+380501234567", "123456");
        assert_eq!(a, links.code_hash("+380501234567", "123456"));
        assert_ne!(a, links.code_hash("+380501234567", "123457"));
        assert_ne!(a, links.code_hash("+380501234568", "123456"));
        assert!(!a.contains("123456"));
    }

    #[test]
    fn ack_tokens_verify_and_resist_tampering() {
        let links = Links::new("https://alerts.example".into(), b"k".repeat(32));
        let token = links.ack_token(DeliveryId(42));
        assert_eq!(links.verify_ack_token(&token), Some(DeliveryId(42)));
        let (_, mac) = token.split_once('.').unwrap();
        assert_eq!(links.verify_ack_token(&format!("43.{mac}")), None);
        assert_eq!(links.verify_ack_token("42"), None);
        assert_eq!(links.verify_ack_token("42."), None);
        assert_eq!(links.verify_ack_token(&token[..token.len() - 2]), None);
        let other = Links::new("https://alerts.example".into(), b"x".repeat(32));
        assert_eq!(other.verify_ack_token(&token), None);
        assert!(
            links
                .ack_url(DeliveryId(42))
                .starts_with("https://alerts.example/ack/42.")
        );
    }

    #[test]
    fn ack_and_unsubscribe_tokens_are_not_interchangeable() {
        let links = Links::new("https://alerts.example".into(), b"k".repeat(32));
        let ack = links.ack_token(DeliveryId(42));
        let unsubscribe = links.unsubscribe_token(DeliveryId(42));
        assert_ne!(ack, unsubscribe);
        assert_eq!(
            links.verify_unsubscribe_token(&unsubscribe),
            Some(DeliveryId(42))
        );
        assert_eq!(links.verify_unsubscribe_token(&ack), None);
        assert_eq!(links.verify_ack_token(&unsubscribe), None);
        let (_, mac) = unsubscribe.split_once('.').unwrap();
        assert_eq!(links.verify_unsubscribe_token(&format!("41.{mac}")), None);
        assert_eq!(
            links.unsubscribe_url(DeliveryId(42)),
            format!("https://alerts.example/unsubscribe/{unsubscribe}")
        );
    }
}
