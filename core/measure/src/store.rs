//! The session's local SQLite file. A reading is committed (WAL, `synchronous=FULL`) before the
//! session returns it, and `UNIQUE (instrument_serial, counter)` makes storing the same reading
//! twice — after a resend or a resume — a no-op.
//!
//! One connection behind a mutex: a technician measures one patch at a time, and every call is
//! made from tokio's blocking pool by the session.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use ecsp_color::convert::Lab;
use ecsp_instrument::message::Reading;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::calibration::LastCalibration;
use crate::chart::PatchCheck;
use crate::error::{MeasureError, Result};

const SCHEMA_VERSION: i64 = 3;

const SCHEMA_V1: &str = "
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    plan TEXT NOT NULL,
    chart BLOB NOT NULL,
    instrument TEXT,
    record_id TEXT,
    pending_patch INTEGER,
    pending_after_counter INTEGER
);
CREATE TABLE readings (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    patch_index INTEGER NOT NULL,
    instrument_serial TEXT NOT NULL,
    counter INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    reading TEXT NOT NULL,
    lab_l REAL NOT NULL,
    lab_a REAL NOT NULL,
    lab_b REAL NOT NULL,
    delta_e REAL NOT NULL,
    better_match INTEGER,
    better_match_delta_e REAL,
    PRIMARY KEY (session_id, patch_index),
    UNIQUE (instrument_serial, counter)
);
CREATE TABLE calibrations (
    instrument_serial TEXT NOT NULL,
    at TEXT NOT NULL,
    temperature_tenth_c INTEGER NOT NULL,
    readings_since INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX calibrations_by_serial ON calibrations (instrument_serial, at);
";

/// Version 2: photos attached to a session (already without location unless `gps` allowed).
const SCHEMA_V2: &str = "
CREATE TABLE photos (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    seq INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    caption TEXT,
    data BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
);
";

/// Version 3: the upload's record id and capture time, fixed before the record is captured, so
/// an upload repeated after the app died between capturing and noting it captures the same
/// record again (which the client's outbox then ignores) instead of a second one.
const SCHEMA_V3: &str = "
ALTER TABLE sessions ADD COLUMN upload_record_id TEXT;
ALTER TABLE sessions ADD COLUMN upload_captured_at TEXT;
";

/// A photo as stored with its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    pub media_type: String,
    pub caption: Option<String>,
    pub data: Vec<u8>,
}

/// What the file holds about a session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub plan: String,
    pub chart: Vec<u8>,
    pub instrument: Option<String>,
    /// The record the session was uploaded as (captured and noted).
    pub record_id: Option<Uuid>,
    pub pending: Option<(usize, Option<u32>)>,
    /// The record id and capture time fixed for the upload, once it was started.
    pub upload: Option<(Uuid, DateTime<Utc>)>,
}

/// A stored reading.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReading {
    pub patch_index: usize,
    pub taken_at: DateTime<Utc>,
    pub reading: Reading,
    pub lab: Lab,
    pub check: PatchCheck,
}

/// Whether storing a reading added it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    /// The same instrument reading (serial and counter) is already stored.
    Duplicate,
}

/// The local session database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionStore {
    conn: Arc<Mutex<Connection>>,
}

impl SessionStore {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| MeasureError::Storage(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(MeasureError::Storage(format!(
                "the session database was written by a newer version (schema {version}); update the application"
            )));
        }
        if version < SCHEMA_VERSION {
            let tx = conn.unchecked_transaction()?;
            for (step, sql) in [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3].iter().enumerate() {
                if version <= step as i64 {
                    tx.execute_batch(sql)?;
                }
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create_session(&self, id: Uuid, plan: &str, chart: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO sessions (session_id, created_at, plan, chart) VALUES (?1, ?2, ?3, ?4)",
            params![id.to_string(), Utc::now().to_rfc3339(), plan, chart],
        )?;
        Ok(())
    }

    pub fn session(&self, id: Uuid) -> Result<SessionRow> {
        self.conn()
            .query_row(
                "SELECT plan, chart, instrument, record_id, pending_patch, pending_after_counter,
                        upload_record_id, upload_captured_at
                 FROM sessions WHERE session_id = ?1",
                [id.to_string()],
                |r| {
                    let record: Option<String> = r.get(3)?;
                    let pending: Option<i64> = r.get(4)?;
                    let after: Option<i64> = r.get(5)?;
                    let upload_record: Option<String> = r.get(6)?;
                    let upload_at: Option<String> = r.get(7)?;
                    Ok(SessionRow {
                        upload: upload_record.zip(upload_at).and_then(|(id, at)| {
                            Some((
                                id.parse().ok()?,
                                DateTime::parse_from_rfc3339(&at).ok()?.with_timezone(&Utc),
                            ))
                        }),
                        plan: r.get(0)?,
                        chart: r.get(1)?,
                        instrument: r.get(2)?,
                        record_id: record.and_then(|s| s.parse().ok()),
                        pending: pending.map(|p| {
                            (
                                usize::try_from(p).unwrap_or(usize::MAX),
                                after.and_then(|a| u32::try_from(a).ok()),
                            )
                        }),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| MeasureError::NotFound(format!("no measurement session {id}")))
    }

    /// Sessions not uploaded yet, newest first.
    pub fn open_sessions(&self) -> Result<Vec<Uuid>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT session_id FROM sessions WHERE record_id IS NULL ORDER BY created_at DESC",
        )?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .filter_map(|s| s.ok().and_then(|s| s.parse().ok()))
            .collect();
        Ok(ids)
    }

    pub fn set_instrument(&self, id: Uuid, instrument: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE sessions SET instrument = ?2 WHERE session_id = ?1",
            params![id.to_string(), instrument],
        )?;
        Ok(())
    }

    /// Notes that a reading was asked for patch `index` when `after_counter` was the newest
    /// reading stored, so a reading taken while the app died can be recovered on resume.
    pub fn set_pending(&self, id: Uuid, pending: Option<(usize, Option<u32>)>) -> Result<()> {
        self.conn().execute(
            "UPDATE sessions SET pending_patch = ?2, pending_after_counter = ?3 WHERE session_id = ?1",
            params![
                id.to_string(),
                pending.map(|p| p.0 as i64),
                pending.and_then(|p| p.1)
            ],
        )?;
        Ok(())
    }

    /// Stores a reading for a patch, replacing an earlier one of the same patch; clears the
    /// pending mark; counts it against the instrument's calibration. One transaction.
    pub fn store_reading(&self, id: Uuid, stored: &StoredReading) -> Result<Stored> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let serial = &stored.reading.serial;
        let exists: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM readings WHERE instrument_serial = ?1 AND counter = ?2)",
            params![serial, stored.reading.counter],
            |r| r.get(0),
        )?;
        if exists {
            tx.execute(
                "UPDATE sessions SET pending_patch = NULL, pending_after_counter = NULL WHERE session_id = ?1",
                [id.to_string()],
            )?;
            tx.commit()?;
            return Ok(Stored::Duplicate);
        }
        let reading = serde_json::to_string(&stored.reading)
            .map_err(|e| MeasureError::Storage(e.to_string()))?;
        tx.execute(
            "INSERT OR REPLACE INTO readings (session_id, patch_index, instrument_serial, counter,
                taken_at, reading, lab_l, lab_a, lab_b, delta_e, better_match, better_match_delta_e)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id.to_string(),
                stored.patch_index as i64,
                serial,
                stored.reading.counter,
                stored.taken_at.to_rfc3339(),
                reading,
                stored.lab.l,
                stored.lab.a,
                stored.lab.b,
                stored.check.delta_e,
                stored.check.better_match.map(|m| m.0 as i64),
                stored.check.better_match.map(|m| m.1),
            ],
        )?;
        tx.execute(
            "UPDATE sessions SET pending_patch = NULL, pending_after_counter = NULL WHERE session_id = ?1",
            [id.to_string()],
        )?;
        tx.execute(
            "UPDATE calibrations SET readings_since = readings_since + 1
             WHERE rowid = (SELECT rowid FROM calibrations WHERE instrument_serial = ?1
                            ORDER BY at DESC LIMIT 1)",
            [serial],
        )?;
        tx.commit()?;
        Ok(Stored::New)
    }

    pub fn readings(&self, id: Uuid) -> Result<Vec<StoredReading>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT patch_index, taken_at, reading, lab_l, lab_a, lab_b, delta_e, better_match,
                    better_match_delta_e
             FROM readings WHERE session_id = ?1 ORDER BY patch_index",
        )?;
        let rows = stmt.query_map([id.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                Lab {
                    l: r.get(3)?,
                    a: r.get(4)?,
                    b: r.get(5)?,
                },
                r.get::<_, f64>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<f64>>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (index, taken_at, reading, lab, delta_e, better, better_de) = row?;
            let damaged = |what: &str| MeasureError::Storage(format!("stored reading: bad {what}"));
            out.push(StoredReading {
                patch_index: usize::try_from(index).map_err(|_| damaged("patch index"))?,
                taken_at: DateTime::parse_from_rfc3339(&taken_at)
                    .map_err(|_| damaged("time"))?
                    .with_timezone(&Utc),
                reading: serde_json::from_str(&reading).map_err(|_| damaged("reading"))?,
                lab,
                check: PatchCheck {
                    delta_e,
                    better_match: match (better, better_de) {
                        (Some(i), Some(de)) => Some((usize::try_from(i).unwrap_or(usize::MAX), de)),
                        _ => None,
                    },
                },
            });
        }
        Ok(out)
    }

    /// The newest reading counter stored for an instrument.
    pub fn newest_counter(&self, serial: &str) -> Result<Option<u32>> {
        Ok(self.conn().query_row(
            "SELECT MAX(counter) FROM readings WHERE instrument_serial = ?1",
            [serial],
            |r| r.get(0),
        )?)
    }

    pub fn record_calibration(
        &self,
        serial: &str,
        at: DateTime<Utc>,
        temperature_tenth_c: i16,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO calibrations (instrument_serial, at, temperature_tenth_c) VALUES (?1, ?2, ?3)",
            params![serial, at.to_rfc3339(), temperature_tenth_c],
        )?;
        Ok(())
    }

    pub fn last_calibration(&self, serial: &str) -> Result<Option<LastCalibration>> {
        let row = self
            .conn()
            .query_row(
                "SELECT at, temperature_tenth_c, readings_since FROM calibrations
                 WHERE instrument_serial = ?1 ORDER BY at DESC LIMIT 1",
                [serial],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i16>(1)?,
                        r.get::<_, u32>(2)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(at, t, n)| {
            Ok(LastCalibration {
                at: DateTime::parse_from_rfc3339(&at)
                    .map_err(|_| MeasureError::Storage("stored calibration: bad time".into()))?
                    .with_timezone(&Utc),
                temperature_tenth_c: t,
                readings_since: n,
            })
        })
        .transpose()
    }

    /// The record id and capture time of the session's upload: `candidate` the first time, what
    /// the first call fixed on every later one (committed before it returns).
    pub fn fix_upload(
        &self,
        id: Uuid,
        candidate: (Uuid, DateTime<Utc>),
    ) -> Result<(Uuid, DateTime<Utc>)> {
        let changed = self.conn().execute(
            "UPDATE sessions SET upload_record_id = ?2, upload_captured_at = ?3
             WHERE session_id = ?1 AND upload_record_id IS NULL",
            params![
                id.to_string(),
                candidate.0.to_string(),
                candidate.1.to_rfc3339()
            ],
        )?;
        if changed == 1 {
            return Ok(candidate);
        }
        self.session(id)?.upload.ok_or_else(|| {
            MeasureError::Storage("stored session: a damaged upload record id or time".into())
        })
    }

    pub fn set_uploaded(&self, id: Uuid, record_id: Uuid) -> Result<()> {
        self.conn().execute(
            "UPDATE sessions SET record_id = ?2 WHERE session_id = ?1",
            params![id.to_string(), record_id.to_string()],
        )?;
        Ok(())
    }

    /// Adds a photo unless the session already has `max`; returns its number (from 0).
    pub fn add_photo(&self, id: Uuid, photo: &StoredPhoto, max: usize) -> Result<Option<usize>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM photos WHERE session_id = ?1",
            params![id.to_string()],
            |r| r.get(0),
        )?;
        let count = count as usize;
        if count >= max {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO photos (session_id, seq, media_type, caption, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.to_string(), count as i64, photo.media_type, photo.caption, photo.data],
        )?;
        tx.commit()?;
        Ok(Some(count))
    }

    pub fn photos(&self, id: Uuid) -> Result<Vec<StoredPhoto>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT media_type, caption, data FROM photos WHERE session_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![id.to_string()], |r| {
            Ok(StoredPhoto {
                media_type: r.get(0)?,
                caption: r.get(1)?,
                data: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as `sqlite_master` describes it, comparable between two files.
    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn files_of_every_older_schema_upgrade_to_the_fresh_schema_keeping_their_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = SessionStore::open(&dir.path().join("fresh.sqlite3")).unwrap();
        let steps = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3];
        for version in 1..SCHEMA_VERSION {
            let path = dir.path().join(format!("v{version}.sqlite3"));
            let (open, uploaded) = (Uuid::new_v4(), Uuid::new_v4());
            {
                let conn = Connection::open(&path).unwrap();
                for sql in &steps[..version as usize] {
                    conn.execute_batch(sql).unwrap();
                }
                conn.pragma_update(None, "user_version", version).unwrap();
                for (session, record) in [(open, None), (uploaded, Some(Uuid::new_v4()))] {
                    conn.execute(
                        "INSERT INTO sessions (session_id, created_at, plan, chart, record_id)
                         VALUES (?1, '2026-11-01T10:00:00Z', '{}', X'00', ?2)",
                        params![session.to_string(), record.map(|r| r.to_string())],
                    )
                    .unwrap();
                }
            }
            let upgraded = SessionStore::open(&path).unwrap();
            assert_eq!(
                schema(&upgraded.conn()),
                schema(&fresh.conn()),
                "from v{version}"
            );
            let now: i64 = upgraded
                .conn()
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(now, SCHEMA_VERSION);
            assert_eq!(upgraded.open_sessions().unwrap(), vec![open]);
            let row = upgraded.session(open).unwrap();
            assert_eq!((row.plan.as_str(), row.upload), ("{}", None));
            assert!(upgraded.session(uploaded).unwrap().record_id.is_some());
        }
    }

    #[test]
    fn the_upload_record_is_fixed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::open(&dir.path().join("s.sqlite3")).unwrap();
        let session = Uuid::new_v4();
        store.create_session(session, "{}", b"chart").unwrap();
        let first = (Uuid::now_v7(), Utc::now());
        assert_eq!(store.fix_upload(session, first).unwrap(), first);
        assert_eq!(
            store
                .fix_upload(session, (Uuid::now_v7(), Utc::now()))
                .unwrap(),
            first,
            "a later call answers what the first one fixed"
        );
        assert_eq!(store.session(session).unwrap().upload, Some(first));
        let err = store
            .fix_upload(Uuid::new_v4(), (Uuid::now_v7(), Utc::now()))
            .unwrap_err();
        assert!(err.to_string().contains("no measurement session"), "{err}");
    }
}
