//! The shared ECSP client core, wrapped by the `ecsp` command line, the desktop application and
//! the mobile bindings.
//!
//! * [`transport`]: HTTPS with rustls (TLS 1.2+, system roots plus the host's extra anchors).
//! * [`session`]: sign-in, transparent token refresh (once, on 401), sign-out, whoami; tokens
//!   live only in a [`secrets::SecretStore`]; the end of a session is an event, never silent.
//! * [`consent`]: per-purpose consent (`job_info`, `gps`, `photos`), recorded locally and on the
//!   server, enforced here twice: a gated part is not captured without consent, and is filtered
//!   again when sent.
//! * [`outbox`] and [`sync`]: every captured record is written to a local SQLite outbox in one
//!   transaction; a flush delivers it at least once, in batches, with backoff, and the server's
//!   idempotency makes that exactly once in effect.
//! * [`service`]: the sync service an application starts once; it delivers in the background,
//!   wakes on a capture, a decision, a backoff deadline or a regained network, and can be paused.
//! * [`events`]: typed events any front end subscribes to.
//! * [`error`]: the exported [`EcspError`] with its closed set of [`ErrorCode`]s.
//!
//! The API is async. Work that blocks (SQLite writes with their fsync, keyring reads) runs on
//! tokio's blocking pool, never on the executor's threads; the session is read from the keyring
//! once per operation.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod capture;
pub mod consent;
pub mod error;
pub mod events;
pub mod outbox;
pub mod remote;
pub mod secrets;
pub mod server_ca;
pub mod service;
pub mod session;
mod store;
pub mod sync;
pub mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecsp_protocol::common::OperatingEnvironment;
pub use error::{EcspError, EcspResult, ErrorCode, TlsFailure};
pub use events::{ClientEvent, SessionEndReason, SyncState};
pub use secrets::{Secret, SecretStore};
use tokio::sync::{Notify, broadcast};

use crate::error::Result;
use crate::store::LocalStore;
use crate::transport::Transport;

/// Name of the local database file in the client's data directory.
pub const LOCAL_DATABASE_FILE: &str = "client.sqlite3";

/// Service name under which secrets are kept in the OS keyring: the command line's (`ecsp`),
/// unchanged so its existing sessions stay signed in.
pub const KEYRING_SERVICE: &str = "ecsp-client";

/// The desktop application's own keyring service. Each application keeps its session (and its
/// installation id) apart, so signing out of one does not sign out the other.
pub const DESKTOP_KEYRING_SERVICE: &str = "ecsp-desktop";

/// How many events a slow subscriber may fall behind before it loses the oldest.
const EVENT_BUFFER: usize = 1024;

/// How to reach the server, where to keep local state, and what the host application knows.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// `https://host:port`, optionally with a path prefix.
    pub server: String,
    /// Extra CA certificate file (PEM) to trust, e.g. the reference server's local CA.
    pub ca_file: Option<PathBuf>,
    /// Extra trust anchors as PEM bytes, for hosts that keep them elsewhere than in a file (a
    /// phone app's bundle, a CA the user accepted after comparing its fingerprint).
    pub ca_pem: Option<Vec<u8>>,
    /// Directory for the local database (outbox and consent history).
    pub data_dir: PathBuf,
    /// The operating environment records describe when they do not say; by default what this
    /// process can see (a phone host knows its model and OS version better).
    pub environment: Option<OperatingEnvironment>,
}

/// Everything a client holds, shared by its clones, its blocking jobs and its sync service.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) transport: Transport,
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) store: LocalStore,
    /// Serialises token refreshes so concurrent 401s trigger one refresh.
    pub(crate) refresh_lock: tokio::sync::Mutex<()>,
    pub(crate) events: broadcast::Sender<ClientEvent>,
    /// Wakes the sync service: something was captured or decided, or someone signed in.
    pub(crate) wake: Notify,
    pub(crate) environment: OperatingEnvironment,
}

impl Core {
    pub(crate) fn emit(&self, event: ClientEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Emits the queue counts after a change.
    pub(crate) fn queue_changed(&self) {
        if self.events.receiver_count() == 0 {
            return;
        }
        match outbox::status(&self.store.conn()) {
            Ok(status) => self.emit(ClientEvent::QueueChanged { status }),
            Err(e) => tracing::warn!(error = %e, "could not read the queue counts"),
        }
    }
}

/// The client: one server, one local database, one secret store. Cheap to clone; clones share
/// everything.
#[derive(Debug, Clone)]
pub struct EcspClient {
    pub(crate) core: Arc<Core>,
}

impl EcspClient {
    pub fn open(config: &ClientConfig, secrets: Arc<dyn SecretStore>) -> EcspResult<Self> {
        let transport = Transport::new(
            &config.server,
            config.ca_file.as_deref(),
            config.ca_pem.as_deref(),
        )?;
        let store = LocalStore::open(&config.data_dir.join(LOCAL_DATABASE_FILE))?;
        Ok(Self {
            core: Arc::new(Core {
                transport,
                secrets,
                store,
                refresh_lock: tokio::sync::Mutex::new(()),
                events: broadcast::channel(EVENT_BUFFER).0,
                wake: Notify::new(),
                environment: config
                    .environment
                    .clone()
                    .unwrap_or_else(capture::this_environment),
            }),
        })
    }

    pub fn server_origin(&self) -> String {
        self.core.transport.origin()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.core.events.subscribe()
    }

    /// `PRAGMA integrity_check` of the local database (`ok` when sound).
    pub async fn integrity_check(&self) -> EcspResult<String> {
        self.blocking(|core| core.store.integrity_check()).await
    }

    pub fn local_database(data_dir: &Path) -> PathBuf {
        data_dir.join(LOCAL_DATABASE_FILE)
    }

    /// Runs `f` on tokio's blocking pool. If the caller stops waiting, `f` still completes, so
    /// a transaction is never left half-done.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> EcspResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Core) -> Result<T> + Send + 'static,
    {
        Ok(self.blocking_internal(f).await?)
    }

    pub(crate) async fn blocking_internal<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Core) -> Result<T> + Send + 'static,
    {
        let core = self.core.clone();
        tokio::task::spawn_blocking(move || f(&core)).await?
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
