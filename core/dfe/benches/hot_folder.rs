//! 1,000 JDF tickets dropped into the hot folder at once: parsed, captured and delivered to the
//! reference server (in-process), in files per second, next to the same records captured
//! directly through the client core and delivered. Figures are printed, not asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, EcspClient};
use ecsp_dfe::hot_folder::{self, FolderEvent, HotFolderConfig};
use ecsp_dfe::{Ingest, Ledger, ReadOptions};
use ecsp_protocol::consent::Purpose;
use tokio::sync::{broadcast, watch};

const FILES: usize = 1000;

fn tickets() -> Vec<Vec<u8>> {
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digital-printing-combined.jdf"),
    )
    .unwrap();
    (0..FILES)
        .map(|i| {
            template
                .replace("J-2024-0815", &format!("J-BENCH-{i:04}"))
                .into_bytes()
        })
        .collect()
}

async fn deliver(client: &EcspClient) -> u64 {
    let report = client
        .flush(FlushOptions {
            ignore_backoff: true,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(report.rejected, 0);
    report.sent
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("server"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = ecsp_server_mock::start(config).await.unwrap();
    let demo = server.demo.clone().unwrap();
    let user = demo
        .users
        .iter()
        .find(|u| u.email.starts_with("operator"))
        .unwrap();
    let device = demo.devices[0].device_id;
    let client = EcspClient::open(
        &ClientConfig {
            server: format!("https://localhost:{}", server.addr.port()),
            ca_pem: Some(server.ca_pem.clone().unwrap().into_bytes()),
            data_dir: dir.path().join("client"),
            ..ClientConfig::default()
        },
        Arc::new(MemorySecretStore::default()),
    )
    .unwrap();
    client.login(&user.email, &user.password).await.unwrap();
    client.grant(Purpose::JobInfo).await.unwrap();
    deliver(&client).await; // the consent decision, so the figures count records only
    let files = tickets();
    let options = ReadOptions::new(device);

    // Parsing alone.
    let started = Instant::now();
    let captures: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            ecsp_dfe::read(&format!("{i}.jdf"), f, &options)
                .unwrap()
                .remove(0)
        })
        .collect();
    let parse = started.elapsed();

    // The same records captured directly through the core, then delivered.
    let started = Instant::now();
    for c in captures {
        client.capture_dfe(c).await.unwrap();
    }
    let captured_direct = started.elapsed();
    let sent = deliver(&client).await;
    let direct = started.elapsed();
    assert_eq!(sent, FILES as u64);

    // The hot folder: every file renamed in at once, read once settled, captured, delivered.
    let settle = Duration::from_millis(200);
    let staging = dir.path().join("staging");
    let folder = dir.path().join("hot");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::create_dir_all(&folder).unwrap();
    for (i, f) in files.iter().enumerate() {
        std::fs::write(staging.join(format!("ticket-{i:04}.jdf")), f).unwrap();
    }
    let ingest = Ingest::new(
        client.clone(),
        Ledger::open(&dir.path().join("ledger.sqlite3")).unwrap(),
        options,
    );
    let (events_tx, mut events) = broadcast::channel(FILES * 2);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(hot_folder::run(
        ingest,
        HotFolderConfig {
            settle,
            rescan: Duration::from_millis(100),
            ..HotFolderConfig::new(&folder)
        },
        events_tx,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for i in 0..FILES {
        let name = format!("ticket-{i:04}.jdf");
        std::fs::rename(staging.join(&name), folder.join(&name)).unwrap();
    }
    let mut captured = 0;
    while captured < FILES {
        match events.recv().await.unwrap() {
            FolderEvent::Captured { .. } => captured += 1,
            other => panic!("{other:?}"),
        }
    }
    let captured_folder = started.elapsed();
    let sent = deliver(&client).await;
    let folder_total = started.elapsed();
    assert_eq!(sent, FILES as u64);
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();
    server.shutdown().await.unwrap();

    let rate = |d: Duration| FILES as f64 / d.as_secs_f64();
    println!("{FILES} JDF tickets ({} bytes each)", files[0].len());
    println!(
        "  parse only:                        {:>8.0} files/s",
        rate(parse)
    );
    println!(
        "  direct through the core:  captured {:>8.0} files/s, captured + delivered {:>6.0} files/s ({:.2} s)",
        rate(captured_direct),
        rate(direct),
        direct.as_secs_f64()
    );
    println!(
        "  hot folder (settle {} ms): captured {:>8.0} files/s, captured + delivered {:>6.0} files/s ({:.2} s)",
        settle.as_millis(),
        rate(captured_folder),
        rate(folder_total),
        folder_total.as_secs_f64()
    );
    // Issue 32's aim: the folder path at ≥ 0.7 of the direct one, both captured + delivered.
    let ratio = direct.as_secs_f64() / folder_total.as_secs_f64();
    println!(
        "  ratio hot folder/direct:           {ratio:>8.2} (target ≥ 0.7: {})",
        if ratio >= 0.7 { "met" } else { "NOT met" }
    );
}
