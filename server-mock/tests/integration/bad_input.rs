//! Bad input gets a specific 4xx problem naming the field, never a 500, never a partial write.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

async fn raw_post(
    ts: &TestServer,
    token: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    ts.client
        .post(ts.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_kind_of_bad_body_gets_its_own_answer() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let dev = ts.device(0);
    let path = "/api/v1/uploads/measurements";

    let res = raw_post(
        &ts,
        &token,
        path,
        "application/json",
        b"{\"schema_version\": 1, \"records\": [".to_vec(),
    )
    .await;
    expect_problem(res, StatusCode::BAD_REQUEST, "malformed_body").await;

    let res = raw_post(&ts, &token, path, "text/plain", b"{}".to_vec()).await;
    expect_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let mut wrong_type = measurement_record(dev, false, false);
    wrong_type["samples"][0]["lab"]["L"] = json!("fifty");
    let res = ts
        .post(&token, path, &measurement_upload(vec![wrong_type]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "records[0].samples[0].lab.L");

    let mut out_of_range = measurement_record(dev, false, false);
    out_of_range["samples"][0]["lab"]["L"] = json!(150.0);
    out_of_range["samples"][0]["spectrum"]["values"][3] = json!(-0.2);
    let res = ts
        .post(&token, path, &measurement_upload(vec![out_of_range]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"records[0].samples[0].spectrum.values[3]"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"records[0].samples[0].lab.L"),
        "{fields:?}"
    );

    let mut grid = measurement_record(dev, false, false);
    grid["samples"][0]["spectrum"]["interval_nm"] = json!(7);
    let res = ts.post(&token, path, &measurement_upload(vec![grid])).await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        p["errors"][0]["field"],
        "records[0].samples[0].spectrum.interval_nm"
    );

    let mut unknown = measurement_record(dev, false, false);
    unknown["colour"] = json!("blue");
    let res = ts
        .post(&token, path, &measurement_upload(vec![unknown]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{p}"
    );

    let res = ts
        .post(
            &token,
            path,
            &json!({"schema_version": 2, "records": [measurement_record(dev, false, false)]}),
        )
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "schema_version");

    let mut future = measurement_record(dev, false, false);
    future["captured_at"] = json!(chrono::Utc::now() + chrono::Duration::days(1));
    let res = ts
        .post(&token, path, &measurement_upload(vec![future]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "records[0].captured_at");

    let mut bad_photo = measurement_record(dev, false, true);
    bad_photo["photos"][0]["media_type"] = json!("image/png");
    let res = ts
        .post(&token, path, &measurement_upload(vec![bad_photo]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "records[0].photos[0].data_base64");

    let res = ts.post(&token, path, &measurement_upload(vec![])).await;
    expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let res = ts
        .post(&token, "/api/v1/consents", &json!({"decision_id": uuid::Uuid::new_v4(), "purpose": "location", "decision": "granted", "notice_version": "1", "decided_at": chrono::Utc::now()}))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "purpose");

    // Over the size limit: 413, for the declared length and for a body sent without one.
    let big = vec![b' '; ecsp_protocol::limits::BODY_BYTES + 1];
    let res = raw_post(&ts, &token, "/api/v1/uploads/dfe", "application/json", big).await;
    expect_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..3).map(|_| Ok(vec![b' '; 1024 * 1024])).collect();
    let res = ts
        .client
        .post(ts.url("/api/v1/uploads/dfe"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_stream(chunks)))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;

    // Ids that are not UUIDs, unknown paths and bad queries.
    expect_problem(
        ts.get(&token, "/api/v1/devices/not-a-uuid").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_problem(
        ts.get(&token, "/api/v1/nowhere").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = ts
        .get(&token, &format!("/api/v1/devices/{dev}/records?limit=0"))
        .await;
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;
    let res = ts
        .get(
            &token,
            &format!("/api/v1/devices/{dev}/records?kind=photos"),
        )
        .await;
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid_query").await;

    // None of it stored anything.
    let records: Vec<Value> = ts
        .get(&token, &format!("/api/v1/devices/{dev}/records"))
        .await
        .json()
        .await
        .unwrap();
    assert!(records.is_empty());
}

fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static {
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn vendor_settings_nested_in_arrays_are_bounded_in_depth() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let mut deep = json!(1);
    for _ in 0..120 {
        deep = json!([deep]);
    }
    let mut record = dfe_record(ts.device(0), None);
    record["print_settings"]["values"]["curve"] = deep;
    let res = ts
        .post(&token, "/api/v1/uploads/dfe", &dfe_upload(vec![record]))
        .await;
    let p = expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "records[0].print_settings.values");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("nest"));
    assert_eq!(ts.count("records").await, 0);
}

/// An answer given before the body was read (a bad token) still reaches a client that sends
/// its body after the headers, and the connection stays usable: the server reads (a bounded
/// amount of) the body rather than closing with it unread, which makes the kernel reset the
/// connection and discard the answer.
#[tokio::test]
async fn an_early_401_reaches_clients_still_sending_their_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ts = TestServer::start().await;
    let tls = std::sync::Arc::new(rustls_client_config(
        ts.server().ca_pem.as_deref().unwrap(),
        rustls::DEFAULT_VERSIONS,
    ));
    let mut tasks = Vec::new();
    for worker in 0..4usize {
        let (tls, addr) = (tls.clone(), ts.server().addr);
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut conn = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .unwrap();
            let mut answers = Vec::new();
            // Keep-alive: several requests on one connection, each body sent after a pause.
            for i in 0..3usize {
                let size = 20_000 + (worker * 3 + i) * 3_677 % 44_000;
                let head = format!(
                    "POST /api/v1/uploads/dfe HTTP/1.1\r\nhost: localhost\r\n\
                     authorization: Bearer ecsp_at_not_a_token\r\n\
                     content-type: application/json\r\ncontent-length: {size}\r\n\r\n"
                );
                if conn.write_all(head.as_bytes()).await.is_err() {
                    answers.push("headers not sent".to_string());
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if conn.write_all(&vec![b' '; size]).await.is_err() {
                    answers.push("body not sent".to_string());
                    break;
                }
                let mut buf = vec![0u8; 4096];
                let answer = match conn.read(&mut buf).await {
                    Ok(0) => "EOF".to_string(),
                    Ok(n) => String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    Err(e) => format!("{e}"),
                };
                let ok = answer.starts_with("HTTP/1.1 401");
                answers.push(answer);
                if !ok {
                    break;
                }
                // Read the rest of this answer (the problem body) before the next request.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let _ =
                    tokio::time::timeout(std::time::Duration::from_millis(50), conn.read(&mut buf))
                        .await;
            }
            answers
        }));
    }
    for t in tasks {
        let answers = t.await.unwrap();
        assert_eq!(answers.len(), 3, "{answers:?}");
        assert!(
            answers.iter().all(|a| a.starts_with("HTTP/1.1 401")),
            "{answers:?}"
        );
    }
}
