//! The hot folder and the JMF receiver against the reference server, in-process: a ticket
//! dropped into the folder ends up on the server, bad files end in quarantine with their
//! reasons, a duplicate makes one record, and with `job_info` refused no job part leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod collector;
mod common;
mod device_data;
mod hot_folder;
mod readers;
mod receiver;
