//! Which files were already captured: the SHA-256 of each file's bytes (with the device it was
//! captured for) and the records it made, in a small SQLite table. A file seen twice — dropped
//! again, re-sent by the DFE, or found again after a restart — makes one record.
//!
//! The ledger is written after the capture is durable in the outbox (for the hot folder, one
//! commit for the files captured together). A crash between the two would capture those files
//! once more at the next start; the ledger cannot share the outbox's
//! transaction (it is the client core's database), and a duplicate is the lesser harm than a
//! lost record.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Ledger {
    conn: Arc<Mutex<Connection>>,
}

impl Ledger {
    /// Opens (creating) the ledger at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Self::init(Connection::open(path)?)
    }

    /// A ledger that lives as long as the process (benchmarks, `dfe read`).
    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS seen (
                 hash        TEXT PRIMARY KEY,
                 record_ids  TEXT NOT NULL,
                 seen_at     TEXT NOT NULL
             );",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The key of `bytes` captured for `device`.
    pub fn key(device: Uuid, bytes: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(device.as_bytes());
        h.update(bytes);
        hex::encode(h.finalize())
    }

    /// The records made from this content before, if any.
    pub fn lookup(&self, key: &str) -> rusqlite::Result<Option<Vec<Uuid>>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let ids: Option<String> = conn
            .query_row("SELECT record_ids FROM seen WHERE hash = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(ids.map(|s| {
            s.split(',')
                .filter_map(|id| Uuid::parse_str(id).ok())
                .collect()
        }))
    }

    pub fn remember(&self, key: &str, records: &[Uuid]) -> rusqlite::Result<()> {
        self.remember_all(&[(key, records)])
    }

    /// Remembers several files' contents in one transaction (one commit for a batch of files).
    pub fn remember_all(&self, files: &[(&str, &[Uuid])]) -> rusqlite::Result<()> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO seen (hash, record_ids, seen_at) VALUES (?1, ?2, ?3)",
            )?;
            let now = chrono::Utc::now().to_rfc3339();
            for (key, records) in files {
                let ids = records
                    .iter()
                    .map(Uuid::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                insert.execute(params![key, ids, now])?;
            }
        }
        tx.commit()
    }
}
