//! Uploaded records: stored once ever under their client-generated UUID, body sealed at rest.
//!
//! Idempotency: the fingerprint is the SHA-256 of the record's canonical JSON (as re-serialised
//! from the typed record, so whitespace and key order in the request do not matter). The same
//! UUID with the same fingerprint and kind answers "already stored"; anything else under a UUID
//! the organisation already used is a conflict. Ids are unique per organisation: another
//! organisation's record under the same UUID is unknown here, like everything of theirs.

use chrono::{DateTime, Utc};
use ecsp_protocol::FieldError;
use ecsp_protocol::upload::{RecordKind, RecordReceipt, RecordStatus, RecordView};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::devices::VISIBLE;
use super::{from_ms, now_ms, parse_uuid, to_ms};
use crate::crypto::{DataKey, body_fingerprint};
use crate::db::StoreError;
use crate::error::ApiError;

/// Who uploaded a record.
#[derive(Debug, Clone, Copy)]
pub enum Uploader {
    User(i64),
    Agent(i64),
}

/// A record's body as stored: its idempotency fingerprint and its ciphertext. Made before the
/// write, so hashing and encryption run on the request's own thread, not the single writer's.
#[derive(Debug)]
pub struct SealedBody {
    pub fingerprint: [u8; 32],
    pub ciphertext: Vec<u8>,
}

impl SealedBody {
    pub fn new(key: &DataKey, record_id: Uuid, canonical_json: &[u8]) -> Self {
        Self {
            fingerprint: body_fingerprint(canonical_json),
            ciphertext: key.seal(&body_context(record_id), canonical_json),
        }
    }
}

/// A validated record, ready to store.
#[derive(Debug)]
pub struct Incoming {
    pub record_id: Uuid,
    pub kind: RecordKind,
    pub device_id: i64,
    pub captured_at: DateTime<Utc>,
    pub body: SealedBody,
}

fn body_context(record_id: Uuid) -> String {
    format!("records.body:{record_id}")
}

/// Stores `rec` unless already stored; `index` is its position in the request, for errors.
pub fn store(
    conn: &Connection,
    org_id: i64,
    uploader: Uploader,
    rec: &Incoming,
    index: usize,
) -> Result<RecordReceipt, ApiError> {
    let fingerprint = &rec.body.fingerprint;
    let (uploader_kind, uploader_id) = match uploader {
        Uploader::User(id) => ("user", id),
        Uploader::Agent(id) => ("agent", id),
    };
    let stored_at = now_ms();
    // Insert first and look only on a clash: new records are the common case, and the
    // look-up before every insert was a second index search on the single writer thread.
    let inserted = conn
        .prepare_cached(
            "INSERT INTO records (record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                                  captured_at, stored_at, body_sha256, body_enc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (org_id, record_id) DO NOTHING",
        )?
        .execute(params![
            rec.record_id.to_string(),
            rec.kind.as_str(),
            org_id,
            rec.device_id,
            uploader_kind,
            uploader_id,
            to_ms(rec.captured_at),
            stored_at,
            fingerprint.as_slice(),
            rec.body.ciphertext,
        ])?;
    if inserted == 0 {
        let (kind, stored_fingerprint, stored_at) = conn
            .prepare_cached(
                "SELECT kind, body_sha256, stored_at FROM records WHERE org_id = ?1 AND record_id = ?2",
            )?
            .query_row(params![org_id, rec.record_id.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
        if kind == rec.kind.as_str() && stored_fingerprint == fingerprint.as_slice() {
            return Ok(RecordReceipt {
                record_id: rec.record_id,
                status: RecordStatus::AlreadyStored,
                stored_at: from_ms(stored_at),
            });
        }
        return Err(ApiError::RecordConflict(vec![FieldError {
            field: format!("records[{index}].record_id"),
            message: format!(
                "record {} was already stored with different content; a record never changes once captured",
                rec.record_id
            ),
            rule: None,
        }]));
    }
    Ok(RecordReceipt {
        record_id: rec.record_id,
        status: RecordStatus::Created,
        stored_at: from_ms(stored_at),
    })
}

/// A record's columns as the listings read them (`record_id, kind, captured_at, stored_at,
/// body_enc`), before its body is opened.
struct SealedRow {
    record_id: String,
    kind: String,
    captured_at: i64,
    stored_at: i64,
    body: Vec<u8>,
}

fn sealed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SealedRow> {
    Ok(SealedRow {
        record_id: r.get(0)?,
        kind: r.get(1)?,
        captured_at: r.get(2)?,
        stored_at: r.get(3)?,
        body: r.get(4)?,
    })
}

impl SealedRow {
    fn open(self, key: &DataKey, device: Uuid) -> Result<RecordView, StoreError> {
        to_view(
            key,
            &self.record_id,
            &self.kind,
            device,
            self.captured_at,
            self.stored_at,
            &self.body,
        )
    }
}

fn to_view(
    key: &DataKey,
    record_id: &str,
    kind: &str,
    device: Uuid,
    captured_at: i64,
    stored_at: i64,
    sealed: &[u8],
) -> Result<RecordView, StoreError> {
    let record_id = parse_uuid(record_id)?;
    let json = key
        .open(&body_context(record_id), sealed)
        .ok_or(StoreError::Decrypt)?;
    Ok(RecordView {
        record_id,
        kind: RecordKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("record kind `{kind}`")))?,
        device_id: device,
        captured_at: from_ms(captured_at),
        stored_at: from_ms(stored_at),
        record: serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// A device's newest records whatever their kind (see [`list_for_device`]): one branch per kind
/// the `records` table allows (a test checks every [`RecordKind`] has its branch).
const NEWEST_OF_EVERY_KIND: &str =
    "SELECT record_id, kind, captured_at, stored_at, body_enc FROM records
         WHERE ?2 IS NULL AND id IN (
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'device_data' AND captured_at < ?3
                 ORDER BY captured_at DESC, id DESC LIMIT ?4)
             UNION ALL
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'dfe' AND captured_at < ?3
                 ORDER BY captured_at DESC, id DESC LIMIT ?4)
             UNION ALL
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'measurement' AND captured_at < ?3
                 ORDER BY captured_at DESC, id DESC LIMIT ?4))
         ORDER BY captured_at DESC, id DESC LIMIT ?4";

/// A device's records, newest capture first, optionally of one kind and before a time.
pub fn list_for_device(
    conn: &Connection,
    key: &DataKey,
    device_id: i64,
    device: Uuid,
    kind: Option<RecordKind>,
    before: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<RecordView>, ApiError> {
    // With a kind, one walk down `records_device` (device, kind, time). Without, the newest
    // `limit` of each kind, each a walk down the same index, merged: at most three times `limit`
    // rows to sort whatever the device holds, and no second index on (device, time) for every
    // upload to write (`(?2 IS NULL OR kind = ?2)` would defeat the index and sort every record
    // the device has).
    let mut stmt = conn.prepare_cached(if kind.is_some() {
        "SELECT record_id, kind, captured_at, stored_at, body_enc FROM records
         WHERE device_id = ?1 AND kind = ?2 AND captured_at < ?3
         ORDER BY captured_at DESC, id DESC LIMIT ?4"
    } else {
        NEWEST_OF_EVERY_KIND
    })?;
    let rows = stmt.query_map(
        params![
            device_id,
            kind.map(RecordKind::as_str),
            before.map_or(i64::MAX, to_ms),
            limit
        ],
        sealed_row,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?.open(key, device)?);
    }
    Ok(out)
}

/// The newest record of one kind for a device `who` may see (none if there is none, or if the
/// device is not theirs to see). One step down the `records_device` index, however many records
/// the device has.
pub fn latest_of_kind(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    device: Uuid,
    kind: RecordKind,
) -> Result<Option<RecordView>, ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT r.record_id, r.kind, r.captured_at, r.stored_at, r.body_enc
             FROM devices d JOIN records r ON r.device_id = d.id
             WHERE d.public_id = ?4 AND {VISIBLE} AND r.kind = ?5
             ORDER BY r.captured_at DESC, r.id DESC LIMIT 1"
        ))?
        .query_row(
            params![
                who.id,
                who.org_id,
                who.role == ecsp_protocol::auth::Role::Admin,
                device.to_string(),
                kind.as_str()
            ],
            sealed_row,
        )
        .optional()?;
    Ok(row.map(|row| row.open(key, device)).transpose()?)
}

/// A device's oldest record of one kind (its first measurement, say): one step up the
/// `records_device` index, however many records the device has. The caller has checked that
/// the device is visible (`devices::visible` gives `device_id`).
pub fn oldest_of_kind(
    conn: &Connection,
    key: &DataKey,
    device_id: i64,
    device: Uuid,
    kind: RecordKind,
) -> Result<Option<RecordView>, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT record_id, kind, captured_at, stored_at, body_enc FROM records
             WHERE device_id = ?1 AND kind = ?2
             ORDER BY captured_at ASC, id ASC LIMIT 1",
        )?
        .query_row(params![device_id, kind.as_str()], sealed_row)
        .optional()?;
    Ok(row.map(|row| row.open(key, device)).transpose()?)
}

/// One record, if `who` may see its device; else "not found".
pub fn get_visible(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    record: Uuid,
) -> Result<RecordView, ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT r.record_id, r.kind, d.public_id, r.captured_at, r.stored_at, r.body_enc
             FROM records r JOIN devices d ON d.id = r.device_id
             WHERE r.record_id = ?4 AND {VISIBLE}"
        ))?
        .query_row(
            params![
                who.id,
                who.org_id,
                who.role == ecsp_protocol::auth::Role::Admin,
                record.to_string()
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            },
        )
        .optional()?
        .ok_or(ApiError::NotFound("record"))?;
    let device = parse_uuid(&row.2)?;
    Ok(to_view(key, &row.0, &row.1, device, row.3, row.4, &row.5)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_every_kind_listing_has_a_branch_for_every_kind() {
        // Exhaustive: a new kind fails to compile here until it is listed.
        let all = |k: RecordKind| match k {
            RecordKind::DeviceData | RecordKind::Dfe | RecordKind::Measurement => k,
        };
        for kind in [
            RecordKind::DeviceData,
            RecordKind::Dfe,
            RecordKind::Measurement,
        ]
        .map(all)
        {
            let branch = format!("kind = '{}'", kind.as_str());
            assert!(NEWEST_OF_EVERY_KIND.contains(&branch), "{branch}");
        }
    }

    #[test]
    fn listing_a_device_s_records_never_reads_every_record() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let mut plan = Vec::new();
        for sql in [
            NEWEST_OF_EVERY_KIND,
            "SELECT record_id FROM records WHERE device_id = ?1 AND kind = ?2 AND captured_at < ?3
             ORDER BY captured_at DESC, id DESC LIMIT ?4",
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map(params![1, Option::<&str>::None, 0, 10], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap();
            plan.extend(rows.map(Result::unwrap));
        }
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN records")),
            "{plan:#?}"
        );
        assert!(
            plan.iter().any(|step| step.contains("records_device")),
            "{plan:#?}"
        );
    }
}
