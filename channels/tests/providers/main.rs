//! Tests of tocsin-channels through its public API, against the testkit's
//! provider mocks. One test binary keeps link time down.

mod address;
mod apns;
mod common;
mod fcm;
mod simulated;
mod smtp;
mod twilio;
