//! SQLite storage: one database file in WAL mode, migrated on start, written by a single
//! writer thread that commits in groups, and read through a pool of read-only connections.
//!
//! Why one writer: SQLite allows one writer at a time anyway; funnelling every write through one
//! thread removes `SQLITE_BUSY` and lets concurrent requests share one `fsync` (group commit).
//! Each request's writes run inside their own SAVEPOINT, so a refused request rolls back alone
//! and never leaves a partial write; its answer is delivered only after the COMMIT is durable
//! (`synchronous=FULL`).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::schema;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("a database task failed: {0}")]
    Task(String),
    #[error("stored data could not be decrypted (wrong key or damaged row)")]
    Decrypt,
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the database has schema version {found}, newer than this server's {supported}; upgrade the server"
    )]
    SchemaTooNew { found: usize, supported: usize },
}

/// Most requests' writes committed together in one transaction.
const MAX_GROUP: usize = 256;

type Delivery = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> (bool, Delivery) + Send>;

/// Handle to the storage; cheap to clone.
#[derive(Clone)]
pub struct Database {
    writes: mpsc::Sender<Job>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    Ok(())
}

impl Database {
    /// Opens (creating if needed) and migrates the database file, and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "could not switch to WAL (got {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                configure(c)?;
                c.pragma_update(None, "query_only", true)
            });
        let readers = r2d2::Pool::builder().max_size(8).build(manager)?;

        let (tx, rx) = mpsc::channel::<Job>(4096);
        std::thread::Builder::new()
            .name("ecsp-db-writer".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(Self {
            writes: tx,
            readers,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's transaction; resolves once its changes are durably committed.
    /// If `f` fails, its changes are rolled back and nothing of them is stored.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let result = match std::panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
                Ok(r) => r,
                Err(_) => Err(E::from(StoreError::Task("a write task panicked".into()))),
            };
            let ok = result.is_ok();
            let deliver: Delivery = Box::new(move |commit| {
                let out = match commit {
                    Ok(()) => result,
                    Err(e) => Err(E::from(e)),
                };
                let _ = done_tx.send(out);
            });
            (ok, deliver)
        });
        self.writes
            .send(job)
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?;
        done_rx
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get().map_err(StoreError::from)?;
            f(&conn)
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }
}

/// Runs a statement kept prepared: the writer runs these for every request, and parsing them each
/// time showed in the profile (SQLite's parser, `yy_reduce`).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = run_cached(&conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "could not begin a write transaction");
            // Dropping a job that never ran drops its answer channel: its caller gets an error.
            drop(group);
            continue;
        }
        let mut deliveries = Vec::with_capacity(group.len());
        for job in group {
            if let Err(e) = run_cached(&conn, "SAVEPOINT request") {
                tracing::error!(error = %e, "could not open a savepoint; request refused");
                continue;
            }
            let (ok, deliver) = job(&conn);
            let end = if ok {
                run_cached(&conn, "RELEASE request")
            } else {
                run_cached(&conn, "ROLLBACK TO request")
                    .and_then(|()| run_cached(&conn, "RELEASE request"))
            };
            if let Err(e) = end {
                tracing::error!(error = %e, "savepoint could not be closed");
            }
            deliveries.push(deliver);
        }
        let commit = run_cached(&conn, "COMMIT").map_err(StoreError::from);
        if let Err(e) = &commit {
            tracing::error!(error = %e, "group commit failed; rolling back");
            let _ = conn.execute_batch("ROLLBACK");
        }
        let shared = commit.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for deliver in deliveries {
            deliver(shared.clone().map_err(StoreError::Task));
        }
    }
}
