//! The local SQLite database: the outbox, the local consent history and a few facts about this
//! installation. One file, WAL, `synchronous=FULL`: a record accepted into the outbox survives a
//! crash or power loss the moment `capture` returns. `secure_delete` overwrites what is deleted
//! or cleared (a sent record's body, a withdrawn GPS fix), so it does not linger in free pages.
//!
//! Migrations run on `PRAGMA user_version` inside a transaction; a database from a newer build
//! (a higher version than this build knows) is refused rather than misread.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::{ClientError, Result};

pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    // v2: the server's stable code for a rejection, so front ends can act on it, not only show it.
    r#"
    ALTER TABLE outbox ADD COLUMN last_error_code TEXT;
"#,
    // v3: the purposes left out of a record at capture (comma-separated), so capturing the same
    // caller-chosen record id again answers exactly what the first capture did.
    r#"
    ALTER TABLE outbox ADD COLUMN withheld TEXT;
"#,
    // v4: the server's consent ledger as last read (or as last added to by a delivery), per
    // user: with the decisions made here and not yet delivered it decides what is granted. It
    // starts as the decisions made here that the server already has.
    r#"
    CREATE TABLE server_consents (
        user_id         TEXT NOT NULL,
        purpose         TEXT NOT NULL CHECK (purpose IN ('job_info', 'gps', 'photos')),
        decision        TEXT NOT NULL CHECK (decision IN ('granted', 'refused', 'withdrawn')),
        notice_version  TEXT NOT NULL,
        decided_at      INTEGER NOT NULL,
        UNIQUE (user_id, purpose, decided_at, decision, notice_version)
    );
    INSERT OR IGNORE INTO server_consents (user_id, purpose, decision, notice_version, decided_at)
        SELECT c.user_id, c.purpose, c.decision, c.notice_version, c.decided_at
        FROM consents c LEFT JOIN outbox o ON o.record_id = c.decision_id
        WHERE COALESCE(o.state, 'sent') = 'sent';
"#,
    // v5: the `device_data` kind. SQLite cannot change a CHECK in place, so both tables are
    // rebuilt: the sealed parts are set aside first, as dropping `outbox` would cascade to them.
    r#"
    CREATE TABLE outbox_v3 AS SELECT * FROM outbox;
    CREATE TABLE outbox_gated_v3 AS SELECT * FROM outbox_gated;
    DROP TABLE outbox_gated;
    DROP TABLE outbox;
    CREATE TABLE outbox (
        id               INTEGER PRIMARY KEY,
        record_id        TEXT NOT NULL UNIQUE,
        user_id          TEXT NOT NULL,
        kind             TEXT NOT NULL
                         CHECK (kind IN ('consent', 'dfe', 'measurement', 'device_data')),
        device_id        TEXT,
        captured_at      INTEGER NOT NULL,
        body             TEXT,
        state            TEXT NOT NULL CHECK (state IN ('queued', 'in_flight', 'rejected', 'sent')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL DEFAULT 0,
        last_error       TEXT,
        sent_at          INTEGER,
        last_error_code  TEXT,
        withheld         TEXT
    );
    CREATE INDEX outbox_pending ON outbox(user_id, state, id);
    INSERT INTO outbox (id, record_id, user_id, kind, device_id, captured_at, body, state,
                        attempts, next_attempt_at, last_error, sent_at, last_error_code, withheld)
        SELECT id, record_id, user_id, kind, device_id, captured_at, body, state,
               attempts, next_attempt_at, last_error, sent_at, last_error_code, withheld
        FROM outbox_v3;
    CREATE TABLE outbox_gated (
        record_id  TEXT NOT NULL REFERENCES outbox(record_id) ON DELETE CASCADE,
        purpose    TEXT NOT NULL CHECK (purpose IN ('job_info', 'gps', 'photos')),
        sealed     BLOB NOT NULL,
        PRIMARY KEY (record_id, purpose)
    ) WITHOUT ROWID;
    INSERT INTO outbox_gated (record_id, purpose, sealed)
        SELECT record_id, purpose, sealed FROM outbox_gated_v3;
    DROP TABLE outbox_gated_v3;
    DROP TABLE outbox_v3;
"#,
];

/// The local database.
#[derive(Debug)]
pub struct LocalStore {
    conn: Mutex<Connection>,
}

impl LocalStore {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ClientError::Corrupt(format!("{}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "busy_timeout", 10_000)?;
        migrate(&mut conn, path)?;
        // Anything in flight when the last process died goes back in the queue.
        crate::outbox::requeue_all_in_flight(&conn)?;
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

/// Moves the write-ahead log into the database file and truncates it.
pub(crate) fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Brings the schema to the newest version this build knows, one transaction per step.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(ClientError::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as `sqlite_master` describes it, comparable between two databases.
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
    fn a_v3_database_keeps_its_entries_and_sealed_parts_and_takes_device_data() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v3.sqlite3");
        {
            let mut conn = Connection::open(&old).unwrap();
            conn.pragma_update(None, "foreign_keys", true).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            tx.execute(
                "INSERT INTO outbox (id, record_id, user_id, kind, captured_at, body, state, withheld)
                 VALUES (7, 'r1', 'u', 'dfe', 1, '{}', 'queued', 'gps')",
                [],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO outbox_gated (record_id, purpose, sealed) VALUES ('r1', 'job_info', x'01')",
                [],
            )
            .unwrap();
            assert!(
                tx.execute(
                    "INSERT INTO outbox (record_id, user_id, kind, captured_at, state)
                     VALUES ('r2', 'u', 'device_data', 1, 'queued')",
                    [],
                )
                .is_err(),
                "a v3 database refuses the kind"
            );
            tx.commit().unwrap();
        }
        let upgraded = LocalStore::open(&old).unwrap();
        let conn = upgraded.conn();
        let (id, withheld): (i64, String) = conn
            .query_row(
                "SELECT id, withheld FROM outbox WHERE record_id = 'r1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((id, withheld.as_str()), (7, "gps"));
        let sealed: Vec<u8> = conn
            .query_row(
                "SELECT sealed FROM outbox_gated WHERE record_id = 'r1' AND purpose = 'job_info'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sealed, vec![1u8]);
        conn.execute(
            "INSERT INTO outbox (record_id, user_id, kind, captured_at, state)
             VALUES ('r2', 'u', 'device_data', 1, 'queued')",
            [],
        )
        .unwrap();
        // The sealed parts still follow their entry.
        conn.execute("DELETE FROM outbox WHERE record_id = 'r1'", [])
            .unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM outbox_gated", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_v1_database_with_data_upgrades_to_the_fresh_schema() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.sqlite3");
        {
            let conn = Connection::open(&old).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO outbox (record_id, user_id, kind, captured_at, body, state, last_error)
                 VALUES ('r1', 'u', 'dfe', 1, '{}', 'rejected', 'refused')",
                [],
            )
            .unwrap();
        }
        let upgraded = LocalStore::open(&old).unwrap();
        let fresh = LocalStore::open(&dir.path().join("fresh.sqlite3")).unwrap();
        assert_eq!(schema(&upgraded.conn()), schema(&fresh.conn()));
        let version: i64 = upgraded
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let (state, error, code, withheld): (String, String, Option<String>, Option<String>) =
            upgraded
                .conn()
                .query_row(
                    "SELECT state, last_error, last_error_code, withheld FROM outbox
                     WHERE record_id = 'r1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
        assert_eq!(
            (state.as_str(), error.as_str(), code, withheld),
            ("rejected", "refused", None, None)
        );
    }

    #[test]
    fn an_upgrade_keeps_delivered_decisions_in_force_as_the_servers() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("v3.sqlite3");
        {
            let mut conn = Connection::open(&old).unwrap();
            for sql in &MIGRATIONS[..3] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 3).unwrap();
            let tx = conn.transaction().unwrap();
            // Delivered long ago (its outbox row pruned), delivered lately, and still queued.
            for (id, decided_at, outbox_state) in [
                ("d1", 1, None),
                ("d2", 2, Some("sent")),
                ("d3", 3, Some("queued")),
            ] {
                tx.execute(
                    "INSERT INTO consents (decision_id, user_id, purpose, decision, notice_version, decided_at)
                     VALUES (?1, 'u', 'job_info', 'granted', '2026-11', ?2)",
                    rusqlite::params![id, decided_at],
                )
                .unwrap();
                if let Some(state) = outbox_state {
                    tx.execute(
                        "INSERT INTO outbox (record_id, user_id, kind, captured_at, body, state)
                         VALUES (?1, 'u', 'consent', ?2, '{}', ?3)",
                        rusqlite::params![id, decided_at, state],
                    )
                    .unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let upgraded = LocalStore::open(&old).unwrap();
        let known: Vec<i64> = upgraded
            .conn()
            .prepare("SELECT decided_at FROM server_consents WHERE user_id = 'u' ORDER BY rowid")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            known,
            vec![1, 2],
            "the delivered decisions, not the queued one"
        );
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x INTEGER)")
                .unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = LocalStore::open(&path).unwrap_err();
        assert!(
            matches!(err, ClientError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("newer version"), "{err}");
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 99, "the newer database was changed");
    }
}
