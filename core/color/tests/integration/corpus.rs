//! The corpus of real files (and look-alikes where no real file may be kept; see
//! `tests/data/corpus/SOURCES.md`): every valid file is read, every invalid one refused with a
//! reason; where a file carries spectra and its own CIELAB, the CIELAB computed from the spectra
//! for the file's own illuminant and observer is compared with the file's.

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::dataset::Dataset;
use ecsp_color::delta_e::DeltaE;

use crate::common::data;

fn read(name: &str) -> ecsp_color::error::Result<Dataset> {
    Dataset::from_bytes(&std::fs::read(data(&format!("corpus/{name}"))).unwrap())
}

/// Mean and maximum ΔE00 between the file's CIELAB and the CIELAB computed from its spectra, for
/// the illuminant and observer the file declares (D50/2° when it declares none).
fn own_lab_agreement(d: &Dataset) -> Option<(f64, f64, Illuminant, Observer)> {
    let ill = d.meta.lab_illuminant.unwrap_or(Illuminant::D50);
    let obs = d.meta.lab_observer.unwrap_or(Observer::Cie1931TwoDegree);
    let mut des = Vec::new();
    for p in &d.patches {
        if let (Some(s), Some(lab)) = (&p.spectrum, p.lab) {
            let c = ecsp_color::colorimetry::colorimetry(
                s,
                d.meta.conditions.bandpass_corrected,
                ill,
                obs,
            )
            .unwrap();
            des.push(DeltaE::DE2000.between(c.lab, lab));
        }
    }
    if des.is_empty() {
        return None;
    }
    let mean = des.iter().sum::<f64>() / des.len() as f64;
    Some((mean, des.iter().copied().fold(0.0, f64::max), ill, obs))
}

/// What a corpus file must give: its patch count, and for files with spectra and CIELAB the
/// largest mean and maximum ΔE00 between the file's CIELAB and ours that is accepted.
struct Expect {
    file: &'static str,
    patches: usize,
    /// (mean, max) bounds; `None` when the file has not both spectra and CIELAB.
    own_lab: Option<(f64, f64)>,
    /// Substrings the warnings must contain.
    warnings: &'static [&'static str],
}

const VALID: &[Expect] = &[
    // Real instrument exports.
    Expect {
        file: "colour_X-Rite_Digital_Colour_Checker.txt",
        patches: 10,
        own_lab: None,
        warnings: &["Filter=No does not say M0 or M1"],
    },
    Expect {
        file: "quadgen_POPS_MEASUREMENTS.cgats",
        patches: 800,
        own_lab: Some((0.01, 0.03)),
        warnings: &["a second END_DATA"],
    },
    Expect {
        file: "quadgen_POPS_i1pro2.cgats",
        patches: 800,
        own_lab: Some((0.01, 0.03)),
        warnings: &[],
    },
    Expect {
        file: "quadgen_CGATS.17.txt",
        patches: 432,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "colour-cxf_sample.cxf",
        patches: 144,
        own_lab: Some((0.07, 0.16)),
        warnings: &[],
    },
    // ColorPort writes CIELAB as whole numbers: up to 0.5 per coordinate of rounding.
    Expect {
        file: "pycgats_CGATSData.txt",
        patches: 1,
        own_lab: Some((0.8, 0.8)),
        warnings: &[],
    },
    Expect {
        file: "pycgats_CGATS_Data_1.txt",
        patches: 1,
        own_lab: Some((0.8, 0.8)),
        warnings: &[],
    },
    Expect {
        file: "pycgats_Tuerkis7712-HolmenX60.txt",
        patches: 15,
        own_lab: Some((0.01, 0.02)),
        warnings: &["decimal commas"],
    },
    // Hand-made files of other projects. The quadGEN "rich" files pair made-up CIELAB
    // (L* = 100 − 5k, a* = b* = 0) with unrelated spectra: their own numbers are off, by a mean
    // ΔE00 of 13.9 (10.6 for the Color Muse variants) and a maximum of 26.1 (22.9).
    Expect {
        file: "quadgen_cgats17_21step_rich.txt",
        patches: 21,
        own_lab: Some((14.0, 26.1)),
        warnings: &[],
    },
    Expect {
        file: "quadgen_cgats17_21step_rich.ti3",
        patches: 21,
        own_lab: Some((14.0, 26.1)),
        warnings: &[],
    },
    Expect {
        file: "quadgen_cgats17_21step_rich_colormuse.txt",
        patches: 21,
        own_lab: Some((10.7, 22.9)),
        warnings: &[],
    },
    Expect {
        file: "quadgen_cgats17_21step_rich_colormuse.ti3",
        patches: 21,
        own_lab: Some((10.7, 22.9)),
        warnings: &[],
    },
    Expect {
        file: "quadgen_cgats17_21step_lab.txt",
        patches: 21,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "quadgen_cgats17_21step_lab_colormuse.txt",
        patches: 21,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "colour-cxf_id_reference_validation.cxf",
        patches: 9,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "colour-cxf_geometry_edge_cases.cxf",
        patches: 5,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "colour-cxf_unicode_special_characters.cxf",
        patches: 12,
        own_lab: None,
        warnings: &[],
    },
    // Look-alikes (generate_lookalikes.py; CIELAB and XYZ by colour-science).
    Expect {
        file: "lookalike_spectral_nm_dec_pairs.cgats",
        patches: 24,
        own_lab: Some((0.001, 0.001)),
        warnings: &[],
    },
    Expect {
        file: "lookalike_argyll_two_tables.ti3",
        patches: 24,
        own_lab: None,
        warnings: &[],
    },
    Expect {
        file: "lookalike_r_nnn_observer10_decimal_comma.txt",
        patches: 24,
        own_lab: Some((0.01, 0.01)),
        warnings: &["decimal commas"],
    },
    Expect {
        file: "lookalike_xyz_only.cgats",
        patches: 24,
        own_lab: None,
        warnings: &["CIELAB computed from XYZ"],
    },
    Expect {
        file: "lookalike_iso_reference_latin1.txt",
        patches: 24,
        own_lab: None,
        warnings: &["NUMBER_OF_FIELDS says 11", "M1 is read from it", "Latin-1"],
    },
    Expect {
        file: "lookalike_cxf_three_conditions.cxf",
        patches: 24,
        own_lab: Some((0.0001, 0.0001)),
        warnings: &["M0, M1, M2", "2 CIELAB values"],
    },
];

/// Files refused whole, and the reason the user sees.
const REFUSED: &[(&str, &str)] = &[
    (
        "quadgen_lab_banded_shadow.txt",
        "no complete BEGIN_DATA_FORMAT",
    ),
    (
        "colour-cxf_spectral_data_boundaries.cxf",
        "object extreme1): the value at 360 nm is 2.95",
    ),
    (
        "colour-cxf_multiple_objects.cxf",
        "no object with a reflectance spectrum or CIELAB",
    ),
    (
        "colour-cxf_custom_spectrum_irregular.cxf",
        "no object with a reflectance spectrum or CIELAB",
    ),
];

#[test]
fn every_corpus_file_is_read_or_refused_with_its_reason() {
    let listed: std::collections::HashSet<&str> = VALID
        .iter()
        .map(|e| e.file)
        .chain(REFUSED.iter().map(|r| r.0))
        .collect();
    for entry in std::fs::read_dir(data("corpus")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !(name.ends_with(".py") || name.ends_with(".md")) {
            assert!(
                listed.contains(name.as_str()),
                "{name} is in the corpus but not in this test"
            );
        }
    }
    assert!(listed.len() >= 20);
    for e in VALID {
        let d = read(e.file).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(d.patches.len(), e.patches, "{}", e.file);
        assert!(
            d.patches
                .iter()
                .all(|p| p.spectrum.is_some() || p.lab.is_some()),
            "{}",
            e.file
        );
        for w in e.warnings {
            assert!(
                d.warnings.iter().any(|x| x.contains(w)),
                "{}: no warning `{w}` in {:?}",
                e.file,
                d.warnings
            );
        }
        match (own_lab_agreement(&d), e.own_lab) {
            (Some((mean, max, ill, obs)), Some((mean_bound, max_bound))) => {
                eprintln!(
                    "{}: computed vs file CIELAB ({ill}/{obs}): mean ΔE00 {mean:.4}, max {max:.4}",
                    e.file
                );
                // A file whose own numbers are off must stay recognisably off.
                let floor = if mean_bound > 5.0 {
                    mean_bound - 1.0
                } else {
                    0.0
                };
                assert!(
                    mean >= floor && mean <= mean_bound && max <= max_bound,
                    "{}: mean {mean} max {max}",
                    e.file
                );
            }
            (None, None) => {}
            (got, want) => panic!("{}: agreement {got:?}, expected {want:?}", e.file),
        }
    }
    for (file, reason) in REFUSED {
        let e = read(file).unwrap_err().to_string();
        assert!(e.contains(reason), "{file}: {e}");
    }
}

#[test]
fn the_files_own_metadata_is_read_never_invented() {
    // Spectrolino: Filter=No is neither M0 nor M1; its own 10° observer and D65.
    let d = read("colour_X-Rite_Digital_Colour_Checker.txt").unwrap();
    assert_eq!(d.meta.conditions.illumination, None);
    assert_eq!(
        (d.meta.lab_illuminant, d.meta.lab_observer),
        (Some(Illuminant::D65), Some(Observer::Cie1964TenDegree))
    );
    // i1Profiler: MeasurementCondition=M0 in MEASUREMENT_SOURCE, the weighting function.
    let d = read("quadgen_POPS_i1pro2.cgats").unwrap();
    assert_eq!(
        d.meta.conditions.illumination,
        Some(ecsp_color::spectrum::IlluminationCondition::M0)
    );
    // The ISO reference look-alike says M1 in free text; its geometry stays unknown.
    let d = read("lookalike_iso_reference_latin1.txt").unwrap();
    assert_eq!(
        d.meta.conditions.illumination,
        Some(ecsp_color::spectrum::IlluminationCondition::M1)
    );
    assert_eq!(d.meta.conditions.geometry, None);
    assert_eq!(d.patches[6].id, "B1");
    assert!(d.meta.originator.as_deref().unwrap().contains("Prüfdruck"));
    // XYZ only: CIELAB from the declared D50/2° white agrees with colour-science's.
    let d = read("lookalike_xyz_only.cgats").unwrap();
    let text = std::fs::read_to_string(data("corpus/lookalike_xyz_only.cgats")).unwrap();
    let expected: Vec<[f64; 3]> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| !l.starts_with("colour"))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    assert_eq!(expected.len(), 24);
    for (p, e) in d.patches.iter().zip(&expected) {
        let lab = p.lab.unwrap();
        assert!(
            (lab.l - e[0]).abs() < 2e-3
                && (lab.a - e[1]).abs() < 2e-3
                && (lab.b - e[2]).abs() < 2e-3,
            "{} {lab:?} {e:?}",
            p.id
        );
    }
    // Argyll: the CAL table is kept, the measurement has CMYK device values and spectra in %.
    let d = read("lookalike_argyll_two_tables.ti3").unwrap();
    assert_eq!(d.other_tables[0].identifier.as_deref(), Some("CAL"));
    assert_eq!(d.patches[18].device_values().unwrap().values, vec![0.0; 4]);
    assert!(d.patches[18].spectrum.as_ref().unwrap().values()[20] > 0.8);
    // The paper is found by its device values, for densities.
    assert_eq!(d.paper_white().unwrap().id, "19");
    let rel = ecsp_color::density::chart_densities(
        &d,
        ecsp_color::density::DensityStatus::E,
        &ecsp_color::density::PaperChoice::Detect,
    )
    .unwrap();
    assert_eq!(rel.paper.as_deref(), Some("19"));
    let paper_row = rel.patches.iter().find(|(id, _)| id == "19").unwrap();
    assert!(paper_row.1.visual.abs() < 1e-12);
    let no_device = read("colour_X-Rite_Digital_Colour_Checker.txt").unwrap();
    let e = ecsp_color::density::chart_densities(
        &no_device,
        ecsp_color::density::DensityStatus::E,
        &ecsp_color::density::PaperChoice::Detect,
    )
    .unwrap_err();
    assert!(e.to_string().contains("name the paper patch"), "{e}");
    // CxF with three conditions: the one asked for.
    let text = std::fs::read_to_string(data("corpus/lookalike_cxf_three_conditions.cxf")).unwrap();
    let m2 = ecsp_color::cxf::parse_condition(
        &text,
        Some(ecsp_color::spectrum::IlluminationCondition::M2),
    )
    .unwrap();
    let m0 = ecsp_color::cxf::parse(&text).unwrap();
    assert_eq!(
        m2.meta.conditions.illumination,
        Some(ecsp_color::spectrum::IlluminationCondition::M2)
    );
    let (a, b) = (
        m0.patches[18].spectrum.as_ref().unwrap(),
        m2.patches[18].spectrum.as_ref().unwrap(),
    );
    assert!(b.values()[0] < a.values()[0] && b.values()[20] == a.values()[20]);
    // The same choice from the bytes; a CGATS file measured under another condition is refused.
    let bytes = std::fs::read(data("corpus/lookalike_cxf_three_conditions.cxf")).unwrap();
    let under = Dataset::from_bytes_under(
        &bytes,
        Some(ecsp_color::spectrum::IlluminationCondition::M2),
    )
    .unwrap();
    assert_eq!(under.patches[18].spectrum, m2.patches[18].spectrum);
    let iso_bytes = std::fs::read(data("corpus/lookalike_iso_reference_latin1.txt")).unwrap();
    let e = Dataset::from_bytes_under(
        &iso_bytes,
        Some(ecsp_color::spectrum::IlluminationCondition::M2),
    )
    .unwrap_err();
    assert!(e.to_string().contains("measured under M1, not M2"), "{e}");
    // Its ColorCMYK values are device values: the CxF and the CGATS chart pair up by them.
    let iso = read("lookalike_iso_reference_latin1.txt").unwrap();
    let r = ecsp_color::tolerance::compare(
        &iso,
        &m0,
        &ecsp_color::tolerance::ToleranceSet::default_for(DeltaE::DE2000),
        ecsp_color::tolerance::CompareOptions {
            allow_mixed_conditions: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.matched_by, ecsp_color::tolerance::Matching::DeviceValues);
    assert_eq!(r.patches.len(), 24);
    assert!(r.max < 0.01, "same ColorChecker CIELAB, rounded: {}", r.max);
}
