//! The server's log, as text and as JSON lines (`--log-format json`): secrets and personal data
//! a busy server handles never reach it, whatever the format. Canaries — an unknown address and
//! password, a wrong agent secret, a made-up bearer token, a new user's name and address, the
//! admin's real password and tokens — go through sign-in, upload and admin requests, and the
//! whole of what the process wrote (debug level, every crate) is searched for each.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::common::https_client;
use crate::startup::server;

/// Runs the requests against a server started with `format`; returns what it wrote to standard
/// error, and the secrets to look for.
async fn busy_server_log(format: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = server(
        &data,
        &[
            "--listen",
            "127.0.0.1:0",
            "--no-metrics",
            "--log-format",
            format,
        ],
    )
    .env("RUST_LOG", "debug")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all).await;
        all
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut port, mut admin_password) = (String::new(), String::new());
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("ECSP reference server listening on https://") {
                port = rest.rsplit(':').next().unwrap().to_owned();
            }
            if line.trim_start().starts_with("admin@demo.ecsp.example") {
                admin_password = line.split_whitespace().nth(2).unwrap().to_owned();
            }
            if line.trim_start().starts_with("agent ") {
                return;
            }
        }
    })
    .await
    .expect("started within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let ca = std::fs::read_to_string(data.join("tls/ca.pem")).unwrap();
    let client = https_client(&ca);
    let base = format!("https://localhost:{port}");

    let canary_email = "canary-7f3a@leak.example";
    let canary_password = "Canary-Password-7f3a";
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": canary_email, "password": canary_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let tokens: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@demo.ecsp.example", "password": admin_password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let canary_name = "Canary Person 7f3a";
    let canary_new_email = "canary-new-7f3a@leak.example";
    let created: Value = client
        .post(format!("{base}/api/v1/admin/users"))
        .bearer_auth(&access)
        .json(&json!({"email": canary_new_email, "name": canary_name, "role": "user"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated = created["password"].as_str().unwrap_or_default().to_owned();
    let canary_secret = "ecsp_ag_canarysecret7f3a";
    let res = client
        .post(format!("{base}/api/v1/agent/device-data"))
        .bearer_auth(canary_secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let canary_token = "canary-token-7f3a";
    let res = client
        .get(format!("{base}/api/v1/devices"))
        .bearer_auth(canary_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let _ = child.kill().await;
    let log = tokio::time::timeout(Duration::from_secs(10), log)
        .await
        .expect("the log ended")
        .unwrap();
    let mut secrets: Vec<String> = [
        canary_email,
        canary_password,
        canary_name,
        canary_new_email,
        canary_secret,
        canary_token,
        "7f3a",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.extend([admin_password, access, refresh]);
    if !generated.is_empty() {
        secrets.push(generated);
    }
    (log, secrets)
}

fn assert_no_secret(log: &str, secrets: &[String]) {
    assert!(log.lines().count() > 5, "the server logged: {log}");
    for secret in secrets {
        assert!(
            !log.contains(secret.as_str()),
            "`{secret}` reached the log:\n{}",
            log.lines()
                .filter(|l| l.contains(secret.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_personal_data_reaches_the_text_log() {
    let (log, secrets) = busy_server_log("text").await;
    assert_no_secret(&log, &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_log_is_one_object_per_line_and_carries_no_secret() {
    let (log, secrets) = busy_server_log("json").await;
    assert_no_secret(&log, &secrets);
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let object: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        assert!(
            object["timestamp"].is_string() && object["level"].is_string(),
            "{line}"
        );
        assert!(object["fields"].is_object(), "{line}");
    }
}
