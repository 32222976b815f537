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

/// `exiftool -a -G1:2 -s -gps:all -xmp:all -iptc:all FILE`: one `[group:category] Tag : value`
/// line per tag (the category is exiftool's family-2 group, `Location` for location tags).
pub fn location_report(path: &Path) -> Vec<String> {
    run(&[
        "-a",
        "-G1:2",
        "-s",
        "-gps:all",
        "-xmp:all",
        "-iptc:all",
        path.to_str().unwrap(),
    ])
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Whether a report line tells where the photo was taken: exiftool files it under `Location`
/// (GPS, IPTC and XMP cities, countries, location structures), or it is a GPS tag, or its name
/// says so.
fn is_location(line: &str) -> bool {
    let group = line.split(']').next().unwrap_or_default();
    group.starts_with("[GPS")
        || group.ends_with(":Location")
        || ["GPS", "City", "Country", "State ", "Location", "location"]
            .iter()
            .any(|word| line.contains(word))
}

/// The lines of a report that tell where the photo was taken.
pub fn locations(report: &[String]) -> Vec<String> {
    report.iter().filter(|l| is_location(l)).cloned().collect()
}

/// Every tag exiftool reads that is not a location (`-a -G1:2 -s`, all groups, warnings
/// included), except the file system's own (name, dates, permissions) and
/// `CurrentIPTCDigest`, exiftool's MD5 of the IPTC block, which changes with the block.
pub fn non_location_tags(path: &Path) -> Vec<String> {
    run(&["-a", "-G1:2", "-s", path.to_str().unwrap()])
        .lines()
        .filter(|l| {
            !l.starts_with("[System:") && !l.contains(" CurrentIPTCDigest ") && !is_location(l)
        })
        .map(str::to_owned)
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
