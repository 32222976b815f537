//! What a printer says about itself over SNMP — the Printer MIB (RFC 3805) and the Host Resources
//! MIB (RFC 2790) — read into a [`PrinterReading`] and turned into the server's
//! [`DeviceData`]. Reading does the I/O; the mapping is pure, so it is unit-tested on tables.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ecsp_protocol::agent::{Consumable, DeviceData};
use ecsp_protocol::common::CodeEvent;
use serde::Serialize;
use serde_json::json;

use crate::snmp::{Arcs, SnmpError, SnmpSession, SnmpValue, Walk};

pub mod oids {
    pub const SYS_DESCR: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
    pub const SYS_UPTIME: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
    /// hrDeviceDescr, hrDeviceStatus (hrDeviceEntry columns 3 and 5).
    pub const HR_DEVICE_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1];
    /// hrPrinterStatus (1), hrPrinterDetectedErrorState (2).
    pub const HR_PRINTER_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 25, 3, 5, 1];
    pub const PRT_GENERAL_SERIAL: &[u64] = &[1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17];
    /// prtMarkerEntry: CounterUnit (3), LifeCount (4).
    pub const PRT_MARKER_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 43, 10, 2, 1];
    /// prtMarkerSuppliesEntry: Class (4), Type (5), Description (6), SupplyUnit (7),
    /// MaxCapacity (8), Level (9).
    pub const PRT_SUPPLIES_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1];
    /// prtAlertEntry: SeverityLevel (2), Group (4), Code (7), Description (8), Time (9).
    pub const PRT_ALERT_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 43, 18, 1, 1];
    /// entPhysicalFirmwareRev (ENTITY-MIB): where printers that have it publish firmware.
    pub const ENT_FIRMWARE_REV: &[u64] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 9];
}

/// A supply level as the Printer MIB states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "value")]
pub enum Level {
    /// A count in the supply's unit, out of `max_capacity`.
    Measured(i64),
    /// −1: no restriction (e.g. a supply with unlimited capacity).
    Unrestricted,
    /// −2: the printer cannot tell.
    Unknown,
    /// −3: "some remaining" — neither empty nor measurable (common for toner without a chip).
    SomeRemaining,
    /// The column was missing from the walk.
    NotReported,
}

impl Level {
    fn from_raw(raw: Option<i64>) -> Level {
        match raw {
            None => Level::NotReported,
            Some(-1) => Level::Unrestricted,
            Some(-3) => Level::SomeRemaining,
            Some(v) if v >= 0 => Level::Measured(v),
            Some(_) => Level::Unknown,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Supply {
    pub index: u64,
    pub description: String,
    /// prtMarkerSuppliesTypeTC.
    pub supply_type: i64,
    /// 3 consumed (ink, toner), 4 a receptacle that fills (waste ink/toner).
    pub class: i64,
    pub max_capacity: Option<i64>,
    pub level: Level,
}

impl Supply {
    /// Remaining life in percent, where the printer measured it.
    pub fn remaining_percent(&self) -> Option<f64> {
        let Level::Measured(level) = self.level else {
            return None;
        };
        let max = self.max_capacity.filter(|m| *m > 0)? as f64;
        let level = (level as f64).min(max);
        let pct = if self.class == 4 {
            (max - level) / max * 100.0
        } else {
            level / max * 100.0
        };
        Some((pct * 10.0).round() / 10.0)
    }

    fn kind(&self) -> &'static str {
        match self.supply_type {
            3 => "toner_cartridge",
            4 | 9 => "waste_box",
            5 | 6 => "ink_cartridge",
            7 => "ink_ribbon",
            10 => "fuser",
            15..=17 => "transfer_unit",
            20 => "cleaner_unit",
            21 => "developer",
            32 => "toner",
            2 => "unknown",
            _ => "other",
        }
    }

    fn color(&self) -> Option<String> {
        const COLOURS: &[(&str, &str)] = &[
            ("light light black", "light_light_black"),
            ("light black", "light_black"),
            ("photo black", "photo_black"),
            ("matte black", "matte_black"),
            ("light cyan", "light_cyan"),
            ("light magenta", "light_magenta"),
            ("vivid light magenta", "vivid_light_magenta"),
            ("vivid magenta", "vivid_magenta"),
            ("black", "black"),
            ("cyan", "cyan"),
            ("magenta", "magenta"),
            ("yellow", "yellow"),
            ("orange", "orange"),
            ("green", "green"),
            ("violet", "violet"),
            ("gray", "gray"),
            ("grey", "gray"),
        ];
        let d = self.description.to_ascii_lowercase();
        COLOURS
            .iter()
            .find(|(name, _)| d.contains(name))
            .map(|(_, code)| (*code).to_owned())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarkerCounter {
    pub marker: u64,
    /// prtMarkerCounterUnit as a word (`impressions`, `sheets`, `meters`, …).
    pub unit: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub index: u64,
    /// 1 other, 3 critical, 4 warning, 5 warningBinaryChangeEvent.
    pub severity: i64,
    pub group: i64,
    pub code: i64,
    pub description: String,
    /// sysUpTime (hundredths of a second) when the alert was raised.
    pub time_ticks: Option<u64>,
}

/// hrPrinterDetectedErrorState bits (RFC 2790 plus RFC 3805's additions), most significant
/// bit of the first octet first.
pub const DETECTED_ERRORS: &[(&str, bool)] = &[
    ("low_paper", false),
    ("no_paper", true),
    ("low_toner", false),
    ("no_toner", true),
    ("door_open", true),
    ("jammed", true),
    ("offline", true),
    ("service_requested", true),
    ("input_tray_missing", true),
    ("output_tray_missing", true),
    ("marker_supply_missing", true),
    ("output_near_full", false),
    ("output_full", true),
    ("input_tray_empty", true),
    ("overdue_preventive_maintenance", false),
];

/// Everything read from one printer in one poll.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PrinterReading {
    pub sys_descr: Option<String>,
    /// hrDeviceDescr of the printer device.
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
    /// hrDeviceStatus: 1 unknown, 2 running, 3 warning, 4 testing, 5 down.
    pub device_status: Option<i64>,
    /// hrPrinterStatus: 1 other, 2 unknown, 3 idle, 4 printing, 5 warmup.
    pub printer_status: Option<i64>,
    /// Names from [`DETECTED_ERRORS`] whose bit is set.
    pub detected_errors: Vec<&'static str>,
    pub supplies: Vec<Supply>,
    pub counters: Vec<MarkerCounter>,
    pub alerts: Vec<Alert>,
    pub sys_uptime_ticks: Option<u64>,
    /// Tables the printer did not answer in full (walk ended early, or stopped answering).
    pub incomplete: Vec<String>,
    /// The printer's row in hrPrinterTable, which is also its row in hrDeviceTable.
    #[serde(skip)]
    pub printer_index: Option<u64>,
}

/// Reads a printer. The identity (serial number) must be readable, or the poll fails; after it,
/// a table the printer stops answering is noted in `incomplete` and the rest is kept.
pub async fn read_printer(session: &mut SnmpSession) -> Result<PrinterReading, SnmpError> {
    let mut r = PrinterReading::default();
    let scalars = session
        .get(&[oids::SYS_DESCR.to_vec(), oids::SYS_UPTIME.to_vec()])
        .await?;
    r.sys_descr = scalars[0].as_ref().and_then(SnmpValue::as_text);
    r.sys_uptime_ticks = scalars[1]
        .as_ref()
        .and_then(SnmpValue::as_i64)
        .and_then(|v| u64::try_from(v).ok());
    // prtGeneralSerialNumber.1 is where nearly every printer has it; walk only if it is not.
    let mut serial_oid = oids::PRT_GENERAL_SERIAL.to_vec();
    serial_oid.push(1);
    r.serial_number = session.get(&[serial_oid]).await?[0]
        .as_ref()
        .and_then(SnmpValue::as_text)
        .filter(|s| !s.is_empty());
    if r.serial_number.is_none() {
        let serial = session.walk(oids::PRT_GENERAL_SERIAL).await?;
        r.serial_number = serial
            .rows
            .iter()
            .filter_map(|(_, v)| v.as_text())
            .find(|s| !s.is_empty());
    }

    let mut gave_up = false;
    for (name, root) in [
        ("host_resources_printer", oids::HR_PRINTER_ENTRY),
        ("host_resources_device", oids::HR_DEVICE_ENTRY),
        ("firmware", oids::ENT_FIRMWARE_REV),
        ("marker_counters", oids::PRT_MARKER_ENTRY),
        ("supplies", oids::PRT_SUPPLIES_ENTRY),
        ("alerts", oids::PRT_ALERT_ENTRY),
    ] {
        if gave_up {
            r.incomplete.push(name.to_owned());
            continue;
        }
        let walk = match session.walk(root).await {
            Ok(w) => w,
            Err(SnmpError::NoAnswer { .. }) => {
                // Not answering now: don't spend the timeout again on every remaining table.
                gave_up = true;
                r.incomplete.push(name.to_owned());
                continue;
            }
            Err(e) => return Err(e),
        };
        if !walk.complete {
            r.incomplete.push(name.to_owned());
        }
        apply(&mut r, name, &walk);
    }
    Ok(r)
}

/// Rows of a table walk grouped by row index (the arcs after `root.column`).
fn column<'a>(walk: &'a Walk, root: &[u64], col: u64) -> Vec<(Arcs, &'a SnmpValue)> {
    let mut prefix = root.to_vec();
    prefix.push(col);
    walk.rows
        .iter()
        .filter(|(a, _)| a.starts_with(&prefix) && a.len() > prefix.len())
        .map(|(a, v)| (a[prefix.len()..].to_vec(), v))
        .collect()
}

fn cell<'a>(walk: &'a Walk, root: &[u64], col: u64, index: &[u64]) -> Option<&'a SnmpValue> {
    let mut want = root.to_vec();
    want.push(col);
    want.extend_from_slice(index);
    walk.rows.iter().find(|(a, _)| *a == want).map(|(_, v)| v)
}

fn apply(r: &mut PrinterReading, name: &str, walk: &Walk) {
    match name {
        "host_resources_printer" => {
            let root = oids::HR_PRINTER_ENTRY;
            if let Some((index, status)) = column(walk, root, 1).into_iter().next() {
                r.printer_status = status.as_i64();
                if let Some(SnmpValue::Bytes(bits)) = cell(walk, root, 2, &index) {
                    r.detected_errors = detected_errors(bits);
                }
                // The printer's own row in hrDeviceTable has the same index.
                r.printer_index = index.first().copied();
            }
        }
        "host_resources_device" => {
            let root = oids::HR_DEVICE_ENTRY;
            let index = r.printer_index;
            // Without hrPrinterTable, take the first device of type hrDevicePrinter (…3.1.5).
            let index = index.or_else(|| {
                column(walk, root, 2)
                    .into_iter()
                    .find(|(_, v)| **v == SnmpValue::ObjectId(vec![1, 3, 6, 1, 2, 1, 25, 3, 1, 5]))
                    .map(|(i, _)| i[0])
            });
            if let Some(i) = index {
                r.model = cell(walk, root, 3, &[i]).and_then(SnmpValue::as_text);
                r.device_status = cell(walk, root, 5, &[i]).and_then(SnmpValue::as_i64);
            }
        }
        "firmware" => {
            r.firmware_version = walk
                .rows
                .iter()
                .filter_map(|(_, v)| v.as_text())
                .find(|s| !s.is_empty());
        }
        "marker_counters" => {
            let root = oids::PRT_MARKER_ENTRY;
            for (index, count) in column(walk, root, 4) {
                let Some(count) = count.as_i64().and_then(|c| u64::try_from(c).ok()) else {
                    continue;
                };
                let unit = cell(walk, root, 3, &index)
                    .and_then(SnmpValue::as_i64)
                    .map_or("unknown", counter_unit);
                r.counters.push(MarkerCounter {
                    marker: index.last().copied().unwrap_or(1),
                    unit: unit.to_owned(),
                    count,
                });
            }
        }
        "supplies" => {
            let root = oids::PRT_SUPPLIES_ENTRY;
            // Rows are known by any column the walk reached (description first, then type).
            let mut rows: Vec<Arcs> = Vec::new();
            for col in [6, 5, 4, 9] {
                for (index, _) in column(walk, root, col) {
                    if !rows.contains(&index) {
                        rows.push(index);
                    }
                }
            }
            rows.sort();
            for index in rows {
                let int = |col| cell(walk, root, col, &index).and_then(SnmpValue::as_i64);
                let level = Level::from_raw(int(9));
                if level == Level::NotReported && !r.incomplete.iter().any(|n| n == "supplies") {
                    r.incomplete.push("supplies".into());
                }
                r.supplies.push(Supply {
                    index: index.last().copied().unwrap_or(0),
                    description: cell(walk, root, 6, &index)
                        .and_then(SnmpValue::as_text)
                        .unwrap_or_default(),
                    supply_type: int(5).unwrap_or(2),
                    class: int(4).unwrap_or(1),
                    max_capacity: int(8),
                    level,
                });
            }
        }
        "alerts" => {
            let root = oids::PRT_ALERT_ENTRY;
            for (index, severity) in column(walk, root, 2) {
                let int = |col| cell(walk, root, col, &index).and_then(SnmpValue::as_i64);
                if int(7).is_none() && !r.incomplete.iter().any(|n| n == "alerts") {
                    r.incomplete.push("alerts".into());
                }
                r.alerts.push(Alert {
                    index: index.last().copied().unwrap_or(0),
                    severity: severity.as_i64().unwrap_or(1),
                    group: int(4).unwrap_or(1),
                    code: int(7).unwrap_or(1),
                    description: cell(walk, root, 8, &index)
                        .and_then(SnmpValue::as_text)
                        .unwrap_or_default(),
                    time_ticks: int(9).and_then(|t| u64::try_from(t).ok()),
                });
            }
        }
        _ => {}
    }
}

pub fn detected_errors(bits: &[u8]) -> Vec<&'static str> {
    DETECTED_ERRORS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
        .map(|(_, (name, _))| *name)
        .collect()
}

fn counter_unit(unit: i64) -> &'static str {
    match unit {
        3 => "ten_thousandths_of_inches",
        4 => "micrometers",
        5 => "characters",
        6 => "lines",
        7 => "impressions",
        8 => "sheets",
        9 => "dot_row",
        11 => "hours",
        16 => "feet",
        17 => "meters",
        _ => "other",
    }
}

/// prtAlertCodeTC names for the codes printers commonly raise (RFC 3805 §… PrtAlertCodeTC).
fn alert_code_name(code: i64) -> Option<&'static str> {
    Some(match code {
        3 => "cover_open",
        5 => "interlock_open",
        8 => "jam",
        9 => "subunit_missing",
        10 => "subunit_life_almost_over",
        11 => "subunit_life_over",
        12 => "subunit_almost_empty",
        13 => "subunit_empty",
        14 => "subunit_almost_full",
        15 => "subunit_full",
        22 => "subunit_offline",
        23 => "subunit_power_saver",
        24 => "subunit_warming_up",
        30 => "subunit_unrecoverable_failure",
        501 => "door_open",
        502 => "door_closed",
        503 => "power_up",
        504 => "power_down",
        801 => "input_media_tray_missing",
        807 => "input_media_supply_low",
        808 => "input_media_supply_empty",
        901 => "output_media_tray_missing",
        902 => "output_media_tray_almost_full",
        903 => "output_media_tray_full",
        1101 => "marker_toner_empty",
        1102 => "marker_ink_empty",
        1104 => "marker_toner_almost_empty",
        1105 => "marker_ink_almost_empty",
        1106 => "marker_fuser_under_temperature",
        1107 => "marker_fuser_over_temperature",
        1301 => "media_path_media_tray_missing",
        1302 => "media_path_media_tray_almost_full",
        1303 => "media_path_media_tray_full",
        _ => return None,
    })
}

fn severity_word(severity: i64) -> &'static str {
    match severity {
        3 => "error",
        4 | 5 => "warning",
        _ => "info",
    }
}

impl Alert {
    /// `error.prt.marker_ink_empty`, `warning.prt.subunit_almost_full`, `info.prt.code_1234`.
    pub fn code_text(&self) -> String {
        let name = alert_code_name(self.code)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("code_{}", self.code));
        format!("{}.prt.{name}", severity_word(self.severity))
    }

    /// When it was raised, from sysUpTime now and then.
    fn occurred_at(&self, now: DateTime<Utc>, uptime: Option<u64>) -> Option<DateTime<Utc>> {
        let (then, up) = (self.time_ticks?, uptime?);
        let ago = up.checked_sub(then)?;
        Some(now - ChronoDuration::milliseconds(i64::try_from(ago).ok()? * 10))
    }

    /// Active condition (critical or warning) rather than a one-off event.
    fn is_active(&self) -> bool {
        matches!(self.severity, 3 | 4)
    }
}

fn printer_status_word(r: &PrinterReading) -> &'static str {
    if r.device_status == Some(5) {
        return "error";
    }
    match r.printer_status {
        Some(3) if r.device_status == Some(3) => "warning",
        Some(3) => "idle",
        Some(4) => "printing",
        Some(5) => "warming_up",
        Some(1) => "other",
        _ => "unknown",
    }
}

/// Who the server knows the printer as: the designation's manufacturer and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered<'a> {
    pub manufacturer: &'a str,
    pub model: &'a str,
    pub serial_number: &'a str,
}

/// The server's *Device* category from a reading. Counters, raw supply levels (including the
/// special values) and the tables that came back incomplete go in `maintenance_settings.snmp`,
/// since the *Device* category has no fields of its own for them.
pub fn to_device_data(r: &PrinterReading, who: &Registered<'_>, now: DateTime<Utc>) -> DeviceData {
    let mut error_codes: Vec<CodeEvent> = r
        .detected_errors
        .iter()
        .map(|name| {
            let error = DETECTED_ERRORS
                .iter()
                .find(|(n, _)| n == name)
                .is_some_and(|(_, e)| *e);
            CodeEvent {
                code: format!("{}.hr.{name}", if error { "error" } else { "warning" }),
                description: None,
                occurred_at: None,
            }
        })
        .collect();
    for a in r.alerts.iter().filter(|a| a.is_active()) {
        let code = a.code_text();
        if !error_codes.iter().any(|e| e.code == code) {
            error_codes.push(CodeEvent {
                code,
                description: Some(a.description.chars().take(256).collect())
                    .filter(|d: &String| !d.is_empty()),
                occurred_at: a.occurred_at(now, r.sys_uptime_ticks),
            });
        }
    }
    let status_history = r
        .alerts
        .iter()
        .map(|a| CodeEvent {
            code: a.code_text(),
            description: Some(a.description.chars().take(256).collect())
                .filter(|d: &String| !d.is_empty()),
            occurred_at: a.occurred_at(now, r.sys_uptime_ticks),
        })
        .collect();
    let consumables = r
        .supplies
        .iter()
        .map(|s| Consumable {
            kind: s.kind().to_owned(),
            color: s.color(),
            part_number: None,
            remaining_percent: s.remaining_percent(),
        })
        .collect();
    let snmp = json!({
        "marker_life_counters": r.counters,
        "supplies": r.supplies,
        "incomplete": r.incomplete,
        "reported_model": r.model,
    });
    let mut maintenance = serde_json::Map::new();
    maintenance.insert("snmp".into(), snmp);
    DeviceData {
        manufacturer: who.manufacturer.to_owned(),
        model: who.model.to_owned(),
        serial_number: who.serial_number.to_owned(),
        region_code: None,
        country_code: None,
        device_time: None,
        firmware_version: r
            .firmware_version
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "unknown".to_owned()),
        printer_status: Some(printer_status_word(r).to_owned()),
        error_codes,
        status_history,
        operation_panel_settings: None,
        printer_settings: None,
        maintenance_settings: Some(maintenance),
        media_settings: None,
        network_settings: None,
        consumables,
        cleaning_history: Vec::new(),
        maintenance_history: Vec::new(),
        cumulative_ink_usage: Vec::new(),
        cumulative_printing_time_s: None,
        cumulative_printing_area_m2: None,
        job_history: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_error_bits_count_from_the_most_significant_bit() {
        // 0x0C = bits 4 and 5 of the first octet: doorOpen and jammed.
        assert_eq!(detected_errors(&[0x0C]), vec!["door_open", "jammed"]);
        // Second octet 0x20: bit 10, markerSupplyMissing.
        assert_eq!(
            detected_errors(&[0x00, 0x20]),
            vec!["marker_supply_missing"]
        );
        assert!(detected_errors(&[]).is_empty());
    }

    #[test]
    fn special_levels_are_kept_apart_from_measured_ones() {
        let s = |class, max, raw| Supply {
            index: 1,
            description: "Black Toner".into(),
            supply_type: 3,
            class,
            max_capacity: Some(max),
            level: Level::from_raw(raw),
        };
        assert_eq!(s(3, 100, Some(-3)).level, Level::SomeRemaining);
        assert_eq!(s(3, 100, Some(-3)).remaining_percent(), None);
        assert_eq!(s(3, 100, Some(-2)).level, Level::Unknown);
        assert_eq!(s(3, 100, None).level, Level::NotReported);
        assert_eq!(s(3, 8000, Some(2000)).remaining_percent(), Some(25.0));
        // A waste box 30 % full has 70 % of its life left.
        assert_eq!(s(4, 100, Some(30)).remaining_percent(), Some(70.0));
        // A level above the stated capacity is capped, never over 100 %.
        assert_eq!(s(3, 100, Some(140)).remaining_percent(), Some(100.0));
        assert_eq!(s(3, -2, Some(50)).remaining_percent(), None);
    }

    #[test]
    fn alerts_become_codes_with_their_time_from_sysuptime() {
        let now = Utc::now();
        let r = PrinterReading {
            printer_status: Some(3),
            device_status: Some(5),
            sys_uptime_ticks: Some(100_000),
            alerts: vec![
                Alert {
                    index: 1,
                    severity: 3,
                    group: 11,
                    code: 1102,
                    description: "Replace Cyan ink".into(),
                    time_ticks: Some(40_000),
                },
                Alert {
                    index: 2,
                    severity: 5,
                    group: 6,
                    code: 502,
                    description: String::new(),
                    time_ticks: Some(99_000),
                },
            ],
            ..Default::default()
        };
        let who = Registered {
            manufacturer: "Epson",
            model: "SC-P8500D",
            serial_number: "X1",
        };
        let d = to_device_data(&r, &who, now);
        assert_eq!(d.printer_status.as_deref(), Some("error"));
        assert_eq!(d.error_codes.len(), 1, "{:?}", d.error_codes);
        assert_eq!(d.error_codes[0].code, "error.prt.marker_ink_empty");
        let at = d.error_codes[0].occurred_at.expect("time");
        assert_eq!((now - at).num_seconds(), 600);
        assert_eq!(d.status_history.len(), 2);
        assert_eq!(d.status_history[1].code, "warning.prt.door_closed");
        assert_eq!(d.firmware_version, "unknown");
    }
}
