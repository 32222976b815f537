//! The server's answer to an upload, and the checks every upload body shares.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::consent::Purpose;
use crate::{PROTOCOL_VERSION, Validator};

/// Whether this request stored the record, or it was already stored by an earlier identical one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Created,
    /// The same record (same UUID, same content) was already stored; nothing changed.
    AlreadyStored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordReceipt {
    pub record_id: Uuid,
    pub status: RecordStatus,
    /// When the server first stored the record.
    pub stored_at: DateTime<Utc>,
}

/// The answer to a successful upload: one receipt per record, in request order.
/// An upload is all or nothing: if any record is refused, none is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadReceipt {
    pub records: Vec<RecordReceipt>,
}

pub(crate) fn check_schema_version(v: &mut Validator, version: u32) {
    if version != PROTOCOL_VERSION {
        v.error(
            "schema_version",
            format!("unsupported version {version}; this protocol is version {PROTOCOL_VERSION}"),
        );
    }
}

pub(crate) fn unique_record_ids(v: &mut Validator, ids: impl Iterator<Item = Uuid>) {
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            v.error(
                &format!("records[{i}].record_id"),
                format!("record {id} appears twice in one upload"),
            );
        }
    }
}

/// The three kinds of uploaded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// From a DC or ES agent, or from the PC application reading a DFE's device status.
    DeviceData,
    /// From the PC application.
    Dfe,
    /// From the mobile application.
    Measurement,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::DeviceData => "device_data",
            RecordKind::Dfe => "dfe",
            RecordKind::Measurement => "measurement",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RecordKind::DeviceData,
            RecordKind::Dfe,
            RecordKind::Measurement,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A stored record as the portal shows it: the record as uploaded, plus where and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RecordView {
    pub record_id: Uuid,
    pub kind: RecordKind,
    pub device_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub stored_at: DateTime<Utc>,
    /// The record exactly as uploaded (a `DeviceDataRecord` or `DeviceStatusRecord`, a
    /// `DfeRecord` or a `MeasurementRecord`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: serde_json::Value,
}

/// What the server needs of a record a signed-in user uploads, whatever its kind.
pub trait UserRecord: Serialize {
    fn record_id(&self) -> Uuid;
    /// The device (printer) the record is about.
    fn device_id(&self) -> Uuid;
    fn captured_at(&self) -> DateTime<Utc>;
    /// The consent purposes this record needs granted at its capture time.
    fn gated_purposes(&self) -> Vec<Purpose>;
}

impl UserRecord for crate::dfe::DeviceStatusRecord {
    fn record_id(&self) -> Uuid {
        self.record_id
    }

    fn device_id(&self) -> Uuid {
        self.device_id
    }

    fn captured_at(&self) -> DateTime<Utc> {
        self.captured_at
    }

    /// Device data holds no job, position or photo.
    fn gated_purposes(&self) -> Vec<Purpose> {
        Vec::new()
    }
}

impl UserRecord for crate::dfe::DfeRecord {
    fn record_id(&self) -> Uuid {
        self.record_id
    }

    fn device_id(&self) -> Uuid {
        self.device_id
    }

    fn captured_at(&self) -> DateTime<Utc> {
        self.captured_at
    }

    fn gated_purposes(&self) -> Vec<Purpose> {
        if self.job.is_some() {
            vec![Purpose::JobInfo]
        } else {
            Vec::new()
        }
    }
}

impl UserRecord for crate::measurement::MeasurementRecord {
    fn record_id(&self) -> Uuid {
        self.record_id
    }

    fn device_id(&self) -> Uuid {
        self.device_id
    }

    fn captured_at(&self) -> DateTime<Utc> {
        self.captured_at
    }

    fn gated_purposes(&self) -> Vec<Purpose> {
        let mut out = Vec::new();
        if self.gps.is_some() {
            out.push(Purpose::Gps);
        }
        if !self.photos.is_empty() {
            out.push(Purpose::Photos);
        }
        out
    }
}
