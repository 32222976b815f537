//! The reference server as the workspace's tests start it (feature `test-harness`): in a
//! temporary data directory, on a free loopback port, with the demo organisation, on SQLite or —
//! with `ECSP_TEST_ENGINE=postgres` — on a new database of the PostgreSQL cluster named by
//! `ECSP_TEST_POSTGRES` (`scripts/postgres-cluster.sh` starts a throwaway one; `scripts/test.sh`
//! runs the server's tests once per engine).
//!
//! One harness for every crate's tests (the client core's, the DFE readers', the measurement
//! path's, the end-to-end tests' and the server's own): each adds its own helpers on top, none
//! starts a server its own way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use uuid::Uuid;

use crate::db::{Database, PostgresTarget, StoreError};
use crate::seed::{DemoAccounts, DemoUser};
use crate::{Config, Server, sql};

/// A reference server for a test, and what it was started with.
#[derive(Debug)]
pub struct TestServer {
    server: Option<Server>,
    /// The server's storage, kept past a stop so that a test can still read what was stored.
    db: Database,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub demo: DemoAccounts,
    /// The local CA (PEM) clients trust, also written to [`ca_file`](Self::ca_file).
    pub ca_pem: String,
    pub ca_file: PathBuf,
    /// The PostgreSQL database, when the server runs on PostgreSQL.
    pub database: Option<PostgresTarget>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server; `tweak` may change its configuration (the engine too: set
    /// `config.database`).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database = test_database().await;
        tweak(&mut config);
        let database = config.database.clone();
        let server = crate::start(config).await.unwrap();
        let ca_pem = server.ca_pem.clone().unwrap_or_default();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        Self {
            addr: server.addr,
            demo: server.demo.clone().unwrap(),
            db: server.db.clone(),
            server: Some(server),
            dir,
            ca_pem,
            ca_file,
            database,
        }
    }

    /// Another node of the same service: this server's PostgreSQL database, its data key and
    /// its CA (the node issues its own server certificate from it), a data directory and a
    /// loopback port of its own.
    pub async fn start_node(&self) -> Self {
        self.start_node_with(|_| {}).await
    }

    /// [`start_node`](Self::start_node) with `tweak` applied to the node's configuration.
    pub async fn start_node_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let database = self
            .database
            .clone()
            .expect("server nodes share a PostgreSQL database");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        for shared in ["keys/data.key", "tls/ca.pem", "tls/ca.key"] {
            let to = data.join(shared);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(self.data_dir().join(shared), &to).unwrap();
        }
        let mut config = Config::with_defaults(data);
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database = Some(database.clone());
        tweak(&mut config);
        let server = crate::start(config).await.unwrap();
        let ca_pem = server.ca_pem.clone().unwrap_or_default();
        assert_eq!(ca_pem, self.ca_pem, "one CA for every node");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &ca_pem).unwrap();
        Self {
            addr: server.addr,
            demo: self.demo.clone(),
            db: server.db.clone(),
            server: Some(server),
            ca_file,
            dir,
            ca_pem,
            database: Some(database),
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the test server is stopped")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("server")
    }

    /// The configuration it runs with: same data directory, address and database.
    pub fn config(&self) -> Config {
        let mut config = Config::with_defaults(self.data_dir());
        config.listen = self.addr;
        config.database = self.database.clone();
        config
    }

    /// Stops the server (the data directory and database stay).
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    /// Starts the server again on the same address, data directory and database.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    /// Starts it again with a changed configuration (another engine, another address).
    pub async fn restart_with(&mut self, tweak: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = self.config();
        tweak(&mut config);
        self.database = config.database.clone();
        let server = crate::start(config).await.unwrap();
        self.addr = server.addr;
        self.db = server.db.clone();
        self.server = Some(server);
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The demo user whose e-mail starts with `who` (`operator`, `admin`, `support`,
    /// `technician`).
    pub fn user(&self, who: &str) -> &DemoUser {
        self.demo
            .users
            .iter()
            .find(|u| u.email.starts_with(who))
            .unwrap_or_else(|| panic!("no demo user `{who}`"))
    }

    /// The e-mail address and password of [`user`](Self::user).
    pub fn password(&self, who: &str) -> (String, String) {
        let u = self.user(who);
        (u.email.clone(), u.password.clone())
    }

    pub fn device(&self, i: usize) -> Uuid {
        self.demo.devices[i].device_id
    }

    /// The server's storage, for a test that calls the store's functions directly.
    pub fn db(&self) -> &Database {
        &self.db
    }

    pub fn engine(&self) -> sql::Engine {
        self.db.engine()
    }

    /// Reads the server's database directly (whichever engine), as an operator's SQL would.
    pub async fn read_sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sql::Connection) -> sql::Result<T> + Send + 'static,
    ) -> T {
        self.db
            .read(move |c| f(c).map_err(StoreError::from))
            .await
            .unwrap()
    }

    /// Writes to the server's database directly, in one transaction; the error is returned.
    pub async fn write_sql<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sql::Connection) -> sql::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.db.write(move |c| f(c).map_err(StoreError::from)).await
    }

    /// [`read_sql`](Self::read_sql) from synchronous code (on a thread of its own, so that it
    /// works inside any runtime).
    pub fn read_sql_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sql::Connection) -> sql::Result<T> + Send + 'static,
    ) -> T {
        let db = self.db.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(db.read(move |c| f(c).map_err(StoreError::from)))
                .unwrap()
        })
        .join()
        .unwrap()
    }

    /// Rows in a table of the server's database.
    pub async fn count(&self, table: &'static str) -> i64 {
        self.read_sql(move |c| {
            c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        })
        .await
    }

    /// Record ids stored on the server, with how many rows each has (always one).
    pub fn stored_records(&self) -> Vec<(String, i64)> {
        self.read_sql_blocking(|c| {
            c.prepare("SELECT record_id, COUNT(*) FROM records GROUP BY record_id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })
    }

    /// Record ids stored on the server.
    pub fn stored(&self) -> Vec<String> {
        self.stored_records()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    /// The URL of the server's PostgreSQL database (with the test cluster's credentials), for
    /// the server's own commands run beside it (`ECSP_DATABASE_URL`).
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(url_of)
    }

    /// Everything the server has stored, as someone holding the database would read it: the
    /// SQLite file and its log, or a `pg_dump` of the PostgreSQL database.
    pub async fn stored_bytes(&self) -> Vec<u8> {
        match self.database_url() {
            None => {
                let db = self.data_dir().join(crate::DATABASE_FILE);
                let raw = std::fs::read(&db).unwrap();
                let wal = std::fs::read(db.with_extension("sqlite3-wal")).unwrap_or_default();
                [raw, wal].concat()
            }
            Some(url) => {
                let out = tokio::process::Command::new(pg_tool("pg_dump"))
                    .arg("--dbname")
                    .arg(url)
                    .output()
                    .await
                    .unwrap();
                assert!(
                    out.status.success(),
                    "pg_dump: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                out.stdout
            }
        }
    }
}

/// The PostgreSQL server the tests may use, if `ECSP_TEST_POSTGRES` names one (an admin URL
/// such as `postgres://postgres@127.0.0.1:5433/postgres`).
pub fn postgres_admin() -> Option<PostgresTarget> {
    let url = std::env::var("ECSP_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())?;
    Some(PostgresTarget::parse(&url, None, None).expect("ECSP_TEST_POSTGRES is a postgres:// URL"))
}

/// Whether this run's servers keep their data in PostgreSQL (`ECSP_TEST_ENGINE=postgres`);
/// otherwise SQLite, the embedded default.
pub fn on_postgres() -> bool {
    std::env::var("ECSP_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// A new, empty database on the test cluster for each server started, when the run is on
/// PostgreSQL.
pub async fn test_database() -> Option<PostgresTarget> {
    if !on_postgres() {
        return None;
    }
    let admin = postgres_admin()
        .expect("ECSP_TEST_ENGINE=postgres needs ECSP_TEST_POSTGRES (scripts/postgres-cluster.sh)");
    Some(new_database(&admin).await)
}

/// The test cluster, for a test that needs PostgreSQL whichever engine the run is on: given in
/// the PostgreSQL pass; elsewhere the test says in one line that it runs there.
pub fn postgres_only(test: &str) -> Option<PostgresTarget> {
    if on_postgres() {
        return postgres_admin();
    }
    let _ = writeln!(
        std::io::stderr(),
        "{test}: PostgreSQL only, SKIPPED in this pass (scripts/test.sh runs it in the PostgreSQL pass)"
    );
    None
}

/// A new, empty database on `admin`'s server.
pub async fn new_database(admin: &PostgresTarget) -> PostgresTarget {
    let name = format!("ecsp_test_{}", Uuid::new_v4().simple());
    crate::db::postgres::create_database(admin, &name)
        .await
        .unwrap()
}

/// Signs in through the API at `base` as `email`: its access token (`POST /api/v1/auth/login`),
/// for a test or benchmark that drives the service as that user.
pub async fn access_token(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        reqwest::StatusCode::OK,
        "signing in as {email}"
    );
    let tokens: serde_json::Value = res.json().await.unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// `target`'s URL with the test cluster's credentials.
pub fn url_of(target: &PostgresTarget) -> String {
    let mut url = url::Url::parse(&std::env::var("ECSP_TEST_POSTGRES").unwrap()).unwrap();
    url.set_path(target.database_name());
    url.into()
}

/// A PostgreSQL client tool: Debian's versioned directory, else from PATH.
pub fn pg_tool(name: &str) -> PathBuf {
    let debian = std::path::Path::new("/usr/lib/postgresql/15/bin").join(name);
    if debian.exists() { debian } else { name.into() }
}

/// A PostgreSQL cluster of a test's own (`scripts/postgres-cluster.sh`), to stop and start
/// without disturbing other tests; deleted when dropped.
#[derive(Debug)]
pub struct OwnCluster {
    dir: String,
    pub admin: PostgresTarget,
    /// The administrator's URL (as `ECSP_TEST_POSTGRES` would be).
    pub url: String,
}

impl OwnCluster {
    const SCRIPT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/postgres-cluster.sh"
    );

    pub fn start() -> Self {
        let out = Command::new(Self::SCRIPT).arg("start").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let (dir, url) = line.trim().split_once(' ').unwrap();
        Self {
            dir: dir.to_owned(),
            admin: PostgresTarget::parse(url, None, None).unwrap(),
            url: url.to_owned(),
        }
    }

    /// The cluster's data folder.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.dir).join("data")
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.admin.port()
    }

    fn run(&self, what: &str) {
        let out = Command::new(Self::SCRIPT)
            .args([what, &self.dir])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (a fast shutdown: sessions are cut, nothing committed is lost).
    pub fn pause(&self) {
        self.run("pause");
    }

    /// Starts it again on the same port.
    pub fn resume(&self) {
        self.run("resume");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::SCRIPT)
            .args(["stop", &self.dir])
            .output();
    }
}

/// The `ecsp-server` binary beside the running test's (cargo puts both in the target profile's
/// folder), or `ECSP_SERVER_BIN`.
pub fn server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("ECSP_SERVER_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().unwrap();
    // target/PROFILE/deps/TEST → target/PROFILE/ecsp-server
    let bin = exe.parent().unwrap().parent().unwrap().join("ecsp-server");
    assert!(
        bin.exists(),
        "{} is not built: cargo build -p ecsp-server-mock --bin ecsp-server",
        bin.display()
    );
    bin
}

/// A free port on 127.0.0.1 (free when asked) for a process started later to listen on.
///
/// It is taken below the kernel's ephemeral range: a port from `bind(":0")` is free only until
/// the listener is dropped, and the tests' many outgoing connections (PostgreSQL, HTTPS, MQTT)
/// draw their local ports from that same range, so one of them could take it before the
/// process binds it (HAProxy once found its port taken that way, in CI).
fn free_address() -> SocketAddr {
    use rand::Rng as _;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let range = ephemeral_low.saturating_sub(12_000).max(1024)..ephemeral_low;
    if !range.is_empty() {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let port = rng.gen_range(range.clone());
            if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
                return listener.local_addr().unwrap();
            }
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The status of `GET path` over HTTPS to `addr` (as `localhost`, trusting `ca_pem`); `None`
/// when nothing answers. Blocking, a request of its own: for waiting until a node is ready.
fn https_status(addr: SocketAddr, path: &str, ca_pem: &str, proxied: bool) -> Option<u16> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::io::Read as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tcp =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).ok()?;
    if proxied {
        // As HAProxy opens a connection to a node.
        let header = crate::proxy_protocol::header_for(tcp.local_addr().ok()?, addr);
        std::io::Write::write_all(&mut tcp, &header).ok()?;
    }
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().ok()?)
            .ok()?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    tls.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Waits (up to 30 s) until `GET /ready` through `addr` answers 200 (`proxied`: a node behind
/// HAProxy, which expects its PROXY protocol header); the panic quotes the end of `log`.
fn wait_ready(addr: SocketAddr, ca_pem: &str, proxied: bool, what: &str, log: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while https_status(addr, "/ready", ca_pem, proxied) != Some(200) {
        if std::time::Instant::now() >= deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!(
                "{what} at {addr} not ready within 30 s; the end of {}:\n{tail}",
                log.display()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// One `ecsp-server` process of a [`ProcessCluster`].
#[derive(Debug)]
struct ProcessNode {
    addr: SocketAddr,
    data_dir: PathBuf,
    process: Option<std::process::Child>,
}

/// Server nodes as processes of their own (the `ecsp-server` binary) on one new database of
/// the test cluster's PostgreSQL, behind HAProxy as `scripts/run-cluster.sh` runs them (TLS
/// passed through, MQTT told apart by ALPN, nodes checked on `/ready`): for tests that kill a
/// node with SIGKILL. The database is seeded by an in-process server first, stopped before the
/// nodes start: its demo accounts, data key and CA are the cluster's.
#[derive(Debug)]
pub struct ProcessCluster {
    pub seed: TestServer,
    binary: PathBuf,
    database_url: String,
    /// The PostgreSQL server and the cluster's database on it, dropped with the cluster.
    admin: PostgresTarget,
    database_name: String,
    nodes: Vec<ProcessNode>,
    /// In front of the nodes, unless the cluster is one node reached directly.
    haproxy: Option<std::process::Child>,
    /// The NATS broker cluster the nodes use instead of their own brokers, if any.
    brokers: Option<BrokerCluster>,
    /// HAProxy's address (or the lone node's): the service's one address.
    pub addr: SocketAddr,
    /// Per node, a loopback address that reaches that node alone past HAProxy (see
    /// [`relay_to`]); the node's own address when there is no HAProxy.
    entries: Vec<(SocketAddr, Option<tokio::task::JoinHandle<()>>)>,
    /// The nodes' data directories and HAProxy's files, deleted when the cluster is dropped.
    dir: tempfile::TempDir,
}

impl ProcessCluster {
    /// `nodes` server processes of `binary` (see [`server_binary`]) and HAProxy in front.
    /// Needs the PostgreSQL of `ECSP_TEST_POSTGRES` and Debian's `haproxy`.
    pub async fn start(binary: PathBuf, nodes: usize) -> Self {
        let admin =
            std::env::var("ECSP_TEST_POSTGRES").expect("a cluster needs ECSP_TEST_POSTGRES");
        Self::start_on(&admin, binary, nodes, true).await
    }

    /// `nodes` server processes behind HAProxy whose agents use a NATS cluster of `brokers`
    /// nodes (HAProxy's MQTT backend, serving the seed's certificate), on the PostgreSQL of
    /// `ECSP_TEST_POSTGRES`.
    pub async fn start_with_brokers(binary: PathBuf, nodes: usize, brokers: usize) -> Self {
        let admin =
            std::env::var("ECSP_TEST_POSTGRES").expect("a cluster needs ECSP_TEST_POSTGRES");
        Self::start_inner(&admin, binary, nodes, true, brokers).await
    }

    /// The same on the PostgreSQL server of `admin_url`.
    pub async fn start_with_brokers_on(
        admin_url: &str,
        binary: PathBuf,
        nodes: usize,
        brokers: usize,
    ) -> Self {
        Self::start_inner(admin_url, binary, nodes, true, brokers).await
    }

    /// The broker cluster of [`ProcessCluster::start_with_brokers`], to read.
    pub fn brokers_ref(&self) -> &BrokerCluster {
        self.brokers
            .as_ref()
            .expect("a cluster started with brokers")
    }

    /// The broker cluster of [`ProcessCluster::start_with_brokers`].
    pub fn brokers(&mut self) -> &mut BrokerCluster {
        self.brokers
            .as_mut()
            .expect("a cluster started with brokers")
    }

    /// The same on the PostgreSQL server of `admin_url` (a database of its own is made there);
    /// without `behind_haproxy`, one node reached directly (a benchmark's baseline).
    pub async fn start_on(
        admin_url: &str,
        binary: PathBuf,
        nodes: usize,
        behind_haproxy: bool,
    ) -> Self {
        Self::start_inner(admin_url, binary, nodes, behind_haproxy, 0).await
    }

    async fn start_inner(
        admin_url: &str,
        binary: PathBuf,
        nodes: usize,
        behind_haproxy: bool,
        brokers: usize,
    ) -> Self {
        let admin = PostgresTarget::parse(admin_url, None, None).unwrap();
        let database = new_database(&admin).await;
        let mut url = url::Url::parse(admin_url).unwrap();
        url.set_path(database.database_name());
        let database_url = String::from(url);
        let mut seed = TestServer::start_with(|c| c.database = Some(database.clone())).await;
        seed.stop().await;
        let tls = seed.data_dir().join("tls");
        let brokers = (brokers > 0).then(|| {
            BrokerCluster::start(brokers, &tls.join("server.pem"), &tls.join("server.key"))
        });
        let dir = tempfile::tempdir().unwrap();
        let mut cluster_nodes = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let data_dir = dir.path().join(format!("node{}", i + 1));
            for shared in ["keys/data.key", "tls/ca.pem", "tls/ca.key"] {
                let to = data_dir.join(shared);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(seed.data_dir().join(shared), &to).unwrap();
            }
            cluster_nodes.push(ProcessNode {
                addr: free_address(),
                data_dir,
                process: None,
            });
        }
        let mut entries = Vec::with_capacity(nodes);
        for node in &cluster_nodes {
            entries.push(if behind_haproxy {
                let (entry, task) = relay_to(node.addr).await;
                (entry, Some(task))
            } else {
                (node.addr, None)
            });
        }
        let (addr, haproxy) = if behind_haproxy {
            let addr = free_address();
            let node_addrs: Vec<SocketAddr> = cluster_nodes.iter().map(|n| n.addr).collect();
            let config = dir.path().join("haproxy.cfg");
            std::fs::write(
                &config,
                crate::cluster::haproxy_config(
                    addr,
                    &node_addrs,
                    &brokers
                        .as_ref()
                        .map_or(Vec::new(), BrokerCluster::mqtt_addrs),
                    &seed.ca_file,
                    "localhost",
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
            let haproxy = Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(&config)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("HAProxy (Debian's haproxy; scripts/setup-debian.sh installs it)");
            (addr, Some(haproxy))
        } else {
            (cluster_nodes[0].addr, None)
        };
        let mut cluster = Self {
            seed,
            binary,
            database_url,
            database_name: database.database_name().to_owned(),
            admin,
            nodes: cluster_nodes,
            haproxy,
            brokers,
            addr,
            entries,
            dir,
        };
        for i in 0..nodes {
            cluster.spawn(i);
        }
        let ca = cluster.seed.ca_pem.clone();
        tokio::task::block_in_place(|| {
            for node in &cluster.nodes {
                let log = node.data_dir.join("server.log");
                wait_ready(node.addr, &ca, behind_haproxy, "a server node", &log);
            }
            let log = cluster.dir.path().join("haproxy.log");
            wait_ready(addr, &ca, false, "the service", &log);
        });
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.data_dir.join("server.log"))
            .unwrap();
        let child = Command::new(&self.binary)
            .arg("--listen")
            .arg(node.addr.to_string())
            .arg("--data-dir")
            .arg(&node.data_dir)
            .arg("--no-demo")
            // Nodes of a test share the host: the default metrics port would go to one of them.
            .arg("--no-metrics")
            .args(self.haproxy.is_some().then_some("--proxy-protocol"))
            .args(self.brokers.as_ref().map_or(Vec::new(), |b| {
                vec![
                    "--external-broker".to_owned(),
                    format!("mqtts://localhost:{}", self.addr.port()),
                    "--nats-keys".to_owned(),
                    b.keys_dir().display().to_string(),
                    "--nats-url".to_owned(),
                    b.nats_urls().join(","),
                ]
            }))
            .env("ECSP_DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        node.process = Some(child);
    }

    /// `https://localhost:PORT` of HAProxy.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// An address that reaches node `i` alone (for a client pinned to one node).
    pub fn node_entry(&self, i: usize) -> SocketAddr {
        self.entries[i].0
    }

    /// `https://localhost:PORT` of [`node_entry`](Self::node_entry).
    pub fn node_url(&self, i: usize) -> String {
        format!("https://localhost:{}", self.node_entry(i).port())
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Kills node `i` with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// Starts node `i` again and waits until it is ready.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        let ca = self.seed.ca_pem.clone();
        let proxied = self.haproxy.is_some();
        let log = self.nodes[i].data_dir.join("server.log");
        wait_ready(
            self.nodes[i].addr,
            &ca,
            proxied,
            "a restarted server node",
            &log,
        );
    }

    /// Runs `statements` on the PostgreSQL server as its administrator (a benchmark's
    /// `CHECKPOINT` before it measures, so that writing out what the set-up wrote does not
    /// count against the phase).
    pub fn as_admin(&self, statements: String) -> Result<(), StoreError> {
        // The blocking client runs a runtime of its own: not on a thread of the caller's.
        let admin = self.admin.clone();
        std::thread::spawn(move || crate::db::postgres::execute_blocking(&admin, &statements))
            .join()
            .unwrap_or_else(|_| Err(StoreError::Task("the admin session panicked".into())))
    }

    /// The server log of node `i` so far (for a failing test's message).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].data_dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        if let Some(haproxy) = &mut self.haproxy {
            let _ = haproxy.kill();
            let _ = haproxy.wait();
        }
        for (_, relay) in &self.entries {
            if let Some(relay) = relay {
                relay.abort();
            }
        }
        let drop = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database_name
        );
        if let Err(e) = self.as_admin(drop) {
            eprintln!("the cluster's database was not dropped: {e}");
        }
    }
}

/// Debian's `nats-server` as the clustered MQTT broker (`remote::nats`): `n` nodes on loopback,
/// each a routing and an MQTT process (`cluster::BrokerNode`) with a folder of its own, trusting
/// keys made here by `NatsKeys::init`, serving MQTT over TLS with `cert`/`key`. Dropped: every
/// process is killed and the folders deleted.
#[derive(Debug)]
pub struct BrokerCluster {
    nodes: Vec<crate::cluster::BrokerNode>,
    /// Each node's (routing, MQTT) processes.
    processes: Vec<[Option<std::process::Child>; 2]>,
    dir: tempfile::TempDir,
}

/// The names of a broker node's two processes' configuration and log files.
const BROKER_PROCESSES: [&str; 2] = ["router", "nats"];

impl BrokerCluster {
    pub fn start(n: usize, cert: &Path, key: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let keys = crate::remote::nats::NatsKeys::init(&keys_dir).unwrap();
        let auth = std::fs::read_to_string(keys_dir.join("nats-auth.conf")).unwrap();
        let nodes: Vec<crate::cluster::BrokerNode> = (0..n)
            .map(|_| crate::cluster::BrokerNode {
                client: free_address(),
                mqtt: free_address(),
                route: free_address(),
                leaf: free_address(),
            })
            .collect();
        for i in 0..n {
            let node_dir = dir.path().join(format!("broker{}", i + 1));
            std::fs::create_dir_all(&node_dir).unwrap();
            let router = crate::cluster::nats_router_config(i, &nodes);
            std::fs::write(node_dir.join("router.conf"), router).unwrap();
            let config = crate::cluster::nats_config(
                i,
                &nodes,
                &node_dir,
                cert,
                key,
                &auth,
                &keys.account(),
            );
            std::fs::write(node_dir.join("nats.conf"), config).unwrap();
        }
        let mut cluster = Self {
            processes: (0..n).map(|_| [None, None]).collect(),
            nodes,
            dir,
        };
        let logged: Vec<u64> = (0..n).map(|i| cluster.spawn(i)).collect();
        for (i, from) in logged.into_iter().enumerate() {
            cluster.wait_ready(i, from);
        }
        cluster
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("broker{}", i + 1))
    }

    /// Starts node `i`'s processes; the length of its MQTT process's log before (see
    /// [`wait_ready`](Self::wait_ready)).
    fn spawn(&mut self, i: usize) -> u64 {
        let dir = self.node_dir(i);
        // Where the MQTT process's log (`wait_ready` reads it) ends before this start.
        let logged = std::fs::metadata(dir.join("nats.log")).map_or(0, |m| m.len());
        for (p, name) in BROKER_PROCESSES.iter().enumerate() {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{name}.log")))
                .unwrap();
            let child = Command::new("nats-server")
                .arg("-c")
                .arg(dir.join(format!("{name}.conf")))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("nats-server (Debian's nats-server; scripts/setup-debian.sh installs it)");
            self.processes[i][p] = Some(child);
        }
        logged
    }

    /// Waits until node `i` takes MQTT connections (its JetStream is up: it opens the MQTT
    /// listener after) and its MQTT process has joined a routing process (its log says so after
    /// byte `from`), so that what it takes reaches the other nodes.
    fn wait_ready(&self, i: usize, from: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let joined = || {
            std::fs::read(self.node_dir(i).join("nats.log")).is_ok_and(|log| {
                String::from_utf8_lossy(log.get(from as usize..).unwrap_or_default())
                    .contains("Leafnode connection created")
            })
        };
        while std::net::TcpStream::connect(self.nodes[i].mqtt).is_err() || !joined() {
            assert!(
                std::time::Instant::now() < deadline,
                "broker node {} did not open its MQTT port and join the others: {}",
                i + 1,
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn mqtt_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.mqtt).collect()
    }

    pub fn nats_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://{}", n.client))
            .collect()
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    pub fn keys(&self) -> crate::remote::nats::NatsKeys {
        crate::remote::nats::NatsKeys::load(&self.keys_dir()).unwrap()
    }

    /// The node holding the most MQTT connections now (counted in `/proc/net/tcp`).
    pub fn busiest(&self) -> usize {
        let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        let established_on = |port: u16| {
            tcp.lines()
                .skip(1)
                .filter(|l| {
                    let fields: Vec<&str> = l.split_whitespace().collect();
                    fields.len() > 3
                        && fields[3] == "01"
                        && fields[1]
                            .rsplit_once(':')
                            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                            == Some(port)
                })
                .count()
        };
        (0..self.nodes.len())
            .max_by_key(|&i| established_on(self.nodes[i].mqtt.port()))
            .unwrap_or(0)
    }

    /// Kills node `i`'s processes with SIGKILL and reaps them.
    pub fn kill(&mut self, i: usize) {
        for process in &mut self.processes[i] {
            if let Some(mut p) = process.take() {
                let _ = p.kill();
                let _ = p.wait();
            }
        }
    }

    /// Starts node `i` again and waits until it takes MQTT connections.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        let from = self.spawn(i);
        self.wait_ready(i, from);
    }

    /// Node `i`'s logs so far (for a failing test's message).
    pub fn log(&self, i: usize) -> String {
        BROKER_PROCESSES
            .iter()
            .map(|name| {
                let log = std::fs::read_to_string(self.node_dir(i).join(format!("{name}.log")));
                format!("--- {name}.log\n{}", log.unwrap_or_default())
            })
            .collect()
    }
}

impl Drop for BrokerCluster {
    fn drop(&mut self) {
        for i in 0..self.processes.len() {
            self.kill(i);
        }
    }
}

/// A loopback port whose connections are passed on to the node at `node` with the PROXY
/// protocol header HAProxy would send first (a node behind HAProxy expects one): how a test
/// reaches one chosen node of a cluster. Runs until the returned task is aborted.
pub async fn relay_to(node: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let entry = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut client, from)) = listener.accept().await {
            tokio::spawn(async move {
                // A node that is down: the client sees its connection closed, as via HAProxy.
                let Ok(mut upstream) = tokio::net::TcpStream::connect(node).await else {
                    return;
                };
                let header = crate::proxy_protocol::header_for(from, node);
                if upstream.write_all(&header).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (entry, task)
}
