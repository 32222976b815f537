//! The measurement session against the simulated spectrometer, a real SQLite file and the
//! reference server over TLS.

#![allow(clippy::unwrap_used)]

mod common;
mod durability;
mod guided;
mod photos;
mod upload;
