//! Colorimetry for print, as a colour engineer judges a print: spectral reflectance to CIE XYZ
//! and CIELAB with ASTM E308 / E2022 weights, colour differences (ΔE*ab, ΔE94, ΔE CMC, ΔE2000),
//! ISO 5-3 densities, tolerance sets with pass/fail reports, CGATS.17 and CxF3 files, and plots.
//!
//! Every computed colour records how it was computed ([`colorimetry::Colorimetry`]): which
//! weights, white point, illuminant and observer. Readings taken under different measurement
//! conditions are never compared silently: [`spectrum::MeasurementConditions::check_comparable`]
//! refuses unless the caller allows it. No I/O beyond reading and writing the file formats.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cgats;
pub mod cie;
pub mod colorimetry;
pub mod convert;
pub mod cxf;
pub mod dataset;
pub mod delta_e;
pub mod density;
pub mod error;
mod fastmath;
mod lanes;
pub mod plot;
pub mod samples;
pub mod spectrum;
pub mod summary;
pub mod tolerance;
pub mod weights;

pub use error::ColorError;
