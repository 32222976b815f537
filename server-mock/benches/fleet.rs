//! The fleet dashboard and the attention list over 10,000 printers with 30 days of production.
//!
//! Starts the reference server on loopback (SQLite), then writes the fleet straight into its
//! database: 10,000 devices in 20 groups, each with its newest report in brief (a few in error,
//! some low on ink, some silent) and 30 days of hourly production (7.2 million device-hours and
//! their per-group sums), the tables ingest keeps. Writing them through the API would take hours
//! and measure ingest, not these pages. Then requests each page `ECSP_BENCH_REQUESTS` times
//! (default 100) one after another on one keep-alive connection, beside `/health` in the same
//! run. Aims: the dashboard of all devices p95 < 100 ms and ≤ 200 KB; the attention list p95 <
//! 50 ms.
//!
//! `cargo bench -p ecsp-server-mock --bench fleet`; `ECSP_BENCH_DEVICES` changes the 10,000.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use ecsp_server_mock::params;
use serde_json::json;

mod common;
use common::{LoopbackServer, env_or, portal_session, time_gets};
use ecsp_server_mock::testing::access_token;

const GROUPS: usize = 20;
const DAYS: i64 = 30;

fn main() {
    let devices = env_or("ECSP_BENCH_DEVICES", 10_000);
    let requests = env_or("ECSP_BENCH_REQUESTS", 100);
    let loopback = LoopbackServer::start();
    let (server, base, http) = (
        &loopback.server,
        loopback.base.clone(),
        loopback.http.clone(),
    );
    let server_rt = &loopback.runtime;
    let demo = server.demo.clone().unwrap();

    let started = Instant::now();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let hour_ms = 3_600_000_i64;
    let first_hour = (now_ms / hour_ms - DAYS * 24) * hour_ms;
    let key = server.key.clone();
    server_rt
        .block_on(server.db.write(move |c| {
            let (org, agent): (i64, i64) =
                c.query_row("SELECT org_id, id FROM agents LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let mut groups = Vec::new();
            for g in 0..GROUPS {
                let public_id = uuid::Uuid::new_v4().to_string();
                // Sealed as the store seals group names (`store::groups`).
                let name = key.seal(
                    &format!("device_groups.name:{public_id}"),
                    format!("Plant {g}").as_bytes(),
                );
                c.execute(
                    "INSERT INTO device_groups (public_id, org_id, name_enc, created_at)
                     VALUES (?1, ?2, ?3, 0)",
                    params![public_id, org, name],
                )?;
                groups.push(c.query_row("SELECT MAX(id) FROM device_groups", [], |r| {
                    r.get::<_, i64>(0)
                })?);
            }
            let mut device_stmt = c.prepare(
                "INSERT INTO devices (public_id, org_id, manufacturer, model, serial_number,
                                      agent_id, registered_at, group_id)
                 VALUES (?1, ?2, 'Epson', 'SureColor SC-F10000', ?3, ?4, 0, ?5)",
            )?;
            let mut status_stmt = c.prepare(
                "INSERT INTO device_status (device_id, captured_at, state, codes, consumables,
                                            counters, last_job_at, lowest_percent)
                 VALUES (?1, ?2, ?3, ?4, ?5, '{}', NULL, ?6)",
            )?;
            let mut hour_stmt = c.prepare(
                "INSERT INTO production_hours (device_id, hour, jobs, sheets, area_m2, ink_ml,
                                               printing_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for d in 0..devices {
                let group = groups[d % GROUPS];
                device_stmt.execute(params![
                    uuid::Uuid::new_v4().to_string(),
                    org,
                    format!("BENCH{d:06}"),
                    agent,
                    group
                ])?;
                let id: i64 = c.query_row("SELECT MAX(id) FROM devices", [], |r| r.get(0))?;
                // One in 200 in error, one in 50 low on ink.
                let (state, codes) = if d % 200 == 0 {
                    ("error", r#"[["error","error.prt.jam","Paper jam"]]"#)
                } else {
                    (["printing", "standby"][d % 2], "[]")
                };
                let ink = if d % 50 == 1 {
                    6.0
                } else {
                    40.0 + (d % 50) as f64
                };
                status_stmt.execute(params![
                    id,
                    now_ms - 60_000,
                    state,
                    codes,
                    json!([["ink_cartridge cyan", ink]]).to_string(),
                    ink
                ])?;
                for h in 0..DAYS * 24 {
                    // Busy in the day, idle at night.
                    let busy = if (h % 24) >= 8 && (h % 24) < 20 {
                        1.0
                    } else {
                        0.1
                    };
                    hour_stmt.execute(params![
                        id,
                        first_hour + h * hour_ms,
                        (2.0_f64 * busy).round(),
                        40.0 * busy,
                        12.5 * busy,
                        90.0 * busy,
                        3000.0 * busy
                    ])?;
                }
            }
            c.execute(
                "INSERT INTO production_group_hours (org_id, group_id, hour, jobs, sheets,
                                                     area_m2, ink_ml, printing_s)
                 SELECT d.org_id, d.group_id, p.hour, SUM(p.jobs), SUM(p.sheets), SUM(p.area_m2),
                        SUM(p.ink_ml), SUM(p.printing_s)
                 FROM production_hours p JOIN devices d ON d.id = p.device_id
                 GROUP BY d.org_id, d.group_id, p.hour",
                [],
            )?;
            // A tenth of the agents' devices reported through a silent agent.
            c.execute(
                "UPDATE agents SET last_seen_at = ?1",
                params![now_ms - 3 * hour_ms],
            )?;
            Ok::<_, ecsp_server_mock::db::StoreError>(())
        }))
        .unwrap();
    println!(
        "wrote {devices} devices with {} device-hours in {:.1} s",
        devices as i64 * DAYS * 24,
        started.elapsed().as_secs_f64()
    );

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let admin = demo
            .users
            .iter()
            .find(|u| u.email.starts_with("admin"))
            .unwrap();
        let cookie = portal_session(&http, &base, &admin.email, &admin.password).await;
        let bearer = format!(
            "Bearer {}",
            access_token(&http, &base, &admin.email, &admin.password).await
        );
        let groups: serde_json::Value = http
            .get(format!("{base}/api/v1/groups"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = groups[0]["group_id"].as_str().unwrap().to_owned();
        println!(
            "fleet timings, {devices} devices: {requests} sequential requests each, keep-alive, loopback round trip"
        );
        println!(
            "  {:<52} {:>8} {:>8} {:>8} {:>10}  aim",
            "page", "p50 ms", "p95 ms", "max ms", "bytes"
        );
        let pages: [(&str, String, (&str, &str), &str); 5] = [
            ("baseline: /health", "/health".into(), ("x-none", "-"), ""),
            (
                "portal dashboard, all devices (3 charts, attention)",
                "/portal/fleet?unit=m2".into(),
                ("cookie", &cookie),
                "p95 < 100 ms, ≤ 200 KB",
            ),
            (
                "API dashboard, all devices, Asia/Tokyo",
                "/api/v1/fleet/dashboard?unit=sheets&time_zone=Asia/Tokyo".into(),
                ("authorization", &bearer),
                "p95 < 100 ms",
            ),
            (
                "API dashboard, one group",
                format!("/api/v1/fleet/dashboard?group_id={group}"),
                ("authorization", &bearer),
                "p95 < 100 ms",
            ),
            (
                "API attention list",
                "/api/v1/fleet/attention".into(),
                ("authorization", &bearer),
                "p95 < 50 ms",
            ),
        ];
        for (name, path, header, aim) in pages {
            let t = time_gets(&http, &format!("{base}{path}"), header, requests).await;
            println!(
                "  {name:<52} {:>8.2} {:>8.2} {:>8.2} {:>10}  {aim}",
                t.p50, t.p95, t.max, t.bytes
            );
        }
    });
    loopback.stop();
}
