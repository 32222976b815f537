//! The sync service: background delivery, wake-ups, pause, offline and back, stop.

use std::time::Duration;

use ecsp_client::service::SyncOptions;
use ecsp_client::{ClientEvent, SyncState};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_are_delivered_without_anyone_calling_flush() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut events = client.subscribe();
    let sync = client.start_sync(SyncOptions::default());
    sync.wait_for(|s| *s == SyncState::Idle).await;

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            client
                .capture_dfe(dfe(s.device(0)))
                .await
                .unwrap()
                .record_id,
        );
    }
    let mut delivered = Vec::new();
    while delivered.len() < ids.len() {
        if let ClientEvent::Delivered { record_ids, .. } =
            next_event(&mut events, |e| matches!(e, ClientEvent::Delivered { .. })).await
        {
            delivered.extend(record_ids);
        }
    }
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids);
    for id in &ids {
        assert!(s.stored().contains(&id.to_string()));
    }
    sync.wait_for(|s| *s == SyncState::Idle).await;
    let status = client.queue_status().await.unwrap();
    assert_eq!((status.queued, status.in_flight, status.sent), (0, 0, 3));

    sync.stop().await;
    let stopped = next_event(&mut events, |e| {
        matches!(
            e,
            ClientEvent::SyncStateChanged {
                state: SyncState::Stopped
            }
        )
    })
    .await;
    assert!(matches!(stopped, ClientEvent::SyncStateChanged { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_service_keeps_captures_queued_until_resumed() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let sync = client.start_sync(SyncOptions {
        start_paused: true,
        ..SyncOptions::default()
    });
    sync.wait_for(|s| *s == SyncState::Paused).await;
    let id = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.queue_status().await.unwrap().queued, 1);
    assert!(!s.stored().contains(&id.to_string()), "sent while paused");
    assert!(sync.is_paused());

    let mut events = client.subscribe();
    sync.resume();
    next_event(
        &mut events,
        |e| matches!(e, ClientEvent::Delivered { record_ids, .. } if record_ids.contains(&id)),
    )
    .await;
    assert!(s.stored().contains(&id.to_string()));

    // Pausing again stops sending again.
    sync.pause();
    sync.wait_for(|s| *s == SyncState::Paused).await;
    let second = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!s.stored().contains(&second.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_captures_go_out_when_the_network_returns() {
    let mut s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    s.stop().await;
    let sync = client.start_sync(SyncOptions::default());
    let id = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    let state = sync
        .wait_for(|s| matches!(s, SyncState::Offline { .. }))
        .await;
    let SyncState::Offline { until, reason } = state else {
        unreachable!()
    };
    assert!(until > chrono::Utc::now(), "a retry time ahead");
    assert!(reason.contains("cannot reach the server"), "{reason}");
    assert_eq!(client.queue_status().await.unwrap().queued, 1);
    // The record keeps the kind of trouble, for the front ends to say in the user's language.
    let page = client.queue_list(None, 10).await.unwrap();
    assert_eq!(page.items[0].last_error_code.as_deref(), Some("offline"));
    assert!(
        page.items[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot reach the server")),
        "{:?}",
        page.items[0].last_error
    );

    s.restart().await;
    let mut events = client.subscribe();
    // The host saw the network come back: no need to wait out the backoff.
    sync.network_available();
    next_event(
        &mut events,
        |e| matches!(e, ClientEvent::Delivered { record_ids, .. } if record_ids.contains(&id)),
    )
    .await;
    assert_eq!(
        s.stored().iter().filter(|r| **r == id.to_string()).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_service_waits_for_a_sign_in() {
    let s = TestServer::start().await;
    let (client, _) = s.client("operator");
    let sync = client.start_sync(SyncOptions::default());
    sync.wait_for(|s| *s == SyncState::NeedsSignIn).await;

    let user = s.user("operator");
    client.login(&user.email, &user.password).await.unwrap();
    // Signing in wakes the service; with nothing to send it is idle.
    sync.wait_for(|s| *s == SyncState::Idle).await;
    let mut events = client.subscribe();
    let id = client
        .capture_dfe(dfe(s.device(1)))
        .await
        .unwrap()
        .record_id;
    next_event(
        &mut events,
        |e| matches!(e, ClientEvent::Delivered { record_ids, .. } if record_ids.contains(&id)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_stops_the_service() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let sync = client.start_sync(SyncOptions::default());
    sync.wait_for(|s| *s == SyncState::Idle).await;
    drop(sync);
    let id = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!s.stored().contains(&id.to_string()));
    assert_eq!(client.queue_status().await.unwrap().queued, 1);
}
