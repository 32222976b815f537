//! The fleet at a glance from what an agent reports: production by counters and job logs, the
//! states, the attention list and the CSV, each only over the printers the caller may see.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

/// A report of demo printer `serial` captured `minutes_ago`, with `extra` device fields.
async fn report(ts: &TestServer, serial: &str, minutes_ago: i64, extra: Value) {
    let mut body = device_data_upload(ts.demo.agent.agent_id, uuid::Uuid::now_v7(), "printing");
    let record = &mut body["records"][0];
    record["captured_at"] = json!(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago));
    let device = record["device"].as_object_mut().unwrap();
    let (model, _) = [
        ("SureColor SC-P9500", "X4DEMO0001"),
        ("SureColor SC-F10000", "X4DEMO0002"),
        ("SureColor SC-S80600", "X4DEMO0003"),
    ]
    .into_iter()
    .find(|(_, s)| *s == serial)
    .unwrap();
    device.insert("model".into(), json!(model));
    device.insert("serial_number".into(), json!(serial));
    for (k, v) in extra.as_object().unwrap() {
        device.insert(k.clone(), v.clone());
    }
    let res = ts
        .post(&ts.demo.agent.secret, "/api/v1/agent/device-data", &body)
        .await;
    expect_created(res).await;
}

fn job(started_minutes_ago: i64, pages: u32) -> Value {
    let now = chrono::Utc::now();
    json!({"started_at": now - chrono::Duration::minutes(started_minutes_ago),
           "finished_at": now - chrono::Duration::minutes(started_minutes_ago - 3),
           "result": "completed", "pages": pages, "printed_area_m2": 3.0})
}

async fn dashboard(ts: &TestServer, who: &str, query: &str) -> Value {
    let token = ts.token(who).await;
    let res = ts
        .get(&token, &format!("/api/v1/fleet/dashboard?{query}"))
        .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn month_total(d: &Value) -> f64 {
    d["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_f64().unwrap())
        .sum()
}

#[tokio::test]
async fn production_comes_from_counters_and_job_logs_counted_once() {
    let ts = TestServer::start().await;
    // The device's log: each job keeps its times from one report to the next.
    let (first, second, third) = (job(50, 2), job(20, 10), job(10, 5));
    report(
        &ts,
        "X4DEMO0001",
        40,
        json!({"cumulative_printing_area_m2": 100.0,
               "cumulative_ink_usage": [{"color": "cyan", "millilitres": 500.0}],
               "job_history": [first]}),
    )
    .await;
    report(
        &ts,
        "X4DEMO0001",
        2,
        json!({"cumulative_printing_area_m2": 112.0,
               "cumulative_ink_usage": [{"color": "cyan", "millilitres": 530.0}],
               "job_history": [first, second, third]}),
    )
    .await;
    let m2 = dashboard(&ts, "admin", "unit=m2&time_zone=UTC").await;
    assert!(
        (month_total(&m2) - 12.0).abs() < 1e-6,
        "the area counter's gain: {m2}"
    );
    let ink: f64 = m2["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ink_ml"].as_f64().unwrap())
        .sum();
    assert!((ink - 30.0).abs() < 1e-6);
    let ft2 = dashboard(&ts, "admin", "unit=ft2&time_zone=UTC").await;
    assert!((month_total(&ft2) - 12.0 * 10.763_910_416_709_722).abs() < 1e-6);
    let jobs = dashboard(&ts, "admin", "unit=jobs&time_zone=UTC").await;
    assert_eq!(month_total(&jobs), 3.0, "each job once");
    let sheets = dashboard(&ts, "admin", "unit=sheets").await;
    assert_eq!(month_total(&sheets), 17.0);
    let today: f64 = jobs["today_by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!(today <= 3.0 && jobs["today_by_hour"].as_array().unwrap().len() == 24);

    // A replaced board: the counter starts again, nothing is taken away or added; its gains
    // count from there. A report sent late changes nothing.
    report(
        &ts,
        "X4DEMO0001",
        1,
        json!({"cumulative_printing_area_m2": 5.0}),
    )
    .await;
    report(
        &ts,
        "X4DEMO0001",
        0,
        json!({"cumulative_printing_area_m2": 6.5}),
    )
    .await;
    report(
        &ts,
        "X4DEMO0001",
        30,
        json!({"cumulative_printing_area_m2": 90.0}),
    )
    .await;
    let m2 = dashboard(&ts, "admin", "unit=m2&time_zone=UTC").await;
    assert!((month_total(&m2) - 13.5).abs() < 1e-6, "{m2}");

    // The CSV has the same figures by printer and day.
    let token = ts.token("admin").await;
    let res = ts
        .get(&token, "/api/v1/fleet/production.csv?time_zone=UTC")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "date,manufacturer,model,serial_number,jobs,sheets,printed_m2,printed_ft2,ink_ml,printing_hours"
    );
    let area: f64 = lines
        .map(|l| l.split(',').nth(6).unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((area - 13.5).abs() < 0.02, "{csv}");
}

/// Reports on one printer arriving all at once, in no order (several of them in one batch, and
/// batches in flight together on PostgreSQL): each is compared with the one kept before it under
/// the device's lock, so the counter's gain is counted once, whatever the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_one_printer_at_once_count_its_production_once() {
    let ts = TestServer::start().await;
    report(
        &ts,
        "X4DEMO0002",
        50,
        json!({"cumulative_printing_area_m2": 1000.0}),
    )
    .await;
    // 40 reports, one a minute, 1 m² apart, sent together and latest first.
    let reports = (1..=40i64).rev().map(|minutes_ago| {
        let area = 1000.0 + (41 - minutes_ago) as f64;
        report(
            &ts,
            "X4DEMO0002",
            minutes_ago,
            json!({"cumulative_printing_area_m2": area}),
        )
    });
    futures_util::future::join_all(reports).await;
    let m2 = dashboard(&ts, "admin", "unit=m2&time_zone=UTC").await;
    assert!(
        (month_total(&m2) - 40.0).abs() < 1e-6,
        "the counter gained 40 m² in all: {m2}"
    );
}

#[tokio::test]
async fn states_and_attention_cover_only_the_printers_one_may_see() {
    let ts = TestServer::start().await;
    report(
        &ts,
        "X4DEMO0001",
        3,
        json!({"error_codes": [{"code": "error.prt.jam", "description": "Paper jam"}],
               "consumables": [{"kind": "ink_cartridge", "color": "cyan", "remaining_percent": 40.0}]}),
    )
    .await;
    // The third printer: the operator may not see it.
    report(
        &ts,
        "X4DEMO0003",
        3,
        json!({"consumables": [{"kind": "ink_cartridge", "color": "black", "remaining_percent": 4.0}]}),
    )
    .await;
    let admin = dashboard(&ts, "admin", "").await;
    assert_eq!(admin["devices"], 3);
    assert_eq!(admin["states"]["error"], 1);
    assert_eq!(admin["states"]["printing"], 1);
    assert_eq!(admin["states"]["no_report"], 1);
    let operator = dashboard(&ts, "operator", "").await;
    assert_eq!(operator["devices"], 2);
    assert_eq!(operator["states"]["printing"], 0, "not the third printer");

    let token = ts.token("admin").await;
    let list: Vec<Value> = ts
        .get(&token, "/api/v1/fleet/attention")
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<(&str, &str)> = list
        .iter()
        .map(|i| {
            (
                i["reason"].as_str().unwrap(),
                i["serial_number"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("error", "X4DEMO0001"), ("consumable_low", "X4DEMO0003")]
    );
    assert_eq!(list[0]["detail"], "error.prt.jam: Paper jam");
    assert_eq!(list[1]["detail"], "ink_cartridge black 4 %");
    let token = ts.token("operator").await;
    let mine: Vec<Value> = ts
        .get(&token, "/api/v1/fleet/attention?consumable_below=50")
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = mine.iter().map(|i| i["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["error", "consumable_low"],
        "its own printer's cyan at 40 %"
    );
    assert!(mine.iter().all(|i| i["serial_number"] == "X4DEMO0001"));

    // A device the operator may not see is "not found", as everywhere.
    let res = ts
        .get(
            &token,
            &format!("/api/v1/fleet/dashboard?device_id={}", ts.device(2)),
        )
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_bad_query_names_its_parameter() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    for (query, parameter) in [
        ("unit=acres", "unit"),
        ("time_zone=Mars/Olympus", "time_zone"),
        ("group_id=7", "group_id"),
    ] {
        let res = ts
            .get(&token, &format!("/api/v1/fleet/dashboard?{query}"))
            .await;
        let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
        assert!(problem.to_string().contains(parameter), "{problem}");
    }
    let res = ts
        .get(&token, "/api/v1/fleet/attention?consumable_below=0")
        .await;
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
}

/// The portal's dashboard: charts with their values, the attention list, in the viewer's
/// language, small enough for a phone's connection.
#[tokio::test]
async fn the_portal_dashboard_shows_the_fleet_in_the_viewers_language() {
    use crate::portal::Browser;
    let ts = TestServer::start().await;
    report(
        &ts,
        "X4DEMO0001",
        3,
        json!({"error_codes": [{"code": "error.prt.jam", "description": "Paper jam"}],
               "cumulative_printing_area_m2": 10.0}),
    )
    .await;
    report(
        &ts,
        "X4DEMO0001",
        1,
        json!({"error_codes": [{"code": "error.prt.jam", "description": "Paper jam"}],
               "cumulative_printing_area_m2": 12.5}),
    )
    .await;
    let mut b = Browser::new(&ts);
    b.accept_language = "ja-JP,ja;q=0.9";
    b.sign_in("admin").await;
    let page = b.get("/portal/fleet?unit=m2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("フリートの稼働状況"));
    assert_eq!(
        page.body
            .matches("<svg class=\"plot\" role=\"img\"")
            .count(),
        3
    );
    assert!(
        page.body.contains("error.prt.jam: Paper jam"),
        "the attention list"
    );
    assert!(page.body.contains("合計 2.5"), "the month's total in m²");
    assert!(page.body.len() < 200_000, "{} bytes", page.body.len());
    let csv = b.get("/portal/fleet/production.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.body.contains("X4DEMO0001"), "{}", csv.body);
}

/// The PC application's report of a printer down (a DFE's device status) is where the printer
/// stands too: in error on the dashboard and the attention list, with the levels an agent
/// reported before kept.
#[tokio::test]
async fn a_dfe_reporting_a_printer_down_puts_it_in_error() {
    let ts = TestServer::start().await;
    report(
        &ts,
        "X4DEMO0001",
        60 * 24,
        json!({"consumables": [{"kind": "ink_cartridge", "color": "cyan", "remaining_percent": 5.0}]}),
    )
    .await;
    let token = ts.token("operator").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/device-data",
            &dfe_upload(vec![crate::ingest::device_status_record(ts.device(0))]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let board = dashboard(&ts, "operator", "").await;
    assert_eq!(board["states"]["error"], 1, "{board}");
    let list: Vec<Value> = ts
        .get(&token, "/api/v1/fleet/attention")
        .await
        .json()
        .await
        .unwrap();
    let reasons: Vec<&str> = list.iter().map(|i| i["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["error", "consumable_low"], "{list:?}");
    let devices: Value = ts
        .get(&token, "/api/v1/devices?with_state=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(devices[0]["state"], "error", "{devices}");
}
