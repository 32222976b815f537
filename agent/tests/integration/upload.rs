//! Enrolment and the device-data outbox against the reference server.

use chrono::Utc;
use ecsp_agent::sim::Fleet;
use ecsp_agent::upload::{UploadError, Uploader, fetch_ca};
use ecsp_protocol::agent::{AgentType, CollectionType};

use crate::common::{Rig, base};

#[tokio::test]
async fn a_ca_with_another_fingerprint_is_refused() {
    let rig = Rig::start().await;
    let wrong = "00:".repeat(31) + "00";
    let err = fetch_ca(&base(&rig.server), &wrong)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, UploadError::FingerprintMismatch { .. }),
        "{err:?}"
    );
    let err = fetch_ca("http://localhost:1", &wrong)
        .await
        .expect_err("not https");
    assert!(matches!(err, UploadError::Url(_)), "{err:?}");
}

#[tokio::test]
async fn the_simulators_device_data_is_uploaded_once_and_an_undesignated_device_is_kept_rejected() {
    let rig = Rig::start().await;
    let uploader = Uploader::new(
        &base(&rig.server),
        &rig.ca_pem,
        rig.agent_id(),
        rig.secret(),
        AgentType::DcAgent,
    )
    .expect("uploader");
    rig.store
        .enqueue(&rig.fleet.device_data())
        .expect("enqueue");
    let summary = uploader
        .flush(&rig.store, CollectionType::Scheduled, 100)
        .await
        .expect("flush");
    assert_eq!((summary.sent, summary.rejected), (3, 0), "{summary:?}");
    let again = uploader
        .flush(&rig.store, CollectionType::Scheduled, 100)
        .await
        .expect("flush");
    assert_eq!(again.sent, 0);
    // A printer the server never designated to this agent.
    let stranger = Fleet::generate(1, 77, Utc::now());
    rig.store.enqueue(&stranger.device_data()).expect("enqueue");
    let summary = uploader
        .flush(&rig.store, CollectionType::Scheduled, 100)
        .await
        .expect("flush");
    assert_eq!(summary.rejected, 1, "{summary:?}");
    let counts = rig.store.outbox_counts().expect("counts");
    assert_eq!((counts.sent, counts.rejected, counts.queued), (3, 1, 0));
}

#[tokio::test]
async fn a_wrong_secret_is_an_error_and_the_records_stay_queued() {
    let rig = Rig::start().await;
    let uploader = Uploader::new(
        &base(&rig.server),
        &rig.ca_pem,
        rig.agent_id(),
        ecsp_client::Secret::new("ecsp_ag_not-the-secret"),
        AgentType::DcAgent,
    )
    .expect("uploader");
    rig.store
        .enqueue(&rig.fleet.device_data())
        .expect("enqueue");
    let err = uploader
        .flush(&rig.store, CollectionType::Scheduled, 100)
        .await
        .expect_err("unauthorised");
    assert!(matches!(err, UploadError::Unauthorized), "{err:?}");
    assert_eq!(rig.store.outbox_counts().expect("counts").queued, 3);
}

#[tokio::test]
async fn the_agent_learns_which_devices_are_designated_to_it_and_those_reports_are_accepted() {
    let rig = Rig::start().await;
    let uploader = Uploader::new(
        &base(&rig.server),
        &rig.ca_pem,
        rig.agent_id(),
        rig.secret(),
        AgentType::DcAgent,
    )
    .expect("uploader");
    let designated = uploader.designated().await.expect("designated");
    // The demo agent is a DC agent, and the server says so (enrol takes the kind from it).
    assert_eq!(designated.agent_type, AgentType::DcAgent);
    let designated = designated.devices;
    let demo = rig.server.demo.as_ref().expect("demo");
    let want: Vec<(String, String, String)> = demo
        .devices
        .iter()
        .map(|d| {
            (
                d.manufacturer.clone(),
                d.model.clone(),
                d.serial_number.clone(),
            )
        })
        .collect();
    let got: Vec<(String, String, String)> = designated
        .iter()
        .map(|d| {
            (
                d.manufacturer.clone(),
                d.model.clone(),
                d.serial_number.clone(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // The simulator's default fleet: exactly those, and the server takes every report.
    let fleet = Fleet::from_devices(
        got.iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
        3,
        Utc::now() - chrono::Duration::hours(1),
    );
    fleet.advance(Utc::now());
    rig.store.enqueue(&fleet.new_reports()).expect("enqueue");
    let sent = uploader
        .flush(&rig.store, CollectionType::Scheduled, 50)
        .await
        .expect("flush");
    assert_eq!((sent.sent, sent.rejected), (want.len(), 0));
    // A wrong secret learns nothing.
    let stranger = Uploader::new(
        &base(&rig.server),
        &rig.ca_pem,
        rig.agent_id(),
        ecsp_client::Secret::new("not-the-secret"),
        AgentType::DcAgent,
    )
    .expect("uploader");
    assert!(matches!(
        stranger.designated().await,
        Err(UploadError::Unauthorized)
    ));
}

#[tokio::test]
async fn reports_naming_another_kind_of_agent_are_refused_with_the_reason() {
    let rig = Rig::start().await;
    // The demo agent is registered as a DC agent; this one reports as an ES agent.
    let uploader = Uploader::new(
        &base(&rig.server),
        &rig.ca_pem,
        rig.agent_id(),
        rig.secret(),
        AgentType::EsAgent,
    )
    .expect("uploader");
    rig.store
        .enqueue(&rig.fleet.device_data())
        .expect("enqueue");
    let summary = uploader
        .flush(&rig.store, CollectionType::Scheduled, 100)
        .await
        .expect("flush");
    assert_eq!((summary.sent, summary.rejected), (0, 3), "{summary:?}");
    let status = ecsp_agent::store::status_text(&rig.store).expect("status");
    assert!(
        status.contains("registered as a DC agent"),
        "the reason is in `status`: {status}"
    );
}
