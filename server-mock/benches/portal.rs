//! Portal page timings: the device list and a device page, for a device holding 100,000 stored
//! records next to one holding 10, a measurement's page with its plots (a 72-patch control
//! strip against the device's first measurement, with the trend of its newest 30 of 200
//! measurements; and a 1,617-patch chart), and the bytes each page transfers.
//!
//! Starts the reference server on loopback with a fresh data directory, has the demo agent
//! upload the records (500 per request), signs in through the portal's form, then requests each
//! page `ECSP_BENCH_REQUESTS` times (default 200) one after another on one keep-alive
//! connection. The time printed is the round trip on loopback, which bounds the server's time
//! from above (TLS, HTTP and the client included). Aims: p95 < 50 ms (device pages < 5 ms),
//! < 200 KB per page; each line says whether its page met them.
//!
//! `cargo bench -p ecsp-server-mock --bench portal`; `ECSP_BENCH_RECORDS` changes the 100,000;
//! `ECSP_BENCH_SAVE=DIR` saves each page there (to open, or to see what its bytes are).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use serde_json::json;
use uuid::Uuid;

mod common;
use common::{LoopbackServer, env_or, portal_session, time_gets};
use ecsp_server_mock::testing::access_token;

/// A measurement of `patches` patches (reflectance 380–730 nm at 10 nm, smooth curves of
/// varied hue and depth), captured at `at`, its inks `drift` lighter than the first print.
fn measurement(
    device: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    patches: usize,
    drift: f64,
) -> serde_json::Value {
    let condition = json!({"illumination": "M1", "geometry": "45/0", "bandpass_corrected": true});
    let samples: Vec<_> = (0..patches)
        .map(|p| {
            let centre = 420.0 + (p * 37 % 300) as f64;
            let depth = 0.2 + (p * 13 % 70) as f64 / 100.0;
            let values: Vec<f64> = (0..36)
                .map(|i| {
                    let nm = 380.0 + 10.0 * i as f64;
                    let ink = depth / (1.0 + ((nm - centre) / 25.0).powi(2));
                    ((0.9 - ink) * (1.0 - drift) + drift * 0.5).clamp(0.02, 1.0)
                })
                .collect();
            json!({"patch": format!("P{p:04}"), "condition": condition,
                   "spectrum": {"start_nm": 380, "interval_nm": 10, "values": values}})
        })
        .collect();
    json!({
        "record_id": Uuid::now_v7(),
        "captured_at": at,
        "device_id": device,
        "software": {"name": "i1Pro3 driver", "version": "3.1.0"},
        "environment": {"os_name": "Android", "os_version": "15", "app_version": "0.1.0"},
        "instrument": {"model": "i1Pro3", "serial_number": "1234567", "firmware_version": "1.2.3"},
        "settings": {"paper": "Epson Premium Luster 260", "printing_condition": "FOGRA51"},
        "samples": samples
    })
}

fn main() {
    let records = env_or("ECSP_BENCH_RECORDS", 100_000);
    let requests = env_or("ECSP_BENCH_REQUESTS", 200);
    let loopback = LoopbackServer::start();
    let (server, base, http) = (
        &loopback.server,
        loopback.base.clone(),
        loopback.http.clone(),
    );
    let demo = server.demo.clone().unwrap();

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        // The busy device gets `records` reports, the quiet one 10, over the last 100 days.
        let started = Instant::now();
        let now = chrono::Utc::now();
        let upload = |device: &ecsp_protocol::admin::DeviceView, from: usize, n: usize| {
            let records: Vec<_> = (from..from + n)
                .map(|i| {
                    json!({
                        "record_id": Uuid::now_v7(),
                        "captured_at": now - chrono::Duration::seconds((records - i) as i64 * 86),
                        "device": {
                            "manufacturer": device.manufacturer, "model": device.model,
                            "serial_number": device.serial_number, "firmware_version": "AB12C3",
                            "printer_status": "printing",
                            "consumables": [{"kind": "ink_cartridge", "color": "cyan", "remaining_percent": 50.0}],
                            "cumulative_printing_time_s": 36_000 + i
                        }
                    })
                })
                .collect();
            http.post(format!("{base}/api/v1/agent/device-data"))
                .bearer_auth(&demo.agent.secret)
                .json(&json!({
                    "schema_version": 1,
                    "agent": {"agent_id": demo.agent.agent_id, "agent_type": "dc_agent", "agent_version": "5.2.0",
                              "collection_type": "scheduled", "sent_at": now},
                    "records": records
                }))
                .send()
        };
        let (busy, quiet) = (&demo.devices[0], &demo.devices[1]);
        let mut from = 0;
        while from < records {
            let n = 500.min(records - from);
            let res = upload(busy, from, n).await.unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
            from += n;
        }
        let res = upload(quiet, records - 10, 10).await.unwrap();
        assert!(res.status().is_success());
        println!(
            "stored {records} + 10 records in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let admin = demo
            .users
            .iter()
            .find(|u| u.email.starts_with("admin"))
            .unwrap();

        // Measurements: a 72-patch strip on the busy device every half day for 100 days, and a
        // 1,617-patch chart measured twice on the quiet one.
        let token = access_token(&http, &base, &admin.email, &admin.password).await;
        let strips: Vec<_> = (0..200)
            .map(|i| {
                let at = now - chrono::Duration::hours(12 * (200 - i as i64));
                measurement(busy.device_id, at, 72, i as f64 / 4000.0)
            })
            .collect();
        let big = [
            measurement(quiet.device_id, now - chrono::Duration::days(30), 1617, 0.0),
            measurement(quiet.device_id, now - chrono::Duration::hours(1), 1617, 0.03),
        ];
        for batch in strips.chunks(20).chain([&big[..]]) {
            let res = http
                .post(format!("{base}/api/v1/uploads/measurements"))
                .bearer_auth(&token)
                .json(&json!({"schema_version": 1, "records": batch}))
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
        }
        let newest_strip = strips.last().unwrap()["record_id"].as_str().unwrap().to_owned();
        let newest_big = big[1]["record_id"].as_str().unwrap().to_owned();

        let cookie = portal_session(&http, &base, &admin.email, &admin.password).await;

        println!(
            "portal page timings: {requests} sequential requests each, keep-alive, loopback round trip"
        );
        println!(
            "  {:<44} {:>8} {:>8} {:>8} {:>10}   aim",
            "page", "p50 ms", "p95 ms", "max ms", "bytes"
        );
        let pages = [
            ("device list (3 devices)", "/portal/devices".to_owned(), 50.0),
            (
                "device page, 10 records",
                format!("/portal/devices/{}", quiet.device_id),
                5.0,
            ),
            (
                "device page, 100,000 records",
                format!("/portal/devices/{}", busy.device_id),
                5.0,
            ),
            (
                "device page, 100,000 records, oldest page",
                format!(
                    "/portal/devices/{}?before={}",
                    busy.device_id,
                    (now - chrono::Duration::seconds(records as i64 * 86 - 20 * 86))
                        .timestamp_millis()
                ),
                5.0,
            ),
            (
                "measurement list, 200 measurements",
                format!("/portal/devices/{}/measurements", busy.device_id),
                50.0,
            ),
            (
                "measurement + plots, 72 patches, trend 30",
                format!("/portal/records/{newest_strip}"),
                50.0,
            ),
            (
                "measurement + plots, 1,617 patches",
                format!("/portal/records/{newest_big}"),
                50.0,
            ),
            ("stylesheet", "/portal/static/portal.css".to_owned(), 50.0),
        ];
        let save = std::env::var_os("ECSP_BENCH_SAVE").map(std::path::PathBuf::from);
        for (i, (name, path, aim_ms)) in pages.into_iter().enumerate() {
            let t = time_gets(&http, &format!("{base}{path}"), ("cookie", &cookie), requests).await;
            if let Some(dir) = &save {
                std::fs::create_dir_all(dir).unwrap();
                std::fs::write(dir.join(format!("{i}.html")), &t.body).unwrap();
            }
            let met = t.p95 < aim_ms && t.bytes < 200_000;
            println!(
                "  {name:<44} {:>8.2} {:>8.2} {:>8.2} {:>10}   p95 < {aim_ms} ms, < 200 KB: {}",
                t.p50,
                t.p95,
                t.max,
                t.bytes,
                if met { "met" } else { "NOT met" }
            );
        }
    });
    loopback.stop();
}
