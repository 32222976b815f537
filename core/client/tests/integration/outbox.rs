//! The outbox under cancellation, its housekeeping (drop, listing, secure delete) and the facts
//! a host supplies.

use std::time::Duration;

use ecsp_client::ClientConfig;
use ecsp_client::outbox::QueueState;
use ecsp_client::sync::FlushOptions;
use ecsp_protocol::common::OperatingEnvironment;
use uuid::Uuid;

use crate::common::*;

/// Accepts connections and never answers, so a request hangs mid-flight. Aborting the task
/// frees the port.
async fn black_hole(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_dropped_mid_request_puts_its_rows_back_at_once() {
    let mut s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            client
                .capture_dfe(dfe(s.device(0)))
                .await
                .unwrap()
                .record_id,
        );
    }
    s.stop().await;
    let hole = black_hole(s.addr).await;

    let flushing = {
        let client = client.clone();
        tokio::spawn(async move { client.flush(FlushOptions::default()).await })
    };
    // Wait until the flush has claimed the rows and is waiting on the server.
    tokio::time::timeout(Duration::from_secs(10), async {
        while client.queue_status().await.unwrap().in_flight < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the flush claimed its batch");
    flushing.abort();
    assert!(flushing.await.unwrap_err().is_cancelled());
    let status = client.queue_status().await.unwrap();
    assert_eq!(
        (status.in_flight, status.queued),
        (0, 5),
        "claimed rows are back in the queue as soon as the flush is gone"
    );

    // And they are delivered, once each, by the next flush.
    hole.abort();
    let _ = hole.await;
    s.restart().await;
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.sent, report.remaining), (5, 0));
    let stored = s.stored();
    for id in ids {
        assert_eq!(stored.iter().filter(|r| **r == id.to_string()).count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_rejected_records_can_be_dropped() {
    let mut s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let rejected = client
        .capture_dfe(dfe(Uuid::new_v4()))
        .await
        .unwrap()
        .record_id;
    client.flush(FlushOptions::default()).await.unwrap();
    s.stop().await;
    let queued = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;

    assert_eq!(client.drop_rejected(Some(queued)).await.unwrap(), 0);
    assert_eq!(client.drop_rejected(Some(rejected)).await.unwrap(), 1);
    let page = client.queue_list(None, 10).await.unwrap();
    let left: Vec<_> = page.items.iter().map(|i| (i.record_id, i.state)).collect();
    assert_eq!(left, vec![(queued, QueueState::Queued)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_lists_newest_first_and_says_when_it_stops_short() {
    let mut s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    s.stop().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            client
                .capture_dfe(dfe(s.device(0)))
                .await
                .unwrap()
                .record_id,
        );
    }
    let page = client.queue_list(None, 3).await.unwrap();
    let listed: Vec<_> = page.items.iter().map(|i| i.record_id).collect();
    assert_eq!(listed, vec![ids[4], ids[3], ids[2]]);
    assert!(page.truncated);
    assert_eq!(page.total, 5);
    let all = client.queue_list(None, 10).await.unwrap();
    assert!(!all.truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_body_does_not_linger_in_the_database_files() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let canary = "CANARY-7f3e9b2a-settings";
    let mut capture = dfe(s.device(0));
    capture.print_settings.preset_name = Some(canary.into());
    client.capture_dfe(capture).await.unwrap();
    let data_dir = s.config("operator").data_dir;
    let contains_canary = || {
        ["client.sqlite3", "client.sqlite3-wal"].iter().any(|f| {
            std::fs::read(data_dir.join(f))
                .map(|bytes| bytes.windows(canary.len()).any(|w| w == canary.as_bytes()))
                .unwrap_or(false)
        })
    };
    assert!(
        contains_canary(),
        "the queued body is on disk (the test can see it)"
    );
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 1);
    assert!(
        !contains_canary(),
        "the delivered body was erased, not left in free pages or the WAL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_supplies_the_environment_and_the_trust_anchors() {
    let s = TestServer::start().await;
    let environment = OperatingEnvironment {
        os_name: "Android".into(),
        os_version: "15".into(),
        architecture: Some("aarch64".into()),
        app_version: "2.1.0".into(),
        device_model: Some("Pixel 9".into()),
        locale: Some("ja-JP".into()),
    };
    // The CA comes as PEM bytes (no file), as a phone app would hold it.
    let config = ClientConfig {
        environment: Some(environment.clone()),
        ..s.config("phone")
    };
    assert!(config.ca_file.is_none() && config.ca_pem.is_some());
    let client = ecsp_client::EcspClient::open(
        &config,
        std::sync::Arc::new(ecsp_client::secrets::MemorySecretStore::default()),
    )
    .unwrap();
    let user = s.user("operator");
    client.login(&user.email, &user.password).await.unwrap();
    let id = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    client.flush(FlushOptions::default()).await.unwrap();
    let stored = client.record(id).await.unwrap();
    assert_eq!(
        stored.record["environment"],
        serde_json::to_value(&environment).unwrap()
    );
    let listed = client
        .records(s.device(0), ecsp_client::remote::RecordQuery::default())
        .await
        .unwrap();
    assert_eq!(listed[0].record_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_dfe_records_are_captured_all_or_none() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut bad = dfe(s.device(0));
    bad.software.name = "x".repeat(300);
    let e = client
        .capture_dfes(vec![dfe(s.device(0)), bad])
        .await
        .unwrap_err();
    assert_eq!(e.code, ecsp_client::ErrorCode::InvalidInput, "{e}");
    assert_eq!(client.queue_status().await.unwrap().queued, 0);

    let captured = client
        .capture_dfes(vec![dfe(s.device(0)), dfe(s.device(0))])
        .await
        .unwrap();
    assert_eq!(captured.len(), 2);
    assert_ne!(captured[0].record_id, captured[1].record_id);
    assert_eq!(client.queue_status().await.unwrap().queued, 2);
}
