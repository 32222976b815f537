//! Tauri's build step, with the app's own commands declared so that each gets an `allow-…`
//! permission and the capability file can grant exactly the ones the UI uses (commands not
//! listed in a capability cannot be called from the webview).

// `COMMANDS`: every command of `commands.rs`; `capabilities/main.json` grants them to the main
// window.
include!("src/command_list.rs");

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
    println!("cargo:rerun-if-changed=src/command_list.rs");
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step");
}
