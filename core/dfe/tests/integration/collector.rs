//! "Authorise this computer" / "Deauthorise": the collector watches and delivers only while
//! authorised.

use std::time::Duration;

use ecsp_dfe::Ledger;
use ecsp_dfe::collector::{Collector, FolderSource};
use ecsp_dfe::hot_folder::FolderEvent;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_authorised_collector_reads_the_folder_and_delivers() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let work = tempfile::tempdir().unwrap();
    let folder = temp_dir_path(&work, "hot");
    let ledger = Ledger::open(&work.path().join("ledger.sqlite3")).unwrap();
    let source = FolderSource {
        folder: folder.clone(),
        device_id: server.device(),
    };
    let mut collector = Collector::start(&client, ledger, Some(source), false);
    collector.set_settle(Duration::from_millis(200));
    let mut events = collector.subscribe();
    assert!(!collector.is_authorised());
    assert!(!collector.is_watching());

    // Deauthorised: a dropped ticket stays in the folder and nothing reaches the server.
    std::fs::write(folder.join("a.jdf"), data("digital-printing-combined.jdf")).unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(folder.join("a.jdf").exists());
    assert!(server.stored().is_empty());

    // Authorised: read, captured and delivered.
    collector.authorise();
    assert!(collector.is_watching());
    let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .unwrap()
        .unwrap();
    let FolderEvent::Captured { record_ids, .. } = event else {
        panic!("{event:?}")
    };
    let id = record_ids[0].to_string();
    // Delivered: stored by the server, and the client has its answer (the server stores before
    // it answers, so the first alone would race with the client marking the row sent).
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let status = client.queue_status().await.unwrap();
            if server.stored().contains(&id) && status.queued + status.in_flight == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("delivered by the sync service");

    // Deauthorised again: a capture made meanwhile stays queued.
    collector.deauthorise();
    let queued = client
        .capture_dfe(
            serde_json::from_value(serde_json::json!({
                "device_id": server.device(),
                "software": {"name": "Fiery XF", "version": "7.3.2"},
                "print_settings": {"preset_name": "Proof", "values": {}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!server.stored().contains(&queued.record_id.to_string()));
    assert_eq!(client.queue_status().await.unwrap().queued, 1);
    collector.stop().await;
}
