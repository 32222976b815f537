//! The ECSP spectrometer's Bluetooth LE GATT profile as a codec, with no I/O: the bytes a phone
//! writes to the instrument's control point and the bytes it receives as notifications.
//!
//! The profile is specified in `docs/gatt-profile.md`; this crate is its executable form. It is
//! split from the link (`ecsp-instrument-link`) so that the wire format can be tested from
//! fixture files of exact bytes, and so that every front end (simulator, btleplug, a host's own
//! Bluetooth stack behind the mobile bindings) shares one encoder and one decoder.
//!
//! * [`frame`]: one message split into ATT-sized frames (sequence number, flags, length, CRC-16)
//!   and put back together, refusing corrupted, reordered or missing frames.
//! * [`message`]: the control-point requests and the instrument's responses.
//! * [`uuids`]: the service and characteristic UUIDs.
//!
//! Nothing here panics on bytes from a device: every fault is a [`frame::FrameError`] or a
//! [`message::DecodeError`] that says what was wrong.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod frame;
pub mod message;

/// The GATT UUIDs of the profile (128-bit, vendor range).
pub mod uuids {
    /// The primary service a phone scans for.
    pub const SERVICE: &str = "e5c50001-7a1d-4c3b-9f2e-5d6a8b0c1e2f";
    /// Control point: the phone writes requests here (write without response).
    pub const CONTROL_POINT: &str = "e5c50002-7a1d-4c3b-9f2e-5d6a8b0c1e2f";
    /// Responses and readings, as notifications.
    pub const NOTIFY: &str = "e5c50003-7a1d-4c3b-9f2e-5d6a8b0c1e2f";
}

/// The profile version an instrument reports in its device information.
pub const PROFILE_VERSION: u8 = 1;
