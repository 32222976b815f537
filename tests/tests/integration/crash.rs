//! Crash safety: `ecsp queue flush` killed with SIGKILL at random moments, over and over. At the
//! end every record accepted into the outbox is on the server exactly once and the outbox
//! database is sound. `ECSP_CRASH_ROUNDS` sets the number of kills (default 40; try 500).

use std::process::Stdio;
use std::time::Duration;

use ecsp_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_flush_at_random_loses_and_duplicates_nothing() {
    let rounds: usize = std::env::var("ECSP_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let h = Harness::start().await;
    let cli = crate::cli::Cli::new(&h, "crash");
    cli.login(&h, "operator");

    // Capture through the library into the CLI's outbox (the session is in the same keyring),
    // a batch up front and more between kills, so every kill finds work in progress.
    let config = ecsp_client::ClientConfig {
        server: h.url(),
        ca_file: Some(h.ca_file.clone()),
        data_dir: cli.data.clone(),
        ..ecsp_client::ClientConfig::default()
    };
    let capturer = ecsp_client::EcspClient::open(
        &config,
        std::sync::Arc::new(
            ecsp_client::secrets::KeyringSecretStore::new(ecsp_client::KEYRING_SERVICE).unwrap(),
        ),
    )
    .unwrap();
    let mut accepted = Vec::new();

    // How long a flush of one round's records takes uninterrupted on this machine and server, so the kills
    // are drawn within it (a fixed range went stale when the server got faster: most flushes
    // were over before the kill).
    capture(&capturer, &h, &mut accepted, 12).await;
    let timed = std::time::Instant::now();
    let flushed = tokio::task::block_in_place(|| {
        cli.command(&["queue", "flush", "--batch-size", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    });
    assert!(flushed.success(), "the timed flush failed");
    let flush_ms = (timed.elapsed().as_millis() as u64).max(20);
    // A backlog, so that every flush below has more than one round's records to send.
    capture(&capturer, &h, &mut accepted, 100).await;

    let mut killed_mid_flush = 0;
    for _ in 0..rounds {
        capture(&capturer, &h, &mut accepted, 12).await;
        let mut child = cli
            .command(&["queue", "flush", "--batch-size", "3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(kill_after_ms(flush_ms))).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_flush += 1;
        }
        child.kill().ok(); // SIGKILL on Unix
        tokio::task::block_in_place(|| child.wait().unwrap());
    }
    assert!(
        killed_mid_flush > rounds / 3,
        "the kills must land mid-flush ({killed_mid_flush} of {rounds})"
    );
    eprintln!("crash test: {rounds} SIGKILLs, {killed_mid_flush} of them mid-flush");
    let records = accepted.len();
    // The kills fell while records were moving, not all before a flush's first upload.
    let delivered_while_killed = h.stored_records().len();
    assert!(
        delivered_while_killed > 12,
        "the killed flushes delivered nothing ({delivered_while_killed} stored)"
    );
    eprintln!(
        "crash test: {delivered_while_killed} of {records} records delivered by the killed flushes"
    );

    // Finish the job without interruption.
    let out = tokio::task::block_in_place(|| {
        cli.command(&["--json", "queue", "flush"]).output().unwrap()
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let stored = h.stored_records();
    assert_eq!(
        stored.len(),
        records,
        "every accepted record is on the server"
    );
    for (id, n) in &stored {
        assert_eq!(*n, 1, "{id} stored {n} times");
        assert!(accepted.contains(id));
    }
    let local =
        rusqlite::Connection::open(ecsp_client::EcspClient::local_database(&cli.data)).unwrap();
    let check: String = local
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let pending: i64 = local
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE state != 'sent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0);
}

/// A kill delay between 20 and 400 ms: from during start-up to well into sending.
/// A random moment within a flush that takes `flush_ms` uninterrupted (from 5 % to 90 % of it).
fn kill_after_ms(flush_ms: u64) -> u64 {
    fastrand::u64(flush_ms / 20..flush_ms * 9 / 10)
}

/// Captures `n` records through the library, as the desktop application would.
async fn capture(
    capturer: &ecsp_client::EcspClient,
    h: &Harness,
    accepted: &mut Vec<String>,
    n: usize,
) {
    for _ in 0..n {
        let i = accepted.len();
        let c = if i % 3 == 0 {
            capturer
                .capture_dfe(dfe_capture(h.device(i % 2), false))
                .await
                .unwrap()
        } else {
            capturer
                .capture_measurement(measurement_capture(h.device(0), false, false))
                .await
                .unwrap()
        };
        accepted.push(c.record_id.to_string());
    }
}
