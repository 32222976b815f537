//! Device data sent by the DC Agent (a Windows collector) and the ES Agent (device firmware):
//! the *Agent* and *Device* categories of the ECSP data appendix.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::common::{CodeEvent, Settings, opt_settings};
use crate::limits::{LIST_ENTRIES, RECORDS_PER_UPLOAD, SHORT_TEXT};
use crate::{Validate, Validator};

/// `POST /api/v1/agent/device-data`: one agent's report on the devices it was designated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceDataUpload {
    /// Must be [`PROTOCOL_VERSION`].
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub schema_version: u32,
    pub agent: AgentInfo,
    /// One record per device reading, 1 to 500.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub records: Vec<DeviceDataRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentType {
    /// DC Agent: a PC application collecting from designated networked devices.
    DcAgent,
    /// ES Agent: firmware inside the device, reporting on itself.
    EsAgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CollectionType {
    /// Periodic collection.
    Scheduled,
    /// Collected because something happened on the device (an error, a job end).
    Event,
    /// Collected in answer to a remote operation.
    RemoteOperation,
    /// Started by a person at the agent.
    Manual,
}

/// The *Agent* category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentInfo {
    /// The agent's ID as issued by the server; must match the credential used.
    pub agent_id: Uuid,
    /// The kind the agent was registered as (refused with 403 otherwise).
    pub agent_type: AgentType,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub agent_version: String,
    pub collection_type: CollectionType,
    /// When the agent sent this report.
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 255,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub pc_hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub os_product_type: Option<String>,
}

/// One reading of one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceDataRecord {
    /// Client-generated, fixed when the reading was taken; the idempotency key.
    pub record_id: Uuid,
    /// When the reading was taken ("acquired date").
    pub captured_at: DateTime<Utc>,
    pub device: DeviceData,
}

/// One device designated to an agent, as `GET /api/v1/agent/devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DesignatedDevice {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
}

/// `GET /api/v1/agent/devices`: the devices the asking agent was designated to report (the
/// only ones whose device data the server accepts from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DesignatedDevices {
    /// The kind the asking agent was registered as; its reports must name the same.
    pub agent_type: AgentType,
    pub devices: Vec<DesignatedDevice>,
}

/// `POST /api/v1/agent/broker-credential`: what the agent sends as its MQTT password when the
/// service's broker is a cluster that trusts credentials the server signs (404 when the
/// server's own broker takes the agent's secret). Renew it before `expires_at`: the broker ends
/// a connection whose credential expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BrokerCredential {
    /// The MQTT password (a signed token naming this agent's own topics); the user name is the
    /// agent id, as with the secret.
    pub password: String,
    pub expires_at: DateTime<Utc>,
}

/// A consumable part and how much of it is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Consumable {
    /// e.g. `ink_cartridge`, `maintenance_box`, `cutter`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub kind: String,
    /// e.g. `cyan`, `light_magenta`; absent for colourless parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub part_number: Option<String>,
    /// Remaining life in percent, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub remaining_percent: Option<f64>,
}

impl Validate for Consumable {
    fn validate_into(&self, v: &mut Validator) {
        v.text("kind", &self.kind, 64);
        v.opt_text("color", self.color.as_deref(), 64);
        v.opt_text("part_number", self.part_number.as_deref(), 64);
        if let Some(p) = self.remaining_percent {
            v.range("remaining_percent", p, 0.0, 100.0);
        }
    }
}

/// Cumulative ink used for one ink colour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InkUsage {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub color: String,
    /// Millilitres, since the device was made.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1e9))]
    pub millilitres: f64,
}

impl Validate for InkUsage {
    fn validate_into(&self, v: &mut Validator) {
        v.text("color", &self.color, 64);
        v.range("millilitres", self.millilitres, 0.0, 1e9);
    }
}

/// A job as the device's own job history records it (no print data, ever).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceJob {
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// e.g. `completed`, `cancelled`, `error`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1e6))]
    pub printed_area_m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub media: Option<String>,
}

impl Validate for DeviceJob {
    fn validate_into(&self, v: &mut Validator) {
        v.past_time("started_at", self.started_at);
        if let Some(f) = self.finished_at {
            v.past_time("finished_at", f);
            if f < self.started_at {
                v.error("finished_at", "must not be before started_at");
            }
        }
        v.text("result", &self.result, 64);
        if let Some(a) = self.printed_area_m2 {
            v.range("printed_area_m2", a, 0.0, 1e6);
        }
        v.opt_text("media", self.media.as_deref(), SHORT_TEXT);
    }
}

/// The *Device* category. What is present varies by model, accessories and agent type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceData {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub manufacturer: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub model: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 16,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub region_code: Option<String>,
    /// ISO 3166-1 alpha-2, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Z]{2}$"))]
    pub country_code: Option<String>,
    /// The device's own clock when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_time: Option<DateTime<Utc>>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub firmware_version: String,
    /// e.g. `idle`, `printing`, `error`, `offline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub printer_status: Option<String>,
    /// Errors and warnings active now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub error_codes: Vec<CodeEvent>,
    /// Status, error and warning history.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub status_history: Vec<CodeEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub operation_panel_settings: Option<Settings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub printer_settings: Option<Settings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub maintenance_settings: Option<Settings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub media_settings: Option<Settings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub network_settings: Option<Settings>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub consumables: Vec<Consumable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub cleaning_history: Vec<CodeEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub maintenance_history: Vec<CodeEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub cumulative_ink_usage: Vec<InkUsage>,
    /// Seconds of printing since the device was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative_printing_time_s: Option<u64>,
    /// Square metres printed since the device was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1e9))]
    pub cumulative_printing_area_m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub job_history: Vec<DeviceJob>,
}

impl Validate for DeviceDataUpload {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.nested("agent", |v| self.agent.validate_into(v));
        v.each("records", &self.records, 1, RECORDS_PER_UPLOAD);
        crate::upload::unique_record_ids(v, self.records.iter().map(|r| r.record_id));
    }
}

impl Validate for AgentInfo {
    fn validate_into(&self, v: &mut Validator) {
        v.text("agent_version", &self.agent_version, 64);
        v.past_time("sent_at", self.sent_at);
        v.opt_text("pc_hostname", self.pc_hostname.as_deref(), 255);
        v.opt_text("os", self.os.as_deref(), SHORT_TEXT);
        v.opt_text("os_version", self.os_version.as_deref(), SHORT_TEXT);
        v.opt_text(
            "os_product_type",
            self.os_product_type.as_deref(),
            SHORT_TEXT,
        );
    }
}

impl Validate for DeviceDataRecord {
    fn validate_into(&self, v: &mut Validator) {
        v.past_time("captured_at", self.captured_at);
        v.nested("device", |v| self.device.validate_into(v));
    }
}

impl Validate for DeviceData {
    fn validate_into(&self, v: &mut Validator) {
        v.text("manufacturer", &self.manufacturer, SHORT_TEXT);
        v.text("model", &self.model, SHORT_TEXT);
        v.text("serial_number", &self.serial_number, 64);
        v.opt_text("region_code", self.region_code.as_deref(), 16);
        if let Some(cc) = &self.country_code {
            if cc.len() != 2 || !cc.bytes().all(|b| b.is_ascii_uppercase()) {
                v.error(
                    "country_code",
                    "must be an ISO 3166-1 alpha-2 code such as `JP`",
                );
            }
        }
        v.text("firmware_version", &self.firmware_version, SHORT_TEXT);
        v.opt_text("printer_status", self.printer_status.as_deref(), 64);
        v.each("error_codes", &self.error_codes, 0, LIST_ENTRIES);
        v.each("status_history", &self.status_history, 0, LIST_ENTRIES);
        opt_settings(
            v,
            "operation_panel_settings",
            self.operation_panel_settings.as_ref(),
        );
        opt_settings(v, "printer_settings", self.printer_settings.as_ref());
        opt_settings(
            v,
            "maintenance_settings",
            self.maintenance_settings.as_ref(),
        );
        opt_settings(v, "media_settings", self.media_settings.as_ref());
        opt_settings(v, "network_settings", self.network_settings.as_ref());
        v.each("consumables", &self.consumables, 0, LIST_ENTRIES);
        v.each("cleaning_history", &self.cleaning_history, 0, LIST_ENTRIES);
        v.each(
            "maintenance_history",
            &self.maintenance_history,
            0,
            LIST_ENTRIES,
        );
        v.each("cumulative_ink_usage", &self.cumulative_ink_usage, 0, 64);
        if let Some(a) = self.cumulative_printing_area_m2 {
            v.range("cumulative_printing_area_m2", a, 0.0, 1e9);
        }
        v.each("job_history", &self.job_history, 0, LIST_ENTRIES);
    }
}

/// Where a device stands by its latest report, as the fleet is grouped (Epson's own fleet view
/// groups printers so): any reported error wins; then the printer's own status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Printing,
    Standby,
    Error,
    /// A status word that is none of the above (warming up, maintenance, offline …).
    Other,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Printing => "printing",
            DeviceState::Standby => "standby",
            DeviceState::Error => "error",
            DeviceState::Other => "other",
        }
    }
}

impl DeviceData {
    /// Where the device stands by this report.
    pub fn state(&self) -> DeviceState {
        let status = self
            .printer_status
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.error_codes.is_empty() || status.contains("error") {
            DeviceState::Error
        } else if ["printing", "busy", "processing"].contains(&status.as_str()) {
            DeviceState::Printing
        } else if ["standby", "idle", "ready", "sleep", "sleeping"].contains(&status.as_str()) {
            DeviceState::Standby
        } else {
            DeviceState::Other
        }
    }
}
