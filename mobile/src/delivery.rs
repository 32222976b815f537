//! Background delivery for the phone apps: the client core's sync service behind a handle the
//! host holds (stopped by `stop`, or when the host releases it), the core's events pushed to a
//! listener the host implements, the host's connectivity callback, and the outbox as a queue
//! screen needs it (counts, entries, retry and drop of rejected records). Thin: each call is the
//! core's.

use std::sync::Arc;

use ecsp_client::events::{ClientEvent, SessionEndReason, SyncState};
use ecsp_client::outbox::{OutboxKind, QueueState};
use ecsp_client::service::{SyncHandle, SyncOptions};
use tokio::sync::broadcast::error::RecvError;

use crate::screens::ConsentDecisionKind;
use crate::{FieldClient, FieldError, FieldErrorCode, uuid};

/// What the sync service is doing.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncStatus {
    Idle,
    Sending,
    /// Records back off after trouble that may pass; tried again at `until_unix`. `code` says
    /// which trouble, for the app's own words (`reason` is the core's, in English); none while
    /// only backing off.
    Waiting {
        until_unix: i64,
        reason: String,
        code: Option<FieldErrorCode>,
    },
    /// The server cannot be reached; tried again at `until_unix` or at `network_available()`.
    Offline {
        until_unix: i64,
        reason: String,
    },
    NeedsSignIn,
    Paused,
    Stopped,
}

impl From<SyncState> for SyncStatus {
    fn from(s: SyncState) -> Self {
        match s {
            SyncState::Idle => Self::Idle,
            SyncState::Sending => Self::Sending,
            SyncState::Waiting {
                until,
                reason,
                code,
            } => Self::Waiting {
                until_unix: until.timestamp(),
                reason,
                code: code.map(FieldErrorCode::from),
            },
            SyncState::Offline { until, reason } => Self::Offline {
                until_unix: until.timestamp(),
                reason,
            },
            SyncState::NeedsSignIn => Self::NeedsSignIn,
            SyncState::Paused => Self::Paused,
            SyncState::Stopped => Self::Stopped,
        }
    }
}

/// The outbox's counts.
#[derive(Debug, Clone, uniffi::Record)]
pub struct QueueCounts {
    pub queued: u64,
    pub in_flight: u64,
    pub rejected: u64,
    pub sent: u64,
    /// The earliest time a waiting record is tried again (seconds since the Unix epoch).
    pub next_attempt_unix: Option<i64>,
}

impl From<ecsp_client::outbox::QueueStatus> for QueueCounts {
    fn from(s: ecsp_client::outbox::QueueStatus) -> Self {
        Self {
            queued: s.queued,
            in_flight: s.in_flight,
            rejected: s.rejected,
            sent: s.sent,
            next_attempt_unix: s.next_attempt_at.map(|t| t.timestamp()),
        }
    }
}

/// What an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QueuedKind {
    ConsentDecision,
    Dfe,
    Measurement,
    DeviceData,
}

impl From<OutboxKind> for QueuedKind {
    fn from(k: OutboxKind) -> Self {
        match k {
            OutboxKind::Consent => Self::ConsentDecision,
            OutboxKind::Dfe => Self::Dfe,
            OutboxKind::Measurement => Self::Measurement,
            OutboxKind::DeviceData => Self::DeviceData,
        }
    }
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QueuedState {
    Queued,
    InFlight,
    Rejected,
    Sent,
}

impl From<QueueState> for QueuedState {
    fn from(s: QueueState) -> Self {
        match s {
            QueueState::Queued => Self::Queued,
            QueueState::InFlight => Self::InFlight,
            QueueState::Rejected => Self::Rejected,
            QueueState::Sent => Self::Sent,
        }
    }
}

impl From<QueuedState> for QueueState {
    fn from(s: QueuedState) -> Self {
        match s {
            QueuedState::Queued => Self::Queued,
            QueuedState::InFlight => Self::InFlight,
            QueuedState::Rejected => Self::Rejected,
            QueuedState::Sent => Self::Sent,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct QueueEntry {
    pub record_id: String,
    pub kind: QueuedKind,
    pub state: QueuedState,
    pub captured_at_unix_ms: i64,
    pub attempts: u32,
    /// Why the server refused it, or why the last attempt failed.
    pub last_error: Option<String>,
}

/// An event of the client core, as the host's listener receives it.
#[derive(Debug, Clone, uniffi::Enum)]
pub enum FieldEvent {
    QueueChanged {
        counts: QueueCounts,
    },
    /// After each request of a delivery.
    Progress {
        sent: u64,
        rejected: u64,
        total: u64,
    },
    /// Records (or consent decisions) the server acknowledged.
    Delivered {
        kind: QueuedKind,
        record_ids: Vec<String>,
    },
    /// A record the server refused; it stays in the outbox as rejected until retried or
    /// dropped. `code` is the server's (e.g. `validation_failed`, `consent_required`).
    Rejected {
        record_id: String,
        code: String,
        reason: String,
    },
    /// The session ended: show the sign-in screen (`signed_out`: the user did it).
    SessionEnded {
        signed_out: bool,
    },
    ConsentChanged {
        purpose: String,
        decision: ConsentDecisionKind,
    },
    SyncStateChanged {
        status: SyncStatus,
    },
}

impl From<ClientEvent> for FieldEvent {
    fn from(e: ClientEvent) -> Self {
        match e {
            ClientEvent::QueueChanged { status } => Self::QueueChanged {
                counts: status.into(),
            },
            ClientEvent::FlushProgress { progress } => Self::Progress {
                sent: progress.sent,
                rejected: progress.rejected,
                total: progress.total,
            },
            ClientEvent::Delivered { kind, record_ids } => Self::Delivered {
                kind: kind.into(),
                record_ids: record_ids.iter().map(ToString::to_string).collect(),
            },
            ClientEvent::Rejected {
                record_id,
                code,
                reason,
                ..
            } => Self::Rejected {
                record_id: record_id.to_string(),
                code,
                reason,
            },
            ClientEvent::SessionEnded { reason } => Self::SessionEnded {
                signed_out: reason == SessionEndReason::SignedOut,
            },
            ClientEvent::ConsentChanged { purpose, decision } => Self::ConsentChanged {
                purpose: purpose.as_str().to_owned(),
                decision: decision.into(),
            },
            ClientEvent::SyncStateChanged { state } => Self::SyncStateChanged {
                status: state.into(),
            },
        }
    }
}

/// The host's listener for the core's events. Called on a core thread, in order; keep it
/// quick (hand the event to the UI thread).
#[uniffi::export(with_foreign)]
pub trait FieldListener: Send + Sync {
    fn on_event(&self, event: FieldEvent);
}

/// The running sync service. Stopped by [`SyncService::stop`], or when the host releases it
/// (Kotlin `close()`, Swift deinit): captures still queue; nothing is sent until a service
/// runs again.
#[derive(uniffi::Object)]
pub struct SyncService {
    handle: std::sync::Mutex<Option<SyncHandle>>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncService")
    }
}

impl Drop for SyncService {
    fn drop(&mut self) {
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
        }
        // The handle's own drop stops the service.
    }
}

impl SyncService {
    fn with<T>(&self, f: impl FnOnce(&SyncHandle) -> T) -> Option<T> {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        handle.as_ref().map(f)
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncService {
    pub fn status(&self) -> SyncStatus {
        self.with(|h| h.state().into())
            .unwrap_or(SyncStatus::Stopped)
    }

    /// The host's connectivity callback saw the network come back: try now, without waiting
    /// for backoff deadlines.
    pub fn network_available(&self) {
        self.with(SyncHandle::network_available);
    }

    pub fn pause(&self) {
        self.with(SyncHandle::pause);
    }

    pub fn resume(&self) {
        self.with(SyncHandle::resume);
    }

    /// Stops the service and waits until it has (a delivery in progress is interrupted; what
    /// it had not sent stays queued).
    pub async fn stop(&self) {
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            handle.stop().await;
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldClient {
    /// Starts delivering in the background; `listener` (if any) gets every event from now on.
    pub async fn start_sync(&self, listener: Option<Arc<dyn FieldListener>>) -> Arc<SyncService> {
        let forwarder = listener.map(|listener| {
            let mut events = self.inner.subscribe();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => listener.on_event(event.into()),
                        // Every event carries its whole state: the next one catches up.
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break,
                    }
                }
            })
        });
        let handle = self.inner.start_sync(SyncOptions::default());
        Arc::new(SyncService {
            handle: std::sync::Mutex::new(Some(handle)),
            forwarder,
        })
    }

    pub async fn queue_counts(&self) -> Result<QueueCounts, FieldError> {
        Ok(self.inner.queue_status().await?.into())
    }

    /// Outbox entries, newest first, of one state or all (at most `limit`).
    pub async fn queue_entries(
        &self,
        state: Option<QueuedState>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>, FieldError> {
        let page = self
            .inner
            .queue_list(state.map(Into::into), limit.min(500))
            .await?;
        Ok(page
            .items
            .into_iter()
            .map(|i| QueueEntry {
                record_id: i.record_id.to_string(),
                kind: i.kind.into(),
                state: i.state.into(),
                captured_at_unix_ms: i.captured_at.timestamp_millis(),
                attempts: i.attempts,
                last_error: i.last_error,
            })
            .collect())
    }

    /// Puts a rejected record (or, without one, every rejected record) back in the queue;
    /// returns how many.
    pub async fn retry_rejected(&self, record_id: Option<String>) -> Result<u32, FieldError> {
        let record = record_id.as_deref().map(uuid).transpose()?;
        Ok(self.inner.retry_rejected(record).await? as u32)
    }

    /// Deletes a rejected record (or every rejected record) from the outbox; returns how many.
    pub async fn drop_rejected(&self, record_id: Option<String>) -> Result<u32, FieldError> {
        let record = record_id.as_deref().map(uuid).transpose()?;
        Ok(self.inner.drop_rejected(record).await? as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecsp_client::ErrorCode;

    #[test]
    fn a_waiting_state_keeps_its_code_for_the_apps_own_words() {
        let until = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let waiting = |code| SyncState::Waiting {
            until,
            reason: "the server answered 503".to_owned(),
            code,
        };
        assert_eq!(
            SyncStatus::from(waiting(Some(ErrorCode::RateLimited))),
            SyncStatus::Waiting {
                until_unix: 1_800_000_000,
                reason: "the server answered 503".to_owned(),
                code: Some(FieldErrorCode::RateLimited),
            }
        );
        assert!(matches!(
            SyncStatus::from(waiting(None)),
            SyncStatus::Waiting { code: None, .. }
        ));
    }
}
