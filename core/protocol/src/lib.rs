//! The ECSP wire protocol: every JSON body that crosses between a client (DC/ES agent, PC
//! application, mobile application, portal) and the ECSP server.
//!
//! This crate exists so that the server and every client agree on one definition of each body,
//! including what makes it valid. It does no I/O: types, `serde` mappings and validation only.
//!
//! * Bodies are versioned by [`PROTOCOL_VERSION`]; an upload names the version it was written
//!   for and the server refuses versions it does not know.
//! * Unknown fields are refused (`deny_unknown_fields`) everywhere the shape is ours, so a typo
//!   in a client is an error, not silently lost data. Blocks whose keys are vendor-defined
//!   (printer settings, DFE print settings) are open objects, bounded by [`limits`].
//! * Every uploaded record carries a client-generated UUID fixed at capture and its capture time;
//!   the server uses the UUID as the idempotency key.
//! * [`Validate`] checks ranges, lengths and cross-field rules and reports every fault with the
//!   JSON path of the field at fault.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod agent;
pub mod alerts;
pub mod auth;
pub mod colour_model;
pub mod common;
pub mod consent;
pub mod consent_notice;
pub mod dfe;
pub mod fleet;
pub mod json;
pub mod measurement;
pub mod problem;
pub mod remote_ops;
pub mod upload;
mod validate;

pub use validate::{FieldError, Rule, Validate, ValidationErrors, Validator};

/// The protocol version this crate speaks. Uploads carry it as `schema_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Size limits shared by the server (to refuse) and the clients (to not send).
pub mod limits {
    /// Longest free-text field (names, versions, codes) in characters.
    pub const SHORT_TEXT: usize = 256;
    /// Longest long free-text field (descriptions, histories) in characters.
    pub const LONG_TEXT: usize = 4096;
    /// Most records in one upload request: a long offline day flushes in a few requests. The
    /// body-size limits bound the bytes; this bounds the work of one all-or-nothing write. It
    /// fits inside them (a thousand records of 2 KiB fill [`BODY_BYTES`]), so one record more
    /// than this is refused for its count (422, naming `records`), not for its bytes (413): at
    /// 10,000, even the smallest records overflowed the body first, and the documented maximum
    /// could not be reached.
    pub const RECORDS_PER_UPLOAD: usize = 1000;
    /// Most entries in an open settings object, counted over all nesting levels.
    pub const SETTINGS_ENTRIES: usize = 2000;
    /// Deepest nesting of an open settings object.
    pub const SETTINGS_DEPTH: usize = 8;
    /// Most colour samples in one measurement record.
    pub const SAMPLES_PER_MEASUREMENT: usize = 2000;
    /// Most spectral bands in one spectrum (1 nm from 300 to 830 nm).
    pub const SPECTRAL_BANDS: usize = 531;
    /// Most photos attached to one measurement record.
    pub const PHOTOS_PER_MEASUREMENT: usize = 4;
    /// Largest photo, decoded, in bytes.
    pub const PHOTO_BYTES: usize = 4 * 1024 * 1024;
    /// Most history or error entries in one list.
    pub const LIST_ENTRIES: usize = 1000;
    /// Largest request body for device-data, DFE and account requests, in bytes.
    pub const BODY_BYTES: usize = 2 * 1024 * 1024;
    /// Largest request body for measurement uploads (which may carry photos), in bytes.
    pub const MEASUREMENT_BODY_BYTES: usize = 24 * 1024 * 1024;
}

#[cfg(test)]
mod tests;
