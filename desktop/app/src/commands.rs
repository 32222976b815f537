//! The commands the webview calls: a few lines each over `ecsp-client` and `ecsp-dfe`. Every
//! one is listed in `build.rs` and granted in `capabilities/main.json`; errors reach the UI as
//! `UiError` (`{code, message}`).

use std::path::PathBuf;

use ecsp_client::consent::{ConsentHistoryEntry, ConsentStatus, Notice, NoticeLanguage, notice};
use ecsp_client::outbox::{PreviewRecord, QueuePage, QueueState, QueueStatus};
use ecsp_client::remote::RecordQuery;
use ecsp_client::server_ca::{self, ServerCa};
use ecsp_client::{ErrorCode, SyncState};
use ecsp_dfe::collector::FolderSource;
use ecsp_dfe::hot_folder::QuarantinedFile;
use ecsp_protocol::admin::DeviceView;
use ecsp_protocol::auth::WhoAmI;
use ecsp_protocol::consent::{Decision, Purpose};
use ecsp_protocol::upload::RecordView;
use serde::Serialize;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;
use uuid::Uuid;

use crate::error::{UiError, UiResult};
use crate::events;
use crate::mailbox::{EventLists, EventMailbox};
use crate::settings::Settings;
use crate::state::{AppState, open_client, stop_collection};

/// What the first screen needs to know.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    pub version: &'static str,
    pub server: Option<String>,
    /// The SHA-256 fingerprint of the server's CA the user accepted (kept after sign-out, so
    /// signing in again to the same server does not ask again).
    pub accepted_ca: Option<String>,
    pub signed_in: bool,
    pub authorised: bool,
    pub autostart: bool,
    pub sync: Option<SyncState>,
    /// The outbox counts: "up to date" is said only when nothing waits or was rejected.
    pub queue: Option<QueueStatus>,
    /// The language the user chose in the app ("en" or "ja"); absent: not chosen.
    pub language: Option<String>,
}

#[tauri::command]
pub async fn app_status(app: AppHandle, state: State<'_, AppState>) -> UiResult<AppStatus> {
    let inner = state.inner.lock().await;
    let signed_in = match &inner.client {
        Some(c) => c.current_user().await.is_ok(),
        None => false,
    };
    let queue = match &inner.client {
        Some(c) if signed_in => c.queue_status().await.ok(),
        _ => None,
    };
    Ok(AppStatus {
        version: env!("CARGO_PKG_VERSION"),
        server: inner.settings.server.clone(),
        accepted_ca: inner
            .settings
            .ca_pem
            .as_deref()
            .and_then(|pem| server_ca::fingerprint(pem.as_bytes()).ok()),
        signed_in,
        authorised: inner.collector.as_ref().is_some_and(|c| c.is_authorised()),
        autostart: app.autolaunch().is_enabled().unwrap_or(false),
        sync: inner.collector.as_ref().map(|c| c.sync().state()),
        queue,
        language: inner.settings.language.clone(),
    })
}

/// Step one of signing in to a new server: its CA and fingerprint, to compare by eye.
#[tauri::command]
pub async fn fetch_server_ca(server: String) -> UiResult<ServerCa> {
    Ok(server_ca::fetch_server_ca(&server).await?)
}

/// The CA the user accepted earlier for `server` (the same origin as the saved server), if any.
fn accepted_ca_for(settings: &Settings, server: &str) -> Option<String> {
    let origin = |s: &str| {
        ecsp_client::transport::parse_server_url(s)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    };
    let saved = settings.server.as_deref().and_then(origin)?;
    (origin(server)? == saved)
        .then(|| settings.ca_pem.clone())
        .flatten()
}

/// Signs in. `ca_pem` is the CA fetched in step one, trusted only if the user confirmed its
/// fingerprint (`confirmed_fingerprint`, compared again here); without it, the CA the user
/// accepted earlier for this same server (kept after sign-out), else the system roots.
#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, AppState>,
    server: String,
    email: String,
    password: String,
    ca_pem: Option<String>,
    confirmed_fingerprint: Option<String>,
) -> UiResult<WhoAmI> {
    if let Some(pem) = &ca_pem {
        let actual = server_ca::fingerprint(pem.as_bytes())?;
        if !confirmed_fingerprint.is_some_and(|c| server_ca::fingerprints_match(&c, &actual)) {
            return Err(UiError::new(
                ErrorCode::InvalidInput,
                "the server's CA fingerprint was not confirmed: compare it with the one the server printed",
            ));
        }
    }
    let ca_pem = match ca_pem {
        Some(pem) => Some(pem),
        None => accepted_ca_for(&state.inner.lock().await.settings, &server),
    };
    let client = open_client(&state.dirs, &server, ca_pem.as_deref())?;
    let who = client.login(&email, &password).await?;
    let mut inner = state.inner.lock().await;
    inner.settings.server = Some(client.server_origin());
    inner.settings.ca_pem = ca_pem;
    state.dirs.save(&inner.settings)?;
    inner.client = Some(client.clone());
    state.start_collection(&app, &mut inner)?;
    drop(inner);
    if client
        .consent_status()
        .await?
        .iter()
        .any(|s| s.needs_asking)
    {
        events::consent_needed(&app);
    }
    Ok(who)
}

#[tauri::command]
pub async fn sign_out(app: AppHandle, state: State<'_, AppState>) -> UiResult<()> {
    let mut inner = state.inner.lock().await;
    stop_collection(&mut inner);
    if let Some(client) = inner.client.take() {
        client.logout().await?;
    }
    events::signed_out(&app);
    Ok(())
}

#[tauri::command]
pub async fn whoami(state: State<'_, AppState>) -> UiResult<WhoAmI> {
    let client = state.inner.lock().await.client()?;
    Ok(client.whoami().await?)
}

#[tauri::command]
pub fn consent_notice(language: String) -> Notice {
    notice(NoticeLanguage::from_locale(&language))
}

/// Where each purpose stands, read from the server's ledger first (the person may have decided
/// in another app); offline, as this computer last knew it.
#[tauri::command]
pub async fn consent_status(state: State<'_, AppState>) -> UiResult<Vec<ConsentStatus>> {
    let client = state.inner.lock().await.client()?;
    match client.refresh_consents().await {
        Ok(status) => Ok(status),
        Err(e) => {
            tracing::info!(code = %e.code, "consent shown as last known");
            Ok(client.consent_status().await?)
        }
    }
}

#[tauri::command]
pub async fn consent_history(state: State<'_, AppState>) -> UiResult<Vec<ConsentHistoryEntry>> {
    let client = state.inner.lock().await.client()?;
    Ok(client.consent_history().await?)
}

/// Grant, refuse or withdraw: one command, so each is as easy as the others.
#[tauri::command]
pub async fn decide(
    state: State<'_, AppState>,
    purpose: Purpose,
    decision: Decision,
) -> UiResult<Vec<ConsentStatus>> {
    let client = state.inner.lock().await.client()?;
    client.decide(purpose, decision).await?;
    Ok(client.consent_status().await?)
}

/// The DFE sources: the watched folder, why it is not watched, and what it quarantined (file,
/// the reason's code and the parser's detail).
#[derive(Debug, Serialize)]
pub struct Sources {
    pub source: Option<FolderSource>,
    pub watching: bool,
    /// Every reason the folder is not watched now (empty while watching).
    pub not_watching: Vec<NotWatching>,
    /// The system's words for an unreadable folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder_error: Option<String>,
    pub quarantined: Vec<QuarantinedFile>,
}

/// Why the hot folder is not watched, for the UI to say in the user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotWatching {
    /// Not signed in: nothing is collected.
    SignedOut,
    /// "Deauthorise" was chosen: nothing is collected or sent.
    Deauthorised,
    NoFolder,
    /// The folder is gone or may not be read.
    FolderUnreadable,
    /// Authorised with a readable folder, yet the watcher ended (see the log).
    Stopped,
}

/// Why a folder is not watched: `collector` is `(authorised, watching)` when signed in;
/// `readable` says whether the folder can be listed.
fn not_watching(
    collector: Option<(bool, bool)>,
    source: Option<&FolderSource>,
    readable: Result<(), String>,
) -> (Vec<NotWatching>, Option<String>) {
    let mut why = Vec::new();
    match collector {
        None => why.push(NotWatching::SignedOut),
        Some((false, _)) => why.push(NotWatching::Deauthorised),
        Some(_) => {}
    }
    let mut folder_error = None;
    if source.is_none() {
        why.push(NotWatching::NoFolder);
    } else if let Err(e) = readable {
        why.push(NotWatching::FolderUnreadable);
        folder_error = Some(e);
    }
    if why.is_empty() && collector.is_some_and(|(_, watching)| !watching) {
        why.push(NotWatching::Stopped);
    }
    (why, folder_error)
}

#[tauri::command]
pub async fn sources(state: State<'_, AppState>) -> UiResult<Sources> {
    let inner = state.inner.lock().await;
    let source = inner.settings.source.clone();
    let readable = match &source {
        Some(s) => std::fs::read_dir(&s.folder)
            .map(drop)
            .map_err(|e| format!("{}: {e}", s.folder.display())),
        None => Ok(()),
    };
    let quarantined = match &source {
        Some(s) if readable.is_ok() => {
            ecsp_dfe::hot_folder::quarantined_files(&s.folder).map_err(|e| {
                UiError::new(
                    ErrorCode::LocalStorage,
                    format!("{}: {e}", s.folder.display()),
                )
            })?
        }
        _ => Vec::new(),
    };
    let collector = inner
        .collector
        .as_ref()
        .map(|c| (c.is_authorised(), c.is_watching()));
    let (not_watching, folder_error) = not_watching(collector, source.as_ref(), readable);
    Ok(Sources {
        watching: not_watching.is_empty(),
        not_watching,
        folder_error,
        source,
        quarantined,
    })
}

/// Sets (or with `folder` empty, clears) the hot folder and the printer its files describe.
#[tauri::command]
pub async fn set_source(
    state: State<'_, AppState>,
    folder: String,
    device_id: Option<Uuid>,
) -> UiResult<Sources> {
    let source = match (folder.trim(), device_id) {
        ("", _) => None,
        (folder, Some(device_id)) => {
            let folder = PathBuf::from(folder);
            if !folder.is_dir() {
                return Err(UiError::new(
                    ErrorCode::InvalidInput,
                    format!("{} is not a folder", folder.display()),
                ));
            }
            Some(FolderSource { folder, device_id })
        }
        (_, None) => {
            return Err(UiError::new(
                ErrorCode::InvalidInput,
                "choose the printer the DFE drives",
            ));
        }
    };
    {
        let mut inner = state.inner.lock().await;
        inner.settings.source = source.clone();
        state.dirs.save(&inner.settings)?;
        if let Some(c) = inner.collector.as_mut() {
            c.set_source(source);
        }
    }
    sources(state).await
}

#[tauri::command]
pub async fn preview(
    state: State<'_, AppState>,
    limit: Option<u32>,
) -> UiResult<Vec<PreviewRecord>> {
    let client = state.inner.lock().await.client()?;
    Ok(client.preview(limit.unwrap_or(50).min(500)).await?)
}

#[tauri::command]
pub async fn queue_status(state: State<'_, AppState>) -> UiResult<QueueStatus> {
    let client = state.inner.lock().await.client()?;
    Ok(client.queue_status().await?)
}

#[tauri::command]
pub async fn queue_list(
    state: State<'_, AppState>,
    queue_state: Option<String>,
    limit: Option<u32>,
) -> UiResult<QueuePage> {
    let filter = match queue_state.as_deref() {
        None | Some("") => None,
        Some("queued") => Some(QueueState::Queued),
        Some("in_flight") => Some(QueueState::InFlight),
        Some("rejected") => Some(QueueState::Rejected),
        Some("sent") => Some(QueueState::Sent),
        Some(other) => {
            return Err(UiError::new(
                ErrorCode::InvalidInput,
                format!("no queue state `{other}`"),
            ));
        }
    };
    let client = state.inner.lock().await.client()?;
    Ok(client
        .queue_list(filter, limit.unwrap_or(100).min(1000))
        .await?)
}

#[tauri::command]
pub async fn retry_rejected(
    state: State<'_, AppState>,
    record_id: Option<Uuid>,
) -> UiResult<usize> {
    let client = state.inner.lock().await.client()?;
    Ok(client.retry_rejected(record_id).await?)
}

#[tauri::command]
pub async fn drop_rejected(state: State<'_, AppState>, record_id: Option<Uuid>) -> UiResult<usize> {
    let client = state.inner.lock().await.client()?;
    Ok(client.drop_rejected(record_id).await?)
}

/// "Send now": try at once, without waiting for backoff deadlines (only while authorised).
#[tauri::command]
pub async fn send_now(state: State<'_, AppState>) -> UiResult<()> {
    if let Some(c) = state.inner.lock().await.collector.as_ref() {
        c.sync().network_available();
    }
    Ok(())
}

#[tauri::command]
pub async fn devices(state: State<'_, AppState>) -> UiResult<Vec<DeviceView>> {
    let client = state.inner.lock().await.client()?;
    Ok(client.devices().await?)
}

#[tauri::command]
pub async fn records(
    state: State<'_, AppState>,
    device_id: Uuid,
    limit: Option<u32>,
) -> UiResult<Vec<RecordView>> {
    let client = state.inner.lock().await.client()?;
    let query = RecordQuery {
        limit: Some(limit.unwrap_or(50).clamp(1, 500)),
        ..RecordQuery::default()
    };
    Ok(client.records(device_id, query).await?)
}

/// "Authorise this computer" (`true`) or "Deauthorise" (`false`).
#[tauri::command]
pub async fn set_authorised(
    app: AppHandle,
    state: State<'_, AppState>,
    authorised: bool,
) -> UiResult<bool> {
    let mut inner = state.inner.lock().await;
    inner.settings.authorised = authorised;
    state.dirs.save(&inner.settings)?;
    let queue = match &inner.client {
        Some(c) => c.queue_status().await.ok(),
        None => None,
    };
    let collector = inner
        .collector
        .as_mut()
        .ok_or_else(|| UiError::new(ErrorCode::NotSignedIn, "sign in to a server first"))?;
    if authorised {
        collector.authorise();
    } else {
        collector.deauthorise();
    }
    events::sync_state(&app, &collector.sync().state(), queue.as_ref());
    Ok(collector.is_authorised())
}

/// Start at login: off until the user turns it on.
#[tauri::command]
pub fn set_autostart(app: AppHandle, enabled: bool) -> UiResult<bool> {
    let launcher = app.autolaunch();
    let result = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    result.map_err(|e| UiError::new(ErrorCode::Configuration, format!("start at login: {e}")))?;
    launcher
        .is_enabled()
        .map_err(|e| UiError::new(ErrorCode::Configuration, format!("start at login: {e}")))
}

/// The system time zone's UTC offsets from 1970 to 2100: the screens say times in local time
/// with them (`time_zone.rs` says why not with JavaScript's own).
#[tauri::command]
pub fn time_zone() -> crate::time_zone::UtcOffsets {
    crate::time_zone::local_offsets()
}

/// The event lists after `seen` (the last list's number the webview has), waiting a while for
/// one; `seen` absent: where the lists stand, without any (`mailbox.rs`).
#[tauri::command]
pub async fn next_events(
    mailbox: State<'_, EventMailbox>,
    seen: Option<u64>,
) -> UiResult<EventLists> {
    Ok(mailbox.after(seen, crate::mailbox::WAIT).await)
}

/// Saves the language the user chose ("en" or "ja"); the shell's notifications and tray follow.
#[tauri::command]
pub async fn set_language(
    app: AppHandle,
    state: State<'_, AppState>,
    language: String,
) -> UiResult<()> {
    if !["en", "ja"].contains(&language.as_str()) {
        return Err(UiError::new(
            ErrorCode::InvalidInput,
            format!("no such language: {language} (en or ja)"),
        ));
    }
    let mut inner = state.inner.lock().await;
    inner.settings.language = Some(language);
    state.dirs.save(&inner.settings)?;
    events::choose_language(inner.settings.language.as_deref());
    // The tray's line in the new language.
    if let (Some(collector), Some(client)) = (&inner.collector, &inner.client) {
        let queue = client.queue_status().await.ok();
        events::sync_state(&app, &collector.sync().state(), queue.as_ref());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_watching_says_every_reason() {
        let source = FolderSource {
            folder: "/srv/hot".into(),
            device_id: Uuid::nil(),
        };
        let ok = || Ok(());
        use NotWatching::*;
        assert_eq!(not_watching(Some((true, true)), Some(&source), ok()).0, []);
        assert_eq!(
            not_watching(Some((false, false)), None, ok()).0,
            [Deauthorised, NoFolder]
        );
        assert_eq!(not_watching(None, Some(&source), ok()).0, [SignedOut]);
        assert_eq!(not_watching(Some((true, false)), None, ok()).0, [NoFolder]);
        let (why, error) = not_watching(
            Some((true, false)),
            Some(&source),
            Err("/srv/hot: No such file or directory".into()),
        );
        assert_eq!(why, [FolderUnreadable]);
        assert_eq!(
            error.as_deref(),
            Some("/srv/hot: No such file or directory")
        );
        assert_eq!(
            not_watching(Some((true, false)), Some(&source), ok()).0,
            [Stopped]
        );
        assert_eq!(
            serde_json::to_value(FolderUnreadable).unwrap_or_default(),
            "folder_unreadable"
        );
    }

    #[test]
    fn the_accepted_ca_is_used_again_for_the_same_server_only() {
        let settings = Settings {
            server: Some("https://localhost:8443".into()),
            ca_pem: Some("PEM".into()),
            ..Settings::default()
        };
        for same in [
            "https://localhost:8443",
            "https://localhost:8443/",
            " https://LOCALHOST:8443 ",
        ] {
            assert_eq!(
                accepted_ca_for(&settings, same).as_deref(),
                Some("PEM"),
                "{same}"
            );
        }
        for other in [
            "https://localhost:9443",
            "https://example.com:8443",
            "http://localhost:8443",
            "",
        ] {
            assert_eq!(accepted_ca_for(&settings, other), None, "{other}");
        }
        let none = Settings {
            ca_pem: None,
            ..settings
        };
        assert_eq!(accepted_ca_for(&none, "https://localhost:8443"), None);
    }
}
