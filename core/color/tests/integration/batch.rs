//! The batch paths (`WeightTable::lab_batch`, `delta_e::de2000_batch`) against the
//! one-at-a-time functions they must agree with, on the real spectra of the test data, with
//! batch lengths around the lane count and block size; and against colour-science.

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::convert::Lab;
use ecsp_color::dataset::Dataset;
use ecsp_color::delta_e::{de2000, de2000_batch};
use ecsp_color::spectrum::{Spectrum, WavelengthGrid};
use ecsp_color::weights::weights;
use serde_json::json;

use crate::common::{data, read, sharma_pairs};
use crate::reference::reference;

/// Every spectrum in the test data (the ColorChecker and the corpus), grouped by grid.
fn real_spectra() -> Vec<(WavelengthGrid, Vec<Spectrum>)> {
    let mut files = vec![read("colorchecker_babelcolor.cgats").into_bytes()];
    let mut names: Vec<_> = std::fs::read_dir(data("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    files.extend(names.iter().map(|p| std::fs::read(p).unwrap()));
    let mut groups: Vec<(WavelengthGrid, Vec<Spectrum>)> = Vec::new();
    for bytes in files {
        let Ok(d) = Dataset::from_bytes(&bytes) else {
            continue; // the corpus's invalid files
        };
        for s in d.patches.into_iter().filter_map(|p| p.spectrum) {
            match groups.iter_mut().find(|(g, _)| *g == s.grid()) {
                Some((_, v)) => v.push(s),
                None => groups.push((s.grid(), vec![s])),
            }
        }
    }
    groups
}

/// Batch lengths that leave every kind of remainder: empty, below, at and above the lane
/// count and the block size.
fn lengths(n: usize) -> impl Iterator<Item = usize> {
    [0, 1, 3, 7, 8, 9, 17, 63, 64, 65, 129, n]
        .into_iter()
        .filter(move |&k| k <= n)
}

fn close(a: Lab, b: Lab, tolerance: f64) -> bool {
    (a.l - b.l).abs() < tolerance && (a.a - b.a).abs() < tolerance && (a.b - b.b).abs() < tolerance
}

#[test]
fn lab_batch_equals_the_one_spectrum_path_on_real_spectra() {
    let groups = real_spectra();
    let total: usize = groups.iter().map(|(_, v)| v.len()).sum();
    assert!(total > 500, "only {total} spectra");
    // The common 36-band grid (its own code path) is among them.
    assert!(
        groups
            .iter()
            .any(|(g, v)| *g == WavelengthGrid::nm380_730() && v.len() > 100)
    );
    for (grid, spectra) in &groups {
        for (ill, obs, corrected) in [
            (Illuminant::D50, Observer::Cie1931TwoDegree, true),
            (Illuminant::D65, Observer::Cie1964TenDegree, true),
            (Illuminant::D50, Observer::Cie1931TwoDegree, false),
        ] {
            let Ok(table) = weights(ill, obs, *grid, corrected) else {
                continue; // no registry weights for this grid
            };
            let flat: Vec<f64> = spectra.iter().flat_map(|s| s.values().to_vec()).collect();
            for n in lengths(spectra.len()) {
                let mut out = vec![Lab::default(); n];
                table.lab_batch(&flat[..n * grid.bands], &mut out).unwrap();
                for (i, (s, lab)) in spectra.iter().zip(&out).enumerate() {
                    let one = table.xyz(s.values()).to_lab(table.white);
                    assert!(
                        close(*lab, one, 1e-9),
                        "{grid} {ill} {obs} batch of {n}, spectrum {i}: {lab:?} vs {one:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn lab_batch_takes_the_one_spectrum_path_for_values_that_are_not_finite() {
    let table = weights(
        Illuminant::D50,
        Observer::Cie1931TwoDegree,
        WavelengthGrid::nm380_730(),
        true,
    )
    .unwrap();
    let mut flat = vec![0.5; 36 * 10];
    flat[3 * 36 + 4] = f64::INFINITY;
    flat[5 * 36] = f64::NAN;
    flat[7 * 36 + 35] = -1e308;
    flat[8 * 36..9 * 36].fill(0.0);
    let mut out = vec![Lab::default(); 10];
    table.lab_batch(&flat, &mut out).unwrap();
    for (i, (r, lab)) in flat.chunks(36).zip(&out).enumerate() {
        let one = table.xyz(r).to_lab(table.white);
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() < 1e-9;
        assert!(
            same(lab.l, one.l) && same(lab.a, one.a) && same(lab.b, one.b),
            "spectrum {i}: {lab:?} vs {one:?}"
        );
    }
    assert_eq!(out[8], table.xyz(&[0.0; 36]).to_lab(table.white));
}

#[test]
fn a_batch_that_does_not_fit_is_an_error_not_a_panic() {
    let table = weights(
        Illuminant::D50,
        Observer::Cie1931TwoDegree,
        WavelengthGrid::nm380_730(),
        true,
    )
    .unwrap();
    let mut out = vec![Lab::default(); 2];
    let e = table.lab_batch(&[0.5; 71], &mut out).unwrap_err();
    assert!(
        e.to_string()
            .contains("not a whole number of 36-band spectra"),
        "{e}"
    );
    let e = table.lab_batch(&[0.5; 108], &mut out).unwrap_err();
    assert!(e.to_string().contains("3 spectra for 2 results"), "{e}");
    table.lab_batch(&[], &mut []).unwrap();
    let lab = Lab::default();
    assert!(de2000_batch(lab, &[lab; 3], &mut [0.0; 2]).is_err());
    de2000_batch(lab, &[], &mut []).unwrap();
}

/// Colours that exercise CIEDE2000's special cases: neutrals, hues 0°/90°/180°/270° apart, hues
/// that differ by exactly and nearly 180°, tiny and large chroma, the Sharma colours.
fn awkward_colours() -> Vec<Lab> {
    let mut v = vec![
        Lab::default(),
        Lab {
            l: 50.0,
            a: 0.0,
            b: 0.0,
        },
        Lab {
            l: 100.0,
            a: 0.0,
            b: -0.0,
        },
        Lab {
            l: 50.0,
            a: 1e-12,
            b: 0.0,
        },
    ];
    for &(a, b) in &[
        (10.0, 0.0),
        (-10.0, 0.0),
        (0.0, 10.0),
        (0.0, -10.0),
        (10.0, 1e-9),
        (-10.0, -1e-9),
        (-10.0, 1e-3),
        (120.0, -80.0),
        (-0.5, 0.25),
    ] {
        v.push(Lab { l: 60.0, a, b });
    }
    for p in sharma_pairs() {
        v.push(Lab {
            l: p[0],
            a: p[1],
            b: p[2],
        });
        v.push(Lab {
            l: p[3],
            a: p[4],
            b: p[5],
        });
    }
    v
}

#[test]
fn de2000_batch_equals_de2000_on_real_and_awkward_colours() {
    let table = weights(
        Illuminant::D50,
        Observer::Cie1931TwoDegree,
        WavelengthGrid::nm380_730(),
        true,
    )
    .unwrap();
    let mut colours = awkward_colours();
    for (grid, spectra) in real_spectra() {
        let table = weights(Illuminant::D50, Observer::Cie1931TwoDegree, grid, true).unwrap();
        colours.extend(
            spectra
                .iter()
                .map(|s| table.xyz(s.values()).to_lab(table.white)),
        );
    }
    drop(table);
    let references: Vec<Lab> = colours.iter().step_by(7).copied().collect();
    for reference in references {
        for n in lengths(colours.len()) {
            let mut out = vec![f64::NAN; n];
            de2000_batch(reference, &colours[..n], &mut out).unwrap();
            for (i, (s, d)) in colours.iter().zip(&out).enumerate() {
                let one = de2000(reference, *s, 1.0, 1.0, 1.0);
                assert!(
                    (d - one).abs() < 1e-9,
                    "{reference:?} → {s:?} (batch of {n}, sample {i}): {d} vs {one}"
                );
            }
        }
    }
}

#[test]
fn de2000_batch_of_values_that_are_not_finite_is_what_de2000_gives() {
    let reference = Lab {
        l: 50.0,
        a: 10.0,
        b: -20.0,
    };
    let samples = [
        Lab {
            l: f64::NAN,
            a: 0.0,
            b: 0.0,
        },
        Lab {
            l: 50.0,
            a: f64::INFINITY,
            b: 0.0,
        },
        Lab {
            l: 50.0,
            a: 1e30,
            b: -1e30,
        },
        Lab {
            l: 50.0,
            a: 1e-200,
            b: 0.0,
        },
    ];
    let mut out = [0.0; 4];
    de2000_batch(reference, &samples, &mut out).unwrap();
    for (s, d) in samples.iter().zip(out) {
        let one = de2000(reference, *s, 1.0, 1.0, 1.0);
        assert!(
            d.to_bits() == one.to_bits() || (d - one).abs() < 1e-9,
            "{s:?}: {d} vs {one}"
        );
    }
}

/// 2,002 pairs: 22 references (the awkward colours' first few and colours spread over the
/// gamut) × 91 samples each, compared in batches of 91 (not a multiple of the lane count).
#[test]
fn de2000_batch_matches_colour_science_on_2002_pairs_and_sharma() {
    let spread = |t: f64| Lab {
        l: 20.0 + (t * 7.3) % 70.0,
        a: ((t * 13.1) % 160.0) - 80.0,
        b: ((t * 17.7) % 160.0) - 80.0,
    };
    let awkward = awkward_colours();
    let references: Vec<Lab> = awkward[..12]
        .iter()
        .copied()
        .chain((0..10).map(|i| spread(f64::from(i) * 3.1 + 0.5)))
        .collect();
    let samples: Vec<Lab> = awkward
        .iter()
        .copied()
        .chain((0..).map(|i| spread(f64::from(i) + 0.25)))
        .take(91)
        .collect();
    let mut pairs = Vec::new();
    let mut ours = Vec::new();
    for reference in &references {
        let mut out = vec![0.0; samples.len()];
        de2000_batch(*reference, &samples, &mut out).unwrap();
        for s in &samples {
            pairs.push([reference.l, reference.a, reference.b, s.l, s.a, s.b]);
        }
        ours.extend(out);
    }
    assert_eq!(pairs.len(), 2002);
    // Sharma's pairs, each its own batch of one.
    for p in sharma_pairs() {
        let (r, s) = (
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
        let mut out = [0.0];
        de2000_batch(r, &[s], &mut out).unwrap();
        assert!((out[0] - p[6]).abs() < 1e-4, "{p:?}: {}", out[0]);
        pairs.push([p[0], p[1], p[2], p[3], p[4], p[5]]);
        ours.push(out[0]);
    }
    let r = reference(&json!({ "data_dir": "", "pairs": pairs }));
    for (i, (ours, p)) in ours.iter().zip(&pairs).enumerate() {
        let theirs = r["de2000"][i].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() < 1e-6,
            "pair {i} {p:?}: {ours} vs colour-science {theirs}"
        );
    }
}

#[test]
fn lab_batch_matches_colour_science_on_the_colorchecker() {
    let chart = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    let spectra: Vec<Spectrum> = chart
        .patches
        .iter()
        .map(|p| p.spectrum.clone().unwrap())
        .collect();
    let grid = spectra[0].grid();
    let r = reference(&json!({
        "data_dir": concat!(env!("CARGO_MANIFEST_DIR"), "/data"),
        "spectra": {"start_nm": grid.start_nm, "interval_nm": grid.interval_nm,
                    "values": spectra.iter().map(|s| s.values().to_vec()).collect::<Vec<_>>()},
    }));
    let flat: Vec<f64> = spectra.iter().flat_map(|s| s.values().to_vec()).collect();
    for (key, ill, obs) in [
        ("D50_2", Illuminant::D50, Observer::Cie1931TwoDegree),
        ("D65_10", Illuminant::D65, Observer::Cie1964TenDegree),
    ] {
        let table = weights(ill, obs, grid, true).unwrap();
        let mut out = vec![Lab::default(); spectra.len()];
        table.lab_batch(&flat, &mut out).unwrap();
        for (i, lab) in out.iter().enumerate() {
            let theirs = &r["lab"][key][i];
            let theirs = Lab {
                l: theirs[0].as_f64().unwrap(),
                a: theirs[1].as_f64().unwrap(),
                b: theirs[2].as_f64().unwrap(),
            };
            assert!(
                close(*lab, theirs, 1e-4),
                "{key} patch {i}: {lab:?} vs {theirs:?}"
            );
        }
    }
}
