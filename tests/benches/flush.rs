//! Outbox flush throughput: 10,000 queued measurements flushed to the reference server over
//! HTTPS, next to the same data sent in bulk (the baseline) in the same run: requests of
//! `RECORDS_PER_UPLOAD` (1,000) records, the most the server takes, one after another.
//!
//! `cargo bench -p ecsp-e2e --bench flush` (`ECSP_BENCH_RECORDS` to change the count). The
//! session is kept in the in-memory secret store here (one read per request, off the hot path),
//! so the benchmark runs without a desktop keyring.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_e2e::Harness;
use serde_json::json;

fn measurement(device: uuid::Uuid) -> ecsp_client::capture::MeasurementCapture {
    serde_json::from_value(json!({
        "device_id": device,
        "software": {"name": "i1Pro3 driver", "version": "3.1.0"},
        "instrument": {"model": "i1Pro3", "serial_number": "1234567", "firmware_version": "1.2.3"},
        "settings": {"paper": "Premium Luster", "printing_condition": "FOGRA51"},
        "samples": [{
            "patch": "Cyan 100",
            "condition": {"illumination": "M1", "geometry": "45/0", "bandpass_corrected": true},
            "spectrum": {"start_nm": 380, "interval_nm": 10, "values": (0..36).map(|i| 0.05 + 0.02 * f64::from(i)).collect::<Vec<_>>()},
            "lab": {"L": 55.1, "a": -37.2, "b": -50.4, "illuminant": "D50", "observer": 2}
        }]
    }))
    .unwrap()
}

fn main() {
    let n: usize = std::env::var("ECSP_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = server_rt.block_on(Harness::start());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (email, password) = h.password("technician");
    let device = h.device(0);

    let (baseline_rate, capture_rate, flush_rate) = client_rt.block_on(async {
        // Baseline: the same kind of records, built in memory, sent as one request.
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(ecsp_client::transport::tls_config(Some(&h.ca_file), None).unwrap())
            .build()
            .unwrap();
        let login: serde_json::Value = http
            .post(format!("{}/api/v1/auth/login", h.url()))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        let records: Vec<serde_json::Value> = (0..n)
            .map(|_| {
                let m = measurement(device);
                json!({
                    "record_id": uuid::Uuid::new_v4(), "captured_at": chrono::Utc::now(), "device_id": device,
                    "software": m.software, "environment": ecsp_client::capture::this_environment(),
                    "instrument": m.instrument, "settings": m.settings, "samples": m.samples
                })
            })
            .collect();
        // The server takes at most `RECORDS_PER_UPLOAD` records a request: the bulk baseline is
        // the fewest requests that carry them, one after another.
        let bodies: Vec<Vec<u8>> = records
            .chunks(ecsp_protocol::limits::RECORDS_PER_UPLOAD)
            .map(|chunk| serde_json::to_vec(&json!({"schema_version": 1, "records": chunk})).unwrap())
            .collect();
        let start = Instant::now();
        for body in bodies {
            let res = http
                .post(format!("{}/api/v1/uploads/measurements", h.url()))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        }
        let baseline = n as f64 / start.elapsed().as_secs_f64();

        // The outbox: capture n measurements, then flush them.
        let client = h.client("bench", Arc::new(MemorySecretStore::default()));
        client.login(&email, &password).await.unwrap();
        let start = Instant::now();
        for _ in 0..n {
            client.capture_measurement(measurement(device)).await.unwrap();
        }
        let capture = n as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        let report = client.flush(FlushOptions::default()).await.unwrap();
        let flush = n as f64 / start.elapsed().as_secs_f64();
        assert_eq!((report.sent as usize, report.rejected, report.remaining), (n, 0, 0));
        (baseline, capture, flush)
    });
    let stored = h.stored_records().len();
    assert_eq!(stored, 2 * n, "every record stored");

    println!("flush benchmark: {n} measurements, HTTPS to the reference server on loopback");
    println!(
        "  baseline  bulk, {} a request     {baseline_rate:>9.0} records/s",
        ecsp_protocol::limits::RECORDS_PER_UPLOAD
    );
    println!("  outbox    flush (batches of 500)  {flush_rate:>9.0} records/s");
    println!(
        "  ratio flush/baseline              {:>9.2}",
        flush_rate / baseline_rate
    );
    println!("  (capture into the outbox, durable, one at a time: {capture_rate:.0} records/s)");
    // Issue 32's aim.
    let met = flush_rate / baseline_rate >= 0.8;
    println!(
        "  target ≥ 0.8 of the baseline: {}",
        if met { "met" } else { "NOT met" }
    );
    drop(client_rt);
    server_rt.block_on(async move {
        let mut h = h;
        h.stop().await;
    });
}
