//! Typed events: rejections with the server's code, consent changes, progress, session ends.

use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientEvent, ErrorCode, SecretStore, SessionEndReason};
use ecsp_protocol::consent::{Decision, Purpose};
use uuid::Uuid;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_record_is_an_event_with_the_servers_code_and_reason() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut events = client.subscribe();
    // A device the operator has no right to (a well-formed id the server does not know).
    let refused = client
        .capture_dfe(dfe(Uuid::new_v4()))
        .await
        .unwrap()
        .record_id;
    let accepted = client
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.sent, report.rejected, report.remaining), (1, 1, 0));

    let ClientEvent::Rejected {
        record_id,
        code,
        reason,
        ..
    } = next_event(&mut events, |e| matches!(e, ClientEvent::Rejected { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(record_id, refused);
    assert_eq!(code, "not_found");
    assert!(reason.contains("no device with this id"), "{reason}");
    let page = client
        .queue_list(Some(ecsp_client::outbox::QueueState::Rejected), 10)
        .await
        .unwrap();
    assert_eq!(page.items[0].last_error_code.as_deref(), Some("not_found"));
    assert!(s.stored().contains(&accepted.to_string()));

    // Progress and queue counts were reported along the way.
    let mut progress = Vec::new();
    let mut last_counts = None;
    while let Ok(e) = events.try_recv() {
        match e {
            ClientEvent::FlushProgress { progress: p } => progress.push(p),
            ClientEvent::QueueChanged { status } => last_counts = Some(status),
            _ => {}
        }
    }
    let last = progress.last().unwrap();
    assert_eq!((last.sent, last.rejected, last.total), (1, 1, 2));
    let counts = last_counts.unwrap();
    assert_eq!((counts.queued, counts.rejected, counts.sent), (0, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_decisions_are_events() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("technician").await;
    let mut events = client.subscribe();
    client.grant(Purpose::Gps).await.unwrap();
    client.withdraw(Purpose::Gps).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let ClientEvent::ConsentChanged { purpose, decision } = next_event(&mut events, |e| {
            matches!(e, ClientEvent::ConsentChanged { .. })
        })
        .await
        {
            seen.push((purpose, decision));
        }
    }
    assert_eq!(
        seen,
        vec![
            (Purpose::Gps, Decision::Granted),
            (Purpose::Gps, Decision::Withdrawn)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_ends_is_reported_not_dropped_silently() {
    let s = TestServer::start_with(|c| c.tokens.access_ttl_secs = 1).await;
    let (client, secrets) = s.signed_in("operator").await;
    let key = format!("session:{}", client.server_origin());
    let first = secrets.get(&key).unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The access token expired: this refreshes, and the first refresh token is now used up.
    client.whoami().await.unwrap();
    assert_ne!(secrets.get(&key).unwrap().unwrap(), first);

    // Someone presents the used refresh token (here: an old copy of the session). The server
    // treats that as theft and ends the whole session.
    secrets.set(&key, &first).unwrap();
    let mut events = client.subscribe();
    let err = client.whoami().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotSignedIn);
    let ended = next_event(&mut events, |e| {
        matches!(e, ClientEvent::SessionEnded { .. })
    })
    .await;
    assert_eq!(
        ended,
        ClientEvent::SessionEnded {
            reason: SessionEndReason::Expired
        }
    );
    assert!(
        secrets.get(&key).unwrap().is_none(),
        "the dead session is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_is_an_event_too() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut events = client.subscribe();
    client.logout().await.unwrap();
    let ended = next_event(&mut events, |e| {
        matches!(e, ClientEvent::SessionEnded { .. })
    })
    .await;
    assert_eq!(
        ended,
        ClientEvent::SessionEnded {
            reason: SessionEndReason::SignedOut
        }
    );
}
