//! HTTPS only, TLS 1.2 and 1.3 only; the local CA is downloadable and signs the server.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::StatusCode;

use crate::common::*;

/// A TLS 1.1 ClientHello (no supported_versions extension), as an old client would send.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([0x42u8; 32]); // random
    body.push(0); // session id
    let suites: [u8; 8] = [0xc0, 0x13, 0xc0, 0x14, 0x00, 0x2f, 0x00, 0x35];
    body.extend((suites.len() as u16).to_be_bytes());
    body.extend(suites);
    body.extend([1, 0]); // compression: null
    let mut handshake = vec![0x01];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn tls_1_1_is_refused_and_1_2_and_1_3_are_served() {
    let ts = TestServer::start().await;
    let addr = ts.server().addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&tls11_client_hello()).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    })
    .await
    .unwrap();
    assert!(
        !answer.is_empty(),
        "the server answers with an alert, not silence"
    );
    assert_eq!(
        answer[0], 0x15,
        "a TLS alert record, not a ServerHello: {answer:02x?}"
    );
    // A fatal alert: rustls answers handshake_failure (40) to a hello offering no version it
    // speaks; protocol_version (70) would be as good.
    assert_eq!(answer[answer.len() - 2], 2, "fatal alert: {answer:02x?}");
    assert!(
        [40, 70].contains(&answer[answer.len() - 1]),
        "{answer:02x?}"
    );

    let ca = ts.server().ca_pem.clone().unwrap();
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(rustls_client_config(&ca, &[version]))
            .build()
            .unwrap();
        let res = client.get(ts.url("/health")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{version:?}");
    }
}

#[tokio::test]
async fn plain_http_gets_no_answer() {
    let ts = TestServer::start().await;
    let addr = ts.server().addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    })
    .await
    .unwrap();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "the server answered plain HTTP: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!String::from_utf8_lossy(&answer).contains("\"status\":\"ok\""));
}

#[tokio::test]
async fn the_downloadable_ca_is_the_one_that_signed_the_server() {
    let ts = TestServer::start().await;
    let pem = ts
        .client
        .get(ts.url("/ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(pem, ts.server().ca_pem.clone().unwrap());
    // A client trusting only this download reaches the server; one trusting nothing does not.
    assert_eq!(
        https_client(&pem)
            .get(ts.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let untrusting = reqwest::Client::builder()
        .use_preconfigured_tls(
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        )
        .build()
        .unwrap();
    assert!(untrusting.get(ts.url("/health")).send().await.is_err());
}

#[tokio::test]
async fn openapi_describes_every_endpoint_with_its_auth() {
    let ts = TestServer::start().await;
    let doc: serde_json::Value = ts
        .client
        .get(ts.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/health",
        "/ready",
        "/ca.pem",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/consents",
        "/api/v1/devices",
        "/api/v1/devices/{device_id}",
        "/api/v1/devices/{device_id}/records",
        "/api/v1/records/{record_id}",
        "/api/v1/uploads/dfe",
        "/api/v1/uploads/measurements",
        "/api/v1/uploads/device-data",
        "/api/v1/agent/device-data",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{user_id}",
        "/api/v1/admin/users/{user_id}/devices/{device_id}",
        "/api/v1/admin/devices",
        "/api/v1/admin/agents",
        "/api/v1/admin/audit",
    ] {
        assert!(paths.contains_key(p), "{p} missing from /openapi.json");
    }
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("user_token") && schemes.contains_key("agent_secret"));
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let public = path == "/health"
                || path == "/ready"
                || path == "/ca.pem"
                || path.starts_with("/api/v1/auth/") && path != "/api/v1/auth/logout";
            assert_eq!(
                op.get("security").is_none(),
                public,
                "{method} {path} security"
            );
        }
    }
}

#[tokio::test]
async fn answers_carry_hsts_and_the_certificate_lives_at_most_200_days() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    for res in [
        ts.client.get(ts.url("/health")).send().await.unwrap(),
        ts.get(&token, "/api/v1/nowhere").await,
        ts.get("ecsp_at_forged", "/api/v1/me").await,
    ] {
        assert_eq!(
            res.headers()["strict-transport-security"],
            "max-age=63072000; includeSubDomains"
        );
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }
    let expires: i64 = std::fs::read_to_string(ts.data_dir().join("tls/server.expires"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let days = (expires - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!((199.0..=200.0).contains(&days), "{days}");
    assert_eq!(ecsp_server_mock::tls::SERVER_DAYS, 200);
}

/// The document says what the server does: errors as problem+json, every refusal an operation
/// can give, query parameters in the query, and the body rules the server enforces.
#[tokio::test]
async fn openapi_matches_the_servers_errors_parameters_and_rules() {
    let ts = TestServer::start().await;
    let doc: serde_json::Value = ts
        .client
        .get(ts.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // A field fault is `field` and `message` on the wire; the rule's name stays in process.
    let fault: Vec<&String> = doc["components"]["schemas"]["FieldError"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(fault, vec!["field", "message"]);
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let types: Vec<&String> =
                        response["content"].as_object().unwrap().keys().collect();
                    assert_eq!(types, vec!["application/problem+json"], "{at} {status}");
                }
            }
            let has = |s: &str| responses.contains_key(s);
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(has(s), "{at} lacks {s}");
                }
            }
            if op.get("security").is_some() {
                assert!(has("401"), "{at} lacks 401");
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(p["in"] == "path", in_path, "{at} parameter {name}");
                if !in_path {
                    assert_eq!(p["in"], "query", "{at} parameter {name}");
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["NewUser"]["properties"]["password"]["minLength"],
        12
    );
    assert_eq!(schemas["NewUser"]["properties"]["email"]["format"], "email");
    assert_eq!(schemas["NewDevice"]["properties"]["model"]["minLength"], 1);
    assert_eq!(schemas["DfeUpload"]["properties"]["records"]["minItems"], 1);
    assert_eq!(
        schemas["DfeUpload"]["properties"]["schema_version"]["maximum"],
        1
    );
    assert_eq!(
        schemas["DeviceDataUpload"]["properties"]["records"]["minItems"],
        1
    );
    assert!(schemas["LoginRequest"]["properties"]["installation_id"].is_object());
}
