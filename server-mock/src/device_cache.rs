//! Which device an agent's report is about: (agent, manufacturer, model, serial number) → the
//! device's row id, remembered.
//!
//! Agents report on the same few devices all day, and the single database writer looked each
//! one up inside every upload's write — about 4.5 % of the server's CPU in the ingest profile,
//! on the thread every write waits for. A device's designation never changes (registration only
//! inserts; nothing in the API re-designates or deletes a device; if that changes, call
//! [`DesignatedDevices::clear`] where it happens), so what was found stays true and is kept
//! without expiry. Two rules keep it honest: only what a write found *and committed* is
//! remembered (a device registered in a group whose commit then failed never is), and a report
//! about a device not found is always looked up again (it may have been registered since).

use std::collections::HashMap;
use std::sync::Mutex;

/// Most devices remembered; past it the cache starts again empty.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct DesignatedDevices {
    entries: Mutex<HashMap<(i64, String), i64>>,
}

/// The key of a device as an agent names it (fields trimmed, as the look-up compares them).
fn key(manufacturer: &str, model: &str, serial: &str) -> String {
    format!(
        "{}\u{0}{}\u{0}{}",
        manufacturer.trim(),
        model.trim(),
        serial.trim()
    )
}

impl DesignatedDevices {
    /// The row id of the device designated to `agent` under these names, if known.
    pub fn get(&self, agent: i64, manufacturer: &str, model: &str, serial: &str) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(agent, key(manufacturer, model, serial)))
            .copied()
    }

    /// Remembers a device a committed write found designated to `agent`.
    pub fn insert(&self, agent: i64, manufacturer: &str, model: &str, serial: &str, device: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((agent, key(manufacturer, model, serial)), device);
    }

    /// Forgets every device (for when a designation changes or a device is removed).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_known_per_agent_by_its_trimmed_names() {
        let cache = DesignatedDevices::default();
        assert_eq!(cache.get(1, "Epson", "P9500", "X1"), None);
        cache.insert(1, "Epson", "P9500", "X1", 7);
        assert_eq!(cache.get(1, " Epson", "P9500 ", "X1"), Some(7));
        assert_eq!(
            cache.get(2, "Epson", "P9500", "X1"),
            None,
            "another agent's"
        );
        // Names are separated, so shifting text between fields names another device.
        assert_eq!(cache.get(1, "Epson", "P950", "0X1"), None);
        cache.clear();
        assert_eq!(cache.get(1, "Epson", "P9500", "X1"), None);
    }
}
