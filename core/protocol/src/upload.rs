//! The server's answer to an upload, and the checks every upload body shares.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
