//! The hot folder: a DFE (or an operator) drops tickets, JMF files and job logs into a folder;
//! each is read once it has stopped changing, captured, and moved to `done/`; a bad one is
//! moved to `quarantine/` with `NAME.reason.txt` beside it. Nothing is deleted, except that the
//! quarantine is capped ([`QuarantineLimits`]): past its size or file count the oldest
//! quarantined files go, and a [`FolderEvent::QuarantinePruned`] and a log line say so (a
//! probe filled it with 91 MB in one run).
//!
//! `notify` wakes the scan at once; a periodic scan backs it up, because events are lost on
//! network shares and while the watcher starts. A file is read only when its size and
//! modification time have not changed for `settle` — a DFE writing a large ticket over SMB
//! would otherwise be read half-written and quarantined as truncated.
//!
//! The files one scan finds settled are captured together ([`Ingest::ingest_all`]: each all or
//! none and once, but one outbox commit and one ledger commit for up to [`BATCH_FILES`] of them),
//! since two fsyncs a file were most of what the folder cost over capturing directly. A burst of
//! watcher events makes one scan.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

use crate::{Ingest, IngestError, Ingested, ReadError, ReadErrorKind};

pub const DONE: &str = "done";
pub const QUARANTINE: &str = "quarantine";
/// Beside a quarantined file: `NAME.reason.txt`.
pub const REASON_SUFFIX: &str = ".reason.txt";

/// What happened to a file; the app shows these (the file name is the user's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FolderEvent {
    Captured {
        file: String,
        record_ids: Vec<Uuid>,
        withheld: Vec<ecsp_protocol::consent::Purpose>,
    },
    Duplicate {
        file: String,
        record_ids: Vec<Uuid>,
    },
    Quarantined {
        file: String,
        reason: ReadError,
    },
    /// Could not capture now (signed out, keyring locked); the file stays and is retried.
    Deferred {
        file: String,
        code: String,
        message: String,
    },
    /// The quarantine passed its cap: these files (oldest first) and their reasons were
    /// deleted to make room.
    QuarantinePruned {
        files: Vec<String>,
        bytes: u64,
        limits: QuarantineLimits,
    },
}

/// How much a quarantine folder may hold. Past either bound the oldest quarantined files
/// (with their reasons) are deleted; the file just quarantined always stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuarantineLimits {
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for QuarantineLimits {
    /// 64 MiB and 1,000 files: weeks of a DFE's bad messages, a few of its largest tickets.
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_files: 1_000,
        }
    }
}

/// What [`prune_quarantine`] deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// The quarantined files' names, oldest first (their reason files went with them).
    pub files: Vec<String>,
    /// Bytes freed, reasons included.
    pub bytes: u64,
}

/// Deletes the oldest quarantined files in `dir` (each with its `NAME.reason.txt`) until it
/// holds at most `limits`, keeping the newest one whatever its size. Logs what it did, by
/// count (file names are the user's own and stay out of logs).
pub fn prune_quarantine(dir: &Path, limits: QuarantineLimits) -> std::io::Result<Pruned> {
    struct Entry {
        name: String,
        modified: SystemTime,
        bytes: u64,
    }
    let mut entries: HashMap<String, Entry> = HashMap::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let meta = item.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let name = item.file_name().to_string_lossy().into_owned();
        let base = name.strip_suffix(REASON_SUFFIX).unwrap_or(&name).to_owned();
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let entry = entries.entry(base.clone()).or_insert(Entry {
            name: base,
            modified,
            bytes: 0,
        });
        entry.bytes += meta.len();
        entry.modified = entry.modified.max(modified);
    }
    let mut entries: Vec<Entry> = entries.into_values().collect();
    entries.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));
    let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
    let mut count = entries.len();
    let mut pruned = Pruned::default();
    for entry in &entries[..entries.len().saturating_sub(1)] {
        if total <= limits.max_bytes && count <= limits.max_files {
            break;
        }
        for path in [
            dir.join(&entry.name),
            dir.join(format!("{}{REASON_SUFFIX}", entry.name)),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        total -= entry.bytes;
        count -= 1;
        pruned.files.push(entry.name.clone());
        pruned.bytes += entry.bytes;
    }
    if !pruned.files.is_empty() {
        tracing::warn!(
            removed = pruned.files.len(),
            bytes = pruned.bytes,
            max_files = limits.max_files,
            max_bytes = limits.max_bytes,
            "quarantine full: the oldest quarantined files were deleted"
        );
    }
    Ok(pruned)
}

#[derive(Debug, Clone)]
pub struct HotFolderConfig {
    pub folder: PathBuf,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
    /// The backup scan interval.
    pub rescan: Duration,
    /// How long a deferred file waits before it is tried again.
    pub retry: Duration,
    /// The cap on `quarantine/`.
    pub quarantine: QuarantineLimits,
}

impl HotFolderConfig {
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
            settle: Duration::from_secs(2),
            rescan: Duration::from_secs(5),
            retry: Duration::from_secs(30),
            quarantine: QuarantineLimits::default(),
        }
    }
}

/// A quarantined file and why, as its reason file says: the reason's code (its `kind:` line;
/// `None` for a reason file that has none) and the parser's words (where in the file, what was
/// expected), for an application to say the reason in its own language with the detail beside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedFile {
    pub file: String,
    pub kind: Option<ReadErrorKind>,
    /// The parser's message without the file name (shown apart) and the code.
    pub detail: String,
}

impl QuarantinedFile {
    /// Reads a reason file's text (`FILE: WHERE: MESSAGE` then `kind: CODE`).
    pub fn from_reason(file: &str, reason: &str) -> Self {
        let mut kind = None;
        let mut lines = Vec::new();
        for line in reason.lines() {
            match line.strip_prefix("kind: ").map(ReadErrorKind::parse) {
                Some(Some(k)) => kind = Some(k),
                _ => lines.push(line),
            }
        }
        let detail = lines.join("\n");
        let detail = detail
            .strip_prefix(file)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(&detail)
            .trim()
            .to_owned();
        Self {
            file: file.to_owned(),
            kind,
            detail,
        }
    }
}

/// The quarantined files of `folder` with their reasons' codes and details, by file name.
pub fn quarantined_files(folder: &Path) -> std::io::Result<Vec<QuarantinedFile>> {
    Ok(quarantined(folder)?
        .into_iter()
        .map(|(file, reason)| QuarantinedFile::from_reason(&file, &reason))
        .collect())
}

/// What a quarantined file's reason file says, for the app to list at start.
pub fn quarantined(folder: &Path) -> std::io::Result<Vec<(String, String)>> {
    let dir = folder.join(QUARANTINE);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if let Some(file) = name.strip_suffix(REASON_SUFFIX) {
            let reason = std::fs::read_to_string(dir.join(&name))?;
            out.push((file.to_owned(), reason.trim_end().to_owned()));
        }
    }
    out.sort();
    Ok(out)
}

struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    since: Instant,
    deferred_until: Option<Instant>,
}

/// Watches `config.folder` until `stop` turns true; reports every file on `events`.
pub async fn run(
    ingest: Ingest,
    config: HotFolderConfig,
    events: broadcast::Sender<FolderEvent>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let folder = config.folder.clone();
    std::fs::create_dir_all(folder.join(DONE))?;
    std::fs::create_dir_all(folder.join(QUARANTINE))?;
    let (wake_tx, mut wake) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = wake_tx.send(());
    })
    .map_err(std::io::Error::other)?;
    watcher
        .watch(&folder, RecursiveMode::NonRecursive)
        .map_err(std::io::Error::other)?;
    let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
    let tick = config
        .settle
        .min(config.rescan)
        .max(Duration::from_millis(50))
        / 2;
    loop {
        scan(&ingest, &config, &events, &mut seen).await?;
        tokio::select! {
            _ = stop.changed() => {}
            _ = wake.recv() => {
                // A burst of events (a thousand files dropped at once) makes one scan, not one
                // scan each.
                while wake.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep(tick) => {}
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// Files the DFE is still writing or that are not ours to read.
fn skipped(name: &str) -> bool {
    name.starts_with('.')
        || name.starts_with('~')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".crdownload")
        || name.ends_with(REASON_SUFFIX)
}

/// At most this many settled files are captured together (one outbox commit, one ledger
/// commit), and at most this many bytes of them held in memory at once.
pub const BATCH_FILES: usize = 64;
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

async fn scan(
    ingest: &Ingest,
    config: &HotFolderConfig,
    events: &broadcast::Sender<FolderEvent>,
    seen: &mut HashMap<PathBuf, Seen>,
) -> std::io::Result<()> {
    let now = Instant::now();
    let mut present = HashSet::new();
    let mut ready = Vec::new();
    for entry in std::fs::read_dir(&config.folder)? {
        let Ok(entry) = entry else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if !meta.is_file() || skipped(&name) {
            continue;
        }
        let path = entry.path();
        present.insert(path.clone());
        let modified = meta.modified().ok();
        let state = seen.entry(path.clone()).or_insert(Seen {
            len: meta.len(),
            modified,
            since: now,
            deferred_until: None,
        });
        if state.len != meta.len() || state.modified != modified {
            state.len = meta.len();
            state.modified = modified;
            state.since = now;
            continue;
        }
        if now.duration_since(state.since) < config.settle
            || state.deferred_until.is_some_and(|t| now < t)
        {
            continue;
        }
        ready.push(Settled {
            path,
            name,
            len: meta.len(),
        });
    }
    seen.retain(|p, _| present.contains(p));
    let mut batch = Vec::new();
    let mut bytes = 0;
    for file in ready {
        if !batch.is_empty() && (batch.len() >= BATCH_FILES || bytes + file.len > BATCH_BYTES) {
            process(
                ingest,
                config,
                events,
                seen,
                std::mem::take(&mut batch),
                now,
            )
            .await;
            bytes = 0;
        }
        bytes += file.len;
        batch.push(file);
    }
    if !batch.is_empty() {
        process(ingest, config, events, seen, batch, now).await;
    }
    Ok(())
}

/// A file that has stopped changing.
struct Settled {
    path: PathBuf,
    name: String,
    len: u64,
}

/// Reads, captures (together) and moves settled files, and reports each.
async fn process(
    ingest: &Ingest,
    config: &HotFolderConfig,
    events: &broadcast::Sender<FolderEvent>,
    seen: &mut HashMap<PathBuf, Seen>,
    files: Vec<Settled>,
    now: Instant,
) {
    let limits = ingest.options().limits;
    // Per file: its bytes, or why it was not read; `None` if it vanished meanwhile.
    let mut read: Vec<Option<Result<Vec<u8>, IngestError>>> = Vec::with_capacity(files.len());
    for f in &files {
        read.push(if f.len > limits.max_file_bytes {
            // Not even read: a 200 MB file is refused by its size.
            Some(Err(IngestError::Bad(crate::too_large(
                &f.name, f.len, &limits,
            ))))
        } else {
            match std::fs::read(&f.path) {
                Ok(bytes) => Some(Ok(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => Some(Err(IngestError::Bad(ReadError::new(
                    &f.name,
                    ReadErrorKind::Malformed,
                    format!("cannot be read: {e}"),
                )))),
            }
        });
    }
    let readable: Vec<(&str, &[u8])> = files
        .iter()
        .zip(&read)
        .filter_map(|(f, r)| match r {
            Some(Ok(bytes)) => Some((f.name.as_str(), bytes.as_slice())),
            _ => None,
        })
        .collect();
    let mut ingested = ingest.ingest_all(&readable).await.into_iter();
    for (f, r) in files.iter().zip(read) {
        let result = match r {
            None => {
                seen.remove(&f.path);
                continue;
            }
            Some(Err(e)) => Err(e),
            Some(Ok(bytes)) => {
                let result = ingested
                    .next()
                    .unwrap_or_else(|| Err(crate::ingest::unanswered()));
                log(&short_hash(&bytes), &result);
                result
            }
        };
        let event = settle(config, &f.path, &f.name, result);
        let quarantined = matches!(event, FolderEvent::Quarantined { .. });
        if matches!(event, FolderEvent::Deferred { .. }) {
            if let Some(state) = seen.get_mut(&f.path) {
                state.deferred_until = Some(now + config.retry);
            }
        } else {
            seen.remove(&f.path);
        }
        let _ = events.send(event);
        if quarantined {
            match prune_quarantine(&config.folder.join(QUARANTINE), config.quarantine) {
                Ok(pruned) if !pruned.files.is_empty() => {
                    let _ = events.send(FolderEvent::QuarantinePruned {
                        files: pruned.files,
                        bytes: pruned.bytes,
                        limits: config.quarantine,
                    });
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e.kind(), "cannot prune the quarantine")
                }
            }
        }
    }
}

/// Moves a file by what became of it: to `done/`, to `quarantine/` with its reason, or
/// nowhere (deferred).
fn settle(
    config: &HotFolderConfig,
    path: &Path,
    name: &str,
    result: Result<Ingested, IngestError>,
) -> FolderEvent {
    let file = name.to_owned();
    match result {
        Ok(Ingested::Captured {
            record_ids,
            withheld,
        }) => {
            move_into(path, &config.folder.join(DONE), None);
            FolderEvent::Captured {
                file,
                record_ids,
                withheld,
            }
        }
        Ok(Ingested::Duplicate { record_ids }) => {
            move_into(path, &config.folder.join(DONE), None);
            FolderEvent::Duplicate { file, record_ids }
        }
        Err(IngestError::Bad(reason)) => {
            let text = format!(
                "{reason}\nkind: {}\n",
                IngestError::Bad(reason.clone()).kind()
            );
            move_into(path, &config.folder.join(QUARANTINE), Some(&text));
            FolderEvent::Quarantined { file, reason }
        }
        Err(IngestError::Later(e)) => FolderEvent::Deferred {
            file,
            code: e.code.as_str().to_owned(),
            message: e.message.clone(),
        },
    }
}

/// A name for logs that says nothing about the job: the first bytes of the content hash.
fn short_hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(bytes)[..6])
}

fn log(tag: &str, result: &Result<Ingested, IngestError>) {
    match result {
        Ok(Ingested::Captured { record_ids, .. }) => {
            tracing::info!(file = tag, records = record_ids.len(), "DFE file captured")
        }
        Ok(Ingested::Duplicate { .. }) => tracing::info!(file = tag, "DFE file seen before"),
        Err(e @ IngestError::Bad(_)) => {
            tracing::warn!(file = tag, kind = e.kind(), "DFE file quarantined")
        }
        Err(e @ IngestError::Later(_)) => {
            tracing::warn!(file = tag, code = e.kind(), "DFE file deferred")
        }
    }
}

/// Moves `path` into `dir` under a free name (a second `job.jdf` becomes `job (2).jdf`), and
/// writes `reason` beside it. A move that fails leaves the file where it is (and logged).
fn move_into(path: &Path, dir: &Path, reason: Option<&str>) {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let mut target = dir.join(&name);
    let mut n = 2;
    while target.exists()
        || dir
            .join(format!("{}{REASON_SUFFIX}", target_name(&target)))
            .exists()
    {
        target = dir.join(format!("{stem} ({n}){ext}"));
        n += 1;
    }
    if let Some(reason) = reason {
        let reason_path = dir.join(format!("{}{REASON_SUFFIX}", target_name(&target)));
        if let Err(e) = std::fs::write(&reason_path, reason) {
            tracing::error!(error = %e.kind(), "cannot write a quarantine reason");
        }
    }
    if let Err(e) = std::fs::rename(path, &target) {
        tracing::error!(error = %e.kind(), "cannot move a DFE file out of the hot folder");
    }
}

fn target_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("q");
        std::fs::create_dir_all(&target).unwrap();
        for i in 0..2 {
            let f = dir.path().join("job.jdf");
            std::fs::write(&f, format!("v{i}")).unwrap();
            move_into(&f, &target, Some("why"));
        }
        assert_eq!(
            std::fs::read_to_string(target.join("job.jdf")).unwrap(),
            "v0"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("job (2).jdf")).unwrap(),
            "v1"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("job (2).jdf.reason.txt")).unwrap(),
            "why"
        );
        // `quarantined` lists DIR/quarantine/; here the files sit in DIR/q/.
        let listed = quarantined(dir.path()).unwrap();
        assert!(listed.is_empty(), "{listed:?}");
        std::fs::rename(&target, dir.path().join(QUARANTINE)).unwrap();
        let listed = quarantined(dir.path()).unwrap();
        let names: Vec<&str> = listed.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["job (2).jdf", "job.jdf"]);
        assert!(listed.iter().all(|(_, why)| why == "why"));
    }

    #[test]
    fn a_reason_file_gives_its_code_and_the_parser_detail() {
        let q = QuarantinedFile::from_reason(
            "broken.jdf",
            "broken.jdf: line 3, <ResourcePool>: the XML ends inside <ResourcePool>\nkind: malformed\n",
        );
        assert_eq!(q.kind, Some(ReadErrorKind::Malformed));
        assert_eq!(
            q.detail,
            "line 3, <ResourcePool>: the XML ends inside <ResourcePool>"
        );
        // Every code reads back; a reason file without one keeps its words, with no code.
        for kind in ReadErrorKind::ALL {
            let text = format!("x.jdf: why\nkind: {}\n", kind.as_str());
            assert_eq!(
                QuarantinedFile::from_reason("x.jdf", &text).kind,
                Some(kind)
            );
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        let odd = QuarantinedFile::from_reason("x.jdf", "why\nkind: something_new");
        assert_eq!(
            (odd.kind, odd.detail.as_str()),
            (None, "why\nkind: something_new")
        );
    }

    #[test]
    fn partial_and_hidden_files_are_skipped() {
        for name in [".job.jdf", "job.jdf.part", "x.tmp", "job.jdf.reason.txt"] {
            assert!(skipped(name), "{name}");
        }
        assert!(!skipped("job.jdf"));
    }

    #[test]
    fn the_quarantine_is_pruned_oldest_first_to_its_caps() {
        let dir = tempfile::tempdir().unwrap();
        let q = dir.path();
        for (i, name) in ["a.jdf", "b.jdf", "c.jdf", "d.jdf"].iter().enumerate() {
            std::fs::write(q.join(name), vec![b'x'; 100 * (i + 1)]).unwrap();
            std::fs::write(q.join(format!("{name}{REASON_SUFFIX}")), "why").unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let none = prune_quarantine(
            q,
            QuarantineLimits {
                max_files: 4,
                max_bytes: 10_000,
            },
        )
        .unwrap();
        assert_eq!(none, Pruned::default());
        // By count: one too many.
        let pruned = prune_quarantine(
            q,
            QuarantineLimits {
                max_files: 3,
                max_bytes: 10_000,
            },
        )
        .unwrap();
        assert_eq!(pruned.files, ["a.jdf"]);
        assert_eq!(pruned.bytes, 103);
        assert!(!q.join("a.jdf").exists() && !q.join("a.jdf.reason.txt").exists());
        // By size: b (203) and c (303) go to bring 909 bytes under 500.
        let pruned = prune_quarantine(
            q,
            QuarantineLimits {
                max_files: 3,
                max_bytes: 500,
            },
        )
        .unwrap();
        assert_eq!(pruned.files, ["b.jdf", "c.jdf"]);
        // The newest stays even when it alone is over the size.
        let pruned = prune_quarantine(
            q,
            QuarantineLimits {
                max_files: 3,
                max_bytes: 10,
            },
        )
        .unwrap();
        assert!(pruned.files.is_empty());
        assert!(q.join("d.jdf").exists());
    }
}
