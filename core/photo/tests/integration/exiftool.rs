//! Runs exiftool, the reference reader of photo metadata. A missing exiftool fails the tests
//! (it is installed by scripts/setup-debian.sh); it is never skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn run(args: &[&str]) -> String {
    let out = Command::new("exiftool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("exiftool is needed (Debian libimage-exiftool-perl): {e}"));
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "exiftool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `exiftool -a -G1 -s -gps:all -xmp:all FILE`: one `[group] Tag : value` line per tag.
pub fn location_report(path: &Path) -> Vec<String> {
    run(&[
        "-a",
        "-G1",
        "-s",
        "-gps:all",
        "-xmp:all",
        path.to_str().unwrap(),
    ])
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The lines of a report that tell where the photo was taken.
pub fn locations(report: &[String]) -> Vec<String> {
    report
        .iter()
        .filter(|l| {
            l.starts_with("[GPS]")
                || l.contains("GPS")
                || l.contains("City")
                || l.contains("Country")
                || l.contains("State ")
                || l.contains("Location")
        })
        .cloned()
        .collect()
}

/// One tag's printed value, e.g. `Model`.
pub fn tag(path: &Path, name: &str) -> String {
    run(&["-s3", &format!("-{name}"), path.to_str().unwrap()])
        .trim()
        .to_owned()
}

/// Runs exiftool with arguments (to build test files).
pub fn exiftool(args: &[&str]) {
    let out = Command::new("exiftool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "exiftool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The embedded JPEG thumbnail exiftool finds (`-b -ThumbnailImage`).
pub fn thumbnail(path: &Path) -> Vec<u8> {
    let out = Command::new("exiftool")
        .args(["-b", "-ThumbnailImage", path.to_str().unwrap()])
        .output()
        .unwrap();
    out.stdout
}
