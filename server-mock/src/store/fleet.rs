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

use chrono::{DateTime, NaiveDate, TimeZone as _, Timelike as _, Utc};
use chrono_tz::Tz;
use ecsp_protocol::agent::DeviceData;
use ecsp_protocol::auth::Role;
use ecsp_protocol::fleet::{
    AttentionItem, AttentionReason, DayFigure, FT2_PER_M2, FleetDashboard, ProductionUnit,
    SILENT_AFTER_MINUTES, StateCounts,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::alerts::{self, Watched, from_json, json};
use super::devices::VISIBLE;
use super::{from_ms, parse_uuid};
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

/// The stored brief of a device before a report.
struct Before {
    captured_at: i64,
    digest: StatusDigest,
    last_job: Option<i64>,
}

/// Keeps each device's newest report in brief, adds what the devices produced since their last
/// report, and writes the alert events the change makes. A report older than the one kept
/// changes nothing; one of the same capture time replaces it.
pub fn note_reports(
    conn: &Connection,
    org_id: i64,
    reports: &[Report<'_>],
) -> Result<(), ApiError> {
    // The newest report of each device; of two captured at the same time, the later stored
    // (as the record listings order them by id after time).
    let mut newest: HashMap<i64, &Report<'_>> = HashMap::new();
    for r in reports {
        let e = newest.entry(r.device_id).or_insert(r);
        if r.captured_at >= e.captured_at {
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
        let values: Vec<Value<'_>> = chunk.iter().map(|d| Value::Integer(*d)).collect();
        let refs: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
        // Each device's row is made if missing, locked and read in one statement (ids in
        // order, so two writers cannot wait on each other): on PostgreSQL a second node's
        // batch for the same device waits here and then reads what the first wrote, so nothing
        // is counted twice. The no-op update is the lock; `SELECT … FOR UPDATE` cost PostgreSQL
        // more with many writers on few devices (measured), and one statement instead of three
        // (insert, lock, read) is two round trips less per batch.
        let rows = (1..=chunk.len())
            .map(|i| format!("(?{i}, 0, '', '[]', '[]', '{{}}')"))
            .collect::<Vec<_>>()
            .join(", ");
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
                "INSERT INTO device_status (device_id, captured_at, state, codes, consumables, counters)
                 VALUES {rows}
                 ON CONFLICT (device_id) DO UPDATE SET captured_at = device_status.captured_at
                 RETURNING device_id,
                     (SELECT group_id FROM devices WHERE devices.id = device_status.device_id),
                     captured_at, state, codes, consumables, counters, last_job_at"
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
    let mut briefs = Vec::with_capacity(devices.len());
    for device in devices {
        let report = newest[&device];
        let old = before.get(&device);
        if old.is_some_and(|b| b.captured_at > report.captured_at) {
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
        // A report that names no consumable (the PC application's) keeps the levels known.
        let consumables = if digest.consumables.is_empty() {
            old.map(|b| b.digest.consumables.clone())
                .unwrap_or_default()
        } else {
            digest.consumables.clone()
        };
        let lowest = consumables.iter().map(|(_, p)| *p).reduce(f64::min);
        let newest_job = digest
            .jobs
            .iter()
            .map(|j| j.started_at)
            .max()
            .max(old.and_then(|b| b.last_job));
        briefs.push(Brief {
            device,
            captured_at: report.captured_at,
            state: digest.state.clone(),
            codes: json(&digest.codes)?,
            consumables: json(&consumables)?,
            counters: json(&counters)?,
            last_job_at: newest_job,
            lowest_percent: lowest,
        });
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
    for chunk in briefs.chunks(BRIEFS_PER_STATEMENT) {
        write_briefs(conn, chunk)?;
    }
    Ok(())
}

/// A device's newest report in brief, as `device_status` keeps it.
struct Brief {
    device: i64,
    captured_at: i64,
    state: String,
    codes: String,
    consumables: String,
    counters: String,
    last_job_at: Option<i64>,
    lowest_percent: Option<f64>,
}

/// Briefs written by one statement (8 values each).
const BRIEFS_PER_STATEMENT: usize = 64;

/// Writes the briefs of devices whose rows exist (and are locked): one statement for them all,
/// not one per device, which in the cluster benchmark was one round trip per upload. The
/// values are cast so that PostgreSQL knows their types (`VALUES` columns are `column1`… on
/// both engines).
fn write_briefs(conn: &Connection, briefs: &[Brief]) -> Result<(), ApiError> {
    const CASTS: [&str; 8] = [
        "BIGINT",
        "BIGINT",
        "TEXT",
        "TEXT",
        "TEXT",
        "TEXT",
        "BIGINT",
        "DOUBLE PRECISION",
    ];
    let rows = (0..briefs.len())
        .map(|r| {
            let row: Vec<String> = CASTS
                .iter()
                .enumerate()
                .map(|(c, ty)| format!("CAST(?{} AS {ty})", r * CASTS.len() + c + 1))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE device_status SET captured_at = v.column2, state = v.column3, codes = v.column4,
             consumables = v.column5, counters = v.column6, last_job_at = v.column7,
             lowest_percent = v.column8
         FROM (VALUES {rows}) AS v
         WHERE device_status.device_id = v.column1"
    );
    let mut values = Vec::with_capacity(briefs.len() * CASTS.len());
    for b in briefs {
        values.extend([
            Value::Integer(b.device),
            Value::Integer(b.captured_at),
            Value::Text(&b.state),
            Value::Text(&b.codes),
            Value::Text(&b.consumables),
            Value::Text(&b.counters),
            b.last_job_at.map_or(Value::Null, Value::Integer),
            b.lowest_percent.map_or(Value::Null, Value::Real),
        ]);
    }
    super::execute_values(conn, &sql, &values)?;
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

/// The state of each device `who` may see that reported since the fleet's status was kept
/// (schema v16), by its newest report; one read instead of opening each device's newest record.
pub fn states(
    conn: &Connection,
    who: &UserPrincipal,
) -> Result<HashMap<Uuid, ecsp_protocol::agent::DeviceState>, ApiError> {
    use ecsp_protocol::agent::DeviceState;
    let rows: Vec<(String, String)> = conn
        .prepare_cached(&format!(
            "SELECT d.public_id, s.state FROM device_status s JOIN devices d ON d.id = s.device_id
             WHERE s.state <> '' AND {VISIBLE}"
        ))?
        .query_map(params![who.id, who.org_id, who.role == Role::Admin], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<crate::sql::Result<_>>()?;
    let mut out = HashMap::with_capacity(rows.len());
    for (id, state) in rows {
        let state = match state.as_str() {
            "printing" => DeviceState::Printing,
            "standby" => DeviceState::Standby,
            "error" => DeviceState::Error,
            _ => DeviceState::Other,
        };
        out.insert(parse_uuid(&id)?, state);
    }
    Ok(out)
}

// ---- the dashboard and the attention list ----------------------------------------------------

/// Which printers a figure covers: those the user may see, narrowed to a group or one device.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter {
    pub group: Option<Uuid>,
    pub device: Option<Uuid>,
}

/// The filter's internal ids, rights checked: a group of the organisation, a device the user
/// may see (else "not found").
fn resolve(
    conn: &Connection,
    who: &UserPrincipal,
    filter: Filter,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let group = match filter.group {
        Some(g) => Some(super::groups::group_id_in_org(conn, who.org_id, g)?),
        None => None,
    };
    let device = match filter.device {
        Some(d) => Some(super::devices::visible(conn, who, d)?.0),
        None => None,
    };
    Ok((group, device))
}

fn value_in(unit: ProductionUnit, a: &Amounts) -> f64 {
    match unit {
        ProductionUnit::Jobs => a.jobs,
        ProductionUnit::Sheets => a.sheets,
        ProductionUnit::M2 => a.area_m2,
        ProductionUnit::Ft2 => a.area_m2 * FT2_PER_M2,
    }
}

/// Local midnight of `day` in `tz`, in Unix ms (the earliest, on a day that starts twice).
fn midnight(tz: Tz, day: NaiveDate) -> i64 {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        // A zone that skips midnight (a few did, for daylight saving): its first hour.
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map_or(0, |t| t.timestamp_millis())
}

/// Hourly production since `from` (Unix ms) of the printers `who` may see in the filter: from
/// the organisation's per-group table when that covers exactly them (an admin's whole fleet or
/// a group), else summed over their devices.
fn hours_since(
    conn: &Connection,
    who: &UserPrincipal,
    group: Option<i64>,
    device: Option<i64>,
    from: i64,
) -> Result<Vec<(i64, Amounts)>, ApiError> {
    let amounts = |r: &crate::sql::Row<'_>| -> crate::sql::Result<(i64, Amounts)> {
        Ok((
            r.get(0)?,
            Amounts {
                jobs: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
                sheets: r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                area_m2: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                ink_ml: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
                printing_s: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
            },
        ))
    };
    let sums = "SUM(p.jobs), SUM(p.sheets), SUM(p.area_m2), SUM(p.ink_ml), SUM(p.printing_s)";
    let rows = if who.role == Role::Admin && device.is_none() {
        conn.prepare_cached(&format!(
            "SELECT p.hour, {sums} FROM production_group_hours p
             WHERE p.org_id = ?1 AND p.hour >= ?2 AND (CAST(?3 AS BIGINT) IS NULL OR p.group_id = ?3)
             GROUP BY p.hour"
        ))?
        .query_map(params![who.org_id, from, group], amounts)?
        .collect::<crate::sql::Result<Vec<_>>>()?
    } else {
        conn.prepare_cached(&format!(
            "SELECT p.hour, {sums} FROM production_hours p JOIN devices d ON d.id = p.device_id
             WHERE {VISIBLE} AND p.hour >= ?4 AND (CAST(?5 AS BIGINT) IS NULL OR d.group_id = ?5)
               AND (CAST(?6 AS BIGINT) IS NULL OR d.id = ?6)
             GROUP BY p.hour"
        ))?
        .query_map(
            params![
                who.id,
                who.org_id,
                who.role == Role::Admin,
                from,
                group,
                device
            ],
            amounts,
        )?
        .collect::<crate::sql::Result<Vec<_>>>()?
    };
    Ok(rows)
}

/// The dashboard of the printers `who` may see in `filter`, in `unit`, with hours and days in
/// `tz`, as of `now`. Hours are kept in UTC: in a zone whose offset is not whole hours (India,
/// Nepal), an hour's production falls in the local hour it started in.
pub fn dashboard(
    conn: &Connection,
    who: &UserPrincipal,
    filter: Filter,
    unit: ProductionUnit,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<FleetDashboard, ApiError> {
    let (group, device) = resolve(conn, who, filter)?;
    let today = now.with_timezone(&tz).date_naive();
    let first = today - chrono::Duration::days(29);
    let mut today_by_hour = vec![0.0; 24];
    let mut days: Vec<DayFigure> = (0..30)
        .map(|i| DayFigure {
            date: (first + chrono::Duration::days(i)).to_string(),
            value: 0.0,
            ink_ml: 0.0,
        })
        .collect();
    for (hour, a) in hours_since(conn, who, group, device, midnight(tz, first))? {
        let local = from_ms(hour).with_timezone(&tz);
        let date = local.date_naive();
        let value = value_in(unit, &a);
        if date == today {
            today_by_hour[local.hour() as usize] += value;
        }
        if let Some(d) = usize::try_from((date - first).num_days())
            .ok()
            .and_then(|i| days.get_mut(i))
        {
            d.value += value;
            d.ink_ml += a.ink_ml;
        }
    }
    let (devices, states) = state_counts(conn, who, group, device, now)?;
    Ok(FleetDashboard {
        unit,
        time_zone: tz.name().to_owned(),
        today: today.to_string(),
        today_by_hour,
        days,
        devices,
        states,
    })
}

fn state_counts(
    conn: &Connection,
    who: &UserPrincipal,
    group: Option<i64>,
    device: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(u32, StateCounts), ApiError> {
    let silent_before = now.timestamp_millis() - SILENT_AFTER_MINUTES * 60_000;
    let rows: Vec<(String, i64)> = conn
        .prepare_cached(&format!(
            "SELECT CASE WHEN s.device_id IS NULL OR s.state = '' THEN 'none'
                         WHEN a.last_seen_at IS NOT NULL AND a.last_seen_at < ?4 THEN 'silent'
                         ELSE s.state END AS st, COUNT(*)
             FROM devices d LEFT JOIN device_status s ON s.device_id = d.id
             LEFT JOIN agents a ON a.id = d.agent_id
             WHERE {VISIBLE} AND (CAST(?5 AS BIGINT) IS NULL OR d.group_id = ?5) AND (CAST(?6 AS BIGINT) IS NULL OR d.id = ?6)
             GROUP BY st"
        ))?
        .query_map(
            params![
                who.id,
                who.org_id,
                who.role == Role::Admin,
                silent_before,
                group,
                device
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<crate::sql::Result<_>>()?;
    let mut counts = StateCounts::default();
    let mut total = 0;
    for (state, n) in rows {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        total += n;
        match state.as_str() {
            "printing" => counts.printing += n,
            "standby" => counts.standby += n,
            "error" => counts.error += n,
            "silent" => counts.silent += n,
            "none" => counts.no_report += n,
            _ => counts.other += n,
        }
    }
    Ok((total, counts))
}

/// The printers `who` may see that need someone: in error, silent, a consumable at or below
/// `below` percent, a remote operation that failed in the last 24 hours. Errors first, then
/// the rest; the newest first within each; at most `limit` of each reason.
pub fn attention(
    conn: &Connection,
    who: &UserPrincipal,
    below: f64,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<AttentionItem>, ApiError> {
    let now_ms = now.timestamp_millis();
    let visible = params![who.id, who.org_id, who.role == Role::Admin];
    let device_columns = "d.public_id, d.manufacturer, d.model, d.serial_number";
    let mut items = Vec::new();
    let mut push = |reason: AttentionReason,
                    (id, manufacturer, model, serial_number, at, detail): (
        String,
        String,
        String,
        String,
        i64,
        Option<String>,
    )|
     -> Result<(), ApiError> {
        items.push(AttentionItem {
            reason,
            device_id: parse_uuid(&id)?,
            manufacturer,
            model,
            serial_number,
            at: from_ms(at),
            detail,
        });
        Ok(())
    };
    type Row = (String, String, String, String, i64, Option<String>);
    let row = |r: &crate::sql::Row<'_>| -> crate::sql::Result<Row> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    };

    let errors: Vec<Row> = conn
        .prepare_cached(&format!(
            "SELECT {device_columns}, s.captured_at, s.codes FROM device_status s
             JOIN devices d ON d.id = s.device_id
             WHERE s.state = 'error' AND {VISIBLE} ORDER BY s.captured_at DESC LIMIT ?4"
        ))?
        .query_map(params![visible[0], visible[1], visible[2], limit], row)?
        .collect::<crate::sql::Result<_>>()?;
    for (id, m, model, serial, at, codes) in errors {
        let codes: Vec<(String, String, Option<String>)> =
            from_json(codes.as_deref().unwrap_or("[]"))?;
        let detail = codes
            .iter()
            .filter(|(severity, _, _)| severity == "error")
            .map(|(_, code, description)| match description {
                Some(d) => format!("{code}: {d}"),
                None => code.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        push(
            AttentionReason::Error,
            (
                id,
                m,
                model,
                serial,
                at,
                (!detail.is_empty()).then_some(detail),
            ),
        )?;
    }

    let silent: Vec<Row> = conn
        .prepare_cached(&format!(
            "SELECT {device_columns}, a.last_seen_at, NULL FROM devices d
             JOIN agents a ON a.id = d.agent_id
             WHERE a.last_seen_at < ?4 AND a.deleted_at IS NULL AND a.disabled = 0 AND {VISIBLE}
             ORDER BY a.last_seen_at DESC LIMIT ?5"
        ))?
        .query_map(
            params![
                visible[0],
                visible[1],
                visible[2],
                now_ms - SILENT_AFTER_MINUTES * 60_000,
                limit
            ],
            row,
        )?
        .collect::<crate::sql::Result<_>>()?;
    for r in silent {
        push(AttentionReason::Silent, r)?;
    }

    let low: Vec<Row> = conn
        .prepare_cached(&format!(
            "SELECT {device_columns}, s.captured_at, s.consumables FROM device_status s
             JOIN devices d ON d.id = s.device_id
             WHERE s.lowest_percent <= ?4 AND {VISIBLE} ORDER BY s.lowest_percent LIMIT ?5"
        ))?
        .query_map(
            params![visible[0], visible[1], visible[2], below, limit],
            row,
        )?
        .collect::<crate::sql::Result<_>>()?;
    for (id, m, model, serial, at, consumables) in low {
        let levels: Vec<(String, f64)> = from_json(consumables.as_deref().unwrap_or("[]"))?;
        let detail = levels
            .iter()
            .filter(|(_, p)| *p <= below)
            .map(|(name, p)| format!("{name} {p:.0} %"))
            .collect::<Vec<_>>()
            .join(", ");
        push(
            AttentionReason::ConsumableLow,
            (id, m, model, serial, at, Some(detail)),
        )?;
    }

    let failed: Vec<Row> = conn
        .prepare_cached(&format!(
            "SELECT {device_columns}, o.updated_at, o.kind || ' ' || o.state FROM operations o
             JOIN devices d ON d.id = o.device_id
             WHERE o.org_id = ?2 AND o.updated_at >= ?4
               AND o.state IN ('failed', 'rejected', 'timed_out', 'expired') AND {VISIBLE}
             ORDER BY o.updated_at DESC LIMIT ?5"
        ))?
        .query_map(
            params![
                visible[0],
                visible[1],
                visible[2],
                now_ms - 24 * HOUR_MS,
                limit
            ],
            row,
        )?
        .collect::<crate::sql::Result<_>>()?;
    for r in failed {
        push(AttentionReason::OperationFailed, r)?;
    }
    Ok(items)
}

/// The production of each printer `who` may see in `filter`, by day over the last 30 days in
/// `tz`, as CSV with a header: only days a printer produced something.
pub fn production_csv(
    conn: &Connection,
    who: &UserPrincipal,
    filter: Filter,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, ApiError> {
    let (group, device) = resolve(conn, who, filter)?;
    let first = now.with_timezone(&tz).date_naive() - chrono::Duration::days(29);
    type Row = (String, String, String, i64, f64, f64, f64, f64, f64);
    let rows: Vec<Row> = conn
        .prepare_cached(&format!(
            "SELECT d.manufacturer, d.model, d.serial_number, p.hour, p.jobs, p.sheets,
                    p.area_m2, p.ink_ml, p.printing_s
             FROM production_hours p JOIN devices d ON d.id = p.device_id
             WHERE {VISIBLE} AND p.hour >= ?4 AND (CAST(?5 AS BIGINT) IS NULL OR d.group_id = ?5)
               AND (CAST(?6 AS BIGINT) IS NULL OR d.id = ?6)
             ORDER BY d.serial_number, d.id, p.hour"
        ))?
        .query_map(
            params![
                who.id,
                who.org_id,
                who.role == Role::Admin,
                midnight(tz, first),
                group,
                device
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            },
        )?
        .collect::<crate::sql::Result<_>>()?;
    // (manufacturer, model, serial, day) → amounts, in the rows' order.
    let mut days: Vec<((String, String, String, NaiveDate), Amounts)> = Vec::new();
    for (m, model, serial, hour, jobs, sheets, area_m2, ink_ml, printing_s) in rows {
        let day = from_ms(hour).with_timezone(&tz).date_naive();
        let a = Amounts {
            jobs,
            sheets,
            area_m2,
            ink_ml,
            printing_s,
        };
        match days.last_mut() {
            Some((key, sum)) if key.0 == m && key.1 == model && key.2 == serial && key.3 == day => {
                sum.add(&a)
            }
            _ => days.push(((m, model, serial, day), a)),
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| StoreError::Task(e.to_string());
    out.write_record([
        "date",
        "manufacturer",
        "model",
        "serial_number",
        "jobs",
        "sheets",
        "printed_m2",
        "printed_ft2",
        "ink_ml",
        "printing_hours",
    ])
    .map_err(io)?;
    for ((m, model, serial, day), a) in days {
        out.write_record([
            day.to_string(),
            m,
            model,
            serial,
            format!("{:.0}", a.jobs),
            format!("{:.0}", a.sheets),
            format!("{:.2}", a.area_m2),
            format!("{:.2}", a.area_m2 * FT2_PER_M2),
            format!("{:.1}", a.ink_ml),
            format!("{:.2}", a.printing_s / 3600.0),
        ])
        .map_err(io)?;
    }
    out.into_inner()
        .map_err(|e| StoreError::Task(e.to_string()).into())
}
