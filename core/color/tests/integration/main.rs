//! Integration tests of ecsp-color: published test data, an independent reference
//! implementation (colour-science, python-colormath), file round trips, parser robustness, plots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch;
mod common;
mod compare;
mod corpus;
mod formats;
mod fuzz;
mod plots;
mod reference;
mod sharma;
