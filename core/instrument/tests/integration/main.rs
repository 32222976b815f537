//! The codec against fixture files of exact bytes, and its properties over every MTU.

#![allow(clippy::unwrap_used)]

mod fixtures;
mod properties;
