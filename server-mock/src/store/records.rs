//! Uploaded records: stored once ever under their client-generated UUID, body sealed at rest.
//!
//! Idempotency: the fingerprint is the SHA-256 of the record's canonical JSON (as re-serialised
//! from the typed record, so whitespace and key order in the request do not matter). The same
//! UUID with the same fingerprint and kind answers "already stored"; anything else under a UUID
//! the organisation already used is a conflict. Ids are unique per organisation: another
//! organisation's record under the same UUID is unknown here, like everything of theirs.

use crate::sql::{Connection, OptionalExtension, ToSql, Value, params};
use chrono::{DateTime, Utc};
use ecsp_protocol::FieldError;
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::upload::{RecordKind, RecordReceipt, RecordStatus, RecordView, UploadReceipt};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::audit::{self, Event};
use super::devices::VISIBLE;
use super::{
    execute_values, from_ms, now_ms, parse_uuid, placeholder_list, placeholder_rows, to_ms,
};
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
    /// For device data: the report in brief, which alerts compare with the one before.
    pub status: Option<super::fleet::StatusDigest>,
}

impl Incoming {
    fn report(&self) -> Option<super::fleet::Report<'_>> {
        self.status.as_ref().map(|digest| super::fleet::Report {
            device_id: self.device_id,
            captured_at: to_ms(self.captured_at),
            digest,
        })
    }
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
        return already_stored(rec, index, &kind, &stored_fingerprint, stored_at);
    }
    Ok(RecordReceipt {
        record_id: rec.record_id,
        status: RecordStatus::Created,
        stored_at: from_ms(stored_at),
    })
}

/// The answer for `rec` when its id is already stored as `kind`, `fingerprint`: "already
/// stored" when it is the same record, else the conflict that refuses the upload.
fn already_stored(
    rec: &Incoming,
    index: usize,
    kind: &str,
    fingerprint: &[u8],
    stored_at: i64,
) -> Result<RecordReceipt, ApiError> {
    if kind == rec.kind.as_str() && fingerprint == rec.body.fingerprint.as_slice() {
        return Ok(RecordReceipt {
            record_id: rec.record_id,
            status: RecordStatus::AlreadyStored,
            stored_at: from_ms(stored_at),
        });
    }
    Err(ApiError::RecordConflict(vec![FieldError {
        field: format!("records[{index}].record_id"),
        message: format!(
            "record {} was already stored with different content; a record never changes once captured",
            rec.record_id
        ),
        rule: None,
    }]))
}

/// One upload whose devices are already resolved, for [`store_uploads`].
#[derive(Debug)]
pub struct Upload {
    pub org_id: i64,
    pub uploader: Uploader,
    pub actor: Actor,
    pub action: &'static str,
    pub records: Vec<Incoming>,
}

/// Stores `upload`'s records unless already stored, with one audit row each: all or nothing
/// (the caller's write rolls back on an error).
pub fn store_upload(conn: &Connection, upload: &Upload) -> Result<UploadReceipt, ApiError> {
    let mut receipts = Vec::with_capacity(upload.records.len());
    let mut reports = Vec::new();
    for (i, rec) in upload.records.iter().enumerate() {
        let receipt = store(conn, upload.org_id, upload.uploader, rec, i)?;
        if receipt.status == RecordStatus::Created {
            reports.extend(rec.report());
        }
        receipts.push(receipt);
        audit::append(conn, &upload.audit_event(rec))?;
    }
    super::fleet::note_reports(conn, upload.org_id, &reports)?;
    Ok(UploadReceipt { records: receipts })
}

impl Upload {
    fn audit_event(&self, rec: &Incoming) -> Event {
        Event::new(
            Some(self.org_id),
            self.actor.clone(),
            self.action,
            format!("record:{}", rec.record_id),
            Outcome::Success,
        )
    }

    fn uploader_columns(&self) -> (&'static str, i64) {
        match self.uploader {
            Uploader::User(id) => ("user", id),
            Uploader::Agent(id) => ("agent", id),
        }
    }
}

/// Rows one multi-row statement of [`store_uploads`] carries: few enough distinct statement
/// texts (one per length up to this) for the per-session statement cache, and far under both
/// engines' limits on placeholders.
const ROWS_PER_STATEMENT: usize = 64;

/// Stores several uploads in the caller's one transaction, in a few multi-row statements
/// rather than two per record: each answer as [`store_upload`] would give it, alone. A
/// refused upload (a record id already used for other content) stores nothing, and neither
/// hinders nor is hindered by the others.
///
/// Which ids are stored already is read first (one statement per organisation and
/// [`ROWS_PER_STATEMENT`] ids), every answer is decided from that and from the uploads before
/// it in the batch, and then the new records and the audit rows are inserted. If another
/// transaction stored one of the new ids meanwhile, the insert finds fewer rows to store than
/// decided, and the whole batch fails with [`StoreError::Task`]; the caller then stores each
/// upload on its own.
pub fn store_uploads(
    conn: &Connection,
    uploads: &[Upload],
) -> Result<Vec<Result<UploadReceipt, ApiError>>, ApiError> {
    use std::collections::{BTreeSet, HashMap};
    // (org, record id) → (kind, fingerprint, stored at), stored before or decided in this batch.
    let mut known: HashMap<(i64, Uuid), (String, Vec<u8>, i64)> = HashMap::new();
    let orgs: BTreeSet<i64> = uploads.iter().map(|u| u.org_id).collect();
    for org in orgs {
        let ids: Vec<String> = uploads
            .iter()
            .filter(|u| u.org_id == org)
            .flat_map(|u| u.records.iter().map(|r| r.record_id.to_string()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = placeholder_list(2, chunk.len());
            let sql = format!(
                "SELECT record_id, kind, body_sha256, stored_at FROM records
                 WHERE org_id = ?1 AND record_id IN ({list})"
            );
            let mut values = vec![Value::Integer(org)];
            values.extend(chunk.iter().map(|id| Value::Text(id)));
            let refs: Vec<&dyn ToSql> = values.iter().map(|v| v as &dyn ToSql).collect();
            let rows = conn.prepare_cached(&sql)?.query_map(&refs[..], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (id, kind, fingerprint, stored_at) = row?;
                known.insert((org, parse_uuid(&id)?), (kind, fingerprint, stored_at));
            }
        }
    }

    let stored_at = now_ms();
    let mut answers = Vec::with_capacity(uploads.len());
    let mut new_records: Vec<(&Upload, &Incoming)> = Vec::new();
    let mut audited: Vec<(&Upload, &Incoming)> = Vec::new();
    for upload in uploads {
        let mut receipts = Vec::with_capacity(upload.records.len());
        let mut mine: Vec<&Incoming> = Vec::new();
        let mut refusal = None;
        for (i, rec) in upload.records.iter().enumerate() {
            let key = (upload.org_id, rec.record_id);
            let first_in_upload = mine.iter().find(|m| m.record_id == rec.record_id).copied();
            let receipt = if let Some((kind, fingerprint, at)) = known.get(&key) {
                already_stored(rec, i, kind, fingerprint, *at)
            } else if let Some(first) = first_in_upload {
                already_stored(
                    rec,
                    i,
                    first.kind.as_str(),
                    &first.body.fingerprint,
                    stored_at,
                )
            } else {
                mine.push(rec);
                Ok(RecordReceipt {
                    record_id: rec.record_id,
                    status: RecordStatus::Created,
                    stored_at: from_ms(stored_at),
                })
            };
            match receipt {
                Ok(r) => receipts.push(r),
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = refusal {
            answers.push(Err(e));
            continue;
        }
        for rec in &mine {
            known.insert(
                (upload.org_id, rec.record_id),
                (
                    rec.kind.as_str().to_owned(),
                    rec.body.fingerprint.to_vec(),
                    stored_at,
                ),
            );
            new_records.push((upload, rec));
        }
        audited.extend(upload.records.iter().map(|rec| (upload, rec)));
        answers.push(Ok(UploadReceipt { records: receipts }));
    }

    let ids: Vec<String> = new_records
        .iter()
        .map(|(_, r)| r.record_id.to_string())
        .collect();
    let mut inserted = 0;
    for (chunk, ids) in new_records
        .chunks(ROWS_PER_STATEMENT)
        .zip(ids.chunks(ROWS_PER_STATEMENT))
    {
        let sql = format!(
            "INSERT INTO records (record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                                  captured_at, stored_at, body_sha256, body_enc)
             VALUES {} ON CONFLICT (org_id, record_id) DO NOTHING",
            placeholder_rows(chunk.len(), 10)
        );
        let mut values = Vec::with_capacity(chunk.len() * 10);
        for ((upload, rec), id) in chunk.iter().zip(ids) {
            let (uploader_kind, uploader_id) = upload.uploader_columns();
            values.extend([
                Value::Text(id),
                Value::Text(rec.kind.as_str()),
                Value::Integer(upload.org_id),
                Value::Integer(rec.device_id),
                Value::Text(uploader_kind),
                Value::Integer(uploader_id),
                Value::Integer(to_ms(rec.captured_at)),
                Value::Integer(stored_at),
                Value::Blob(&rec.body.fingerprint),
                Value::Blob(&rec.body.ciphertext),
            ]);
        }
        inserted += execute_values(conn, &sql, &values)?;
    }
    if inserted != new_records.len() {
        return Err(ApiError::Store(StoreError::Task(
            "another writer stored one of the batch's records meanwhile".into(),
        )));
    }

    let events: Vec<Event> = audited
        .iter()
        .map(|(upload, rec)| upload.audit_event(rec))
        .collect();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        audit::append_all(conn, chunk)?;
    }
    let mut reports: HashMap<i64, Vec<super::fleet::Report<'_>>> = HashMap::new();
    for (upload, rec) in &new_records {
        if let Some(report) = rec.report() {
            reports.entry(upload.org_id).or_default().push(report);
        }
    }
    for (org, reports) in reports {
        super::fleet::note_reports(conn, org, &reports)?;
    }
    Ok(answers)
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

fn sealed_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<SealedRow> {
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

    fn stored(self, device: Uuid) -> Result<StoredRecord, StoreError> {
        Ok(StoredRecord {
            record_id: parse_uuid(&self.record_id)?,
            kind: RecordKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("record kind `{}`", self.kind)))?,
            device_id: device,
            captured_at: from_ms(self.captured_at),
            stored_at: from_ms(self.stored_at),
            sealed: self.body,
        })
    }
}

/// A record as a listing reads it: its header, and its body still sealed. Listings that show
/// only headers (a device's uploads) never open a body; those that need a few bodies open just
/// those, straight into their type ([`StoredRecord::open_as`]) rather than through a
/// `serde_json::Value` tree (whose building and dropping were a third of a measurement page).
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub record_id: Uuid,
    pub kind: RecordKind,
    pub device_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub stored_at: DateTime<Utc>,
    sealed: Vec<u8>,
}

impl StoredRecord {
    /// The body as uploaded, as a JSON tree.
    pub fn open(&self, key: &DataKey) -> Result<RecordView, StoreError> {
        Ok(RecordView {
            record_id: self.record_id,
            kind: self.kind,
            device_id: self.device_id,
            captured_at: self.captured_at,
            stored_at: self.stored_at,
            record: self.open_as(key)?,
        })
    }

    /// The body, parsed as `T` (a `MeasurementRecord`, say) from its JSON text directly.
    pub fn open_as<T: serde::de::DeserializeOwned>(&self, key: &DataKey) -> Result<T, StoreError> {
        let json = key
            .open(&body_context(self.record_id), &self.sealed)
            .ok_or(StoreError::Decrypt)?;
        serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
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

/// Where a page of a device's records starts, the listing being newest first: after the record
/// captured at `before` with id `before_id`, i.e. every record older than it, or captured at the
/// same millisecond with a smaller id. Capture time alone is no key: records share it (a batch
/// captured together, reports in one millisecond), and a page that ended inside such a group
/// skipped the rest of it. Without `before_id`, every record captured before `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageStart {
    pub before: DateTime<Utc>,
    pub before_id: Option<Uuid>,
}

/// What a listing pages by: a record's capture time and id.
pub trait Listed {
    fn page_key(&self) -> (DateTime<Utc>, Uuid);
}

impl Listed for RecordView {
    fn page_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.captured_at, self.record_id)
    }
}

impl Listed for (DateTime<Utc>, Uuid) {
    fn page_key(&self) -> (DateTime<Utc>, Uuid) {
        *self
    }
}

impl Listed for StoredRecord {
    fn page_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.captured_at, self.record_id)
    }
}

impl PageStart {
    /// The page after the one that ended with `last`.
    pub fn after(last: &impl Listed) -> Self {
        let (before, id) = last.page_key();
        Self {
            before,
            before_id: Some(id),
        }
    }

    /// The bound as the `(captured_at, record_id) < (?, ?)` comparison takes it. Times are stored
    /// in whole milliseconds: a time between two of them bounds like the next one up (every
    /// record of the millisecond below is before it), and a record id compares after `''`.
    fn bound(self) -> (i64, String) {
        let ms = to_ms(self.before);
        if self.before.timestamp_subsec_nanos() % 1_000_000 != 0 {
            return (ms.saturating_add(1), String::new());
        }
        (
            ms,
            self.before_id.map(|id| id.to_string()).unwrap_or_default(),
        )
    }
}

/// The page after the device's record `record_id` (a `before_id` given without its
/// `captured_at`): "not found" if the device has no such record.
pub fn page_after_record(
    conn: &Connection,
    device_id: i64,
    record_id: Uuid,
) -> Result<PageStart, ApiError> {
    let captured_at: i64 = conn
        .prepare_cached(
            "SELECT captured_at FROM records
             WHERE org_id = (SELECT org_id FROM devices WHERE id = ?1) AND record_id = ?2
               AND device_id = ?1",
        )?
        .query_row(params![device_id, record_id.to_string()], |r| r.get(0))
        .optional()?
        .ok_or(ApiError::NotFound("record (`before_id`)"))?;
    Ok(PageStart {
        before: from_ms(captured_at),
        before_id: Some(record_id),
    })
}

/// A device's newest records whatever their kind (see [`list_for_device`]), with the columns
/// given: one branch per kind the `records` table allows (a test checks every [`RecordKind`] has
/// its branch).
macro_rules! newest_of_every_kind {
    ($columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM records
         WHERE CAST(?2 AS TEXT) IS NULL AND id IN (
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'device_data' AND (captured_at, record_id) < (?3, ?5)
                 ORDER BY captured_at DESC, record_id DESC LIMIT ?4) AS device_data
             UNION ALL
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'dfe' AND (captured_at, record_id) < (?3, ?5)
                 ORDER BY captured_at DESC, record_id DESC LIMIT ?4) AS dfe
             UNION ALL
             SELECT id FROM (SELECT id FROM records
                 WHERE device_id = ?1 AND kind = 'measurement' AND (captured_at, record_id) < (?3, ?5)
                 ORDER BY captured_at DESC, record_id DESC LIMIT ?4) AS measurement)
         ORDER BY captured_at DESC, record_id DESC LIMIT ?4"
        )
    };
}

/// A device's records of one kind (see [`list_for_device`]), with the columns given.
macro_rules! newest_of_one_kind {
    ($columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM records
         WHERE device_id = ?1 AND kind = ?2 AND (captured_at, record_id) < (?3, ?5)
         ORDER BY captured_at DESC, record_id DESC LIMIT ?4"
        )
    };
}

const NEWEST_OF_EVERY_KIND: &str =
    newest_of_every_kind!("record_id, kind, captured_at, stored_at, body_enc");
const NEWEST_OF_ONE_KIND: &str =
    newest_of_one_kind!("record_id, kind, captured_at, stored_at, body_enc");
/// The same without the bodies: a large body is a chain of overflow pages to read.
const NEWEST_HEADERS_OF_EVERY_KIND: &str =
    newest_of_every_kind!("record_id, kind, captured_at, stored_at");
const NEWEST_HEADERS_OF_ONE_KIND: &str =
    newest_of_one_kind!("record_id, kind, captured_at, stored_at");

/// A device's records, newest capture first (ties by record id, highest first), optionally of
/// one kind and from a [`PageStart`] on.
pub fn list_for_device(
    conn: &Connection,
    key: &DataKey,
    device_id: i64,
    device: Uuid,
    kind: Option<RecordKind>,
    start: Option<PageStart>,
    limit: u32,
) -> Result<Vec<RecordView>, ApiError> {
    let mut out = Vec::new();
    for row in sealed_for_device(conn, device_id, device, kind, start, limit)? {
        out.push(row.open(key)?);
    }
    Ok(out)
}

/// [`list_for_device`] with the bodies left sealed.
pub fn sealed_for_device(
    conn: &Connection,
    device_id: i64,
    device: Uuid,
    kind: Option<RecordKind>,
    start: Option<PageStart>,
    limit: u32,
) -> Result<Vec<StoredRecord>, ApiError> {
    let sql = (NEWEST_OF_ONE_KIND, NEWEST_OF_EVERY_KIND);
    let mut out = Vec::new();
    for row in newest(conn, sql, device_id, kind, start, limit, sealed_row)? {
        out.push(row.stored(device)?);
    }
    Ok(out)
}

/// A record's header: what a listing of uploads shows.
#[derive(Debug, Clone)]
pub struct RecordHeader {
    pub record_id: Uuid,
    pub kind: RecordKind,
    pub captured_at: DateTime<Utc>,
    pub stored_at: DateTime<Utc>,
}

impl Listed for RecordHeader {
    fn page_key(&self) -> (DateTime<Utc>, Uuid) {
        (self.captured_at, self.record_id)
    }
}

/// [`list_for_device`]'s headers alone: no body is read.
pub fn headers_for_device(
    conn: &Connection,
    device_id: i64,
    kind: Option<RecordKind>,
    start: Option<PageStart>,
    limit: u32,
) -> Result<Vec<RecordHeader>, ApiError> {
    let sql = (NEWEST_HEADERS_OF_ONE_KIND, NEWEST_HEADERS_OF_EVERY_KIND);
    let rows = newest(conn, sql, device_id, kind, start, limit, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for (id, kind, captured_at, stored_at) in rows {
        out.push(RecordHeader {
            record_id: parse_uuid(&id)?,
            kind: RecordKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("record kind `{kind}`")))?,
            captured_at: from_ms(captured_at),
            stored_at: from_ms(stored_at),
        });
    }
    Ok(out)
}

/// Runs one of a listing's statements (`sql`: for one kind, for every kind) and maps its rows.
/// With a kind, one walk down `records_device` (device, kind, time, id). Without, the newest
/// `limit` of each kind, each a walk down the same index, merged: at most three times `limit`
/// rows to sort whatever the device holds, and no second index on (device, time) for every
/// upload to write (`(?2 IS NULL OR kind = ?2)` would defeat the index and sort every record the
/// device has).
fn newest<T>(
    conn: &Connection,
    (one_kind, every_kind): (&str, &str),
    device_id: i64,
    kind: Option<RecordKind>,
    start: Option<PageStart>,
    limit: u32,
    map: impl FnMut(&crate::sql::Row<'_>) -> crate::sql::Result<T>,
) -> Result<Vec<T>, ApiError> {
    let mut stmt = conn.prepare_cached(if kind.is_some() { one_kind } else { every_kind })?;
    let (before, before_id) = start.map_or((i64::MAX, String::new()), PageStart::bound);
    let rows = stmt.query_map(
        params![
            device_id,
            kind.map(RecordKind::as_str),
            before,
            limit,
            before_id
        ],
        map,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
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
             ORDER BY r.captured_at DESC, r.record_id DESC LIMIT 1"
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
    device_id: i64,
    device: Uuid,
    kind: RecordKind,
) -> Result<Option<StoredRecord>, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT record_id, kind, captured_at, stored_at, body_enc FROM records
             WHERE device_id = ?1 AND kind = ?2
             ORDER BY captured_at ASC, record_id ASC LIMIT 1",
        )?
        .query_row(params![device_id, kind.as_str()], sealed_row)
        .optional()?;
    Ok(row.map(|row| row.stored(device)).transpose()?)
}

/// One record, if `who` may see its device; else "not found".
pub fn get_visible(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    record: Uuid,
) -> Result<RecordView, ApiError> {
    Ok(get_visible_sealed(conn, who, record)?.open(key)?)
}

/// [`get_visible`] with the body left sealed.
pub fn get_visible_sealed(
    conn: &Connection,
    who: &UserPrincipal,
    record: Uuid,
) -> Result<StoredRecord, ApiError> {
    let (row, device) = conn
        .prepare_cached(&format!(
            "SELECT r.record_id, r.kind, r.captured_at, r.stored_at, r.body_enc, d.public_id
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
            |r| Ok((sealed_row(r)?, r.get::<_, String>(5)?)),
        )
        .optional()?
        .ok_or(ApiError::NotFound("record"))?;
    Ok(row.stored(parse_uuid(&device)?)?)
}

/// A device-data record's device part: an agent's report, or the PC application's report of a
/// device down or stopped (its state, errors and events; it names no firmware, left empty).
pub fn device_data_of(view: &RecordView) -> Option<ecsp_protocol::agent::DeviceData> {
    use serde::Deserialize as _;
    if let Ok(r) = ecsp_protocol::agent::DeviceDataRecord::deserialize(&view.record) {
        return Some(r.device);
    }
    let r = ecsp_protocol::dfe::DeviceStatusRecord::deserialize(&view.record).ok()?;
    Some(device_data_of_status(r))
}

/// Device data from the PC application (a DFE's report of a device down or stopped): its
/// state, errors and events; it names no firmware (left empty, and not shown).
pub fn device_data_of_status(
    r: ecsp_protocol::dfe::DeviceStatusRecord,
) -> ecsp_protocol::agent::DeviceData {
    ecsp_protocol::agent::DeviceData {
        manufacturer: String::new(),
        model: String::new(),
        serial_number: String::new(),
        region_code: None,
        country_code: None,
        device_time: None,
        firmware_version: String::new(),
        printer_status: Some(r.printer_status),
        error_codes: r.error_codes,
        status_history: r.status_history,
        operation_panel_settings: None,
        printer_settings: None,
        maintenance_settings: None,
        media_settings: None,
        network_settings: None,
        consumables: Vec::new(),
        cleaning_history: Vec::new(),
        maintenance_history: Vec::new(),
        cumulative_ink_usage: Vec::new(),
        cumulative_printing_time_s: None,
        cumulative_printing_area_m2: None,
        job_history: Vec::new(),
    }
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
    fn listing_a_device_s_records_never_reads_every_record_nor_sorts_them() {
        let mut raw = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::sqlite_schema::migrate(&mut raw).unwrap();
        let conn = Connection::Sqlite(raw);
        let mut plan = Vec::new();
        for sql in [
            NEWEST_OF_EVERY_KIND,
            NEWEST_OF_ONE_KIND,
            NEWEST_HEADERS_OF_EVERY_KIND,
            NEWEST_HEADERS_OF_ONE_KIND,
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map(params![1, Option::<&str>::None, 0, 10, ""], |r| {
                    r.get::<_, String>(3)
                })
                .unwrap();
            plan.extend(rows.map(Result::unwrap));
        }
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN records")),
            "{plan:#?}"
        );
        // Each kind's walk seeks to the page's start on (time, id) and needs no sort; only the
        // merge of the kinds' pages (at most three pages) is sorted. Each statement twice: with
        // the bodies and with the headers alone.
        let walks: Vec<_> = plan
            .iter()
            .filter(|step| step.contains("records_device"))
            .collect();
        assert_eq!(walks.len(), 8, "{plan:#?}");
        assert!(
            walks
                .iter()
                .all(|step| step.contains("(captured_at,record_id)<(?,?)")),
            "{plan:#?}"
        );
        let sorts = plan
            .iter()
            .filter(|step| step.contains("TEMP B-TREE"))
            .count();
        assert_eq!(sorts, 2, "{plan:#?}");
    }

    /// Stores `n` records of `kind` for device 1, all captured at `at`; returns their ids.
    fn store_many(
        conn: &Connection,
        key: &DataKey,
        kind: RecordKind,
        at: i64,
        n: usize,
    ) -> Vec<Uuid> {
        (0..n)
            .map(|i| {
                let record_id = Uuid::new_v4();
                let body = serde_json::to_vec(&serde_json::json!({ "n": i })).unwrap();
                let rec = Incoming {
                    record_id,
                    kind,
                    device_id: 1,
                    captured_at: from_ms(at),
                    body: SealedBody::new(key, record_id, &body),
                    status: None,
                };
                store(conn, 1, Uploader::Agent(1), &rec, i).unwrap();
                record_id
            })
            .collect()
    }

    #[test]
    fn paging_shows_every_record_once_however_many_share_a_capture_time() {
        let mut raw = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::sqlite_schema::migrate(&mut raw).unwrap();
        let conn = Connection::Sqlite(raw);
        conn.execute_batch(
            "INSERT INTO organizations (id, public_id, name, created_at) VALUES (1, 'o', 'Org', 0);
             INSERT INTO agents (id, public_id, org_id, label, agent_type, secret_hash, created_at)
                 VALUES (1, 'a', 1, 'l', 'dc_agent', x'00', 0);
             INSERT INTO devices (id, public_id, org_id, agent_id, manufacturer, model, serial_number, registered_at)
                 VALUES (1, 'd', 1, 1, 'Epson', 'M', 'S', 0);",
        )
        .unwrap();
        let key = DataKey::from_master(&[7; 32]);
        let t = 1_700_000_000_000;
        let mut stored = store_many(&conn, &key, RecordKind::DeviceData, t + 1, 2);
        stored.extend(store_many(&conn, &key, RecordKind::DeviceData, t, 17));
        stored.extend(store_many(&conn, &key, RecordKind::Dfe, t, 9));
        stored.extend(store_many(&conn, &key, RecordKind::DeviceData, t - 1, 3));
        let device = Uuid::new_v4();
        for (kind, expected) in [(None, stored.len()), (Some(RecordKind::DeviceData), 22)] {
            for limit in [1, 4, 5, 50] {
                let mut seen: Vec<RecordView> = Vec::new();
                let mut start = None;
                loop {
                    let page = list_for_device(&conn, &key, 1, device, kind, start, limit).unwrap();
                    assert!(page.len() <= limit as usize);
                    let Some(last) = page.last() else { break };
                    start = Some(PageStart::after(last));
                    seen.extend(page);
                }
                let key_of = |v: &RecordView| (v.captured_at, v.record_id);
                assert!(
                    seen.windows(2).all(|w| key_of(&w[0]) > key_of(&w[1])),
                    "newest first, each once ({kind:?}, limit {limit})"
                );
                assert_eq!(seen.len(), expected, "{kind:?}, limit {limit}");
            }
        }
        // A time alone (the older clients' `before`) still means "captured before it".
        let older = list_for_device(
            &conn,
            &key,
            1,
            device,
            None,
            Some(PageStart {
                before: from_ms(t),
                before_id: None,
            }),
            50,
        )
        .unwrap();
        assert_eq!(older.len(), 3);
        // Between two milliseconds: every record of the lower one is before it.
        let between = list_for_device(
            &conn,
            &key,
            1,
            device,
            None,
            Some(PageStart {
                before: from_ms(t) + chrono::Duration::microseconds(500),
                before_id: Some(Uuid::nil()),
            }),
            50,
        )
        .unwrap();
        assert_eq!(between.len(), 3 + 17 + 9);
    }
}
