//! JMF signals and responses a DFE sends: `Status` (one record per job phase, with the
//! device's state), `QueueStatus` (one record per queue entry) and `Resource` (media,
//! parameters and amounts in use, for the job its `ResourceQuParams` names). Other message
//! types are answered but carry nothing to upload.
//!
//! One job, one key: a record's `job_id` is the JMF `JobID` (the ticket's `JobID` too), the
//! `JobPartID` is carried apart in `job_part_id`; only a queue entry without a `JobID` is keyed
//! by its `QueueEntryID`. Copies: a phase's `TotalAmount` is what the job asks for (`copies`),
//! its `Amount` what was produced so far (`copies_produced`), `Waste` the waste.
//!
//! A `Status` without a job is a heartbeat when the device is idle or running (DFEs push one
//! every few seconds) and makes nothing; a device that is down, stopped, setting up or
//! reports an error notification makes a [`DeviceState`] (device data, not a DFE upload).
//! A message that yields nothing a user would call a record makes no record.

use chrono::{DateTime, Utc};
use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::{CodeEvent, Settings, SoftwareVersion};
use ecsp_protocol::dfe::{JobInformation, PrintSettings};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ReadError, ReadErrorKind, Result};
use crate::jdf::NOT_SETTINGS;
use crate::values::{Notes, parse_xy, points_to_mm, setting, status};
use crate::xml::Element;
use crate::{ReadOptions, Reading, checked_resolution};

/// A device's state as a JMF `Status` reported it without a job: the device-data kind of
/// record (printer status, active errors, counters), which the DFE upload cannot carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceState {
    /// The printer this DFE drives (as registered on the server).
    pub device_id: Uuid,
    /// The software that sent the message.
    pub software: SoftwareVersion,
    /// When the device said so: the message's `Time`, else the JMF's `TimeStamp`.
    pub observed_at: Option<DateTime<Utc>>,
    /// JDF `DeviceStatus` in lower case: `down`, `stopped`, `setup`, `cleanup`, `unknown`…
    pub printer_status: String,
    /// Errors and warnings active now: the `StatusDetails` of a down or stopped device
    /// (`PaperJam`), error and warning `Notification`s.
    pub error_codes: Vec<CodeEvent>,
    /// Other events the device reported (`Event`, informational notifications).
    pub events: Vec<CodeEvent>,
    /// `DeviceInfo.*` (status details, production counters, speed) and `Device.*` (identity,
    /// model, manufacturer). Never the operator (`Employee`): personal data.
    pub values: Settings,
}

/// A `CodeEvent` code is at most 64 characters.
fn code(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.chars().take(64).collect())
}

/// Attributes that are bookkeeping or namespace declarations, not values.
fn is_value_attribute(k: &str, v: &str) -> bool {
    !NOT_SETTINGS.contains(&k)
        && !matches!(k, "PartUsage" | "DescriptiveName")
        && !k.starts_with("xmlns")
        && !k.starts_with("xsi:")
        && !v.trim().is_empty()
}

/// The message types read; answered in the receiver's Response as well.
pub const READ_TYPES: [&str; 3] = ["Status", "QueueStatus", "Resource"];

/// What a JMF message said, before it becomes uploads: the sender and the message ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JmfMessage {
    pub id: String,
    pub family: String,
    pub message_type: String,
}

/// The messages of a JMF document (for the receiver's response), whatever their type.
pub(crate) fn messages(root: &Element) -> Vec<JmfMessage> {
    root.children
        .iter()
        .filter(|m| {
            matches!(
                m.name.as_str(),
                "Signal" | "Response" | "Acknowledge" | "Command" | "Query" | "Registration"
            )
        })
        .map(|m| JmfMessage {
            id: m.attr("ID").unwrap_or_default().to_owned(),
            family: m.name.clone(),
            message_type: m.attr("Type").unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Reads the Status, QueueStatus and Resource messages of a JMF document.
pub(crate) fn read(
    file: &str,
    root: &Element,
    options: &ReadOptions,
    notes: &Notes<'_>,
) -> Result<Reading> {
    if root.name != "JMF" {
        return Err(ReadError::new(
            file,
            ReadErrorKind::Unsupported,
            format!("the root element is <{}>, expected <JMF>", root.name),
        ));
    }
    let software = match (
        root.attr("AgentName"),
        root.attr("AgentVersion"),
        &options.software,
    ) {
        (Some(n), Some(v), _) => SoftwareVersion {
            name: n.to_owned(),
            version: v.to_owned(),
            vendor: None,
        },
        (_, _, Some(fallback)) => fallback.clone(),
        _ => {
            return Err(ReadError::new(
                file,
                ReadErrorKind::Missing,
                "the JMF names no sending software (AgentName and AgentVersion on <JMF>); give it with --software \"NAME VERSION\"",
            )
            .at(root.location()));
        }
    };
    let mut out = Reading::default();
    let mut recognised = false;
    for m in &root.children {
        if !matches!(m.name.as_str(), "Signal" | "Response" | "Acknowledge") {
            continue;
        }
        let base = |settings: PrintSettings, job: Option<JobInformation>| DfeCapture {
            device_id: options.device_id,
            software: software.clone(),
            environment: None,
            print_settings: settings,
            job,
        };
        match m.attr("Type") {
            Some("Status") => {
                recognised = true;
                let observed_at = notes
                    .time(m, "Time")
                    .or_else(|| notes.time(root, "TimeStamp"));
                for info in m.children_named("DeviceInfo") {
                    let mut values = Settings::new();
                    for attr in ["DeviceStatus", "StatusDetails", "DeviceID", "Speed"] {
                        if let Some(v) = info.attr(attr) {
                            values.insert(format!("DeviceInfo.{attr}"), setting(v));
                        }
                    }
                    if let Some(d) = info.child("Device") {
                        for attr in ["DeviceID", "ModelName", "Manufacturer", "DeviceType"] {
                            if let Some(v) = d.attr(attr) {
                                values.insert(format!("Device.{attr}"), setting(v));
                            }
                        }
                    }
                    let settings = settings_with(values);
                    let mut phases = info.children_named("JobPhase").peekable();
                    if phases.peek().is_none() {
                        out.device_states.extend(device_state(
                            notes,
                            m,
                            info,
                            observed_at,
                            options.device_id,
                            &software,
                        ));
                        continue;
                    }
                    for phase in phases {
                        if let Some(job) = job(notes, phase, Kind::Phase) {
                            let mut settings = settings.clone();
                            if let Some(q) = phase.attr("QueueEntryID") {
                                settings
                                    .values
                                    .insert("JobPhase.QueueEntryID".into(), setting(q));
                            }
                            out.captures.push(base(settings, Some(job)));
                        }
                    }
                }
            }
            Some("QueueStatus") => {
                recognised = true;
                for queue in m.children_named("Queue") {
                    let mut values = Settings::new();
                    if let Some(s) = queue.attr("Status") {
                        values.insert("Queue.Status".into(), setting(s));
                    }
                    for entry in queue.children_named("QueueEntry") {
                        let mut values = values.clone();
                        if let Some(p) = entry.attr("Priority") {
                            values.insert("QueueEntry.Priority".into(), setting(p));
                        }
                        // The queue entry of a job keyed by its JobID, so that a phase that
                        // names only the entry can be matched to it.
                        if let (Some(_), Some(q)) =
                            (entry.attr("JobID"), entry.attr("QueueEntryID"))
                        {
                            values.insert("QueueEntry.QueueEntryID".into(), setting(q));
                        }
                        if let Some(job) = job(notes, entry, Kind::QueueEntry) {
                            out.captures.push(base(settings_with(values), Some(job)));
                        }
                    }
                }
            }
            Some("Resource") => {
                recognised = true;
                // The job the message is about: its ResourceQuParams (a signal answers a
                // subscription to one job's resources), else each ResourceInfo's own.
                let asked = m.child("ResourceQuParams");
                let mut by_job: Vec<(Option<JobInformation>, PrintSettings)> = Vec::new();
                for info in m.children_named("ResourceInfo") {
                    let holder = [info]
                        .into_iter()
                        .chain(asked)
                        .find(|e| e.attr("JobID").is_some());
                    let job = holder.and_then(|h| job(notes, h, Kind::Resource));
                    let key = job
                        .as_ref()
                        .map(|j| (j.job_id.clone(), j.job_part_id.clone()));
                    let at = match by_job.iter().position(|(j, _)| {
                        j.as_ref()
                            .map(|j| (j.job_id.clone(), j.job_part_id.clone()))
                            == key
                    }) {
                        Some(i) => i,
                        None => {
                            by_job.push((job, settings_with(Settings::new())));
                            by_job.len() - 1
                        }
                    };
                    let (job, settings) = &mut by_job[at];
                    resource_info(notes, info, settings, job.as_mut());
                }
                for (job, settings) in by_job {
                    let says_something = job.is_some()
                        || settings.media_name.is_some()
                        || settings.resolution_dpi.is_some()
                        || !settings.values.is_empty();
                    if says_something {
                        out.captures.push(base(settings, job));
                    }
                }
            }
            _ => {}
        }
    }
    if !recognised {
        return Err(ReadError::new(
            file,
            ReadErrorKind::Unsupported,
            "no Signal or Response of type Status, QueueStatus or Resource",
        )
        .at(root.location()));
    }
    Ok(out)
}

fn settings_with(values: Settings) -> PrintSettings {
    PrintSettings {
        preset_name: None,
        media_name: None,
        resolution_dpi: None,
        output_profile: None,
        rendering_intent: None,
        values,
    }
}

/// One `ResourceInfo` into the record of its job: the resources it carries (media, resolution,
/// their attributes) and its amounts. Amounts of `Component` are copies (good produced and
/// waste); of anything else (ink in grams, energy in kWh) they go into `values` as
/// `ResourceInfo.NAME[.MODULE].ActualAmount`, `.WasteAmount` and `.Unit`.
fn resource_info(
    notes: &Notes<'_>,
    info: &Element,
    settings: &mut PrintSettings,
    job: Option<&mut JobInformation>,
) {
    // JMF 1.x puts the resource in ResourceInfo; 1.4+ in ResourceSet/Resource.
    for r in info.descendants().into_iter().skip(1) {
        if !(r.name.ends_with("Params") || r.name == "Media" || r.attr("Class").is_some()) {
            continue;
        }
        if r.name == "Media" && settings.media_name.is_none() {
            settings.media_name = r
                .attr("DescriptiveName")
                .or(r.attr("ProductID"))
                .or(r.attr("MediaType"))
                .map(str::to_owned);
            if let Some([w, h]) = r.attr("Dimension").and_then(parse_xy) {
                settings.values.insert(
                    "Media.DimensionMM".into(),
                    serde_json::json!([points_to_mm(w), points_to_mm(h)]),
                );
            }
        }
        if let Some(res) = r.attr("Resolution") {
            settings.resolution_dpi = checked_resolution(notes, res, r).or(settings.resolution_dpi);
        }
        for (k, v) in &r.attributes {
            if is_value_attribute(k, v) {
                settings
                    .values
                    .insert(format!("{}.{k}", r.name), setting(v));
            }
        }
    }
    if let Some(a) = info.attr("Amount") {
        settings
            .values
            .insert("ResourceInfo.Amount".into(), setting(a));
    }
    let name = info
        .attr("ResourceName")
        .or_else(|| {
            info.children
                .iter()
                .find(|r| r.attr("Class").is_some())
                .map(|r| r.name.as_str())
        })
        .unwrap_or("Resource");
    // Good (or unconditioned) and waste amounts, from the AmountPool when it splits them.
    let (mut good, mut waste) = (None::<f64>, None::<f64>);
    let pool: Vec<&Element> = info
        .children_named("AmountPool")
        .flat_map(|p| p.children_named("PartAmount"))
        .collect();
    for pa in &pool {
        let condition = pa.children_named("Part").find_map(|p| p.attr("Condition"));
        let Some(n) = notes.amount(pa, "ActualAmount") else {
            continue;
        };
        match condition.map(str::trim) {
            Some("Waste") => waste = Some(waste.unwrap_or(0.0) + n),
            Some("Good") | None => good = Some(good.unwrap_or(0.0) + n),
            Some(_) => {}
        }
    }
    if good.is_none() && waste.is_none() {
        good = notes.amount(info, "ActualAmount");
    }
    if name == "Component" {
        if let Some(job) = job {
            let whole = |n: Option<f64>| {
                n.filter(|n| *n <= f64::from(u32::MAX))
                    .map(|n| n.round() as u32)
            };
            job.copies_produced = whole(good).or(job.copies_produced);
            job.copies_waste = whole(waste).or(job.copies_waste);
            return;
        }
    }
    let prefix = match info.attr("ModuleID") {
        Some(module) => format!("ResourceInfo.{name}.{module}"),
        None => format!("ResourceInfo.{name}"),
    };
    let number = |n: f64| {
        serde_json::Number::from_f64(n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    };
    if let Some(n) = good {
        settings
            .values
            .insert(format!("{prefix}.ActualAmount"), number(n));
    }
    if let Some(n) = waste {
        settings
            .values
            .insert(format!("{prefix}.WasteAmount"), number(n));
    }
    if good.is_some() || waste.is_some() {
        if let Some(unit) = info.attr("Unit") {
            settings
                .values
                .insert(format!("{prefix}.Unit"), setting(unit));
        }
    }
}

/// A `DeviceInfo` without a job, as device data when it says something beyond a heartbeat.
fn device_state(
    notes: &Notes<'_>,
    message: &Element,
    info: &Element,
    observed_at: Option<DateTime<Utc>>,
    device_id: Uuid,
    software: &SoftwareVersion,
) -> Option<DeviceState> {
    let device_status = info
        .attr("DeviceStatus")
        .map(str::trim)
        .unwrap_or("Unknown");
    let (mut error_codes, mut events) = (Vec::new(), Vec::new());
    if matches!(device_status, "Down" | "Stopped") {
        if let Some(c) = info.attr("StatusDetails").and_then(code) {
            error_codes.push(CodeEvent {
                code: c,
                description: None,
                occurred_at: observed_at,
            });
        }
    }
    // Notifications in the DeviceInfo or the message itself.
    for n in info
        .children_named("Notification")
        .chain(message.children_named("Notification"))
    {
        let Some(c) = n
            .attr("Type")
            .or_else(|| {
                n.children
                    .iter()
                    .find(|c| c.name != "Comment")
                    .map(|c| c.name.as_str())
            })
            .or(n.attr("Class"))
            .and_then(code)
        else {
            continue;
        };
        let event = CodeEvent {
            code: c,
            description: n.attr("DescriptiveName").and_then(code),
            occurred_at: notes.time(n, "TimeStamp").or(observed_at),
        };
        let list = if matches!(n.attr("Class"), Some("Error" | "Fatal" | "Warning")) {
            &mut error_codes
        } else {
            &mut events
        };
        // The same condition said twice (StatusDetails and a Notification) is one, with the
        // notification's own time.
        match list.iter_mut().find(|e| e.code == event.code) {
            Some(e) => *e = event,
            None => list.push(event),
        }
    }
    for e in info.children_named("Event") {
        if let Some(c) = e.attr("EventID").and_then(code) {
            events.push(CodeEvent {
                code: c,
                description: e
                    .attr("EventValue")
                    .or(e.attr("DescriptiveName"))
                    .and_then(code),
                occurred_at: observed_at,
            });
        }
    }
    if matches!(device_status, "Idle" | "Running") && error_codes.is_empty() {
        return None;
    }
    let mut values = Settings::new();
    for (k, v) in &info.attributes {
        if is_value_attribute(k, v) {
            values.insert(format!("DeviceInfo.{k}"), setting(v));
        }
    }
    if let Some(d) = info.child("Device") {
        for (k, v) in &d.attributes {
            if is_value_attribute(k, v) {
                values.insert(format!("Device.{k}"), setting(v));
            }
        }
    }
    Some(DeviceState {
        device_id,
        software: software.clone(),
        observed_at,
        printer_status: device_status.to_lowercase(),
        error_codes,
        events,
        values,
    })
}

/// Where a job is read from: the attributes differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `JobPhase` of a Status: `StartTime`, `Amount` produced of `TotalAmount`, `Waste`.
    Phase,
    /// `QueueEntry`: submitted, started and ended.
    QueueEntry,
    /// `ResourceQuParams` or `ResourceInfo`: which job, nothing more.
    Resource,
}

/// A job from a JobPhase, QueueEntry or the job a Resource message names, keyed by its `JobID`
/// (a queue entry without one by its `QueueEntryID`), its `JobPartID` apart.
fn job(notes: &Notes<'_>, e: &Element, kind: Kind) -> Option<JobInformation> {
    let job_id = e
        .attr("JobID")
        .or_else(|| {
            (kind != Kind::Resource)
                .then(|| e.attr("QueueEntryID"))
                .flatten()
        })
        .map(str::trim)
        .filter(|id| !id.is_empty())?;
    let phase = kind == Kind::Phase;
    Some(JobInformation {
        job_id: job_id.to_owned(),
        job_part_id: e.attr("JobPartID").map(str::to_owned),
        job_name: e.attr("DescriptiveName").map(str::to_owned),
        user_name: None,
        document_name: None,
        submitted_at: match kind {
            Kind::QueueEntry => notes.time(e, "SubmissionTime"),
            _ => None,
        },
        started_at: match kind {
            Kind::Resource => None,
            _ => notes.time(e, "StartTime"),
        },
        printed_at: match kind {
            Kind::QueueEntry => notes.time(e, "EndTime"),
            _ => None,
        },
        status: (kind != Kind::Resource)
            .then(|| e.attr("Status").and_then(status))
            .flatten(),
        copies: if phase {
            notes.count(e, "TotalAmount")
        } else {
            None
        },
        copies_produced: if phase {
            notes.count(e, "Amount")
        } else {
            None
        },
        copies_waste: if phase { notes.count(e, "Waste") } else { None },
        pages: None,
        media_name: None,
        size_mm: None,
        ink_used_ml: None,
        media: Vec::new(),
    })
}
