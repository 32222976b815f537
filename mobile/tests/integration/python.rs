//! The Python bindings generated from the cdylib cargo built for this test.

use std::path::Path;
use std::process::Command;

#[test]
fn python_field_session_with_and_without_gps_consent() {
    let bindgen = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    let cdylib = bindgen.parent().unwrap().join(format!(
        "{}ecsp_mobile{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(cdylib.exists(), "{} not built", cdylib.display());
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(bindgen)
        .args(["generate", "--library"])
        .arg(&cdylib)
        .args(["--language", "python", "--out-dir"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success(), "uniffi-bindgen failed");
    std::fs::copy(&cdylib, out.path().join(cdylib.file_name().unwrap())).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bindings/test_field_session.py");
    let output = Command::new("python3")
        .arg(&script)
        .env("PYTHONPATH", out.path())
        .env("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"))
        .current_dir(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Python test failed");
    assert!(stdout.contains("with and without GPS consent: ok"));
    assert!(stdout.contains("host Bluetooth link with dropped links: ok"));
}
