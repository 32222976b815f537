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
use std::path::PathBuf;
use std::process::Command;

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
