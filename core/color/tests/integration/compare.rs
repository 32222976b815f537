//! Tolerance reports from two charts.

use ecsp_color::delta_e::DeltaE;
use ecsp_color::spectrum::IlluminationCondition;
use ecsp_color::tolerance::{
    CompareOptions, Criterion, Severity, Statistic, ToleranceSet, compare,
};

use ecsp_color::dataset::Dataset;
use ecsp_color::tolerance::{Matching, PatchGroup};

use crate::common::{data, read, sharma_pairs};

fn corpus(name: &str) -> Dataset {
    Dataset::from_bytes(&std::fs::read(data(&format!("corpus/{name}"))).unwrap()).unwrap()
}

/// A "print" of a chart: every patch's CIELAB moved by its own amount, new ids, reversed order.
fn shuffled_print(reference: &Dataset) -> Dataset {
    let mut print = reference.clone();
    for (i, p) in print.patches.iter_mut().enumerate() {
        let lab = p.lab.as_mut().unwrap();
        lab.l += (i % 5) as f64 * 0.4;
        lab.a -= (i % 3) as f64 * 0.7;
        p.id = format!("print-{i}");
    }
    print.patches.reverse();
    print
}

#[test]
fn a_report_says_pass_or_fail_and_why() {
    let reference = ecsp_color::cgats::parse(&read("sharma_reference.cgats")).unwrap();
    let sample = ecsp_color::cgats::parse(&read("sharma_sample.cgats")).unwrap();
    let expected: Vec<f64> = sharma_pairs().iter().map(|p| p[6]).collect();
    let mean = expected.iter().sum::<f64>() / expected.len() as f64;
    let max = expected.iter().copied().fold(0.0, f64::max);

    let set = ToleranceSet {
        name: "test".into(),
        delta_e: DeltaE::DE2000,
        illuminant: Some(ecsp_color::cie::Illuminant::D50),
        observer: Some(ecsp_color::cie::Observer::Cie1931TwoDegree),
        criteria: vec![
            Criterion {
                statistic: Statistic::Mean,
                limit: 6.0,
                severity: Severity::Normative,
                patches: None,
                label: None,
            },
            Criterion {
                statistic: Statistic::Max,
                limit: 3.0,
                severity: Severity::Informative,
                patches: None,
                label: None,
            },
            Criterion {
                statistic: Statistic::PerPatch,
                limit: 1.5,
                severity: Severity::Normative,
                patches: Some(vec!["4".into(), "17".into()]),
                label: Some("Selected: ".into()),
            },
        ],
    };
    let report = compare(&reference, &sample, &set, CompareOptions::default()).unwrap();
    assert_eq!(report.patches.len(), 34);
    for (p, e) in report.patches.iter().zip(&expected) {
        assert!(
            (p.delta_e - e).abs() < 1e-4,
            "patch {}: {} vs {e}",
            p.id,
            p.delta_e
        );
    }
    assert!((report.mean - mean).abs() < 1e-4);
    assert!((report.max - max).abs() < 1e-4);
    // Mean (5.39) passes; max (31.9) fails but is informative; of patches 4 (1.0) and 17
    // (27.1492), 17 fails.
    assert!(report.outcomes[0].passed);
    assert!(!report.outcomes[1].passed);
    assert!(!report.outcomes[2].passed);
    assert!(
        report.outcomes[2].explanation.contains("worst patch 17"),
        "{}",
        report.outcomes[2].explanation
    );
    assert!(!report.passed, "a normative criterion failed");

    let lenient = ToleranceSet {
        criteria: set.criteria[..2].to_vec(),
        ..set.clone()
    };
    assert!(
        compare(&reference, &sample, &lenient, CompareOptions::default())
            .unwrap()
            .passed,
        "only the informative one failed"
    );
}

#[test]
fn readings_under_different_conditions_are_not_compared_silently() {
    let reference = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    let mut sample = reference.clone();
    sample.meta.conditions.illumination = Some(IlluminationCondition::M2);
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let e = compare(&reference, &sample, &set, CompareOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("M0") && e.to_string().contains("M2"),
        "{e}"
    );
    let report = compare(
        &reference,
        &sample,
        &set,
        CompareOptions {
            allow_mixed_conditions: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(report.max < 1e-9 && report.passed);
}

#[test]
fn the_same_patches_in_another_order_give_the_same_report() {
    let reference = corpus("lookalike_iso_reference_latin1.txt");
    let print = shuffled_print(&reference);
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let in_order = {
        let mut p = print.clone();
        p.patches.reverse();
        compare(&reference, &p, &set, CompareOptions::default()).unwrap()
    };
    let reordered = compare(&reference, &print, &set, CompareOptions::default()).unwrap();
    assert_eq!(reordered.matched_by, Matching::DeviceValues);
    assert_eq!(in_order, reordered);
    assert!(
        reordered.mean > 0.3,
        "the print differs: {}",
        reordered.mean
    );
    // Ids differ, so matching by id is refused rather than pairing the wrong patches …
    let by_id = CompareOptions {
        matching: Matching::Id,
        ..Default::default()
    };
    let e = compare(&reference, &print, &set, by_id).unwrap_err();
    assert!(
        e.to_string().contains("no patch of the sample matches"),
        "{e}"
    );
    // … and position, only when asked, pairs reversed patches (a different, worse report).
    let by_position = CompareOptions {
        matching: Matching::Position,
        ..Default::default()
    };
    let wrong = compare(&reference, &print, &set, by_position).unwrap();
    assert!(
        wrong.mean > 5.0 * reordered.mean,
        "{} vs {}",
        wrong.mean,
        reordered.mean
    );
    // The real i1Profiler chart (RGB device values, 80 grey levels measured 10 times each)
    // against its CRLF copy, in order and reversed: duplicates of the reference are averaged,
    // so both orders give the same report.
    let pops = corpus("quadgen_POPS_MEASUREMENTS.cgats");
    let copy = corpus("quadgen_POPS_i1pro2.cgats");
    let mut reversed = copy.clone();
    reversed.patches.reverse();
    let a = compare(&pops, &copy, &set, CompareOptions::default()).unwrap();
    let b = compare(&pops, &reversed, &set, CompareOptions::default()).unwrap();
    assert_eq!(
        (b.matched_by, b.patches.len()),
        (Matching::DeviceValues, 800)
    );
    assert_eq!(a, b);
    assert!(
        b.mean > 0.0 && b.mean < 2.0,
        "repeat variation only: {}",
        b.mean
    );
}

#[test]
fn unmatched_patches_are_listed_and_groups_reported() {
    // A 24-patch chart against a 432-patch one: only the device values both carry are compared.
    let reference = corpus("quadgen_CGATS.17.txt");
    let sample = corpus("lookalike_iso_reference_latin1.txt");
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let r = compare(&reference, &sample, &set, CompareOptions::default()).unwrap();
    assert_eq!(r.matched_by, Matching::DeviceValues);
    assert!(
        !r.patches.is_empty() && r.patches.len() < 24,
        "{}",
        r.patches.len()
    );
    assert_eq!(r.patches.len() + r.unmatched_sample.len(), 24);
    assert!(r.unmatched_reference.len() > 400);
    for p in &r.patches {
        let s = sample.patches.iter().find(|q| q.id == p.sample_id).unwrap();
        let q = reference.patches.iter().find(|q| q.id == p.id).unwrap();
        assert_eq!(
            s.device_values(),
            q.device_values(),
            "{} paired with {}",
            p.id,
            p.sample_id
        );
    }
    // Groups from device values, the worst patches largest first.
    let sample = shuffled_print(&corpus("lookalike_iso_reference_latin1.txt"));
    let r = compare(
        &corpus("lookalike_iso_reference_latin1.txt"),
        &sample,
        &set,
        CompareOptions::default(),
    )
    .unwrap();
    let names: Vec<PatchGroup> = r.groups.iter().map(|g| g.group).collect();
    assert_eq!(
        names,
        [
            PatchGroup::Paper,
            PatchGroup::Primaries,
            PatchGroup::Secondaries,
            PatchGroup::Greys
        ]
    );
    let primaries = &r.groups[1];
    assert_eq!(primaries.count, 4, "C, M, Y and K solids: {primaries:?}");
    assert!(r.worst.windows(2).all(|w| w[0].delta_e >= w[1].delta_e));
    assert_eq!(r.worst[0].delta_e, r.max);
}

#[test]
fn declared_conditions_are_checked_even_without_spectra() {
    let reference = corpus("lookalike_iso_reference_latin1.txt"); // M1, CIELAB only
    let mut sample = shuffled_print(&reference);
    sample.meta.conditions.illumination = Some(IlluminationCondition::M2);
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let e = compare(&reference, &sample, &set, CompareOptions::default()).unwrap_err();
    assert!(
        e.to_string().contains("M1") && e.to_string().contains("M2"),
        "{e}"
    );
    // Unknown on one side is said, not silently passed.
    sample.meta.conditions.illumination = None;
    let r = compare(&reference, &sample, &set, CompareOptions::default()).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("sample does not say its measurement condition")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn the_files_own_observer_is_the_default_and_another_choice_is_reported() {
    let reference = corpus("lookalike_r_nnn_observer10_decimal_comma.txt"); // D65/10°
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let r = compare(&reference, &reference, &set, CompareOptions::default()).unwrap();
    assert_eq!(
        (r.illuminant, r.observer),
        (
            ecsp_color::cie::Illuminant::D65,
            ecsp_color::cie::Observer::Cie1964TenDegree
        )
    );
    assert!(
        r.warnings.iter().all(|w| !w.contains("declares")),
        "{:?}",
        r.warnings
    );
    let asked = CompareOptions {
        observer: Some(ecsp_color::cie::Observer::Cie1931TwoDegree),
        ..Default::default()
    };
    let r = compare(&reference, &reference, &set, asked).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("reference file declares observer 10°")),
        "{:?}",
        r.warnings
    );
}
