//! Against an independent implementation: colour-science (ASTM E308/E2022 XYZ, CIELAB, ΔE94,
//! ΔE CMC, ΔE2000) and python-colormath (ISO 5-3 densities), run through the Python that
//! `scripts/setup-python.sh` prepares (`ECSP_PYTHON`).

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::colorimetry::colorimetry;
use ecsp_color::convert::Lab;
use ecsp_color::delta_e::DeltaE;
use ecsp_color::density::{DensityStatus, densities};
use serde_json::{Value, json};

use crate::common::{read, sharma_pairs};

/// Runs the reference script on `input`; fails (never skips) when the Python is not set up.
pub fn reference(input: &Value) -> Value {
    let python = std::env::var("ECSP_PYTHON").expect(
        "ECSP_PYTHON is not set: run the tests with scripts/test.sh, which installs colour-science and colormath",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.json");
    std::fs::write(&path, serde_json::to_vec(input).unwrap()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/reference.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn xyz_lab_and_densities_of_real_spectra_match_the_reference() {
    let chart = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    let spectra: Vec<_> = chart
        .patches
        .iter()
        .map(|p| p.spectrum.clone().unwrap())
        .collect();
    let grid = spectra[0].grid();
    let input = json!({
        "data_dir": concat!(env!("CARGO_MANIFEST_DIR"), "/data"),
        "spectra": {"start_nm": grid.start_nm, "interval_nm": grid.interval_nm,
                    "values": spectra.iter().map(|s| s.values().to_vec()).collect::<Vec<_>>()},
    });
    let r = reference(&input);
    for (key, ill, obs) in [
        ("D50_2", Illuminant::D50, Observer::Cie1931TwoDegree),
        ("D65_10", Illuminant::D65, Observer::Cie1964TenDegree),
    ] {
        for (i, s) in spectra.iter().enumerate() {
            let c = colorimetry(s, true, ill, obs).unwrap();
            let xyz = &r["xyz"][key][i];
            let lab = &r["lab"][key][i];
            for (ours, theirs) in [(c.xyz.x, &xyz[0]), (c.xyz.y, &xyz[1]), (c.xyz.z, &xyz[2])] {
                let theirs = theirs.as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() < 1e-4,
                    "{key} patch {i}: XYZ {ours} vs {theirs}"
                );
            }
            for (ours, theirs) in [(c.lab.l, &lab[0]), (c.lab.a, &lab[1]), (c.lab.b, &lab[2])] {
                let theirs = theirs.as_f64().unwrap();
                assert!(
                    (ours - theirs).abs() < 1e-4,
                    "{key} patch {i}: Lab {ours} vs {theirs}"
                );
            }
        }
    }
    for (status, key) in [(DensityStatus::T, "T"), (DensityStatus::E, "E")] {
        for (i, s) in spectra.iter().enumerate() {
            let d = densities(s, status).unwrap();
            let theirs: Vec<f64> = r["density"][key][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for (ours, theirs) in [d.red, d.green, d.blue, d.visual].into_iter().zip(theirs) {
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "Status {key} patch {i}: {ours} vs {theirs}"
                );
            }
        }
    }
}

#[test]
fn delta_e_94_and_cmc_match_the_reference() {
    // The Sharma pairs plus pairs spread over colour space.
    let mut pairs: Vec<[f64; 6]> = sharma_pairs()
        .iter()
        .map(|p| [p[0], p[1], p[2], p[3], p[4], p[5]])
        .collect();
    for i in 0..200 {
        let t = f64::from(i);
        pairs.push([
            20.0 + (t * 7.3) % 70.0,
            ((t * 13.1) % 160.0) - 80.0,
            ((t * 17.7) % 160.0) - 80.0,
            20.0 + (t * 7.3 + 3.0) % 70.0,
            ((t * 13.1 + 4.0) % 160.0) - 80.0,
            ((t * 17.7 - 5.0) % 160.0) - 80.0,
        ]);
    }
    let r = reference(&json!({ "data_dir": "", "pairs": pairs }));
    for (key, method) in [
        ("de94_graphic_arts", DeltaE::De94GraphicArts),
        ("de94_textiles", DeltaE::De94Textiles),
        ("cmc_2_1", DeltaE::Cmc { l: 2.0, c: 1.0 }),
        ("cmc_1_1", DeltaE::Cmc { l: 1.0, c: 1.0 }),
        ("de2000", DeltaE::DE2000),
    ] {
        for (i, p) in pairs.iter().enumerate() {
            let ours = method.between(
                Lab {
                    l: p[0],
                    a: p[1],
                    b: p[2],
                },
                Lab {
                    l: p[3],
                    a: p[4],
                    b: p[5],
                },
            );
            let theirs = r[key][i].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() < 1e-9,
                "{key} pair {i}: {ours} vs {theirs}"
            );
        }
    }
}
