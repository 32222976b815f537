//! `ecsp-server rotate-data-key` on a serving installation: killed part-way through and run
//! again, then nothing on disk (the SQLite file and its log; a `pg_dump` on PostgreSQL) holds a
//! value sealed under the old key, the running server followed without a restart, sign-in by
//! e-mail works, and a restarted server opens everything with the new key alone.

use std::process::Stdio;
use std::time::Duration;

use ecsp_server_mock::crypto::{DataKey, read_key_file};
use ecsp_server_mock::testing::{pg_tool, url_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::common::TestServer;
use crate::startup::server;

/// `n` device-data records in uploads of up to 500.
async fn upload(ts: &TestServer, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let records: Vec<Value> = chunk
            .iter()
            .map(|i| {
                let id = Uuid::now_v7();
                ids.push(id);
                json!({"record_id": id, "captured_at": format!("2026-12-01T07:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                       "device": {"manufacturer": "Epson", "model": "SureColor SC-P9500", "serial_number": "X4DEMO0001",
                                  "firmware_version": "AB12", "printer_status": "printing"}})
            })
            .collect();
        let res = ts
            .client
            .post(ts.url("/api/v1/agent/device-data"))
            .bearer_auth(&ts.demo.agent.secret)
            .json(&json!({
                "schema_version": 1,
                "agent": {"agent_id": ts.demo.agent.agent_id, "agent_type": "dc_agent", "agent_version": "5.2",
                          "collection_type": "scheduled", "sent_at": "2026-12-01T08:00:00Z"},
                "records": records
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    ids
}

fn rotate(ts: &TestServer) -> tokio::process::Command {
    let config = ts.config();
    let mut c = server(&config.data_dir, &["rotate-data-key"]);
    if let Some(target) = &ts.database {
        c.arg("--database").arg(url_of(target));
    }
    c.env_remove("ECSP_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Where the bytes of a value sealed under `prefix`'s key could be found on disk.
async fn bytes_on_disk(ts: &TestServer) -> Vec<u8> {
    match &ts.database {
        None => {
            let file = ts.config().data_dir.join(ecsp_server_mock::DATABASE_FILE);
            let mut all = std::fs::read(&file).unwrap();
            all.extend(std::fs::read(format!("{}-wal", file.display())).unwrap_or_default());
            all
        }
        Some(target) => {
            // bytea in a plain dump is `\x` and lower-case hex: compared as such below.
            let out = tokio::process::Command::new(pg_tool("pg_dump"))
                .arg("--data-only")
                .arg(url_of(target))
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_part_way_and_run_again_leaves_nothing_under_the_old_key() {
    let mut ts = TestServer::start().await;
    let before = upload(&ts, 1200).await;
    let key_file = ts.config().data_key_path();
    let old = read_key_file(&key_file).unwrap();
    assert_eq!(old.len(), 1);
    let old_prefix = DataKey::from_master(&old[0]).ciphertext_prefix();
    let old_needle: Vec<u8> = match &ts.database {
        None => old_prefix.clone(),
        Some(_) => format!("\\x{}", hex::encode(&old_prefix)).into_bytes(),
    };
    assert!(
        holds(&bytes_on_disk(&ts).await, &old_needle),
        "the scan finds the old key's values"
    );

    // The first run is killed after a random number of the records' batches.
    let stop_after = fastrand::usize(1..=3);
    let mut first = rotate(&ts).spawn().unwrap();
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    let mut seen = 0;
    let mut said = String::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the rotation makes progress")
        .unwrap()
    {
        said.push_str(&line);
        said.push('\n');
        if line.trim_start().starts_with("records.body_enc up to row") {
            seen += 1;
            if seen == stop_after {
                break;
            }
        }
    }
    assert_eq!(seen, stop_after, "{said}");
    first.kill().await.unwrap();
    let _ = first.wait().await;
    assert_eq!(
        read_key_file(&key_file).unwrap().len(),
        2,
        "old and new key, mid-rotation"
    );

    // The server took the new key without a restart: what it stores now is sealed under it,
    // and old and new both open.
    let during = upload(&ts, 10).await;
    let admin = ts.token("admin").await;
    for id in [before[0], before[before.len() - 1], during[0]] {
        let res = ts.get(&admin, &format!("/api/v1/records/{id}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "record {id} opens mid-rotation"
        );
    }

    let second = rotate(&ts).output().await.unwrap();
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(out.contains("a rotation was under way"), "{out}");
    assert!(out.contains("done: every sealed value"), "{out}");
    let new = read_key_file(&key_file).unwrap();
    assert_eq!(new.len(), 1, "the old key is gone from the key file");
    assert_ne!(new[0].as_slice(), old[0].as_slice());
    // Let the running server drop the old key too.
    tokio::time::sleep(ecsp_server_mock::crypto::KEY_FILE_CHECK * 2).await;

    assert!(
        !holds(&bytes_on_disk(&ts).await, &old_needle),
        "a value sealed under the old key is still on disk"
    );
    // Sign-in by e-mail (the blind index was recomputed), names and records open.
    let admin = ts.token("admin").await;
    let me: Value = ts.get(&admin, "/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["organization_name"], "Demo Print Shop", "{me}");
    for id in [before[0], before[before.len() - 1], during[0]] {
        let res = ts.get(&admin, &format!("/api/v1/records/{id}")).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "record {id} opens after the rotation"
        );
    }
    // A server started now holds the new key only, and opens everything.
    ts.restart_with(|_| {}).await;
    let admin = ts.token("admin").await;
    let res = ts
        .get(&admin, &format!("/api/v1/records/{}", before[600]))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
