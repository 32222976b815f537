//! Starting the `ecsp-server` binary: a first start that cannot listen leaves nothing that would
//! hide the demo passwords, and `reset-password` gives a lost admin password back.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{TestServer, https_client};

/// The binary cargo built with these tests; `ECSP_SERVER_BIN` names a copy of it instead (to
/// run these tests from a copied test binary while the build directory changes).
fn server_binary() -> std::ffi::OsString {
    std::env::var_os("ECSP_SERVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_ecsp-server").into())
}

pub(crate) fn server(data_dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(server_binary());
    cmd.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("ECSP_DATA_KEY")
        .env_remove("ECSP_LISTEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// What a first start printed up to the demo agent's line: the listening address and the demo
/// admin's password. The server keeps running (killed when `child` is dropped).
/// The server started on a new data directory: the process, the address and admin password it
/// printed, and the local CA it made.
async fn first_start(data: &Path) -> (tokio::process::Child, String, String, String) {
    let mut child = server(data, &["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (addr, password) = first_start_output(&mut child).await;
    let ca = std::fs::read_to_string(data.join("tls").join("ca.pem")).unwrap();
    (child, addr, password, ca)
}

async fn first_start_output(child: &mut tokio::process::Child) -> (String, String) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut admin_password) = (None, None);
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("ECSP reference server listening on https://") {
                addr = Some(rest.trim().to_owned());
            }
            if line.trim_start().starts_with("admin@demo.ecsp.example") {
                admin_password = line.split_whitespace().last().map(str::to_owned);
            }
            if line.trim_start().starts_with("agent ") {
                return;
            }
        }
        panic!("the server's output ended before the demo accounts");
    })
    .await
    .expect("the server printed its demo accounts within 60 s");
    // Keep reading: a closed pipe would make the server's next line fail.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (addr.unwrap(), admin_password.expect("the admin's password"))
}

async fn login(client: &reqwest::Client, addr: &str, password: &str) -> reqwest::Response {
    let port = addr.rsplit(':').next().unwrap();
    client
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(&json!({"email": "admin@demo.ecsp.example", "password": password}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("signing in at {addr}: {e:?}"))
}

#[tokio::test]
async fn a_first_start_on_a_taken_port_leaves_nothing_and_the_next_start_prints_the_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let failed = server(&data, &["--listen", &format!("127.0.0.1:{port}")])
        .output()
        .await
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!("binding 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        !data.exists(),
        "a start that could not listen made nothing (no database, CA or demo organisation)"
    );
    drop(taken);

    let (_server, addr, password, ca) = first_start(&data).await;
    let res = login(&https_client(&ca), &addr, &password).await;
    assert_eq!(res.status(), StatusCode::OK, "the printed password works");
}

#[tokio::test]
async fn reset_password_prints_a_new_one_and_ends_the_accounts_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, addr, old_password, ca) = first_start(&data).await;
    let client = https_client(&ca);
    let tokens: ecsp_protocol::auth::TokenPair = login(&client, &addr, &old_password)
        .await
        .json()
        .await
        .unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let me = format!("https://localhost:{port}/api/v1/me");
    let whoami = |token: String| {
        let (client, me) = (client.clone(), me.clone());
        async move {
            client
                .get(me)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(whoami(tokens.access_token.clone()).await, StatusCode::OK);

    // An address nobody uses: a clear refusal, nothing changed.
    let unknown = server(
        &data,
        &["reset-password", "--email", "nobody@demo.ecsp.example"],
    )
    .output()
    .await
    .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no account uses the address"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    assert_eq!(whoami(tokens.access_token.clone()).await, StatusCode::OK);

    // The operator resets the admin's password while the server runs.
    let reset = server(
        &data,
        &["reset-password", "--email", "Admin@Demo.ecsp.example "],
    )
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&reset.stdout).into_owned();
    assert!(
        reset.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("new password (shown once):"))
        .expect("the new password is printed");
    assert!(line.contains("Demo Print Shop"), "{line}");
    let new_password = line.split_whitespace().last().unwrap().to_owned();
    assert_eq!(new_password.len(), 20);
    assert_ne!(new_password, old_password);

    assert_eq!(
        whoami(tokens.access_token).await,
        StatusCode::UNAUTHORIZED,
        "the account's sessions ended"
    );
    assert_eq!(
        login(&client, &addr, &old_password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&client, &addr, &new_password).await.status(),
        StatusCode::OK
    );
    drop(child);

    // Audited, by the system, naming the account but not the password.
    let db = rusqlite::Connection::open(data.join(ecsp_server_mock::DATABASE_FILE)).unwrap();
    let (actor, object): (String, String) = db
        .query_row(
            "SELECT actor_kind, object FROM audit_log WHERE action = 'user.password_reset'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, "system");
    assert!(object.starts_with("user:"), "{object}");
    let raw = std::fs::read(data.join(ecsp_server_mock::DATABASE_FILE)).unwrap();
    assert!(!raw.windows(20).any(|w| w == new_password.as_bytes()));
}

#[tokio::test]
async fn unlock_sign_in_prints_a_code_that_lets_the_owner_in_during_an_attack() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, addr, password, ca) = first_start(&data).await;
    let client = https_client(&ca);
    for _ in 0..ecsp_server_mock::ratelimit::BURST as usize {
        login(&client, &addr, "wrong password 123").await;
    }
    assert_eq!(
        login(&client, &addr, &password).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let issued = server(
        &data,
        &["unlock-sign-in", "--email", "admin@demo.ecsp.example"],
    )
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&issued.stdout).into_owned();
    assert!(issued.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("sign-in unlock code"))
        .expect("the code is printed");
    assert!(line.contains("Demo Print Shop"), "{line}");
    let code = line.split_whitespace().last().unwrap();

    let port = addr.rsplit(':').next().unwrap();
    let res = client
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(
            &json!({"email": "admin@demo.ecsp.example", "password": password,
                      "installation_id": uuid::Uuid::new_v4(), "unlock_code": code}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    drop(child);
}

/// `/ready` (a load balancer's health check) answers 200 while the database serves this node's
/// schema, and 503 with `Retry-After` once another node has migrated it past this one.
#[tokio::test]
async fn ready_says_whether_the_database_serves_this_nodes_schema() {
    let ts = TestServer::start().await;
    let ready = || async { ts.client.get(ts.url("/ready")).send().await.unwrap() };
    let res = ready().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");

    let (read, write) = match ts.engine() {
        ecsp_server_mock::sql::Engine::Sqlite => ("PRAGMA user_version", "PRAGMA user_version = "),
        ecsp_server_mock::sql::Engine::Postgres => (
            "SELECT version FROM ecsp_schema_version",
            "UPDATE ecsp_schema_version SET version = ",
        ),
    };
    let version: i64 = ts
        .read_sql(move |c| c.query_row(read, [], |r| r.get(0)))
        .await;
    ts.write_sql(move |c| c.execute_batch(&format!("{write}{}", version + 1)))
        .await
        .unwrap();
    let res = ready().await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    ts.write_sql(move |c| c.execute_batch(&format!("{write}{version}")))
        .await
        .unwrap();
    assert_eq!(ready().await.status(), StatusCode::OK);
}
