//! The generated bindings, driven from Python (sign in → consent → calibrate → measure a chart
//! on the simulator or through a host Bluetooth link → photos → upload → the server holds it,
//! with and without GPS consent) and from Kotlin (compiled with -Werror, run on the JVM); the
//! Swift bindings generated.
//!
//! uniffi's `build_foreign_language_testcases!` is not used: it rebuilds the crate with
//! `cargo test --release` and no features, so the script could not start the reference server
//! (feature `test-server`) and the build doubles. This test generates the bindings with this
//! crate's own `uniffi-bindgen` from the cdylib cargo just built for it, as the macro would.

#![allow(clippy::unwrap_used)]

mod kotlin;
mod python;
