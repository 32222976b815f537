//! ecsp-photo against real photos, checked with exiftool (Debian `libimage-exiftool-perl`).

#![allow(clippy::unwrap_used)]

mod exiftool;
mod strip;
