//! The ES agent simulator: printers that behave like large-format inkjets over time — jobs come
//! and go, ink drains, nozzles clog, warnings appear when an ink runs low — and that answer the
//! three remote operations: status (with cumulative counters), head cleaning (takes time, uses
//! ink, fills the maintenance box, clears clogged nozzles) and diagnosis (a self-test report).
//!
//! Time is the caller's: [`SimPrinter::advance`] moves a printer to a given instant, so tests can
//! run hours of use in a moment, and `time_scale` shortens the duration of head cleanings.
//! Everything random comes from a seeded generator, so a fleet built with the same seed behaves
//! the same.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ecsp_protocol::agent::{Consumable, DeviceData, DeviceDataRecord, DeviceJob, InkUsage};
use ecsp_protocol::common::CodeEvent;
use ecsp_protocol::remote_ops::{
    CleaningLevel, Command, DeviceCapabilities, DiagnosisCheck, DiagnosisReport,
    HeadCleaningResult, OperationCounters, OperationKind, OperationResult, Reason, ReasonCode,
    StatusResult, Verdict,
};
use uuid::Uuid;

const HISTORY: usize = 50;
/// Nozzles per colour row.
const NOZZLES: u32 = 800;

#[derive(Debug, Clone, PartialEq)]
pub struct Ink {
    pub color: String,
    pub capacity_ml: f64,
    pub level_ml: f64,
    /// Used since the printer was made, all cartridges.
    pub used_ml: f64,
}

impl Ink {
    fn percent(&self) -> f64 {
        (self.level_ml / self.capacity_ml * 100.0).clamp(0.0, 100.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activity {
    Idle,
    Printing { until: DateTime<Utc> },
    Cleaning { until: DateTime<Utc> },
}

/// One simulated printer.
#[derive(Debug)]
pub struct SimPrinter {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub firmware_version: String,
    pub supports_diagnosis: bool,
    pub inks: Vec<Ink>,
    /// Maintenance box (waste ink), percent full.
    pub maintenance_box_percent: f64,
    pub activity: Activity,
    pub missing_nozzles: u32,
    pub total_pages: u64,
    pub printing_time_s: u64,
    pub printed_area_m2: f64,
    pub head_cleanings: u64,
    pub made_at: DateTime<Utc>,
    pub jobs: VecDeque<DeviceJob>,
    pub status_history: VecDeque<CodeEvent>,
    pub cleaning_history: VecDeque<CodeEvent>,
    /// Where [`advance`](Self::advance) last stopped.
    pub clock: DateTime<Utc>,
    /// The capture time of the latest report handed out by [`SimPrinter::new_report`].
    pub last_reported: Option<DateTime<Utc>>,
    /// Multiplies the real duration of head cleanings (1.0 real time; 0.01 for tests).
    pub time_scale: f64,
    rng: fastrand::Rng,
}

const MODELS: &[(&str, &[&str])] = &[
    (
        "SureColor SC-P9500",
        &[
            "photo_black",
            "matte_black",
            "cyan",
            "vivid_magenta",
            "yellow",
            "light_cyan",
            "vivid_light_magenta",
            "gray",
            "light_gray",
            "orange",
            "green",
            "violet",
        ],
    ),
    (
        "SureColor SC-F10000",
        &[
            "black",
            "cyan",
            "magenta",
            "yellow",
            "fluorescent_pink",
            "fluorescent_yellow",
        ],
    ),
    (
        "SureColor SC-S80600",
        &[
            "black",
            "cyan",
            "magenta",
            "yellow",
            "light_cyan",
            "light_magenta",
            "light_black",
            "white",
            "metallic_silver",
        ],
    ),
];

fn event(code: &str, description: &str, at: DateTime<Utc>) -> CodeEvent {
    CodeEvent {
        code: code.to_owned(),
        description: Some(description.to_owned()),
        occurred_at: Some(at),
    }
}

fn push_capped<T>(q: &mut VecDeque<T>, item: T) {
    if q.len() == HISTORY {
        q.pop_front();
    }
    q.push_back(item);
}

impl SimPrinter {
    /// A printer of `model` (one of the SureColor lines here, or any name: then four inks).
    pub fn new(model: &str, serial_number: &str, seed: u64, now: DateTime<Utc>) -> Self {
        let mut rng = fastrand::Rng::with_seed(seed);
        let colors: &[&str] = MODELS
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, c)| *c)
            .unwrap_or(&["black", "cyan", "magenta", "yellow"]);
        let inks = colors
            .iter()
            .map(|c| {
                let capacity_ml = 700.0;
                Ink {
                    color: (*c).to_owned(),
                    capacity_ml,
                    level_ml: capacity_ml * (0.3 + rng.f64() * 0.7),
                    used_ml: 2000.0 + rng.f64() * 8000.0,
                }
            })
            .collect();
        SimPrinter {
            manufacturer: "Epson".into(),
            model: model.to_owned(),
            serial_number: serial_number.to_owned(),
            firmware_version: format!("WQ{:02}P{}", rng.u8(10..40), rng.u8(1..9)),
            // Diagnosis is a capability of the production models only.
            supports_diagnosis: !model.contains("P9500"),
            inks,
            maintenance_box_percent: rng.f64() * 40.0,
            activity: Activity::Idle,
            missing_nozzles: 0,
            total_pages: rng.u64(1000..50_000),
            printing_time_s: rng.u64(100_000..2_000_000),
            printed_area_m2: 500.0 + rng.f64() * 20_000.0,
            head_cleanings: rng.u64(10..300),
            made_at: now - ChronoDuration::days(rng.i64(100..1500)),
            jobs: VecDeque::new(),
            status_history: VecDeque::new(),
            cleaning_history: VecDeque::new(),
            clock: now,
            last_reported: None,
            time_scale: 1.0,
            rng,
        }
    }

    fn busy_until(&self) -> Option<DateTime<Utc>> {
        match self.activity {
            Activity::Idle => None,
            Activity::Printing { until } | Activity::Cleaning { until } => Some(until),
        }
    }

    /// Moves the printer's life forward to `now`, a minute at a time: jobs start (about one in
    /// six idle minutes) and use ink, nozzles occasionally clog, low inks raise warnings.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        while self.clock + ChronoDuration::minutes(1) <= now {
            self.clock += ChronoDuration::minutes(1);
            let t = self.clock;
            if let Some(until) = self.busy_until() {
                if t >= until {
                    self.activity = Activity::Idle;
                }
                continue;
            }
            if self.rng.u8(0..6) == 0 && self.inks.iter().all(|i| i.level_ml > 1.0) {
                self.print_job(t);
            }
            if self.rng.u16(0..2000) == 0 {
                self.missing_nozzles += self.rng.u32(1..12);
                push_capped(
                    &mut self.status_history,
                    event(
                        "warning.nozzle_clog",
                        "nozzle check found missing nozzles",
                        t,
                    ),
                );
            }
        }
    }

    fn print_job(&mut self, t: DateTime<Utc>) {
        let minutes = self.rng.i64(2..25);
        let area = minutes as f64 * (0.8 + self.rng.f64() * 1.5);
        let pages = self.rng.u32(1..20);
        for ink in &mut self.inks {
            let used = (area * (0.2 + self.rng.f64() * 0.8)).min(ink.level_ml);
            let before = ink.percent();
            ink.level_ml -= used;
            ink.used_ml += used;
            if before >= 10.0 && ink.percent() < 10.0 {
                push_capped(
                    &mut self.status_history,
                    event(
                        &format!("warning.ink_low.{}", ink.color),
                        "ink level below 10 %",
                        t,
                    ),
                );
            }
        }
        let until = t + ChronoDuration::minutes(minutes);
        self.activity = Activity::Printing { until };
        self.total_pages += u64::from(pages);
        self.printing_time_s += minutes as u64 * 60;
        self.printed_area_m2 += area;
        let media = [
            "Premium Glossy Photo Paper",
            "Enhanced Matte",
            "Transfer Multi-Purpose",
        ];
        push_capped(
            &mut self.jobs,
            DeviceJob {
                started_at: t,
                finished_at: Some(until),
                result: "completed".into(),
                pages: Some(pages),
                printed_area_m2: Some((area * 100.0).round() / 100.0),
                media: Some(media[self.rng.usize(0..media.len())].into()),
            },
        );
    }

    /// Errors and warnings active now.
    pub fn error_codes(&self) -> Vec<CodeEvent> {
        let mut codes = Vec::new();
        for ink in &self.inks {
            if ink.level_ml < 1.0 {
                codes.push(event(
                    &format!("error.ink_end.{}", ink.color),
                    "replace the ink",
                    self.clock,
                ));
            } else if ink.percent() < 10.0 {
                codes.push(event(
                    &format!("warning.ink_low.{}", ink.color),
                    "ink level below 10 %",
                    self.clock,
                ));
            }
        }
        if self.maintenance_box_percent >= 100.0 {
            codes.push(event(
                "error.maintenance_box_full",
                "replace the maintenance box",
                self.clock,
            ));
        } else if self.maintenance_box_percent >= 90.0 {
            codes.push(event(
                "warning.maintenance_box_near_full",
                "maintenance box nearly full",
                self.clock,
            ));
        }
        codes
    }

    pub fn printer_status(&self) -> &'static str {
        if self
            .error_codes()
            .iter()
            .any(|c| c.code.starts_with("error."))
        {
            return "error";
        }
        match self.activity {
            Activity::Idle => "idle",
            Activity::Printing { .. } => "printing",
            Activity::Cleaning { .. } => "cleaning",
        }
    }

    pub fn consumables(&self) -> Vec<Consumable> {
        let mut c: Vec<Consumable> = self
            .inks
            .iter()
            .map(|i| Consumable {
                kind: "ink_cartridge".into(),
                color: Some(i.color.clone()),
                part_number: None,
                remaining_percent: Some((i.percent() * 10.0).round() / 10.0),
            })
            .collect();
        c.push(Consumable {
            kind: "maintenance_box".into(),
            color: None,
            part_number: None,
            remaining_percent: Some(
                ((100.0 - self.maintenance_box_percent).clamp(0.0, 100.0) * 10.0).round() / 10.0,
            ),
        });
        c
    }

    fn ink_usage(&self) -> Vec<InkUsage> {
        self.inks
            .iter()
            .map(|i| InkUsage {
                color: i.color.clone(),
                millilitres: (i.used_ml * 10.0).round() / 10.0,
            })
            .collect()
    }

    pub fn status(&self) -> StatusResult {
        StatusResult {
            printer_status: self.printer_status().into(),
            error_codes: self.error_codes(),
            consumables: self.consumables(),
            counters: OperationCounters {
                total_pages: Some(self.total_pages),
                printing_time_s: Some(self.printing_time_s),
                printed_area_m2: Some((self.printed_area_m2 * 100.0).round() / 100.0),
                power_on_hours: Some(
                    u64::try_from((self.clock - self.made_at).num_hours()).unwrap_or(0),
                ),
                head_cleanings: Some(self.head_cleanings),
                ink_usage: self.ink_usage(),
            },
        }
    }

    /// A device-data record as the ES agent uploads it.
    /// A report, unless one with this capture time was already handed out: the printer's clock
    /// moves a minute at a time, so a caller asking more often than once a minute would
    /// otherwise send the same reading twice under two record ids.
    pub fn new_report(&mut self) -> Option<DeviceDataRecord> {
        let record = self.device_data();
        if self.last_reported.is_some_and(|t| t >= record.captured_at) {
            return None;
        }
        self.last_reported = Some(record.captured_at);
        Some(record)
    }

    pub fn device_data(&self) -> DeviceDataRecord {
        DeviceDataRecord {
            record_id: Uuid::new_v4(),
            captured_at: self.clock.min(Utc::now()),
            device: DeviceData {
                manufacturer: self.manufacturer.clone(),
                model: self.model.clone(),
                serial_number: self.serial_number.clone(),
                region_code: None,
                country_code: None,
                device_time: Some(self.clock.min(Utc::now())),
                firmware_version: self.firmware_version.clone(),
                printer_status: Some(self.printer_status().into()),
                error_codes: self.error_codes(),
                status_history: self.status_history.iter().cloned().collect(),
                operation_panel_settings: None,
                printer_settings: None,
                maintenance_settings: None,
                media_settings: None,
                network_settings: None,
                consumables: self.consumables(),
                cleaning_history: self.cleaning_history.iter().cloned().collect(),
                maintenance_history: Vec::new(),
                cumulative_ink_usage: self.ink_usage(),
                cumulative_printing_time_s: Some(self.printing_time_s),
                cumulative_printing_area_m2: Some((self.printed_area_m2 * 100.0).round() / 100.0),
                job_history: self
                    .jobs
                    .iter()
                    .filter(|j| j.finished_at.is_none_or(|f| f <= Utc::now()))
                    .cloned()
                    .collect(),
            },
        }
    }

    fn cleaning_cost(level: CleaningLevel) -> (u32, f64, f64) {
        // (seconds, ml of each cleaned colour, share of missing nozzles recovered)
        match level {
            CleaningLevel::Normal => (60, 0.6, 0.6),
            CleaningLevel::Strong => (95, 1.5, 0.9),
            CleaningLevel::Power => (180, 4.0, 1.0),
        }
    }

    /// Starts a head cleaning at `now`: checks, consumes ink, and returns how long it takes
    /// and its result, to be reported once that time has passed.
    pub fn start_cleaning(
        &mut self,
        level: CleaningLevel,
        colors: &[String],
        now: DateTime<Utc>,
    ) -> Result<(Duration, HeadCleaningResult), Reason> {
        self.advance(now);
        if let Activity::Cleaning { .. } = self.activity {
            return Err(Reason {
                code: ReasonCode::DeviceBusy,
                message: Some("a head cleaning is already running".into()),
            });
        }
        if let Some(unknown) = colors
            .iter()
            .find(|c| !self.inks.iter().any(|i| &i.color == *c))
        {
            return Err(Reason {
                code: ReasonCode::InvalidCommand,
                message: Some(format!("this printer has no `{unknown}` ink")),
            });
        }
        let (secs, ml, recovered) = Self::cleaning_cost(level);
        let targets: Vec<usize> = (0..self.inks.len())
            .filter(|i| colors.is_empty() || colors.contains(&self.inks[*i].color))
            .collect();
        if let Some(i) = targets.iter().find(|i| self.inks[**i].level_ml < ml) {
            return Err(Reason {
                code: ReasonCode::DeviceError,
                message: Some(format!(
                    "not enough {} ink for a cleaning",
                    self.inks[*i].color
                )),
            });
        }
        let mut ink_used = Vec::new();
        for i in targets {
            let ink = &mut self.inks[i];
            ink.level_ml -= ml;
            ink.used_ml += ml;
            ink_used.push(InkUsage {
                color: ink.color.clone(),
                millilitres: ml,
            });
        }
        self.maintenance_box_percent += ml * ink_used.len() as f64 * 0.05;
        self.missing_nozzles = (f64::from(self.missing_nozzles) * (1.0 - recovered)).round() as u32;
        self.head_cleanings += 1;
        let real = Duration::from_secs_f64(f64::from(secs) * self.time_scale);
        let until = now + ChronoDuration::from_std(real).unwrap_or_default();
        // A printing job is paused for the cleaning and resumes after it.
        self.activity = Activity::Cleaning { until };
        let level_word = match level {
            CleaningLevel::Normal => "normal",
            CleaningLevel::Strong => "strong",
            CleaningLevel::Power => "power",
        };
        push_capped(
            &mut self.cleaning_history,
            event(
                &format!("cleaning.{level_word}"),
                "head cleaning (remote)",
                now,
            ),
        );
        Ok((
            real,
            HeadCleaningResult {
                level,
                nozzles_ok: self.missing_nozzles == 0,
                missing_nozzles: Some(self.missing_nozzles),
                duration_s: secs,
                ink_used,
            },
        ))
    }

    /// Ends a cleaning that started earlier (its time has passed).
    pub fn finish_cleaning(&mut self) {
        if let Activity::Cleaning { .. } = self.activity {
            self.activity = Activity::Idle;
        }
    }

    /// The printer's self-test.
    pub fn diagnosis(&self) -> Result<DiagnosisReport, Reason> {
        if !self.supports_diagnosis {
            return Err(Reason {
                code: ReasonCode::NotSupported,
                message: Some("this model has no remote fault diagnosis".into()),
            });
        }
        let mut checks = vec![
            DiagnosisCheck {
                code: "head_temperature".into(),
                verdict: Verdict::Pass,
                error_code: None,
                detail: Some("32.5 °C".into()),
            },
            DiagnosisCheck {
                code: "carriage_motor".into(),
                verdict: Verdict::Pass,
                error_code: None,
                detail: None,
            },
        ];
        let nozzle_verdict = match self.missing_nozzles {
            0 => Verdict::Pass,
            n if n < NOZZLES / 100 => Verdict::Warning,
            _ => Verdict::Fail,
        };
        checks.push(DiagnosisCheck {
            code: "nozzle_check".into(),
            verdict: nozzle_verdict,
            error_code: (nozzle_verdict != Verdict::Pass).then(|| "W-NZ01".into()),
            detail: Some(format!("{} missing nozzles", self.missing_nozzles)),
        });
        let empty = self.inks.iter().filter(|i| i.level_ml < 1.0).count();
        let low = self.inks.iter().filter(|i| i.percent() < 10.0).count();
        checks.push(DiagnosisCheck {
            code: "ink_supply".into(),
            verdict: if empty > 0 {
                Verdict::Fail
            } else if low > 0 {
                Verdict::Warning
            } else {
                Verdict::Pass
            },
            error_code: (empty > 0).then(|| "E-IK01".into()),
            detail: Some(format!("{empty} empty, {low} low")),
        });
        checks.push(DiagnosisCheck {
            code: "maintenance_box".into(),
            verdict: if self.maintenance_box_percent >= 100.0 {
                Verdict::Fail
            } else if self.maintenance_box_percent >= 90.0 {
                Verdict::Warning
            } else {
                Verdict::Pass
            },
            error_code: None,
            detail: Some(format!("{:.0} % full", self.maintenance_box_percent)),
        });
        let verdict = if checks.iter().any(|c| c.verdict == Verdict::Fail) {
            Verdict::Fail
        } else if checks.iter().any(|c| c.verdict == Verdict::Warning) {
            Verdict::Warning
        } else {
            Verdict::Pass
        };
        Ok(DiagnosisReport { verdict, checks })
    }

    pub fn capabilities(&self) -> DeviceCapabilities {
        let mut operations = vec![OperationKind::Status, OperationKind::HeadCleaning];
        if self.supports_diagnosis {
            operations.push(OperationKind::Diagnosis);
        }
        DeviceCapabilities {
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            serial_number: self.serial_number.clone(),
            operations,
        }
    }
}

/// N simulated printers behind one ES agent identity (or one per printer, as the caller likes).
#[derive(Debug, Clone)]
pub struct Fleet {
    printers: Vec<Arc<Mutex<SimPrinter>>>,
}

impl Fleet {
    /// `n` printers cycling through the models here, serials `SIM<seed>-00001`…
    pub fn generate(n: usize, seed: u64, now: DateTime<Utc>) -> Self {
        let printers = (0..n)
            .map(|i| {
                let model = MODELS[i % MODELS.len()].0;
                let serial = format!("SIM{seed}-{:05}", i + 1);
                Arc::new(Mutex::new(SimPrinter::new(
                    model,
                    &serial,
                    seed.wrapping_add(i as u64),
                    now,
                )))
            })
            .collect();
        Fleet { printers }
    }

    /// Printers with given identities (e.g. the devices registered on a server).
    pub fn from_devices<'a>(
        devices: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Self {
        let printers = devices
            .into_iter()
            .enumerate()
            .map(|(i, (manufacturer, model, serial))| {
                let mut p = SimPrinter::new(model, serial, seed.wrapping_add(i as u64), now);
                p.manufacturer = manufacturer.to_owned();
                Arc::new(Mutex::new(p))
            })
            .collect();
        Fleet { printers }
    }

    pub fn printers(&self) -> &[Arc<Mutex<SimPrinter>>] {
        &self.printers
    }

    /// Runs `f` on every printer.
    pub fn each(&self, mut f: impl FnMut(&mut SimPrinter)) {
        for p in &self.printers {
            f(&mut p.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    pub fn set_time_scale(&self, scale: f64) {
        self.each(|p| p.time_scale = scale);
    }

    pub fn advance(&self, now: DateTime<Utc>) {
        self.each(|p| p.advance(now));
    }

    pub fn device_data(&self) -> Vec<DeviceDataRecord> {
        let mut out = Vec::new();
        self.each(|p| out.push(p.device_data()));
        out
    }

    /// The reports whose capture time has not been reported yet (see
    /// [`SimPrinter::new_report`]).
    pub fn new_reports(&self) -> Vec<DeviceDataRecord> {
        let mut out = Vec::new();
        self.each(|p| out.extend(p.new_report()));
        out
    }

    pub fn capabilities(&self) -> Vec<DeviceCapabilities> {
        let mut out = Vec::new();
        self.each(|p| out.push(p.capabilities()));
        out
    }

    fn find(&self, cmd: &Command) -> Option<Arc<Mutex<SimPrinter>>> {
        self.printers
            .iter()
            .find(|p| {
                let p = p.lock().unwrap_or_else(|e| e.into_inner());
                p.serial_number == cmd.serial_number
                    && p.model == cmd.model
                    && p.manufacturer == cmd.manufacturer
            })
            .cloned()
    }

    /// Whether a command can start now on its printer.
    pub fn check(&self, cmd: &Command) -> Result<(), Reason> {
        let Some(printer) = self.find(cmd) else {
            return Err(Reason {
                code: ReasonCode::UnknownDevice,
                message: Some("no such printer behind this agent".into()),
            });
        };
        let p = printer.lock().unwrap_or_else(|e| e.into_inner());
        match cmd.kind {
            OperationKind::Diagnosis if !p.supports_diagnosis => Err(Reason {
                code: ReasonCode::NotSupported,
                message: Some("this model has no remote fault diagnosis".into()),
            }),
            OperationKind::HeadCleaning if matches!(p.activity, Activity::Cleaning { .. }) => {
                Err(Reason {
                    code: ReasonCode::DeviceBusy,
                    message: Some("a head cleaning is already running".into()),
                })
            }
            _ => Ok(()),
        }
    }

    /// Runs a command on its printer; a head cleaning really takes its (scaled) time.
    pub async fn execute(&self, cmd: &Command) -> Result<OperationResult, Reason> {
        let Some(printer) = self.find(cmd) else {
            return Err(Reason {
                code: ReasonCode::UnknownDevice,
                message: Some("no such printer behind this agent".into()),
            });
        };
        let now = Utc::now();
        match cmd.kind {
            OperationKind::Status => {
                let mut p = printer.lock().unwrap_or_else(|e| e.into_inner());
                p.advance(now);
                Ok(OperationResult::Status(p.status()))
            }
            OperationKind::Diagnosis => {
                let mut p = printer.lock().unwrap_or_else(|e| e.into_inner());
                p.advance(now);
                p.diagnosis().map(OperationResult::Diagnosis)
            }
            OperationKind::HeadCleaning => {
                let (level, colors) = cmd
                    .head_cleaning
                    .as_ref()
                    .map(|h| (h.level, h.colors.clone()))
                    .unwrap_or_default();
                let (wait, result) = printer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .start_cleaning(level, &colors, now)?;
                tokio::time::sleep(wait).await;
                printer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .finish_cleaning();
                Ok(OperationResult::HeadCleaning(result))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_use_prints_jobs_and_drains_ink() {
        let start = Utc::now() - ChronoDuration::days(2);
        let mut p = SimPrinter::new("SureColor SC-F10000", "S1", 7, start);
        let before_pages = p.total_pages;
        let before_ink: f64 = p.inks.iter().map(|i| i.level_ml).sum();
        p.advance(start + ChronoDuration::hours(24));
        assert!(p.total_pages > before_pages);
        assert!(p.jobs.len() > 5, "{} jobs", p.jobs.len());
        let after_ink: f64 = p.inks.iter().map(|i| i.level_ml).sum();
        assert!(after_ink < before_ink);
        assert!(p.inks.iter().all(|i| i.level_ml >= 0.0));
    }

    #[test]
    fn the_same_seed_gives_the_same_printer_life() {
        let start = Utc::now() - ChronoDuration::days(2);
        let run = || {
            let mut p = SimPrinter::new("SureColor SC-S80600", "S1", 42, start);
            p.advance(start + ChronoDuration::hours(10));
            (p.total_pages, p.jobs.len(), p.inks[0].level_ml)
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn a_head_cleaning_uses_ink_clears_nozzles_and_refuses_a_second_at_once() {
        let now = Utc::now();
        let mut p = SimPrinter::new("SureColor SC-P9500", "S1", 3, now);
        p.missing_nozzles = 10;
        let cyan_before = p
            .inks
            .iter()
            .find(|i| i.color == "cyan")
            .map(|i| i.level_ml);
        let (wait, result) = p
            .start_cleaning(CleaningLevel::Power, &["cyan".into()], now)
            .expect("cleaning");
        assert_eq!(wait, Duration::from_secs(180));
        assert!(result.nozzles_ok);
        assert_eq!(result.ink_used.len(), 1);
        let cyan_after = p
            .inks
            .iter()
            .find(|i| i.color == "cyan")
            .map(|i| i.level_ml);
        assert_eq!(cyan_before.map(|b| b - 4.0), cyan_after);
        assert_eq!(p.printer_status(), "cleaning");
        let busy = p
            .start_cleaning(CleaningLevel::Normal, &[], now)
            .expect_err("busy");
        assert_eq!(busy.code, ReasonCode::DeviceBusy);
        let unknown = {
            p.finish_cleaning();
            p.start_cleaning(CleaningLevel::Normal, &["white".into()], now)
                .expect_err("no white")
        };
        assert_eq!(unknown.code, ReasonCode::InvalidCommand);
    }

    #[test]
    fn diagnosis_reports_clogs_and_is_refused_where_unsupported() {
        let now = Utc::now();
        let mut p = SimPrinter::new("SureColor SC-F10000", "S1", 3, now);
        p.missing_nozzles = 30;
        let report = p.diagnosis().expect("supported");
        assert_eq!(report.verdict, Verdict::Fail);
        assert!(
            report
                .checks
                .iter()
                .any(|c| c.code == "nozzle_check" && c.verdict == Verdict::Fail)
        );
        let photo = SimPrinter::new("SureColor SC-P9500", "S2", 3, now);
        assert_eq!(
            photo.diagnosis().expect_err("unsupported").code,
            ReasonCode::NotSupported
        );
        assert!(
            !photo
                .capabilities()
                .operations
                .contains(&OperationKind::Diagnosis)
        );
    }

    #[test]
    fn device_data_passes_the_servers_validation() {
        use ecsp_protocol::Validate;
        let start = Utc::now() - ChronoDuration::days(1);
        let fleet = Fleet::generate(5, 9, start);
        fleet.advance(Utc::now());
        for r in fleet.device_data() {
            r.validate(Utc::now()).expect("valid device data");
        }
    }

    #[test]
    fn asked_more_often_than_once_a_minute_no_capture_time_is_reported_twice() {
        let start = Utc::now() - ChronoDuration::hours(1);
        let fleet = Fleet::generate(3, 5, start);
        fleet.advance(start + ChronoDuration::seconds(150));
        let first = fleet.new_reports();
        assert_eq!(first.len(), 3);
        // 20 s later the clocks have not moved a minute: nothing new to say.
        fleet.advance(start + ChronoDuration::seconds(170));
        assert!(fleet.new_reports().is_empty());
        // A minute on, each printer has a new reading, with a later capture time.
        fleet.advance(start + ChronoDuration::seconds(210));
        let second = fleet.new_reports();
        assert_eq!(second.len(), 3);
        for (a, b) in first.iter().zip(&second) {
            assert!(b.captured_at > a.captured_at);
        }
    }
}
