//! Integration tests of the reference server over real HTTPS on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod access;
mod agents;
mod audit;
mod auth;
mod bad_input;
mod ingest;
mod portal;
mod portal_live;
mod records;
mod remote;
mod startup;
mod storage;
mod tls;
