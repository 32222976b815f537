//! Plots are written as SVG and PNG, with labelled axes.

use ecsp_color::delta_e::DeltaE;
use ecsp_color::plot;
use ecsp_color::tolerance::{CompareOptions, ToleranceSet, compare};

use crate::common::read;

#[test]
fn every_plot_renders_to_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let chart = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    let curves: Vec<_> = chart
        .patches
        .iter()
        .take(6)
        .map(|p| (p.name.clone().unwrap(), p.spectrum.clone().unwrap()))
        .collect();
    let reference = ecsp_color::cgats::parse(&read("sharma_reference.cgats")).unwrap();
    let sample = ecsp_color::cgats::parse(&read("sharma_sample.cgats")).unwrap();
    let report = compare(
        &reference,
        &sample,
        &ToleranceSet::default_for(DeltaE::DE2000),
        CompareOptions::default(),
    )
    .unwrap();
    // 800 patches (the i1Profiler chart against itself reversed): a distribution, not 800 bars.
    let pops = ecsp_color::dataset::Dataset::from_bytes(
        &std::fs::read(crate::common::data(
            "corpus/quadgen_POPS_MEASUREMENTS.cgats",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut reversed = pops.clone();
    reversed.patches.reverse();
    let large = compare(
        &pops,
        &reversed,
        &ToleranceSet::default_for(DeltaE::DE2000),
        CompareOptions::default(),
    )
    .unwrap();
    let e = plot::spectra_of(&chart, &["1".into(), "99".into()]).unwrap_err();
    assert!(e.to_string().contains("99 (not in the file)"), "{e}");
    let trend: Vec<(i64, f64)> = (0..24)
        .map(|h| (1_700_000_000 + h * 3600, 1.0 + (h as f64 / 5.0).sin().abs()))
        .collect();
    for ext in ["svg", "png"] {
        let p = |name: &str| dir.path().join(format!("{name}.{ext}"));
        plot::spectra(&p("spectra"), "ColorChecker", &curves).unwrap();
        plot::ab_diagram(&p("ab"), &report, Some(3.0)).unwrap();
        plot::delta_e_bars(&p("de"), &report, Some(3.0)).unwrap();
        plot::trend(&p("trend"), "Press 1, patch A1", "ΔE00", &trend, Some(2.0)).unwrap();
        plot::spectra(
            &p("spectra_all"),
            "ColorChecker",
            &plot::spectra_of(&chart, &[]).unwrap(),
        )
        .unwrap();
        plot::delta_e_bars(&p("distribution"), &large, Some(3.0)).unwrap();
        for name in [
            "spectra",
            "ab",
            "de",
            "trend",
            "spectra_all",
            "distribution",
        ] {
            let bytes = std::fs::read(p(name)).unwrap();
            if ext == "png" {
                assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}.png");
                assert!(bytes.len() > 10_000, "{name}.png is {} bytes", bytes.len());
            } else {
                let svg = String::from_utf8(bytes).unwrap();
                assert!(svg.starts_with("<svg"), "{name}.svg");
            }
        }
        if ext == "svg" {
            // Each curve in its patch's own colour: "red" (patch 15) is drawn in its sRGB.
            let [r, g, b] = ecsp_color::colorimetry::colorimetry(
                chart.patches[14].spectrum.as_ref().unwrap(),
                true,
                ecsp_color::cie::Illuminant::D50,
                ecsp_color::cie::Observer::Cie1931TwoDegree,
            )
            .unwrap()
            .lab
            .to_srgb(ecsp_color::convert::Xyz {
                x: 96.422,
                y: 100.0,
                z: 82.521,
            });
            let red = format!("#{r:02X}{g:02X}{b:02X}");
            // The legend has its own column right of the plot, where no curve is drawn.
            let few = std::fs::read_to_string(p("spectra")).unwrap();
            for (name, _) in &curves {
                let at = few
                    .find(&format!("\n{name}\n</text>"))
                    .unwrap_or_else(|| panic!("{name} not in the legend"));
                let tag = &few[few[..at].rfind("<text").unwrap()..at];
                let x: f64 = tag
                    .split("x=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    x > 790.0,
                    "{name}'s legend entry at x = {x}, inside the plot"
                );
            }
            let all = std::fs::read_to_string(p("spectra_all")).unwrap();
            assert!(all.contains(&red), "no curve drawn in {red}");
            assert!(
                all.contains("(24 curves, no legend)"),
                "the title says every curve is drawn"
            );
            let ab = std::fs::read_to_string(p("ab")).unwrap();
            assert!(
                ab.contains("ΔE00 = 3"),
                "the contour is the tested formula's"
            );
            let trend = std::fs::read_to_string(p("trend")).unwrap();
            assert!(trend.contains("Measured (UTC)") && trend.contains("11-15 "));
            let dist = std::fs::read_to_string(p("distribution")).unwrap();
            assert!(
                dist.contains("distribution over 800 patches") && dist.contains("95th percentile")
            );
            let svg = std::fs::read_to_string(p("spectra")).unwrap();
            assert!(
                svg.contains("Wavelength (nm)")
                    && svg.contains("Reflectance factor")
                    && svg.contains("dark skin")
            );
            let ab = std::fs::read_to_string(p("ab")).unwrap();
            assert!(ab.contains("a* (CIELAB)") && ab.contains("b* (CIELAB)"));
        }
    }
    assert!(
        plot::spectra(&dir.path().join("x.jpg"), "x", &curves)
            .unwrap_err()
            .to_string()
            .contains(".svg or .png")
    );
    if let Ok(keep) = std::env::var("ECSP_KEEP_PLOTS") {
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), std::path::Path::new(&keep).join(f.file_name())).unwrap();
        }
    }
}

/// The in-memory SVG is the same document the file API writes, and names from user data are
/// escaped, so the document can be placed inline in an HTML page.
#[test]
fn plots_in_memory_are_the_files_documents_with_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let chart = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
    let hostile = "<script>alert(\"x\")</script> & 'co'";
    let curves: Vec<_> = chart
        .patches
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, p)| {
            let name = if i == 0 {
                hostile.to_owned()
            } else {
                p.name.clone().unwrap()
            };
            (name, p.spectrum.clone().unwrap())
        })
        .collect();
    let in_memory = plot::spectra_svg(&plot::Words::ENGLISH, hostile, &curves).unwrap();
    let file = dir.path().join("spectra.svg");
    plot::spectra(&file, hostile, &curves).unwrap();
    assert_eq!(in_memory, std::fs::read_to_string(&file).unwrap());
    assert!(in_memory.starts_with("<svg") && in_memory.trim_end().ends_with("</svg>"));
    assert!(!in_memory.contains("<script"), "a patch name became markup");
    assert!(
        in_memory
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;co&apos;"),
        "the name is shown, escaped"
    );

    let mut reference = ecsp_color::cgats::parse(&read("sharma_reference.cgats")).unwrap();
    reference.patches[0].id = "<b>".into();
    let mut sample = ecsp_color::cgats::parse(&read("sharma_sample.cgats")).unwrap();
    sample.patches[0].id = "<b>".into();
    let report = compare(
        &reference,
        &sample,
        &ToleranceSet::default_for(DeltaE::DE2000),
        CompareOptions {
            matching: ecsp_color::tolerance::Matching::Id,
            ..CompareOptions::default()
        },
    )
    .unwrap();
    for svg in [
        plot::ab_diagram_svg(&plot::Words::ENGLISH, &report, Some(3.0)).unwrap(),
        plot::delta_e_bars_svg(&plot::Words::ENGLISH, &report, Some(3.0)).unwrap(),
        plot::trend_svg(
            &plot::Words::ENGLISH,
            "<i>press</i>",
            "mean ΔE00",
            &[(1_700_000_000, 1.5)],
            Some(3.0),
        )
        .unwrap(),
    ] {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            !svg.contains("<b>") && !svg.contains("<i>"),
            "markup from names"
        );
    }
    let bars = plot::delta_e_bars_svg(&plot::Words::ENGLISH, &report, Some(3.0)).unwrap();
    assert!(bars.contains("&lt;b&gt;"), "the patch id labels its bar");
    let trend = plot::trend_svg(
        &plot::Words::ENGLISH,
        "t",
        "mean ΔE00",
        &[(1_700_000_000, 1.5)],
        Some(3.0),
    )
    .unwrap();
    assert!(
        trend.contains("mean ΔE00") && trend.contains("limit 3"),
        "the trend has a legend"
    );
    assert!(plot::trend_svg(&plot::Words::ENGLISH, "t", "m", &[], None).is_err());
}
