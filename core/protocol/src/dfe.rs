//! What the PC application uploads from a digital front end (DFE): its software version, the
//! operating environment, print settings, and job information only if the user allows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{CodeEvent, OperatingEnvironment, Settings, SoftwareVersion, opt_settings};
use crate::limits::{LIST_ENTRIES, RECORDS_PER_UPLOAD, SHORT_TEXT};
use crate::{Validate, Validator};

/// `POST /api/v1/uploads/dfe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DfeUpload {
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub schema_version: u32,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub records: Vec<DfeRecord>,
}

/// One capture of a DFE's state at the operator's workstation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DfeRecord {
    pub record_id: Uuid,
    pub captured_at: DateTime<Utc>,
    /// The printer (as registered on the server) this DFE drives.
    pub device_id: Uuid,
    /// The DFE software and its version.
    pub software: SoftwareVersion,
    pub environment: OperatingEnvironment,
    pub print_settings: PrintSettings,
    /// Consent-gated (`job_info`): present only if the user granted it before capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobInformation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RenderingIntent {
    Perceptual,
    RelativeColorimetric,
    Saturation,
    AbsoluteColorimetric,
}

/// A DFE's print settings: the common ones typed, the vendor's own in `values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PrintSettings {
    /// The DFE's name for this settings set (queue, preset, hot folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub preset_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub media_name: Option<String>,
    /// Horizontal and vertical resolution in dots per inch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 2, max_items = 2))]
    pub resolution_dpi: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub output_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendering_intent: Option<RenderingIntent>,
    /// Vendor-specific settings, as the DFE names them.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub values: Settings,
}

/// Information about one print job. Consent-gated: job names can identify people and clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobInformation {
    /// The job's key: the DFE's job identifier (JDF/JMF `JobID`; a JMF queue entry without one
    /// is keyed by its `QueueEntryID`). A ticket and the signals about the same job carry the
    /// same `job_id`; which part of the job is in `job_part_id`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub job_id: String,
    /// The part of the job this record is about (JDF/JMF `JobPartID`), when the DFE names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub job_part_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub job_name: Option<String>,
    /// Who submitted the job, as the DFE names them. Personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
    )]
    pub user_name: Option<String>,
    /// The printed document's file name (no folder). Personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
    )]
    pub document_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_at: Option<DateTime<Utc>>,
    /// e.g. `completed`, `held`, `cancelled`, `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub status: Option<String>,
    /// When printing (this phase of the job) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Copies asked for: the planned amount (JDF `Amount` on the output, JMF `TotalAmount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    /// Good copies produced so far (JDF `ActualAmount` and audited amounts, JMF phase
    /// `Amount`); never counted into `copies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies_produced: Option<u32>,
    /// Waste produced so far (spoiled sheets or copies), apart from the good ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies_waste: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub media_name: Option<String>,
    /// Printed width and height in millimetres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 2, max_items = 2))]
    pub size_mm: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ink_used_ml: Option<f64>,
    /// Every medium of the job, per part, when the ticket names more than one (a cover and
    /// the text stock); `media_name` and `size_mm` are then the first of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub media: Vec<JobMedia>,
}

/// One medium of a job and the part it is used for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobMedia {
    /// Which part of the job (e.g. `RunIndex 0`, `Run FrontCover`), as the ticket names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: Option<String>,
    /// Width and height in millimetres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 2, max_items = 2))]
    pub size_mm: Option<[f64; 2]>,
}

/// Media per job at most (a job with more parts keeps the first ones).
pub const JOB_MEDIA: usize = 64;

impl Validate for JobMedia {
    fn validate_into(&self, v: &mut Validator) {
        v.opt_text("part", self.part.as_deref(), SHORT_TEXT);
        v.opt_text("name", self.name.as_deref(), SHORT_TEXT);
        if let Some([w, h]) = self.size_mm {
            v.range("size_mm[0]", w, 0.0, 100_000.0);
            v.range("size_mm[1]", h, 0.0, 1_000_000.0);
        }
    }
}

impl Validate for DfeUpload {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.each("records", &self.records, 1, RECORDS_PER_UPLOAD);
        crate::upload::unique_record_ids(v, self.records.iter().map(|r| r.record_id));
    }
}

/// `POST /api/v1/uploads/device-data`: device data the PC application read from a DFE (a JMF
/// `Status` of a device that is down or stopped, without a job), stored as the device-data kind.
/// The agents' [`crate::agent::DeviceDataRecord`] names its device by manufacturer, model and
/// serial number and requires its firmware version, which a DFE does not report; a user names
/// the device by its id, as in a DFE upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceStatusUpload {
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub schema_version: u32,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub records: Vec<DeviceStatusRecord>,
}

/// A device's state as its DFE reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceStatusRecord {
    pub record_id: Uuid,
    /// When the device was in this state (the DFE's message time).
    pub captured_at: DateTime<Utc>,
    /// The printer (as registered on the server).
    pub device_id: Uuid,
    /// The DFE software that reported the state.
    pub software: SoftwareVersion,
    /// e.g. `down`, `stopped`, `idle` (JDF `DeviceStatus` in lower case).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub printer_status: String,
    /// Errors and warnings active now (`PaperJam`, `OutputTrayFull`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub error_codes: Vec<CodeEvent>,
    /// Other events the device reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub status_history: Vec<CodeEvent>,
    /// Production counters, speed and the device's identity as the DFE names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub values: Option<Settings>,
}

impl Validate for DeviceStatusUpload {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.each("records", &self.records, 1, RECORDS_PER_UPLOAD);
        crate::upload::unique_record_ids(v, self.records.iter().map(|r| r.record_id));
    }
}

impl Validate for DeviceStatusRecord {
    fn validate_into(&self, v: &mut Validator) {
        v.past_time("captured_at", self.captured_at);
        v.nested("software", |v| self.software.validate_into(v));
        v.text("printer_status", &self.printer_status, 64);
        v.each("error_codes", &self.error_codes, 0, LIST_ENTRIES);
        v.each("status_history", &self.status_history, 0, LIST_ENTRIES);
        opt_settings(v, "values", self.values.as_ref());
    }
}

impl Validate for DfeRecord {
    fn validate_into(&self, v: &mut Validator) {
        v.past_time("captured_at", self.captured_at);
        v.nested("software", |v| self.software.validate_into(v));
        v.nested("environment", |v| self.environment.validate_into(v));
        v.nested("print_settings", |v| self.print_settings.validate_into(v));
        if let Some(job) = &self.job {
            v.nested("job", |v| job.validate_into(v));
        }
    }
}

impl Validate for PrintSettings {
    fn validate_into(&self, v: &mut Validator) {
        v.opt_text("preset_name", self.preset_name.as_deref(), SHORT_TEXT);
        v.opt_text("media_name", self.media_name.as_deref(), SHORT_TEXT);
        if let Some([x, y]) = self.resolution_dpi {
            if !(50..=9600).contains(&x) || !(50..=9600).contains(&y) {
                v.error(
                    "resolution_dpi",
                    "each resolution must be between 50 and 9600 dpi",
                );
            }
        }
        v.opt_text("output_profile", self.output_profile.as_deref(), SHORT_TEXT);
        v.settings("values", &self.values);
    }
}

impl Validate for JobInformation {
    fn validate_into(&self, v: &mut Validator) {
        v.text("job_id", &self.job_id, SHORT_TEXT);
        v.opt_text("job_part_id", self.job_part_id.as_deref(), SHORT_TEXT);
        if let Some(t) = self.started_at {
            v.past_time("started_at", t);
        }
        v.opt_text("job_name", self.job_name.as_deref(), SHORT_TEXT);
        v.opt_text("user_name", self.user_name.as_deref(), SHORT_TEXT);
        v.opt_text("document_name", self.document_name.as_deref(), SHORT_TEXT);
        if let Some(t) = self.submitted_at {
            v.past_time("submitted_at", t);
        }
        if let Some(t) = self.printed_at {
            v.past_time("printed_at", t);
        }
        v.opt_text("status", self.status.as_deref(), 64);
        v.opt_text("media_name", self.media_name.as_deref(), SHORT_TEXT);
        if let Some([w, h]) = self.size_mm {
            v.range("size_mm[0]", w, 0.0, 100_000.0);
            v.range("size_mm[1]", h, 0.0, 1_000_000.0);
        }
        if let Some(ml) = self.ink_used_ml {
            v.range("ink_used_ml", ml, 0.0, 1e6);
        }
        v.each("media", &self.media, 0, JOB_MEDIA);
    }
}
