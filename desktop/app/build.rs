//! Tauri's build step, with the app's own commands declared so that each gets an `allow-…`
//! permission and the capability file can grant exactly the ones the UI uses (commands not
//! listed in a capability cannot be called from the webview).

/// Every command of `commands.rs`; `capabilities/main.json` grants them to the main window.
const COMMANDS: &[&str] = &[
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
];

fn main() {
    // `generate_context!` needs the front end's folder at compile time. Without a built UI
    // (a `cargo clippy --workspace` before `scripts/build-ui.sh`) a placeholder page says so.
    let dist = std::path::Path::new("../../ui/dist");
    if !dist.join("index.html").exists() {
        let _ = std::fs::create_dir_all(dist);
        let _ = std::fs::write(
            dist.join("index.html"),
            "<!doctype html><meta charset=utf-8><title>ECSP Desktop</title>\
             <p>The front end is not built: run <code>scripts/build-ui.sh</code>.</p>",
        );
    }
    println!("cargo:rerun-if-changed=../../ui/dist");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step");
}
