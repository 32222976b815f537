//! The Kotlin bindings compiled (with -Werror, as uniffi does) and a Kotlin test run on the JVM,
//! and the Swift bindings generated (Swift cannot be compiled on Linux). The Kotlin compiler
//! comes from npm (`kotlin-compiler`, tests/kotlin/package-lock.json, installed by `npm ci` in
//! scripts/test.d/50-mobile.sh); JNA from Debian (`libjna-java`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn cdylib(bindgen: &Path) -> PathBuf {
    bindgen.parent().unwrap().join(format!(
        "{}ecsp_mobile{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn generate(language: &str, out: &Path) {
    let bindgen = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    let status = Command::new(bindgen)
        .args(["generate", "--no-format", "--library"])
        .arg(cdylib(bindgen))
        .args(["--language", language, "--out-dir"])
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "uniffi-bindgen {language} failed");
}

#[test]
fn kotlin_bindings_compile_and_a_kotlin_field_app_runs_from_first_contact_to_the_records_summary() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let compiler = manifest.join("tests/kotlin/node_modules/kotlin-compiler");
    let kotlinc = compiler.join("bin/kotlinc");
    assert!(
        kotlinc.exists(),
        "{} missing: run `npm ci` in mobile/tests/kotlin (scripts/test.d/50-mobile.sh does)",
        kotlinc.display()
    );
    let jna = Path::new("/usr/share/java/jna.jar");
    assert!(jna.exists(), "JNA missing: install Debian libjna-java");
    let coroutines = compiler.join("lib/kotlinx-coroutines-core-jvm.jar");
    let stdlib = compiler.join("lib/kotlin-stdlib.jar");

    let out = tempfile::tempdir().unwrap();
    generate("kotlin", out.path());
    let bindings = out.path().join("uniffi/ecsp_mobile/ecsp_mobile.kt");
    assert!(bindings.exists());
    let jar = out.path().join("test.jar");
    let classpath = format!("{}:{}", jna.display(), coroutines.display());
    let compiled = Command::new(&kotlinc)
        .args(["-Werror", "-cp", &classpath])
        .arg(&bindings)
        .arg(manifest.join("tests/kotlin/FieldSessionTest.kt"))
        .arg("-d")
        .arg(&jar)
        .output()
        .unwrap();
    assert!(
        compiled.status.success(),
        "kotlinc failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );

    let bindgen = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"));
    let run = Command::new("java")
        .arg(format!(
            "-Djna.library.path={}",
            cdylib(bindgen).parent().unwrap().display()
        ))
        .arg("-cp")
        .arg(format!(
            "{}:{classpath}:{}",
            jar.display(),
            stdlib.display()
        ))
        .arg("FieldSessionTestKt")
        .env("CARGO_MANIFEST_DIR", manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the Kotlin test failed");
    assert!(stdout.contains(
        "kotlin bindings: a field app from first contact to the record's ΔE summary: ok"
    ));
}

#[test]
fn swift_bindings_are_generated() {
    let out = tempfile::tempdir().unwrap();
    generate("swift", out.path());
    let swift = std::fs::read_to_string(out.path().join("ecsp_mobile.swift")).unwrap();
    assert!(
        swift.contains("public protocol HostInstrumentLink"),
        "host link protocol"
    );
    assert!(
        swift.contains("public enum FieldErrorCode"),
        "error code enum"
    );
    let header = std::fs::read_to_string(out.path().join("ecsp_mobileFFI.h")).unwrap();
    assert!(header.contains("ffi_ecsp_mobile_rustbuffer_alloc"));
    assert!(out.path().join("ecsp_mobileFFI.modulemap").exists());
}
