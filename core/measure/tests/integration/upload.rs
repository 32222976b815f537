//! Upload through the client core to the reference server, with and without GPS consent.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use ecsp_client::sync::FlushOptions;
use ecsp_instrument_link::sim::SimulatedSpectrometer;
use ecsp_measure::calibration::CalibrationPolicy;
use ecsp_measure::{LocationProvider, MeasureErrorCode, MeasurementSession};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::measurement::{GpsFix, MeasurementRecord};

use crate::common::{
    COLORCHECKER, TestServer, chart, instrument, measured_session, plan, sim_config, store,
};

#[derive(Debug, Default)]
struct FixedLocation {
    asked: AtomicUsize,
}

impl LocationProvider for FixedLocation {
    fn current_fix(&self) -> Option<GpsFix> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Some(GpsFix {
            latitude: 35.6812,
            longitude: 139.7671,
            accuracy_m: Some(12.0),
            altitude_m: None,
            fixed_at: Utc::now() - chrono::Duration::seconds(5),
        })
    }
}

#[tokio::test]
async fn with_and_without_gps_consent_the_server_holds_the_session() {
    let server = TestServer::start().await;
    for granted in [true, false] {
        let (client, device) = server.technician(&format!("gps-{granted}")).await;
        if granted {
            client.grant(Purpose::Gps).await.unwrap();
        } else {
            client.refuse(Purpose::Gps).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let (mut session, _sim) = measured_session(dir.path(), device).await;
        let location = FixedLocation::default();
        let captured = session.upload(&client, Some(&location)).await.unwrap();
        assert_eq!(
            location.asked.load(Ordering::SeqCst),
            usize::from(granted),
            "the host is asked for a position only with consent"
        );
        // A second upload is the same record.
        let again = session.upload(&client, Some(&location)).await.unwrap();
        assert_eq!(again.record_id, captured.record_id);

        let report = client.flush(FlushOptions::default()).await.unwrap();
        // The consent decision and the record.
        assert_eq!((report.sent, report.rejected, report.remaining), (2, 0, 0));
        let view = client.record(captured.record_id).await.unwrap();
        let record: MeasurementRecord = serde_json::from_value(view.record).unwrap();
        assert_eq!(record.samples.len(), 24);
        assert_eq!(record.instrument.serial_number, "SIM-000123");
        let first = &record.samples[0];
        assert_eq!(first.patch, "1");
        let lab = first.lab.as_ref().unwrap();
        // BabelColor "dark skin", D50/2°: L* about 38.
        assert!((lab.l - 38.0).abs() < 2.0, "L* {}", lab.l);
        assert_eq!(first.spectrum.as_ref().unwrap().values.len(), 36);
        assert_eq!(first.condition.aperture_mm, Some(4.0));
        assert_eq!(record.gps.is_some(), granted);
        assert!(record.maintenance.unwrap().last_calibrated_at.is_some());
    }
}

#[tokio::test]
async fn an_unfinished_session_is_not_uploaded() {
    let server = TestServer::start().await;
    let (client, device) = server.technician("unfinished").await;
    let dir = tempfile::tempdir().unwrap();
    let (bytes, spectra) = chart(COLORCHECKER);
    let sim = SimulatedSpectrometer::new(sim_config());
    sim.walk_chart(spectra);
    let mut session = MeasurementSession::start(
        store(dir.path()),
        instrument(&sim),
        plan(device),
        bytes,
        CalibrationPolicy::default(),
    )
    .await
    .unwrap();
    session.calibrate().await.unwrap();
    session.measure_next().await.unwrap();
    let err = session.upload(&client, None).await.unwrap_err();
    assert_eq!(err.code(), MeasureErrorCode::Incomplete);
    assert!(err.to_string().contains("23 of 24"), "{err}");
    assert_eq!(client.queue_status().await.unwrap().queued, 0);
}
