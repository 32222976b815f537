//! One person, two apps (as the CLI and the desktop app are: two clients with their own local
//! databases) against one server: the server's consent ledger keeps them in step.

use std::time::Duration;

use ecsp_client::capture::DfeCapture;
use ecsp_client::consent::ConsentState;
use ecsp_client::service::SyncOptions;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientEvent, EcspClient, SyncState};
use ecsp_protocol::consent::{Decision, Purpose};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;

/// Two clients of the demo operator, each with its own data directory.
async fn two_apps(s: &TestServer) -> (EcspClient, EcspClient) {
    let user = s.user("operator");
    let (cli, _) = s.client("cli");
    let (desktop, _) = s.client("desktop");
    cli.login(&user.email, &user.password).await.unwrap();
    desktop.login(&user.email, &user.password).await.unwrap();
    (cli, desktop)
}

fn dfe_with_job(device: Uuid) -> DfeCapture {
    serde_json::from_value(json!({
        "device_id": device,
        "software": {"name": "Fiery XF", "version": "7.3.2"},
        "print_settings": {"preset_name": "Proof", "values": {"ink_limit": 280}},
        "job": {"job_id": "J-1", "job_name": "Client brochure.pdf", "copies": 2}
    }))
    .unwrap()
}

async fn job_info(client: &EcspClient) -> ConsentState {
    client
        .consent_status()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.purpose == Purpose::JobInfo)
        .unwrap()
        .state
}

/// Delivers the decisions queued in `client` (as `ecsp consent grant` does).
async fn send_decisions(client: &EcspClient) {
    let report = client
        .flush(FlushOptions {
            consents_only: true,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert!(
        report.stopped.is_none() && report.rejected == 0,
        "{report:?}"
    );
}

async fn stored_job(client: &EcspClient, record: Uuid) -> Option<serde_json::Value> {
    client
        .record(record)
        .await
        .unwrap()
        .record
        .get("job")
        .filter(|j| !j.is_null())
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_app_follows_the_decisions_made_in_the_other() {
    let s = TestServer::start().await;
    let (cli, desktop) = two_apps(&s).await;
    assert_eq!(job_info(&desktop).await, ConsentState::NeverAsked);

    // Granted in the CLI: the desktop app knows after its next sync.
    cli.grant(Purpose::JobInfo).await.unwrap();
    send_decisions(&cli).await;
    desktop.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(job_info(&desktop).await, ConsentState::Granted);
    let granted = desktop
        .capture_dfe(dfe_with_job(s.device(0)))
        .await
        .unwrap();
    assert!(granted.withheld.is_empty());
    // The history shows the decision made elsewhere, as the server has it.
    let history = desktop.consent_history().await.unwrap();
    assert!(
        history.iter().any(|h| h.decision_id.is_none()
            && h.purpose == Purpose::JobInfo
            && h.decision == Decision::Granted
            && h.delivered),
        "{history:?}"
    );

    // Withdrawn in the CLI while the desktop app still believes it granted: the record it
    // captures meanwhile (with the job part) is delivered without the part, not rejected whole.
    cli.withdraw(Purpose::JobInfo).await.unwrap();
    send_decisions(&cli).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let stale = desktop
        .capture_dfe(dfe_with_job(s.device(0)))
        .await
        .unwrap();
    assert!(stale.withheld.is_empty(), "the desktop app had not synced");
    let report = desktop.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.sent, report.rejected), (2, 0), "{report:?}");
    assert_eq!(job_info(&desktop).await, ConsentState::Withdrawn);
    assert_eq!(stored_job(&desktop, stale.record_id).await, None);
    // A withdrawal made elsewhere keeps queued job parts home, as one made here does.
    assert_eq!(stored_job(&desktop, granted.record_id).await, None);
    // And from now on it captures no job part at all.
    let after = desktop
        .capture_dfe(dfe_with_job(s.device(0)))
        .await
        .unwrap();
    assert_eq!(after.withheld, vec![Purpose::JobInfo]);

    // The other way round: granted again in the desktop app, the CLI follows.
    desktop.grant(Purpose::JobInfo).await.unwrap();
    desktop.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(job_info(&cli).await, ConsentState::Withdrawn);
    let status = cli.refresh_consents().await.unwrap();
    assert!(
        status
            .iter()
            .any(|s| s.purpose == Purpose::JobInfo && s.granted && !s.pending_upload),
        "{status:?}"
    );

    // A new sign-in reads the ledger at once.
    let (phone, _) = s.client("phone");
    let user = s.user("operator");
    phone.login(&user.email, &user.password).await.unwrap();
    assert_eq!(job_info(&phone).await, ConsentState::Granted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_waiting_here_wins_over_the_servers_older_one_until_delivered() {
    let s = TestServer::start().await;
    let (cli, desktop) = two_apps(&s).await;
    cli.grant(Purpose::JobInfo).await.unwrap();
    send_decisions(&cli).await;
    desktop.refresh_consents().await.unwrap();
    assert_eq!(job_info(&desktop).await, ConsentState::Granted);

    // Withdrawn on the desktop, not sent yet: reading the ledger (which still says granted)
    // does not bring the grant back.
    desktop.withdraw(Purpose::JobInfo).await.unwrap();
    let status = desktop.refresh_consents().await.unwrap();
    let job = status
        .iter()
        .find(|s| s.purpose == Purpose::JobInfo)
        .unwrap();
    assert_eq!(
        (job.state, job.pending_upload),
        (ConsentState::Withdrawn, true)
    );
    let captured = desktop
        .capture_dfe(dfe_with_job(s.device(0)))
        .await
        .unwrap();
    assert_eq!(captured.withheld, vec![Purpose::JobInfo]);

    send_decisions(&desktop).await;
    assert_eq!(job_info(&desktop).await, ConsentState::Withdrawn);
    cli.refresh_consents().await.unwrap();
    assert_eq!(job_info(&cli).await, ConsentState::Withdrawn);
}

/// The server's internal id of the user `public_id`, for writing into its ledger directly.
fn server_user_id(s: &TestServer, public_id: Uuid) -> i64 {
    server_db(s)
        .query_row(
            "SELECT id FROM users WHERE public_id = ?1",
            [public_id.to_string()],
            |r| r.get(0),
        )
        .unwrap()
}

fn server_db(s: &TestServer) -> rusqlite::Connection {
    rusqlite::Connection::open(
        s.dir
            .path()
            .join("server")
            .join(ecsp_server_mock::DATABASE_FILE),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_required_refusal_rereads_the_ledger_and_sends_the_record_without_the_part() {
    let s = TestServer::start().await;
    let (cli, desktop) = two_apps(&s).await;
    cli.grant(Purpose::JobInfo).await.unwrap();
    send_decisions(&cli).await;
    desktop.refresh_consents().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let captured = desktop
        .capture_dfe(dfe_with_job(s.device(0)))
        .await
        .unwrap();
    assert!(captured.withheld.is_empty());

    // Another app's withdrawal, made before the capture, reaches the server just after this
    // app read the ledger for its sync (the server writes its audit row of that read): the
    // upload that follows is refused for consent.
    let user = server_user_id(&s, desktop.current_user().await.unwrap());
    let withdrawn_at = captured.captured_at.timestamp_millis() - 5;
    server_db(&s)
        .execute_batch(&format!(
            "CREATE TRIGGER withdraw_elsewhere AFTER INSERT ON audit_log
             WHEN NEW.action = 'consent.read'
             BEGIN
                 INSERT OR IGNORE INTO consents
                     (user_id, purpose, decision, notice_version, decided_at, recorded_at, decision_id)
                 VALUES ({user}, 'job_info', 'withdrawn', '{notice}', {withdrawn_at}, {withdrawn_at},
                         'a1b2c3d4-0000-4000-8000-000000000001');
             END;",
            notice = ecsp_client::consent::CURRENT_NOTICE_VERSION
        ))
        .unwrap();

    let mut events = desktop.subscribe();
    let report = desktop.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.sent, report.rejected), (1, 0), "{report:?}");
    assert_eq!(stored_job(&desktop, captured.record_id).await, None);
    assert_eq!(job_info(&desktop).await, ConsentState::Withdrawn);
    let changed = next_event(&mut events, |e| {
        matches!(e, ClientEvent::ConsentChanged { .. })
    })
    .await;
    assert_eq!(
        changed,
        ClientEvent::ConsentChanged {
            purpose: Purpose::JobInfo,
            decision: Decision::Withdrawn
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_made_while_collection_is_paused_is_delivered() {
    let s = TestServer::start().await;
    let (cli, desktop) = two_apps(&s).await;
    let mut events = desktop.subscribe();
    let sync = desktop.start_sync(SyncOptions {
        start_paused: true,
        ..SyncOptions::default()
    });
    sync.wait_for(|s| *s == SyncState::Paused).await;
    let record = desktop
        .capture_dfe(dfe(s.device(0)))
        .await
        .unwrap()
        .record_id;
    let decision = desktop.grant(Purpose::JobInfo).await.unwrap();
    next_event(&mut events, |e| {
        matches!(e, ClientEvent::Delivered { record_ids, .. } if record_ids.contains(&decision.decision_id))
    })
    .await;
    assert!(sync.is_paused());
    cli.refresh_consents().await.unwrap();
    assert_eq!(job_info(&cli).await, ConsentState::Granted);
    // Collection stays paused: the record waits.
    assert!(
        !s.stored().contains(&record.to_string()),
        "sent while paused"
    );
    assert_eq!(desktop.queue_status().await.unwrap().queued, 1);

    // A decision made in the CLI meanwhile reaches the paused app when it wakes.
    cli.refuse(Purpose::Gps).await.unwrap();
    send_decisions(&cli).await;
    desktop.withdraw(Purpose::Photos).await.unwrap();
    next_event(&mut events, |e| {
        matches!(
            e,
            ClientEvent::ConsentChanged {
                purpose: Purpose::Gps,
                decision: Decision::Refused
            }
        )
    })
    .await;
    sync.stop().await;
}
