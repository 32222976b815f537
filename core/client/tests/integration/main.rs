//! Tests of the client core against the reference server on loopback: the sync service, events,
//! cancellation, the exported errors, the outbox's housekeeping and host-supplied facts. Secrets
//! live in memory here; the real OS keyring is exercised by the end-to-end suite (`tests/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod consent_sync;
mod errors;
mod events;
mod first_contact;
mod outbox;
mod service;
