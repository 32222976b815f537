//! The app's state: its settings, the signed-in client and its background collection. Held in
//! one async mutex; commands lock it only to pick up a client clone or flip a switch, never
//! across a network call.

use std::sync::Arc;

use ecsp_client::secrets::{KeyringSecretStore, Secret, SecretStore};
use ecsp_client::{
    ClientConfig, DESKTOP_KEYRING_SERVICE, EcspClient, EcspError, EcspResult, ErrorCode,
    KEYRING_SERVICE,
};
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

/// The app's entries in the OS keyring, under its own service name: the command line's
/// (`KEYRING_SERVICE`) stay its own, so signing out here leaves `ecsp` signed in.
///
/// Earlier versions kept their entries under the command line's name. The outbox key (named by
/// this installation's own outbox id, so never the command line's) moves over when first read,
/// so job parts sealed before the update can still be sent; the session does not move (the
/// command line may be using it): the app asks to sign in once more.
#[derive(Debug)]
pub struct AppSecrets {
    own: KeyringSecretStore,
    earlier: Option<KeyringSecretStore>,
}

/// What `ecsp-client` names the outbox key (`outbox-key:INSTALL_ID`).
const OUTBOX_KEY_PREFIX: &str = "outbox-key:";

impl AppSecrets {
    pub fn open() -> EcspResult<Self> {
        Ok(Self {
            own: KeyringSecretStore::new(DESKTOP_KEYRING_SERVICE)?,
            earlier: KeyringSecretStore::new(KEYRING_SERVICE).ok(),
        })
    }
}

impl SecretStore for AppSecrets {
    fn get(&self, key: &str) -> EcspResult<Option<Secret>> {
        if let Some(secret) = self.own.get(key)? {
            return Ok(Some(secret));
        }
        let Some(earlier) = self
            .earlier
            .as_ref()
            .filter(|_| key.starts_with(OUTBOX_KEY_PREFIX))
        else {
            return Ok(None);
        };
        let Some(secret) = earlier.get(key)? else {
            return Ok(None);
        };
        self.own.set(key, &secret)?;
        if let Err(e) = earlier.delete(key) {
            tracing::info!(code = %e.code, "the outbox key's earlier entry stays");
        }
        Ok(Some(secret))
    }

    fn set(&self, key: &str, value: &Secret) -> EcspResult<()> {
        self.own.set(key, value)
    }

    fn delete(&self, key: &str) -> EcspResult<()> {
        self.own.delete(key)
    }
}

/// A client for `server` trusting `ca_pem` (if any), with tokens in the OS keyring.
pub fn open_client(
    dirs: &Dirs,
    server: &str,
    ca_pem: Option<&str>,
) -> Result<EcspClient, EcspError> {
    let secrets = Arc::new(AppSecrets::open()?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: Option<Secret>) -> Option<String> {
        s.map(|s| s.expose().to_owned())
    }

    /// The same keyring as `ecsp` (the Secret Service in the test run's D-Bus session, else
    /// kernel keyutils): the app's sign-out leaves the command line's session, and only this
    /// installation's outbox key moves over from the name both used before.
    #[test]
    fn the_apps_entries_are_its_own_and_an_earlier_outbox_key_moves_over() {
        let app = AppSecrets::open().expect("the OS keyring");
        let cli = KeyringSecretStore::new(KEYRING_SERVICE).expect("the OS keyring");
        let id = uuid::Uuid::new_v4();
        let session = format!("session:https://test-{id}.invalid");
        let outbox = format!("{OUTBOX_KEY_PREFIX}{id}");
        cli.set(&session, &Secret::new("cli-token"))
            .expect("the keyring");
        cli.set(&outbox, &Secret::new("sealing-key"))
            .expect("the keyring");

        assert_eq!(text(app.get(&session).expect("the keyring")), None);
        app.set(&session, &Secret::new("app-token"))
            .expect("the keyring");
        assert_eq!(
            text(app.get(&session).expect("the keyring")).as_deref(),
            Some("app-token")
        );
        app.delete(&session).expect("the keyring"); // signing out of the app
        assert_eq!(text(app.get(&session).expect("the keyring")), None);
        assert_eq!(
            text(cli.get(&session).expect("the keyring")).as_deref(),
            Some("cli-token"),
            "the command line stays signed in"
        );

        assert_eq!(
            text(app.get(&outbox).expect("the keyring")).as_deref(),
            Some("sealing-key")
        );
        assert_eq!(
            text(cli.get(&outbox).expect("the keyring")),
            None,
            "moved, not copied"
        );
        assert_eq!(
            text(app.own.get(&outbox).expect("the keyring")).as_deref(),
            Some("sealing-key")
        );

        cli.delete(&session).expect("the keyring");
        app.delete(&outbox).expect("the keyring");
    }
}
