//! The core's events, forwarded to the webview as Tauri events (as gitbutler forwards its
//! operation progress): `ecsp://client` carries every `ClientEvent` as the core serialises it,
//! `ecsp://folder` every hot-folder `FolderEvent`. The shell itself reacts to a few: the tray's
//! status line, and a desktop notification when a record is rejected, a file is quarantined,
//! consent is needed, or the session ends.

use ecsp_client::outbox::QueueStatus;
use ecsp_client::{ClientEvent, EcspClient, SyncState};
use ecsp_dfe::hot_folder::FolderEvent;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::{Receiver, error::RecvError};

pub const CLIENT_EVENT: &str = "ecsp://client";
pub const FOLDER_EVENT: &str = "ecsp://folder";

/// The tray's status line.
pub struct TrayStatus(pub tauri::menu::MenuItem<tauri::Wry>);

fn japanese() -> bool {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty())
        .is_some_and(|v| v.starts_with("ja"))
}

/// The notification and tray texts the shell shows itself (the UI has its own catalogue).
fn text(key: &str) -> &'static str {
    let ja = japanese();
    match (key, ja) {
        ("rejected", false) => "A record was rejected by the server",
        ("rejected", true) => "サーバーがレコードを拒否しました",
        ("quarantined", false) => "A DFE file was quarantined",
        ("quarantined", true) => "DFE ファイルを隔離しました",
        ("consent", false) => "Your consent is needed",
        ("consent", true) => "同意の確認が必要です",
        ("consent_body", false) => "Open ECSP Desktop to decide what may be sent.",
        ("consent_body", true) => "ECSP Desktop を開き、送信してよい情報を選んでください。",
        ("session", false) => "Signed out: sign in again to keep sending",
        ("session", true) => "サインアウトしました。送信を続けるには再度サインインしてください",
        ("idle", false) => "Up to date",
        ("idle", true) => "最新の状態です",
        ("idle_rejected", false) => "Records rejected: see the queue",
        ("idle_rejected", true) => "拒否されたレコードがあります: キューを確認してください",
        ("idle_waiting", false) => "Records waiting to be sent",
        ("idle_waiting", true) => "送信待ちのレコードがあります",
        ("sending", false) => "Sending…",
        ("sending", true) => "送信中…",
        ("waiting", false) => "Waiting to retry",
        ("waiting", true) => "再試行を待っています",
        ("offline", false) => "Offline: will retry",
        ("offline", true) => "オフライン: 後で再試行します",
        ("needs_sign_in", false) => "Not signed in",
        ("needs_sign_in", true) => "サインインしていません",
        ("paused", false) => "Deauthorised: no records are collected or sent",
        ("paused", true) => "認可解除中: レコードを収集・送信しません",
        ("stopped", false) => "Stopped",
        ("stopped", true) => "停止しました",
        _ => "",
    }
}

/// Shows a desktop notification; a desktop without a notification service only logs it.
pub fn notify(app: &AppHandle, title_key: &str, body: &str) {
    if let Err(e) = app
        .notification()
        .builder()
        .title(text(title_key))
        .body(body)
        .show()
    {
        tracing::info!(error = %e, "no notification service");
    }
}

pub fn consent_needed(app: &AppHandle) {
    notify(app, "consent", text("consent_body"));
}

/// Updates the tray's status line.
pub fn sync_state(app: &AppHandle, state: &SyncState, queue: Option<&QueueStatus>) {
    let key = status_key(state, queue);
    if let Some(status) = app.try_state::<TrayStatus>() {
        let _ = status.0.set_text(format!("ECSP: {}", text(key)));
    }
}

/// The tray text's key: "up to date" only when nothing waits and nothing was rejected.
fn status_key(state: &SyncState, queue: Option<&QueueStatus>) -> &'static str {
    match state {
        SyncState::Idle if queue.is_some_and(|q| q.rejected > 0) => "idle_rejected",
        SyncState::Idle if queue.is_some_and(|q| q.queued + q.in_flight > 0) => "idle_waiting",
        SyncState::Idle => "idle",
        SyncState::Sending => "sending",
        SyncState::Waiting { .. } => "waiting",
        SyncState::Offline { .. } => "offline",
        SyncState::NeedsSignIn => "needs_sign_in",
        SyncState::Paused => "paused",
        SyncState::Stopped => "stopped",
    }
}

pub fn signed_out(app: &AppHandle) {
    sync_state(app, &SyncState::NeedsSignIn, None);
}

pub fn forward_client(
    app: AppHandle,
    client: EcspClient,
    mut events: Receiver<ClientEvent>,
) -> JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        // The tray line needs both: the last of each (the queue as it is now, to begin with).
        let mut sync = None;
        let mut queue = client.queue_status().await.ok();
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                // Every state-carrying event carries all of it: the next one catches up.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            match &event {
                // The server's reason is about the record's content, never a person's name.
                ClientEvent::Rejected { reason, .. } => notify(&app, "rejected", reason),
                ClientEvent::SessionEnded { .. } => notify(&app, "session", ""),
                ClientEvent::SyncStateChanged { state } => {
                    sync = Some(state.clone());
                    sync_state(&app, state, queue.as_ref());
                }
                ClientEvent::QueueChanged { status } => {
                    queue = Some(status.clone());
                    if let Some(state) = &sync {
                        sync_state(&app, state, queue.as_ref());
                    }
                }
                _ => {}
            }
            let _ = app.emit(CLIENT_EVENT, &event);
        }
    })
}

pub fn forward_folder(app: AppHandle, mut events: Receiver<FolderEvent>) -> JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            if let FolderEvent::Quarantined { file, .. } = &event {
                // The file name is the user's own, shown on their own desktop only.
                notify(&app, "quarantined", file);
            }
            let _ = app.emit(FOLDER_EVENT, &event);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tray_says_up_to_date_only_over_an_empty_queue() {
        let empty = QueueStatus {
            sent: 3,
            ..QueueStatus::default()
        };
        let rejected = QueueStatus {
            rejected: 1,
            queued: 2,
            ..empty.clone()
        };
        let waiting = QueueStatus {
            in_flight: 1,
            ..empty.clone()
        };
        assert_eq!(status_key(&SyncState::Idle, Some(&empty)), "idle");
        assert_eq!(
            status_key(&SyncState::Idle, Some(&rejected)),
            "idle_rejected"
        );
        assert_eq!(status_key(&SyncState::Idle, Some(&waiting)), "idle_waiting");
        assert_eq!(status_key(&SyncState::Paused, Some(&rejected)), "paused");
        for key in ["idle", "idle_rejected", "idle_waiting", "paused"] {
            assert!(!text(key).is_empty(), "{key} has a text");
        }
    }
}
