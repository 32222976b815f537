//! The agent's own SQLite file: the operation ledger (at-most-once execution of remote
//! operations) and the outbox of device-data records waiting to be uploaded.
//!
//! Why not ecsp-client's outbox: that one belongs to a signed-in *user* (tokens, consent-gated
//! parts sealed per user, a flush that refreshes the user's session); an agent has no user, only
//! its own secret, and uploads one kind of record. What is shared is reused: the transport's
//! TLS configuration, the secret store and the retry backoff ([`ecsp_client::sync::backoff_ms`]).
//!
//! Durability: `synchronous = FULL` in WAL mode, so a row is on disk when the call returns —
//! the ledger's "started operation X" must survive a crash that follows it immediately.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use ecsp_protocol::agent::DeviceDataRecord;
use ecsp_protocol::remote_ops::AgentReport;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the agent database {path} cannot be used: {detail}")]
    Open { path: String, detail: String },
    #[error("the agent database failed: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("a stored entry is unreadable: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct AgentStore {
    conn: Arc<Mutex<Connection>>,
    /// Operations this process is running now: a repeat delivered meanwhile (the clustered
    /// broker's server nodes each publish, and republish until `delivered`) is not mistaken for
    /// one cut short by a restart.
    running: Arc<Mutex<std::collections::HashSet<Uuid>>>,
}

/// What the ledger knew of an operation when it was offered.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First time: recorded as started; run it now.
    New,
    /// Seen before (a redelivery): do not run again; re-send the latest report, if any.
    Seen(Option<Box<AgentReport>>),
    /// Being run by this process now: it reports when it is done; do nothing.
    Running,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operations (
    operation_id TEXT PRIMARY KEY,
    started_at   INTEGER NOT NULL,
    last_report  TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id       TEXT NOT NULL UNIQUE,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'rejected')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE TABLE IF NOT EXISTS printer_polls (
    address       TEXT PRIMARY KEY,
    serial_number TEXT NOT NULL,
    polled_at     INTEGER NOT NULL,
    read_ok       INTEGER NOT NULL,
    detail        TEXT NOT NULL
);
";

/// The latest poll of one designated printer, as `ecsp-agent status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterPoll {
    pub address: String,
    /// The serial number it was designated with.
    pub serial_number: String,
    pub polled_at: DateTime<Utc>,
    pub read_ok: bool,
    /// What was read, or why nothing could be.
    pub detail: String,
}

/// A record the server refused, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub record_id: String,
    pub reason: String,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// An outbox entry claimed for sending.
#[derive(Debug, Clone)]
pub struct Queued {
    pub seq: i64,
    pub record: DeviceDataRecord,
    pub attempts: u32,
}

/// Counts per outbox state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sent: u64,
    pub rejected: u64,
}

impl AgentStore {
    pub fn open(path: &Path) -> Result<Self> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(AgentStore {
            conn: Arc::new(Mutex::new(conn)),
            running: Arc::default(),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each call is one statement or
        // transaction), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `operation_id` is about to run — before it runs. Atomic: of two deliveries
    /// racing, exactly one gets [`Begin::New`].
    pub fn begin(&self, operation_id: Uuid, now: DateTime<Utc>) -> Result<Begin> {
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO operations (operation_id, started_at) VALUES (?1, ?2)",
            params![operation_id.to_string(), ms(now)],
        )?;
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if inserted == 1 {
            running.insert(operation_id);
            return Ok(Begin::New);
        }
        if running.contains(&operation_id) {
            return Ok(Begin::Running);
        }
        drop(running);
        let last: Option<String> = conn
            .query_row(
                "SELECT last_report FROM operations WHERE operation_id = ?1",
                params![operation_id.to_string()],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let last = last
            .map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?
            .map(Box::new);
        Ok(Begin::Seen(last))
    }

    /// `operation_id`, begun by this process, has ended (reported, or given up).
    pub fn finished(&self, operation_id: Uuid) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&operation_id);
    }

    /// Keeps the latest report of an operation, to answer a redelivery with it.
    pub fn record_report(&self, report: &AgentReport) -> Result<()> {
        let json = serde_json::to_string(report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "UPDATE operations SET last_report = ?2 WHERE operation_id = ?1",
            params![report.operation_id.to_string(), json],
        )?;
        Ok(())
    }

    /// Operations recorded as started (for tests and `ecsp-agent status`).
    pub fn operations_started(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM operations", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }

    /// Adds records to the outbox (a record already there is left as it is).
    pub fn enqueue(&self, records: &[DeviceDataRecord]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for r in records {
            let body = serde_json::to_string(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT OR IGNORE INTO outbox (record_id, body) VALUES (?1, ?2)",
                params![r.record_id.to_string(), body],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `limit` queued records whose backoff has passed, oldest first.
    pub fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Queued>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, body, attempts FROM outbox WHERE state = 'queued' AND next_attempt_at <= ?1
             ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![ms(now), limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u32>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, body, attempts) = row?;
            let record =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            out.push(Queued {
                seq,
                record,
                attempts,
            });
        }
        Ok(out)
    }

    /// Delivered: the body is no longer needed.
    pub fn mark_sent(&self, seqs: &[i64]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in seqs {
            tx.execute(
                "UPDATE outbox SET state = 'sent', body = '', last_error = NULL WHERE seq = ?1",
                params![s],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Refused for a reason a retry will not fix: kept, with the reason, for the operator.
    pub fn mark_rejected(&self, seqs: &[i64], reason: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in seqs {
            tx.execute(
                "UPDATE outbox SET state = 'rejected', last_error = ?2 WHERE seq = ?1",
                params![s, reason],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A failure worth retrying: try again after the backoff.
    pub fn reschedule(&self, batch: &[Queued], error: &str, now: DateTime<Utc>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for q in batch {
            let delay = ecsp_client::sync::backoff_ms(q.attempts) as i64;
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE seq = ?1",
                params![q.seq, ms(now) + delay, error],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Keeps the outcome of the latest poll of a designated printer (one row per address).
    pub fn record_poll(&self, poll: &PrinterPoll) -> Result<()> {
        self.conn().execute(
            "INSERT INTO printer_polls (address, serial_number, polled_at, read_ok, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (address) DO UPDATE SET serial_number = ?2, polled_at = ?3,
                 read_ok = ?4, detail = ?5",
            params![
                poll.address,
                poll.serial_number,
                ms(poll.polled_at),
                poll.read_ok,
                poll.detail
            ],
        )?;
        Ok(())
    }

    /// The latest poll of every printer polled, by address.
    pub fn printer_polls(&self) -> Result<Vec<PrinterPoll>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT address, serial_number, polled_at, read_ok, detail FROM printer_polls
             ORDER BY address",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(PrinterPoll {
                address: r.get(0)?,
                serial_number: r.get(1)?,
                polled_at: DateTime::from_timestamp_millis(r.get(2)?).unwrap_or_default(),
                read_ok: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest `limit` records the server refused, newest first, with its reasons.
    pub fn rejections(&self, limit: usize) -> Result<Vec<Rejection>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT record_id, COALESCE(last_error, '') FROM outbox WHERE state = 'rejected'
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(Rejection {
                record_id: r.get(0)?,
                reason: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state")?;
        let mut counts = OutboxCounts::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (state, n) = row?;
            match state.as_str() {
                "queued" => counts.queued = n as u64,
                "sent" => counts.sent = n as u64,
                _ => counts.rejected = n as u64,
            }
        }
        Ok(counts)
    }
}

/// What `ecsp-agent status` prints: the outbox, the operations run, the latest poll of each
/// printer (a printer that cannot be identified says so) and the records the server refused,
/// each with its reason.
pub fn status_text(store: &AgentStore) -> Result<String> {
    use std::fmt::Write as _;
    let c = store.outbox_counts()?;
    let mut out = format!(
        "outbox: {} queued, {} sent, {} rejected; operations run: {}\n",
        c.queued,
        c.sent,
        c.rejected,
        store.operations_started()?
    );
    for p in store.printer_polls()? {
        let state = if p.read_ok { "read" } else { "NOT READ" };
        let _ = writeln!(
            out,
            "printer {} (designated serial {}): {state} at {}: {}",
            p.address,
            p.serial_number,
            p.polled_at.format("%Y-%m-%d %H:%M:%S UTC"),
            p.detail
        );
    }
    const SHOWN: usize = 20;
    let rejections = store.rejections(SHOWN)?;
    if !rejections.is_empty() {
        let _ = writeln!(out, "rejected by the server (latest {SHOWN} at most):");
        for r in rejections {
            let _ = writeln!(out, "  record {}: {}", r.record_id, r.reason);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecsp_protocol::remote_ops::{Reason, ReasonCode, ReportedState};

    #[test]
    fn a_repeat_while_running_here_is_told_apart_from_a_run_cut_short() {
        let dir = tempfile::tempdir().expect("dir");
        let store = AgentStore::open(&dir.path().join("agent.db")).expect("open");
        let id = Uuid::new_v4();
        assert_eq!(store.begin(id, Utc::now()).expect("begin"), Begin::New);
        // A clone (another session task of the same process) sees it running.
        let other = store.clone();
        assert_eq!(other.begin(id, Utc::now()).expect("repeat"), Begin::Running);
        store.finished(id);
        // Ended without a report (given up): a repeat now is one cut short.
        assert_eq!(
            other.begin(id, Utc::now()).expect("after"),
            Begin::Seen(None)
        );
    }

    #[test]
    fn an_operation_begins_once_even_after_the_database_is_reopened() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("agent.db");
        let id = Uuid::new_v4();
        {
            let store = AgentStore::open(&path).expect("open");
            assert_eq!(store.begin(id, Utc::now()).expect("begin"), Begin::New);
            // The process "crashes" here: no report recorded.
        }
        let store = AgentStore::open(&path).expect("reopen");
        assert_eq!(
            store.begin(id, Utc::now()).expect("again"),
            Begin::Seen(None)
        );
        let report = AgentReport {
            schema_version: 1,
            operation_id: id,
            state: ReportedState::Failed,
            at: Utc::now(),
            progress_percent: None,
            result: None,
            reason: Some(Reason {
                code: ReasonCode::Other,
                message: Some("interrupted".into()),
            }),
        };
        store.record_report(&report).expect("report");
        assert_eq!(
            store.begin(id, Utc::now()).expect("third"),
            Begin::Seen(Some(Box::new(report)))
        );
        assert_eq!(store.operations_started().expect("count"), 1);
    }

    #[test]
    fn status_shows_each_printers_latest_poll_and_every_rejection_reason() {
        let dir = tempfile::tempdir().expect("dir");
        let store = AgentStore::open(&dir.path().join("agent.db")).expect("open");
        let at = Utc::now();
        let poll = |ok: bool, detail: &str| PrinterPoll {
            address: "192.0.2.10:161".into(),
            serial_number: "X7PZ012345".into(),
            polled_at: at,
            read_ok: ok,
            detail: detail.into(),
        };
        store.record_poll(&poll(true, "status idle")).expect("poll");
        store
            .record_poll(&poll(false, "the printer cannot be identified"))
            .expect("second poll");
        let polls = store.printer_polls().expect("polls");
        assert_eq!(polls.len(), 1, "one row per printer: the latest poll");
        assert!(!polls[0].read_ok);
        let record: DeviceDataRecord = serde_json::from_value(serde_json::json!({
            "record_id": Uuid::new_v4(),
            "captured_at": at,
            "device": {"manufacturer": "Epson", "model": "SC-P8500D", "serial_number": "X1",
                       "firmware_version": "1.0"}
        }))
        .expect("record");
        store
            .enqueue(std::slice::from_ref(&record))
            .expect("enqueue");
        let due = store.due(Utc::now(), 10).expect("due");
        store
            .mark_rejected(&[due[0].seq], "422: not designated to this agent")
            .expect("reject");
        let text = status_text(&store).expect("status");
        assert!(text.contains("0 queued, 0 sent, 1 rejected"), "{text}");
        assert!(
            text.contains("printer 192.0.2.10:161 (designated serial X7PZ012345): NOT READ at ")
                && text.contains(": the printer cannot be identified"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "record {}: 422: not designated to this agent",
                record.record_id
            )),
            "{text}"
        );
    }
}
