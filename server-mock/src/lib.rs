//! The reference ECSP server: accounts, roles, device rights, ingestion from agents and the PC
//! and mobile applications, consent, and an append-only audit log, over HTTPS only.
//!
//! `ecsp-server` (see `main.rs`) is a thin shell over [`start`]; tests and benchmarks start the
//! same server in-process on a loopback port.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub use ecsp_server_store::{db, params, sql};

pub mod agent_admin;
pub mod agent_cache;
pub mod alerts;
pub mod api;
pub mod audit_throttle;
pub mod cluster;
pub mod crypto;
pub mod device_cache;
pub mod error;
mod fsutil;
mod ingest_batch;
mod portal;
pub mod proxy_protocol;
pub mod ratelimit;
pub mod remote;
pub mod rotate;
pub mod seed;
pub mod store;
pub mod telemetry;
#[cfg(feature = "test-harness")]
pub mod testing;
pub mod tls;
pub mod unlock;
pub mod webhook_guard;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::crypto::DataKey;
use crate::db::Database;
use crate::store::accounts::TokenPolicy;

/// Name of the database file inside the data directory.
pub const DATABASE_FILE: &str = "ecsp.sqlite3";

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Operator-supplied certificate chain and key; without them a local CA is used.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Extra host names or addresses for the local CA's server certificate.
    pub tls_hosts: Vec<String>,
    /// Where the data key lives when `ECSP_DATA_KEY` is not set.
    pub data_key_file: Option<PathBuf>,
    /// Seed a demo organisation into an empty database.
    pub seed_demo: bool,
    pub tokens: TokenPolicy,
    /// Audit rows older than this many days are deleted (at start and hourly).
    pub audit_retention_days: u32,
    /// MQTT over TLS on a port of its own, besides the HTTPS port (where MQTT is reached by ALPN).
    pub mqtt_listen: Option<SocketAddr>,
    /// Most MQTT connections one address may hold at once (agents of a site behind one NAT
    /// share it): `remote::limits`.
    pub mqtt_connections_per_address: usize,
    /// Behind HAProxy with `send-proxy-v2`: read each connection's PROXY protocol header for the
    /// client's address, and refuse connections without one (see `proxy_protocol`).
    pub proxy_protocol: bool,
    /// How often operations past their deadline are ended (expired / timed out).
    pub operation_sweep: Duration,
    /// Also route commands and reports through an external MQTT broker (mosquitto).
    pub external_broker: Option<remote::external::ExternalBroker>,
    /// Keep the data in this PostgreSQL database instead of SQLite in the data directory.
    pub database: Option<db::PostgresTarget>,
    /// Serve metrics (Prometheus text format, plain HTTP) at `/metrics` on this address.
    pub metrics_listen: Option<SocketAddr>,
    /// The metrics address is the default one, not asked for: if it is taken (another server
    /// on this machine), start without metrics and say so instead of failing.
    pub metrics_listen_is_default: bool,
    /// Alert e-mail and webhooks.
    pub alerts: alerts::AlertSettings,
}

impl Config {
    /// The embedded defaults: loopback, `./ecsp-data`, local CA, demo organisation.
    pub fn with_defaults(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir,
            tls_cert: None,
            tls_key: None,
            tls_hosts: Vec::new(),
            data_key_file: None,
            seed_demo: true,
            tokens: TokenPolicy::default(),
            audit_retention_days: store::audit::DEFAULT_RETENTION_DAYS,
            mqtt_listen: None,
            mqtt_connections_per_address: remote::limits::MAX_CONNECTIONS_PER_ADDRESS,
            proxy_protocol: false,
            operation_sweep: Duration::from_secs(1),
            external_broker: None,
            database: None,
            metrics_listen: None,
            metrics_listen_is_default: false,
            alerts: alerts::AlertSettings::default(),
        }
    }

    pub fn data_key_path(&self) -> PathBuf {
        self.data_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("data.key"))
    }
}

/// Opens the database (SQLite in the data directory, or the configured PostgreSQL) and the
/// data key (creating both on first use).
pub async fn open_storage(config: &Config) -> anyhow::Result<(Database, Arc<DataKey>)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // The database first: an unreachable PostgreSQL must not leave a new data key behind.
    let db = match &config.database {
        Some(target) => Database::connect(target)
            .await
            .with_context(|| format!("opening the PostgreSQL database {}", target.describe()))?,
        None => Database::open(&config.data_dir.join(DATABASE_FILE))
            .with_context(|| format!("opening the database in {}", config.data_dir.display()))?,
    };
    // A database server outlives data directories, and a restored backup holds no key: a new
    // key for a database that already holds data sealed under another would make the server
    // start and then fail to read every row.
    let key_path = config.data_key_path();
    if !key_path.exists() && std::env::var_os(crypto::DATA_KEY_ENV).is_none() {
        let holds_data = db
            .read(|c| {
                c.query_row("SELECT EXISTS (SELECT 1 FROM organizations)", [], |r| {
                    r.get::<_, bool>(0)
                })
                .map_err(db::StoreError::from)
            })
            .await?;
        anyhow::ensure!(
            !holds_data,
            "the database already holds data, sealed with a data key that is not at {}: start the \
             server with the data directory (or --data-key-file, or ECSP_DATA_KEY) it was created with",
            key_path.display()
        );
    }
    let key = Arc::new(DataKey::load_or_create(&key_path)?);
    // Another installation's key (a backup restored with the wrong one) opens nothing: refused
    // here rather than at every read.
    let check = key.clone();
    let opens = db
        .read(move |c| store::accounts::data_key_opens(c, &check))
        .await?;
    anyhow::ensure!(
        opens,
        "the data key ({}) does not open this database's data: it was sealed under another key;          start the server with the key it was created with (--data-key-file, or ECSP_DATA_KEY)",
        if std::env::var_os(crypto::DATA_KEY_ENV).is_some() {
            "ECSP_DATA_KEY".to_owned()
        } else {
            key_path.display().to_string()
        }
    );
    Ok((db, key))
}

/// [`open_storage`] for the server's commands on an installation (`agents`, `export-audit`,
/// `reset-password`, `unlock-sign-in`): a data directory without a database (or, with
/// PostgreSQL, without the data key that opens it) is refused, never made anew with a new data
/// key (a mistyped `--data-dir` would otherwise look like success).
pub async fn open_existing_storage(config: &Config) -> anyhow::Result<(Database, Arc<DataKey>)> {
    if config.database.is_some() {
        let key = config.data_key_path();
        anyhow::ensure!(
            key.exists() || std::env::var_os(crypto::DATA_KEY_ENV).is_some(),
            "no data key at {}: give the data directory with --data-dir (or --data-key-file)",
            key.display()
        );
    } else {
        let database = config.data_dir.join(DATABASE_FILE);
        anyhow::ensure!(
            database.exists(),
            "no server database at {}: give the data directory with --data-dir",
            database.display()
        );
    }
    open_storage(config).await
}

/// `ecsp-server backup`: the installation's database into the new file `to`, while the server
/// serves (see [`db::backup`]); what to tell the operator.
pub async fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<String> {
    let to = to.to_owned();
    let key_note = format!(
        "It holds no data key: keep the key ({}) apart from it; the backup opens only with it.",
        config.data_key_path().display()
    );
    match &config.database {
        Some(target) => {
            let target = target.clone();
            let file = to.clone();
            tokio::task::spawn_blocking(move || db::backup::postgres_backup(&target, &file))
                .await??;
            Ok(format!(
                "backed up PostgreSQL {} into {} (pg_dump, custom format).\n{key_note}",
                config
                    .database
                    .as_ref()
                    .map(|t| t.describe())
                    .unwrap_or_default(),
                to.display()
            ))
        }
        None => {
            let database = config.data_dir.join(DATABASE_FILE);
            let file = to.clone();
            let summary =
                tokio::task::spawn_blocking(move || db::backup::sqlite_backup(&database, &file))
                    .await??;
            Ok(format!(
                "backed up {} record(s) into {} ({} bytes).\n{key_note}",
                summary.records,
                to.display(),
                summary.bytes
            ))
        }
    }
}

/// `ecsp-server restore`: a backup into a new data directory (SQLite) or an empty PostgreSQL
/// database; what to tell the operator.
pub async fn restore(config: &Config, from: &std::path::Path) -> anyhow::Result<String> {
    let from = from.to_owned();
    let start_with = format!(
        "Start the server on it with the data key of the installation the backup came from          (--data-key-file KEY, or the key copied to {}): the backup holds none, and the server          refuses to start on sealed data without it.",
        config.data_dir.join("keys").join("data.key").display()
    );
    match &config.database {
        Some(target) => {
            let target = target.clone();
            let file = from.clone();
            tokio::task::spawn_blocking(move || db::backup::postgres_restore(&file, &target))
                .await??;
            Ok(format!(
                "restored {} into PostgreSQL {}.\n{start_with}",
                from.display(),
                config
                    .database
                    .as_ref()
                    .map(|t| t.describe())
                    .unwrap_or_default()
            ))
        }
        None => {
            let database = config.data_dir.join(DATABASE_FILE);
            let file = from.clone();
            let summary =
                tokio::task::spawn_blocking(move || db::backup::sqlite_restore(&file, &database))
                    .await??;
            Ok(format!(
                "restored {} record(s) from {} into {}.\n{start_with}",
                summary.records,
                from.display(),
                config.data_dir.display()
            ))
        }
    }
}

/// `ecsp-server migrate`: copies the SQLite database of the data directory `from` into the
/// empty PostgreSQL database `to` (see [`db::copy`]).
pub async fn migrate_to_postgres(
    from: &std::path::Path,
    to: &db::PostgresTarget,
) -> anyhow::Result<db::copy::Copied> {
    let database = from.join(DATABASE_FILE);
    anyhow::ensure!(
        database.exists(),
        "no server database at {}: give the data directory with --from",
        database.display()
    );
    let to = to.clone();
    let copied =
        tokio::task::spawn_blocking(move || db::copy::sqlite_to_postgres(&database, &to)).await??;
    Ok(copied)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    /// The local CA certificate (PEM) clients should trust, if the server made one.
    pub ca_pem: Option<String>,
    pub ca_fingerprint: Option<String>,
    /// Demo accounts created by this start (first start of a data directory only).
    pub demo: Option<seed::DemoAccounts>,
    pub db: Database,
    pub key: Arc<DataKey>,
    /// Where MQTT's own port listens, if configured.
    pub mqtt_addr: Option<SocketAddr>,
    /// Where the metrics are served (`/metrics`), if configured.
    pub metrics_addr: Option<SocketAddr>,
    /// The agents connected over MQTT.
    pub remote: Arc<remote::Hub>,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    throttle: Arc<audit_throttle::AuditThrottle>,
    flusher: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// Hears the other server nodes (`remote::peers`; PostgreSQL only); stops when dropped.
    _peers: Option<db::postgres::Listener>,
}

impl Server {
    /// Stops accepting, lets requests in flight finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.remote.close_all();
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.wait().await
    }

    /// Waits until the server stops (for the binary), then writes the audit summaries still open.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let served = (&mut self.task).await;
        self.flusher.abort();
        self.remote.close_all();
        for task in &self.background {
            task.abort();
        }
        self.flush_audit().await?;
        served??;
        Ok(())
    }

    /// Writes the summary rows of every open audit-throttle window now (tests, shutdown).
    pub async fn flush_audit(&self) -> anyhow::Result<()> {
        let rows = self.throttle.drain(true);
        if rows.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |c| {
                for e in &rows {
                    store::audit::append(c, e).map_err(db::StoreError::from)?;
                }
                Ok::<_, db::StoreError>(())
            })
            .await?;
        Ok(())
    }

    pub fn handle(&self) -> axum_server::Handle<SocketAddr> {
        self.handle.clone()
    }
}

/// Starts the server and returns once it is listening.
///
/// The ports are bound before anything is written, and the demo organisation is seeded as the
/// last step that can fail: a start that cannot listen leaves no data directory behind, so the
/// next start seeds and shows the demo passwords instead of finding them made and never printed.
pub async fn start(config: Config) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let mqtt_listener = match config.mqtt_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("binding the MQTT port {at}"))?,
        ),
        None => None,
    };
    let metrics_listener = match config.metrics_listen {
        Some(at) => match telemetry::bind(at).await {
            Ok(listener) => Some(listener),
            Err(e) if config.metrics_listen_is_default => {
                tracing::warn!(error = %e, "metrics not served: the default address is taken; give --metrics-listen");
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    // Installed before anything is written, so every write's pending count is taken and given
    // back under the same recorder.
    let metrics_handle = match &metrics_listener {
        Some(_) => Some(telemetry::install()?),
        None => None,
    };
    let (db, key) = open_storage(&config).await?;
    let material = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(k)) => tls::from_files(cert, k)?,
        (None, None) => tls::local_ca(
            &tls::tls_dir(&config.data_dir),
            &tls::default_hosts(&config.tls_hosts),
        )?,
        _ => anyhow::bail!("give both --tls-cert and --tls-key, or neither"),
    };
    let sealing_key = key.clone();
    let sealed = db
        .write(move |c| store::accounts::seal_legacy_names(c, &sealing_key))
        .await
        .map_err(|e| anyhow::anyhow!("sealing organisation names and agent labels: {e}"))?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "sealed organisation names and agent labels stored in clear"
        );
    }
    let ca_fingerprint = material.ca_fingerprint();
    let remote = Arc::new(remote::Hub::with_connections_per_address(
        config.mqtt_connections_per_address,
    ));
    let state = AppState::new(api::SharedState {
        db: db.clone(),
        key: key.clone(),
        budgets: ratelimit::SigninBudgets::for_database(&db),
        tokens: config.tokens,
        hashing: Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        )),
        ca_pem: material.ca_pem.clone().map(Arc::from),
        audit_throttle: Arc::default(),
        agents: Arc::default(),
        devices: Arc::default(),
        ingest: ingest_batch::IngestBatches::new(&db, remote.clone()),
        remote,
    });
    let throttle = state.audit_throttle.clone();
    let app = api::router(state.clone()).layer(tower_http::trace::TraceLayer::new_for_http());

    let handle = axum_server::Handle::new();
    let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(material.config.clone());
    let mut background = Vec::new();
    let mqtt_addr = match &mqtt_listener {
        Some(mqtt) => Some(mqtt.local_addr()?),
        None => None,
    };
    if let Some(broker) = config.external_broker.clone() {
        let (link, tasks) =
            remote::external::start(state.clone(), broker, material.ca_pem.as_deref()).await?;
        state.remote.set_external(link);
        background.extend(tasks);
    }
    // One port for HTTPS and MQTT: the acceptor reads the ClientHello's ALPN first.
    let acceptor = remote::AlpnAcceptor {
        https: rustls_config.clone(),
        state: state.clone(),
        proxy_protocol: config.proxy_protocol,
    };
    let server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .serve(app.into_make_service());
    // The last step that can fail: after it, the passwords it made reach the caller.
    let demo = if config.seed_demo {
        seed::seed_demo_if_empty(&db, &key).await?
    } else {
        None
    };
    if let (Some(_), Some(broker)) = (&demo, &config.external_broker) {
        // The external broker's password file was written before the demo agent existed. Not
        // a reason to fail the start (the passwords would be lost): said in the log instead.
        if let Err(e) = remote::external::write_broker_files(&state, &broker.files_dir).await {
            tracing::error!(error = %e, "could not write the broker's password file");
        }
    }

    let flusher = tokio::spawn(audit_housekeeping(
        state.clone(),
        config.audit_retention_days,
    ));
    if config.tls_cert.is_none() {
        tokio::spawn(renew_local_certificate(
            config.clone(),
            rustls_config.clone(),
        ));
    }
    background.push(tokio::spawn(remote::sweeper(
        state.clone(),
        config.operation_sweep,
    )));
    if let Some(mqtt) = mqtt_listener {
        background.push(tokio::spawn(remote::serve_mqtt_port(
            mqtt,
            rustls_config,
            state.clone(),
            config.proxy_protocol,
        )));
    }
    let metrics_addr = match (metrics_listener, metrics_handle) {
        (Some(listener), Some(handle)) => {
            let at = listener.local_addr()?;
            background.push(tokio::spawn(telemetry::serve(
                listener,
                handle,
                state.clone(),
            )));
            Some(at)
        }
        _ => None,
    };
    if std::env::var_os(crypto::DATA_KEY_ENV).is_none() {
        background.push(tokio::spawn(follow_data_key(
            key.clone(),
            config.data_key_path(),
        )));
    }
    // Links in alerts: the first name the certificate is made for, else the address bound.
    let default_url = match config.tls_hosts.first() {
        Some(host) => format!("https://{host}:{}", addr.port()),
        None => format!("https://{addr}"),
    };
    background.push(alerts::start(state.clone(), &config.alerts, default_url)?);
    let peers = remote::peers::listen(&state);
    background.push(tokio::spawn(remote::peers::announce(state.clone())));
    let remote = state.remote.clone();
    let task = tokio::spawn(server);
    Ok(Server {
        addr,
        ca_pem: material.ca_pem,
        ca_fingerprint,
        demo,
        db,
        key,
        mqtt_addr,
        metrics_addr,
        remote,
        handle,
        task,
        throttle,
        flusher,
        background,
        _peers: peers,
    })
}

/// Re-reads the data key file every [`crypto::KEY_FILE_CHECK`]: `ecsp-server rotate-data-key`
/// adds a new current key to it and, once nothing is sealed under the old one, removes that; a
/// running server follows without a restart.
async fn follow_data_key(key: Arc<DataKey>, path: PathBuf) {
    let mut tick = tokio::time::interval(crypto::KEY_FILE_CHECK);
    loop {
        tick.tick().await;
        match key.reload(&path) {
            Ok(true) => {
                tracing::info!(key_id = %key.key_id_hex(), "data key file changed: keys reloaded")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "data key file unreadable: keeping the keys held")
            }
        }
    }
}

/// Checks the local CA's server certificate daily and serves a renewed one without a restart
/// (it is renewed in its last 30 days; see `tls`).
async fn renew_local_certificate(config: Config, serving: axum_server::tls_rustls::RustlsConfig) {
    let mut daily = tokio::time::interval(Duration::from_secs(24 * 3600));
    daily.tick().await;
    loop {
        daily.tick().await;
        let (dir, hosts) = (
            tls::tls_dir(&config.data_dir),
            tls::default_hosts(&config.tls_hosts),
        );
        match tokio::task::spawn_blocking(move || tls::local_ca(&dir, &hosts)).await {
            Ok(Ok(material)) => serving.reload_from_config(material.config),
            Ok(Err(e)) => tracing::error!(error = %e, "could not renew the server certificate"),
            Err(e) => tracing::error!(error = %e, "certificate renewal task failed"),
        }
    }
}

/// Writes the summary rows of closed audit-throttle windows as they close, and expires audit
/// rows past the retention period at start and then hourly.
async fn audit_housekeeping(state: AppState, retention_days: u32) {
    let mut tick = tokio::time::interval(audit_throttle::WINDOW / 6);
    let mut last_expiry: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let rows = state.audit_throttle.drain(false);
        if let Err(e) = state.audit_all(rows).await {
            tracing::error!(error = %e, "could not write audit summary rows");
        }
        if last_expiry.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
            last_expiry = Some(std::time::Instant::now());
            match state
                .db
                .write(move |c| {
                    store::audit::expire(c, retention_days).map_err(db::StoreError::from)
                })
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, retention_days, "expired old audit rows"),
                Err(e) => tracing::error!(error = %e, "could not expire old audit rows"),
            }
            if let Err(e) = state.budgets.forget_full().await {
                tracing::error!(error = %e, "could not forget full sign-in budgets");
            }
        }
    }
}
