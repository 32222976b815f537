//! Backups of the server's database while the server serves, and their restore.
//!
//! SQLite: SQLite's online backup API copies the database from a read transaction of its own,
//! in one step, so the copy is the database as of one commit whatever the writer does meanwhile
//! (in WAL mode a reader blocks no writer; a copy made in several steps would start over each
//! time the writer commits, which under a steady ingest is never done). The copy is written
//! beside its destination, checked (`integrity_check`), synced and then renamed into place: a
//! backup that stops half-way leaves no file that looks whole.
//!
//! PostgreSQL: `pg_dump` in its custom format (a consistent snapshot of its own, taken while the
//! server writes), restored with `pg_restore` into an empty database.
//!
//! Neither holds the data key: it stays wherever the installation keeps it, and a restored
//! database opens only with the key it was sealed under.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{PostgresTarget, StoreError};

/// What a backup or a restore holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub records: i64,
    pub bytes: u64,
}

/// Copies the SQLite database at `database` (in use or not) into the new file `to`.
pub fn sqlite_backup(database: &Path, to: &Path) -> Result<Summary, StoreError> {
    if !database.exists() {
        return Err(StoreError::Corrupt(format!(
            "no server database at {}",
            database.display()
        )));
    }
    refuse_existing(to)?;
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(Duration::from_secs(30))?;
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let result = copy_into(&source, &partial).and_then(|()| finish(&partial, to));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Restores the SQLite backup `from` as the database `database` (which must not exist yet).
pub fn sqlite_restore(from: &Path, database: &Path) -> Result<Summary, StoreError> {
    let source = Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Not a server database (another SQLite file, or no SQLite file at all): said before
    // anything is written.
    check(&source).map_err(|e| {
        StoreError::Corrupt(format!("{} is not a server backup: {e}", from.display()))
    })?;
    refuse_existing(database)?;
    if let Some(dir) = database.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    let partial = partial_path(database);
    let _ = std::fs::remove_file(&partial);
    let result = copy_into(&source, &partial).and_then(|()| {
        // The server runs its database in WAL mode; a backup file is in rollback mode.
        let restored = Connection::open(&partial)?;
        restored.pragma_update(None, "journal_mode", "wal")?;
        drop(restored);
        finish(&partial, database)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn copy_into(source: &Connection, partial: &Path) -> Result<(), StoreError> {
    let mut copy = Connection::open(partial)?;
    {
        let backup = Backup::new(source, &mut copy)?;
        // Every page in one step: one read transaction, one commit's state (see the module
        // documentation). Busy or locked only while another process holds a write lock on
        // the source outside WAL; retried.
        for _ in 0..600 {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    // A file of its own: no WAL beside it.
    copy.pragma_update(None, "journal_mode", "delete")?;
    check(&copy)?;
    Ok(())
}

/// The database is whole and is a server database (it has the records table).
fn check(conn: &Connection) -> Result<i64, StoreError> {
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(StoreError::Corrupt(format!("integrity check: {integrity}")));
    }
    Ok(conn.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?)
}

/// Syncs the checked copy and renames it into place.
fn finish(partial: &Path, to: &Path) -> Result<Summary, StoreError> {
    let records = check(&Connection::open_with_flags(
        partial,
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?)?;
    let file = std::fs::File::open(partial).map_err(|e| io_error(partial, e))?;
    file.sync_all().map_err(|e| io_error(partial, e))?;
    let bytes = file.metadata().map_err(|e| io_error(partial, e))?.len();
    std::fs::rename(partial, to).map_err(|e| io_error(to, e))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(Summary { records, bytes })
}

/// Rebuilds the SQLite database (VACUUM: no free page keeps what was deleted or overwritten)
/// and truncates its write-ahead log (no old page image left in it), while the server may
/// serve. Returns whether the log could be truncated (readers holding it prevent that; it is
/// then truncated by a later checkpoint).
pub fn sqlite_compact(database: &Path) -> Result<bool, StoreError> {
    let conn = Connection::open(database)?;
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.execute_batch("VACUUM")?;
    for _ in 0..100 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(false)
}

/// Backs the PostgreSQL database up with `pg_dump` (custom format) into the new file `to`.
pub fn postgres_backup(target: &PostgresTarget, to: &Path) -> Result<(), StoreError> {
    refuse_existing(to)?;
    let partial = partial_path(to);
    let mut dump = pg_command(target, "pg_dump");
    dump.arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(&partial)
        .arg(target.database_name());
    let result = run(dump, "pg_dump")
        .and_then(|()| std::fs::rename(&partial, to).map_err(|e| io_error(to, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Restores a `pg_dump` backup into the empty PostgreSQL database `target`.
pub fn postgres_restore(from: &Path, target: &PostgresTarget) -> Result<(), StoreError> {
    let mut restore = pg_command(target, "pg_restore");
    restore
        .arg("--no-owner")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg("--dbname")
        .arg(target.database_name())
        .arg(from);
    run(restore, "pg_restore")
}

/// `pg_dump`/`pg_restore` for the target: connection settings in the environment (the password
/// never on a command line another user could read), TLS as the server's own connection has it.
fn pg_command(target: &PostgresTarget, tool: &str) -> Command {
    let mut command = Command::new(pg_tool(tool));
    for (name, value) in target.libpq_environment() {
        command.env(name, value);
    }
    command
}

/// Debian keeps the PostgreSQL tools of each version apart; the newest one installed, or PATH.
fn pg_tool(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|p| p.exists());
    versions.sort();
    versions.pop().unwrap_or_else(|| name.into())
}

fn run(mut command: Command, tool: &str) -> Result<(), StoreError> {
    let out = command.output().map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot run {tool} (Debian package postgresql-client): {e}"
        ))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn refuse_existing(path: &Path) -> Result<(), StoreError> {
    if path.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} exists already: nothing is overwritten (move it away, or name another file)",
            path.display()
        )));
    }
    Ok(())
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    to.with_file_name(name)
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Task(format!("{}: {e}", path.display()))
}
