//! The client core against a server whose PostgreSQL stops mid-flush and comes back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_e2e::testing::{OwnCluster, new_database, postgres_only};
use ecsp_e2e::*;

const RECORDS: usize = 2000;

/// `n` DFE records captured into the client's outbox, alternating between `devices`; their ids.
async fn capture(
    client: &ecsp_client::EcspClient,
    devices: [uuid::Uuid; 2],
    n: usize,
) -> HashSet<String> {
    let mut captured = HashSet::new();
    for i in 0..n {
        let c = client
            .capture_dfe(dfe_capture(devices[i % 2], false))
            .await
            .unwrap();
        captured.insert(c.record_id.to_string());
    }
    captured
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_flush_loses_and_duplicates_nothing() {
    if postgres_only("postgres_stopped_mid_flush").is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let target = new_database(&cluster.admin).await;
    let h = Harness::start_with(|c| c.database = Some(target)).await;
    let client = h.client("operator", Arc::new(MemorySecretStore::default()));
    let (email, password) = h.password("operator");
    client.login(&email, &password).await.unwrap();
    let captured = capture(&client, [h.device(0), h.device(1)], RECORDS).await;

    // Small batches, so that the database stops between two of them or during one.
    let flusher = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .flush(FlushOptions {
                    batch_size: 20,
                    ..FlushOptions::default()
                })
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.count("records").await < 300 {
        assert!(Instant::now() < deadline, "the flush never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| cluster.pause());
    let first = flusher.await.unwrap().unwrap();
    assert!(
        first.stopped.is_some(),
        "the flush did not notice: {first:?}"
    );
    assert!(first.sent > 0 && first.remaining > 0, "{first:?}");
    assert_eq!(
        first.rejected, 0,
        "a lost database is no reason to give a record up"
    );

    // What the client holds as acknowledged: the records its outbox marks sent.
    let acknowledged: HashSet<String> = client
        .queue_list(Some(ecsp_client::outbox::QueueState::Sent), RECORDS as u32)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.record_id.to_string())
        .collect();
    assert_eq!(acknowledged.len() as u64, first.sent);
    assert_eq!(client.queue_status().await.unwrap().in_flight, 0);

    tokio::task::block_in_place(|| cluster.resume());
    // Every acknowledged record was committed before its answer: all are there, once.
    let stored: HashMap<String, i64> = h.stored_records().into_iter().collect();
    for id in &acknowledged {
        assert_eq!(
            stored.get(id),
            Some(&1),
            "acknowledged {id} is not stored once"
        );
    }

    // The outbox delivers the rest.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let report = client
            .flush(FlushOptions {
                ignore_backoff: true,
                ..FlushOptions::default()
            })
            .await
            .unwrap();
        assert_eq!(report.rejected, 0, "{report:?}");
        if report.remaining == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {report:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored = h.stored_records();
    assert_eq!(stored.len(), RECORDS, "every record stored");
    assert!(stored.iter().all(|(_, n)| *n == 1), "no duplicate");
    let ids: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, captured);
}

const CLUSTER_RECORDS: usize = 5000;

/// Three server nodes behind HAProxy while the client core flushes 5,000 records: each node in
/// turn is killed with SIGKILL mid-flush and started again. Nothing is lost, nothing stored
/// twice, and every stored record has its audit row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_killed_in_turn_mid_flush_lose_and_duplicate_nothing() {
    use ecsp_e2e::testing::{ProcessCluster, server_binary};
    if postgres_only("nodes_killed_in_turn_mid_flush").is_none() {
        return;
    }
    let mut cluster = ProcessCluster::start(server_binary(), 3).await;
    let seed = &cluster.seed;
    let config = ecsp_client::ClientConfig {
        server: cluster.url(),
        ca_file: Some(seed.ca_file.clone()),
        data_dir: seed.dir.path().join("clients").join("operator"),
        ..ecsp_client::ClientConfig::default()
    };
    let client =
        ecsp_client::EcspClient::open(&config, Arc::new(MemorySecretStore::default())).unwrap();
    let (email, password) = seed.password("operator");
    client.login(&email, &password).await.unwrap();
    let captured = capture(&client, [seed.device(0), seed.device(1)], CLUSTER_RECORDS).await;

    let flusher = {
        let client = client.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let report = client
                    .flush(FlushOptions {
                        batch_size: 20,
                        ignore_backoff: true,
                        ..FlushOptions::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(report.rejected, 0, "{report:?}");
                if report.remaining == 0 {
                    return;
                }
                assert!(Instant::now() < deadline, "not delivered: {report:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Kill a node each time another sixth of the records is stored, then start it again.
    for (turn, node) in [0, 1, 2, 0, 1].into_iter().enumerate() {
        let wanted = (turn as i64 + 1) * CLUSTER_RECORDS as i64 / 6;
        let deadline = Instant::now() + Duration::from_secs(120);
        while cluster.seed.count("records").await < wanted {
            assert!(
                Instant::now() < deadline,
                "the flush stalled before turn {turn}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::task::block_in_place(|| {
            cluster.kill(node);
            std::thread::sleep(Duration::from_millis(300));
            cluster.restart(node);
        });
    }
    flusher.await.unwrap();

    let seed = &cluster.seed;
    let stored = seed.stored_records();
    assert_eq!(stored.len(), CLUSTER_RECORDS, "every record stored");
    assert!(stored.iter().all(|(_, n)| *n == 1), "no duplicate");
    let ids: HashSet<String> = stored.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, captured);
    let unaudited: i64 = seed
        .read_sql(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM records r WHERE NOT EXISTS (
                     SELECT 1 FROM audit_log a
                     WHERE a.object = 'record:' || r.record_id AND a.outcome = 'success')",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(unaudited, 0, "every stored record has its audit row");
}
