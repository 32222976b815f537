//! What a printer says about itself over SNMP — the Printer MIB (RFC 3805) and the Host Resources
//! MIB (RFC 2790) — read into a [`PrinterReading`] and turned into the server's
//! [`DeviceData`]. Reading does the I/O; the mapping is pure, so it is unit-tested on tables.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use ecsp_protocol::agent::{Consumable, DeviceData};
use ecsp_protocol::common::CodeEvent;
use serde::Serialize;
use serde_json::json;

use crate::identity;
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

    /// The consumable kind: the `PrtMarkerSuppliesTypeTC` name in snake case (so `opc`, the
    /// organic photoconductor, is the drum). A value outside the enumeration is `other`; its
    /// number stays in `maintenance_settings.snmp.supplies`.
    pub fn kind(&self) -> &'static str {
        supply_kind(self.supply_type)
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

/// `PrtMarkerSuppliesTypeTC` (RFC 3805, IANA-PRINTER-MIB), value and name in snake case.
pub const SUPPLY_TYPES: [(i64, &str); 34] = [
    (1, "other"),
    (2, "unknown"),
    (3, "toner"),
    (4, "waste_toner"),
    (5, "ink"),
    (6, "ink_cartridge"),
    (7, "ink_ribbon"),
    (8, "waste_ink"),
    (9, "opc"),
    (10, "developer"),
    (11, "fuser_oil"),
    (12, "solid_wax"),
    (13, "ribbon_wax"),
    (14, "waste_wax"),
    (15, "fuser"),
    (16, "corona_wire"),
    (17, "fuser_oil_wick"),
    (18, "cleaner_unit"),
    (19, "fuser_cleaning_pad"),
    (20, "transfer_unit"),
    (21, "toner_cartridge"),
    (22, "fuser_oiler"),
    (23, "water"),
    (24, "waste_water"),
    (25, "glue_water_additive"),
    (26, "waste_paper"),
    (27, "binding_supply"),
    (28, "banding_supply"),
    (29, "stitching_wire"),
    (30, "shrink_wrap"),
    (31, "paper_wrap"),
    (32, "staples"),
    (33, "inserts"),
    (34, "covers"),
];

/// The consumable kind of a `prtMarkerSuppliesType` value.
pub fn supply_kind(supply_type: i64) -> &'static str {
    SUPPLY_TYPES
        .iter()
        .find(|(v, _)| *v == supply_type)
        .map_or("other", |(_, name)| name)
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

/// How serious a set bit of hrPrinterDetectedErrorState is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitSeverity {
    Warning,
    Error,
    /// Either, as hrDeviceStatus says: RFC 3805's status table lists `serviceRequested` under
    /// both a non-critical (warning) and a critical (down) alert, and `offline` under "moving
    /// off-line" (warning) and "off-line" (down).
    AsDeviceStatus,
}

/// hrPrinterDetectedErrorState bits (RFC 2790 plus RFC 3805's additions), bit 0 being the
/// most significant bit of the first octet; agents send one octet or two.
pub const DETECTED_ERRORS: &[(&str, BitSeverity)] = &[
    ("low_paper", BitSeverity::Warning),
    ("no_paper", BitSeverity::Error),
    ("low_toner", BitSeverity::Warning),
    ("no_toner", BitSeverity::Error),
    ("door_open", BitSeverity::Error),
    ("jammed", BitSeverity::Error),
    ("offline", BitSeverity::AsDeviceStatus),
    ("service_requested", BitSeverity::AsDeviceStatus),
    ("input_tray_missing", BitSeverity::Error),
    ("output_tray_missing", BitSeverity::Error),
    ("marker_supply_missing", BitSeverity::Error),
    ("output_near_full", BitSeverity::Warning),
    ("output_full", BitSeverity::Error),
    // One tray is empty; `no_paper` is the printer having none at all.
    ("input_tray_empty", BitSeverity::Warning),
    ("overdue_preventive_maintenance", BitSeverity::Warning),
];

/// Everything read from one printer in one poll.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PrinterReading {
    pub sys_descr: Option<String>,
    /// hrDeviceDescr of the printer device.
    pub model: Option<String>,
    pub serial_number: Option<String>,
    /// Where the serial number was found (see [`identity`]).
    pub serial_source: Option<identity::Source>,
    pub firmware_version: Option<String>,
    pub firmware_source: Option<identity::Source>,
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

/// Reads a printer. The first request must be answered, or the poll fails; after it, a table
/// the printer stops answering is noted in `incomplete` and the rest is kept. The serial number
/// and firmware version are looked for where printers publish them ([`identity`]); a printer
/// that publishes no serial number anywhere is read all the same, with `serial_number` empty.
pub async fn read_printer(session: &mut SnmpSession) -> Result<PrinterReading, SnmpError> {
    let mut r = PrinterReading::default();
    // prtGeneralSerialNumber.1 is where nearly every printer has it; walk only if it is not.
    let mut serial_oid = oids::PRT_GENERAL_SERIAL.to_vec();
    serial_oid.push(1);
    let scalars = session
        .get(&[
            oids::SYS_DESCR.to_vec(),
            oids::SYS_UPTIME.to_vec(),
            serial_oid,
        ])
        .await?;
    r.sys_descr = scalars[0].as_ref().and_then(SnmpValue::as_text);
    r.sys_uptime_ticks = scalars[1]
        .as_ref()
        .and_then(SnmpValue::as_i64)
        .and_then(|v| u64::try_from(v).ok());
    r.serial_number = scalars[2]
        .as_ref()
        .and_then(SnmpValue::as_text)
        .filter(|s| !s.is_empty());

    let mut gave_up = false;
    for (name, root) in [
        ("printer_serial", oids::PRT_GENERAL_SERIAL),
        ("host_resources_printer", oids::HR_PRINTER_ENTRY),
        ("host_resources_device", oids::HR_DEVICE_ENTRY),
        ("entity", identity::ENT_PHYSICAL_ENTRY),
        ("marker_counters", oids::PRT_MARKER_ENTRY),
        ("supplies", oids::PRT_SUPPLIES_ENTRY),
        ("alerts", oids::PRT_ALERT_ENTRY),
    ] {
        if name == "printer_serial" && r.serial_number.is_some() {
            continue;
        }
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
    if r.serial_number.is_some() {
        r.serial_source = r.serial_source.or(Some("prt_general_serial_number"));
    }
    if (r.serial_number.is_none() || r.firmware_version.is_none()) && !gave_up {
        read_vendor_objects(session, &mut r).await?;
    }
    if let Some(descr) = r.sys_descr.clone() {
        if r.serial_number.is_none() {
            r.serial_number = identity::serial_from_sys_descr(&descr);
            r.serial_source = r.serial_number.as_ref().map(|_| "sys_descr");
        }
        if r.firmware_version.is_none() {
            r.firmware_version = identity::firmware_from_sys_descr(&descr);
            r.firmware_source = r.firmware_version.as_ref().map(|_| "sys_descr");
        }
    }
    Ok(r)
}

/// One GET of every maker's serial-number and firmware objects ([`identity::vendor_oids`]).
/// A printer that refuses the request (an error status) or stops answering loses only these.
async fn read_vendor_objects(
    session: &mut SnmpSession,
    r: &mut PrinterReading,
) -> Result<(), SnmpError> {
    let values = match session.get(&identity::vendor_oids()).await {
        Ok(v) => v,
        Err(SnmpError::NoAnswer { .. } | SnmpError::ErrorStatus { .. }) => {
            r.incomplete.push("vendor".to_owned());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let text = |i: usize| {
        values
            .get(i)
            .and_then(Option::as_ref)
            .and_then(SnmpValue::as_text)
            .filter(|s| !s.is_empty())
    };
    let serials = identity::VENDOR_SERIALS.len();
    if r.serial_number.is_none() {
        let found = (0..serials).find_map(|i| Some((text(i)?, identity::VENDOR_SERIALS[i].0)));
        if let Some((serial, source)) = found {
            r.serial_number = Some(serial);
            r.serial_source = Some(source);
        }
    }
    if r.firmware_version.is_none() {
        let found = (0..identity::VENDOR_FIRMWARE.len())
            .find_map(|i| Some((text(serials + i)?, identity::VENDOR_FIRMWARE[i].0)));
        if let Some((firmware, source)) = found {
            r.firmware_version = Some(firmware);
            r.firmware_source = Some(source);
        }
    }
    Ok(())
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
        "printer_serial" => {
            r.serial_number = walk
                .rows
                .iter()
                .filter_map(|(_, v)| v.as_text())
                .find(|s| !s.is_empty());
        }
        "host_resources_printer" => {
            let root = oids::HR_PRINTER_ENTRY;
            // A printer may publish hrPrinterDetectedErrorState without hrPrinterStatus (or the
            // reverse): its row is known by either column.
            let row = column(walk, root, 1)
                .into_iter()
                .chain(column(walk, root, 2))
                .map(|(index, _)| index)
                .next();
            if let Some(index) = row {
                r.printer_status = cell(walk, root, 1, &index).and_then(SnmpValue::as_i64);
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
        "entity" => {
            // The first entity (lowest index: the chassis, on printers) that has the value.
            let first = |col| {
                column(walk, identity::ENT_PHYSICAL_ENTRY, col)
                    .into_iter()
                    .filter_map(|(_, v)| v.as_text())
                    .find(|s| !s.is_empty())
            };
            if r.serial_number.is_none() {
                r.serial_number = first(identity::ENT_SERIAL_NUM);
                r.serial_source = r.serial_number.as_ref().map(|_| "ent_physical_serial_num");
            }
            if let Some(fw) = first(identity::ENT_FIRMWARE_REV) {
                r.firmware_version = Some(fw);
                r.firmware_source = Some("ent_physical_firmware_rev");
            } else if let Some(sw) = first(identity::ENT_SOFTWARE_REV) {
                r.firmware_version = Some(sw);
                r.firmware_source = Some("ent_physical_software_rev");
            }
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

/// Whether a set hrPrinterDetectedErrorState bit is an error or a warning on this printer.
fn bit_is_error(r: &PrinterReading, name: &str) -> bool {
    match DETECTED_ERRORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
    {
        Some(BitSeverity::Error) => true,
        Some(BitSeverity::AsDeviceStatus) => r.device_status == Some(5),
        Some(BitSeverity::Warning) | None => false,
    }
}

/// The printer's state in a word. hrPrinterStatus says it when it is idle, printing or warming
/// up; when it is missing, `other` or `unknown`, the state is derived from hrDeviceStatus, the
/// error bits and the alert table, as RFC 3805's status table (§2.2.13.2) pairs them: anything
/// critical is `error`, anything non-critical `warning`, and a running printer whose
/// hrPrinterStatus is `other` is in `standby`.
pub fn printer_status_word(r: &PrinterReading) -> &'static str {
    if r.device_status == Some(5) {
        return "error";
    }
    match r.printer_status {
        Some(3) if r.device_status == Some(3) => return "warning",
        Some(3) => return "idle",
        Some(4) => return "printing",
        Some(5) => return "warming_up",
        _ => {}
    }
    let error = r.detected_errors.iter().any(|n| bit_is_error(r, n))
        || r.alerts.iter().any(|a| a.severity == 3);
    let warning = r.device_status == Some(3)
        || !r.detected_errors.is_empty()
        || r.alerts.iter().any(|a| a.severity == 4);
    if error {
        "error"
    } else if warning {
        "warning"
    } else {
        match (r.device_status, r.printer_status) {
            (Some(4), _) => "testing",
            (Some(2), Some(1)) => "standby",
            (Some(2), _) => "running",
            _ => "unknown",
        }
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
            let error = bit_is_error(r, name);
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
        "serial_number_source": r.serial_source,
        "firmware_version_source": r.firmware_source,
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

    /// RFC 3805's PrtMarkerSuppliesTypeTC, as the RFC spells it.
    const RFC_SUPPLY_TYPES: [&str; 34] = [
        "other",
        "unknown",
        "toner",
        "wasteToner",
        "ink",
        "inkCartridge",
        "inkRibbon",
        "wasteInk",
        "opc",
        "developer",
        "fuserOil",
        "solidWax",
        "ribbonWax",
        "wasteWax",
        "fuser",
        "coronaWire",
        "fuserOilWick",
        "cleanerUnit",
        "fuserCleaningPad",
        "transferUnit",
        "tonerCartridge",
        "fuserOiler",
        "water",
        "wasteWater",
        "glueWaterAdditive",
        "wastePaper",
        "bindingSupply",
        "bandingSupply",
        "stitchingWire",
        "shrinkWrap",
        "paperWrap",
        "staples",
        "inserts",
        "covers",
    ];

    fn snake(camel: &str) -> String {
        let mut out = String::new();
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn every_supply_type_of_the_enumeration_is_its_own_kind() {
        for (i, name) in RFC_SUPPLY_TYPES.iter().enumerate() {
            let value = i as i64 + 1;
            let supply = Supply {
                index: 1,
                description: String::new(),
                supply_type: value,
                class: 3,
                max_capacity: None,
                level: Level::NotReported,
            };
            assert_eq!(supply.kind(), snake(name), "prtMarkerSuppliesType {value}");
        }
        // The parts that used to come out as something else.
        assert_eq!(supply_kind(9), "opc");
        assert_eq!(supply_kind(10), "developer");
        assert_eq!(supply_kind(15), "fuser");
        assert_eq!(supply_kind(21), "toner_cartridge");
        // Outside the enumeration: other (the number stays in the raw supplies).
        for value in [0, 35, -1, i64::MAX] {
            assert_eq!(supply_kind(value), "other", "{value}");
        }
    }

    fn reading(device: Option<i64>, printer: Option<i64>, bits: &[u8]) -> PrinterReading {
        PrinterReading {
            device_status: device,
            printer_status: printer,
            detected_errors: detected_errors(bits),
            ..Default::default()
        }
    }

    fn who() -> Registered<'static> {
        Registered {
            manufacturer: "Sharp",
            model: "MX-3570N",
            serial_number: "6509415X00",
        }
    }

    fn codes(r: &PrinterReading) -> Vec<String> {
        to_device_data(r, &who(), Utc::now())
            .error_codes
            .into_iter()
            .map(|e| e.code)
            .collect()
    }

    #[test]
    fn without_hr_printer_status_a_warning_with_low_toner_is_a_warning_with_its_code() {
        // hrDeviceStatus warning, hrPrinterDetectedErrorState lowToner (0x20), no hrPrinterStatus.
        let r = reading(Some(3), None, &[0x20, 0x00]);
        assert_eq!(printer_status_word(&r), "warning");
        assert_eq!(codes(&r), ["warning.hr.low_toner"]);
        // The same with hrPrinterStatus other(1), and with one octet.
        assert_eq!(
            printer_status_word(&reading(Some(3), Some(1), &[0x20])),
            "warning"
        );
    }

    #[test]
    fn a_derived_state_follows_device_status_bits_and_alerts() {
        assert_eq!(printer_status_word(&reading(Some(5), None, &[])), "error");
        // A critical bit makes an error even while hrDeviceStatus still says running.
        assert_eq!(
            printer_status_word(&reading(Some(2), None, &[0x04])),
            "error"
        );
        // RFC 3805: running with hrPrinterStatus other is standby; without it, just running.
        assert_eq!(
            printer_status_word(&reading(Some(2), Some(1), &[])),
            "standby"
        );
        assert_eq!(printer_status_word(&reading(Some(2), None, &[])), "running");
        assert_eq!(printer_status_word(&reading(None, None, &[])), "unknown");
        assert_eq!(printer_status_word(&reading(Some(4), None, &[])), "testing");
        let mut r = reading(Some(2), None, &[]);
        r.alerts.push(Alert {
            index: 1,
            severity: 3,
            group: 8,
            code: 8,
            description: "Paper jam".into(),
            time_ticks: None,
        });
        assert_eq!(printer_status_word(&r), "error");
        r.alerts[0].severity = 4;
        assert_eq!(printer_status_word(&r), "warning");
        // Where hrPrinterStatus says it, it stands.
        assert_eq!(
            printer_status_word(&reading(Some(2), Some(4), &[])),
            "printing"
        );
        assert_eq!(
            printer_status_word(&reading(Some(3), Some(3), &[])),
            "warning"
        );
    }

    #[test]
    fn every_error_bit_becomes_a_code_in_one_octet_or_two() {
        let expected = [
            "warning.hr.low_paper",
            "error.hr.no_paper",
            "warning.hr.low_toner",
            "error.hr.no_toner",
            "error.hr.door_open",
            "error.hr.jammed",
            "warning.hr.offline",
            "warning.hr.service_requested",
            "error.hr.input_tray_missing",
            "error.hr.output_tray_missing",
            "error.hr.marker_supply_missing",
            "warning.hr.output_near_full",
            "error.hr.output_full",
            "warning.hr.input_tray_empty",
            "warning.hr.overdue_preventive_maintenance",
        ];
        for (bit, want) in expected.iter().enumerate() {
            let mut octets = [0u8; 2];
            octets[bit / 8] = 0x80 >> (bit % 8);
            let r = reading(Some(3), None, &octets);
            assert_eq!(codes(&r), [*want], "bit {bit}");
            if bit < 8 {
                assert_eq!(
                    codes(&reading(Some(3), None, &octets[..1])),
                    [*want],
                    "bit {bit}"
                );
            }
        }
        // offline and serviceRequested are errors while the device is down.
        assert_eq!(
            codes(&reading(Some(5), Some(1), &[0x03])),
            ["error.hr.offline", "error.hr.service_requested"]
        );
        // All fifteen at once: fifteen codes.
        assert_eq!(codes(&reading(Some(5), None, &[0xFF, 0xFE])).len(), 15);
    }

    fn entity_walk(rows: &[(u64, u64, &str)]) -> Walk {
        Walk {
            rows: rows
                .iter()
                .map(|(col, index, text)| {
                    let mut oid = identity::ENT_PHYSICAL_ENTRY.to_vec();
                    oid.extend([*col, *index]);
                    (oid, SnmpValue::Bytes(text.as_bytes().to_vec()))
                })
                .collect(),
            complete: true,
        }
    }

    #[test]
    fn entity_mib_gives_serial_and_firmware_first_non_empty_then_software_rev() {
        let mut r = PrinterReading::default();
        apply(
            &mut r,
            "entity",
            &entity_walk(&[
                (2, 1, "HP LaserJet"),
                (10, 1, "5.4.0.2"),
                (11, 1, ""),
                (11, 2, "PHBLM12345"),
            ]),
        );
        assert_eq!(r.serial_number.as_deref(), Some("PHBLM12345"));
        assert_eq!(r.serial_source, Some("ent_physical_serial_num"));
        assert_eq!(r.firmware_version.as_deref(), Some("5.4.0.2"));
        assert_eq!(r.firmware_source, Some("ent_physical_software_rev"));
        // entPhysicalFirmwareRev, where there is one, wins over the software revision; a serial
        // already read from prtGeneralSerialNumber stays.
        let mut r = PrinterReading {
            serial_number: Some("X1".into()),
            ..Default::default()
        };
        apply(
            &mut r,
            "entity",
            &entity_walk(&[(9, 1, "2509081_000321"), (10, 1, "5.4"), (11, 1, "Y2")]),
        );
        assert_eq!(r.firmware_version.as_deref(), Some("2509081_000321"));
        assert_eq!(r.serial_number.as_deref(), Some("X1"));
    }

    #[test]
    fn error_bits_are_read_from_a_printer_table_without_hr_printer_status() {
        let mut bits_oid = oids::HR_PRINTER_ENTRY.to_vec();
        bits_oid.extend([2, 1]);
        let walk = Walk {
            rows: vec![(bits_oid, SnmpValue::Bytes(vec![0x20, 0x00]))],
            complete: true,
        };
        let mut r = PrinterReading::default();
        apply(&mut r, "host_resources_printer", &walk);
        assert_eq!(r.printer_status, None);
        assert_eq!(r.detected_errors, ["low_toner"]);
        assert_eq!(r.printer_index, Some(1));
    }
}
