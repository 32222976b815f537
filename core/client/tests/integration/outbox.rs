//! The outbox under cancellation, its housekeeping (drop, listing, secure delete) and the facts
//! a host supplies.

use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use ecsp_client::ClientConfig;
use ecsp_client::capture::MeasurementCapture;
use ecsp_client::outbox::{OutboxKind, QueueState};
use ecsp_client::sync::FlushOptions;
use ecsp_protocol::common::OperatingEnvironment;
use ecsp_protocol::consent::Purpose;
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

/// A measurement of one patch, with a GPS fix at `latitude` and optionally a photo.
fn measurement(device: Uuid, latitude: f64, photo: bool) -> MeasurementCapture {
    use base64::Engine as _;
    let jpeg = base64::engine::general_purpose::STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]);
    serde_json::from_value(serde_json::json!({
        "device_id": device,
        "software": {"name": "ECSP Field", "version": "0.1.0"},
        "instrument": {"model": "SIM", "serial_number": "SIM-1", "firmware_version": "1.0"},
        "settings": {"paper": "Luster", "printing_condition": "FOGRA51"},
        "samples": [{
            "patch": "A1",
            "condition": {"illumination": "M1", "geometry": "45/0", "bandpass_corrected": true},
            "lab": {"L": 50.0, "a": 1.0, "b": -3.0, "illuminant": "D50", "observer": 2}
        }],
        "gps": {"latitude": latitude, "longitude": 139.76, "fixed_at": Utc::now()},
        "photos": if photo { serde_json::json!([{"media_type": "image/jpeg", "data_base64": jpeg}]) } else { serde_json::json!([]) }
    }))
    .unwrap()
}

/// `input` under a record id and capture time the caller fixed.
fn under(mut input: MeasurementCapture, id: Uuid, at: DateTime<Utc>) -> MeasurementCapture {
    input.record_id = Some(id);
    input.captured_at = Some(at);
    input
}

/// What a caller that died between capturing and noting it does: capture again under the same
/// record id (with a new GPS fix, without the photo). The outbox answers as it did the first
/// time and adds nothing, whether the record is queued or already sent, so the server gets the
/// first capture once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measurement_captured_again_under_its_record_id_is_one_record() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("technician").await;
    let device = client.devices().await.unwrap()[0].device_id;
    let before_consent = Utc::now() - chrono::Duration::minutes(1);
    client.grant(Purpose::Gps).await.unwrap();
    client.refuse(Purpose::Photos).await.unwrap();
    let measurements = |state| {
        let client = client.clone();
        async move {
            client
                .queue_list(Some(state), 100)
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|i| i.kind == OutboxKind::Measurement)
                .count()
        }
    };

    let (id, at) = (Uuid::now_v7(), Utc::now());
    let first = client
        .capture_measurement(under(measurement(device, 35.0, true), id, at))
        .await
        .unwrap();
    assert_eq!(first.record_id, id);
    assert_eq!(first.captured_at, at.trunc_subsecs(3));
    assert_eq!(first.withheld, vec![Purpose::Photos]);

    // Photos allowed now, another fix, another time: the first capture stands.
    client.grant(Purpose::Photos).await.unwrap();
    let again = client
        .capture_measurement(under(
            measurement(device, 36.0, true),
            id,
            Utc::now() - chrono::Duration::seconds(5),
        ))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(measurements(QueueState::Queued).await, 1);
    let queued = client.preview(100).await.unwrap();
    let gated: Vec<_> = queued
        .iter()
        .filter(|r| r.record_id == id)
        .flat_map(|r| r.gated.iter().map(|g| (g.purpose, g.value.clone())))
        .collect();
    assert_eq!(gated.len(), 1, "{gated:?}");
    assert_eq!(gated[0].0, Purpose::Gps);
    assert_eq!(gated[0].1.as_ref().unwrap()["latitude"], 35.0);

    // The same id twice in one batch, with a new record beside it: two entries, not three. The
    // new one is fixed at a time before the user allowed GPS, so its fix is left out: the
    // server judges consent at the capture time, and would refuse the record with it.
    let (twice, other) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = client
        .capture_measurements(vec![
            under(measurement(device, 37.0, false), twice, at),
            under(measurement(device, 38.0, false), twice, Utc::now()),
            under(measurement(device, 39.0, false), other, before_consent),
        ])
        .await
        .unwrap();
    assert_eq!(batch[0], batch[1]);
    assert_eq!(batch[0].withheld, vec![]);
    assert_eq!(batch[2].record_id, other);
    assert_eq!(batch[2].withheld, vec![Purpose::Gps]);
    assert_eq!(measurements(QueueState::Queued).await, 3);

    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.rejected, report.remaining), (0, 0), "{report:?}");
    let stored = s.stored();
    for record in [id, twice, other] {
        let n = stored.iter().filter(|r| **r == record.to_string()).count();
        assert_eq!(n, 1, "{record} stored {n} times");
    }
    let view = client.record(id).await.unwrap();
    assert_eq!(view.record["gps"]["latitude"], 35.0);
    assert!(
        client
            .record(other)
            .await
            .unwrap()
            .record
            .get("gps")
            .is_none()
    );
    assert!(
        view.record
            .get("photos")
            .is_none_or(|p| p == &serde_json::json!([]))
    );

    // Once sent, a capture under that id still answers the same and sends nothing.
    let late = client
        .capture_measurement(under(measurement(device, 40.0, false), id, Utc::now()))
        .await
        .unwrap();
    assert_eq!(late, first);
    assert_eq!(measurements(QueueState::Queued).await, 0);
    assert_eq!(measurements(QueueState::Sent).await, 3);
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 0);

    // Another user cannot capture under an id this installation already used.
    client.logout().await.unwrap();
    let operator = s.user("operator");
    client
        .login(&operator.email, &operator.password)
        .await
        .unwrap();
    let e = client
        .capture_measurement(under(measurement(device, 41.0, false), id, Utc::now()))
        .await
        .unwrap_err();
    assert_eq!(e.code, ecsp_client::ErrorCode::InvalidInput, "{e}");
    assert_eq!(e.fields[0].field, "record_id");
    assert!(e.message.contains("already in the outbox"), "{e}");
}

/// A device down with a paper jam, as a DFE reported it.
fn device_down(device: Uuid) -> ecsp_client::capture::DeviceDataCapture {
    serde_json::from_value(serde_json::json!({
        "device_id": device,
        "software": {"name": "CDMService", "version": "2.0.0"},
        "observed_at": "2022-10-25T21:13:51Z",
        "printer_status": "down",
        "error_codes": [{"code": "PaperJam", "description": "Error"}],
        "values": {"DeviceInfo.TotalProductionCounter": "2759237"}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_data_is_captured_all_or_none_and_reaches_the_server_as_device_data() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    let mut bad = device_down(s.device(0));
    bad.printer_status = " ".into();
    let e = client
        .capture_device_data(vec![device_down(s.device(0)), bad])
        .await
        .unwrap_err();
    assert_eq!(e.code, ecsp_client::ErrorCode::InvalidInput, "{e}");
    assert!(e.to_string().contains("printer_status"), "{e}");
    assert_eq!(client.queue_status().await.unwrap().queued, 0);

    let captured = client
        .capture_device_data(vec![device_down(s.device(0))])
        .await
        .unwrap();
    let id = captured[0].record_id;
    assert_eq!(
        captured[0].captured_at,
        "2022-10-25T21:13:51Z".parse::<DateTime<Utc>>().unwrap()
    );
    let queue = client.queue_list(None, 10).await.unwrap();
    assert_eq!(queue.items[0].kind, OutboxKind::DeviceData);
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let stored = client.record(id).await.unwrap();
    assert_eq!(stored.kind, ecsp_protocol::upload::RecordKind::DeviceData);
    assert_eq!(stored.device_id, s.device(0));
    assert_eq!(stored.record["printer_status"], "down");
    assert_eq!(stored.record["error_codes"][0]["code"], "PaperJam");
}
