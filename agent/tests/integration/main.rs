//! ecsp-agent integration tests: one binary, one module per area.

#[cfg(feature = "snmpsim-tests")]
mod snmpsim;
