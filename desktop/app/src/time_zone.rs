//! The system time zone's UTC offsets, so the webview can say times in local time without
//! JavaScript's local-time functions: in WebKitGTK those wake ICU's time-zone data and code in
//! the web process, about 2 MiB resident for as long as the app runs (`scripts/bench-desktop.sh`,
//! idle on the queue screen). chrono reads the zone here (the `TZ` variable, else
//! `/etc/localtime`), as for the app's own logs.

use chrono::{DateTime, Local, TimeZone};
use serde::Serialize;

/// The span the table covers, in seconds since the epoch: 1970 to 2100. Outside it the webview
/// falls back to its own local time.
const FROM: i64 = 0;
const TO: i64 = 4_102_444_800;

/// How far apart the offsets are sampled. Zones change their offset at most a few times a year
/// and never back within a day, so a change is found between two samples and then to the second.
const STEP: i64 = 86_400;

/// The offsets from `from` to `to` (seconds since the epoch, UTC) that `offset_at` gives (seconds
/// east of UTC), as `(start, offset)` pairs in order: the first starts at `from`, each next one
/// at the first second its offset holds.
pub fn offset_changes(from: i64, to: i64, offset_at: impl Fn(i64) -> i32) -> Vec<(i64, i32)> {
    let mut changes = vec![(from, offset_at(from))];
    let mut before = from;
    while before < to {
        let after = (before + STEP).min(to);
        let offset = offset_at(after);
        if changes.last().is_some_and(|&(_, o)| o != offset) {
            // The first second in (before, after] with the new offset.
            let (mut lo, mut hi) = (before, after);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset_at(mid) == offset {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            changes.push((hi, offset));
        }
        before = after;
    }
    changes
}

/// A zone's offsets over a span, in the form the webview reads (`ui/src/i18n.ts`, `setUtcOffsets`).
#[derive(Debug, Serialize)]
pub struct UtcOffsets {
    /// `[start in ms since the epoch, offset in seconds east of UTC]`, in order.
    pub changes: Vec<[i64; 2]>,
    /// Where the span ends (ms since the epoch): past it the table does not know.
    pub until: i64,
}

/// The system zone's offsets from 1970 to 2100.
pub fn local_offsets() -> UtcOffsets {
    let offset_at = |t: i64| {
        DateTime::from_timestamp(t, 0).map_or(0, |utc| {
            Local
                .offset_from_utc_datetime(&utc.naive_utc())
                .local_minus_utc()
        })
    };
    UtcOffsets {
        changes: offset_changes(FROM, TO, offset_at)
            .into_iter()
            .map(|(start, offset)| [start * 1000, i64::from(offset)])
            .collect(),
        until: TO * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zone one hour ahead in summer: from the last Sunday of March, 01:00 UTC, to the last
    /// Sunday of October, 01:00 UTC (the EU's rule), written out for 2025 and 2026.
    fn central_european(t: i64) -> i32 {
        let summers = [
            (1_743_296_400, 1_761_440_400), // 2025-03-30 01:00Z to 2025-10-26 01:00Z
            (1_774_746_000, 1_792_890_000), // 2026-03-29 01:00Z to 2026-10-25 01:00Z
        ];
        if summers
            .iter()
            .any(|&(start, end)| (start..end).contains(&t))
        {
            7200
        } else {
            3600
        }
    }

    #[test]
    fn each_change_is_found_to_the_second() {
        let from = 1_735_689_600; // 2025-01-01
        let to = 1_798_761_600; // 2027-01-01
        assert_eq!(
            offset_changes(from, to, central_european),
            vec![
                (from, 3600),
                (1_743_296_400, 7200),
                (1_761_440_400, 3600),
                (1_774_746_000, 7200),
                (1_792_890_000, 3600),
            ]
        );
    }

    #[test]
    fn a_zone_without_changes_is_one_entry() {
        assert_eq!(offset_changes(0, TO, |_| 32_400), vec![(0, 32_400)]);
    }

    #[test]
    fn a_change_on_the_last_second_of_the_span_is_kept() {
        assert_eq!(
            offset_changes(0, 10 * STEP, |t| if t >= 10 * STEP { 60 } else { 0 }),
            vec![(0, 0), (10 * STEP, 60)]
        );
    }

    #[test]
    fn the_system_table_starts_in_1970_and_is_ordered() {
        let zone = local_offsets();
        assert_eq!(zone.until, TO * 1000);
        let table = zone.changes;
        assert_eq!(table.first().map(|e| e[0]), Some(0));
        assert!(
            table
                .windows(2)
                .all(|w| w[0][0] < w[1][0] && w[0][1] != w[1][1])
        );
        // No zone on earth is more than 14 hours from UTC.
        assert!(table.iter().all(|e| e[1].abs() <= 14 * 3600));
    }
}
