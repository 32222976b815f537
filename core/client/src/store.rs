//! The local SQLite database: the outbox, the local consent history and a few facts about this
//! installation. One file, WAL, `synchronous=FULL`: a record accepted into the outbox survives a
//! crash or power loss the moment `capture` returns.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::Result;

const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE meta (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );

    -- Every consent decision made on this installation, per user (append-only).
    CREATE TABLE consents (
        id              INTEGER PRIMARY KEY,
        decision_id     TEXT NOT NULL UNIQUE,
        user_id         TEXT NOT NULL,
        purpose         TEXT NOT NULL CHECK (purpose IN ('job_info', 'gps', 'photos')),
        decision        TEXT NOT NULL CHECK (decision IN ('granted', 'refused', 'withdrawn')),
        notice_version  TEXT NOT NULL,
        decided_at      INTEGER NOT NULL
    );
    CREATE INDEX consents_user ON consents(user_id, purpose, id);
    CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
        BEGIN SELECT RAISE(ABORT, 'consent history is append-only'); END;

    -- What waits to be sent, in capture order. The body holds no consent-gated part: those are
    -- sealed in outbox_gated, and dropped when consent is withdrawn.
    CREATE TABLE outbox (
        id               INTEGER PRIMARY KEY,
        record_id        TEXT NOT NULL UNIQUE,
        user_id          TEXT NOT NULL,
        kind             TEXT NOT NULL CHECK (kind IN ('consent', 'dfe', 'measurement')),
        device_id        TEXT,
        captured_at      INTEGER NOT NULL,
        body             TEXT,
        state            TEXT NOT NULL CHECK (state IN ('queued', 'in_flight', 'rejected', 'sent')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        sent_at          INTEGER
    );
    CREATE INDEX outbox_pending ON outbox(user_id, state, id);

    CREATE TABLE outbox_gated (
        record_id  TEXT NOT NULL REFERENCES outbox(record_id) ON DELETE CASCADE,
        purpose    TEXT NOT NULL CHECK (purpose IN ('job_info', 'gps', 'photos')),
        sealed     BLOB NOT NULL,
        PRIMARY KEY (record_id, purpose)
    ) WITHOUT ROWID;
"#];

/// The local database.
#[derive(Debug)]
pub struct LocalStore {
    conn: Mutex<Connection>,
}

impl LocalStore {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| crate::ClientError::Corrupt(format!("{}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "busy_timeout", 10_000)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        // Anything in flight when the last process died goes back in the queue.
        conn.execute(
            "UPDATE outbox SET state = 'queued' WHERE state = 'in_flight'",
            [],
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<()> {
        let conn = self.conn();
        match value {
            Some(v) => conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, v],
            )?,
            None => conn.execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// `PRAGMA integrity_check`: `ok` for a sound database.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}
