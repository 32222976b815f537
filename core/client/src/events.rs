//! Typed events for front ends: one broadcast channel per client. A desktop shell forwards them
//! as Tauri events, the phone bindings to a host listener, the CLI to its progress bar.
//!
//! A subscriber that falls behind loses the oldest events (`RecvError::Lagged`); every event
//! that carries state (queue counts, sync state) carries all of it, so the next one catches up.

use chrono::{DateTime, Utc};
use ecsp_protocol::consent::{Decision, Purpose};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ErrorCode;
use crate::outbox::{OutboxKind, QueueStatus};
use crate::sync::FlushProgress;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    /// The user signed out.
    SignedOut,
    /// The server no longer accepts the session (it expired, was revoked, the user was
    /// disabled, or the refresh token was used twice): sign in again.
    Expired,
}

/// What the background sync service is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Nothing to send; waiting for a capture or a decision.
    Idle,
    /// Sending.
    Sending,
    /// Waiting for records backing off after trouble that may pass.
    Waiting {
        until: DateTime<Utc>,
        reason: String,
        /// The kind of trouble, for saying it in the user's language (`reason` is English, for
        /// logs and support); none when the records wait out an earlier attempt's backoff.
        code: Option<ErrorCode>,
    },
    /// The server cannot be reached; trying again at `until` or when the network returns.
    Offline {
        until: DateTime<Utc>,
        reason: String,
    },
    /// Nobody is signed in (or the session ended): nothing is sent until someone signs in.
    NeedsSignIn,
    /// Paused by the user (e.g. this computer was deauthorised): records still queue and wait;
    /// consent decisions are still delivered and read back.
    Paused,
    /// Stopped for good.
    Stopped,
}

/// An event of the client core.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// The outbox changed (a capture, a delivery, a rejection, a retry or a drop).
    QueueChanged { status: QueueStatus },
    /// After each request of a flush.
    FlushProgress { progress: FlushProgress },
    /// Records (or consent decisions) the server acknowledged.
    Delivered {
        kind: OutboxKind,
        record_ids: Vec<Uuid>,
    },
    /// A record the server refused for its content; it stays in the outbox, `rejected`.
    Rejected {
        record_id: Uuid,
        kind: OutboxKind,
        /// The server's stable code, e.g. `validation_failed` or `consent_required`.
        code: String,
        /// The server's reason, for people.
        reason: String,
    },
    /// The session ended; the front end shows its sign-in screen.
    SessionEnded { reason: SessionEndReason },
    /// The decision in force for a purpose changed: the signed-in user decided here (recorded;
    /// queued for the server), or in another app (read from the server's ledger).
    ConsentChanged {
        purpose: Purpose,
        decision: Decision,
    },
    /// The sync service changed state.
    SyncStateChanged { state: SyncState },
}
