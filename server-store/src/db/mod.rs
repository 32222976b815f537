//! The server's storage: one interface, two engines.
//!
//! [`Database::write`] runs a closure in a transaction and answers only once it is durably
//! committed; [`Database::read`] runs one on a read connection. The closures run the store's
//! statements ([`crate::store`]) through [`crate::sql::Connection`], the same text on both
//! engines. Which engine is chosen at start: SQLite in the data directory by default
//! ([`sqlite`], a single writer with group commit), PostgreSQL when a `postgres://` URL is given
//! ([`postgres`], a pool of sessions, one transaction per write).

pub mod backup;
pub mod copy;
pub mod postgres;
mod postgres_schema;
pub mod sqlite;
pub mod sqlite_schema;

use std::path::Path;

pub use self::postgres::PostgresTarget;
pub use self::sqlite::WriterStats;
use crate::sql;

/// Metric: time from asking for a write to its durable commit (the wait for SQLite's single
/// writer, or for a pooled PostgreSQL session, included), in seconds.
pub const WRITE_SECONDS: &str = "ecsp_db_write_seconds";
/// Metric: writes asked for and not yet committed (the write queue's depth).
pub const WRITES_PENDING: &str = "ecsp_db_writes_pending";

/// One write counted in [`WRITES_PENDING`] until dropped (answered, failed or cancelled).
struct PendingWrite;

impl PendingWrite {
    fn enter() -> Self {
        metrics::gauge!(WRITES_PENDING).increment(1.0);
        PendingWrite
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        metrics::gauge!(WRITES_PENDING).decrement(1.0);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sql::Error),
    #[error("database connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// The database cannot be reached now (answered 503 with `Retry-After`).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
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

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(sql::Error::from(e))
    }
}

impl StoreError {
    /// Nothing was committed and the same request may succeed in a moment: the database is
    /// out of reach or the writer is gone (503, never 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::WriterStopped => true,
            StoreError::Sql(e) => e.is_unavailable(),
            _ => false,
        }
    }
}

/// Handle to the storage; cheap to clone.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(sqlite::SqliteDatabase),
    Postgres(postgres::PostgresDatabase),
}

impl Database {
    /// Opens (creating if needed) and migrates a SQLite database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Database::Sqlite(sqlite::SqliteDatabase::open(path)?))
    }

    /// Connects to PostgreSQL and migrates the database (one server process at a time).
    pub async fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        Ok(Database::Postgres(
            postgres::PostgresDatabase::connect(target).await?,
        ))
    }

    pub fn engine(&self) -> sql::Engine {
        match self {
            Database::Sqlite(_) => sql::Engine::Sqlite,
            Database::Postgres(_) => sql::Engine::Postgres,
        }
    }

    /// The SQLite writer's time so far (the ingest benchmark's profile).
    pub fn writer_stats(&self) -> Option<&WriterStats> {
        match self {
            Database::Sqlite(db) => Some(db.writer_stats()),
            Database::Postgres(_) => None,
        }
    }

    /// Calls `on_notice` with each notification sent on `channel` by any server process of
    /// this database (PostgreSQL's LISTEN; see [`postgres::PostgresDatabase::listen`]). `None`
    /// on SQLite, where this process is the only one.
    pub fn listen(
        &self,
        channel: &'static str,
        on_listening: impl Fn() + Send + 'static,
        on_notice: impl Fn(&str) + Send + 'static,
    ) -> Option<postgres::Listener> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres(db) => Some(db.listen(channel, on_listening, on_notice)),
        }
    }

    /// Tells the other server processes of this database `payload` on `channel` (nothing to
    /// do on SQLite).
    pub async fn notify(&self, channel: &'static str, payload: String) -> Result<(), StoreError> {
        match self {
            Database::Sqlite(_) => Ok(()),
            Database::Postgres(db) => db.notify(channel, payload).await,
        }
    }

    /// Whether this process can serve from the database now: it answers, and its schema is the
    /// version this build writes (another server process may have migrated it further since
    /// this one started). For a load balancer's health check (`/ready`).
    pub async fn ready(&self) -> Result<(), StoreError> {
        let (sql, supported) = match self {
            Database::Sqlite(_) => ("PRAGMA user_version", sqlite_schema::CURRENT_VERSION),
            Database::Postgres(_) => (
                "SELECT version FROM ecsp_schema_version",
                postgres_schema::CURRENT_VERSION,
            ),
        };
        let found: i64 = self
            .read(move |c| c.query_row(sql, [], |r| r.get(0)).map_err(StoreError::from))
            .await?;
        let found = usize::try_from(found).unwrap_or(usize::MAX);
        match found.cmp(&supported) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(StoreError::SchemaTooNew { found, supported }),
            std::cmp::Ordering::Less => Err(StoreError::Corrupt(format!(
                "the database has schema version {found}, older than this server's {supported}"
            ))),
        }
    }

    /// Runs `f` in a transaction; resolves once its changes are durably committed. If `f`
    /// fails, its changes are rolled back and nothing of them is stored.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let _pending = PendingWrite::enter();
        let asked = std::time::Instant::now();
        let result = match self {
            Database::Sqlite(db) => db.write(f).await,
            Database::Postgres(db) => db.write(f).await,
        };
        metrics::histogram!(WRITE_SECONDS).record(asked.elapsed().as_secs_f64());
        result
    }

    /// Runs `f` on a read connection.
    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match self {
            Database::Sqlite(db) => db.read(f).await,
            Database::Postgres(db) => db.read(f).await,
        }
    }
}
