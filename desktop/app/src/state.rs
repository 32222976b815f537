//! The app's state: its settings, the signed-in client and its background collection. Held in
//! one async mutex; commands lock it only to pick up a client clone or flip a switch, never
//! across a network call.

use std::sync::Arc;

use ecsp_client::secrets::KeyringSecretStore;
use ecsp_client::{ClientConfig, EcspClient, EcspError, ErrorCode, KEYRING_SERVICE};
use ecsp_dfe::Ledger;
use ecsp_dfe::collector::Collector;
use tauri::AppHandle;
use tauri::async_runtime::JoinHandle;

use crate::error::{UiError, UiResult};
use crate::events;
use crate::settings::{Dirs, Settings};

pub struct AppState {
    pub dirs: Dirs,
    pub inner: tokio::sync::Mutex<Inner>,
}

#[derive(Default)]
pub struct Inner {
    pub settings: Settings,
    pub client: Option<EcspClient>,
    pub collector: Option<Collector>,
    pub(crate) forwarders: Vec<JoinHandle<()>>,
}

impl Inner {
    /// The client, or `not_signed_in` when no server is set up yet.
    pub fn client(&self) -> UiResult<EcspClient> {
        self.client
            .clone()
            .ok_or_else(|| UiError::new(ErrorCode::NotSignedIn, "sign in to a server first"))
    }
}

/// A client for `server` trusting `ca_pem` (if any), with tokens in the OS keyring.
pub fn open_client(
    dirs: &Dirs,
    server: &str,
    ca_pem: Option<&str>,
) -> Result<EcspClient, EcspError> {
    let secrets = Arc::new(KeyringSecretStore::new(KEYRING_SERVICE)?);
    EcspClient::open(
        &ClientConfig {
            server: server.to_owned(),
            ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
            data_dir: dirs.data.clone(),
            ..ClientConfig::default()
        },
        secrets,
    )
}

impl AppState {
    /// Starts background collection (paused unless authorised) and the event forwarding for
    /// the signed-in client. Must run on the async runtime.
    pub fn start_collection(&self, app: &AppHandle, inner: &mut Inner) -> UiResult<()> {
        stop_collection(inner);
        let client = inner.client()?;
        let ledger = Ledger::open(&self.dirs.data.join("dfe-ledger.sqlite3"))
            .map_err(|e| UiError::new(ErrorCode::LocalStorage, format!("the DFE ledger: {e}")))?;
        inner.forwarders.push(events::forward_client(
            app.clone(),
            client.clone(),
            client.subscribe(),
        ));
        let collector = Collector::start(
            &client,
            ledger,
            inner.settings.source.clone(),
            inner.settings.authorised,
        );
        inner
            .forwarders
            .push(events::forward_folder(app.clone(), collector.subscribe()));
        events::sync_state(app, &collector.sync().state(), None);
        inner.collector = Some(collector);
        Ok(())
    }
}

/// Stops collection and forwarding (sign-out, or before starting them again).
pub fn stop_collection(inner: &mut Inner) {
    for f in inner.forwarders.drain(..) {
        f.abort();
    }
    if let Some(c) = inner.collector.take() {
        // Dropping it stops the watcher and aborts the sync task; queued rows stay queued.
        drop(c);
    }
}
