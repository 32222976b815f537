//! The outbox: what was captured and waits to be sent, in capture order, with its delivery state.
//! This module owns every SQL statement on the `outbox` and `outbox_gated` tables.
//!
//! States: `queued` (waiting, perhaps until `next_attempt_at`), `in_flight` (claimed by a flush;
//! put back to `queued` by [`InFlightGuard`] when that flush ends or is dropped, and when the
//! database is opened, since a process that died cannot put them back), `rejected` (the server
//! refused it for a reason retrying will not fix; kept, visible, with the reason, until the user
//! retries or drops it) and `sent` (delivered; its body is erased). Consent-gated parts are
//! sealed (XChaCha20-Poly1305, key in the secret store) in `outbox_gated`, so the database file
//! holds no job information, position or photo in clear.

use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, TimeZone, Utc};
use ecsp_protocol::consent::Purpose;
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ClientError, EcspResult, Result};
use crate::secrets::Secret;
use crate::{Core, EcspClient};

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// What an outbox entry is: where it goes, how it is batched and ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A consent decision.
    Consent,
    /// A DFE upload from the PC application.
    Dfe,
    /// A measurement from the mobile application.
    Measurement,
    /// Device data from the PC application (a device's state as its DFE reported it).
    DeviceData,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 4] = [
        OutboxKind::Consent,
        OutboxKind::Dfe,
        OutboxKind::Measurement,
        OutboxKind::DeviceData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Consent => "consent",
            OutboxKind::Dfe => "dfe",
            OutboxKind::Measurement => "measurement",
            OutboxKind::DeviceData => "device_data",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn from_column(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| ClientError::Corrupt(format!("outbox kind `{s}`")))
    }

    /// The API path entries of this kind are posted to.
    pub fn endpoint(self) -> &'static str {
        match self {
            OutboxKind::Consent => "/api/v1/consents",
            OutboxKind::Dfe => "/api/v1/uploads/dfe",
            OutboxKind::Measurement => "/api/v1/uploads/measurements",
            OutboxKind::DeviceData => "/api/v1/uploads/device-data",
        }
    }

    /// Most entries of this kind in one request, given the caller's wish.
    pub fn batch_limit(self, requested: usize) -> usize {
        match self {
            // The consent endpoint takes one decision per request.
            OutboxKind::Consent => 1,
            OutboxKind::Dfe | OutboxKind::Measurement | OutboxKind::DeviceData => {
                requested.clamp(1, ecsp_protocol::limits::RECORDS_PER_UPLOAD)
            }
        }
    }

    /// Delivery phase: lower phases are emptied first. Consent decisions go before records,
    /// since the server judges a record's gated parts by the decisions in force.
    pub fn phase(self) -> u8 {
        match self {
            OutboxKind::Consent => 0,
            OutboxKind::Dfe | OutboxKind::Measurement | OutboxKind::DeviceData => 1,
        }
    }

    /// Whether the body is sent as one element of an upload's `records` array (else alone).
    pub fn is_upload(self) -> bool {
        self.phase() == 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    Queued,
    InFlight,
    Rejected,
    Sent,
}

impl QueueState {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Queued => "queued",
            QueueState::InFlight => "in_flight",
            QueueState::Rejected => "rejected",
            QueueState::Sent => "sent",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "queued" => Ok(QueueState::Queued),
            "in_flight" => Ok(QueueState::InFlight),
            "rejected" => Ok(QueueState::Rejected),
            "sent" => Ok(QueueState::Sent),
            other => Err(ClientError::Corrupt(format!("outbox state `{other}`"))),
        }
    }
}

/// One outbox entry, without its body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub record_id: Uuid,
    pub kind: OutboxKind,
    pub device_id: Option<Uuid>,
    pub captured_at: DateTime<Utc>,
    pub state: QueueState,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the server refused it, or why the last attempt failed (English, for logs and
    /// support).
    pub last_error: Option<String>,
    /// For a rejected entry, the server's stable code for the refusal (e.g.
    /// `validation_failed`, `consent_required`); for one waiting to be sent again, the
    /// [`ErrorCode`](crate::ErrorCode) of the last attempt's failure (e.g. `offline`).
    pub last_error_code: Option<String>,
}

/// A page of outbox entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// How many entries match in all.
    pub total: u64,
    /// Whether `items` stops short of `total`.
    pub truncated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    pub queued: u64,
    pub in_flight: u64,
    pub rejected: u64,
    pub sent: u64,
    /// The earliest time a waiting record will be tried again, if any is backing off.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

const KEY_NAME: &str = "outbox-key";

/// Where a new outbox entry belongs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewEntry<'a> {
    pub user: Uuid,
    pub kind: OutboxKind,
    pub record_id: Uuid,
    pub device_id: Option<Uuid>,
    pub captured_at: DateTime<Utc>,
    /// The canonical JSON of the record (or decision), without its gated parts.
    pub body: &'a str,
    /// The gated parts left out for lack of consent.
    pub withheld: &'a [Purpose],
}

/// Inserts one entry (inside the caller's transaction); a record id already in the outbox is an
/// error.
pub(crate) fn insert(conn: &Connection, entry: NewEntry<'_>) -> Result<()> {
    insert_with(conn, entry, "")?;
    Ok(())
}

/// Inserts one entry (inside the caller's transaction) unless its record id is already in the
/// outbox; returns whether it was inserted.
pub(crate) fn insert_unless_present(conn: &Connection, entry: NewEntry<'_>) -> Result<bool> {
    insert_with(conn, entry, "ON CONFLICT (record_id) DO NOTHING")
}

fn insert_with(conn: &Connection, entry: NewEntry<'_>, on_conflict: &str) -> Result<bool> {
    let withheld = (!entry.withheld.is_empty()).then(|| {
        entry
            .withheld
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    let inserted = conn.prepare_cached(&format!(
        "INSERT INTO outbox (record_id, user_id, kind, device_id, captured_at, body, state, withheld)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7) {on_conflict}"
    ))?
    .execute(params![
        entry.record_id.to_string(),
        entry.user.to_string(),
        entry.kind.as_str(),
        entry.device_id.map(|d| d.to_string()),
        entry.captured_at.timestamp_millis(),
        entry.body,
        withheld
    ])?;
    Ok(inserted > 0)
}

/// An entry already in the outbox (in any state, until delivered entries are pruned): whose it
/// is and what its capture answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    pub user: String,
    pub kind: OutboxKind,
    pub captured_at: DateTime<Utc>,
    pub withheld: Vec<Purpose>,
}

pub(crate) fn existing(conn: &Connection, record: Uuid) -> Result<Option<Existing>> {
    let row: Option<(String, String, i64, Option<String>)> = conn
        .prepare_cached(
            "SELECT user_id, kind, captured_at, withheld FROM outbox WHERE record_id = ?1",
        )?
        .query_row([record.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((user, kind, captured_at, withheld)) = row else {
        return Ok(None);
    };
    let withheld = withheld
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map_err(|e: ecsp_protocol::consent::UnknownPurpose| {
                    ClientError::Corrupt(e.to_string())
                })
        })
        .collect::<Result<_>>()?;
    Ok(Some(Existing {
        user,
        kind: OutboxKind::from_column(&kind)?,
        captured_at: from_ms(captured_at),
        withheld,
    }))
}

/// Deletes the sealed parts of `purpose` from every record of `user` not yet delivered.
pub(crate) fn drop_gated_parts(conn: &Connection, user: Uuid, purpose: Purpose) -> Result<usize> {
    // From the sealed parts' side: they are few, the queued records may be many (a flush reads
    // the ledger with 10,000 queued; the other way round took 8 ms a purpose).
    Ok(conn.execute(
        "DELETE FROM outbox_gated WHERE purpose = ?1 AND EXISTS
             (SELECT 1 FROM outbox o WHERE o.record_id = outbox_gated.record_id
                  AND o.user_id = ?2 AND o.state != 'sent')",
        params![purpose.as_str(), user.to_string()],
    )?)
}

pub(crate) fn requeue_all_in_flight(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'queued' WHERE state = 'in_flight'",
        [],
    )?)
}

pub(crate) fn status(conn: &Connection) -> Result<QueueStatus> {
    let mut status = QueueStatus::default();
    let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (state, n) = row?;
        let n = n.max(0) as u64;
        match QueueState::parse(&state)? {
            QueueState::Queued => status.queued = n,
            QueueState::InFlight => status.in_flight = n,
            QueueState::Rejected => status.rejected = n,
            QueueState::Sent => status.sent = n,
        }
    }
    let next: Option<i64> = conn.query_row(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued' AND next_attempt_at > ?1",
        [crate::now_ms()],
        |r| r.get(0),
    )?;
    status.next_attempt_at = next.map(from_ms);
    Ok(status)
}

/// The earliest backoff deadline of a queued entry of `user` after `now_ms`.
pub(crate) fn next_deadline_after(
    conn: &Connection,
    user: Uuid,
    now_ms: i64,
) -> Result<Option<DateTime<Utc>>> {
    let next: Option<i64> = conn.query_row(
        "SELECT MIN(next_attempt_at) FROM outbox
         WHERE user_id = ?1 AND state = 'queued' AND next_attempt_at > ?2",
        params![user.to_string(), now_ms],
        |r| r.get(0),
    )?;
    Ok(next.map(from_ms))
}

pub(crate) fn pending_count(conn: &Connection, user: Uuid) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE user_id = ?1 AND state IN ('queued', 'in_flight')",
        [user.to_string()],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// Entries, newest first, optionally of one state.
pub(crate) fn list(conn: &Connection, state: Option<QueueState>, limit: u32) -> Result<QueuePage> {
    let state = state.map(QueueState::as_str);
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE (?1 IS NULL OR state = ?1)",
        params![state],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT record_id, kind, device_id, captured_at, state, attempts, next_attempt_at,
                last_error, last_error_code
         FROM outbox WHERE (?1 IS NULL OR state = ?1) ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![state, limit], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<String>>(8)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (id, kind, device, captured, state, attempts, next, error, code) = row?;
        items.push(QueueItem {
            record_id: parse_uuid(&id)?,
            kind: OutboxKind::from_column(&kind)?,
            device_id: device.as_deref().map(parse_uuid).transpose()?,
            captured_at: from_ms(captured),
            state: QueueState::parse(&state)?,
            attempts: attempts.max(0) as u32,
            next_attempt_at: (next > 0).then(|| from_ms(next)),
            last_error: error,
            last_error_code: code,
        });
    }
    let total = total.max(0) as u64;
    Ok(QueuePage {
        truncated: (items.len() as u64) < total,
        items,
        total,
    })
}

fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| ClientError::Corrupt(format!("uuid `{s}`")))
}

/// Puts rejected entries (one, or all) back in the queue.
pub(crate) fn retry_rejected(conn: &Connection, record: Option<Uuid>) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = 0, last_error = NULL,
                last_error_code = NULL
         WHERE state = 'rejected' AND (?1 IS NULL OR record_id = ?1)",
        params![record.map(|r| r.to_string())],
    )?)
}

/// Deletes rejected entries (one, or all) with their sealed parts. Only rejected ones: a queued
/// record is still on its way, a sent one is already on the server.
pub(crate) fn drop_rejected(conn: &mut Connection, record: Option<Uuid>) -> Result<usize> {
    let tx = conn.transaction()?;
    let record = record.map(|r| r.to_string());
    tx.execute(
        "DELETE FROM outbox_gated WHERE record_id IN
             (SELECT record_id FROM outbox WHERE state = 'rejected' AND (?1 IS NULL OR record_id = ?1))",
        params![record],
    )?;
    let n = tx.execute(
        "DELETE FROM outbox WHERE state = 'rejected' AND (?1 IS NULL OR record_id = ?1)",
        params![record],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Forgets delivered entries sent before `cutoff_ms` (their bodies are already erased).
pub(crate) fn prune_delivered(conn: &Connection, cutoff_ms: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?1",
        [cutoff_ms],
    )?)
}

pub(crate) fn mark_sent(conn: &mut Connection, batch: &[Claimed]) -> Result<()> {
    let tx = conn.transaction()?;
    mark_sent_in(&tx, batch)?;
    tx.commit()?;
    Ok(())
}

/// Marks `sent` delivered (when given) and claims the next batch, in one transaction: a flush
/// pays one commit per batch instead of two. Answers as [`claim`].
pub(crate) fn mark_sent_and_claim(
    conn: &mut Connection,
    sent: &[Claimed],
    user: Uuid,
    kinds: &[OutboxKind],
    requested: usize,
    ignore_backoff: bool,
) -> Result<Option<(OutboxKind, Vec<Claimed>)>> {
    let tx = conn.transaction()?;
    mark_sent_in(&tx, sent)?;
    let claimed = claim_in(&tx, user, kinds, requested, ignore_backoff)?;
    tx.commit()?;
    Ok(claimed)
}

fn mark_sent_in(tx: &Connection, batch: &[Claimed]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE outbox SET state = 'sent', body = NULL, sent_at = ?2, last_error = NULL,
                last_error_code = NULL
         WHERE id = ?1",
    )?;
    let mut gated = tx.prepare_cached("DELETE FROM outbox_gated WHERE record_id = ?1")?;
    let now = crate::now_ms();
    for c in batch {
        stmt.execute(params![c.id, now])?;
        if c.has_gated {
            gated.execute([c.record_id.to_string()])?;
        }
    }
    Ok(())
}

pub(crate) fn reject(
    conn: &mut Connection,
    batch: &[Claimed],
    reason: &str,
    code: &str,
) -> Result<()> {
    let tx = conn.transaction()?;
    for c in batch {
        tx.execute(
            "UPDATE outbox SET state = 'rejected', last_error = ?2, last_error_code = ?3,
                    attempts = attempts + 1
             WHERE id = ?1",
            params![c.id, reason, code],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Back to the queue after trouble that may pass (`code` says its kind), due again after a
/// backoff.
pub(crate) fn reschedule(
    conn: &mut Connection,
    batch: &[Claimed],
    error: &str,
    code: crate::ErrorCode,
) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET state = 'queued', attempts = attempts + 1, next_attempt_at = ?2,
                    last_error = ?3, last_error_code = ?4
             WHERE id = ?1",
        )?;
        let mut attempts_of = tx.prepare_cached("SELECT attempts FROM outbox WHERE id = ?1")?;
        for c in batch {
            let attempts: i64 = attempts_of.query_row([c.id], |r| r.get(0))?;
            let next =
                crate::now_ms() + crate::sync::backoff_ms(attempts.clamp(0, 30) as u32) as i64;
            stmt.execute(params![c.id, next, error, code.as_str()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Back to the queue as they were (the attempt did not count against them); one transaction.
pub(crate) fn requeue(conn: &Connection, ids: &[i64]) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET state = 'queued' WHERE id = ?1 AND state = 'in_flight'",
        )?;
        for id in ids {
            stmt.execute([id])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Rows to send, claimed (`in_flight`) in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: i64,
    pub record_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub body: String,
    /// Whether sealed gated parts wait beside the body.
    pub has_gated: bool,
}

/// Claims up to `max` due entries of one kind among `kinds` for `user`, keeping capture order per
/// device and kind: a device whose earlier entry of that kind is not due (backing off) sends
/// nothing later of that kind either. (Kinds go to different endpoints and are independent.)
pub(crate) fn claim(
    conn: &mut Connection,
    user: Uuid,
    kinds: &[OutboxKind],
    requested: usize,
    ignore_backoff: bool,
) -> Result<Option<(OutboxKind, Vec<Claimed>)>> {
    mark_sent_and_claim(conn, &[], user, kinds, requested, ignore_backoff)
}

fn claim_in(
    tx: &Connection,
    user: Uuid,
    kinds: &[OutboxKind],
    requested: usize,
    ignore_backoff: bool,
) -> Result<Option<(OutboxKind, Vec<Claimed>)>> {
    let now = crate::now_ms();
    let mut picked = Vec::new();
    let mut kind_of_batch: Option<OutboxKind> = None;
    {
        let look_ahead = requested.min(ecsp_protocol::limits::RECORDS_PER_UPLOAD) * 4 + 16;
        let mut stmt = tx.prepare_cached(
            "SELECT id, record_id, kind, device_id, next_attempt_at, body,
                    EXISTS (SELECT 1 FROM outbox_gated g WHERE g.record_id = outbox.record_id),
                    captured_at
             FROM outbox WHERE user_id = ?1 AND state = 'queued' ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![user.to_string(), look_ahead as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, i64>(7)?,
            ))
        })?;
        let mut blocked = std::collections::HashSet::new();
        for row in rows {
            let (id, record_id, kind, device, next, body, has_gated, captured_at) = row?;
            let kind = OutboxKind::from_column(&kind)?;
            let device_key = (device, kind);
            if !kinds.contains(&kind) || blocked.contains(&device_key) {
                blocked.insert(device_key);
                continue;
            }
            let due = ignore_backoff || next <= now;
            let same_kind = kind_of_batch.is_none_or(|k| k == kind);
            if !due || !same_kind {
                blocked.insert(device_key);
                continue;
            }
            kind_of_batch.get_or_insert(kind);
            picked.push(Claimed {
                id,
                record_id: parse_uuid(&record_id)?,
                captured_at: from_ms(captured_at),
                body: body.unwrap_or_default(),
                has_gated,
            });
            if picked.len() >= kind.batch_limit(requested) {
                break;
            }
        }
    }
    {
        let mut mark = tx.prepare_cached("UPDATE outbox SET state = 'in_flight' WHERE id = ?1")?;
        for c in &picked {
            mark.execute([c.id])?;
        }
    }
    Ok(kind_of_batch.map(|k| (k, picked)))
}

/// Puts the rows a flush claimed back in the queue when the flush ends, however it ends: a
/// flush future dropped mid-request (cancelled, or its task aborted) must not leave rows
/// `in_flight` until the next start. Rows the flush settled (sent, rejected, rescheduled) are
/// no longer `in_flight` and are left alone.
pub(crate) struct InFlightGuard {
    core: Arc<Core>,
    ids: Vec<i64>,
}

impl InFlightGuard {
    pub(crate) fn new(core: Arc<Core>, batch: &[Claimed]) -> Self {
        Self {
            core,
            ids: batch.iter().map(|c| c.id).collect(),
        }
    }
}

impl InFlightGuard {
    /// The rows were all settled (sent, rejected or rescheduled): nothing to put back.
    pub(crate) fn disarm(&mut self) {
        self.ids.clear();
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        // A short write on the dropping thread: this runs once per batch, and putting the rows
        // back at once is the point (a task spawned now might never run if the runtime is
        // shutting down).
        if let Err(e) = requeue(&self.core.store.conn(), &self.ids) {
            tracing::warn!(error = %e, "could not put claimed outbox rows back in the queue");
        }
    }
}

impl Core {
    fn install_id(&self) -> Result<String> {
        if let Some(id) = self.store.meta("install_id")? {
            return Ok(id);
        }
        let id = Uuid::new_v4().to_string();
        self.store.set_meta("install_id", Some(&id))?;
        Ok(id)
    }

    /// The key sealing gated parts; created on first use. `None` if it is gone (e.g. the OS
    /// keyring was wiped), in which case sealed parts can no longer be opened and are dropped.
    fn outbox_cipher(&self, create: bool) -> Result<Option<XChaCha20Poly1305>> {
        let name = format!("{KEY_NAME}:{}", self.install_id()?);
        let key = match self.secrets.get(&name)? {
            Some(k) => k,
            None if create => {
                let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(bytes.as_mut());
                let k =
                    Secret::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()));
                self.secrets.set(&name, &k)?;
                k
            }
            None => return Ok(None),
        };
        let bytes = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key.expose())
                .map_err(|_| ClientError::SecretStore("the outbox key is damaged".into()))?,
        );
        if bytes.len() != 32 {
            return Err(ClientError::SecretStore("the outbox key is damaged".into()));
        }
        Ok(Some(XChaCha20Poly1305::new(bytes.as_slice().into())))
    }

    /// Writes captured records and their sealed gated parts in one transaction, and answers for
    /// each with `answer(conn, entry, inserted)`; an entry whose record id is already in the
    /// outbox is not written (`inserted` false). An error from `answer` undoes the whole write.
    pub(crate) fn enqueue<T>(
        &self,
        entries: &[(NewEntry<'_>, &[(Purpose, serde_json::Value)])],
        answer: impl Fn(&Connection, &NewEntry<'_>, bool) -> Result<T>,
    ) -> Result<Vec<T>> {
        let cipher = if entries.iter().all(|(_, gated)| gated.is_empty()) {
            None
        } else {
            self.outbox_cipher(true)?
        };
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        let mut answers = Vec::with_capacity(entries.len());
        for (entry, gated) in entries {
            let inserted = insert_unless_present(&tx, *entry)?;
            answers.push(answer(&tx, entry, inserted)?);
            if !inserted {
                continue;
            }
            let Some(cipher) = &cipher else { continue };
            for (purpose, part) in gated.iter() {
                let plain =
                    serde_json::to_vec(part).map_err(|e| ClientError::Corrupt(e.to_string()))?;
                tx.execute(
                    "INSERT INTO outbox_gated (record_id, purpose, sealed) VALUES (?1, ?2, ?3)",
                    params![
                        entry.record_id.to_string(),
                        purpose.as_str(),
                        seal(cipher, entry.record_id, *purpose, &plain)
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(answers)
    }

    /// What opening gated parts needs, read once per batch: the outbox key (a keyring read) and
    /// the purposes the user consents to now.
    pub(crate) fn gated_opener(&self, user: Uuid) -> Result<GatedOpener> {
        let mut granted = Vec::new();
        for purpose in Purpose::ALL {
            if self.is_granted(user, purpose)? {
                granted.push(purpose);
            }
        }
        Ok(GatedOpener {
            cipher: self.outbox_cipher(false)?,
            granted,
            user,
        })
    }

    /// Whether a part of `purpose` captured at `captured_at` may leave: consent now, and in force
    /// at its capture time (as the server judges it; otherwise it refuses the whole record).
    fn may_send(
        &self,
        opener: &GatedOpener,
        purpose: Purpose,
        captured_at: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(opener.granted.contains(&purpose)
            && self.was_granted_at(opener.user, purpose, captured_at)?)
    }

    /// Opens the sealed gated parts of `record_id` that the user consents to, now and at its
    /// capture time; drops the rest.
    pub(crate) fn gated_parts(
        &self,
        opener: &GatedOpener,
        record_id: Uuid,
        captured_at: DateTime<Utc>,
    ) -> Result<Vec<(Purpose, serde_json::Value)>> {
        let rows: Vec<(String, Vec<u8>)> = {
            let conn = self.store.conn();
            let mut stmt = conn
                .prepare_cached("SELECT purpose, sealed FROM outbox_gated WHERE record_id = ?1")?;
            stmt.query_map([record_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::new();
        for (purpose, sealed) in rows {
            let purpose: Purpose =
                purpose
                    .parse()
                    .map_err(|e: ecsp_protocol::consent::UnknownPurpose| {
                        ClientError::Corrupt(e.to_string())
                    })?;
            let opened = match &opener.cipher {
                Some(c) if self.may_send(opener, purpose, captured_at)? => {
                    open(c, record_id, purpose, &sealed)
                }
                _ => None,
            };
            match opened.and_then(|p| serde_json::from_slice(&p).ok()) {
                Some(part) => out.push((purpose, part)),
                None => {
                    self.store.conn().execute(
                        "DELETE FROM outbox_gated WHERE record_id = ?1 AND purpose = ?2",
                        params![record_id.to_string(), purpose.as_str()],
                    )?;
                    tracing::info!(%purpose, "a gated part was dropped: no consent now (or its key is gone)");
                }
            }
        }
        Ok(out)
    }
}

fn aad(record_id: Uuid, purpose: Purpose) -> String {
    format!("outbox_gated:{record_id}:{purpose}")
}

fn seal(cipher: &XChaCha20Poly1305, record_id: Uuid, purpose: Purpose, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = aad(record_id, purpose);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        // Only fails for messages beyond 256 GiB.
        .unwrap_or_default();
    [nonce.as_slice(), &ct].concat()
}

fn open(
    cipher: &XChaCha20Poly1305,
    record_id: Uuid,
    purpose: Purpose,
    sealed: &[u8],
) -> Option<Vec<u8>> {
    if sealed.len() < 24 {
        return None;
    }
    let aad = aad(record_id, purpose);
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[..24]),
            Payload {
                msg: &sealed[24..],
                aad: aad.as_bytes(),
            },
        )
        .ok()
}

/// A consent-gated part of a queued record, as the preview shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewGatedPart {
    pub purpose: Purpose,
    /// The record field it fills when sent (`job`, `gps`, `photos`).
    pub field: &'static str,
    /// Whether it will be sent: the user's decisions (here and in the server's ledger) grant it
    /// now and at the record's capture time. A part without consent is deleted at the next send,
    /// so it never leaves.
    pub will_send: bool,
    /// The part itself; `None` if it can no longer be opened (its key is gone).
    pub value: Option<serde_json::Value>,
}

/// One record waiting in the outbox, exactly as it would leave this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewRecord {
    pub record_id: Uuid,
    pub kind: OutboxKind,
    pub state: QueueState,
    pub captured_at: DateTime<Utc>,
    /// The record's JSON without its gated parts (those are listed in `gated`).
    pub body: serde_json::Value,
    pub gated: Vec<PreviewGatedPart>,
}

/// The JSON field of a record that each purpose gates.
pub(crate) fn gated_field(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::JobInfo => "job",
        Purpose::Gps => "gps",
        Purpose::Photos => "photos",
    }
}

impl Core {
    /// The signed-in user's unsent records (queued, in flight or rejected), oldest first, with
    /// their gated parts opened for display. Reads only: nothing is changed or deleted.
    fn preview(&self, user: Uuid, limit: u32) -> Result<Vec<PreviewRecord>> {
        let rows: Vec<(String, String, i64, String, String)> = {
            let conn = self.store.conn();
            let mut stmt = conn.prepare_cached(
                "SELECT record_id, kind, captured_at, state, body FROM outbox
                 WHERE user_id = ?1 AND state != 'sent' ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map(params![user.to_string(), limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?
        };
        let opener = self.gated_opener(user)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, kind, captured, state, body) in rows {
            let record_id = parse_uuid(&id)?;
            let sealed: Vec<(String, Vec<u8>)> = {
                let conn = self.store.conn();
                let mut stmt = conn.prepare_cached(
                    "SELECT purpose, sealed FROM outbox_gated WHERE record_id = ?1 ORDER BY purpose",
                )?;
                stmt.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut gated = Vec::with_capacity(sealed.len());
            for (purpose, sealed) in sealed {
                let purpose: Purpose =
                    purpose
                        .parse()
                        .map_err(|e: ecsp_protocol::consent::UnknownPurpose| {
                            ClientError::Corrupt(e.to_string())
                        })?;
                let value = opener
                    .cipher
                    .as_ref()
                    .and_then(|c| open(c, record_id, purpose, &sealed))
                    .and_then(|plain| serde_json::from_slice(&plain).ok());
                gated.push(PreviewGatedPart {
                    purpose,
                    field: gated_field(purpose),
                    will_send: value.is_some()
                        && self.may_send(&opener, purpose, from_ms(captured))?,
                    value,
                });
            }
            out.push(PreviewRecord {
                record_id,
                kind: OutboxKind::from_column(&kind)?,
                state: QueueState::parse(&state)?,
                captured_at: from_ms(captured),
                body: serde_json::from_str(&body)
                    .map_err(|e| ClientError::Corrupt(format!("queued record: {e}")))?,
                gated,
            });
        }
        Ok(out)
    }
}

/// See [`Core::gated_opener`].
pub(crate) struct GatedOpener {
    cipher: Option<XChaCha20Poly1305>,
    granted: Vec<Purpose>,
    user: Uuid,
}

impl EcspClient {
    /// What waits to leave this machine, exactly as it would be sent, gated parts marked (see
    /// [`PreviewRecord`]); oldest first, at most `limit` records.
    pub async fn preview(&self, limit: u32) -> EcspResult<Vec<PreviewRecord>> {
        self.blocking(move |core| core.preview(core.current_user()?, limit))
            .await
    }

    pub async fn queue_status(&self) -> EcspResult<QueueStatus> {
        self.blocking(|core| status(&core.store.conn())).await
    }

    /// Outbox entries, newest first, optionally of one state; says whether it stopped short.
    pub async fn queue_list(&self, state: Option<QueueState>, limit: u32) -> EcspResult<QueuePage> {
        self.blocking(move |core| list(&core.store.conn(), state, limit))
            .await
    }

    /// Puts rejected records (one, or all) back in the queue, e.g. after the server was fixed.
    pub async fn retry_rejected(&self, record: Option<Uuid>) -> EcspResult<usize> {
        self.blocking(move |core| {
            let n = retry_rejected(&core.store.conn(), record)?;
            if n > 0 {
                core.queue_changed();
                core.wake.notify_one();
            }
            Ok(n)
        })
        .await
    }

    /// Deletes rejected records (one, or all) from the outbox for good. Returns how many.
    pub async fn drop_rejected(&self, record: Option<Uuid>) -> EcspResult<usize> {
        self.blocking(move |core| {
            let n = drop_rejected(&mut core.store.conn(), record)?;
            if n > 0 {
                core.queue_changed();
            }
            Ok(n)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_entries_are_forgotten_after_the_retention_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::LocalStore::open(&dir.path().join("c.sqlite3")).unwrap();
        let conn = store.conn();
        let now = crate::now_ms();
        let day = 86_400_000;
        for (id, state, sent_at) in [
            ("a", "sent", now - 31 * day),
            ("b", "sent", now - day),
            ("c", "queued", 0),
        ] {
            conn.execute(
                "INSERT INTO outbox (record_id, user_id, kind, captured_at, state, sent_at) VALUES (?1, 'u', 'dfe', 0, ?2, ?3)",
                rusqlite::params![id, state, sent_at],
            )
            .unwrap();
        }
        assert_eq!(prune_delivered(&conn, now - 30 * day).unwrap(), 1);
        let left: Vec<String> = conn
            .prepare("SELECT record_id FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, vec!["b", "c"]);
    }

    #[test]
    fn every_kind_names_its_endpoint_and_consents_go_first_one_at_a_time() {
        for kind in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(kind.as_str()), Some(kind));
            assert!(kind.endpoint().starts_with("/api/v1/"));
        }
        assert_eq!(OutboxKind::Consent.batch_limit(500), 1);
        assert_eq!(OutboxKind::Dfe.batch_limit(500), 500);
        assert_eq!(
            OutboxKind::Measurement.batch_limit(usize::MAX),
            ecsp_protocol::limits::RECORDS_PER_UPLOAD
        );
        assert!(OutboxKind::Consent.phase() < OutboxKind::Dfe.phase());
        assert_eq!(
            OutboxKind::parse("device_data"),
            Some(OutboxKind::DeviceData)
        );
        assert_eq!(OutboxKind::DeviceData.batch_limit(500), 500);
        assert!(OutboxKind::Consent.phase() < OutboxKind::DeviceData.phase());
        assert!(OutboxKind::DeviceData.is_upload());
        assert_eq!(OutboxKind::parse("device-data"), None);
    }
}
