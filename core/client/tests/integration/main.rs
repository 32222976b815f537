//! Tests of the client core against the reference server on loopback: the sync service, events,
//! cancellation, the exported errors, the outbox's housekeeping and host-supplied facts. Secrets
//! live in memory here (but in `keyring_apps`); the real OS keyring is exercised by the
//! end-to-end suite (`tests/`) too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod consent_sync;
mod errors;
mod events;
mod first_contact;
mod keyring_apps;
mod outbox;
mod service;
