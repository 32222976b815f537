//! SQLite storage: one database file in WAL mode, migrated on start, written by a single
//! writer thread that commits in groups, and read through a pool of read-only connections.
//!
//! Why one writer: SQLite allows one writer at a time anyway; funnelling every write through one
//! thread removes `SQLITE_BUSY` and lets concurrent requests share one `fsync` (group commit).
//! Each request's writes run inside their own SAVEPOINT, so a refused request rolls back alone
//! and never leaves a partial write; its answer is delivered only after the COMMIT is durable.
//!
//! Durability is made by a second thread, not inside COMMIT: the writer commits with
//! `synchronous=NORMAL` (SQLite appends to the write-ahead log without waiting for the disk) and
//! hands the group's answers to the sync thread, which `fdatasync`s the log and only then
//! delivers them. Meanwhile the writer already runs the requests that arrive, in a transaction
//! it keeps open until that sync ends and then commits as the next group (`writer_loop`), so the
//! disk wait (most of a commit's time in the ingest benchmark's writer profile) overlaps with
//! work instead of stalling it, and each sync covers one commit of every request that arrived
//! during the sync before. An answer still means exactly what `synchronous=FULL` means: the
//! log holding the request was on disk first. Checkpoints
//! (log into database file) run on a third thread with `synchronous=FULL`, and the writer
//! finishes each between two transactions so that the log starts over (`checkpoint_loop`);
//! either way SQLite syncs the log before copying and the database file after. One difference: a
//! committed group is visible to readers for the few milliseconds before its sync, so a crash
//! in that window can lose a row someone already read (never one whose upload was answered).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::sqlite_schema as schema;
use crate::sql;

/// Most requests' writes committed together in one transaction.
const MAX_GROUP: usize = 256;

type Delivery = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type Job = Box<dyn FnOnce(&sql::Connection) -> (bool, Delivery) + Send>;

/// Where the writer thread's time goes (wall clock), for the ingest benchmark's profile: a CPU
/// profile cannot show the time spent waiting for `fsync`.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed (each holding one or more requests).
    pub groups: AtomicU64,
    /// Requests run.
    pub jobs: AtomicU64,
    /// Nanoseconds spent running requests' statements (savepoints included).
    pub jobs_ns: AtomicU64,
    /// Nanoseconds spent in BEGIN and COMMIT (appending to the write-ahead log, no disk wait).
    pub commit_ns: AtomicU64,
    /// `fdatasync`s of the log by the sync thread, and the nanoseconds they took.
    pub syncs: AtomicU64,
    pub sync_ns: AtomicU64,
    /// Checkpoints run by the checkpoint thread, and the nanoseconds they took.
    pub checkpoints: AtomicU64,
    pub checkpoint_ns: AtomicU64,
    /// The writer's part of them (`finish_checkpoint`, between two transactions), and the
    /// nanoseconds it took: time no request's statements ran.
    pub finished_checkpoints: AtomicU64,
    pub finish_ns: AtomicU64,
    /// Writes answered, and the nanoseconds from handing each to the writer to its caller
    /// resuming with the answer (queue, statements, commit, sync, and the wake-up).
    pub answered: AtomicU64,
    pub answer_ns: AtomicU64,
    /// Of those nanoseconds: until the writer began the request's statements (the channel, the
    /// writer's wake-up and the group before), and until the answer was sent (durable).
    pub queued_ns: AtomicU64,
    pub durable_ns: AtomicU64,
}

impl WriterStats {
    fn add(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Handle to the SQLite storage; cheap to clone.
#[derive(Clone)]
pub struct SqliteDatabase {
    writes: mpsc::Sender<Job>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    stats: Arc<WriterStats>,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("path", &self.path)
            .finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    // Each request's writes run in a SAVEPOINT, whose statement journal would otherwise be a
    // temporary file; sorts and other temporary tables too. Kept in memory.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl SqliteDatabase {
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
        // Checkpoints run on their own thread (see `checkpoint_loop`), not inside a commit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        // From here on the sync thread makes commits durable (see the module documentation).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let wal_path = PathBuf::from(format!("{}-wal", path.display()));

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                configure(c)?;
                c.pragma_update(None, "query_only", true)
            });
        let readers = r2d2::Pool::builder().max_size(8).build(manager)?;

        let stats = Arc::new(WriterStats::default());
        // Raised by the checkpoint thread, acted on by the writer (see `checkpoint_loop`).
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let writer_restart = restart_wanted.clone();
        let checkpointer = Connection::open(path)?;
        configure(&checkpointer)?;
        checkpointer.pragma_update(None, "synchronous", "FULL")?;
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let (to_sync, synced) = std::sync::mpsc::channel::<Vec<Delivery>>();
        let writer_stats = stats.clone();
        let syncing = Arc::new(SyncInFlight::default());
        let writer_syncing = syncing.clone();
        let writer = std::thread::Builder::new()
            .name("ecsp-db-writer".into())
            .spawn(move || {
                writer_loop(
                    conn,
                    rx,
                    &to_sync,
                    &writer_stats,
                    &writer_restart,
                    &writer_syncing,
                )
            })
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let sync_stats = stats.clone();
        let writer_thread = writer.thread().clone();
        std::thread::Builder::new()
            .name("ecsp-db-sync".into())
            .spawn(move || {
                // Whatever ends this thread, the writer must not go on waiting for it.
                let _release = SyncReleased(&syncing, &writer_thread);
                sync_loop(&wal_path, &synced, &sync_stats, &syncing, &writer_thread)
            })
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let alive = Arc::downgrade(&stats);
        std::thread::Builder::new()
            .name("ecsp-db-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, alive, restart_wanted))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(Self {
            writes: tx,
            readers,
            path: path.to_owned(),
            stats,
        })
    }

    /// The writer thread's time so far.
    pub fn writer_stats(&self) -> &WriterStats {
        &self.stats
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the writer's transaction; resolves once its changes are durably committed.
    /// If `f` fails, its changes are rolled back and nothing of them is stored.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let handed = Instant::now();
        let (done_tx, done_rx) = oneshot::channel::<Result<T, E>>();
        let stats = Arc::clone(&self.stats);
        let job: Job = Box::new(move |conn| {
            WriterStats::add(&stats.queued_ns, handed);
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
                WriterStats::add(&stats.durable_ns, handed);
                let _ = done_tx.send(out);
            });
            (ok, deliver)
        });
        self.writes
            .send(job)
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?;
        let answer = done_rx
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?;
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        WriterStats::add(&self.stats.answer_ns, handed);
        answer
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = sql::Connection::SqlitePooled(pool.get().map_err(StoreError::from)?);
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

/// How often the checkpoint thread copies the write-ahead log into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed pages from the WAL into the database file, off the writer thread, and has
/// the writer let the WAL start over from its beginning.
///
/// With SQLite's automatic checkpoint, the commit that crosses 1000 WAL pages also writes them
/// back and fsyncs the database file: at a few thousand uploads a second that is several times a
/// second, each time holding up every request in that commit. A PASSIVE checkpoint on another
/// connection does the same work without blocking the writer (durability is the WAL's, which is
/// fsynced at every commit either way).
///
/// But a PASSIVE checkpoint copies only the frames logged when it began, and under steady
/// writes more have always been logged by its end: the log was never wholly copied, SQLite
/// never went back to its start, and it grew without bound (351 MB after 20 s of the ingest
/// benchmark), every `fdatasync` extending the file (on ext4 1.5–6 times the CPU of one that
/// overwrites, measured for 8–128 KiB: a journal commit for the new size and its blocks). So after each pass this
/// thread raises `restart_wanted`, and the writer, between two transactions, copies the few
/// frames logged meanwhile itself (`finish_checkpoint`); nothing is appending then, so the log
/// is wholly copied and the writer's next transaction reuses it from its start. (A RESTART
/// checkpoint from this thread instead needs the write lock, which a busy writer almost never
/// leaves free: tried, the log still grew to half of all that was written.) Ends when the last
/// `Database` handle is dropped.
fn checkpoint_loop(conn: Connection, alive: Weak<WriterStats>, restart_wanted: Arc<AtomicBool>) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(stats) = alive.upgrade() else {
            return;
        };
        let started = Instant::now();
        // Passes until what is left for the writer is short: each copies what was logged
        // during the one before, a shrinking remainder. With one pass the writer stalled
        // 4.6–8.6 ms four times a second copying the rest, every request waiting on it; with
        // these, 1.0–3.1 ms (ingest benchmark, writer's `finish_ns`).
        let mut logged_any = false;
        let mut copied_before = 0;
        for _ in 0..CHECKPOINT_PASSES {
            let result: rusqlite::Result<(i64, i64, i64)> =
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                });
            match result {
                // A pass copies what was logged when it began; what it copied beyond the pass
                // before was logged meanwhile, and so about what the next would leave.
                Ok((_, log_frames, copied)) if log_frames > 0 => {
                    logged_any = true;
                    let fresh = copied - copied_before;
                    copied_before = copied;
                    if copied_before > 0 && fresh <= WRITER_REMAINDER_FRAMES {
                        break;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                    break;
                }
            }
        }
        if logged_any {
            restart_wanted.store(true, Ordering::Release);
            stats.checkpoints.fetch_add(1, Ordering::Relaxed);
            WriterStats::add(&stats.checkpoint_ns, started);
        }
    }
}

/// Most passes the checkpoint thread makes before leaving the rest to the writer.
const CHECKPOINT_PASSES: usize = 6;
/// Frames (pages) left in the log that are few enough for the writer to copy itself.
const WRITER_REMAINDER_FRAMES: i64 = 64;

/// On the writer, between transactions: copies what the checkpoint thread's last pass left in
/// the log, so that the next transaction starts the log over (see `checkpoint_loop`). A reader
/// still using the log keeps it from starting over; that is tried again after the next pass.
fn finish_checkpoint(conn: &Connection, restart_wanted: &AtomicBool, stats: &WriterStats) {
    if !restart_wanted.swap(false, Ordering::AcqRel) {
        return;
    }
    let started = Instant::now();
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint on the writer failed; will retry");
    }
    stats.finished_checkpoints.fetch_add(1, Ordering::Relaxed);
    WriterStats::add(&stats.finish_ns, started);
}

/// Whether the sync thread is syncing a group the writer handed it. While it is, the writer
/// keeps its transaction open and adds the requests that arrive to it (see `writer_loop`).
#[derive(Debug, Default)]
struct SyncInFlight(AtomicBool);

impl SyncInFlight {
    fn begin(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn busy(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// No sync in flight any more (the writer, when no sync thread is left to take a group).
    fn clear(&self) {
        self.0.store(false, Ordering::Release);
    }

    fn release(&self, writer: &std::thread::Thread) {
        self.clear();
        writer.unpark();
    }
}

/// Releases the writer when the sync thread ends, however it ends.
struct SyncReleased<'a>(&'a SyncInFlight, &'a std::thread::Thread);

impl Drop for SyncReleased<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// How long the writer, its transaction open while a sync is in flight, sleeps between looks
/// for new requests; the sync thread wakes it at once when the sync ends.
///
/// Polling on purpose: a writer asleep on its queue is woken by every request that arrives (a
/// futex wake and a context switch each), while one that looks every 100 µs takes them in
/// batches and no sender wakes it. Tried: the writer asleep on its queue, the sync thread's word
/// sent through it. Answers came 0.25 ms sooner, but each upload cost more CPU (CPU-cost ratio
/// to the health baseline 0.35 against 0.38–0.39 for this, alternating runs) and the throughput
/// ratio was no better (medians 0.30–0.32 against 0.33).
const GATHER_POLL: Duration = Duration::from_micros(100);

/// Makes committed groups durable, then answers them: waits for the first group, takes every
/// group committed meanwhile, `fdatasync`s the write-ahead log once for all of them, and
/// delivers their answers (or the sync's failure, which leaves their fate unknown: clients retry,
/// and record and decision ids make a retry harmless). Ends when the writer does.
fn sync_loop(
    wal_path: &Path,
    committed: &std::sync::mpsc::Receiver<Vec<Delivery>>,
    stats: &WriterStats,
    syncing: &SyncInFlight,
    writer: &std::thread::Thread,
) {
    let mut wal: Option<std::fs::File> = None;
    while let Ok(mut groups) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            groups.extend(more);
        }
        let started = Instant::now();
        let file = match wal.take() {
            Some(f) => Ok(f),
            None => std::fs::File::open(wal_path),
        };
        let synced = file.and_then(|f| {
            let result = f.sync_data();
            wal = Some(f);
            result
        });
        stats.syncs.fetch_add(1, Ordering::Relaxed);
        WriterStats::add(&stats.sync_ns, started);
        // The writer commits what it gathered meanwhile while these answers go out.
        syncing.release(writer);
        let outcome = synced.map_err(|e| {
            tracing::error!(error = %e, "could not sync the write-ahead log");
            format!("could not sync the write-ahead log: {e}")
        });
        for deliver in groups {
            deliver(outcome.clone().map_err(StoreError::Task));
        }
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    to_sync: &std::sync::mpsc::Sender<Vec<Delivery>>,
    stats: &WriterStats,
    restart_wanted: &AtomicBool,
    syncing: &SyncInFlight,
) {
    // Requests get the connection as the store's; the writer's own statements run on it directly.
    let store_conn = sql::Connection::Sqlite(conn);
    let Some(conn) = store_conn.sqlite() else {
        return;
    };
    while let Some(first) = rx.blocking_recv() {
        finish_checkpoint(conn, restart_wanted, stats);
        let begun = Instant::now();
        if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "could not begin a write transaction");
            // Dropping a job that never ran drops its answer channel: its caller gets an error.
            drop(first);
            continue;
        }
        WriterStats::add(&stats.commit_ns, begun);
        let mut deliveries = Vec::new();
        run_job(&store_conn, first, &mut deliveries, stats);
        while deliveries.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => run_job(&store_conn, job, &mut deliveries, stats),
                // While the group before is still being synced, nothing committed now could be
                // answered sooner: the transaction stays open and takes what arrives, so one
                // commit writes the pages its requests share (the tail pages of the records and
                // audit tables and of their indexes) once, not once per commit.
                Err(mpsc::error::TryRecvError::Empty) if syncing.busy() => {
                    std::thread::park_timeout(GATHER_POLL);
                }
                Err(_) => break,
            }
        }
        stats.groups.fetch_add(1, Ordering::Relaxed);
        stats
            .jobs
            .fetch_add(deliveries.len() as u64, Ordering::Relaxed);
        let committing = Instant::now();
        let commit = run_cached(conn, "COMMIT").map_err(StoreError::from);
        WriterStats::add(&stats.commit_ns, committing);
        match commit {
            Ok(()) => {
                syncing.begin();
                // Answered once the log is on disk; if the sync thread is gone, nobody can be.
                if let Err(unsent) = to_sync.send(deliveries) {
                    syncing.clear();
                    for deliver in unsent.0 {
                        deliver(Err(StoreError::WriterStopped));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed; rolling back");
                let _ = conn.execute_batch("ROLLBACK");
                let message = e.to_string();
                for deliver in deliveries {
                    deliver(Err(StoreError::Task(message.clone())));
                }
            }
        }
    }
}

/// Runs one request's writes in its own savepoint inside the open transaction: if they fail,
/// only they are rolled back.
fn run_job(
    store_conn: &sql::Connection,
    job: Job,
    deliveries: &mut Vec<Delivery>,
    stats: &WriterStats,
) {
    let Some(conn) = store_conn.sqlite() else {
        return;
    };
    let running = Instant::now();
    if let Err(e) = run_cached(conn, "SAVEPOINT request") {
        tracing::error!(error = %e, "could not open a savepoint; request refused");
        return;
    }
    let (ok, deliver) = job(store_conn);
    let end = if ok {
        run_cached(conn, "RELEASE request")
    } else {
        run_cached(conn, "ROLLBACK TO request").and_then(|()| run_cached(conn, "RELEASE request"))
    };
    if let Err(e) = end {
        tracing::error!(error = %e, "savepoint could not be closed");
    }
    deliveries.push(deliver);
    WriterStats::add(&stats.jobs_ns, running);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under writes that never pause, the log is still copied out whole and started over: it
    /// stays a fraction of what was written through it (before, it held every frame ever
    /// written: a PASSIVE checkpoint never catches up with a writer that keeps appending).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_starts_over_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let db = SqliteDatabase::open(&path).unwrap();
        db.write(|c| {
            c.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
                .map_err(StoreError::from)
        })
        .await
        .unwrap();
        let deadline = Instant::now() + CHECKPOINT_EVERY * 12;
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move {
                    let mut bytes = 0u64;
                    while Instant::now() < deadline {
                        db.write(|c| {
                            c.execute("INSERT INTO blobs (body) VALUES (zeroblob(8192))", [])
                                .map_err(StoreError::from)
                        })
                        .await
                        .unwrap();
                        bytes += 8192;
                    }
                    bytes
                })
            })
            .collect();
        let mut written = 0;
        for w in writers {
            written += w.await.unwrap();
        }
        let log = std::fs::metadata(format!("{}-wal", path.display()))
            .unwrap()
            .len();
        assert!(
            written > 8 * 1024 * 1024,
            "too little written to tell ({written} bytes)"
        );
        assert!(
            log < written / 2,
            "the log holds {log} bytes of the {written} written through it: it never started over"
        );
    }

    #[tokio::test]
    async fn a_write_is_answered_only_after_the_log_was_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("t.sqlite3")).unwrap();
        let before = db.writer_stats().syncs.load(Ordering::Relaxed);
        let writes: Vec<_> = (0..20)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |c| {
                        c.execute(
                            "INSERT INTO server_meta (key, value) VALUES (?1, 'v')",
                            [format!("k{i}")],
                        )
                        .map_err(StoreError::from)
                    })
                    .await
                })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let stats = db.writer_stats();
        let syncs = stats.syncs.load(Ordering::Relaxed) - before;
        assert!(syncs >= 1, "answered without a sync");
        assert!(syncs <= stats.groups.load(Ordering::Relaxed));
        // A refused write stores nothing and still answers.
        let refused: Result<(), StoreError> = db
            .write(|c| {
                c.execute(
                    "INSERT INTO server_meta (key, value) VALUES ('k0', 'dup')",
                    [],
                )?;
                Ok(())
            })
            .await;
        assert!(refused.is_err());
        let value: String = db
            .read(|c| {
                c.query_row("SELECT value FROM server_meta WHERE key = 'k0'", [], |r| {
                    r.get(0)
                })
                .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(value, "v");
    }
}
