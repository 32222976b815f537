//! The btleplug link against a BlueZ double on a private D-Bus system bus
//! (scripts/test.d/55-ble.sh starts the bus and prepares the double's Python).

#![allow(clippy::unwrap_used)]

mod bluez;
