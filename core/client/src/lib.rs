//! The shared ECSP client core, wrapped by the `ecsp` command line, the desktop application and
//! the mobile bindings.
//!
//! * [`transport`]: HTTPS with rustls (TLS 1.2+, system roots plus an optional CA file).
//! * [`session`]: sign-in, transparent token refresh (once, on 401), sign-out, whoami; tokens
//!   live only in a [`secrets::SecretStore`].
//! * [`consent`]: per-purpose consent (`job_info`, `gps`, `photos`), recorded locally and on the
//!   server, enforced here twice: a gated part is not captured without consent, and is filtered
//!   again when sent.
//! * [`outbox`] and [`sync`]: every captured record is written to a local SQLite outbox in one
//!   transaction; [`EcspClient::flush`] delivers it at least once, in batches, with backoff, and
//!   the server's idempotency makes that exactly once in effect.
//!
//! The API is async and small: open an [`EcspClient`], sign in, decide consent, capture, flush.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod capture;
pub mod consent;
pub mod error;
pub mod outbox;
pub mod secrets;
pub mod session;
mod store;
pub mod sync;
pub mod transport;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{ClientError, Result, TlsFailure};
pub use secrets::{Secret, SecretStore};

use crate::store::LocalStore;
use crate::transport::Transport;

/// Name of the local database file in the client's data directory.
pub const LOCAL_DATABASE_FILE: &str = "client.sqlite3";

/// Service name under which secrets are kept in the OS keyring.
pub const KEYRING_SERVICE: &str = "ecsp-client";

/// How to reach the server and where to keep local state.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host:port`, optionally with a path prefix.
    pub server: String,
    /// Extra CA certificate (PEM) to trust, e.g. the reference server's local CA.
    pub ca_file: Option<PathBuf>,
    /// Directory for the local database (outbox and consent history).
    pub data_dir: PathBuf,
}

/// The client: one server, one local database, one secret store.
#[derive(Debug)]
pub struct EcspClient {
    transport: Transport,
    secrets: Arc<dyn SecretStore>,
    store: LocalStore,
    /// Serialises token refreshes so concurrent 401s trigger one refresh.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl EcspClient {
    pub fn open(config: &ClientConfig, secrets: Arc<dyn SecretStore>) -> Result<Self> {
        let transport = Transport::new(&config.server, config.ca_file.as_deref())?;
        let store = LocalStore::open(&config.data_dir.join(LOCAL_DATABASE_FILE))?;
        Ok(Self {
            transport,
            secrets,
            store,
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn server_origin(&self) -> String {
        self.transport.origin()
    }

    /// `PRAGMA integrity_check` of the local database (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String> {
        self.store.integrity_check()
    }

    pub fn local_database(data_dir: &Path) -> PathBuf {
        data_dir.join(LOCAL_DATABASE_FILE)
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
