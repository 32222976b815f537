//! Ingestion: idempotency, all-or-nothing uploads, consent-gated parts.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn same_record_twice_is_stored_once_and_a_changed_body_is_refused() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let record = dfe_record(ts.device(0), None);
    let first = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![record.clone()]),
        )
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["records"][0]["status"], "created");

    // Same UUID, same content (even re-serialised with other whitespace): same answer, nothing new.
    let again = ts
        .client
        .post(ts.url("/api/v1/uploads/dfe"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(serde_json::to_string_pretty(&dfe_upload(vec![record.clone()])).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["records"][0]["status"], "already_stored");
    assert_eq!(
        again["records"][0]["stored_at"],
        first["records"][0]["stored_at"]
    );
    assert_eq!(ts.count("records").await, 1);

    // Same UUID, different content: refused, and the stored record is unchanged.
    let mut changed = record.clone();
    changed["software"]["version"] = json!("7.3.3");
    let res = ts
        .post(&token, "/api/v1/uploads/dfe", &dfe_upload(vec![changed]))
        .await;
    let p = expect_problem(res, StatusCode::CONFLICT, "record_conflict").await;
    assert_eq!(p["errors"][0]["field"], "records[0].record_id");
    let stored: Value = ts
        .get(
            &token,
            &format!("/api/v1/records/{}", record["record_id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["record"]["software"]["version"], "7.3.2");
    assert_eq!(ts.count("records").await, 1);
}

#[tokio::test]
async fn an_upload_is_all_or_nothing() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let stored = dfe_record(ts.device(0), None);
    ts.post(
        &token,
        "/api/v1/uploads/dfe",
        &dfe_upload(vec![stored.clone()]),
    )
    .await;
    let mut conflicting = stored.clone();
    conflicting["print_settings"]["preset_name"] = json!("Other");
    // A good record, then one on a device without rights: nothing stored.
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![
                dfe_record(ts.device(0), None),
                dfe_record(ts.device(2), None),
            ]),
        )
        .await;
    let p = expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(p["errors"][0]["field"], "records[1].device_id");
    // A good record, then a conflicting one: nothing stored.
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), None), conflicting]),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "record_conflict").await;
    assert_eq!(ts.count("records").await, 1);
    // A batch of good ones: all stored, receipts in order.
    let batch: Vec<Value> = (0..50).map(|_| dfe_record(ts.device(1), None)).collect();
    let ids: Vec<Value> = batch.iter().map(|r| r["record_id"].clone()).collect();
    let res = ts
        .post(&token, "/api/v1/uploads/dfe", &dfe_upload(batch))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let receipt: Value = res.json().await.unwrap();
    let got: Vec<Value> = receipt["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record_id"].clone())
        .collect();
    assert_eq!(got, ids);
    assert_eq!(ts.count("records").await, 51);
}

#[tokio::test]
async fn job_information_needs_consent_granted_at_capture_time() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let job =
        json!({"job_id": "J-1042", "job_name": "Client brochure v3.pdf", "copies": 2, "pages": 12});

    // Never granted: refused with the field named, nothing stored.
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), Some(job.clone()))]),
        )
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    assert_eq!(p["errors"][0]["field"], "records[0].job");
    assert!(p["detail"].as_str().unwrap().contains("job_info"));
    assert_eq!(ts.count("records").await, 0);

    // Refused: still refused. The same record without the job part goes through.
    grant_consent(&ts, &token, "job_info", "refused").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), Some(job.clone()))]),
        )
        .await;
    expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), None)]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Granted: accepted.
    grant_consent(&ts, &token, "job_info", "granted").await;
    let captured_while_granted = dfe_record(ts.device(0), Some(job.clone()));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), Some(job.clone()))]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Withdrawn: a record captured while granted is still accepted (consent is judged at
    // capture time); one captured after the withdrawal is not.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    grant_consent(&ts, &token, "job_info", "withdrawn").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![captured_while_granted]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), Some(job))]),
        )
        .await;
    expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    assert_eq!(ts.count("records").await, 3);

    // The history is append-only and complete.
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    let decisions: Vec<&str> = overview["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, vec!["refused", "granted", "withdrawn"]);
    let job_info = overview["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == "job_info")
        .unwrap();
    assert_eq!(job_info["granted"], false);
}

#[tokio::test]
async fn gps_and_photos_each_need_their_own_consent() {
    let ts = TestServer::start().await;
    let token = ts.token("technician").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &measurement_upload(vec![measurement_record(ts.device(0), true, true)]),
        )
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["records[0].gps", "records[0].photos"]);

    grant_consent(&ts, &token, "gps", "granted").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &measurement_upload(vec![measurement_record(ts.device(0), true, true)]),
        )
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "consent_required").await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 1);
    assert_eq!(p["errors"][0]["field"], "records[0].photos");

    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &measurement_upload(vec![measurement_record(ts.device(0), true, false)]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    grant_consent(&ts, &token, "photos", "granted").await;
    let rec = measurement_record(ts.device(0), true, true);
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &measurement_upload(vec![rec.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let stored: Value = ts
        .get(
            &token,
            &format!("/api/v1/records/{}", rec["record_id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["kind"], "measurement");
    assert_eq!(stored["record"]["samples"][0]["lab"]["L"], 54.2);
    assert_eq!(stored["record"]["photos"][0]["media_type"], "image/jpeg");
}

#[tokio::test]
async fn a_consent_decision_sent_twice_is_recorded_once() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let decision = json!({"decision_id": uuid::Uuid::new_v4(), "purpose": "gps", "decision": "granted",
                          "notice_version": "2026-11", "decided_at": chrono::Utc::now()});
    let first: Value = ts
        .post(&token, "/api/v1/consents", &decision)
        .await
        .json()
        .await
        .unwrap();
    let again = ts.post(&token, "/api/v1/consents", &decision).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["recorded_at"], first["recorded_at"]);
    let mut changed = decision.clone();
    changed["decision"] = json!("refused");
    let res = ts.post(&token, "/api/v1/consents", &changed).await;
    expect_problem(res, StatusCode::CONFLICT, "conflict").await;
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["history"].as_array().unwrap().len(), 1);
}

/// A device's state as the PC application read it from its DFE (a JMF `Status`, no job).
fn device_status_record(device: uuid::Uuid) -> Value {
    json!({
        "record_id": uuid::Uuid::new_v4(),
        "captured_at": chrono::Utc::now(),
        "device_id": device,
        "software": {"name": "CDMService", "version": "2.0.0"},
        "printer_status": "down",
        "error_codes": [{"code": "PaperJam", "description": "Error"}],
        "values": {"DeviceInfo.ProductionCounter": "1250"}
    })
}

#[tokio::test]
async fn device_status_from_the_pc_application_is_device_data_of_an_allowed_device() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let before_audit = ts.count("audit_log").await;
    let record = device_status_record(ts.device(0));
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/device-data",
            &dfe_upload(vec![record.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(receipt["records"][0]["status"], "created");
    let id = record["record_id"].as_str().unwrap();
    let stored: Value = ts
        .get(&token, &format!("/api/v1/records/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["kind"], "device_data");
    assert_eq!(stored["record"]["printer_status"], "down");
    assert_eq!(stored["record"]["error_codes"][0]["code"], "PaperJam");

    // Idempotent by record id.
    let again = ts
        .post(
            &token,
            "/api/v1/uploads/device-data",
            &dfe_upload(vec![record.clone()]),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["records"][0]["status"], "already_stored");
    assert_eq!(ts.count("records").await, 1);

    // A device the operator has no right to: refused as the DFE path refuses it, nothing stored.
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/device-data",
            &dfe_upload(vec![
                device_status_record(ts.device(0)),
                device_status_record(ts.device(2)),
            ]),
        )
        .await;
    let p = expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(p["errors"][0]["field"], "records[1].device_id");
    assert_eq!(ts.count("records").await, 1);

    let admin = ts.token("admin").await;
    let rows: Vec<Value> = ts
        .get(
            &admin,
            &format!("/api/v1/admin/audit?limit=1000&after={before_audit}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let uploads: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["action"] == "upload.device_data")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["object"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let object = format!("record:{id}");
    assert_eq!(uploads.len(), 3, "{uploads:?}");
    assert_eq!(uploads[0], ("success", object.as_str()));
    assert_eq!(uploads[1], ("success", object.as_str()));
    assert_ne!(uploads[2].0, "success");
}
