//! A channel that delivers nowhere: it records messages in an in-memory
//! [`Outbox`] so a demo, a newcomer's laptop or a test can see exactly what
//! residents would have received.
//!
//! It fails like the real providers for a few documented magic addresses,
//! so the failure paths (contact deactivation) can be tried without an
//! account anywhere:
//!
//! | channel     | address                               | result           |
//! |-------------|---------------------------------------|------------------|
//! | sms, voice  | `+15005550001` (Twilio's own test no.) | `InvalidAddress` |
//! | email       | any address at `bounce.invalid`       | `InvalidAddress` |
//! | fcm         | token starting with `unregistered`    | `InvalidAddress` |
//! | apns        | a token of only zeros (64 or more)    | `InvalidAddress` |

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Address, Channel, ChannelKind, Content, OutboundMessage, SendError, SendReceipt};

const PROVIDER: &str = "simulated";
pub(crate) const INVALID_PHONE: &str = "+15005550001";
pub(crate) const BOUNCE_DOMAIN: &str = "bounce.invalid";

/// One message a simulated channel "sent".
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    /// Increases by one per recorded message, across all channels sharing the outbox.
    pub seq: u64,
    pub channel: ChannelKind,
    pub provider: &'static str,
    pub simulated: bool,
    pub address: String,
    pub idempotency_key: String,
    pub notice_id: i64,
    pub delivery_id: i64,
    pub content: Content,
    pub at: DateTime<Utc>,
}

/// A bounded, shared record of simulated sends; the oldest entries fall off
/// when it is full so a long-running demo cannot grow without limit.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Mutex<Ring>>,
}

struct Ring {
    capacity: usize,
    next_seq: u64,
    entries: VecDeque<OutboxEntry>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.lock();
        f.debug_struct("Outbox")
            .field("len", &ring.entries.len())
            .field("capacity", &ring.capacity)
            .finish()
    }
}

impl Outbox {
    /// A capacity of 0 is treated as 1.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Outbox {
            inner: Arc::new(Mutex::new(Ring {
                capacity,
                next_seq: 1,
                entries: VecDeque::with_capacity(capacity.min(1024)),
            })),
        }
    }

    /// The newest `limit` entries matching the filters, oldest first.
    pub fn entries(
        &self,
        channel: Option<ChannelKind>,
        notice_id: Option<i64>,
        limit: usize,
    ) -> Vec<OutboxEntry> {
        let ring = self.lock();
        let mut matching: Vec<OutboxEntry> = ring
            .entries
            .iter()
            .rev()
            .filter(|e| channel.is_none_or(|c| e.channel == c))
            .filter(|e| notice_id.is_none_or(|n| e.notice_id == n))
            .take(limit)
            .cloned()
            .collect();
        matching.reverse();
        matching
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    fn record(&self, channel: ChannelKind, msg: &OutboundMessage) -> u64 {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == ring.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(OutboxEntry {
            seq,
            channel,
            provider: PROVIDER,
            simulated: true,
            address: msg.address.as_str().to_owned(),
            idempotency_key: msg.idempotency_key.clone(),
            notice_id: msg.notice_id,
            delivery_id: msg.delivery_id,
            content: msg.content.clone(),
            at: Utc::now(),
        });
        seq
    }

    /// A panic while holding the lock cannot leave the ring inconsistent,
    /// so a poisoned lock is simply reused.
    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Accepts everything (except the magic addresses) and reports it delivered.
#[derive(Debug)]
pub struct SimulatedChannel {
    kind: ChannelKind,
    outbox: Outbox,
}

impl SimulatedChannel {
    pub fn new(kind: ChannelKind, outbox: Outbox) -> Self {
        tracing::warn!(
            channel = %kind,
            "channel {kind} is SIMULATED: messages are only recorded in the outbox, nothing leaves the machine"
        );
        SimulatedChannel { kind, outbox }
    }
}

#[async_trait::async_trait]
impl Channel for SimulatedChannel {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn simulated(&self) -> bool {
        true
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        msg.check_kind(self.kind)?;
        if let Some(reason) = magic_failure(&msg.address) {
            return Err(SendError::invalid_address(format!("simulated: {reason}")));
        }
        let seq = self.outbox.record(self.kind, msg);
        Ok(SendReceipt {
            provider_id: Some(format!("sim-{seq}")),
            delivered: true,
        })
    }
}

/// The failure a real provider would report for a magic address.
fn magic_failure(address: &Address) -> Option<&'static str> {
    match address {
        Address::Sms(number) | Address::Voice(number) if number.as_str() == INVALID_PHONE => {
            Some("the 'To' number is not a valid phone number (Twilio error 21211)")
        }
        Address::Email(email) if email.domain() == BOUNCE_DOMAIN => {
            Some("550 5.1.1 mailbox unavailable")
        }
        Address::Fcm(token) if token.as_str().starts_with("unregistered") => {
            Some("FCM UNREGISTERED")
        }
        // All zeros, not a prefix: a real token may start with zeros.
        Address::Apns(token) if token.as_str().bytes().all(|b| b == b'0') => {
            Some("APNs 410 Unregistered")
        }
        _ => None,
    }
}
