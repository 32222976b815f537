//! The guided measurement session: what a field technician does with a handheld spectrometer
//! and a phone, as one core every front end (the phone bindings, a desktop, tests) shares.
//!
//! * [`chart`]: the reference chart (CGATS or CxF) gives the patch order and each patch's
//!   expected CIELAB; a reading that matches a neighbour better than its own patch is flagged.
//! * [`calibration`]: when a white calibration is due — by age, by temperature change, by
//!   reading count — shown before measuring and enforced.
//! * [`store`]: every reading is written to a local SQLite file (WAL, `synchronous=FULL`) before
//!   the session acknowledges it, keyed by the instrument's reading counter, so a dropped link
//!   or a killed app loses no reading and duplicates none, and a session resumes where it was.
//! * [`session`]: the flow, and the upload as the existing measurement record through
//!   `ecsp_client::EcspClient::capture_measurement`, with CIELAB computed by `ecsp-color` for
//!   the reading's conditions and GPS from a host [`session::LocationProvider`] only with the
//!   user's `gps` consent; photos only with `photos` consent, their location removed by
//!   `ecsp-photo` before they are stored unless the user allowed `gps`. The record's id is fixed
//!   in the session's file before it is captured, so an app killed between capturing and noting
//!   the upload captures the same record again on the next try, and the server gets one.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod calibration;
pub mod chart;
pub mod error;
pub mod session;
pub mod store;

pub use error::{MeasureError, MeasureErrorCode};
pub use session::{AttachedPhoto, LocationProvider, MeasurementSession, SessionPlan};
