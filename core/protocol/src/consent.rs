//! Consent: the user's decision, per purpose, to let a consent-gated part leave their device.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::limits::SHORT_TEXT;
use crate::{Validate, Validator};

/// What a consent decision is about. Each is *not granted* until the user grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Job information in PC-application (DFE) uploads.
    JobInfo,
    /// The GPS position of a mobile measurement.
    Gps,
    /// Photos attached to a mobile measurement.
    Photos,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::JobInfo, Purpose::Gps, Purpose::Photos];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::JobInfo => "job_info",
            Purpose::Gps => "gps",
            Purpose::Photos => "photos",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown purpose name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown consent purpose `{0}`; expected one of job_info, gps, photos")]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPurpose(s.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Granted,
    /// Asked and said no.
    Refused,
    /// Had granted, now takes it back.
    Withdrawn,
}

impl Decision {
    pub fn is_granted(self) -> bool {
        self == Decision::Granted
    }
}

/// `POST /api/v1/consents`: record one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentDecision {
    /// Client-generated when the user decided; the idempotency key of this decision.
    pub decision_id: uuid::Uuid,
    pub purpose: Purpose,
    pub decision: Decision,
    /// Version of the notice the user was shown, e.g. `2026-10`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub notice_version: String,
    /// When the user decided, by the client's clock (decisions made offline arrive later).
    pub decided_at: DateTime<Utc>,
}

impl Validate for ConsentDecision {
    fn validate_into(&self, v: &mut Validator) {
        v.text("notice_version", &self.notice_version, SHORT_TEXT.min(64));
        v.past_time("decided_at", self.decided_at);
    }
}

/// One row of a user's consent history, as the server keeps it (append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    pub purpose: Purpose,
    pub decision: Decision,
    pub notice_version: String,
    pub decided_at: DateTime<Utc>,
    /// When the server received it.
    pub recorded_at: DateTime<Utc>,
}

/// The current state of one purpose: the latest decision, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PurposeState {
    pub purpose: Purpose,
    pub granted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<ConsentRecord>,
}

/// `GET /api/v1/consents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentOverview {
    pub purposes: Vec<PurposeState>,
    /// Every decision, oldest first.
    pub history: Vec<ConsentRecord>,
}
