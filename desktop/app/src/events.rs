//! The core's events, forwarded to the webview (as gitbutler forwards its operation progress):
//! `ecsp://client` carries `ClientEvent`s as the core serialises them, `ecsp://folder` hot-folder
//! `FolderEvent`s, each as a list of the events of a short while ([`GATHER`]) left in the
//! [`EventMailbox`] for the webview to fetch. 1,000 files dropped into a watched folder were
//! 2,000 events, now a few dozen lists, and a state the next event of the list replaces (the
//! queue's counts, the sync state, a flush's progress) is not sent at all.
//! The shell itself reacts to a few: the tray's status line, and a desktop notification when
//! records are rejected, files are quarantined, consent is needed, or the session ends; one per
//! kind and list, saying how many, so a folder of bad files is one notification, not one each.

use std::sync::atomic::{AtomicU8, Ordering};

use ecsp_client::outbox::QueueStatus;
use ecsp_client::{ClientEvent, EcspClient, SyncState};
use ecsp_dfe::hot_folder::FolderEvent;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Manager};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::mailbox::EventMailbox;

pub const CLIENT_EVENT: &str = "ecsp://client";
pub const FOLDER_EVENT: &str = "ecsp://folder";

/// The tray's status line.
pub struct TrayStatus(pub tauri::menu::MenuItem<tauri::Wry>);

/// The language the user chose in the app: 0 none (the system's), 1 English, 2 Japanese.
static CHOSEN_LANGUAGE: AtomicU8 = AtomicU8::new(0);

/// The shell's own texts follow the language chosen in the app (`Settings::language`); `None`
/// or an unknown one: the system's.
pub fn choose_language(language: Option<&str>) {
    let chosen = match language {
        Some("en") => 1,
        Some("ja") => 2,
        _ => 0,
    };
    CHOSEN_LANGUAGE.store(chosen, Ordering::Relaxed);
}

fn japanese() -> bool {
    match CHOSEN_LANGUAGE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => system_japanese(),
    }
}

fn system_japanese() -> bool {
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
    show(app, text(title_key), body);
}

fn show(app: &AppHandle, title: &str, body: &str) {
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::info!(error = %e, "no notification service");
    }
}

/// What one list's events of a kind are worth a notification for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Burst {
    /// Records the server rejected; the details are the server's reasons.
    Rejected,
    /// Files quarantined; the details are the files' names.
    Quarantined,
}

/// The most details a notification lists.
const DETAILS_SHOWN: usize = 3;

/// The title and body of the one notification for `details` (one per event, in order; `None`
/// for none): one event says its detail as before; several say how many, and the first few
/// different details, then how many more there were.
fn burst_notice(burst: Burst, details: &[&str], ja: bool) -> Option<(String, String)> {
    let n = details.len();
    let title = match (burst, n, ja) {
        (_, 0, _) => return None,
        (Burst::Rejected, 1, false) => "A record was rejected by the server".to_owned(),
        (Burst::Rejected, 1, true) => "サーバーがレコードを拒否しました".to_owned(),
        (Burst::Rejected, _, false) => format!("{n} records were rejected by the server"),
        (Burst::Rejected, _, true) => format!("サーバーが {n} 件のレコードを拒否しました"),
        (Burst::Quarantined, 1, false) => "A DFE file was quarantined".to_owned(),
        (Burst::Quarantined, 1, true) => "DFE ファイルを隔離しました".to_owned(),
        (Burst::Quarantined, _, false) => format!("{n} DFE files were quarantined"),
        (Burst::Quarantined, _, true) => format!("DFE ファイル {n} 件を隔離しました"),
    };
    let mut distinct: Vec<&str> = Vec::new();
    for detail in details {
        if !distinct.contains(detail) {
            distinct.push(detail);
        }
    }
    let mut body = distinct
        .iter()
        .take(DETAILS_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let more = distinct.len().saturating_sub(DETAILS_SHOWN);
    if more > 0 {
        body.push('\n');
        body.push_str(&match ja {
            false => format!("and {more} more"),
            true => format!("ほか {more} 件"),
        });
    }
    Some((title, body))
}

/// A rejection said by its problem code, in the user's language (the queue screen says more);
/// `None` for a code this build has no words for, whose server's reason is shown instead.
fn rejection_words(code: &str, ja: bool) -> Option<&'static str> {
    use ecsp_protocol::problem::codes;
    Some(match (code, ja) {
        (codes::VALIDATION_FAILED, false) => "The server refused a value in a record.",
        (codes::VALIDATION_FAILED, true) => "サーバーがレコードの値を受け付けませんでした。",
        (codes::MALFORMED_BODY, false) => "The server could not read a record.",
        (codes::MALFORMED_BODY, true) => "サーバーがレコードを読み取れませんでした。",
        (codes::BODY_TOO_LARGE, false) => "A record is larger than the server accepts.",
        (codes::BODY_TOO_LARGE, true) => "レコードがサーバーの受け付ける大きさを超えています。",
        (codes::FORBIDDEN, false) => "Your account may not send this kind of record.",
        (codes::FORBIDDEN, true) => {
            "このアカウントにはこの種類のレコードを送信する権限がありません。"
        }
        (codes::NOT_FOUND, false) => "The server does not know the device, or you may not use it.",
        (codes::NOT_FOUND, true) => {
            "サーバーにデバイスが登録されていないか、使用する権限がありません。"
        }
        (codes::CONSENT_REQUIRED, false) => "Part of a record needs a consent not granted.",
        (codes::CONSENT_REQUIRED, true) => "レコードの一部に、許可されていない同意が必要です。",
        (codes::RECORD_CONFLICT, false) => "A record with its id is stored with other content.",
        (codes::RECORD_CONFLICT, true) => {
            "同じ ID のレコードが、異なる内容ですでに保存されています。"
        }
        (codes::CONFLICT, false) => "A record conflicts with what the server stores.",
        (codes::CONFLICT, true) => "保存済みのデータと矛盾するレコードがあります。",
        _ => return None,
    })
}

/// Shows the one notification for a list's events of a kind, if any.
fn notify_burst(app: &AppHandle, burst: Burst, details: &[&str]) {
    if let Some((title, body)) = burst_notice(burst, details, japanese()) {
        show(app, &title, &body);
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

/// How long events gather after the first of a batch before the batch goes to the webview: well
/// under what a person notices, and the screens wait longer than this before redrawing.
const GATHER: std::time::Duration = std::time::Duration::from_millis(50);
/// The most events of one list (a fetch's answer stays small).
const MAX_BATCH: usize = 500;

/// Waits for the next event, then gathers those that follow within [`GATHER`]; `None` once the
/// sender is gone and nothing is left.
async fn next_batch<T: Clone>(events: &mut Receiver<T>) -> Option<Vec<T>> {
    let first = loop {
        match events.recv().await {
            Ok(e) => break e,
            // Every state-carrying event carries all of it: the next one catches up.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
    };
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + GATHER;
    while batch.len() < MAX_BATCH {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(e)) => batch.push(e),
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) | Err(_) => break,
        }
    }
    Some(batch)
}

/// The batch without the events a later one of the same batch replaces: of the queue's counts,
/// the sync state and a flush's progress, each of which carries the whole state, only the last
/// is kept; every other event stays, in order.
fn without_replaced(batch: Vec<ClientEvent>) -> Vec<ClientEvent> {
    let mut seen = [false; 3];
    let mut kept: Vec<ClientEvent> = batch
        .into_iter()
        .rev()
        .filter(|event| {
            let kind = match event {
                ClientEvent::QueueChanged { .. } => 0,
                ClientEvent::SyncStateChanged { .. } => 1,
                ClientEvent::FlushProgress { .. } => 2,
                _ => return true,
            };
            !std::mem::replace(&mut seen[kind], true)
        })
        .collect();
    kept.reverse();
    kept
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
        while let Some(batch) = next_batch(&mut events).await {
            let batch = without_replaced(batch);
            let mut tray_changed = false;
            // The server's reasons are about the records' content, never a person's name.
            let ja = japanese();
            let mut rejected = Vec::new();
            for event in &batch {
                match event {
                    ClientEvent::Rejected { code, reason, .. } => {
                        rejected.push(rejection_words(code, ja).unwrap_or(reason));
                    }
                    ClientEvent::SessionEnded { .. } => notify(&app, "session", ""),
                    ClientEvent::SyncStateChanged { state } => {
                        sync = Some(state.clone());
                        tray_changed = true;
                    }
                    ClientEvent::QueueChanged { status } => {
                        queue = Some(status.clone());
                        tray_changed = true;
                    }
                    _ => {}
                }
            }
            notify_burst(&app, Burst::Rejected, &rejected);
            if let Some(state) = sync.as_ref().filter(|_| tray_changed) {
                sync_state(&app, state, queue.as_ref());
            }
            app.state::<EventMailbox>().post(CLIENT_EVENT, &batch);
        }
    })
}

pub fn forward_folder(app: AppHandle, mut events: Receiver<FolderEvent>) -> JoinHandle<()> {
    tauri::async_runtime::spawn(async move {
        while let Some(batch) = next_batch(&mut events).await {
            // The file names are the user's own, shown on their own desktop only.
            let quarantined: Vec<&str> = batch
                .iter()
                .filter_map(|event| match event {
                    FolderEvent::Quarantined { file, .. } => Some(file.as_str()),
                    _ => None,
                })
                .collect();
            notify_burst(&app, Burst::Quarantined, &quarantined);
            app.state::<EventMailbox>().post(FOLDER_EVENT, &batch);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecsp_client::outbox::OutboxKind;
    use ecsp_client::sync::FlushProgress;

    fn queue(queued: u64) -> ClientEvent {
        ClientEvent::QueueChanged {
            status: QueueStatus {
                queued,
                ..QueueStatus::default()
            },
        }
    }

    fn progress(sent: u64) -> ClientEvent {
        ClientEvent::FlushProgress {
            progress: FlushProgress {
                sent,
                rejected: 0,
                total: 9,
            },
        }
    }

    fn delivered(n: u8) -> ClientEvent {
        ClientEvent::Delivered {
            kind: OutboxKind::Dfe,
            record_ids: vec![uuid::Uuid::from_bytes([n; 16])],
        }
    }

    fn json(events: &[ClientEvent]) -> String {
        serde_json::to_string(events).expect("events serialise")
    }

    #[test]
    fn a_batch_keeps_the_last_of_each_state_and_every_other_event_in_order() {
        let batch = vec![
            queue(1),
            ClientEvent::SyncStateChanged {
                state: SyncState::Sending,
            },
            progress(1),
            delivered(1),
            queue(2),
            progress(2),
            delivered(2),
            ClientEvent::SyncStateChanged {
                state: SyncState::Idle,
            },
            queue(3),
        ];
        let expected = vec![
            delivered(1),
            progress(2),
            delivered(2),
            ClientEvent::SyncStateChanged {
                state: SyncState::Idle,
            },
            queue(3),
        ];
        assert_eq!(json(&without_replaced(batch)), json(&expected));
        assert_eq!(json(&without_replaced(vec![queue(7)])), json(&[queue(7)]));
    }

    #[tokio::test]
    async fn events_sent_together_go_as_one_batch_and_the_end_is_seen() {
        let (sender, mut receiver) = tokio::sync::broadcast::channel(16);
        for n in 0..5 {
            sender.send(n).expect("a receiver");
        }
        assert_eq!(next_batch(&mut receiver).await, Some(vec![0, 1, 2, 3, 4]));
        let later = tokio::spawn(async move {
            sender.send(5).expect("a receiver");
            tokio::time::sleep(GATHER * 4).await;
            sender.send(6).expect("a receiver");
        });
        assert_eq!(next_batch(&mut receiver).await, Some(vec![5]));
        later.await.expect("the sender task");
        assert_eq!(next_batch(&mut receiver).await, Some(vec![6]));
        assert_eq!(next_batch(&mut receiver).await, None);
    }

    #[test]
    fn a_burst_is_one_notification_saying_how_many() {
        assert_eq!(burst_notice(Burst::Rejected, &[], false), None);
        assert_eq!(
            burst_notice(Burst::Rejected, &["no such device"], false),
            Some((
                "A record was rejected by the server".into(),
                "no such device".into()
            ))
        );
        let files: Vec<String> = (1..=5).map(|n| format!("job-{n}.jdf")).collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        assert_eq!(
            burst_notice(Burst::Quarantined, &files, false),
            Some((
                "5 DFE files were quarantined".into(),
                "job-1.jdf\njob-2.jdf\njob-3.jdf\nand 2 more".into()
            ))
        );
        assert_eq!(
            burst_notice(Burst::Quarantined, &files, true),
            Some((
                "DFE ファイル 5 件を隔離しました".into(),
                "job-1.jdf\njob-2.jdf\njob-3.jdf\nほか 2 件".into()
            ))
        );
        // The same reason for a whole backlog is said once, in the user's words.
        let words = rejection_words("consent_required", true).expect("words");
        assert_eq!(
            burst_notice(Burst::Rejected, &[words; 40], true),
            Some((
                "サーバーが 40 件のレコードを拒否しました".into(),
                words.into()
            ))
        );
        assert_eq!(rejection_words("a_code_of_later_servers", false), None);
        use ecsp_protocol::problem::codes;
        for code in [
            codes::VALIDATION_FAILED,
            codes::MALFORMED_BODY,
            codes::BODY_TOO_LARGE,
            codes::FORBIDDEN,
            codes::NOT_FOUND,
            codes::CONSENT_REQUIRED,
            codes::RECORD_CONFLICT,
            codes::CONFLICT,
        ] {
            let (en, ja) = (rejection_words(code, false), rejection_words(code, true));
            assert!(en.is_some() && ja.is_some() && en != ja, "{code}");
        }
    }

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

    #[test]
    fn the_shell_speaks_the_language_chosen_in_the_app() {
        choose_language(Some("ja"));
        assert_eq!(text("stopped"), "停止しました");
        choose_language(Some("en"));
        assert_eq!(text("stopped"), "Stopped");
        // Unknown or none: the system's.
        choose_language(Some("fr"));
        assert_eq!(japanese(), system_japanese());
        choose_language(None);
        assert_eq!(japanese(), system_japanese());
    }
}
