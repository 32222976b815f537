//! A device's error, warning and status history, as the device page shows it.
//!
//! Agents report what is active now (`error_codes`) and what the device itself logged
//! (`status_history`, e.g. the Printer MIB's alert table or the ES simulator's event log). Neither
//! alone is a history: the device's log is short and may be cleared, and an active error without
//! a time would appear anew in every report. This merges both over the device's recent reports:
//! one entry per logged event (code and time), and one per stretch of reports in which an
//! untimed active error stayed active, dated by the first report that showed it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ecsp_protocol::agent::DeviceData;

/// How many of a device's newest status reports the history is built from: bounded, so a device
/// with 100,000 reports opens as fast as one with ten.
pub const REPORTS_FOR_HISTORY: u32 = 30;

/// The most entries shown.
pub const HISTORY_LIMIT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Status,
}

impl Severity {
    /// By the code's own prefix where it has one (`warning.ink_low.cyan`, `error.prt.jam`);
    /// a code reported as active without a prefix counts as an error.
    pub(crate) fn of(code: &str, active_error: bool) -> Self {
        let lower = code.to_ascii_lowercase();
        if lower.starts_with("warning") {
            Severity::Warning
        } else if lower.starts_with("error") || active_error {
            Severity::Error
        } else {
            Severity::Status
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Status => "status",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceEvent {
    pub severity: Severity,
    pub code: String,
    pub description: String,
    pub at: DateTime<Utc>,
    /// Still reported active by the newest report.
    pub active: bool,
}

/// The history from `reports` (each with its capture time; any order), newest event first, at
/// most [`HISTORY_LIMIT`] entries.
pub fn history(reports: &[(DateTime<Utc>, DeviceData)]) -> Vec<DeviceEvent> {
    let mut reports: Vec<&(DateTime<Utc>, DeviceData)> = reports.iter().collect();
    reports.sort_by_key(|(at, _)| *at);
    // What the newest report lists as active, timed ones by (code, time).
    let newest_timed: HashSet<(&str, DateTime<Utc>)> = reports
        .last()
        .map(|(_, d)| {
            d.error_codes
                .iter()
                .filter_map(|e| Some((e.code.as_str(), e.occurred_at?)))
                .collect()
        })
        .unwrap_or_default();

    let mut events: Vec<DeviceEvent> = Vec::new();
    let mut seen: HashSet<(String, DateTime<Utc>)> = HashSet::new();
    // Untimed active errors of the previous report, to the index of their entry: an error that
    // stays active is one entry; one that cleared and came back is a new one.
    let mut open: HashMap<String, usize> = HashMap::new();
    for (captured_at, data) in reports {
        let mut still_open = HashMap::new();
        for e in &data.error_codes {
            let description = e.description.as_deref();
            match e.occurred_at {
                Some(at) => {
                    if seen.insert((e.code.clone(), at)) {
                        events.push(event(&e.code, description, at, true, false));
                    }
                }
                None => {
                    let index = match open.get(&e.code) {
                        Some(i) => *i,
                        None => {
                            events.push(event(&e.code, description, *captured_at, true, false));
                            events.len() - 1
                        }
                    };
                    still_open.insert(e.code.clone(), index);
                }
            }
        }
        open = still_open;
        for e in &data.status_history {
            let at = e.occurred_at.unwrap_or(*captured_at);
            if seen.insert((e.code.clone(), at)) {
                events.push(event(&e.code, e.description.as_deref(), at, false, false));
            }
        }
    }
    // Active: what the newest report lists — timed ones by code and time (whichever list
    // showed them first), untimed ones by the entries still open.
    for e in &mut events {
        e.active = newest_timed.contains(&(e.code.as_str(), e.at));
    }
    for i in open.into_values() {
        events[i].active = true;
    }
    events.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.code.cmp(&b.code)));
    events.truncate(HISTORY_LIMIT);
    events
}

fn event(
    code: &str,
    description: Option<&str>,
    at: DateTime<Utc>,
    reported_active: bool,
    active: bool,
) -> DeviceEvent {
    DeviceEvent {
        severity: Severity::of(code, reported_active),
        code: code.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        at,
        active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use ecsp_protocol::common::CodeEvent;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, minute, 0).unwrap()
    }

    fn code(code: &str, at: Option<DateTime<Utc>>) -> CodeEvent {
        CodeEvent {
            code: code.into(),
            description: Some(format!("{code} text")),
            occurred_at: at,
        }
    }

    fn report(errors: Vec<CodeEvent>, log: Vec<CodeEvent>) -> DeviceData {
        let mut d: DeviceData = serde_json::from_value(serde_json::json!({
            "manufacturer": "Epson", "model": "SC-P9500", "serial_number": "X1",
            "firmware_version": "1.0"
        }))
        .unwrap();
        d.error_codes = errors;
        d.status_history = log;
        d
    }

    #[test]
    fn an_untimed_error_that_stays_active_is_one_entry_dated_by_its_first_report() {
        let jam = || code("paper_jam", None);
        let h = history(&[
            (t(3), report(vec![jam()], vec![])),
            (t(1), report(vec![], vec![])),
            (t(2), report(vec![jam()], vec![])),
        ]);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (h[0].at, h[0].active, h[0].severity),
            (t(2), true, Severity::Error)
        );
    }

    #[test]
    fn an_error_that_cleared_and_came_back_is_two_entries_and_only_the_second_is_active() {
        let jam = || code("paper_jam", None);
        let h = history(&[
            (t(1), report(vec![jam()], vec![])),
            (t(2), report(vec![], vec![])),
            (t(3), report(vec![jam()], vec![])),
        ]);
        assert_eq!(
            h.iter().map(|e| (e.at, e.active)).collect::<Vec<_>>(),
            [(t(3), true), (t(1), false)]
        );
    }

    #[test]
    fn logged_events_repeated_in_every_report_appear_once_with_their_own_time() {
        let ink = code("warning.ink_low.cyan", Some(t(0)));
        let door = code("error.cover_open", Some(t(1)));
        let h = history(&[
            (t(5), report(vec![], vec![ink.clone(), door.clone()])),
            (
                t(6),
                report(vec![door.clone()], vec![ink.clone(), door.clone()]),
            ),
        ]);
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].code.as_str(), h[0].severity, h[0].active),
            ("error.cover_open", Severity::Error, true)
        );
        assert_eq!(
            (h[1].code.as_str(), h[1].severity, h[1].active),
            ("warning.ink_low.cyan", Severity::Warning, false)
        );
    }

    #[test]
    fn the_history_is_bounded() {
        let log: Vec<CodeEvent> = (0..59)
            .map(|m| code(&format!("status.{m}"), Some(t(m))))
            .collect();
        let h = history(&[(t(59), report(vec![], log))]);
        assert_eq!(h.len(), HISTORY_LIMIT);
        assert_eq!(h[0].code, "status.58");
        assert_eq!(h[0].severity, Severity::Status);
    }
}
