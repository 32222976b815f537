//! Remote operations end to end: a service-support user asks over REST, the ES agent simulator
//! receives the command over MQTT/TLS from the server's broker, runs it and reports.

use crate::common::Counting;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ecsp_agent::session::handle;
use ecsp_agent::sim::Fleet;
use ecsp_agent::store::AgentStore;
use ecsp_protocol::remote_ops::{
    CleaningLevel, Command, OperationKind, OperationResult, OperationState, ReasonCode,
    ReportedState, Verdict,
};
use serde_json::json;
use std::sync::Mutex;
use uuid::Uuid;

use crate::common::Rig;

#[tokio::test]
async fn head_cleaning_status_and_diagnosis_succeed_with_their_results() {
    let rig = Rig::start().await;
    let session = rig.connect();
    let cyan_before = rig.fleet.printers()[0]
        .lock()
        .expect("lock")
        .inks
        .iter()
        .find(|i| i.color == "cyan")
        .map(|i| i.level_ml)
        .expect("cyan");

    let op = rig
        .request(json!({"device_id": rig.device(0), "kind": "head_cleaning",
                        "head_cleaning": {"level": "strong", "colors": ["cyan"]}}))
        .await;
    let done = rig.until_final(op.operation_id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let Some(OperationResult::HeadCleaning(r)) = &done.result else {
        panic!("no cleaning result: {done:?}");
    };
    assert_eq!(r.level, CleaningLevel::Strong);
    assert_eq!(r.duration_s, 95);
    assert_eq!(r.ink_used.len(), 1);
    let states: Vec<OperationState> = done.history.iter().map(|h| h.state).collect();
    assert!(states.contains(&OperationState::InProgress), "{states:?}");
    let cyan_after = rig.fleet.printers()[0]
        .lock()
        .expect("lock")
        .inks
        .iter()
        .find(|i| i.color == "cyan")
        .map(|i| i.level_ml)
        .expect("cyan");
    assert!(
        (cyan_before - cyan_after - 1.5).abs() < 1e-9,
        "{cyan_before} → {cyan_after}"
    );

    let op = rig
        .request(json!({"device_id": rig.device(0), "kind": "status"}))
        .await;
    let done = rig.until_final(op.operation_id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let Some(OperationResult::Status(s)) = &done.result else {
        panic!("no status: {done:?}");
    };
    assert!(s.counters.total_pages.is_some_and(|p| p > 0));
    assert_eq!(
        s.consumables.len(),
        13,
        "twelve inks and the maintenance box"
    );

    // Device 1 (SC-F10000) reports the diagnosis capability; wait for the capability report.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let op = rig
        .request(json!({"device_id": rig.device(1), "kind": "diagnosis"}))
        .await;
    let done = rig.until_final(op.operation_id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    let Some(OperationResult::Diagnosis(d)) = &done.result else {
        panic!("no diagnosis: {done:?}");
    };
    assert!(d.checks.iter().any(|c| c.code == "nozzle_check"));
    assert!(matches!(
        d.verdict,
        Verdict::Pass | Verdict::Warning | Verdict::Fail
    ));
    assert_eq!(rig.store.operations_started().expect("ledger"), 3);
    session.stop().await;
}

#[tokio::test]
async fn an_offline_agent_gets_the_command_when_it_reconnects() {
    let rig = Rig::start().await;
    let op = rig
        .request(json!({"device_id": rig.device(2), "kind": "status"}))
        .await;
    assert_eq!(op.state, OperationState::Queued);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rig.operation(op.operation_id).await.state,
        OperationState::Queued
    );
    let session = rig.connect();
    let done = rig.until_final(op.operation_id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    session.stop().await;
}

/// Over a link whose connection set-up (TCP, TLS, CONNECT to CONNACK: four one-way trips) takes
/// longer than the first connect timeout (5 s), the agent still connects: the timeout grows
/// after attempts that timed out, and a command is answered over that link.
#[tokio::test]
async fn an_agent_on_a_link_slower_than_the_first_timeout_still_connects() {
    let rig = Rig::start().await;
    let port = crate::common::slow_link(rig.server.addr, Duration::from_millis(1600)).await;
    let session = rig.connect_through(port);
    let started = std::time::Instant::now();
    while session.connections() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "not connected over the slow link within 40 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first attempts timed out: the connection took more than one timeout to make.
    assert!(
        started.elapsed() > Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let op = rig
        .request(json!({"device_id": rig.device(1), "kind": "status"}))
        .await;
    let done = rig.until_final(op.operation_id).await;
    assert_eq!(done.state, OperationState::Succeeded, "{done:?}");
    session.stop().await;
}

#[tokio::test]
async fn a_command_past_its_time_to_live_expires_and_is_never_run() {
    let rig = Rig::start().await;
    let op = rig
        .request(json!({"device_id": rig.device(0), "kind": "head_cleaning", "ttl_secs": 10}))
        .await;
    let expired = rig
        .until_state(op.operation_id, OperationState::Expired)
        .await;
    assert_eq!(expired.state, OperationState::Expired, "{expired:?}");
    let cleanings = rig.fleet.printers()[0].lock().expect("lock").head_cleanings;
    let session = rig.connect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rig.operation(op.operation_id).await.state,
        OperationState::Expired
    );
    assert_eq!(
        rig.fleet.printers()[0].lock().expect("lock").head_cleanings,
        cleanings
    );
    assert_eq!(rig.store.operations_started().expect("ledger"), 0);
    session.stop().await;
}

fn command(fleet: &Fleet, kind: OperationKind, ttl: chrono::Duration) -> Command {
    let p = fleet.printers()[0].lock().expect("lock");
    Command {
        schema_version: 1,
        operation_id: Uuid::new_v4(),
        device_id: Uuid::new_v4(),
        manufacturer: p.manufacturer.clone(),
        model: p.model.clone(),
        serial_number: p.serial_number.clone(),
        kind,
        head_cleaning: None,
        issued_at: Utc::now() - chrono::Duration::seconds(1),
        expires_at: Utc::now() + ttl,
    }
}

#[tokio::test]
async fn a_redelivered_command_is_answered_not_run_again_even_after_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("agent.db");
    let fleet = Fleet::generate(1, 5, Utc::now());
    fleet.set_time_scale(0.001);
    let exec = Counting::new(fleet.clone());
    let cmd = command(
        &fleet,
        OperationKind::HeadCleaning,
        chrono::Duration::minutes(5),
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let collect = |s: Arc<Mutex<Vec<ecsp_protocol::remote_ops::AgentReport>>>| {
        move |r| {
            s.lock().expect("lock").push(r);
            async {}
        }
    };
    let cleanings = fleet.printers()[0].lock().expect("lock").head_cleanings;
    let store = AgentStore::open(&path).expect("store");
    handle(&store, &exec, &cmd, collect(sent.clone())).await;
    let first: Vec<ReportedState> = sent.lock().expect("lock").iter().map(|r| r.state).collect();
    assert_eq!(
        first,
        [
            ReportedState::Delivered,
            ReportedState::InProgress,
            ReportedState::Succeeded
        ]
    );
    // The broker delivers it again, to an agent that restarted in between.
    drop(store);
    let store = AgentStore::open(&path).expect("reopen");
    sent.lock().expect("lock").clear();
    handle(&store, &exec, &cmd, collect(sent.clone())).await;
    assert_eq!(exec.total(), 1, "run twice");
    let again = sent.lock().expect("lock").clone();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].state, ReportedState::Succeeded);
    assert!(matches!(
        again[0].result,
        Some(OperationResult::HeadCleaning(_))
    ));
    assert_eq!(
        fleet.printers()[0].lock().expect("lock").head_cleanings,
        cleanings + 1
    );
}

#[tokio::test]
async fn an_expired_or_unsupported_command_is_rejected_without_running() {
    let dir = tempfile::tempdir().expect("dir");
    let store = AgentStore::open(&dir.path().join("agent.db")).expect("store");
    // Generated printer 0 is an SC-P9500: no diagnosis.
    let fleet = Fleet::generate(1, 5, Utc::now());
    let exec = Counting::new(fleet.clone());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let mut late = command(&fleet, OperationKind::Status, chrono::Duration::minutes(5));
    late.issued_at = Utc::now() - chrono::Duration::minutes(10);
    late.expires_at = Utc::now() - chrono::Duration::minutes(1);
    handle(&store, &exec, &late, |r| {
        s.lock().expect("lock").push(r);
        async {}
    })
    .await;
    let unsupported = command(
        &fleet,
        OperationKind::Diagnosis,
        chrono::Duration::minutes(5),
    );
    let s = sent.clone();
    handle(&store, &exec, &unsupported, |r| {
        s.lock().expect("lock").push(r);
        async {}
    })
    .await;
    let reports = sent.lock().expect("lock").clone();
    let last_reasons: Vec<ReasonCode> = reports
        .iter()
        .filter(|r| r.state == ReportedState::Rejected)
        .filter_map(|r| r.reason.as_ref().map(|x| x.code))
        .collect();
    assert_eq!(
        last_reasons,
        [ReasonCode::Expired, ReasonCode::NotSupported]
    );
    assert_eq!(exec.total(), 0);
}
