//! Local stand-ins for the outside services Tocsin delivers through.
//!
//! Each mock listens on `127.0.0.1:0`, speaks the provider's real wire
//! format, checks what the provider checks (credentials, required fields,
//! content types) and records what it accepted, so tests exercise the real
//! client code end to end without network access:
//!
//! - [`FcmMock`]: Google's OAuth2 token endpoint and FCM HTTP v1 `messages:send`.
//! - [`ApnsMock`]: Apple's provider API over HTTP/2 (h2c) with ES256 tokens.
//! - [`TwilioMock`]: Twilio's Messages and Calls resources, plus signed
//!   status callbacks and incoming SMS back to the service.
//! - [`SmtpSink`]: an SMTP server that records envelopes and messages.
//!
//! No mock deduplicates: each accepted request is a message a person gets,
//! and each mock's `tally()` ([`Tally`]) counts them per recipient, so a
//! test sees duplicate sends and recipients that got nothing.
//!
//! All mocks share the same test knobs: `set_delay` slows answers down,
//! `fail_next` makes the next requests fail like the provider does under
//! load, and `wait_for` waits until a number of messages were accepted.
//! The magic addresses match the simulated channel's: FCM tokens starting
//! with `unregistered`, APNs tokens starting with `0000`, the number
//! `+15005550001`, and mailboxes at `bounce.invalid`.

mod apns;
mod control;
mod fcm;
pub mod keys;
mod providers;
mod smtp;
mod tally;
mod twilio;

pub use apns::{ApnsMock, ApnsRequest};
pub use control::Arrival;
pub use fcm::FcmMock;
pub use providers::Providers;
pub use smtp::{ReceivedMail, SmtpSink};
pub use tally::Tally;
pub use twilio::{Reply as TwilioReply, TwilioMock, TwilioRequest, signature as twilio_signature};
