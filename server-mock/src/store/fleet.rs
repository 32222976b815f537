//! The fleet at a glance: each device's newest report in brief (`device_status`), what the
//! devices produced by the hour (`production_hours`, and per group in `production_group_hours`),
//! and the queries of the dashboard and the "needs attention" list.
//!
//! Everything here is kept at ingest, in the transaction that stores the report, so that the
//! dashboard reads small tables rather than opening sealed report bodies.
//!
//! **Production from counters.** Agents report the device's own lifetime counters (printed
//! area, printing time, ink per colour) and its recent job log. Each report newer than the last
//! is compared with it:
//! - A counter's increase is what was produced between the two reports, spread over the hours
//!   between them in proportion to time.
//! - A counter lower than before (a replaced board, a reset) counts nothing and becomes the new
//!   baseline; so does an increase faster than any printer runs (a jump: a corrupted read, a
//!   counter moved from another machine). Neither is summed blindly.
//! - Jobs are counted once each, in the hour they finished (else started), from the job log:
//!   only jobs that started after the newest job already counted. Sheets are the jobs' pages.
//! - Printed area comes from the area counter where the device reports one, else from its
//!   jobs' printed area.
//! - A report older than the newest (sent late) changes nothing: the newer one accounted for it.
//!
//! The per-group table keys production by the group the device was in when it printed, so a
//! group's history does not move with a device filed elsewhere later.

use std::collections::HashMap;

use ecsp_protocol::agent::DeviceData;
use serde::{Deserialize, Serialize};

use super::alerts::{self, Watched};
use super::placeholder_list;
use crate::db::StoreError;
use crate::error::ApiError;
use crate::portal::device_events::Severity;
use crate::sql::{Connection, ToSql, Value, params};

/// The device's lifetime counters in a report (absent: the device does not report it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printing_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ink_ml: Option<f64>,
}

/// A job of the device's log, as production counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobBrief {
    pub started_at: i64,
    /// When it counts: its end, else its start.
    pub at: i64,
    pub pages: f64,
    pub area_m2: f64,
}

/// A device's report in brief: what the next report is compared with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDigest {
    pub state: String,
    /// Active errors and warnings: (`error` | `warning`, code, the device's description).
    pub codes: Vec<(String, String, Option<String>)>,
    /// Consumables with a level: (name, percent left).
    pub consumables: Vec<(String, f64)>,
    #[serde(skip)]
    pub counters: Counters,
    #[serde(skip)]
    pub jobs: Vec<JobBrief>,
}

impl StatusDigest {
    pub fn of(data: &DeviceData) -> Self {
        let mut codes: Vec<(String, String, Option<String>)> = Vec::new();
        for c in &data.error_codes {
            let severity = match Severity::of(&c.code, true) {
                Severity::Warning => "warning",
                _ => "error",
            };
            if !codes.iter().any(|(_, code, _)| *code == c.code) {
                codes.push((severity.into(), c.code.clone(), c.description.clone()));
            }
        }
        let consumables = data
            .consumables
            .iter()
            .filter_map(|c| {
                let name = match &c.color {
                    Some(color) => format!("{} {color}", c.kind),
                    None => c.kind.clone(),
                };
                c.remaining_percent.map(|p| (name, p))
            })
            .collect();
        let ink: Vec<f64> = data
            .cumulative_ink_usage
            .iter()
            .map(|i| i.millilitres)
            .collect();
        Self {
            state: data.state().as_str().into(),
            codes,
            consumables,
            counters: Counters {
                area_m2: data.cumulative_printing_area_m2,
                printing_s: data.cumulative_printing_time_s.map(|s| s as f64),
                ink_ml: (!ink.is_empty()).then(|| ink.iter().sum()),
            },
            jobs: data
                .job_history
                .iter()
                .map(|j| JobBrief {
                    started_at: j.started_at.timestamp_millis(),
                    at: j.finished_at.unwrap_or(j.started_at).timestamp_millis(),
                    pages: f64::from(j.pages.unwrap_or(0)),
                    area_m2: j.printed_area_m2.unwrap_or(0.0),
                })
                .collect(),
        }
    }

    fn lowest_percent(&self) -> Option<f64> {
        self.consumables.iter().map(|(_, p)| *p).reduce(f64::min)
    }
}

/// A report just stored: its device, capture time (Unix ms) and brief.
#[derive(Debug)]
pub struct Report<'a> {
    pub device_id: i64,
    pub captured_at: i64,
    pub digest: &'a StatusDigest,
}

/// What was produced in one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Amounts {
    pub jobs: f64,
    pub sheets: f64,
    pub area_m2: f64,
    pub ink_ml: f64,
    pub printing_s: f64,
}

impl Amounts {
    fn add(&mut self, o: &Amounts) {
        self.jobs += o.jobs;
        self.sheets += o.sheets;
        self.area_m2 += o.area_m2;
        self.ink_ml += o.ink_ml;
        self.printing_s += o.printing_s;
    }

    fn scaled(&self, f: f64) -> Amounts {
        Amounts {
            jobs: self.jobs * f,
            sheets: self.sheets * f,
            area_m2: self.area_m2 * f,
            ink_ml: self.ink_ml * f,
            printing_s: self.printing_s * f,
        }
    }
}

pub const HOUR_MS: i64 = 3_600_000;
/// Faster than any printer runs, per hour: an increase beyond it is a jump, not production.
const MAX_AREA_M2_PER_HOUR: f64 = 1_000.0;
const MAX_INK_ML_PER_HOUR: f64 = 50_000.0;
/// A gap between reports longer than this is not spread (a device off for a month): what the
/// counters gained is put in the newer report's hour.
const MAX_SPREAD_MS: i64 = 31 * 24 * HOUR_MS;

/// The increase of a counter from `old` to `new` over `elapsed_h` hours, or 0 when it went
/// backwards, rose more than `max_per_hour` allows (plus `grace`), or either is missing.
fn counter_gain(
    old: Option<f64>,
    new: Option<f64>,
    elapsed_h: f64,
    max_per_hour: f64,
    grace: f64,
) -> f64 {
    match (old, new) {
        (Some(o), Some(n)) if n >= o && n - o <= max_per_hour * elapsed_h + grace => n - o,
        _ => 0.0,
    }
}

/// What the device produced between report `old` (captured at `old_at`, its newest counted job
/// started at `last_job`) and `new` (captured at `new_at`), by hour (Unix ms of the hour's
/// start).
pub fn production(
    old: Option<(i64, &StatusDigest, Option<i64>)>,
    new_at: i64,
    new: &StatusDigest,
) -> Vec<(i64, Amounts)> {
    let mut by_hour: HashMap<i64, Amounts> = HashMap::new();
    let last_job = old.and_then(|(_, _, j)| j);
    let area_from_counter = new.counters.area_m2.is_some();
    for job in new
        .jobs
        .iter()
        .filter(|j| last_job.is_none_or(|l| j.started_at > l))
    {
        let e = by_hour
            .entry(job.at.div_euclid(HOUR_MS) * HOUR_MS)
            .or_default();
        e.jobs += 1.0;
        e.sheets += job.pages;
        if !area_from_counter {
            e.area_m2 += job.area_m2;
        }
    }
    if let Some((old_at, old, _)) = old {
        let elapsed_ms = (new_at - old_at).max(1);
        let elapsed_h = elapsed_ms as f64 / HOUR_MS as f64;
        let (o, n) = (old.counters, new.counters);
        let gained = Amounts {
            area_m2: counter_gain(o.area_m2, n.area_m2, elapsed_h, MAX_AREA_M2_PER_HOUR, 1.0),
            ink_ml: counter_gain(o.ink_ml, n.ink_ml, elapsed_h, MAX_INK_ML_PER_HOUR, 50.0),
            // No more printing time than time passed (a minute's grace for clocks).
            printing_s: counter_gain(o.printing_s, n.printing_s, elapsed_h, 3600.0, 60.0),
            ..Amounts::default()
        };
        if gained != Amounts::default() {
            if elapsed_ms > MAX_SPREAD_MS {
                by_hour
                    .entry(new_at.div_euclid(HOUR_MS) * HOUR_MS)
                    .or_default()
                    .add(&gained);
            } else {
                let mut from = old_at;
                while from < new_at {
                    let hour = from.div_euclid(HOUR_MS) * HOUR_MS;
                    let to = (hour + HOUR_MS).min(new_at);
                    let share = (to - from) as f64 / elapsed_ms as f64;
                    by_hour.entry(hour).or_default().add(&gained.scaled(share));
                    from = to;
                }
            }
        }
    }
    let mut out: Vec<(i64, Amounts)> = by_hour.into_iter().collect();
    out.sort_by_key(|(h, _)| *h);
    out
}

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Task(e.to_string()))
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("device status JSON: {e}")))
}

/// The stored brief of a device before a report.
struct Before {
    captured_at: i64,
    digest: StatusDigest,
    last_job: Option<i64>,
}

/// Keeps each device's newest report in brief, adds what the devices produced since their last
/// report, and writes the alert events the change makes. A report older than the one kept
/// changes nothing.
pub fn note_reports(
    conn: &Connection,
    org_id: i64,
    reports: &[Report<'_>],
) -> Result<(), ApiError> {
    let mut newest: HashMap<i64, &Report<'_>> = HashMap::new();
    for r in reports {
        let e = newest.entry(r.device_id).or_insert(r);
        if r.captured_at > e.captured_at {
            *e = r;
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let mut devices: Vec<i64> = newest.keys().copied().collect();
    devices.sort_unstable();
    let mut before: HashMap<i64, Before> = HashMap::new();
    let mut groups: HashMap<i64, i64> = HashMap::new();
    for chunk in devices.chunks(64) {
        let list = placeholder_list(1, chunk.len());
        let values: Vec<Value<'_>> = chunk.iter().map(|d| Value::Integer(*d)).collect();
        let refs: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        // Each device's row exists and is locked before it is read (ids in order, so two
        // writers cannot wait on each other): on PostgreSQL a second node's batch for the same
        // device waits here and then reads what the first wrote, so nothing is counted twice.
        let rows = placeholder_list(1, chunk.len())
            .split(", ")
            .map(|p| format!("({p}, 0, '', '[]', '[]', '{{}}')"))
            .collect::<Vec<_>>()
            .join(", ");
        conn.prepare_cached(&format!(
            "INSERT INTO device_status (device_id, captured_at, state, codes, consumables, counters)
             VALUES {rows} ON CONFLICT (device_id) DO NOTHING"
        ))?
        .execute(&refs[..])?;
        conn.prepare_cached(&format!(
            "UPDATE device_status SET captured_at = captured_at WHERE device_id IN ({list})"
        ))?
        .execute(&refs[..])?;
        #[allow(clippy::type_complexity)]
        let read: Vec<(
            i64,
            Option<i64>,
            i64,
            String,
            String,
            String,
            String,
            Option<i64>,
        )> = conn
            .prepare_cached(&format!(
                "SELECT d.id, d.group_id, s.captured_at, s.state, s.codes, s.consumables,
                        s.counters, s.last_job_at
                 FROM devices d JOIN device_status s ON s.device_id = d.id
                 WHERE d.id IN ({list})"
            ))?
            .query_map(&refs[..], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })?
            .collect::<crate::sql::Result<_>>()?;
        for (device, group, at, state, codes, consumables, counters, last_job) in read {
            groups.insert(device, group.unwrap_or(0));
            // The placeholder row of a device never reported before: nothing to compare with.
            if at == 0 && state.is_empty() {
                continue;
            }
            before.insert(
                device,
                Before {
                    captured_at: at,
                    digest: StatusDigest {
                        state,
                        codes: from_json(&codes)?,
                        consumables: from_json(&consumables)?,
                        counters: from_json(&counters)?,
                        jobs: Vec::new(),
                    },
                    last_job,
                },
            );
        }
    }
    let mut watched: Option<Watched> = None;
    for device in devices {
        let report = newest[&device];
        let old = before.get(&device);
        if old.is_some_and(|b| b.captured_at >= report.captured_at) {
            continue;
        }
        let digest = report.digest;
        // Counters a report leaves out keep their last value as the baseline.
        let kept = old.map(|b| b.digest.counters).unwrap_or_default();
        let counters = Counters {
            area_m2: digest.counters.area_m2.or(kept.area_m2),
            printing_s: digest.counters.printing_s.or(kept.printing_s),
            ink_ml: digest.counters.ink_ml.or(kept.ink_ml),
        };
        let newest_job = digest
            .jobs
            .iter()
            .map(|j| j.started_at)
            .max()
            .max(old.and_then(|b| b.last_job));
        conn.prepare_cached(
            "UPDATE device_status SET captured_at = ?2, state = ?3, codes = ?4, consumables = ?5,
                 counters = ?6, last_job_at = ?7, lowest_percent = ?8
             WHERE device_id = ?1",
        )?
        .execute(params![
            device,
            report.captured_at,
            digest.state,
            json(&digest.codes)?,
            json(&digest.consumables)?,
            json(&counters)?,
            newest_job,
            digest.lowest_percent()
        ])?;
        let made = production(
            old.map(|b| (b.captured_at, &b.digest, b.last_job)),
            report.captured_at,
            digest,
        );
        add_production(
            conn,
            org_id,
            device,
            groups.get(&device).copied().unwrap_or(0),
            &made,
        )?;
        let watched = match &watched {
            Some(w) => w,
            None => watched.insert(Watched::of(conn, org_id)?),
        };
        alerts::note_change(
            conn,
            org_id,
            device,
            old.map(|b| &b.digest),
            report.captured_at,
            digest,
            watched,
        )?;
    }
    Ok(())
}

/// Adds `made` to the device's hours and its group's.
fn add_production(
    conn: &Connection,
    org_id: i64,
    device: i64,
    group: i64,
    made: &[(i64, Amounts)],
) -> Result<(), ApiError> {
    for (hour, a) in made {
        conn.prepare_cached(
            "INSERT INTO production_hours (device_id, hour, jobs, sheets, area_m2, ink_ml, printing_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (device_id, hour) DO UPDATE SET
                 jobs = production_hours.jobs + excluded.jobs,
                 sheets = production_hours.sheets + excluded.sheets,
                 area_m2 = production_hours.area_m2 + excluded.area_m2,
                 ink_ml = production_hours.ink_ml + excluded.ink_ml,
                 printing_s = production_hours.printing_s + excluded.printing_s",
        )?
        .execute(params![device, hour, a.jobs, a.sheets, a.area_m2, a.ink_ml, a.printing_s])?;
        conn.prepare_cached(
            "INSERT INTO production_group_hours (org_id, group_id, hour, jobs, sheets, area_m2,
                                                ink_ml, printing_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (org_id, group_id, hour) DO UPDATE SET
                 jobs = production_group_hours.jobs + excluded.jobs,
                 sheets = production_group_hours.sheets + excluded.sheets,
                 area_m2 = production_group_hours.area_m2 + excluded.area_m2,
                 ink_ml = production_group_hours.ink_ml + excluded.ink_ml,
                 printing_s = production_group_hours.printing_s + excluded.printing_s",
        )?
        .execute(params![
            org_id,
            group,
            hour,
            a.jobs,
            a.sheets,
            a.area_m2,
            a.ink_ml,
            a.printing_s
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(area: Option<f64>, ink: Option<f64>, jobs: &[(i64, f64)]) -> StatusDigest {
        StatusDigest {
            counters: Counters {
                area_m2: area,
                printing_s: None,
                ink_ml: ink,
            },
            jobs: jobs
                .iter()
                .map(|(at, pages)| JobBrief {
                    started_at: *at,
                    at: *at + 60_000,
                    pages: *pages,
                    area_m2: 1.0,
                })
                .collect(),
            ..StatusDigest::default()
        }
    }

    fn total(made: &[(i64, Amounts)]) -> Amounts {
        let mut t = Amounts::default();
        for (_, a) in made {
            t.add(a);
        }
        t
    }

    #[test]
    fn counters_are_spread_over_the_hours_between_reports() {
        let t0 = 10 * HOUR_MS + HOUR_MS / 2;
        let old = digest(Some(100.0), Some(50.0), &[]);
        let new = digest(Some(110.0), Some(80.0), &[]);
        let made = production(Some((t0, &old, None)), t0 + HOUR_MS, &new);
        assert_eq!(made.len(), 2, "half in each hour");
        assert!((made[0].1.area_m2 - 5.0).abs() < 1e-9);
        assert!((made[1].1.ink_ml - 15.0).abs() < 1e-9);
        assert!((total(&made).area_m2 - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_counter_that_goes_back_or_jumps_counts_nothing() {
        let t0 = 0;
        let old = digest(Some(5_000.0), Some(900.0), &[]);
        let replaced = digest(Some(3.0), Some(10.0), &[]);
        assert_eq!(
            total(&production(Some((t0, &old, None)), t0 + HOUR_MS, &replaced)),
            Amounts::default()
        );
        let jumped = digest(Some(5_000.0 + 20_000.0), Some(900.0), &[]);
        assert_eq!(
            total(&production(Some((t0, &old, None)), t0 + HOUR_MS, &jumped)).area_m2,
            0.0
        );
    }

    #[test]
    fn each_job_counts_once_in_the_hour_it_ended() {
        let old = digest(None, None, &[(1_000, 2.0)]);
        let new = digest(None, None, &[(1_000, 2.0), (2 * HOUR_MS + 5, 7.0)]);
        let made = production(Some((0, &old, Some(1_000))), 3 * HOUR_MS, &new);
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].0, 2 * HOUR_MS);
        assert_eq!(made[0].1.jobs, 1.0);
        assert_eq!(made[0].1.sheets, 7.0);
        assert_eq!(
            made[0].1.area_m2, 1.0,
            "area from jobs without an area counter"
        );
        // A first report counts the log it brings.
        assert_eq!(total(&production(None, 3 * HOUR_MS, &new)).jobs, 2.0);
    }
}
