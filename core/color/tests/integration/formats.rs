//! CGATS.17 and CxF3 round trips and their errors.

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::spectrum::{Backing, Geometry, IlluminationCondition};
use ecsp_color::{cgats, cxf};

use crate::common::read;

#[test]
fn cgats_round_trips_spectra_metadata_and_extra_fields() {
    let mut chart = cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    assert_eq!(chart.patches.len(), 24);
    assert_eq!(chart.patches[0].name.as_deref(), Some("dark skin"));
    assert_eq!(
        chart.meta.conditions.illumination,
        Some(IlluminationCondition::M0)
    );
    chart.meta.conditions.geometry = Some(Geometry::FortyFiveZero);
    chart.meta.conditions.instrument_model = Some("i1Pro 3".into());
    chart.meta.conditions.instrument_serial = Some("1234567".into());
    chart.meta.conditions.backing = Some(Backing::White);
    for (i, p) in chart.patches.iter_mut().enumerate() {
        p.extra.push(("CMYK_C".into(), (i * 4).to_string()));
    }
    let text = cgats::write(&chart).unwrap();
    let back = cgats::parse(&text).unwrap();
    assert_eq!(back.meta.conditions, chart.meta.conditions);
    for (a, b) in chart.patches.iter().zip(&back.patches) {
        assert_eq!((&a.id, &a.name), (&b.id, &b.name));
        let (sa, sb) = (a.spectrum.as_ref().unwrap(), b.spectrum.as_ref().unwrap());
        assert_eq!(sa.grid(), sb.grid());
        for (x, y) in sa.values().iter().zip(sb.values()) {
            assert!((x - y).abs() < 1e-9);
        }
    }
    assert_eq!(
        back.patches[5].extra,
        vec![("CMYK_C".to_owned(), "20".to_owned())]
    );
}

#[test]
fn a_patch_missing_what_others_have_is_not_written_with_made_up_values() {
    let mut chart = cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    chart.patches[3].spectrum = None;
    let e = cgats::write(&chart).unwrap_err();
    assert!(e.to_string().contains("patch 4 has no spectrum"), "{e}");
    chart.patches[3].spectrum = chart.patches[2].spectrum.clone();
    chart.patches[0].extra.push(("CMYK_C".into(), "100".into()));
    let e = cgats::write(&chart).unwrap_err();
    assert!(e.to_string().contains("patch 2 has no CMYK_C"), "{e}");
}

#[test]
fn percent_spectra_are_read_as_factors_and_written_back_as_percent() {
    let text = "CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_NM400 SPECTRAL_NM410 SPECTRAL_NM420\nEND_DATA_FORMAT\nBEGIN_DATA\nA 90.5 91.0 92.25\nEND_DATA\n";
    let d = cgats::parse(text).unwrap();
    assert_eq!(
        d.patches[0].spectrum.as_ref().unwrap().values(),
        &[0.905, 0.91, 0.9225]
    );
    assert!(
        d.warnings.iter().any(|w| w.contains("read as percent")),
        "the guess is said: {:?}",
        d.warnings
    );
    let out = cgats::write(&d).unwrap();
    assert!(out.contains("90.50\t91.00\t92.25"), "{out}");
    // Argyll says its scale: dark patches in percent are not mistaken for factors.
    let dark = text
        .replace("CGATS.17\n", "CTI3\nSPECTRAL_NORM \"100.0\"\n")
        .replace("90.5 91.0 92.25", "1.5 1.0 0.25");
    let d = cgats::parse(&dark).unwrap();
    assert_eq!(
        d.patches[0].spectrum.as_ref().unwrap().values(),
        &[0.015, 0.01, 0.0025]
    );
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn cxf_round_trips_spectra_lab_and_conditions() {
    let mut chart = cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    chart.meta.conditions.geometry = Some(Geometry::FortyFiveZero);
    chart.meta.conditions.instrument_model = Some("i1Pro 3".into());
    chart.meta.conditions.instrument_serial = Some("SN<42>&".into());
    chart.meta.conditions.backing = Some(Backing::Black);
    chart.meta.conditions.bandpass_corrected = false;
    chart.meta.lab_illuminant = Some(Illuminant::D65);
    chart.meta.lab_observer = Some(Observer::Cie1964TenDegree);
    for (i, p) in chart.patches.iter_mut().enumerate() {
        p.lab = Some(ecsp_color::convert::Lab {
            l: 10.0 + i as f64,
            a: -3.25,
            b: 7.5,
        });
    }
    let xml = cxf::write(&chart);
    let back = cxf::parse(&xml).unwrap();
    assert_eq!(back.meta.conditions, chart.meta.conditions);
    assert_eq!(
        (back.meta.lab_illuminant, back.meta.lab_observer),
        (Some(Illuminant::D65), Some(Observer::Cie1964TenDegree))
    );
    assert_eq!(back.patches.len(), 24);
    for (a, b) in chart.patches.iter().zip(&back.patches) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.lab, b.lab);
        let (sa, sb) = (a.spectrum.as_ref().unwrap(), b.spectrum.as_ref().unwrap());
        assert_eq!(sa.grid(), sb.grid());
        assert!(
            sa.values()
                .iter()
                .zip(sb.values())
                .all(|(x, y)| (x - y).abs() < 1e-9)
        );
    }
    // And CxF → CGATS → CxF keeps the same dataset.
    let again = cxf::parse(&cxf::write(
        &cgats::parse(&cgats::write(&back).unwrap()).unwrap(),
    ))
    .unwrap();
    assert_eq!(again.patches.len(), back.patches.len());
    assert_eq!(again.meta.conditions, back.meta.conditions);
}

#[test]
fn malformed_files_get_an_error_with_the_place() {
    let e =
        cxf::parse("<cc:CxF xmlns:cc=\"x\">\n<cc:Resources>\n<cc:Object Id=\"1\"></cc:Resources>")
            .unwrap_err();
    assert!(e.to_string().contains("line"), "{e}");
    let e = cxf::parse("<cc:CxF xmlns:cc=\"x\"><cc:Resources><cc:ObjectCollection>\n<cc:Object Id=\"7\"><cc:ColorValues><cc:ReflectanceSpectrum StartWL=\"400\">0.1 NaN 0.3</cc:ReflectanceSpectrum></cc:ColorValues></cc:Object></cc:ObjectCollection></cc:Resources></cc:CxF>").unwrap_err();
    assert!(
        e.to_string().contains("object 7") && e.to_string().contains("not a number"),
        "{e}"
    );
    let e = cxf::parse("<other/>").unwrap_err();
    assert!(e.to_string().contains("not a CxF3 document"), "{e}");
    // A redundant count that disagrees with consistent data is a warning, not a refusal.
    let d = cgats::parse("CGATS.17\nNUMBER_OF_SETS 2\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 50 0 0\nEND_DATA\n").unwrap();
    assert_eq!(d.patches.len(), 1);
    assert!(
        d.warnings[0].starts_with("line 2:") && d.warnings[0].contains("NUMBER_OF_SETS says 2"),
        "{:?}",
        d.warnings
    );
}
