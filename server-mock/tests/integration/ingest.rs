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
pub(crate) fn device_status_record(device: uuid::Uuid) -> Value {
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

/// Agents' uploads go into batches on PostgreSQL: many at once, some repeating a record (a
/// retry) and some reusing its id for other content, must each be answered as if alone.
#[tokio::test]
async fn concurrent_agent_uploads_of_the_same_ids_store_each_once() {
    let ts = TestServer::start().await;
    let secret = ts.demo.agent.secret.clone();
    let agent = ts.demo.agent.agent_id;
    // The first upload names the printer to the server's device cache.
    let warm = ts
        .post(
            &secret,
            "/api/v1/agent/device-data",
            &device_data_upload(agent, uuid::Uuid::now_v7(), "idle"),
        )
        .await;
    assert_eq!(warm.status(), StatusCode::CREATED);

    let ids: Vec<uuid::Uuid> = (0..40).map(|_| uuid::Uuid::now_v7()).collect();
    // Each id three times at once: twice "printing" (the same record) and once "idle".
    let sends = ids.iter().flat_map(|id| {
        ["printing", "idle", "printing"].map(|status| {
            let ts = &ts;
            let secret = &secret;
            async move {
                let res = ts
                    .post(
                        secret,
                        "/api/v1/agent/device-data",
                        &device_data_upload(agent, *id, status),
                    )
                    .await;
                let code = res.status();
                let body: Value = res.json().await.unwrap();
                (*id, status, code, body)
            }
        })
    });
    let answers = futures_util::future::join_all(sends).await;

    let mut successes = 0;
    for id in &ids {
        let mine: Vec<_> = answers.iter().filter(|(i, ..)| i == id).collect();
        let created = mine
            .iter()
            .filter(|(_, _, _, b)| b["records"][0]["status"] == "created")
            .count();
        assert_eq!(created, 1, "one `created` for {id}: {mine:?}");
        let stored: Vec<_> = mine
            .iter()
            .filter(|(_, _, code, _)| code.is_success())
            .map(|(_, status, ..)| *status)
            .collect();
        let refused: Vec<_> = mine
            .iter()
            .filter(|(_, _, code, _)| *code == StatusCode::CONFLICT)
            .map(|(_, status, ..)| *status)
            .collect();
        assert_eq!(stored.len() + refused.len(), 3, "{mine:?}");
        assert!(
            stored.iter().all(|s| *s == stored[0]) && !refused.contains(&stored[0]),
            "the answers agree on which content is stored under {id}: {mine:?}"
        );
        successes += stored.len();
    }
    let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let (records, audited) = ts
        .read_sql(move |c| {
            let mut records = 0;
            let mut audited = 0;
            for id in &listed {
                records += c.query_row(
                    "SELECT COUNT(*) FROM records WHERE record_id = ?1",
                    [id],
                    |r| r.get::<_, i64>(0),
                )?;
                audited += c.query_row(
                    "SELECT COUNT(*) FROM audit_log WHERE object = ?1 AND outcome = 'success'",
                    [format!("record:{id}")],
                    |r| r.get::<_, i64>(0),
                )?;
            }
            Ok((records, audited))
        })
        .await;
    assert_eq!(records, ids.len() as i64, "each id stored once");
    assert_eq!(
        audited, successes as i64,
        "one audit row per answered record"
    );
}

/// The internal ids a direct call of the store needs: the demo organisation, its printer and
/// its agent.
async fn demo_ids(ts: &TestServer) -> (i64, i64, i64) {
    let device = ts.device(0).to_string();
    let agent = ts.demo.agent.agent_id.to_string();
    ts.read_sql(move |c| {
        let (org, device) = c.query_row(
            "SELECT org_id, id FROM devices WHERE public_id = ?1",
            [&device],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        let agent = c.query_row(
            "SELECT id FROM agents WHERE public_id = ?1",
            [&agent],
            |r| r.get::<_, i64>(0),
        )?;
        Ok((org, device, agent))
    })
    .await
}

fn batch_upload(
    (org, device, agent): (i64, i64, i64),
    agent_public: uuid::Uuid,
    records: &[(uuid::Uuid, u8)],
) -> ecsp_server_mock::store::records::Upload {
    use ecsp_server_mock::store::records::{Incoming, SealedBody, Upload, Uploader};
    Upload {
        org_id: org,
        uploader: Uploader::Agent(agent),
        actor: ecsp_protocol::admin::Actor::Agent(agent_public),
        action: "upload.device_data",
        records: records
            .iter()
            .map(|(id, content)| Incoming {
                record_id: *id,
                kind: ecsp_protocol::upload::RecordKind::DeviceData,
                device_id: device,
                captured_at: chrono::Utc::now(),
                body: SealedBody {
                    fingerprint: [*content; 32],
                    ciphertext: vec![*content; 48],
                },
                status: None,
            })
            .collect(),
    }
}

/// One batch's answers, upload by upload, are those each would get alone: records repeated
/// within an upload, across uploads of the batch and from before it are "already stored" when
/// the content is the same and refuse their whole upload when it is not, and a refused upload
/// stores nothing while the others are stored.
#[tokio::test]
async fn a_batch_answers_each_upload_as_if_it_came_alone() {
    use ecsp_server_mock::error::ApiError;
    use ecsp_server_mock::store::records;
    let ts = TestServer::start().await;
    let ids = demo_ids(&ts).await;
    let agent = ts.demo.agent.agent_id;
    let [before, a, b, c, d] = [(); 5].map(|_| uuid::Uuid::now_v7());
    let earlier = batch_upload(ids, agent, &[(before, 1)]);
    ts.db()
        .write(move |conn| records::store_upload(conn, &earlier))
        .await
        .unwrap();

    let batch = vec![
        // New and stored-before (same content).
        batch_upload(ids, agent, &[(a, 1), (before, 1)]),
        // New, then stored-before with other content: refused whole, `b` not stored.
        batch_upload(ids, agent, &[(b, 1), (before, 2)]),
        // The first upload's new record again, same content.
        batch_upload(ids, agent, &[(a, 1)]),
        // One record twice in one upload.
        batch_upload(ids, agent, &[(c, 3), (c, 3)]),
        // The first upload's new record with other content.
        batch_upload(ids, agent, &[(d, 4), (a, 9)]),
    ];
    let answers = ts
        .db()
        .write(move |conn| records::store_uploads(conn, &batch))
        .await
        .unwrap();
    let statuses: Vec<Result<Vec<String>, String>> = answers
        .iter()
        .map(|a| match a {
            Ok(receipt) => Ok(receipt
                .records
                .iter()
                .map(|r| format!("{:?}", r.status))
                .collect()),
            Err(ApiError::RecordConflict(errors)) => Err(errors[0].field.clone()),
            Err(other) => panic!("unexpected refusal {other:?}"),
        })
        .collect();
    let ok = |s: &[&str]| Ok(s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        statuses,
        vec![
            ok(&["Created", "AlreadyStored"]),
            Err("records[1].record_id".to_owned()),
            ok(&["AlreadyStored"]),
            ok(&["Created", "AlreadyStored"]),
            Err("records[1].record_id".to_owned()),
        ]
    );
    let wanted: Vec<String> = [before, a, b, c, d]
        .iter()
        .map(ToString::to_string)
        .collect();
    let stored = ts
        .read_sql(move |conn| {
            wanted
                .iter()
                .map(|id| {
                    let records = conn.query_row(
                        "SELECT COUNT(*) FROM records WHERE record_id = ?1",
                        [id],
                        |r| r.get::<_, i64>(0),
                    )?;
                    let audited = conn.query_row(
                        "SELECT COUNT(*) FROM audit_log WHERE object = ?1",
                        [format!("record:{id}")],
                        |r| r.get::<_, i64>(0),
                    )?;
                    Ok((records, audited))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    // before: stored earlier, audited then and in the first upload; a: stored, audited in the
    // first and third; b and d: in refused uploads only; c: stored once, audited twice.
    assert_eq!(stored, vec![(1, 2), (1, 2), (0, 0), (1, 2), (0, 0)]);
}

/// Another writer storing one of a batch's new ids between the batch's look-up and its insert
/// (another server node) makes the whole batch fail, storing nothing, rather than answering
/// "created" for a record someone else stored; the server then stores each upload alone.
#[tokio::test]
async fn a_batch_that_races_another_writer_stores_nothing() {
    use ecsp_server_mock::store::records;
    if postgres_only("a_batch_that_races_another_writer_stores_nothing").is_none() {
        return;
    }
    let ts = TestServer::start().await;
    let ids = demo_ids(&ts).await;
    let agent = ts.demo.agent.agent_id;
    let [mine, contested] = [(); 2].map(|_| uuid::Uuid::now_v7());
    // The other writer inserts `contested` and holds its transaction open a while.
    let other = batch_upload(ids, agent, &[(contested, 1)]);
    let db = ts.db().clone();
    let holder = tokio::spawn(async move {
        db.write(move |conn| {
            let receipt = records::store_upload(conn, &other);
            std::thread::sleep(std::time::Duration::from_millis(1500));
            receipt
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // The batch does not see the uncommitted row, waits on it at the insert, then finds it taken.
    let batch = vec![batch_upload(ids, agent, &[(mine, 1), (contested, 1)])];
    let raced = ts
        .db()
        .write(move |conn| records::store_uploads(conn, &batch))
        .await;
    assert!(
        matches!(&raced, Err(ecsp_server_mock::error::ApiError::Store(_))),
        "{raced:?}"
    );
    holder.await.unwrap().unwrap();
    let mine = mine.to_string();
    let stored = ts
        .read_sql(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM records WHERE record_id = ?1",
                [&mine],
                |r| r.get::<_, i64>(0),
            )
        })
        .await;
    assert_eq!(stored, 0, "nothing of the failed batch is stored");
}
