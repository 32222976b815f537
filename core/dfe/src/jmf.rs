//! JMF signals and responses a DFE sends: `Status` (one record per job phase, with the
//! device's state; a status without a job is a heartbeat and makes none), `QueueStatus` (one
//! record per queue entry) and `Resource` (media and parameters in use). Other message types
//! are answered but carry nothing to upload.

use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::{Settings, SoftwareVersion};
use ecsp_protocol::dfe::{JobInformation, PrintSettings};

use crate::error::{ReadError, ReadErrorKind, Result};
use crate::values::{parse_count, parse_time, parse_xy, points_to_mm, setting, status};
use crate::xml::Element;
use crate::{ReadOptions, checked_resolution};

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
pub(crate) fn read(file: &str, root: &Element, options: &ReadOptions) -> Result<Vec<DfeCapture>> {
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
    let ctx = Ctx { file };
    let mut out = Vec::new();
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
                    let settings = PrintSettings {
                        preset_name: None,
                        media_name: None,
                        resolution_dpi: None,
                        output_profile: None,
                        rendering_intent: None,
                        values,
                    };
                    // A device state without a job is a heartbeat (DFEs push one every few
                    // seconds): answered, not uploaded.
                    for phase in info.children_named("JobPhase") {
                        let job = ctx.job(phase, "StartTime", None, Some("QueueEntryID"))?;
                        out.push(base(settings.clone(), job));
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
                        let job = ctx.job(
                            entry,
                            "SubmissionTime",
                            Some("EndTime"),
                            Some("QueueEntryID"),
                        )?;
                        out.push(base(
                            PrintSettings {
                                preset_name: None,
                                media_name: None,
                                resolution_dpi: None,
                                output_profile: None,
                                rendering_intent: None,
                                values,
                            },
                            job,
                        ));
                    }
                }
            }
            Some("Resource") => {
                recognised = true;
                for info in m.children_named("ResourceInfo") {
                    let mut settings = PrintSettings {
                        preset_name: None,
                        media_name: None,
                        resolution_dpi: None,
                        output_profile: None,
                        rendering_intent: None,
                        values: Settings::new(),
                    };
                    // JMF 1.x puts the resource in ResourceInfo; 1.4+ in ResourceSet/Resource.
                    for r in info.descendants().into_iter().skip(1) {
                        if !(r.name.ends_with("Params") || r.name == "Media") {
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
                            settings.resolution_dpi = Some(checked_resolution(file, res, r)?);
                        }
                        for (k, v) in &r.attributes {
                            if !matches!(k.as_str(), "ID" | "Class" | "Status" | "PartIDKeys")
                                && !v.trim().is_empty()
                            {
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
                    let job = match info.attr("JobID") {
                        Some(_) => ctx.job(info, "", None, None)?,
                        None => None,
                    };
                    out.push(base(settings, job));
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

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn time(&self, e: &Element, attr: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        match e.attr(attr) {
            None => Ok(None),
            Some(v) => parse_time(v, None).map(Some).ok_or_else(|| {
                ReadError::new(
                    self.file,
                    ReadErrorKind::Invalid,
                    format!("{attr} is not an xs:dateTime"),
                )
                .at(e.location())
            }),
        }
    }

    fn count(&self, e: &Element, attr: &str) -> Result<Option<u32>> {
        match e.attr(attr) {
            None => Ok(None),
            Some(v) => parse_count(v).map(Some).ok_or_else(|| {
                ReadError::new(
                    self.file,
                    ReadErrorKind::Invalid,
                    format!("{attr} is not a whole non-negative number"),
                )
                .at(e.location())
            }),
        }
    }

    /// A job from a JobPhase, QueueEntry or ResourceInfo: its JobID (else `id_fallback`).
    fn job(
        &self,
        e: &Element,
        submitted: &str,
        printed: Option<&str>,
        id_fallback: Option<&str>,
    ) -> Result<Option<JobInformation>> {
        let Some(job_id) = e.attr("JobID").or(id_fallback.and_then(|a| e.attr(a))) else {
            return Ok(None);
        };
        let job_id = match e.attr("JobPartID") {
            Some(part) => format!("{job_id}/{part}"),
            None => job_id.to_owned(),
        };
        let status_word = e.attr("Status").and_then(status);
        let printed_at = match printed {
            Some(attr) => self.time(e, attr)?,
            None => None,
        };
        Ok(Some(JobInformation {
            job_id,
            job_name: e.attr("DescriptiveName").map(str::to_owned),
            user_name: None,
            document_name: None,
            submitted_at: if submitted.is_empty() {
                None
            } else {
                self.time(e, submitted)?
            },
            printed_at,
            status: status_word,
            copies: self.count(e, "Amount")?,
            pages: None,
            media_name: None,
            size_mm: None,
            ink_used_ml: None,
        }))
    }
}
