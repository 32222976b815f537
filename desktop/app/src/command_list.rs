// The app's commands: every `#[tauri::command]` of `commands.rs`. Shared by `build.rs` (which
// makes an `allow-…` permission for each) and the test that checks the capability file and the
// front end against it.
pub const COMMANDS: &[&str] = &[
    "app_status",
    "fetch_server_ca",
    "sign_in",
    "sign_out",
    "whoami",
    "consent_notice",
    "consent_status",
    "consent_history",
    "decide",
    "sources",
    "set_source",
    "preview",
    "queue_status",
    "queue_list",
    "retry_rejected",
    "drop_rejected",
    "send_now",
    "devices",
    "records",
    "set_authorised",
    "set_autostart",
    "time_zone",
    "next_events",
    "set_language",
];
