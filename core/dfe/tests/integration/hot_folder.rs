use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecsp_dfe::hot_folder::{self, FolderEvent, HotFolderConfig, QuarantineLimits};
use ecsp_dfe::{Ingest, Ledger, ReadErrorKind, ReadOptions};
use ecsp_protocol::consent::Purpose;
use tokio::sync::{broadcast, watch};

use crate::common::*;

async fn next(events: &mut broadcast::Receiver<FolderEvent>) -> FolderEvent {
    tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .expect("an event within 20 s")
        .unwrap()
}

/// The folder watched in the background: its events, the switch that stops it, and the task.
fn watch_folder(
    ingest: Ingest,
    config: HotFolderConfig,
) -> (
    broadcast::Receiver<FolderEvent>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (events_tx, events) = broadcast::channel(64);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(hot_folder::run(ingest, config, events_tx, stop_rx));
    (events, stop, task)
}

/// Everything logged, at every level, by every crate, while this binary runs.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink(logs.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .init();
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_files_are_captured_once_or_quarantined_with_their_reason() {
    let logs = capture_logs();
    let server = TestServer::start().await;
    let client = server.operator().await;
    client.grant(Purpose::JobInfo).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let folder = temp_dir_path(&work, "hot");
    let ledger = Ledger::open(&work.path().join("ledger.sqlite3")).unwrap();
    let ingest = Ingest::new(client.clone(), ledger, ReadOptions::new(server.device()));
    let config = HotFolderConfig {
        settle: Duration::from_millis(300),
        rescan: Duration::from_millis(200),
        // Four files at most (and room for the sparse 200 MB one below).
        quarantine: QuarantineLimits {
            max_files: 4,
            max_bytes: 1024 * 1024 * 1024,
        },
        ..HotFolderConfig::new(&folder)
    };
    let (mut events, stop, task) = watch_folder(ingest, config);

    // A ticket: captured, moved to done/, on the server with its job part.
    let ticket = data("digital-printing-combined.jdf");
    std::fs::write(folder.join("job.jdf"), &ticket).unwrap();
    let FolderEvent::Captured {
        file,
        record_ids,
        withheld,
    } = next(&mut events).await
    else {
        panic!("the ticket was not captured");
    };
    assert_eq!(
        (file.as_str(), record_ids.len(), withheld.len()),
        ("job.jdf", 1, 0)
    );
    assert!(folder.join("done/job.jdf").exists());
    assert!(!folder.join("job.jdf").exists());
    flush(&client).await;
    assert_eq!(server.stored(), vec![record_ids[0].to_string()]);
    let stored = client.record(record_ids[0]).await.unwrap();
    assert_eq!(stored.record["job"]["job_id"], "J-2024-0815");
    assert_eq!(
        stored.record["job"]["document_name"],
        "spring catalogue.pdf"
    );
    assert_eq!(
        stored.record["print_settings"]["resolution_dpi"],
        serde_json::json!([1200, 1200])
    );

    // The same bytes under another name: one record.
    std::fs::write(folder.join("again.jdf"), &ticket).unwrap();
    let FolderEvent::Duplicate {
        file,
        record_ids: same,
    } = next(&mut events).await
    else {
        panic!("the duplicate was not recognised");
    };
    assert_eq!((file.as_str(), &same), ("again.jdf", &record_ids));
    assert!(folder.join("done/again.jdf").exists());
    flush(&client).await;
    assert_eq!(server.stored().len(), 1);

    // Bad files: quarantined with the reason beside them, bytes intact, nothing captured.
    let truncated = &ticket[..ticket.len() / 2];
    let mut laughs = String::from(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE JDF [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n",
    );
    laughs.push_str("<JDF ID=\"&b;\"/>");
    let bad: [(&str, &[u8], ReadErrorKind); 3] = [
        ("cut.jdf", truncated, ReadErrorKind::Malformed),
        ("lol.jdf", laughs.as_bytes(), ReadErrorKind::Refused),
        (
            "columns.csv",
            b"Name,When\nx,y\n",
            ReadErrorKind::Unsupported,
        ),
    ];
    for (name, bytes, kind) in bad {
        std::fs::write(folder.join(name), bytes).unwrap();
        let FolderEvent::Quarantined { file, reason } = next(&mut events).await else {
            panic!("{name} was not quarantined");
        };
        assert_eq!((file.as_str(), reason.kind), (name, kind));
        let kept = folder.join("quarantine").join(name);
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            bytes,
            "{name} kept as it was"
        );
        let why =
            std::fs::read_to_string(folder.join("quarantine").join(format!("{name}.reason.txt")))
                .unwrap();
        assert!(why.starts_with(&format!("{name}: ")), "{why}");
    }

    // 200 MB (sparse): refused by its size, never read.
    let big = folder.join("big.jdf");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    let FolderEvent::Quarantined { reason, .. } = next(&mut events).await else {
        panic!("the 200 MB file was not quarantined");
    };
    assert_eq!(reason.kind, ReadErrorKind::TooLarge);
    assert!(folder.join("quarantine/big.jdf").exists());

    // A job log whose second row makes an invalid upload (a 300-character job name): all or
    // none, so the first row is not captured either.
    let log = format!(
        "{}1003,{}.pdf,eve,2024-05-02,11:00:00,Printed,1,1,A4,Plain,No,CMYK,1,0,,,Fiery-01,FS500\n",
        String::from_utf8(data("fiery-job-log.csv")).unwrap(),
        "x".repeat(300)
    );
    std::fs::write(folder.join("half.csv"), &log).unwrap();
    let FolderEvent::Quarantined { reason, .. } = next(&mut events).await else {
        panic!("the job log with a bad row was not quarantined");
    };
    assert_eq!(reason.kind, ReadErrorKind::Invalid);
    assert!(reason.message.contains("document_name"), "{reason}");

    // The fifth quarantined file passes the cap of four: the oldest goes, and the app is told.
    let FolderEvent::QuarantinePruned {
        files,
        bytes,
        limits,
    } = next(&mut events).await
    else {
        panic!("the quarantine was not capped");
    };
    assert_eq!(files, ["cut.jdf"]);
    assert_eq!(limits.max_files, 4);
    let cut_reason = "cut.jdf: ".len() as u64;
    assert!(bytes > truncated.len() as u64 + cut_reason, "{bytes}");
    assert!(!folder.join("quarantine/cut.jdf").exists());
    assert!(!folder.join("quarantine/cut.jdf.reason.txt").exists());
    let listed = hot_folder::quarantined(&folder).unwrap();
    let names: Vec<&str> = listed.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["big.jdf", "columns.csv", "half.csv", "lol.jdf"]);
    flush(&client).await;
    assert_eq!(
        server.stored().len(),
        1,
        "nothing of a bad file was uploaded"
    );

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    // Names of people and documents were read, uploaded and shown, never logged.
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("DFE file captured"), "the log was captured");
    assert!(
        logs.contains("quarantine full: the oldest quarantined files were deleted"),
        "the pruning was logged"
    );
    for personal in [
        "Alice",
        "spring catalogue",
        "Bob Buyer",
        "alice",
        "brochure.pdf",
        "xxxxxxxxxx",
    ] {
        assert!(!logs.contains(personal), "`{personal}` in the logs");
    }
}

/// The real CIP4 tickets and messages, dropped into the folder together, each end as reading
/// it says: captured into `done/` with a record per ticket, job and device state, or quarantined
/// with the reader's reason; and the server stores each record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_cip4_files_dropped_together_end_as_their_reading_says() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    client.grant(Purpose::JobInfo).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let folder = temp_dir_path(&work, "hot");
    let files = cip4_files();
    assert!(files.len() >= 10, "the CIP4 samples are there");
    for (name, bytes) in &files {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let options = ReadOptions::new(server.device());
    let ledger = Ledger::open(&work.path().join("ledger.sqlite3")).unwrap();
    let ingest = Ingest::new(client.clone(), ledger, options.clone());
    let config = HotFolderConfig {
        settle: Duration::from_millis(300),
        rescan: Duration::from_millis(100),
        ..HotFolderConfig::new(&folder)
    };
    let (mut events, stop, task) = watch_folder(ingest, config);

    let mut ended = std::collections::BTreeMap::new();
    let mut sent = Vec::new();
    for _ in 0..files.len() {
        match next(&mut events).await {
            FolderEvent::Captured {
                file, record_ids, ..
            } => {
                ended.insert(file, Ok(record_ids.len()));
                sent.extend(record_ids);
            }
            FolderEvent::Quarantined { file, reason } => {
                ended.insert(file, Err(reason.kind));
            }
            other => panic!("{other:?}"),
        }
    }
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    for (name, bytes) in &files {
        let expected = ecsp_dfe::read_all(name, bytes, &options)
            .map(|reading| reading.captures.len() + reading.device_states.len())
            .map_err(|e| e.kind);
        assert_eq!(ended.get(name), Some(&expected), "{name}");
        let moved_to = if expected.is_ok() {
            "done"
        } else {
            "quarantine"
        };
        assert!(
            folder.join(moved_to).join(name).exists(),
            "{name} in {moved_to}/"
        );
    }
    assert!(sent.len() >= 5, "the real files make records: {ended:?}");
    flush(&client).await;
    let mut stored = server.stored();
    stored.sort();
    let mut expected: Vec<String> = sent.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(stored, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_written_waits_until_it_settles() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let work = tempfile::tempdir().unwrap();
    let folder = temp_dir_path(&work, "hot");
    let ingest = Ingest::new(
        client.clone(),
        Ledger::in_memory().unwrap(),
        ReadOptions::new(server.device()),
    );
    let config = HotFolderConfig {
        settle: Duration::from_millis(800),
        rescan: Duration::from_millis(100),
        ..HotFolderConfig::new(&folder)
    };
    let (mut events, stop, task) = watch_folder(ingest, config);

    // Written in two halves 300 ms apart: the first half alone would be a truncated ticket.
    let ticket = data("digital-printing-combined.jdf");
    let (head, tail) = ticket.split_at(ticket.len() / 2);
    let path = folder.join("slow.jdf");
    std::fs::write(&path, head).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(tail)
        .unwrap();
    let event = next(&mut events).await;
    assert!(matches!(event, FolderEvent::Captured { .. }), "{event:?}");

    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_found_together_are_captured_together_each_once_across_restarts() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let work = tempfile::tempdir().unwrap();
    let folder = temp_dir_path(&work, "hot");
    std::fs::create_dir_all(&folder).unwrap();
    let ledger_path = work.path().join("ledger.sqlite3");
    let ticket = String::from_utf8(data("digital-printing-combined.jdf")).unwrap();
    let job = |i: usize| ticket.replace("J-2024-0815", &format!("J-TOGETHER-{i}"));
    // Found by one scan: five tickets, the same new ticket twice, and a truncated one.
    for i in 0..5 {
        std::fs::write(folder.join(format!("t{i}.jdf")), job(i)).unwrap();
    }
    std::fs::write(folder.join("twice-a.jdf"), job(9)).unwrap();
    std::fs::write(folder.join("twice-b.jdf"), job(9)).unwrap();
    std::fs::write(folder.join("cut.jdf"), &ticket[..ticket.len() / 2]).unwrap();
    let watch_with = |ledger: Ledger| {
        let ingest = Ingest::new(client.clone(), ledger, ReadOptions::new(server.device()));
        let config = HotFolderConfig {
            settle: Duration::from_millis(300),
            rescan: Duration::from_millis(100),
            ..HotFolderConfig::new(&folder)
        };
        watch_folder(ingest, config)
    };
    let (mut events, stop, task) = watch_with(Ledger::open(&ledger_path).unwrap());
    let mut captured = std::collections::BTreeMap::new();
    let mut duplicates = Vec::new();
    let mut quarantined = Vec::new();
    for _ in 0..8 {
        match next(&mut events).await {
            FolderEvent::Captured {
                file, record_ids, ..
            } => {
                assert_eq!(record_ids.len(), 1, "{file}");
                captured.insert(file, record_ids);
            }
            FolderEvent::Duplicate { file, record_ids } => duplicates.push((file, record_ids)),
            FolderEvent::Quarantined { file, reason } => {
                assert_eq!(reason.kind, ReadErrorKind::Malformed);
                quarantined.push(file);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(quarantined, ["cut.jdf"]);
    assert_eq!(captured.len(), 6, "{captured:?}");
    // The same bytes twice in one go: one capture, the other file its duplicate.
    assert_eq!(duplicates.len(), 1);
    let (dup_file, dup_ids) = &duplicates[0];
    let twin = if dup_file == "twice-a.jdf" {
        "twice-b.jdf"
    } else {
        "twice-a.jdf"
    };
    assert_eq!(captured.get(twin), Some(dup_ids));
    for name in ["t0.jdf", "t4.jdf", "twice-a.jdf", "twice-b.jdf"] {
        assert!(folder.join("done").join(name).exists(), "{name}");
    }
    assert!(folder.join("quarantine/cut.jdf").exists());
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    // After a restart, a file with content captured before is a duplicate, not a new record.
    std::fs::write(folder.join("t2 again.jdf"), job(2)).unwrap();
    let (mut events, stop, task) = watch_with(Ledger::open(&ledger_path).unwrap());
    let FolderEvent::Duplicate { file, record_ids } = next(&mut events).await else {
        panic!("the ticket seen before was captured again");
    };
    assert_eq!(file, "t2 again.jdf");
    assert_eq!(captured.get("t2.jdf"), Some(&record_ids));
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    flush(&client).await;
    let mut stored = server.stored();
    stored.sort();
    let mut expected: Vec<String> = captured.values().map(|ids| ids[0].to_string()).collect();
    expected.sort();
    assert_eq!(stored, expected, "six records, each once");
}
