//! The metrics listener of the `ecsp-server` binary: what a busy server serves is valid
//! Prometheus text (`promtool check metrics`), counts what happened, carries no id of a person,
//! an organisation or a device in any label, and a real Prometheus scrapes it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::common::{device_data_upload, https_client};
use crate::startup::server;

/// What the server printed: the HTTPS port, the metrics URL, the admin's password and the
/// demo agent's id and secret.
struct Started {
    child: tokio::process::Child,
    port: String,
    metrics: String,
    admin_password: String,
    agent: (Uuid, String),
}

async fn start(data: &Path) -> Started {
    let mut child = server(
        data,
        &["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if line.trim_start().starts_with("agent ") {
                return;
            }
        }
        panic!("the server's output ended early: {printed}");
    })
    .await
    .expect("the server started within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let find = |prefix: &str| -> Vec<String> {
        printed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in: {printed}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let listening = find("ECSP reference server listening on");
    let agent = find("agent ");
    Started {
        child,
        port: listening[5].rsplit(':').next().unwrap().to_owned(),
        metrics: find("metrics (Prometheus):")[2].clone(),
        admin_password: find("admin@demo.ecsp.example")[2].clone(),
        agent: (agent[1].parse().unwrap(), agent[3].clone()),
    }
}

/// One `name{labels} value` line of the text format.
type Sample = (String, Vec<(String, String)>, f64);

/// The samples of the text format.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").unwrap();
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().unwrap())
        })
        .collect()
}

fn value(all: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    all.iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// A label value that names a particular person, organisation, device or record: a UUID, an
/// e-mail address, a long number (a row id, a serial number's digits) or a serial number.
fn names_someone(value: &str) -> bool {
    let hex_run = value
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|part| part.len() >= 8 && part.chars().any(|c| c.is_ascii_digit()));
    value.contains('@') || hex_run || value.contains("X4DEMO") || value.contains("Demo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_servers_metrics_are_valid_count_what_happened_and_name_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let started = start(&dir.path().join("data")).await;
    let ca = std::fs::read_to_string(dir.path().join("data/tls/ca.pem")).unwrap();
    let client = https_client(&ca);
    let base = format!("https://localhost:{}", started.port);

    // Sign-ins: two refused, one let in.
    for wrong in ["wrong-1", "wrong-2"] {
        let res = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "admin@demo.ecsp.example", "password": wrong}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let tokens: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "admin@demo.ecsp.example", "password": started.admin_password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    // Device data: five accepted, one refused (it names the other kind of agent).
    let (agent, secret) = &started.agent;
    for _ in 0..5 {
        let res = client
            .post(format!("{base}/api/v1/agent/device-data"))
            .bearer_auth(secret)
            .json(&device_data_upload(*agent, Uuid::now_v7(), "standby"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let mut wrong_kind = device_data_upload(*agent, Uuid::now_v7(), "standby");
    wrong_kind["agent"]["agent_type"] = json!("es_agent");
    let res = client
        .post(format!("{base}/api/v1/agent/device-data"))
        .bearer_auth(secret)
        .json(&wrong_kind)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Pages of several devices: each id in a path, one route template in the metrics.
    let devices: Vec<Value> = client
        .get(format!("{base}/api/v1/devices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for d in &devices {
        let res = client
            .get(format!(
                "{base}/api/v1/devices/{}",
                d["device_id"].as_str().unwrap()
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    let text = client
        .get(&started.metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let all = samples(&text);
    assert_eq!(
        value(
            &all,
            "ecsp_signin_refusals_total",
            &[("reason", "invalid_credentials")]
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        value(
            &all,
            "ecsp_uploads_total",
            &[("kind", "device_data"), ("outcome", "accepted")]
        ),
        5.0
    );
    assert_eq!(
        value(
            &all,
            "ecsp_uploads_total",
            &[("kind", "device_data"), ("outcome", "forbidden")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &all,
            "ecsp_http_requests_total",
            &[("route", "/api/v1/devices/{device_id}"), ("status", "200")]
        ),
        devices.len() as f64,
        "{text}"
    );
    assert!(
        value(
            &all,
            "ecsp_http_request_duration_seconds_count",
            &[("route", "/api/v1/auth/login")]
        ) >= 3.0
    );
    assert!(
        value(&all, "ecsp_db_write_seconds_count", &[]) >= 5.0,
        "{text}"
    );
    assert!(
        value(&all, "ecsp_audit_rows_total", &[("outcome", "denied")]) >= 1.0,
        "{text}"
    );
    assert_eq!(value(&all, "ecsp_operations", &[("state", "queued")]), 0.0);
    assert_eq!(value(&all, "ecsp_mqtt_connections", &[]), 0.0);

    // Bounded: no label names anyone, and a busy server has few series.
    for (name, labels, _) in &all {
        for (k, v) in labels {
            assert!(!names_someone(v), "{name}: label {k}=\"{v}\" names someone");
        }
    }
    assert!(all.len() < 600, "{} series", all.len());

    // What promtool (Debian `prometheus`, installed by scripts/setup-debian.sh) says of it.
    let metrics_file = dir.path().join("metrics.txt");
    std::fs::write(&metrics_file, &text).unwrap();
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&metrics_file).unwrap())
        .output()
        .expect("promtool is installed by scripts/setup-debian.sh (Debian package prometheus)");
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // A real Prometheus scrapes it every second.
    let prometheus_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = started
        .metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: ecsp\n    static_configs: [{{targets: ['{target}']}}]\n"
        ),
    )
    .unwrap();
    let mut prometheus = tokio::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus is installed by scripts/setup-debian.sh");
    let query = format!(
        "http://127.0.0.1:{prometheus_port}/api/v1/query?query=ecsp_uploads_total%7Boutcome%3D%22accepted%22%7D"
    );
    let mut scraped = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(res) = client.get(&query).send().await else {
            continue;
        };
        let Ok(body) = res.json::<Value>().await else {
            continue;
        };
        if let Some(v) = body["data"]["result"][0]["value"][1].as_str() {
            scraped = Some(v.to_owned());
            break;
        }
    }
    assert_eq!(
        scraped.as_deref(),
        Some("5"),
        "Prometheus scraped the accepted uploads within 30 s"
    );
    let _ = prometheus.kill().await;
    drop(started.child);
}
