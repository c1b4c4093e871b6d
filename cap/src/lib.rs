//! OASIS Common Alerting Protocol (CAP) 1.2 for Tocsin.
//!
//! `parse` reads a CAP 1.2 `<alert>` document into an [`Alert`] whose
//! enumerations, times, references and areas are already checked, with
//! errors that name the element (`alert/info[1]/area[2]/polygon[1]`);
//! `write` turns an [`Alert`] back into CAP XML, so an alert composed in
//! Tocsin and one received from another authority look the same on the
//! wire. Only what Tocsin uses is modelled (see `model.rs`); other CAP
//! elements are accepted and dropped. No HTTP or database code here.
//!
//! The XML parser refuses DTDs, so entity-expansion attacks ("billion
//! laughs") and external entities cannot reach it; nesting is bounded
//! ([`MAX_DEPTH`]) before the parser, which recurses per element, runs.

mod model;
mod nesting;
mod parse;
mod write;

pub use model::{
    Alert, Area, CapError, Category, Certainty, Circle, Geocode, Info, MsgType, Polygon, Reference,
    Scope, Severity, Status, Urgency,
};
pub use nesting::MAX_DEPTH;
pub use parse::parse;
pub use write::write;

/// The namespace of every CAP 1.2 document.
pub const NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";
