//! A device's record list: paged by (capture time, record id), so records sharing a capture time
//! across a page boundary are all shown; and query parameters at fault named as such (400).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

/// Uploads `dfe` DFE and `measurements` measurement records for `device`, all captured at
/// `at`; returns their ids.
async fn upload_at(
    ts: &TestServer,
    token: &str,
    device: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    dfe: usize,
    measurements: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for _ in 0..dfe {
        let mut r = dfe_record(device, None);
        r["captured_at"] = json!(at);
        ids.push(r["record_id"].as_str().unwrap().to_owned());
        records.push(r);
    }
    let res = ts
        .post(token, "/api/v1/uploads/dfe", &dfe_upload(records))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut records = Vec::new();
    for _ in 0..measurements {
        let mut r = measurement_record(device, false, false);
        r["captured_at"] = json!(at);
        ids.push(r["record_id"].as_str().unwrap().to_owned());
        records.push(r);
    }
    if !records.is_empty() {
        let res = ts
            .post(
                token,
                "/api/v1/uploads/measurements",
                &measurement_upload(records),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    ids
}

/// Every record of the listing `query` names, following `before` and `before_id` from each
/// page's last record, `limit` at a time; and how many pages it took.
async fn every_page(
    ts: &TestServer,
    token: &str,
    device: Uuid,
    query: &str,
) -> (Vec<Value>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = String::new();
    loop {
        let res = ts
            .get(
                token,
                &format!("/api/v1/devices/{device}/records?{query}{next}"),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Vec<Value> = res.json().await.unwrap();
        let Some(last) = page.last() else { break };
        pages += 1;
        assert!(pages < 50, "paging does not end");
        let before = last["captured_at"].as_str().unwrap();
        next = format!(
            "&before={}&before_id={}",
            before.replace('+', "%2B"),
            last["record_id"].as_str().unwrap()
        );
        seen.extend(page);
    }
    (seen, pages)
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paging_shows_every_record_when_many_share_a_capture_time() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    let older = upload_at(&ts, &token, device, at - chrono::Duration::seconds(1), 2, 0).await;
    let mut same = upload_at(&ts, &token, device, at, 30, 15).await;
    let newer = upload_at(&ts, &token, device, at + chrono::Duration::seconds(1), 1, 1).await;

    // Every kind (the kinds' pages merged) and one kind, with boundaries inside the group.
    for (query, expected) in [
        ("limit=20", 2 + 45 + 2),
        ("limit=7&kind=dfe", 2 + 30 + 1),
        ("limit=4&kind=measurement", 15 + 1),
    ] {
        let (seen, pages) = every_page(&ts, &token, device, query).await;
        let seen_ids = ids(&seen);
        let mut unique = seen_ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen_ids.len(), "each record once ({query})");
        assert_eq!(seen.len(), expected, "every record ({query})");
        assert!(pages > 2, "{query}: {pages} pages");
        // Newest first; one capture time by record id, highest first.
        let key = |r: &Value| {
            (
                r["captured_at"]
                    .as_str()
                    .unwrap()
                    .parse::<chrono::DateTime<chrono::Utc>>()
                    .unwrap(),
                r["record_id"].as_str().unwrap().to_owned(),
            )
        };
        assert!(
            seen.windows(2).all(|w| key(&w[0]) > key(&w[1])),
            "{query}: ordered by (capture time, id), descending"
        );
    }
    let (all, _) = every_page(&ts, &token, device, "limit=20").await;
    let all = ids(&all);
    same.sort_by(|a, b| b.cmp(a));
    assert_eq!(&all[2..47], &same[..], "the shared time's records by id");
    assert!(newer.iter().all(|id| all[..2].contains(id)));
    assert!(older.iter().all(|id| all[47..].contains(id)));

    // `before` alone (older clients): the records captured before that time.
    let res = ts
        .get(
            &token,
            &format!(
                "/api/v1/devices/{device}/records?before={}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
        )
        .await;
    let before: Vec<Value> = res.json().await.unwrap();
    assert_eq!(ids(&before).len(), 2);
    assert!(ids(&before).iter().all(|id| older.contains(id)));

    // `before_id` alone: after that record, its capture time looked up.
    let res = ts
        .get(
            &token,
            &format!("/api/v1/devices/{device}/records?before_id={}", same[9]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after: Vec<Value> = res.json().await.unwrap();
    assert_eq!(ids(&after), all[12..], "after the tenth of the shared time");
    // A record the device does not have names nothing.
    let res = ts
        .get(
            &token,
            &format!(
                "/api/v1/devices/{device}/records?before_id={}",
                Uuid::new_v4()
            ),
        )
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// Asserts a 400 `invalid_query` problem naming `parameter`, whose message holds `expected`.
async fn expect_query_error(
    ts: &TestServer,
    token: &str,
    path: &str,
    parameter: &str,
    expected: &str,
) {
    let problem = expect_problem(
        ts.get(token, path).await,
        StatusCode::BAD_REQUEST,
        "invalid_query",
    )
    .await;
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{path}: {problem}");
    assert_eq!(errors[0]["field"], parameter, "{path}: {problem}");
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains(expected), "{path}: {problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("query") && !detail.contains("body"),
        "{path}: {detail}"
    );
}

#[tokio::test]
async fn a_bad_query_value_is_a_query_error_naming_the_parameter() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let records = format!("/api/v1/devices/{}/records", ts.device(0));
    for (query, parameter, expected) in [
        // The CLI's old spelling of a kind: the API's is the one the answer names.
        (
            "kind=device-data",
            "kind",
            "`device_data`, `dfe`, `measurement`",
        ),
        ("kind=", "kind", "one of"),
        ("limit=0", "limit", "from 1 to 500"),
        ("limit=501", "limit", "from 1 to 500"),
        ("limit=ten", "limit", "from 1 to 500"),
        ("limit=-1", "limit", "from 1 to 500"),
        ("limit=", "limit", "from 1 to 500"),
        ("limit=5&limit=6", "limit", "at most once"),
        ("before=", "before", "RFC 3339"),
        ("before=yesterday", "before", "RFC 3339"),
        ("before_id=7", "before_id", "UUID"),
        (
            "befor=2026-01-01T00:00:00Z",
            "befor",
            "kind, before, before_id, limit",
        ),
    ] {
        expect_query_error(
            &ts,
            &token,
            &format!("{records}?{query}"),
            parameter,
            expected,
        )
        .await;
    }
    for (path, parameter, expected) in [
        ("/api/v1/admin/audit?after=-1", "after", "from 0"),
        ("/api/v1/admin/audit?after=", "after", "from 0"),
        ("/api/v1/admin/audit?limit=0", "limit", "from 1 to 1000"),
        ("/api/v1/operations?before=", "before", "next_before"),
        ("/api/v1/operations?state=done", "state", "operation state"),
        ("/api/v1/operations?limit=201", "limit", "from 1 to 200"),
    ] {
        expect_query_error(&ts, &token, path, parameter, expected).await;
    }
    // A well-formed cursor that names nothing the caller may see: not found, not a query error.
    let res = ts
        .get(
            &token,
            &format!("/api/v1/operations?before={}", Uuid::new_v4()),
        )
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // The audit log's first page from 0 is still fine.
    let res = ts.get(&token, "/api/v1/admin/audit?after=0").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_record_over_the_most_per_upload_is_refused_for_its_count_not_its_bytes() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let most = ecsp_protocol::limits::RECORDS_PER_UPLOAD;
    let records: Vec<Value> = (0..=most).map(|_| dfe_record(ts.device(0), None)).collect();
    let problem = expect_problem(
        ts.post(&token, "/api/v1/uploads/dfe", &dfe_upload(records))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "records", "{problem}");
    // The document says the same maximum for every upload.
    let doc: Value = ts
        .client
        .get(ts.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for upload in ["DfeUpload", "MeasurementUpload", "DeviceDataUpload"] {
        let records = &doc["components"]["schemas"][upload]["properties"]["records"];
        assert_eq!(records["maxItems"], most, "{upload}: {records}");
        assert_eq!(records["minItems"], 1, "{upload}: {records}");
    }
}

/// Every string pattern in the document, with where it is.
fn patterns(at: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(p)) = map.get("pattern") {
                out.push((at.to_owned(), p.clone()));
            }
            for (k, v) in map {
                patterns(&format!("{at}/{k}"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                patterns(&format!("{at}/{i}"), v, out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_states_the_text_rules_the_server_applies() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let doc: Value = ts
        .client
        .get(ts.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    patterns("", &doc, &mut found);
    // Text that must say something, and text that may be empty; neither with control
    // characters other than tab, line feed and carriage return.
    let required = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
    let optional = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";
    assert!(found.len() > 40, "{found:?}");
    for (at, p) in &found {
        // A webhook's address: https, a host name, a port, a path (alerts.rs tests the server
        // takes what it allows).
        let webhook = at.ends_with("/webhook_url") && p.starts_with("^https://");
        assert!(
            p == required || p == optional || p == "^[A-Z]{2}$" || webhook,
            "{at}: {p}"
        );
    }
    let name = &doc["components"]["schemas"]["NewDeviceGroup"]["properties"]["name"];
    assert_eq!(name["pattern"], required, "{name}");
    // What the pattern refuses, the server refuses, and what it allows, the server takes.
    for (text, status) in [
        ("Floor 2\u{85}", StatusCode::UNPROCESSABLE_ENTITY),
        ("Floor\u{7}2", StatusCode::UNPROCESSABLE_ENTITY),
        (" \t", StatusCode::UNPROCESSABLE_ENTITY),
        ("Floor 2\tEast", StatusCode::CREATED),
    ] {
        let res = ts
            .post(&token, "/api/v1/admin/groups", &json!({ "name": text }))
            .await;
        assert_eq!(res.status(), status, "{text:?}");
    }
}

#[tokio::test]
async fn bodies_are_read_as_the_document_describes_them() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let users: Vec<Value> = ts
        .get(&token, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    let operator = users.iter().find(|u| u["role"] == "user").expect("a user")["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_path = format!("/api/v1/admin/users/{operator}");
    // An array is not an object, though serde would read a struct from one.
    let problem = expect_problem(
        ts.call(
            reqwest::Method::PATCH,
            Some(&token),
            &user_path,
            Some(&json!([null, null])),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("object"),
        "{problem}"
    );
    // An empty merge patch is valid and changes nothing.
    let res = ts
        .call(
            reqwest::Method::PATCH,
            Some(&token),
            &user_path,
            Some(&json!({})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let user: Value = res.json().await.unwrap();
    assert_eq!(
        (user["role"].as_str(), user["disabled"].as_bool()),
        (Some("user"), Some(false))
    );

    // `720.0` is the integer 720 (JSON Schema says so; the document's type is `integer`).
    let mut record = dfe_record(ts.device(0), None);
    record["print_settings"]["resolution_dpi"] = json!([720.0, 1440.0]);
    let id = record["record_id"].as_str().unwrap().to_owned();
    let res = ts
        .post(&token, "/api/v1/uploads/dfe", &dfe_upload(vec![record]))
        .await;
    expect_created(res).await;
    let stored: Value = ts
        .get(&token, &format!("/api/v1/records/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored["record"]["print_settings"]["resolution_dpi"],
        json!([720, 1440])
    );

    // An id in a body that names nothing is not found, with its field, like one in a path.
    let res = ts
        .post(
            &token,
            "/api/v1/admin/devices",
            &json!({"manufacturer": "Epson", "model": "SC-P9500", "serial_number": "NEW-1",
                    "agent_id": Uuid::new_v4()}),
        )
        .await;
    let problem = expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(problem["errors"][0]["field"], "agent_id", "{problem}");

    // Rules between fields are in the document too.
    let doc: Value = ts
        .client
        .get(ts.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["OperationRequest"]["anyOf"].is_array(),
        "{}",
        schemas["OperationRequest"]
    );
    assert!(
        schemas["ColorSample"]["anyOf"].is_array(),
        "{}",
        schemas["ColorSample"]
    );
    assert_eq!(
        schemas["Lab"]["properties"]["observer"]["enum"],
        json!([2, 10])
    );
}

/// The device list and a device say where each printer stands by its newest report, and say
/// nothing for one that has not reported.
#[tokio::test]
async fn devices_carry_their_state_by_the_latest_report() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;
    let state_of = |list: &Value, id: Uuid| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id.to_string())
            .map(|d| d["state"].clone())
            .unwrap()
    };
    let device = ts.demo.devices[0].device_id;
    let list: Value = ts
        .get(&admin, "/api/v1/devices?with_state=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state_of(&list, device), Value::Null, "{list}");
    for (status, expected) in [
        ("printing", "printing"),
        ("error", "error"),
        ("idle", "standby"),
    ] {
        let res = ts
            .client
            .post(ts.url("/api/v1/agent/device-data"))
            .bearer_auth(&ts.demo.agent.secret)
            .json(&crate::common::device_data_upload(
                ts.demo.agent.agent_id,
                Uuid::now_v7(),
                status,
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        // The records share a capture time: the newest by record id is the latest.
        let list: Value = ts
            .get(&admin, "/api/v1/devices?with_state=true")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(state_of(&list, device), expected, "{list}");
        // Without asking, the list opens no record and carries no state.
        let plain: Value = ts
            .get(&admin, "/api/v1/devices")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(state_of(&plain, device), Value::Null, "{plain}");
        let one: Value = ts
            .get(&admin, &format!("/api/v1/devices/{device}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(one["state"], expected);
    }
    let other = ts.demo.devices[1].device_id;
    assert_eq!(state_of(&list_now(&ts, &admin).await, other), Value::Null);
}

async fn list_now(ts: &TestServer, token: &str) -> Value {
    ts.get(token, "/api/v1/devices?with_state=true")
        .await
        .json()
        .await
        .unwrap()
}
