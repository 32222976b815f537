//! Remote operations: the contract between the server, the agents (DC and ES) and the REST
//! clients that request operations. `docs/remote-operations.md` says the same in prose.
//!
//! A `service_support` or `admin` user asks the server (REST) for an operation on a device; the
//! server keeps it as a persisted job (AWS IoT Jobs / ThingsBoard persistent RPC are the models)
//! and sends a [`Command`] over MQTT (3.1.1, QoS 1, over TLS with ALPN [`MQTT_ALPN`]) to the
//! agent designated to report that device. The agent answers with [`AgentReport`]s: `delivered`
//! and `in_progress` on its acknowledgement topic, `succeeded`, `failed` or `rejected` (with a
//! [`OperationResult`] or a [`Reason`]) on its result topic. Agents tell the server which
//! operations each of their devices supports with a [`CapabilityReport`].
//!
//! Topics are per agent (`ecsp/v1/agents/{agent_id}/…`, see [`topic`]) so that one rule — an
//! agent may touch only topics under its own id — is the whole access policy, for the server's
//! own broker and for an external one (mosquitto `pattern` ACLs on `%u`).
//!
//! Exactly-once execution is the agent's duty, keyed on [`Command::operation_id`]: MQTT QoS 1
//! and the server's re-sending after a reconnect both deliver a command more than once, so an
//! agent that has seen an operation id before must not run it again; it re-publishes its last
//! report for it instead. The server, in turn, ignores reports that would move an operation
//! backwards or out of a final state.
//!
//! No I/O here: types, `serde` mappings, topic names and validation only.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::{Consumable, InkUsage};
use crate::common::CodeEvent;
use crate::limits::{LIST_ENTRIES, SHORT_TEXT};
use crate::{Validate, Validator};

/// The ALPN protocol name an MQTT client offers to reach the MQTT listener on the HTTPS port.
/// (AWS IoT uses `x-amzn-mqtt-ca` for the same purpose on 443.)
pub const MQTT_ALPN: &str = "mqtt";
/// Also accepted for clients built for AWS IoT.
pub const MQTT_ALPN_AWS: &str = "x-amzn-mqtt-ca";
/// Largest MQTT packet the server accepts (fixed header included); larger ones close the
/// connection. Results stay far below it.
pub const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Longest keep-alive the server honours, in seconds: a connection silent for 1.5 times the
/// agent's keep-alive (or this, for a keep-alive of 0 or longer) is closed.
pub const MAX_KEEP_ALIVE_SECS: u16 = 1200;

/// Default time to live of a command that has not reached its agent.
pub const DEFAULT_TTL_SECS: u32 = 3600;
/// Shortest and longest time to live a request may ask for.
pub const MIN_TTL_SECS: u32 = 10;
pub const MAX_TTL_SECS: u32 = 7 * 24 * 3600;

/// How long an operation may stay in a state before the server declares it `timed_out`.
/// `queued` and `sent` end at the command's `expires_at` instead (state `expired`).
pub mod timeouts {
    use super::OperationKind;

    /// `delivered` → `in_progress` (the agent said it has the command, but did not start).
    pub const DELIVERED_SECS: u32 = 120;

    /// `in_progress` → a final state, per kind: head cleaning takes minutes on real printers.
    pub fn in_progress_secs(kind: OperationKind) -> u32 {
        match kind {
            OperationKind::Status => 120,
            OperationKind::HeadCleaning => 20 * 60,
            OperationKind::Diagnosis => 15 * 60,
        }
    }
}

/// MQTT topic names. Every topic an agent may use is under `ecsp/v1/agents/{agent_id}/`, with
/// the agent id as the server issued it (lower-case hyphenated UUID).
pub mod topic {
    use uuid::Uuid;

    /// The common prefix.
    pub const ROOT: &str = "ecsp/v1/agents";

    /// Server → agent: [`super::Command`]s. The agent subscribes with QoS 1.
    pub fn commands(agent_id: Uuid) -> String {
        format!("{ROOT}/{agent_id}/commands")
    }
    /// Agent → server: [`super::AgentReport`]s in state `delivered` or `in_progress`.
    pub fn acks(agent_id: Uuid) -> String {
        format!("{ROOT}/{agent_id}/acks")
    }
    /// Agent → server: [`super::AgentReport`]s in state `succeeded`, `failed` or `rejected`.
    pub fn results(agent_id: Uuid) -> String {
        format!("{ROOT}/{agent_id}/results")
    }
    /// Agent → server: its [`super::CapabilityReport`], after every connect and on change.
    pub fn capabilities(agent_id: Uuid) -> String {
        format!("{ROOT}/{agent_id}/capabilities")
    }

    /// Which of an agent's topics a name is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum AgentTopic {
        Commands,
        Acks,
        Results,
        Capabilities,
    }

    /// Parses an exact topic name (no wildcards) into its agent id and kind.
    pub fn parse(name: &str) -> Option<(Uuid, AgentTopic)> {
        let rest = name.strip_prefix(ROOT)?.strip_prefix('/')?;
        let (id, leaf) = rest.split_once('/')?;
        let agent = Uuid::parse_str(id).ok()?;
        if agent.hyphenated().to_string() != id {
            return None;
        }
        let kind = match leaf {
            "commands" => AgentTopic::Commands,
            "acks" => AgentTopic::Acks,
            "results" => AgentTopic::Results,
            "capabilities" => AgentTopic::Capabilities,
            _ => return None,
        };
        Some((agent, kind))
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Read the status and the cumulative operation counters.
    Status,
    /// Run a head cleaning cycle.
    HeadCleaning,
    /// Run the device's fault diagnosis (only devices that report the capability).
    Diagnosis,
}

impl OperationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::Status => "status",
            OperationKind::HeadCleaning => "head_cleaning",
            OperationKind::Diagnosis => "diagnosis",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Status, Self::HeadCleaning, Self::Diagnosis]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where an operation stands, as the server keeps it.
///
/// `queued` → `sent` → `delivered` → `in_progress` → `succeeded` | `failed` | `rejected`;
/// or `timed_out` (a state outlived its timeout, see [`timeouts`]), `expired` (the command did
/// not reach its agent before `expires_at`), `cancelled` (by a user, while `queued`).
/// An agent may reject a command from `sent` or `delivered` too (it never started).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    Queued,
    Sent,
    Delivered,
    InProgress,
    Succeeded,
    Failed,
    Rejected,
    TimedOut,
    Expired,
    Cancelled,
}

impl OperationState {
    pub const ALL: [OperationState; 10] = [
        Self::Queued,
        Self::Sent,
        Self::Delivered,
        Self::InProgress,
        Self::Succeeded,
        Self::Failed,
        Self::Rejected,
        Self::TimedOut,
        Self::Expired,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::InProgress => "in_progress",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::TimedOut => "timed_out",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// No state follows a final one.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded
                | Self::Failed
                | Self::Rejected
                | Self::TimedOut
                | Self::Expired
                | Self::Cancelled
        )
    }

    /// The order of the non-final states; an operation never moves to a lower rank.
    fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::InProgress => 3,
            _ => 4,
        }
    }

    /// Whether an agent's report of `next` may move an operation from `self`: forwards only,
    /// never out of a final state; `rejected` only before the operation started.
    pub fn accepts_report(self, next: ReportedState) -> bool {
        if self.is_final() {
            return false;
        }
        let next = next.as_operation_state();
        match next {
            Self::Rejected => self.rank() <= Self::Delivered.rank(),
            _ => next.rank() > self.rank(),
        }
    }

    /// Whether a user may cancel it: only while no agent has it. Once sent, the command may be
    /// in the agent's hands and the protocol has no recall message, so `sent` is not cancellable
    /// (with the agent online it lasts milliseconds; offline agents' commands stay `queued`).
    pub fn cancellable(self) -> bool {
        matches!(self, Self::Queued)
    }
}

/// Parameters of a head cleaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeadCleaningParameters {
    #[serde(default)]
    pub level: CleaningLevel,
    /// Nozzle rows to clean by colour name (e.g. `cyan`); empty for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 32))]
    pub colors: Vec<String>,
}

impl Validate for HeadCleaningParameters {
    fn validate_into(&self, v: &mut Validator) {
        v.text_list("colors", &self.colors, 32, 64);
    }
}

/// How hard a head cleaning works (and how much ink it uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CleaningLevel {
    #[default]
    Normal,
    Strong,
    /// The printer's "power cleaning": most ink, for clogged nozzles.
    Power,
}

/// `POST /api/v1/operations`: a user asks for an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperationRequest {
    pub device_id: Uuid,
    pub kind: OperationKind,
    /// Only with `kind = head_cleaning` (defaults apply when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_cleaning: Option<HeadCleaningParameters>,
    /// How long the command may wait for its agent, 10 s to 7 days; default 1 hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 10, maximum = 604800))]
    pub ttl_secs: Option<u32>,
}

impl Validate for OperationRequest {
    fn validate_into(&self, v: &mut Validator) {
        if let Some(p) = &self.head_cleaning {
            if self.kind != OperationKind::HeadCleaning {
                v.error("head_cleaning", "only with `kind` = `head_cleaning`");
            }
            v.nested("head_cleaning", |v| p.validate_into(v));
        }
        if let Some(t) = self.ttl_secs {
            if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&t) {
                v.error(
                    "ttl_secs",
                    format!("must be {MIN_TTL_SECS} to {MAX_TTL_SECS} seconds"),
                );
            }
        }
    }
}

/// Server → agent, on [`topic::commands`]: run this operation on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Must be [`crate::PROTOCOL_VERSION`].
    pub schema_version: u32,
    /// The operation's id: the agent's key for running it at most once.
    pub operation_id: Uuid,
    /// The server's id of the device.
    pub device_id: Uuid,
    /// The device as the agent knows it (the agent reports devices by these).
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub kind: OperationKind,
    /// Present with `kind = head_cleaning`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_cleaning: Option<HeadCleaningParameters>,
    pub issued_at: DateTime<Utc>,
    /// Past this instant the agent must not start the command; it reports `rejected` with
    /// reason `expired` (the server will have marked it `expired` already).
    pub expires_at: DateTime<Utc>,
}

impl Validate for Command {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.text("manufacturer", &self.manufacturer, SHORT_TEXT);
        v.text("model", &self.model, SHORT_TEXT);
        v.text("serial_number", &self.serial_number, 64);
        if let Some(p) = &self.head_cleaning {
            if self.kind != OperationKind::HeadCleaning {
                v.error("head_cleaning", "only with `kind` = `head_cleaning`");
            }
            v.nested("head_cleaning", |v| p.validate_into(v));
        }
        if self.expires_at <= self.issued_at {
            v.error("expires_at", "must be after issued_at");
        }
    }
}

impl Command {
    /// Whether the command may still be started at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// The states an agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportedState {
    /// The agent has the command and recorded its id (acks topic).
    Delivered,
    /// The device is working on it (acks topic).
    InProgress,
    /// Done; `result` says what came out (results topic).
    Succeeded,
    /// Started but did not complete; `reason` says why (results topic).
    Failed,
    /// Not started and will not be; `reason` says why (results topic).
    Rejected,
}

impl ReportedState {
    pub fn as_operation_state(self) -> OperationState {
        match self {
            Self::Delivered => OperationState::Delivered,
            Self::InProgress => OperationState::InProgress,
            Self::Succeeded => OperationState::Succeeded,
            Self::Failed => OperationState::Failed,
            Self::Rejected => OperationState::Rejected,
        }
    }

    /// The topic kind a report in this state must be published on.
    pub fn topic(self) -> topic::AgentTopic {
        match self {
            Self::Delivered | Self::InProgress => topic::AgentTopic::Acks,
            _ => topic::AgentTopic::Results,
        }
    }
}

/// Why an operation failed or was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub code: ReasonCode,
    /// For people; no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub message: Option<String>,
}

/// Machine-readable reasons. Unknown codes from newer agents are read as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The command arrived after `expires_at`.
    Expired,
    /// The agent does not report this device (any more).
    UnknownDevice,
    /// The device cannot do this kind of operation.
    NotSupported,
    /// The device is busy (printing, another operation) and cannot start it now.
    DeviceBusy,
    /// The device could not be reached (DC agent: SNMP timeout; ES agent: engine offline).
    DeviceUnreachable,
    /// The device reported an error while doing it.
    DeviceError,
    /// The command was malformed or failed validation.
    InvalidCommand,
    /// Anything else (`message` says what).
    #[serde(other)]
    Other,
}

/// Agent → server, on [`topic::acks`] or [`topic::results`] (see [`ReportedState::topic`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// Must be [`crate::PROTOCOL_VERSION`].
    pub schema_version: u32,
    pub operation_id: Uuid,
    pub state: ReportedState,
    /// When the agent observed this state.
    pub at: DateTime<Utc>,
    /// With `in_progress`: how far along, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    /// With `succeeded` (required), and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OperationResult>,
    /// With `failed` or `rejected` (required), and only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

impl Validate for AgentReport {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.past_time("at", self.at);
        match (self.state, &self.result, &self.reason) {
            (ReportedState::Succeeded, None, _) => v.error("result", "required when succeeded"),
            (ReportedState::Failed | ReportedState::Rejected, _, None) => {
                v.error("reason", "required when failed or rejected")
            }
            _ => {}
        }
        if self.state != ReportedState::Succeeded && self.result.is_some() {
            v.error("result", "only when succeeded");
        }
        if !matches!(self.state, ReportedState::Failed | ReportedState::Rejected)
            && self.reason.is_some()
        {
            v.error("reason", "only when failed or rejected");
        }
        if let Some(p) = self.progress_percent {
            if self.state != ReportedState::InProgress {
                v.error("progress_percent", "only when in_progress");
            }
            if p > 100 {
                v.error("progress_percent", "must be 0 to 100");
            }
        }
        if let Some(r) = &self.reason {
            v.opt_text("reason.message", r.message.as_deref(), SHORT_TEXT);
        }
        if let Some(r) = &self.result {
            v.nested("result", |v| r.validate_into(v));
        }
    }
}

/// What a succeeded operation produced, tagged by its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperationResult {
    Status(StatusResult),
    HeadCleaning(HeadCleaningResult),
    Diagnosis(DiagnosisReport),
}

impl OperationResult {
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::Status(_) => OperationKind::Status,
            Self::HeadCleaning(_) => OperationKind::HeadCleaning,
            Self::Diagnosis(_) => OperationKind::Diagnosis,
        }
    }
}

impl Validate for OperationResult {
    fn validate_into(&self, v: &mut Validator) {
        match self {
            Self::Status(s) => s.validate_into(v),
            Self::HeadCleaning(h) => h.validate_into(v),
            Self::Diagnosis(d) => d.validate_into(v),
        }
    }
}

/// Result of `status`: the device's state now and its cumulative operation information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusResult {
    /// e.g. `idle`, `printing`, `error`, `offline` (as in device data).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub printer_status: String,
    /// Errors and warnings active now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub error_codes: Vec<CodeEvent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub consumables: Vec<Consumable>,
    pub counters: OperationCounters,
}

impl Validate for StatusResult {
    fn validate_into(&self, v: &mut Validator) {
        v.text("printer_status", &self.printer_status, 64);
        v.each("error_codes", &self.error_codes, 0, LIST_ENTRIES);
        v.each("consumables", &self.consumables, 0, LIST_ENTRIES);
        v.nested("counters", |v| self.counters.validate_into(v));
    }
}

/// Cumulative operation information since the device was made. What a device does not count
/// is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperationCounters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<u64>,
    /// Seconds of printing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printing_time_s: Option<u64>,
    /// Square metres printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_area_m2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on_hours: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_cleanings: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub ink_usage: Vec<InkUsage>,
}

impl Validate for OperationCounters {
    fn validate_into(&self, v: &mut Validator) {
        if let Some(a) = self.printed_area_m2 {
            v.range("printed_area_m2", a, 0.0, 1e9);
        }
        v.each("ink_usage", &self.ink_usage, 0, 64);
    }
}

/// Result of `head_cleaning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeadCleaningResult {
    pub level: CleaningLevel,
    /// Whether the nozzle check after the cleaning found every nozzle firing.
    pub nozzles_ok: bool,
    /// Nozzles still missing after the cleaning, when the device counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_nozzles: Option<u32>,
    pub duration_s: u32,
    /// Ink used by the cleaning, when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub ink_used: Vec<InkUsage>,
}

impl Validate for HeadCleaningResult {
    fn validate_into(&self, v: &mut Validator) {
        v.each("ink_used", &self.ink_used, 0, 64);
    }
}

/// Result of `diagnosis`: the device's self-test, check by check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiagnosisReport {
    pub verdict: Verdict,
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub checks: Vec<DiagnosisCheck>,
}

impl Validate for DiagnosisReport {
    fn validate_into(&self, v: &mut Validator) {
        v.each("checks", &self.checks, 1, LIST_ENTRIES);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Warning,
    Fail,
}

/// One check of a diagnosis, e.g. `carriage_motor`, `head_temperature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DiagnosisCheck {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub code: String,
    pub verdict: Verdict,
    /// The device's error code when the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub detail: Option<String>,
}

impl Validate for DiagnosisCheck {
    fn validate_into(&self, v: &mut Validator) {
        v.text("code", &self.code, 64);
        v.opt_text("error_code", self.error_code.as_deref(), 64);
        v.opt_text("detail", self.detail.as_deref(), SHORT_TEXT);
    }
}

/// Agent → server, on [`topic::capabilities`]: the operations each of its devices supports.
/// Sent after every connect (before or after subscribing) and whenever it changes; each report
/// replaces the previous one for the devices it names. A device never reported supports
/// `status` and `head_cleaning` only; `diagnosis` needs the capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityReport {
    /// Must be [`crate::PROTOCOL_VERSION`].
    pub schema_version: u32,
    pub sent_at: DateTime<Utc>,
    pub devices: Vec<DeviceCapabilities>,
}

/// One device (as in device data: manufacturer, model, serial) and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCapabilities {
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    pub operations: Vec<OperationKind>,
}

impl Validate for CapabilityReport {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.past_time("sent_at", self.sent_at);
        v.each("devices", &self.devices, 0, LIST_ENTRIES);
    }
}

impl Validate for DeviceCapabilities {
    fn validate_into(&self, v: &mut Validator) {
        v.text("manufacturer", &self.manufacturer, SHORT_TEXT);
        v.text("model", &self.model, SHORT_TEXT);
        v.text("serial_number", &self.serial_number, 64);
        if self.operations.len() > 16 {
            v.error("operations", "at most 16 entries");
        }
    }
}

/// One state an operation passed through (REST views).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    pub state: OperationState,
    pub at: DateTime<Utc>,
}

/// `GET /api/v1/operations/{operation_id}` and the items of the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperationView {
    pub operation_id: Uuid,
    pub device_id: Uuid,
    pub agent_id: Uuid,
    pub kind: OperationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_cleaning: Option<HeadCleaningParameters>,
    pub state: OperationState,
    /// The user who asked for it.
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the current state was entered.
    pub updated_at: DateTime<Utc>,
    /// When the current state times out, for the states that do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<OperationResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Every state so far, oldest first (omitted in lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<StateChange>,
}

/// `GET /api/v1/operations`: newest first; pass `next_before` (the last item's operation id)
/// as `before` for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperationPage {
    pub items: Vec<OperationView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// `expires_at` for a request made at `now` with the given TTL (default [`DEFAULT_TTL_SECS`]).
pub fn expiry(now: DateTime<Utc>, ttl_secs: Option<u32>) -> DateTime<Utc> {
    now + Duration::seconds(i64::from(ttl_secs.unwrap_or(DEFAULT_TTL_SECS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn topics_round_trip_and_refuse_look_alikes() {
        let id = Uuid::new_v4();
        assert_eq!(
            topic::parse(&topic::commands(id)),
            Some((id, topic::AgentTopic::Commands))
        );
        assert_eq!(
            topic::parse(&topic::results(id)),
            Some((id, topic::AgentTopic::Results))
        );
        assert_eq!(topic::parse(&format!("ecsp/v1/agents/{id}/#")), None);
        assert_eq!(topic::parse(&format!("ecsp/v1/agents/{id}/acks/x")), None);
        let upper = id.hyphenated().to_string().to_uppercase();
        assert_eq!(topic::parse(&format!("ecsp/v1/agents/{upper}/acks")), None);
        assert_eq!(topic::parse("ecsp/v1/agents/+/acks"), None);
    }

    #[test]
    fn reports_move_forwards_only() {
        use OperationState as S;
        use ReportedState as R;
        assert!(S::Sent.accepts_report(R::Delivered));
        assert!(S::Queued.accepts_report(R::Succeeded));
        assert!(S::Delivered.accepts_report(R::Rejected));
        assert!(!S::InProgress.accepts_report(R::Rejected));
        assert!(!S::InProgress.accepts_report(R::Delivered));
        assert!(!S::Succeeded.accepts_report(R::Succeeded));
        assert!(!S::Cancelled.accepts_report(R::Delivered));
        assert!(!S::InProgress.accepts_report(R::InProgress));
        assert!(S::Queued.cancellable() && !S::Sent.cancellable());
    }

    #[test]
    fn report_needs_result_or_reason() {
        let mut r = AgentReport {
            schema_version: 1,
            operation_id: Uuid::new_v4(),
            state: ReportedState::Succeeded,
            at: now(),
            progress_percent: None,
            result: None,
            reason: None,
        };
        let e = r.validate(now()).unwrap_err();
        assert_eq!(e.0[0].field, "result");
        r.result = Some(OperationResult::HeadCleaning(HeadCleaningResult {
            level: CleaningLevel::Strong,
            nozzles_ok: true,
            missing_nozzles: None,
            duration_s: 90,
            ink_used: vec![],
        }));
        r.validate(now()).unwrap();
        r.state = ReportedState::Rejected;
        let e = r.validate(now()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["reason", "result"]);
    }

    #[test]
    fn wire_forms_are_stable() {
        let cmd = Command {
            schema_version: 1,
            operation_id: Uuid::nil(),
            device_id: Uuid::nil(),
            manufacturer: "Epson".into(),
            model: "SC-P9500".into(),
            serial_number: "X5E1234".into(),
            kind: OperationKind::HeadCleaning,
            head_cleaning: Some(HeadCleaningParameters {
                level: CleaningLevel::Power,
                colors: vec![],
            }),
            issued_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            expires_at: "2026-01-01T01:00:00Z".parse().unwrap(),
        };
        let json = serde_json::to_value(&cmd).unwrap();
        assert_eq!(json["kind"], "head_cleaning");
        assert_eq!(json["head_cleaning"]["level"], "power");
        let result = OperationResult::Diagnosis(DiagnosisReport {
            verdict: Verdict::Warning,
            checks: vec![DiagnosisCheck {
                code: "head_temperature".into(),
                verdict: Verdict::Warning,
                error_code: None,
                detail: None,
            }],
        });
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["kind"], "diagnosis");
        assert_eq!(json["verdict"], "warning");
        let reason: Reason =
            serde_json::from_str(r#"{"code":"a_future_code","message":"x"}"#).unwrap();
        assert_eq!(reason.code, ReasonCode::Other);
        assert!(serde_json::from_str::<Command>(r#"{"schema_version":1}"#).is_err());
    }

    #[test]
    fn request_rules() {
        let mut r = OperationRequest {
            device_id: Uuid::new_v4(),
            kind: OperationKind::Status,
            head_cleaning: Some(HeadCleaningParameters {
                level: CleaningLevel::Normal,
                colors: vec![],
            }),
            ttl_secs: Some(5),
        };
        let e = r.validate(now()).unwrap_err();
        assert_eq!(e.0.len(), 2);
        r.kind = OperationKind::HeadCleaning;
        r.ttl_secs = Some(60);
        r.validate(now()).unwrap();
    }
}
