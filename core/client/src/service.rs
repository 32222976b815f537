//! The sync service: started once by an application, it delivers the outbox in the background
//! for as long as the application holds its [`SyncHandle`] (hours, on a desktop).
//!
//! It flushes, then sleeps until something may have changed: a capture or a consent decision
//! (the client's wake signal), the earliest backoff deadline, the host's word that the network
//! is back ([`SyncHandle::network_available`]), or a pause/resume/stop; and at least every
//! [`LEDGER_REFRESH`], since each flush reads the person's consent decisions from the server
//! (another of their apps may have changed them). Pausing (the user deauthorised this computer)
//! interrupts a flush in progress; captures still queue, and consent decisions are still
//! delivered: they are the person's own word, not collected data. Dropping
//! the handle stops the task (as matrix-rust-sdk's FFI `TaskHandle` does); a flush interrupted
//! that way puts its claimed rows back in the queue at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::EcspClient;
use crate::error::{ClientError, ErrorCode};
use crate::events::{ClientEvent, SyncState};
use crate::outbox;
use crate::sync::FlushOptions;

/// How long to wait before trying again after a failure that no backoff deadline covers (a TLS
/// failure, a local error), unless woken earlier.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// How often an idle service reads the consent ledger again.
pub const LEDGER_REFRESH: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    /// Most records per request.
    pub batch_size: usize,
    /// Start paused (e.g. this computer is not authorised yet).
    pub start_paused: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            batch_size: FlushOptions::default().batch_size,
            start_paused: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Running,
    Paused,
    Stopping,
}

/// Controls a running sync service; dropping it stops the service.
#[derive(Debug)]
pub struct SyncHandle {
    control: watch::Sender<Control>,
    state: watch::Receiver<SyncState>,
    network: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl SyncHandle {
    /// Stops sending (a flush in progress is interrupted); captures still queue.
    pub fn pause(&self) {
        self.control.send_replace(Control::Paused);
    }

    pub fn resume(&self) {
        self.control.send_if_modified(|c| {
            let paused = *c == Control::Paused;
            if paused {
                *c = Control::Running;
            }
            paused
        });
    }

    pub fn is_paused(&self) -> bool {
        *self.control.borrow() == Control::Paused
    }

    /// What the service is doing now.
    pub fn state(&self) -> SyncState {
        self.state.borrow().clone()
    }

    /// Waits until the service's state satisfies `f` (for hosts and tests that need to know).
    pub async fn wait_for(&self, f: impl Fn(&SyncState) -> bool) -> SyncState {
        let mut state = self.state.clone();
        match state.wait_for(|s| f(s)).await {
            Ok(s) => s.clone(),
            Err(_) => SyncState::Stopped,
        }
    }

    /// The host saw the network come back: try now, without waiting for backoff deadlines.
    pub fn network_available(&self) {
        self.network.notify_one();
    }

    /// Stops the service and waits until it has stopped.
    pub async fn stop(mut self) {
        self.control.send_replace(Control::Stopping);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl EcspClient {
    /// Starts the sync service on the current tokio runtime.
    pub fn start_sync(&self, options: SyncOptions) -> SyncHandle {
        let (control, control_rx) = watch::channel(if options.start_paused {
            Control::Paused
        } else {
            Control::Running
        });
        let (state_tx, state) = watch::channel(SyncState::Idle);
        let network = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            self.clone(),
            options,
            control_rx,
            network.clone(),
            state_tx,
        ));
        SyncHandle {
            control,
            state,
            network,
            task: Some(task),
        }
    }
}

fn set_state(client: &EcspClient, tx: &watch::Sender<SyncState>, state: SyncState) {
    let changed = tx.send_if_modified(|s| {
        let changed = *s != state;
        if changed {
            *s = state.clone();
        }
        changed
    });
    if changed {
        client.core.emit(ClientEvent::SyncStateChanged { state });
    }
}

/// What to do after a flush: the state to show and when to try again (`None`: when woken).
async fn after_flush(
    client: &EcspClient,
    outcome: Result<crate::sync::FlushReport, ClientError>,
) -> (SyncState, Option<DateTime<Utc>>) {
    let now = Utc::now();
    let retry = now + RETRY_AFTER_FAILURE;
    let stop = match outcome {
        Err(ClientError::NotSignedIn) => return (SyncState::NeedsSignIn, None),
        Err(e) => {
            tracing::warn!(error = %e, "background delivery failed");
            return (
                SyncState::Waiting {
                    until: retry,
                    reason: e.to_string(),
                    code: Some(e.code()),
                },
                Some(retry),
            );
        }
        Ok(report) => report.stopped,
    };
    // The earliest backoff deadline still ahead (records due now but not sent are held back
    // behind an earlier record of their device that is backing off).
    let next = client
        .blocking_internal(move |core| {
            let user = core.current_user()?;
            outbox::next_deadline_after(&core.store.conn(), user, crate::now_ms())
        })
        .await
        .unwrap_or(None);
    match stop {
        None => match next {
            Some(until) => (
                SyncState::Waiting {
                    until,
                    reason: "records are backing off".into(),
                    code: None,
                },
                Some(until),
            ),
            None => (SyncState::Idle, Some(now + LEDGER_REFRESH)),
        },
        Some(e) if e.code == ErrorCode::NotSignedIn => (SyncState::NeedsSignIn, None),
        Some(e) if e.code == ErrorCode::Offline => {
            let until = next.unwrap_or(retry);
            (
                SyncState::Offline {
                    until,
                    reason: e.message,
                },
                Some(until),
            )
        }
        Some(e) => {
            let until = if e.is_transient() {
                next.unwrap_or(retry)
            } else {
                retry
            };
            (
                SyncState::Waiting {
                    until,
                    reason: e.message,
                    code: Some(e.code),
                },
                Some(until),
            )
        }
    }
}

async fn run(
    client: EcspClient,
    options: SyncOptions,
    mut control: watch::Receiver<Control>,
    network: Arc<Notify>,
    state: watch::Sender<SyncState>,
) {
    let mut ignore_backoff = false;
    loop {
        let current = *control.borrow_and_update();
        match current {
            Control::Stopping => break,
            Control::Paused => {
                set_state(&client, &state, SyncState::Paused);
                let flush = client.flush_internal(FlushOptions {
                    batch_size: options.batch_size,
                    ignore_backoff,
                    consents_only: true,
                });
                ignore_backoff = false;
                let outcome = tokio::select! {
                    outcome = flush => outcome,
                    changed = control.changed() => if changed.is_err() { break } else { continue },
                };
                let wait = match outcome {
                    Err(ClientError::NotSignedIn) => None,
                    Ok(report) if report.stopped.is_none() => Some(LEDGER_REFRESH),
                    Ok(report) => {
                        tracing::info!(reason = ?report.stopped, "a consent decision waits");
                        Some(RETRY_AFTER_FAILURE)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "consent decisions were not delivered");
                        Some(RETRY_AFTER_FAILURE)
                    }
                };
                let sleep = async {
                    match wait {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = client.core.wake.notified() => {}
                    _ = sleep => {}
                    _ = network.notified() => ignore_backoff = true,
                    changed = control.changed() => if changed.is_err() { break },
                }
                continue;
            }
            Control::Running => {}
        }
        set_state(&client, &state, SyncState::Sending);
        let flush = client.flush_internal(FlushOptions {
            batch_size: options.batch_size,
            ignore_backoff,
            consents_only: false,
        });
        ignore_backoff = false;
        let outcome = tokio::select! {
            outcome = flush => outcome,
            // Paused or stopped mid-flush: the flush is dropped, its rows go back to the queue.
            _ = control.changed() => continue,
        };
        let (next_state, deadline) = after_flush(&client, outcome).await;
        set_state(&client, &state, next_state);
        let sleep = async {
            match deadline {
                Some(at) => {
                    let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = client.core.wake.notified() => {}
            _ = sleep => {}
            _ = network.notified() => ignore_backoff = true,
            changed = control.changed() => if changed.is_err() { break },
        }
    }
    set_state(&client, &state, SyncState::Stopped);
}
