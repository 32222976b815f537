//! PostgreSQL storage: a pool of sessions, one transaction per write, answered after `COMMIT`
//! returns (PostgreSQL's `synchronous_commit` makes that durable; concurrent commits share a log
//! flush, PostgreSQL's own group commit).
//!
//! The sessions are the synchronous `postgres` client (tokio-postgres run on the calling thread),
//! borrowed on tokio's blocking threads, as SQLite's connections are: the store's statements are
//! synchronous code shared by both engines (see [`crate::sql`]), and a write is a closure over a
//! connection. At most as many requests wait for a session as the pool holds; the others wait
//! on a semaphore, holding no thread.
//!
//! When PostgreSQL goes away, the statement in flight fails, its session is dropped, the request
//! is answered 503 (`StoreError::is_unavailable`) and nothing of it was committed; new sessions
//! are opened as requests come, so service resumes when the database does, without a restart.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::postgres_schema;
use crate::sql::{self, PgSession};

/// Sessions one server process keeps open to PostgreSQL unless told otherwise
/// (`--database-pool-size`).
pub const DEFAULT_POOL_SIZE: u32 = 32;
/// How long a request waits for a session before it is answered 503.
const SESSION_WAIT: Duration = Duration::from_secs(5);

/// Where the database is and how to reach it: the URL's settings, the password (from the URL,
/// `PGPASSWORD` or a file) and the CA that signs the server's certificate. Printed, it shows the
/// host and database only.
#[derive(Clone)]
pub struct PostgresTarget {
    config: postgres::Config,
    ca_file: Option<PathBuf>,
    pool_size: u32,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl PostgresTarget {
    /// `url` is `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`. Without a password
    /// in it, `PGPASSWORD`, then `password_file` (its first line) give one. With `ca_file`, TLS
    /// is required and the server's certificate must chain to it and name the host.
    pub fn parse(
        url: &str,
        password_file: Option<&Path>,
        ca_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("the database must be given as a postgres:// URL".into());
        }
        // The parser's message never repeats the URL, which may hold the password.
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| format!("the database URL is not valid: {e}"))?;
        if config.get_password().is_none() {
            if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                config.password(p.as_encoded_bytes());
            } else if let Some(file) = password_file {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    format!(
                        "cannot read the database password file {}: {e}",
                        file.display()
                    )
                })?;
                let password = text.lines().next().unwrap_or_default();
                if password.is_empty() {
                    return Err(format!(
                        "the database password file {} is empty",
                        file.display()
                    ));
                }
                config.password(password);
            }
        }
        if config.get_dbname().is_none() {
            return Err(
                "the database URL names no database (postgres://USER@HOST/DATABASE)".into(),
            );
        }
        // TLS is verified or not used: with a CA file it is required (and the certificate must
        // chain to the CA and name the host); without one, only when the URL asks for it
        // (`sslmode=require`, verified against the system's roots). libpq's `prefer`, which
        // takes any certificate, is not offered.
        let asked = url.contains("sslmode=");
        if ca_file.is_some() {
            config.ssl_mode(postgres::config::SslMode::Require);
        } else if !asked || config.get_ssl_mode() == postgres::config::SslMode::Prefer {
            config.ssl_mode(postgres::config::SslMode::Disable);
        }
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("ecsp-server");
        // A statement stuck behind a lock, or a session left inside a transaction, must not hold
        // one of the pool's few sessions for ever: PostgreSQL ends them (the request fails).
        let limits = "-c statement_timeout=30s -c idle_in_transaction_session_timeout=60s";
        let options = match config.get_options() {
            Some(own) if !own.is_empty() => format!("{own} {limits}"),
            _ => limits.to_owned(),
        };
        config.options(&options);
        Ok(Self {
            config,
            ca_file,
            pool_size: DEFAULT_POOL_SIZE,
        })
    }

    /// At most `n` sessions from this process (at least 1).
    pub fn with_pool_size(mut self, n: u32) -> Self {
        self.pool_size = n.max(1);
        self
    }

    /// `host:port/database`, for messages and logs.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.port();
        let db = self.config.get_dbname().unwrap_or_default();
        format!("{host}:{port}/{db}")
    }

    /// The port of the first host (5432 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    pub fn database_name(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The connection as libpq's environment (`PGHOST`, `PGUSER`, `PGPASSWORD`, TLS), for
    /// PostgreSQL's own tools (`pg_dump`, `pg_restore`): a password in an environment variable
    /// of the child, never on its command line. TLS as this server's connection has it: with a
    /// CA file, required and verified against it, host name included.
    pub fn libpq_environment(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env: Vec<(&'static str, std::ffi::OsString)> = Vec::new();
        match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => env.push(("PGHOST", h.into())),
            Some(postgres::config::Host::Unix(p)) => env.push(("PGHOST", p.into())),
            None => {}
        }
        env.push(("PGPORT", self.port().to_string().into()));
        if let Some(user) = self.config.get_user() {
            env.push(("PGUSER", user.into()));
        }
        if let Some(password) = self.config.get_password() {
            env.push((
                "PGPASSWORD",
                String::from_utf8_lossy(password).into_owned().into(),
            ));
        }
        match (&self.ca_file, self.config.get_ssl_mode()) {
            (Some(ca), _) => {
                env.push(("PGSSLMODE", "verify-full".into()));
                env.push(("PGSSLROOTCERT", ca.into()));
            }
            (None, postgres::config::SslMode::Disable) => env.push(("PGSSLMODE", "disable".into())),
            (None, _) => {
                env.push(("PGSSLMODE", "verify-full".into()));
                // The system's roots, as the server's own connection uses (libpq 15 has no
                // `system` value).
                env.push(("PGSSLROOTCERT", "/etc/ssl/certs/ca-certificates.crt".into()));
            }
        }
        env
    }

    /// The same server and credentials, another database (tests make one per server).
    pub fn with_database(&self, name: &str) -> Self {
        let mut other = self.clone();
        other.config.dbname(name);
        other
    }

    fn tls(&self) -> Result<MakeRustlsConnect, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(file) => {
                let certs = CertificateDer::pem_file_iter(file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        format!("cannot read the database CA file {}: {e}", file.display())
                    })?;
                for cert in certs {
                    roots.add(cert).map_err(|e| {
                        format!(
                            "the database CA file {} holds a bad certificate: {e}",
                            file.display()
                        )
                    })?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// Opens one session (blocking: call on a blocking thread).
    pub fn connect_blocking(&self) -> Result<postgres::Client, StoreError> {
        let tls = self.tls().map_err(StoreError::Unavailable)?;
        self.connect_with(tls)
    }

    fn connect_with(&self, tls: MakeRustlsConnect) -> Result<postgres::Client, StoreError> {
        self.config.connect(tls).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                self.describe(),
                sql::Error::from(e)
            ))
        })
    }
}

/// Opens the pool's sessions.
pub struct Manager {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager")
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgSession;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgSession, postgres::Error> {
        Ok(PgSession::new(self.config.connect(self.tls.clone())?))
    }

    fn is_valid(&self, session: &mut PgSession) -> Result<(), postgres::Error> {
        session.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, session: &mut PgSession) -> bool {
        session.broken || session.client.is_closed()
    }
}

/// A session from the pool with `begin` run on it. Sessions the database dropped (a restart, a
/// fail-over) are only found out on use: such a one fails `begin` at once, is discarded, and the
/// next is tried, up to the pool's size, so that the first requests after the database comes
/// back are served rather than answered 503. Nothing has run on a session before its `begin`,
/// so trying another is always safe.
fn begin_on_live_session(
    pool: &r2d2::Pool<Manager>,
    begin: &str,
    target: &str,
) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
    let mut last = None;
    for _ in 0..=pool.max_size() {
        let mut session = pool.get().map_err(|e| {
            StoreError::Unavailable(format!("no session to PostgreSQL at {target}: {e}"))
        })?;
        match session.client.batch_execute(begin) {
            Ok(()) => return Ok(session),
            Err(e) if sql::postgres_unavailable(&e) => {
                session.broken = true;
                last = Some(e);
            }
            Err(e) => return Err(StoreError::Sql(e.into())),
        }
    }
    Err(last.map_or_else(
        || StoreError::Unavailable(format!("no session to PostgreSQL at {target}")),
        |e| StoreError::Sql(e.into()),
    ))
}

/// How often a listening session looks up from its wait to see whether it should stop.
const LISTEN_POLL: Duration = Duration::from_millis(500);

/// A listening session ([`PostgresDatabase::listen`]); it ends within a moment of being dropped.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Handle to the PostgreSQL storage; cheap to clone.
#[derive(Clone, Debug)]
pub struct PostgresDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Option<r2d2::Pool<Manager>>,
    waiting: Arc<Semaphore>,
    target: String,
    /// For sessions of their own outside the pool ([`PostgresDatabase::listen`]).
    settings: PostgresTarget,
    tls: MakeRustlsConnect,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgreSQL at {}", self.target)
    }
}

impl Drop for Inner {
    /// Each session owns a small runtime of its own, which may not be dropped on a tokio
    /// worker: the pool is let go on a plain thread.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new()
                .name("ecsp-pg-close".into())
                .spawn(move || drop(pool));
        }
    }
}

impl PostgresDatabase {
    /// Connects, migrates under the advisory lock, and opens the pool. An unreachable database
    /// is an error naming its host and database.
    pub async fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        let target = target.clone();
        tokio::task::spawn_blocking(move || {
            // The CA file (or the system's roots) is read once, for the first session and the
            // pool's.
            let tls = target.tls().map_err(StoreError::Unavailable)?;
            let mut first = target.connect_with(tls.clone())?;
            postgres_schema::migrate(&mut first)?;
            drop(first);
            let manager = Manager {
                config: target.config.clone(),
                tls: tls.clone(),
            };
            let pool = r2d2::Pool::builder()
                .max_size(target.pool_size)
                .min_idle(Some(2))
                .connection_timeout(SESSION_WAIT)
                // A broken session shows itself on its first statement (a 503) and is dropped;
                // testing each on check-out would cost a round trip per request.
                .test_on_check_out(false)
                .build_unchecked(manager);
            Ok(Self {
                inner: Arc::new(Inner {
                    pool: Some(pool),
                    waiting: Arc::new(Semaphore::new(target.pool_size as usize)),
                    target: target.describe(),
                    settings: target.clone(),
                    tls,
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Listens on `channel` on a session of its own, on a plain thread, calling `on_notice`
    /// with each notification's payload, until the returned [`Listener`] is dropped. After
    /// each (re)connection `on_listening` is called: notifications sent while no session
    /// listened are lost, so the caller catches up on what it may have missed. A lost session
    /// is opened again every second until the database answers.
    pub fn listen(
        &self,
        channel: &'static str,
        on_listening: impl Fn() + Send + 'static,
        on_notice: impl Fn(&str) + Send + 'static,
    ) -> Listener {
        use postgres::fallible_iterator::FallibleIterator as _;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let (settings, tls) = (self.inner.settings.clone(), self.inner.tls.clone());
        let listening = move || {
            while !stopped.load(Ordering::Relaxed) {
                let mut session = match settings.connect_with(tls.clone()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, channel, "cannot listen for notifications");
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                };
                if let Err(e) = session.batch_execute(&format!("LISTEN {channel}")) {
                    tracing::warn!(error = %sql::Error::from(e), channel, "LISTEN failed");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                on_listening();
                while !stopped.load(Ordering::Relaxed) {
                    let mut notifications = session.notifications();
                    match notifications.timeout_iter(LISTEN_POLL).next() {
                        Ok(Some(n)) => on_notice(n.payload()),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %sql::Error::from(e), channel, "notification session lost");
                            break;
                        }
                    }
                }
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name(format!("ecsp-listen-{channel}"))
            .spawn(listening)
        {
            tracing::error!(error = %e, channel, "cannot start the notification listener");
        }
        Listener { stop }
    }

    /// Sends `payload` to every session listening on `channel` (once this write commits).
    pub async fn notify(&self, channel: &'static str, payload: String) -> Result<(), StoreError> {
        self.run(true, move |c| {
            c.query_row(
                "SELECT pg_notify(?1, ?2)",
                [channel, payload.as_str()],
                |_| Ok(()),
            )
            .map_err(StoreError::from)
        })
        .await
    }

    /// Runs `f` on a pooled session on a blocking thread, in a transaction (read-only unless
    /// `transaction`: a read sees one snapshot across its statements).
    async fn run<T, E>(
        &self,
        transaction: bool,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let permit = self
            .inner
            .waiting
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| E::from(StoreError::WriterStopped))?;
        let Some(pool) = self.inner.pool.clone() else {
            return Err(E::from(StoreError::WriterStopped));
        };
        let target = self.inner.target.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let begin = if transaction {
                "BEGIN"
            } else {
                "BEGIN READ ONLY"
            };
            let session = begin_on_live_session(&pool, begin, &target).map_err(E::from)?;
            let conn = sql::Connection::Postgres(RefCell::new(session));
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(E::from(StoreError::Task("a store task panicked".into()))));
            let ended = match &result {
                // Answered only once the commit returned: never an acknowledgement without it.
                Ok(_) => conn.execute_batch("COMMIT"),
                Err(_) => conn.execute_batch("ROLLBACK"),
            };
            if let sql::Connection::Postgres(session) = &conn {
                let mut session = session.borrow_mut();
                // A session whose statement or commit found the database gone is not reused.
                if matches!(&ended, Err(e) if e.is_unavailable()) || session.client.is_closed() {
                    session.broken = true;
                }
            }
            match (result, ended) {
                (Ok(value), Ok(())) => Ok(value),
                (Ok(_), Err(e)) => Err(E::from(StoreError::Sql(e))),
                (Err(e), _) => Err(e),
            }
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(true, f).await
    }

    pub async fn read<T, E>(
        &self,
        f: impl FnOnce(&sql::Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(false, f).await
    }
}

/// Runs `statements` as `admin` (blocking; for tests and benchmarks: dropping their throwaway
/// databases, a checkpoint before a measurement).
pub fn execute_blocking(admin: &PostgresTarget, statements: &str) -> Result<(), StoreError> {
    let mut client = admin.connect_blocking()?;
    client.batch_execute(statements).map_err(sql::Error::from)?;
    Ok(())
}

/// Creates an empty database `name` on `admin`'s server and returns the target naming it
/// (tests, and `ecsp-server migrate` into a new database). `name` must be a plain identifier.
pub async fn create_database(
    admin: &PostgresTarget,
    name: &str,
) -> Result<PostgresTarget, StoreError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Task(format!(
            "`{name}` is not a plain database name (letters, digits, _)"
        )));
    }
    let admin = admin.clone();
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = admin.connect_blocking()?;
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(sql::Error::from)?;
        drop(client);
        Ok(admin.with_database(&name))
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}
