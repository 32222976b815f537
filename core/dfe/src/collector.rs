//! Background collection, the PC application's "Authorise this computer" switch: while
//! authorised, the hot folder is watched and the client's sync service delivers; deauthorised,
//! the watcher is stopped and the sync service paused, so nothing more leaves this machine
//! (files dropped meanwhile wait in the folder; records already queued wait in the outbox).
//!
//! It lives here, not in the desktop shell, so the CLI and tests drive the same switch.

use std::path::PathBuf;
use std::time::Duration;

use ecsp_client::EcspClient;
use ecsp_client::service::{SyncHandle, SyncOptions};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::hot_folder::{self, FolderEvent, HotFolderConfig};
use crate::{Ingest, Ledger, ReadOptions};

/// Where files come from and which printer they describe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FolderSource {
    pub folder: PathBuf,
    /// The printer the DFE drives, as registered on the server.
    pub device_id: Uuid,
}

struct Watcher {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// The background collection of one signed-in client.
pub struct Collector {
    client: EcspClient,
    ledger: Ledger,
    sync: SyncHandle,
    source: Option<FolderSource>,
    settle: Duration,
    watcher: Option<Watcher>,
    events: broadcast::Sender<FolderEvent>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("authorised", &self.is_authorised())
            .field("watching", &self.watcher.is_some())
            .finish()
    }
}

impl Collector {
    /// Starts the sync service (paused unless `authorised`) and, if authorised, the watcher.
    /// Must be called inside a tokio runtime.
    pub fn start(
        client: &EcspClient,
        ledger: Ledger,
        source: Option<FolderSource>,
        authorised: bool,
    ) -> Self {
        let sync = client.start_sync(SyncOptions {
            start_paused: !authorised,
            ..SyncOptions::default()
        });
        let mut collector = Self {
            client: client.clone(),
            ledger,
            sync,
            source,
            settle: HotFolderConfig::new(".").settle,
            watcher: None,
            events: broadcast::channel(256).0,
        };
        if authorised {
            collector.start_watcher();
        }
        collector
    }

    /// How long a file must be unchanged before it is read (default 2 s).
    pub fn set_settle(&mut self, settle: Duration) {
        self.settle = settle;
        self.restart_watcher();
    }

    pub fn is_authorised(&self) -> bool {
        !self.sync.is_paused()
    }

    /// Collection and delivery on.
    pub fn authorise(&mut self) {
        self.sync.resume();
        self.restart_watcher();
    }

    /// Collection and delivery off: the watcher stops and the sync service pauses (a delivery
    /// in progress is interrupted and its records go back to the queue).
    pub fn deauthorise(&mut self) {
        self.sync.pause();
        self.stop_watcher();
    }

    pub fn source(&self) -> Option<&FolderSource> {
        self.source.as_ref()
    }

    /// Changes the watched folder (restarting the watcher if authorised).
    pub fn set_source(&mut self, source: Option<FolderSource>) {
        self.source = source;
        self.restart_watcher();
    }

    /// What happens to files in the folder.
    pub fn subscribe(&self) -> broadcast::Receiver<FolderEvent> {
        self.events.subscribe()
    }

    pub fn sync(&self) -> &SyncHandle {
        &self.sync
    }

    /// Whether the folder is being watched now.
    pub fn is_watching(&self) -> bool {
        self.watcher
            .as_ref()
            .is_some_and(|w| w.task.as_ref().is_some_and(|t| !t.is_finished()))
    }

    /// Stops the watcher and the sync service, and waits for both.
    pub async fn stop(mut self) {
        if let Some(w) = self.watcher.take() {
            let mut w = w;
            let _ = w.stop.send(true);
            if let Some(task) = w.task.take() {
                let _ = task.await;
            }
        }
        self.sync.stop().await;
    }

    fn restart_watcher(&mut self) {
        self.stop_watcher();
        if self.is_authorised() {
            self.start_watcher();
        }
    }

    fn start_watcher(&mut self) {
        let Some(source) = &self.source else { return };
        let ingest = Ingest::new(
            self.client.clone(),
            self.ledger.clone(),
            ReadOptions::new(source.device_id),
        );
        let config = HotFolderConfig {
            settle: self.settle,
            rescan: self.settle.max(Duration::from_millis(200)),
            ..HotFolderConfig::new(&source.folder)
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(hot_folder::run(
            ingest,
            config,
            self.events.clone(),
            stop_rx,
        ));
        self.watcher = Some(Watcher {
            stop,
            task: Some(task),
        });
    }

    fn stop_watcher(&mut self) {
        if let Some(w) = self.watcher.take() {
            let _ = w.stop.send(true);
            // The watcher finishes its current file (a capture is one transaction) and returns.
        }
    }
}

/// A dropped collector stops its watcher (the hot folder loop would otherwise spin on a
/// closed stop channel).
impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
