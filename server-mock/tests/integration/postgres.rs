//! What only PostgreSQL has: moving an installation onto it, starting against it (unreachable,
//! newer, several servers at once), and losing it while serving. The tests that hold on both
//! engines are the rest of this binary, run once per engine by `scripts/test.sh`.

use std::process::{Command, Output};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use ecsp_server_mock::db::{Database, PostgresTarget, StoreError};
use ecsp_server_mock::testing::OwnCluster;

fn server_binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecsp-server"));
    c.env_remove("ECSP_DATABASE_URL")
        .env_remove("PGPASSWORD")
        .env_remove("ECSP_DATA_KEY");
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a user can read of an installation through the API: every record of the demo devices,
/// the operator's consent decisions, the operations, the audit log (up to `audit_until`).
async fn everything(
    ts: &TestServer,
    audit_until: Option<i64>,
) -> (Vec<Value>, Value, Value, Vec<Value>) {
    let operator = ts.token("operator").await;
    let support = ts.token("support").await;
    let admin = ts.token("admin").await;
    let mut records = Vec::new();
    for i in 0..2 {
        let page: Value = ts
            .get(
                &operator,
                &format!("/api/v1/devices/{}/records?limit=500", ts.device(i)),
            )
            .await
            .json()
            .await
            .unwrap();
        records.push(page);
    }
    let consents: Value = ts
        .get(&operator, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    let operations: Value = ts
        .get(&support, "/api/v1/operations?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let audit: Value = ts
        .get(&admin, "/api/v1/admin/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let mut audit: Vec<Value> = audit.as_array().cloned().unwrap();
    if let Some(until) = audit_until {
        audit.retain(|e| e["seq"].as_i64().is_some_and(|s| s <= until));
    }
    audit.sort_by_key(|e| e["seq"].as_i64());
    (records, consents, operations, audit)
}

#[tokio::test]
async fn migrate_copies_an_installation_and_the_api_reads_every_part_back() {
    let Some(admin) = postgres_only("migrate_copies_an_installation") else {
        return;
    };
    // An installation on SQLite with records, consent decisions, an operation and audit rows.
    let ts = TestServer::start_with(|c| c.database = None).await;
    let operator = ts.token("operator").await;
    grant_consent(&ts, &operator, "job_info", "granted").await;
    grant_consent(&ts, &operator, "gps", "granted").await;
    grant_consent(&ts, &operator, "gps", "withdrawn").await;
    let job = json!({"job_id": "J-1", "job_name": "Quarterly report"});
    let records = vec![
        dfe_record(ts.device(0), Some(job)),
        dfe_record(ts.device(0), None),
        dfe_record(ts.device(1), None),
    ];
    upload_dfe(&ts, &operator, records).await;
    let res = ts
        .post(
            &operator,
            "/api/v1/uploads/measurements",
            &measurement_upload(vec![measurement_record(ts.device(0), false, false)]),
        )
        .await;
    expect_created(res).await;
    let support = ts.token("support").await;
    let res = ts
        .post(
            &support,
            "/api/v1/operations",
            &json!({"device_id": ts.device(0), "kind": "status"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    ts.server().flush_audit().await.unwrap();
    let before = everything(&ts, None).await;
    let last_seq = before.3.last().and_then(|e| e["seq"].as_i64()).unwrap();
    assert!(
        before
            .0
            .iter()
            .map(|p| p.as_array().map_or(0, Vec::len))
            .sum::<usize>()
            >= 4
    );
    let mut ts = ts;
    ts.stop().await;
    let data_dir = ts.data_dir();

    let target = new_database(&admin).await;
    let url = url_of(&target);
    let out = server_binary()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["migrate", "--to", &url])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("records: 4 row(s)"), "{stdout}");
    assert!(stdout.contains("consents: 3 row(s)"), "{stdout}");
    assert!(stdout.contains("operations: 1 row(s)"), "{stdout}");
    // A database that holds data is refused, and keeps what it holds.
    let again = server_binary()
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["migrate", "--to", &url])
        .output()
        .unwrap();
    let (_, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr.contains("not empty"), "{stderr}");

    // The same installation served from PostgreSQL: everything reads back the same.
    ts.restart_with(|c| {
        c.database = Some(target);
        c.listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    assert_eq!(ts.engine(), ecsp_server_mock::sql::Engine::Postgres);
    let after = everything(&ts, Some(last_seq)).await;
    assert_eq!(after.0, before.0, "records");
    assert_eq!(after.1, before.1, "consent decisions");
    assert_eq!(after.2, before.2, "operations");
    assert_eq!(after.3, before.3, "audit rows");
    // New rows take new ids, after the copied ones.
    ts.server().flush_audit().await.unwrap();
    let newest = ts
        .read_sql(|c| c.query_row("SELECT MAX(seq) FROM audit_log", [], |r| r.get::<_, i64>(0)))
        .await;
    assert!(newest > last_seq);
    let operator = ts.token("operator").await;
    let res = ts
        .post(
            &operator,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(1), None)]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_naming_host_and_database_only() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1; the password must appear nowhere.
    let out = server_binary()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .args([
            "--database",
            "postgres://ecsp:Sup3rSecretPw@127.0.0.1:1/fleet",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("127.0.0.1:1/fleet"), "{stderr}");
    assert!(!stderr.contains("Sup3rSecretPw") && !stdout.contains("Sup3rSecretPw"));
    // No data key was made for a database never reached.
    assert!(!dir.path().join("keys").exists());
    // A URL that is not a postgres:// URL, and a password file that is missing: said plainly.
    let out = server_binary()
        .args(["--database", "mysql://ecsp:Sup3rSecretPw@db/fleet"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("postgres:// URL") && !stderr.contains("Sup3rSecretPw"),
        "{stderr}"
    );
    let out = server_binary()
        .args(["--database", "postgres://ecsp@db/fleet"])
        .args(["--database-password-file", "/nonexistent/pw"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("/nonexistent/pw"), "{stderr}");
}

async fn schema_version(target: &PostgresTarget) -> i64 {
    let target = target.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = target.connect_blocking().unwrap();
        let v: i64 = c
            .query_one("SELECT version FROM ecsp_schema_version", &[])
            .unwrap()
            .get(0);
        v
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn servers_starting_at_once_migrate_once_and_a_newer_database_is_refused_untouched() {
    let Some(admin) = postgres_only("servers_starting_at_once") else {
        return;
    };
    let target = new_database(&admin).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let t = target.clone();
            tokio::spawn(async move { Database::connect(&t).await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().unwrap();
    }
    // Every session bounds its statements and idle transactions.
    let database = Database::connect(&target).await.unwrap();
    let limits: (String, String) = database
        .read(|c| {
            let timeout = c.query_row("SHOW statement_timeout", [], |r| r.get(0))?;
            let idle = c.query_row("SHOW idle_in_transaction_session_timeout", [], |r| r.get(0))?;
            Ok::<_, StoreError>((timeout, idle))
        })
        .await
        .unwrap();
    assert_eq!(limits, ("30s".to_owned(), "1min".to_owned()));
    drop(database);
    let current = schema_version(&target).await;
    assert_eq!(
        current as usize,
        ecsp_server_mock::db::sqlite_schema::CURRENT_VERSION
    );

    // As a newer server would leave it.
    let t = target.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = t.connect_blocking().unwrap();
        c.batch_execute("UPDATE ecsp_schema_version SET version = version + 1; CREATE TABLE from_the_future (x BIGINT);")
            .unwrap();
    })
    .await
    .unwrap();
    let refused = Database::connect(&target).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::SchemaTooNew { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("newer"), "{refused}");
    assert_eq!(schema_version(&target).await, current + 1, "left as it was");
}

#[tokio::test]
async fn losing_the_database_answers_503_and_service_returns_with_it() {
    if postgres_only("losing_the_database_answers_503").is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let target = new_database(&cluster.admin).await;
    let ts = TestServer::start_with(|c| c.database = Some(target)).await;
    let token = ts.token("operator").await;
    let upload = |n: usize| dfe_upload(vec![dfe_record(ts.device(n % 2), None)]);
    let mut acknowledged = 0;
    assert_eq!(
        ts.post(&token, "/api/v1/uploads/dfe", &upload(0))
            .await
            .status(),
        StatusCode::CREATED
    );
    acknowledged += 1;
    // An agent's uploads: the first names its printer, the next go through the batches.
    let secret = ts.demo.agent.secret.clone();
    let agent_upload =
        || device_data_upload(ts.demo.agent.agent_id, uuid::Uuid::now_v7(), "printing");
    for _ in 0..2 {
        let res = ts
            .post(&secret, "/api/v1/agent/device-data", &agent_upload())
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        acknowledged += 1;
    }

    let ready = || async {
        ts.client
            .get(ts.url("/ready"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, StatusCode::OK);
    cluster.pause();
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);
    for n in 1..4 {
        let res = ts.post(&token, "/api/v1/uploads/dfe", &upload(n)).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "upload {n}");
        assert_eq!(res.headers()["retry-after"], "5");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "unavailable", "{problem}");
        let res = ts
            .post(&secret, "/api/v1/agent/device-data", &agent_upload())
            .await;
        assert_eq!(
            res.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "agent upload {n}"
        );
        assert_eq!(res.headers()["retry-after"], "5");
        // Reads too, and never a 500.
        let res = ts
            .get(&token, &format!("/api/v1/devices/{}/records", ts.device(0)))
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    cluster.resume();
    // Back without a restart: within seconds every request is served again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut n = 4;
    loop {
        let res = ts.post(&token, "/api/v1/uploads/dfe", &upload(n)).await;
        n += 1;
        match res.status() {
            StatusCode::CREATED => {
                acknowledged += 1;
                break;
            }
            StatusCode::SERVICE_UNAVAILABLE if std::time::Instant::now() < deadline => {}
            other => panic!("after the database came back: {other}"),
        }
    }
    assert_eq!(ready().await, StatusCode::OK);
    for m in 0..5 {
        let res = ts.post(&token, "/api/v1/uploads/dfe", &upload(n + m)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        acknowledged += 1;
        let res = ts
            .post(&secret, "/api/v1/agent/device-data", &agent_upload())
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        acknowledged += 1;
    }
    // Exactly the acknowledged uploads are stored.
    assert_eq!(ts.count("records").await, acknowledged);
}

/// Turns TLS on in `cluster` with a certificate for `localhost` from a CA made in `pki`;
/// returns the CA.
fn serve_tls(cluster: &OwnCluster, pki: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::MetadataExt as _;
    ecsp_server_mock::tls::local_ca(pki, &["localhost".to_owned()]).unwrap();
    let data = cluster.data_dir();
    let owner = std::fs::metadata(&data).unwrap();
    for (from, to) in [("server.pem", "server.crt"), ("server.key", "server.key")] {
        let dest = data.join(to);
        std::fs::copy(pki.join(from), &dest).unwrap();
        std::os::unix::fs::chown(&dest, Some(owner.uid()), Some(owner.gid())).unwrap();
    }
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .unwrap();
    std::io::Write::write_all(&mut conf, b"ssl = on\n").unwrap();
    cluster.pause();
    cluster.resume();
    pki.join("ca.pem")
}

#[tokio::test]
async fn tls_to_the_database_verifies_the_ca_and_the_host_name() {
    if postgres_only("tls_to_the_database").is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let pki = tempfile::tempdir().unwrap();
    let ca = serve_tls(&cluster, pki.path());
    let db = new_database(&cluster.admin).await;
    let port = cluster.port();
    let url = |host: &str| format!("postgres://postgres@{host}:{port}/{}", db.database_name());

    // The right CA and the name on the certificate: connected, over TLS.
    let target = PostgresTarget::parse(&url("localhost"), None, Some(ca.clone())).unwrap();
    let database = Database::connect(&target).await.unwrap();
    let encrypted: bool = database
        .read(|c| {
            c.query_row(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                [],
                |r| r.get(0),
            )
            .map_err(StoreError::from)
        })
        .await
        .unwrap();
    assert!(encrypted);
    drop(database);

    // An address the certificate does not name, and a CA that did not sign it: refused.
    let by_address = PostgresTarget::parse(&url("127.0.0.1"), None, Some(ca)).unwrap();
    let e = Database::connect(&by_address)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("127.0.0.1"), "{e}");
    let other = tempfile::tempdir().unwrap();
    ecsp_server_mock::tls::local_ca(other.path(), &["localhost".to_owned()]).unwrap();
    let wrong_ca =
        PostgresTarget::parse(&url("localhost"), None, Some(other.path().join("ca.pem"))).unwrap();
    assert!(Database::connect(&wrong_ca).await.is_err());
}

#[tokio::test]
async fn a_database_with_data_is_refused_to_a_data_directory_without_its_key() {
    if postgres_only("a_database_with_data_is_refused").is_none() {
        return;
    }
    let ts = TestServer::start().await;
    let target = ts.database.clone().unwrap();
    // Another data directory, no key in it: the database's rows could not be read with a new one.
    let other = tempfile::tempdir().unwrap();
    let mut config = ecsp_server_mock::Config::with_defaults(other.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database = Some(target);
    let refused = ecsp_server_mock::start(config).await.unwrap_err();
    assert!(format!("{refused:#}").contains("data key"), "{refused:#}");
    assert!(
        !other.path().join("data/keys/data.key").exists(),
        "no new key made"
    );
}

#[tokio::test]
async fn a_record_cannot_name_another_organisations_device() {
    if postgres_only("a_record_cannot_name_another_organisations_device").is_none() {
        return;
    }
    let ts = TestServer::start().await;
    assert_eq!(
        ts.server().db.engine(),
        ecsp_server_mock::sql::Engine::Postgres
    );
    let operator = ts.token("operator").await;
    upload_dfe(&ts, &operator, vec![dfe_record(ts.device(0), None)]).await;
    let foreign = ts.foreign_org().await;

    // The schema (v18: `records (device_id, org_id)` → `devices (id, org_id)`) refuses a record
    // of this organisation naming the other one's device, which exists; its own device is fine.
    let move_last_record_to = |device: uuid::Uuid| {
        ts.server().db.write(move |c| {
            c.execute(
                "UPDATE records SET device_id = (SELECT id FROM devices WHERE public_id = ?1)
                 WHERE id = (SELECT max(id) FROM records)",
                [device.to_string()],
            )
            .map_err(StoreError::from)
        })
    };
    assert_eq!(move_last_record_to(ts.device(1)).await.unwrap(), 1);
    let refused = move_last_record_to(foreign.device)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("records_device_org_fkey"), "{refused}");
}
