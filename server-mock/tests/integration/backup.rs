//! `ecsp-server backup` while the server takes an ingest flood, and `restore` into a new
//! installation: every record acknowledged before the backup began is in it, the server starts
//! on it with the original data key, and refuses to start without it or with another one.
//! Runs on the engine of the pass (SQLite file, or PostgreSQL through pg_dump / pg_restore).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecsp_server_mock::testing::{new_database, on_postgres, postgres_admin, url_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::common::{TestServer, device_data_upload, https_client};
use crate::startup::server;

/// `ecsp-server` with the installation's engine: `--data-dir DIR`, and `--database URL` on
/// PostgreSQL.
fn command(data_dir: &Path, database: Option<&str>, args: &[&str]) -> tokio::process::Command {
    let mut c = server(data_dir, args);
    if let Some(url) = database {
        c.arg("--database").arg(url);
    }
    c.env_remove("ECSP_DATABASE_URL");
    c
}

async fn run(mut c: tokio::process::Command) -> (bool, String) {
    let out = c.output().await.unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every record id stored for `device`, through the API's pages.
async fn stored_ids(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    device: Uuid,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = String::new();
    loop {
        let page: Vec<Value> = client
            .get(format!(
                "{base}/api/v1/devices/{device}/records?limit=500{next}"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        next = format!(
            "&before={}&before_id={}",
            urlencode(last["captured_at"].as_str().unwrap()),
            last["record_id"].as_str().unwrap()
        );
        ids.extend(
            page.iter()
                .map(|r| r["record_id"].as_str().unwrap().to_owned()),
        );
        if page.len() < 500 {
            break;
        }
    }
    ids
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_an_ingest_flood_restores_every_acknowledged_record() {
    let ts = TestServer::start().await;
    let config = ts.config();
    let database = ts.database.as_ref().map(url_of);
    let base = format!("https://localhost:{}", ts.addr.port());
    let client = https_client(&ts.ca_pem);
    let agent = ts.demo.agent.agent_id;
    let secret = ts.demo.agent.secret.clone();

    // The flood: four uploaders, each id kept with the moment its 201 arrived.
    let acknowledged: Arc<Mutex<Vec<(Instant, Uuid)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut uploaders = Vec::new();
    for _ in 0..4 {
        let (client, base, secret) = (client.clone(), base.clone(), secret.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        uploaders.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = Uuid::now_v7();
                let res = client
                    .post(format!("{base}/api/v1/agent/device-data"))
                    .bearer_auth(&secret)
                    .json(&device_data_upload(agent, id, "printing"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                acknowledged.lock().unwrap().push((Instant::now(), id));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let backup_file = dir.path().join("ecsp.backup");
    let began = Instant::now();
    let (ok, said) = run(command(
        &config.data_dir,
        database.as_deref(),
        &["backup", "--to", backup_file.to_str().unwrap()],
    ))
    .await;
    assert!(ok, "backup: {said}");
    assert!(said.contains("holds no data key"), "{said}");
    // The flood goes on a little after the backup, then stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for u in uploaders {
        u.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<Uuid> = acknowledged
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, id)| *id)
        .collect();
    let after = acknowledged.len() - before.len();
    assert!(
        before.len() > 20 && after > 0,
        "{} before, {after} after",
        before.len()
    );
    // Nothing is ever overwritten.
    let (ok, said) = run(command(
        &config.data_dir,
        database.as_deref(),
        &["backup", "--to", backup_file.to_str().unwrap()],
    ))
    .await;
    assert!(!ok && said.contains("exists already"), "{said}");

    // Restore into a new installation: a new data directory (and a new, empty database).
    let restored_dir = dir.path().join("restored");
    let restored_database = match postgres_admin().filter(|_| on_postgres()) {
        Some(admin) => Some(url_of(&new_database(&admin).await)),
        None => None,
    };
    let (ok, said) = run(command(
        &restored_dir,
        restored_database.as_deref(),
        &["restore", "--from", backup_file.to_str().unwrap()],
    ))
    .await;
    assert!(ok, "restore: {said}");
    assert!(said.contains("--data-key-file"), "{said}");
    if restored_database.is_none() {
        // SQLite: into a directory that holds a database already, never.
        let (ok, said) = run(command(
            &restored_dir,
            None,
            &["restore", "--from", backup_file.to_str().unwrap()],
        ))
        .await;
        assert!(!ok && said.contains("exists already"), "{said}");
    }

    // Without the key, or with another installation's, the server does not start on it.
    let listen = ["--listen", "127.0.0.1:0", "--no-metrics"];
    let (ok, said) = run(command(
        &restored_dir,
        restored_database.as_deref(),
        &listen,
    ))
    .await;
    assert!(!ok && said.contains("sealed with a data key"), "{said}");
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let mut wrong = command(&restored_dir, restored_database.as_deref(), &listen);
    wrong.arg("--data-key-file").arg(&other_key);
    let (ok, said) = run(wrong).await;
    assert!(
        !ok && said.contains("does not open this database"),
        "{said}"
    );

    // With the original key it starts, the demo admin signs in, and every record acknowledged
    // before the backup began is there.
    let mut started = command(&restored_dir, restored_database.as_deref(), &listen);
    started
        .arg("--data-key-file")
        .arg(config.data_key_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = started.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the restored server started")
        .unwrap()
    {
        if let Some(rest) = line.strip_prefix("ECSP reference server listening on https://") {
            port = Some(rest.rsplit(':').next().unwrap().to_owned());
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let restored_base = format!("https://localhost:{}", port.unwrap());
    // The restored installation made itself a new local CA (the backup holds no TLS files).
    let restored_ca = std::fs::read_to_string(restored_dir.join("tls/ca.pem")).unwrap();
    let restored_client = https_client(&restored_ca);
    let (email, password) = ts.password("admin");
    let tokens: Value = restored_client
        .post(format!("{restored_base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"]
        .as_str()
        .expect("signed in")
        .to_owned();
    let device = ts.demo.devices[0].device_id;
    let stored = stored_ids(&restored_client, &restored_base, &token, device).await;
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let missing: Vec<&Uuid> = before
        .iter()
        .filter(|id| !stored.contains(&id.to_string()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records missing from the restored installation",
        missing.len(),
        before.len()
    );
    let _ = child.kill().await;
}
