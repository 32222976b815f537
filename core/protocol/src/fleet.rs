//! The fleet at a glance (`/api/v1/fleet/…`): what the printers a user may see produced, today
//! by hour and the last 30 days by day, in the unit the user picks; how many are in each state;
//! and the printers that need someone now.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The measure production is shown in. Ink is always in millilitres, beside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProductionUnit {
    Jobs,
    Sheets,
    /// Square metres printed.
    #[default]
    M2,
    /// Square feet printed.
    Ft2,
}

impl ProductionUnit {
    pub const ALL: [ProductionUnit; 4] = [
        ProductionUnit::Jobs,
        ProductionUnit::Sheets,
        ProductionUnit::M2,
        ProductionUnit::Ft2,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProductionUnit::Jobs => "jobs",
            ProductionUnit::Sheets => "sheets",
            ProductionUnit::M2 => "m2",
            ProductionUnit::Ft2 => "ft2",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// Square feet in a square metre.
pub const FT2_PER_M2: f64 = 10.763_910_416_709_722;

/// One day of production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayFigure {
    /// The day in the dashboard's time zone, `YYYY-MM-DD`.
    pub date: String,
    /// In the dashboard's unit.
    pub value: f64,
    pub ink_ml: f64,
}

/// How many of the printers are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StateCounts {
    pub printing: u32,
    pub standby: u32,
    pub error: u32,
    /// Warming up, maintenance, offline …
    pub other: u32,
    /// Its agent has not been heard from for [`SILENT_AFTER_MINUTES`].
    pub silent: u32,
    /// Nothing reported yet.
    pub no_report: u32,
}

/// An agent not heard from for this long counts as silent on the dashboard.
pub const SILENT_AFTER_MINUTES: i64 = 30;

/// `GET /api/v1/fleet/dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetDashboard {
    pub unit: ProductionUnit,
    /// The IANA zone the hours and days are in.
    pub time_zone: String,
    /// Today in that zone, `YYYY-MM-DD`.
    pub today: String,
    /// Today's production by hour, 24 values from midnight, in `unit`.
    pub today_by_hour: Vec<f64>,
    /// The last 30 days, oldest first, ending today.
    pub days: Vec<DayFigure>,
    /// Printers counted (those the caller may see, in the filter).
    pub devices: u32,
    pub states: StateCounts,
}

/// Why a printer is on the attention list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttentionReason {
    /// It reports an error.
    Error,
    /// Its agent has not been heard from for [`SILENT_AFTER_MINUTES`].
    Silent,
    /// A consumable is at or below the threshold asked for.
    ConsumableLow,
    /// A remote operation failed, was refused, timed out or expired in the last 24 hours.
    OperationFailed,
}

impl AttentionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            AttentionReason::Error => "error",
            AttentionReason::Silent => "silent",
            AttentionReason::ConsumableLow => "consumable_low",
            AttentionReason::OperationFailed => "operation_failed",
        }
    }
}

/// One entry of `GET /api/v1/fleet/attention`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttentionItem {
    pub reason: AttentionReason,
    pub device_id: Uuid,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    /// When: the report, the agent's last sight, the operation's end.
    pub at: DateTime<Utc>,
    /// The codes; the consumable and its percent; the operation's kind and state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
