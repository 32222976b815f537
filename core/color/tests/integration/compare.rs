//! Tolerance reports from two charts.

use ecsp_color::delta_e::DeltaE;
use ecsp_color::spectrum::IlluminationCondition;
use ecsp_color::tolerance::{
    CompareOptions, Criterion, Severity, Statistic, ToleranceSet, compare,
};

use crate::common::{read, sharma_pairs};

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
        illuminant: ecsp_color::cie::Illuminant::D50,
        observer: ecsp_color::cie::Observer::Cie1931TwoDegree,
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
        },
    )
    .unwrap();
    assert!(report.max < 1e-9 && report.passed);
}
