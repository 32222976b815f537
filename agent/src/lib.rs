//! `ecsp-agent`: the two agents that feed the server device data.
//!
//! * The **DC agent** ([`dc`]) runs on a workstation and polls the printers it was designated,
//!   over SNMP v2c or v3 ([`snmp`], [`printer_mib`], and [`identity`] for where printers
//!   publish their serial number and firmware version).
//! * The **ES agent simulator** ([`sim`]) stands in for the firmware agent inside printers: N
//!   simulated printers whose state changes over time, for tests, demos and benchmarks.
//!
//! Both share enrolment ([`enrol`]), the durable outbox and its upload ([`outbox`]), and the
//! at-most-once execution of remote operations ([`ledger`], [`ops`]).

pub mod config;
pub mod dc;
pub mod identity;
pub mod printer_mib;
pub mod session;
pub mod sim;
pub mod snmp;
pub mod store;
pub mod upload;
