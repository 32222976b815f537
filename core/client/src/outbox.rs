//! The outbox: what was captured and waits to be sent, in capture order, with its delivery state.
//!
//! States: `queued` (waiting, perhaps until `next_attempt_at`), `in_flight` (being sent; put back
//! to `queued` when the database is opened, since the process that sent it died), `rejected` (the
//! server refused it for a reason retrying will not fix; kept, visible, with the reason) and
//! `sent` (delivered; its body is erased). Consent-gated parts are sealed (XChaCha20-Poly1305,
//! key in the secret store) in `outbox_gated`, so the database file holds no job information,
//! position or photo in clear.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, TimeZone, Utc};
use ecsp_protocol::consent::Purpose;
use rand::RngCore;
use rusqlite::{Connection, params};
use serde::Serialize;
use uuid::Uuid;

use crate::EcspClient;
use crate::error::{ClientError, Result};
use crate::secrets::Secret;

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
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
    /// `consent`, `dfe` or `measurement`.
    pub kind: String,
    pub device_id: Option<Uuid>,
    pub captured_at: DateTime<Utc>,
    pub state: QueueState,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the server refused it, or why the last attempt failed.
    pub last_error: Option<String>,
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
    pub kind: &'a str,
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub captured_at: DateTime<Utc>,
}

impl EcspClient {
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

    /// Writes one captured record (and its sealed gated parts) in one transaction.
    pub(crate) fn enqueue(
        &self,
        entry: NewEntry<'_>,
        body: &serde_json::Value,
        gated: Vec<(Purpose, serde_json::Value)>,
    ) -> Result<()> {
        let NewEntry {
            user,
            kind,
            record_id,
            device_id,
            captured_at,
        } = entry;
        let cipher = if gated.is_empty() {
            None
        } else {
            self.outbox_cipher(true)?
        };
        let body = serde_json::to_string(body).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO outbox (record_id, user_id, kind, device_id, captured_at, body, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued')",
            params![
                record_id.to_string(),
                user.to_string(),
                kind,
                device_id.to_string(),
                captured_at.timestamp_millis(),
                body
            ],
        )?;
        if let Some(cipher) = cipher {
            for (purpose, part) in gated {
                let plain =
                    serde_json::to_vec(&part).map_err(|e| ClientError::Corrupt(e.to_string()))?;
                tx.execute(
                    "INSERT INTO outbox_gated (record_id, purpose, sealed) VALUES (?1, ?2, ?3)",
                    params![
                        record_id.to_string(),
                        purpose.as_str(),
                        seal(&cipher, record_id, purpose, &plain)
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Opens the sealed gated parts of `record_id` that the user still consents to; drops the rest.
    /// What opening gated parts needs, read once per batch: the outbox key (a keyring read) and
    /// the purposes the user consents to now.
    pub(crate) fn gated_opener(&self) -> Result<GatedOpener> {
        let mut granted = Vec::new();
        for purpose in Purpose::ALL {
            if self.is_granted(purpose)? {
                granted.push(purpose);
            }
        }
        Ok(GatedOpener {
            cipher: self.outbox_cipher(false)?,
            granted,
        })
    }

    pub(crate) fn gated_parts(
        &self,
        opener: &GatedOpener,
        record_id: Uuid,
    ) -> Result<Vec<(Purpose, serde_json::Value)>> {
        let rows: Vec<(String, Vec<u8>)> = {
            let conn = self.store.conn();
            let mut stmt = conn
                .prepare_cached("SELECT purpose, sealed FROM outbox_gated WHERE record_id = ?1")?;
            stmt.query_map([record_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (purpose, sealed) in rows {
            let purpose: Purpose =
                purpose
                    .parse()
                    .map_err(|e: ecsp_protocol::consent::UnknownPurpose| {
                        ClientError::Corrupt(e.to_string())
                    })?;
            let opened = match &opener.cipher {
                Some(c) if opener.granted.contains(&purpose) => {
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

    pub fn queue_status(&self) -> Result<QueueStatus> {
        let conn = self.store.conn();
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

    /// Outbox entries, oldest first, optionally of one state.
    pub fn queue_list(&self, state: Option<QueueState>, limit: u32) -> Result<Vec<QueueItem>> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT record_id, kind, device_id, captured_at, state, attempts, next_attempt_at, last_error
             FROM outbox WHERE (?1 IS NULL OR state = ?1) ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![state.map(QueueState::as_str), limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, device, captured, state, attempts, next, error) = row?;
            let parse = |s: &str| {
                Uuid::parse_str(s).map_err(|_| ClientError::Corrupt(format!("uuid `{s}`")))
            };
            out.push(QueueItem {
                record_id: parse(&id)?,
                kind,
                device_id: device.as_deref().map(parse).transpose()?,
                captured_at: from_ms(captured),
                state: QueueState::parse(&state)?,
                attempts: attempts.max(0) as u32,
                next_attempt_at: (next > 0).then(|| from_ms(next)),
                last_error: error,
            });
        }
        Ok(out)
    }

    /// Puts rejected records (one, or all) back in the queue, e.g. after the server was fixed.
    pub fn retry_rejected(&self, record: Option<Uuid>) -> Result<usize> {
        Ok(self.store.conn().execute(
            "UPDATE outbox SET state = 'queued', attempts = 0, next_attempt_at = 0, last_error = NULL
             WHERE state = 'rejected' AND (?1 IS NULL OR record_id = ?1)",
            params![record.map(|r| r.to_string())],
        )?)
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

/// See [`EcspClient::gated_opener`].
pub(crate) struct GatedOpener {
    cipher: Option<XChaCha20Poly1305>,
    granted: Vec<Purpose>,
}

/// Rows to send, claimed (`in_flight`) in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: i64,
    pub record_id: Uuid,
    pub body: String,
    /// Whether sealed gated parts wait beside the body.
    pub has_gated: bool,
}

/// Claims up to `max` due records of one kind for `user`, keeping capture order per device and
/// kind: a device whose earlier record of that kind is not due (backing off) sends nothing later
/// of that kind either. (Kinds go to different endpoints and are independent of each other.)
pub(crate) fn claim(
    conn: &mut Connection,
    user: Uuid,
    kinds: &[&str],
    max: usize,
    ignore_backoff: bool,
) -> Result<(String, Vec<Claimed>)> {
    let now = crate::now_ms();
    let tx = conn.transaction()?;
    let mut picked = Vec::new();
    let mut kind_of_batch: Option<String> = None;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, record_id, kind, device_id, next_attempt_at, body,
                    EXISTS (SELECT 1 FROM outbox_gated g WHERE g.record_id = outbox.record_id)
             FROM outbox WHERE user_id = ?1 AND state = 'queued' ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![user.to_string(), (max * 4 + 16) as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, bool>(6)?,
            ))
        })?;
        let mut blocked = std::collections::HashSet::new();
        for row in rows {
            let (id, record_id, kind, device, next, body, has_gated) = row?;
            let device_key = (device.clone().unwrap_or_default(), kind.clone());
            if !kinds.contains(&kind.as_str()) || blocked.contains(&device_key) {
                blocked.insert(device_key);
                continue;
            }
            let due = ignore_backoff || next <= now;
            let same_kind = kind_of_batch.as_deref().is_none_or(|k| k == kind);
            if !due || !same_kind {
                blocked.insert(device_key);
                continue;
            }
            kind_of_batch.get_or_insert(kind);
            picked.push(Claimed {
                id,
                record_id: Uuid::parse_str(&record_id)
                    .map_err(|_| ClientError::Corrupt(format!("uuid `{record_id}`")))?,
                body: body.unwrap_or_default(),
                has_gated,
            });
            if picked.len() >= max {
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
    tx.commit()?;
    Ok((kind_of_batch.unwrap_or_default(), picked))
}
