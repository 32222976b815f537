//! Capture while the server is down, then flush when it is back.

use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientEvent, ErrorCode};
use ecsp_e2e::*;

#[tokio::test]
async fn records_captured_offline_are_delivered_once_the_server_is_back() {
    let mut h = Harness::start().await;
    let client = h.client("operator", os_keyring());
    let (email, password) = h.password("operator");
    client.login(&email, &password).await.unwrap();

    h.stop().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let c = if i % 2 == 0 {
            client
                .capture_dfe(dfe_capture(h.device(i % 2), false))
                .await
                .unwrap()
        } else {
            client
                .capture_measurement(measurement_capture(h.device(0), false, false))
                .await
                .unwrap()
        };
        ids.push(c.record_id.to_string());
    }
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(report.remaining, 25);
    assert!(
        report.stopped.as_ref().map(|e| e.code) == Some(ErrorCode::Offline),
        "{:?}",
        report.stopped
    );
    let status = client.queue_status().await.unwrap();
    assert_eq!(status.queued, 25);
    // The batch that failed backs off, and says why.
    let items = client.queue_list(None, 100).await.unwrap();
    let tried: Vec<_> = items.items.iter().filter(|i| i.attempts == 1).collect();
    assert!(!tried.is_empty());
    for i in &tried {
        assert!(i.next_attempt_at.unwrap() > chrono::Utc::now());
        assert!(
            i.last_error
                .as_deref()
                .unwrap()
                .contains("cannot reach the server"),
            "{:?}",
            i.last_error
        );
    }
    assert!(status.next_attempt_at.is_some());

    h.restart().await;
    // An explicit "flush now" goes.
    let mut events = client.subscribe();
    let report = client
        .flush(FlushOptions {
            batch_size: 10,
            ignore_backoff: true,
            consents_only: false,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let ClientEvent::FlushProgress { progress } = event {
            seen.push(progress.sent);
        }
    }
    assert_eq!(report.sent, 25);
    assert_eq!(report.remaining, 0);
    // Batches of at most 10 records of one kind, the kind of the oldest waiting record first
    // (13 DFE records and 12 measurements, interleaved): 10 DFE, 10 measurements, 3 DFE, 2
    // measurements. Progress is reported after each.
    assert_eq!(seen, vec![10, 20, 23, 25]);
    let stored = h.stored_records();
    for id in &ids {
        assert!(
            stored.iter().any(|(r, n)| r == id && *n == 1),
            "{id} stored once"
        );
    }
    assert_eq!(stored.len(), 25);
    assert_eq!(client.queue_status().await.unwrap().sent, 25);
    assert_eq!(client.integrity_check().await.unwrap(), "ok");
}
