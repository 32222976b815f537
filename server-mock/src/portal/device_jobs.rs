//! The job history agents report with a device's data (pages, area, media per job): each report
//! carries the device's recent jobs, so consecutive reports repeat them; a job is the same job
//! when it started at the same instant.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ecsp_protocol::agent::{DeviceDataRecord, DeviceJob};
use ecsp_protocol::upload::RecordView;
use serde::Deserialize;

/// The jobs in `reports` (device-data records), each once, newest first. Where reports differ
/// on a job (a later report saw it finish), the newest report's account wins.
pub fn jobs(reports: &[RecordView]) -> Vec<DeviceJob> {
    let mut by_start: BTreeMap<DateTime<Utc>, (DateTime<Utc>, DeviceJob)> = BTreeMap::new();
    for report in reports {
        let Ok(data) = DeviceDataRecord::deserialize(&report.record) else {
            continue;
        };
        for job in data.device.job_history {
            let newer = by_start
                .get(&job.started_at)
                .is_none_or(|(seen_at, _)| *seen_at < report.captured_at);
            if newer {
                by_start.insert(job.started_at, (report.captured_at, job));
            }
        }
    }
    by_start.into_values().rev().map(|(_, job)| job).collect()
}
