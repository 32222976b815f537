//! `ecsp-desktop`: the PC application. A Tauri 2 shell — settings, tray, notifications, one
//! instance, start at login — over the client core (`ecsp-client`) and the DFE readers
//! (`ecsp-dfe`); the screens are the web front end in `ui/`. See ARCHITECTURE.md.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod error;
mod events;
mod mailbox;
mod settings;
mod state;
mod time_zone;
mod webview;

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, WindowEvent};

use crate::events::TrayStatus;
use crate::settings::Dirs;
use crate::state::{AppState, Inner, open_client};

fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

fn tray(app: &AppHandle) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "ECSP", false, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open ECSP Desktop", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&status, &open, &quit])?;
    let mut builder = TrayIconBuilder::with_id("main")
        .tooltip("ECSP Desktop")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "open" => show_main(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    app.manage(TrayStatus(status));
    Ok(())
}

/// Loads the settings and, if a server is set up and its session is in the keyring, starts
/// background collection as the user left it.
fn restore(app: &AppHandle) -> Result<(), Box<dyn std::error::Error>> {
    let dirs = Dirs::resolve()?;
    let settings = dirs.load()?;
    crate::events::choose_language(settings.language.as_deref());
    let client = match &settings.server {
        Some(server) => match open_client(&dirs, server, settings.ca_pem.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(code = %e.code, "could not open the client; sign in again");
                None
            }
        },
        None => None,
    };
    let state = AppState {
        dirs,
        inner: tokio::sync::Mutex::new(Inner {
            settings,
            client,
            ..Inner::default()
        }),
    };
    app.manage(state);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let mut inner = state.inner.lock().await;
        let signed_in = match &inner.client {
            Some(c) => c.current_user().await.is_ok(),
            None => false,
        };
        if signed_in {
            if let Err(e) = state.start_collection(&app, &mut inner) {
                tracing::warn!(code = %e.code, "background collection did not start");
            }
            let client = inner.client.clone();
            drop(inner);
            if let Some(client) = client {
                let statuses = client.consent_status().await;
                if statuses.is_ok_and(|s| s.iter().any(|s| s.needs_asking)) {
                    events::consent_needed(&app);
                }
            }
        } else {
            events::signed_out(&app);
        }
    });
    Ok(())
}

/// Opens the display before tauri does: tauri's event loop panics when GTK cannot start ("Failed
/// to initialize GTK"), while no display (none set, or an X server not accepting connections —
/// Xvfb refuses them for a moment while it resets after its last client leaves) is an error to
/// report. GTK keeps the opened display; tauri's own `gtk::init` then finds it initialised.
#[cfg(target_os = "linux")]
fn open_display() -> Result<(), String> {
    gtk::init().map_err(|e| {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "not set".into());
        format!(
            "cannot open the display ({e}; DISPLAY {}, WAYLAND_DISPLAY {}): \
             start it from a desktop session, or check that its X server or Wayland \
             compositor is running and accepts connections",
            var("DISPLAY"),
            var("WAYLAND_DISPLAY"),
        )
    })
}

#[cfg(not(target_os = "linux"))]
fn open_display() -> Result<(), String> {
    Ok(())
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    webview::restart_with_environment();
    if let Err(e) = open_display() {
        eprintln!("ecsp-desktop: {e}");
        std::process::exit(1);
    }
    let result = tauri::Builder::default()
        // First, so a second start hands over to the running one before doing anything.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_main(app)
        }))
        .plugin(tauri_plugin_notification::init())
        // The hot folder's "Choose…" button (the webview may only open a dialog).
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        // The events the webview fetches (`next_events`), there before any is posted.
        .manage(mailbox::EventMailbox::default())
        .setup(|app| {
            if let Err(e) = tray(app.handle()) {
                // A desktop without a status area still runs the app (the window stays).
                tracing::warn!(error = %e, "no tray icon");
            }
            if let Some(window) = app.get_webview_window("main") {
                webview::tune(&window);
            }
            restore(app.handle())?;
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps collecting in the background (the tray reopens it, as
            // does starting the app again); "Quit" in the tray ends it.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.app_handle().tray_by_id("main").is_some() {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_status,
            commands::fetch_server_ca,
            commands::sign_in,
            commands::sign_out,
            commands::whoami,
            commands::consent_notice,
            commands::consent_status,
            commands::consent_history,
            commands::decide,
            commands::sources,
            commands::set_source,
            commands::preview,
            commands::queue_status,
            commands::queue_list,
            commands::retry_rejected,
            commands::drop_rejected,
            commands::send_now,
            commands::devices,
            commands::records,
            commands::set_authorised,
            commands::set_autostart,
            commands::time_zone,
            commands::next_events,
            commands::set_language,
        ])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("ecsp-desktop: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    include!("command_list.rs");

    use std::collections::BTreeSet;

    fn read(path: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
            .unwrap_or_default()
    }

    /// The webview may call exactly the app's commands (events come through one) and open the folder
    /// picker (the dialog plugin's `open`, nothing else of it): no other plugin, file system or
    /// shell permission slips into the capability file.
    #[test]
    fn the_capability_grants_the_commands_and_nothing_else() {
        let cap: serde_json::Value =
            serde_json::from_str(&read("capabilities/main.json")).unwrap_or_default();
        let granted: BTreeSet<String> = cap["permissions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        let mut expected: BTreeSet<String> = COMMANDS
            .iter()
            .map(|c| format!("allow-{}", c.replace('_', "-")))
            .collect();
        expected.insert("dialog:allow-open".into());
        assert_eq!(granted, expected);
        assert_eq!(cap["windows"], serde_json::json!(["main"]));
    }

    /// Every command is used by the front end and every command it invokes exists.
    #[test]
    fn the_front_end_invokes_exactly_these_commands() {
        let api = read("../../ui/src/api.ts");
        let invoked: BTreeSet<&str> = api
            .split("invoke<")
            .skip(1)
            .filter_map(|s| s.split("(\"").nth(1)?.split('"').next())
            .collect();
        let commands: BTreeSet<&str> = COMMANDS.iter().copied().collect();
        assert_eq!(invoked, commands);
    }

    #[test]
    fn the_content_security_policy_allows_only_the_app_itself() {
        let conf: serde_json::Value =
            serde_json::from_str(&read("tauri.conf.json")).unwrap_or_default();
        let csp = &conf["app"]["security"]["csp"];
        assert_eq!(csp["default-src"], "'self'");
        assert_eq!(csp["script-src"], "'self'");
        assert_eq!(csp["object-src"], "'none'");
        let all = csp.to_string();
        assert!(!all.contains("unsafe"), "{all}");
        assert!(!all.contains("https:"), "no remote origin: {all}");
    }
}
