//! `ecsp color`: convert, compare (exit status 5 on a normative failure), plot; offline.

use std::process::Command;

use ecsp_e2e::ecsp_binary;

fn data(name: &str) -> String {
    format!(
        "{}/../core/color/tests/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn ecsp(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ecsp_binary())
        .args(args)
        .env("ECSP_CONFIG_DIR", "/nonexistent-config")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn convert_adds_xyz_and_lab_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cgats");
    let (code, _, err) = ecsp(&[
        "color",
        "convert",
        &data("colorchecker_babelcolor.cgats"),
        "--illuminant",
        "D65",
        "--observer",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let d = ecsp_color::cgats::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        d.meta.lab_illuminant,
        Some(ecsp_color::cie::Illuminant::D65)
    );
    let p = &d.patches[18]; // white 9.5
    let lab = p.lab.unwrap();
    assert!(lab.l > 90.0 && lab.a.abs() < 3.0, "{lab:?}");
    assert!(p.extra.iter().any(|(f, _)| f == "XYZ_Y"));
    // Same numbers as the library computes.
    let c = ecsp_color::colorimetry::colorimetry(
        p.spectrum.as_ref().unwrap(),
        true,
        ecsp_color::cie::Illuminant::D65,
        ecsp_color::cie::Observer::Cie1964TenDegree,
    )
    .unwrap();
    assert!((c.lab.l - lab.l).abs() < 1e-4);
}

#[test]
fn compare_exits_5_on_a_normative_failure_and_0_on_a_pass() {
    let (code, out, _) = ecsp(&[
        "color",
        "compare",
        "--reference",
        &data("sharma_reference.cgats"),
        "--sample",
        &data("sharma_sample.cgats"),
    ]);
    assert_eq!(code, 5);
    assert!(
        out.contains("FAIL mean ΔE00 5.39 > 3.00 (normative)"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let tolerance = dir.path().join("tolerance.json");
    std::fs::write(
        &tolerance,
        r#"{"name": "lenient", "delta_e": {"method": "de2000", "kl": 1, "kc": 1, "kh": 1},
            "criteria": [{"statistic": "mean", "limit": 6, "severity": "normative"},
                         {"statistic": "max", "limit": 3, "severity": "informative"}]}"#,
    )
    .unwrap();
    let (code, out, err) = ecsp(&[
        "--json",
        "color",
        "compare",
        "--reference",
        &data("sharma_reference.cgats"),
        "--sample",
        &data("sharma_sample.cgats"),
        "--tolerance",
        tolerance.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["patches"].as_array().unwrap().len(), 34);
}

#[test]
fn plots_and_errors_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("spectra.svg");
    let (code, _, err) = ecsp(&[
        "color",
        "plot",
        "spectra",
        &data("colorchecker_babelcolor.cgats"),
        "--out",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .contains("Wavelength (nm)")
    );
    let (ab, de) = (dir.path().join("ab.png"), dir.path().join("de.svg"));
    let (code, _, err) = ecsp(&[
        "color",
        "plot",
        "compare",
        "--reference",
        &data("sharma_reference.cgats"),
        "--sample",
        &data("sharma_sample.cgats"),
        "--ab-out",
        ab.to_str().unwrap(),
        "--delta-e-out",
        de.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read(&ab).unwrap().starts_with(b"\x89PNG"));
    assert!(de.exists());

    let broken = dir.path().join("broken.cgats");
    std::fs::write(&broken, "CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_400 SPECTRAL_410 SPECTRAL_420\nEND_DATA_FORMAT\nBEGIN_DATA\n1 0.1 0.2\nEND_DATA\n").unwrap();
    let (code, _, err) = ecsp(&["color", "convert", broken.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("broken.cgats")
            && err.contains("line 6")
            && err.contains("3 values where the data format has 4 fields"),
        "{err}"
    );
}

#[test]
fn densities_absolute_and_relative_to_the_paper() {
    let (code, out, err) = ecsp(&[
        "--json",
        "color",
        "density",
        &data("colorchecker_babelcolor.cgats"),
        "--status",
        "E",
        "--paper",
        "19",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 24);
    let paper = rows.iter().find(|r| r["id"] == "19").unwrap();
    for f in ["red", "green", "blue", "visual"] {
        assert!(
            paper["densities"][f].as_f64().unwrap().abs() < 1e-12,
            "the paper is 0 against itself"
        );
    }
    let black = rows.iter().find(|r| r["id"] == "24").unwrap();
    assert!(black["densities"]["visual"].as_f64().unwrap() > 1.0);
    let (code, _, err) = ecsp(&[
        "color",
        "density",
        &data("colorchecker_babelcolor.cgats"),
        "--paper",
        "99",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no patch `99`"), "{err}");
}

/// A chart's lines reordered (and its ids renamed), as another instrument would write it.
fn reordered_copy(path: &str, to: &std::path::Path) {
    let text = std::fs::read(path).unwrap();
    let text = encoding_free(&text);
    let (head, rest) = text.split_once("BEGIN_DATA\r\n").unwrap();
    let (rows, tail) = rest.split_once("END_DATA").unwrap();
    let mut rows: Vec<String> = rows
        .lines()
        .map(|r| format!("X-{}", r.trim_end()))
        .collect();
    rows.reverse();
    std::fs::write(
        to,
        format!("{head}BEGIN_DATA\n{}\nEND_DATA{tail}", rows.join("\n")),
    )
    .unwrap();
}

/// The look-alike ISO reference is Latin-1: its bytes as chars one to one.
fn encoding_free(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

#[test]
fn compare_pairs_by_device_values_whatever_the_order() {
    let reference = data("corpus/lookalike_iso_reference_latin1.txt");
    let dir = tempfile::tempdir().unwrap();
    let shuffled = dir.path().join("print.txt");
    reordered_copy(&reference, &shuffled);
    let (code, out, err) = ecsp(&[
        "--json",
        "color",
        "compare",
        "--reference",
        &reference,
        "--sample",
        shuffled.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["matched_by"], "device_values");
    assert_eq!(report["patches"].as_array().unwrap().len(), 24);
    assert_eq!(report["max"].as_f64().unwrap(), 0.0);
    assert_eq!(report["patches"][0]["sample_id"], "X-A1");
    // What the reader tolerated is said on standard error, with the file.
    assert!(
        err.contains(
            "lookalike_iso_reference_latin1.txt: warning: line 8: NUMBER_OF_FIELDS says 11"
        ),
        "{err}"
    );
    // Position only when asked: here it pairs A1 with the last patch, and says how it matched.
    let (code, out, _) = ecsp(&[
        "color",
        "compare",
        "--reference",
        &reference,
        "--sample",
        shuffled.to_str().unwrap(),
        "--match",
        "position",
    ]);
    assert_eq!(code, 5, "out of tolerance when paired by position");
    assert!(out.contains("patches matched by position"), "{out}");
}

#[test]
fn convert_uses_the_files_own_observer_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cgats");
    let spectrolino = data("corpus/colour_X-Rite_Digital_Colour_Checker.txt");
    let (code, _, err) = ecsp(&[
        "color",
        "convert",
        &spectrolino,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let d = ecsp_color::cgats::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        (d.meta.lab_illuminant, d.meta.lab_observer),
        (
            Some(ecsp_color::cie::Illuminant::D65),
            Some(ecsp_color::cie::Observer::Cie1964TenDegree)
        )
    );
    let (code, _, err) = ecsp(&[
        "color",
        "convert",
        &spectrolino,
        "--observer",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the file declares D65/10°; computing for D65/2° as asked"),
        "{err}"
    );
}
