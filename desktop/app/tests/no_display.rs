//! Started without a display it can open, the app says so and exits with 1 — not a panic
//! (tauri's event loop panics with "Failed to initialize GTK"; Xvfb refuses connections for a
//! moment while it resets after its last client leaves, which made one launch in six fail).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn no_display_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("ecsp-desktop-no-display-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ecsp-desktop"))
        // An X display nothing serves, and no Wayland.
        .env("DISPLAY", ":4093")
        .env_remove("WAYLAND_DISPLAY")
        .env("GDK_BACKEND", "x11")
        .env("ECSP_CONFIG_DIR", dir.join("config"))
        .env("ECSP_DATA_DIR", dir.join("data"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("ecsp-desktop: cannot open the display") && stderr.contains(":4093"),
        "{stderr}"
    );
}
