//! Plots a colour engineer reads: spectral reflectance curves, each in its patch's own colour; an
//! a*b* diagram with the reference, the samples and the tolerance contour of the ΔE formula being
//! tested; ΔE per patch against the limit, or for large charts the distribution of ΔE (histogram
//! and cumulative curve), which stays readable at 1,617 patches; and ΔE over dated measurements.
//! SVG or PNG, chosen by the file extension; axes carry quantities and units.
//!
//! Each plot also comes as an SVG document in memory (`*_svg`), for pages that embed it: the
//! same drawing code, so the portal and the CLI draw the same plot. Text in a plot (titles,
//! patch names from user data) is escaped by plotters' SVG backend (`<`, `>`, `&`, quotes), so
//! the document can be placed inline in HTML.

use std::path::Path;

use plotters::prelude::*;

use crate::cie::{Illuminant, Observer};
use crate::convert::{Lab, Xyz};
use crate::dataset::Dataset;
use crate::error::{ColorError, Result};
use crate::spectrum::Spectrum;
use crate::tolerance::ComparisonReport;

const WIDTH: u32 = 1000;
/// Light grid lines between two labelled ones: enough to read values off, and each is an
/// element of an SVG that pages embed (plotters' default, 10, made a third of its bytes).
const LIGHT_LINES: usize = 1;
const HEIGHT: u32 = 700;
const D50: Xyz = Xyz {
    x: 96.422,
    y: 100.0,
    z: 82.521,
};

fn err(e: impl std::fmt::Display) -> ColorError {
    ColorError::Plot(e.to_string())
}

/// Registers the bundled font once, so PNG text renders without system fonts.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            include_bytes!("../data/DejaVuSans.ttf"),
        );
    });
}

/// Where a plot is drawn: a file (SVG or PNG by its extension), or an SVG document in memory.
enum Target<'a> {
    File(&'a Path),
    Svg(&'a mut String),
}

/// Draws `$body` on the backend `$target` asks for, at `$size` (default [`WIDTH`]×[`HEIGHT`]).
macro_rules! on_backend {
    ($target:expr, |$root:ident| $body:block) => {
        on_backend!($target, (WIDTH, HEIGHT), |$root| $body)
    };
    ($target:expr, $size:expr, |$root:ident| $body:block) => {{
        register_font();
        match $target {
            Target::Svg(buffer) => {
                let $root = SVGBackend::with_string(buffer, $size).into_drawing_area();
                $body;
                $root.present().map_err(err)?;
                Ok(())
            }
            Target::File(path) => match path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("svg") => {
                    // Drawn as text first, so that a file is the same document a page embeds.
                    let mut document = String::new();
                    {
                        let $root =
                            SVGBackend::with_string(&mut document, $size).into_drawing_area();
                        $body;
                        $root.present().map_err(err)?;
                    }
                    std::fs::write(path, compact(&document))
                        .map_err(|e| ColorError::Plot(format!("{}: {e}", path.display())))?;
                    Ok(())
                }
                Some("png") => {
                    let $root = BitMapBackend::new(path, $size).into_drawing_area();
                    $body;
                    $root.present().map_err(err)?;
                    Ok(())
                }
                _ => Err(ColorError::Plot(format!(
                    "{}: the file name must end in .svg or .png",
                    path.display()
                ))),
            },
        }
    }};
}

/// The words a plot draws, so that a page in another language can embed it; the file API draws
/// [`Words::ENGLISH`]. Symbols and units (a*, b*, nm, ΔE00, UTC) are the same in every language.
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub wavelength_axis: &'static str,
    pub reflectance_axis: &'static str,
    /// After a count of curves in a title: "(72 curves, no legend)".
    pub curves_no_legend: &'static str,
    pub a_axis: &'static str,
    pub b_axis: &'static str,
    pub reference_in_its_colour: &'static str,
    pub sample: &'static str,
    /// After "ΔE00 = 3" in the a*b* legend.
    pub at_reference_lightness: &'static str,
    /// After a count of patches in the a*b* title.
    pub patches_no_contours: &'static str,
    /// After the ΔE name in the bars' title: "ΔE00 per patch".
    pub per_patch: &'static str,
    pub patch_axis: &'static str,
    pub limit: &'static str,
    /// Between the ΔE name and the count of patches in the distribution's title.
    pub distribution_over: &'static str,
    pub patches: &'static str,
    pub patches_per_bin_axis: &'static str,
    pub cumulative_share_axis: &'static str,
    pub cumulative_share: &'static str,
    pub mean: &'static str,
    pub percentile95: &'static str,
    pub measured_axis: &'static str,
    /// The grey band behind the spectra drawn: the range of every patch's spectrum.
    pub band_of_all: &'static str,
}

impl Words {
    pub const ENGLISH: Words = Words {
        wavelength_axis: "Wavelength (nm)",
        reflectance_axis: "Reflectance factor",
        curves_no_legend: "curves, no legend",
        a_axis: "a* (CIELAB)",
        b_axis: "b* (CIELAB)",
        reference_in_its_colour: "reference (its colour)",
        sample: "sample",
        at_reference_lightness: "(at the reference's L*)",
        patches_no_contours: "patches: no tolerance contours",
        per_patch: "per patch",
        patch_axis: "Patch",
        limit: "limit",
        distribution_over: "distribution over",
        patches: "patches",
        patches_per_bin_axis: "Patches per bin",
        cumulative_share_axis: "Cumulative share of patches (%)",
        cumulative_share: "cumulative share (right axis)",
        mean: "mean",
        percentile95: "95th percentile",
        measured_axis: "Measured (UTC)",
        band_of_all: "range of all patches",
    };

    /// The same words in Japanese, for the portal's and the phone apps' plots (symbols and
    /// units stay as they are). Legend entries are short: plotters sizes a legend's box with the
    /// bundled DejaVu Sans, which has no Japanese glyphs and so measures them narrower than the
    /// browser draws them.
    pub const JAPANESE: Words = Words {
        wavelength_axis: "波長 (nm)",
        reflectance_axis: "分光反射率",
        curves_no_legend: "本の曲線、凡例なし",
        a_axis: "a* (CIELAB)",
        b_axis: "b* (CIELAB)",
        reference_in_its_colour: "基準（その色）",
        sample: "この測定",
        at_reference_lightness: "（基準の L*）",
        patches_no_contours: "パッチ：許容範囲の輪郭なし",
        per_patch: "パッチごと",
        patch_axis: "パッチ",
        limit: "許容値",
        distribution_over: "の分布、パッチ数",
        patches: "",
        patches_per_bin_axis: "区間ごとのパッチ数",
        cumulative_share_axis: "累積パッチ割合 (%)",
        cumulative_share: "累積割合（右軸）",
        mean: "平均",
        percentile95: "95 パーセンタイル",
        measured_axis: "測定日時 (UTC)",
        band_of_all: "全パッチの範囲",
    };
}

/// Runs a drawing function on an in-memory SVG target and returns the document.
fn to_svg(draw: impl FnOnce(Target<'_>) -> Result<()>) -> Result<String> {
    let mut document = String::new();
    draw(Target::Svg(&mut document))?;
    Ok(compact(&document))
}

/// plotters' SVG without what SVG gives by default (`opacity="1"`, `stroke-width="1"`) and with
/// font sizes to a tenth of a pixel (`14.516129032258064`): a tenth of a page's plots, drawn
/// the same. A pass of our own: no crate minifies SVG text without parsing it into a tree.
fn compact(svg: &str) -> String {
    let svg = svg
        .replace(" opacity=\"1\"", "")
        .replace(" stroke-width=\"1\"", "");
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg.as_str();
    const SIZE: &str = "font-size=\"";
    while let Some(at) = rest.find(SIZE) {
        let (before, after) = rest.split_at(at + SIZE.len());
        out.push_str(before);
        let end = after.find('"').unwrap_or(after.len());
        match after[..end].parse::<f64>() {
            Ok(size) => {
                let tenth = format!("{size:.1}");
                out.push_str(tenth.strip_suffix(".0").unwrap_or(&tenth));
            }
            Err(_) => out.push_str(&after[..end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A legend entry, padded for the box plotters draws around the legend: plotters sizes the box
/// with the bundled Latin font, which has no CJK glyphs and measures each as about half of what
/// the page's font draws, so a Japanese label ran past the box. Trailing spaces widen the box
/// and are not drawn.
fn legend_label(text: impl Into<String>) -> String {
    let mut text = text.into();
    let wide = text
        .chars()
        .filter(|c| matches!(*c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFF60))
        .count();
    text.extend(std::iter::repeat_n(' ', (wide * 3).div_ceil(2)));
    text
}

/// `text` cut to at most `chars` characters, the cut marked with an ellipsis.
fn shortened(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    text.chars()
        .take(chars.saturating_sub(1))
        .chain(['…'])
        .collect()
}

/// A chart with a title, margins and label areas shared by every plot, on a white page.
fn frame<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<
    ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(err)?;
    let mut builder = ChartBuilder::on(root);
    // An empty title: the caller drew it over the whole page (the chart is part of it).
    if !title.is_empty() {
        builder.caption(title, ("sans-serif", 24));
    }
    builder
        .margin(20)
        // Room for the last x label, which is centred on the plot's right edge.
        .margin_right(45)
        .x_label_area_size(55)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(err)
}

fn palette(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(23, 190, 207),
        RGBColor(140, 86, 75),
        RGBColor(127, 127, 127),
    ];
    P[i % P.len()]
}

/// Most curves whose names are listed in a legend; beyond it the title says how many are drawn
/// and that there is no legend.
pub const LEGEND_LIMIT: usize = 16;
/// Width of the spectra plot's legend column, right of the plot.
const LEGEND_WIDTH: u32 = 210;

/// The spectra of the patches named (all when `ids` is empty), labelled by name or id; an
/// error names any patch that is not in the file or has no spectrum.
pub fn spectra_of(d: &Dataset, ids: &[String]) -> Result<Vec<(String, Spectrum)>> {
    let mut out = Vec::new();
    if ids.is_empty() {
        for p in &d.patches {
            if let Some(s) = &p.spectrum {
                out.push((p.name.clone().unwrap_or_else(|| p.id.clone()), s.clone()));
            }
        }
        if out.is_empty() {
            return Err(ColorError::Plot("the file has no spectra".into()));
        }
        return Ok(out);
    }
    let mut missing = Vec::new();
    for id in ids {
        match d
            .patches
            .iter()
            .find(|p| &p.id == id || p.name.as_ref() == Some(id))
        {
            Some(p) => match &p.spectrum {
                Some(s) => out.push((p.name.clone().unwrap_or_else(|| p.id.clone()), s.clone())),
                None => missing.push(format!("{id} (no spectrum)")),
            },
            None => missing.push(format!("{id} (not in the file)")),
        }
    }
    if !missing.is_empty() {
        return Err(ColorError::Plot(format!(
            "cannot draw patches {}",
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// The sRGB colour of a spectrum (D50, 2°), for drawing it in its own colour.
fn own_colour(s: &Spectrum) -> RGBColor {
    crate::colorimetry::colorimetry(s, true, Illuminant::D50, Observer::Cie1931TwoDegree)
        .map(|c| {
            let [r, g, b] = c.lab.to_srgb(D50);
            RGBColor(r, g, b)
        })
        .unwrap_or(RGBColor(90, 90, 90))
}

/// Spectral reflectance curves of named spectra, every one drawn in its own colour (with a
/// thin grey edge so that whites stay visible); a legend up to [`LEGEND_LIMIT`] curves.
pub fn spectra(path: &Path, title: &str, curves: &[(String, Spectrum)]) -> Result<()> {
    spectra_on(Target::File(path), &Words::ENGLISH, title, curves, None)
}

/// [`spectra`] as an SVG document, in `words`.
pub fn spectra_svg(words: &Words, title: &str, curves: &[(String, Spectrum)]) -> Result<String> {
    to_svg(|target| spectra_on(target, words, title, curves, None))
}

/// The range of a chart's spectra, band by band: drawn in grey behind the few spectra a plot of
/// a large chart shows, so that the plot says where every patch lies at a bounded size.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralBand {
    pub wavelengths: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
    /// How many spectra it spans.
    pub spectra: usize,
}

impl SpectralBand {
    /// The band of `spectra` on the first one's grid (others are left out); none without one.
    pub fn of<'a>(spectra: impl IntoIterator<Item = &'a Spectrum>) -> Option<Self> {
        let mut spectra = spectra.into_iter();
        let first = spectra.next()?;
        let grid = first.grid();
        let mut band = Self {
            wavelengths: grid.wavelengths().map(f64::from).collect(),
            low: first.values().to_vec(),
            high: first.values().to_vec(),
            spectra: 1,
        };
        for s in spectra.filter(|s| s.grid() == grid) {
            for (i, v) in s.values().iter().enumerate() {
                band.low[i] = band.low[i].min(*v);
                band.high[i] = band.high[i].max(*v);
            }
            band.spectra += 1;
        }
        Some(band)
    }
}

/// [`spectra_svg`] with the `band` of all the chart's spectra behind the curves drawn.
pub fn spectra_band_svg(
    words: &Words,
    title: &str,
    curves: &[(String, Spectrum)],
    band: Option<&SpectralBand>,
) -> Result<String> {
    to_svg(|target| spectra_on(target, words, title, curves, band))
}

fn spectra_on(
    target: Target<'_>,
    words: &Words,
    title: &str,
    curves: &[(String, Spectrum)],
    band: Option<&SpectralBand>,
) -> Result<()> {
    if curves.is_empty() {
        return Err(ColorError::Plot("no spectra to plot".into()));
    }
    let title = if curves.len() > LEGEND_LIMIT {
        let short: String = if title.chars().count() > 60 {
            title.chars().take(59).chain(['…']).collect()
        } else {
            title.to_owned()
        };
        format!("{short} ({} {})", curves.len(), words.curves_no_legend)
    } else {
        title.to_owned()
    };
    let title = title.as_str();
    let lo = curves
        .iter()
        .map(|(_, s)| s.grid().start_nm)
        .min()
        .unwrap_or(380);
    let hi = curves
        .iter()
        .map(|(_, s)| s.grid().end_nm())
        .max()
        .unwrap_or(730);
    let (lo, hi) = match band {
        Some(b) => (
            lo.min(b.wavelengths.first().map_or(lo, |w| *w as u32)),
            hi.max(b.wavelengths.last().map_or(hi, |w| *w as u32)),
        ),
        None => (lo, hi),
    };
    let top = curves
        .iter()
        .flat_map(|(_, s)| s.values().iter().copied())
        .chain(band.iter().flat_map(|b| b.high.iter().copied()))
        .fold(1.0f64, f64::max)
        .max(1.0)
        * 1.05;
    let band_colour = RGBColor(190, 190, 190).mix(0.5);
    let legend = curves.len() <= LEGEND_LIMIT;
    on_backend!(target, |root| {
        // The legend has a column of its own right of the plot: reflectance curves fill the
        // whole plot area, so a legend inside it hides some of them.
        let (plot_area, title) = if legend {
            root.fill(&WHITE).map_err(err)?;
            let body = root.titled(title, ("sans-serif", 24)).map_err(err)?;
            let (plot_area, legend_area) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
            for (i, (name, s)) in curves.iter().enumerate() {
                let y = 40 + 26 * i32::try_from(i).unwrap_or(0);
                legend_area
                    .draw(&Rectangle::new(
                        [(0, y - 7), (24, y + 7)],
                        RGBColor(120, 120, 120).filled(),
                    ))
                    .map_err(err)?;
                legend_area
                    .draw(&Rectangle::new(
                        [(1, y - 6), (23, y + 6)],
                        own_colour(s).filled(),
                    ))
                    .map_err(err)?;
                legend_area
                    .draw(&Text::new(
                        shortened(name, 20),
                        (32, y - 8),
                        ("sans-serif", 16),
                    ))
                    .map_err(err)?;
            }
            if let Some(b) = band {
                let y = 40 + 26 * i32::try_from(curves.len()).unwrap_or(0);
                legend_area
                    .draw(&Rectangle::new(
                        [(0, y - 7), (24, y + 7)],
                        band_colour.filled(),
                    ))
                    .map_err(err)?;
                legend_area
                    .draw(&Text::new(
                        format!("{} ({})", words.band_of_all, b.spectra),
                        (32, y - 8),
                        ("sans-serif", 16),
                    ))
                    .map_err(err)?;
            }
            (plot_area, "")
        } else {
            (root.clone(), title)
        };
        let mut chart = frame(&plot_area, title, f64::from(lo)..f64::from(hi), 0.0..top)?;
        chart
            .configure_mesh()
            .max_light_lines(LIGHT_LINES)
            .x_desc(words.wavelength_axis)
            .y_desc(words.reflectance_axis)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        if let Some(b) = band {
            let outline: Vec<(f64, f64)> = b
                .wavelengths
                .iter()
                .copied()
                .zip(b.high.iter().copied())
                .chain(
                    b.wavelengths
                        .iter()
                        .copied()
                        .zip(b.low.iter().copied())
                        .rev(),
                )
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, band_colour.filled())))
                .map_err(err)?;
        }
        let width = if curves.len() > 200 { 1 } else { 2 };
        for (_, s) in curves {
            let color = own_colour(s);
            let pts: Vec<(f64, f64)> = s
                .grid()
                .wavelengths()
                .map(f64::from)
                .zip(s.values().iter().copied())
                .collect();
            // A grey edge where the patch's own colour would vanish on white.
            let RGBColor(r, g, b) = color;
            if 0.2126 * f64::from(r) + 0.7152 * f64::from(g) + 0.0722 * f64::from(b) > 200.0 {
                chart
                    .draw_series(LineSeries::new(
                        pts.clone(),
                        RGBColor(120, 120, 120).mix(0.6).stroke_width(width + 2),
                    ))
                    .map_err(err)?;
            }
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(width)))
                .map_err(err)?;
        }
    })
}

/// The points of the a*b* contour where `formula` gives `limit` around `reference`, at the
/// reference's L*: found along 36 directions, every 10°, which draws even the narrow ΔE00
/// ellipses of blues smoothly at plot size. Along a ray ΔE grows with distance, smoothly and
/// nearly in proportion, so the distance where it reaches `limit` is bracketed (doubling) and
/// then found by false position with the Illinois modification: a handful of ΔE evaluations
/// per direction to 1e-9 of the limit, where bisection took over forty (the contours were a
/// quarter of a measurement page's time).
pub fn tolerance_contour(
    formula: crate::delta_e::DeltaE,
    reference: Lab,
    limit: f64,
) -> Vec<(f64, f64)> {
    (0..=36)
        .map(|k| {
            let t = f64::from(k) * std::f64::consts::TAU / 36.0;
            let (cos, sin) = (t.cos(), t.sin());
            let at = |r: f64| Lab {
                l: reference.l,
                a: reference.a + r * cos,
                b: reference.b + r * sin,
            };
            let excess = |r: f64| formula.between(reference, at(r)) - limit;
            let p = at(ray_root(excess, limit));
            (p.a, p.b)
        })
        .collect()
}

/// The distance along a ray where `excess` (ΔE minus the limit, increasing with distance,
/// `-limit` at 0) crosses zero; 1000 if it never does before.
fn ray_root(excess: impl Fn(f64) -> f64, limit: f64) -> f64 {
    let mut hi = limit.max(0.1);
    let mut f_hi = excess(hi);
    while f_hi < 0.0 && hi < 1000.0 {
        hi *= 2.0;
        f_hi = excess(hi);
    }
    if f_hi < 0.0 {
        return hi;
    }
    let (mut lo, mut f_lo) = (0.0, excess(0.0));
    let tolerance = 1e-9 * limit.abs().max(1e-3);
    // Which end moved last: the Illinois step halves the other end's value when one end keeps
    // moving, so that the bracket closes from both sides.
    let mut last = 0i8;
    for _ in 0..100 {
        let r = if f_hi > f_lo {
            (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        } else {
            (lo + hi) / 2.0
        };
        let f = excess(r);
        if f.abs() <= tolerance || hi - lo <= 1e-12 {
            return r;
        }
        if f < 0.0 {
            (lo, f_lo) = (r, f);
            if last == -1 {
                f_hi /= 2.0;
            }
            last = -1;
        } else {
            (hi, f_hi) = (r, f);
            if last == 1 {
                f_lo /= 2.0;
            }
            last = 1;
        }
    }
    (lo + hi) / 2.0
}

/// Above this many patches the a*b* diagram leaves out the tolerance contours (and says so).
pub const CONTOUR_LIMIT: usize = 400;

/// The a*b* plane: each reference patch (its own colour, square), its sample (circle) joined
/// to it, and around the reference the contour where the report's ΔE formula reaches `radius`
/// (a circle for ΔE*ab, an ellipse-like shape for ΔE00, ΔE94 and CMC).
pub fn ab_diagram(path: &Path, report: &ComparisonReport, radius: Option<f64>) -> Result<()> {
    ab_diagram_on(Target::File(path), &Words::ENGLISH, report, radius)
}

/// [`ab_diagram`] as an SVG document, in `words`.
pub fn ab_diagram_svg(
    words: &Words,
    report: &ComparisonReport,
    radius: Option<f64>,
) -> Result<String> {
    to_svg(|target| ab_diagram_on(target, words, report, radius))
}

fn ab_diagram_on(
    target: Target<'_>,
    words: &Words,
    report: &ComparisonReport,
    radius: Option<f64>,
) -> Result<()> {
    // The contours first: the plot's extent includes them, so none is cut at the edge.
    let contours: Vec<Vec<(f64, f64)>> = match radius {
        Some(r) if report.patches.len() <= CONTOUR_LIMIT => report
            .patches
            .iter()
            .map(|p| tolerance_contour(report.formula, p.reference, r))
            .collect(),
        _ => Vec::new(),
    };
    let extent = report
        .patches
        .iter()
        .flat_map(|p| {
            [
                p.reference.a.abs(),
                p.reference.b.abs(),
                p.sample.a.abs(),
                p.sample.b.abs(),
            ]
        })
        .chain(
            contours
                .iter()
                .flatten()
                .flat_map(|(a, b)| [a.abs(), b.abs()]),
        )
        .fold(10.0f64, f64::max)
        * 1.1;
    // Square plotting area (70 px of y labels, 55 px of x labels, caption) so circles stay round.
    on_backend!(target, (860, 880), |root| {
        let mut chart = frame(
            &root,
            &format!(
                "a*b* — {} ({}/{}){}",
                report.tolerance_set,
                report.illuminant,
                report.observer,
                if radius.is_some() && report.patches.len() > CONTOUR_LIMIT {
                    format!(", {} {}", report.patches.len(), words.patches_no_contours)
                } else {
                    String::new()
                }
            ),
            -extent..extent,
            -extent..extent,
        )?;
        chart
            .configure_mesh()
            .max_light_lines(LIGHT_LINES)
            .x_desc(words.a_axis)
            .y_desc(words.b_axis)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                [
                    LineSeries::new(vec![(-extent, 0.0), (extent, 0.0)], BLACK.mix(0.3)),
                    LineSeries::new(vec![(0.0, -extent), (0.0, extent)], BLACK.mix(0.3)),
                ]
                .into_iter()
                .flatten(),
            )
            .map_err(err)?;
        for contour in &contours {
            chart
                .draw_series(LineSeries::new(contour.iter().copied(), BLACK.mix(0.35)))
                .map_err(err)?;
        }
        for p in &report.patches {
            let [r, g, b] = p.reference.to_srgb(D50);
            let fill = RGBColor(r, g, b);
            chart
                .draw_series(LineSeries::new(
                    vec![(p.reference.a, p.reference.b), (p.sample.a, p.sample.b)],
                    BLACK.mix(0.6),
                ))
                .map_err(err)?;
            chart
                .draw_series([Rectangle::new(
                    [
                        (
                            p.reference.a - extent * 0.012,
                            p.reference.b - extent * 0.012,
                        ),
                        (
                            p.reference.a + extent * 0.012,
                            p.reference.b + extent * 0.012,
                        ),
                    ],
                    ShapeStyle::from(&fill).filled(),
                )])
                .map_err(err)?;
            chart
                .draw_series([Circle::new(
                    (p.sample.a, p.sample.b),
                    5,
                    BLACK.stroke_width(1),
                )])
                .map_err(err)?;
        }
        // Legend entries: empty series that only carry the labels.
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(err)?
            .label(legend_label(words.reference_in_its_colour))
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(90, 90, 90).filled())
            });
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(legend_label(words.sample))
            .legend(|(x, y)| Circle::new((x + 5, y), 5, BLACK.stroke_width(1)));
        if let Some(r) = radius.filter(|_| report.patches.len() <= CONTOUR_LIMIT) {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label(legend_label(format!(
                    "{} = {r} {}",
                    report.method, words.at_reference_lightness
                )))
                .legend(|(x, y)| Circle::new((x + 5, y), 7, BLACK.mix(0.35)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 15))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(err)?;
    })
}

/// Above this many patches, [`delta_e_bars`] draws the distribution instead of one bar each.
pub const BARS_LIMIT: usize = 100;

/// ΔE per patch as bars, coloured by pass/fail against `limit`; for charts of more than
/// [`BARS_LIMIT`] patches the distribution ([`delta_e_distribution`]), which stays readable.
pub fn delta_e_bars(path: &Path, report: &ComparisonReport, limit: Option<f64>) -> Result<()> {
    delta_e_bars_on(Target::File(path), &Words::ENGLISH, report, limit)
}

/// [`delta_e_bars`] as an SVG document, in `words`.
pub fn delta_e_bars_svg(
    words: &Words,
    report: &ComparisonReport,
    limit: Option<f64>,
) -> Result<String> {
    to_svg(|target| delta_e_bars_on(target, words, report, limit))
}

fn delta_e_bars_on(
    target: Target<'_>,
    words: &Words,
    report: &ComparisonReport,
    limit: Option<f64>,
) -> Result<()> {
    let n = report.patches.len();
    if n > BARS_LIMIT {
        return delta_e_distribution_on(target, words, report, limit);
    }
    let top = report.max.max(limit.unwrap_or(0.0)).max(1.0) * 1.15;
    on_backend!(target, |root| {
        let mut chart = frame(
            &root,
            &format!(
                "{} {} — {}",
                report.method, words.per_patch, report.tolerance_set
            ),
            -0.5..n as f64 - 0.5,
            0.0..top,
        )?;
        chart
            .configure_mesh()
            .max_light_lines(LIGHT_LINES)
            .disable_x_mesh()
            .x_desc(words.patch_axis)
            .y_desc(report.method.as_str())
            .x_labels(n.min(20))
            .x_label_formatter(&|x| {
                // Bars are centred on whole numbers; label only those, shortened to the room a
                // bar has (about 7.5 px a character at 14 px) so that names never overlap.
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                let room = (f64::from(WIDTH - 110) / n.min(20) as f64 / 7.5) as usize;
                report
                    .patches
                    .get(i as usize)
                    .map_or(String::new(), |p| shortened(&p.id, room.max(3)))
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(report.patches.iter().enumerate().map(|(i, p)| {
                let over = limit.is_some_and(|l| p.delta_e > l);
                let color = if over {
                    RGBColor(214, 39, 40)
                } else {
                    RGBColor(44, 160, 44)
                };
                Rectangle::new(
                    [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, p.delta_e)],
                    color.filled(),
                )
            }))
            .map_err(err)?;
        if let Some(l) = limit {
            chart
                .draw_series(LineSeries::new(
                    vec![(-0.5, l), (n as f64 - 0.5, l)],
                    BLACK.stroke_width(2),
                ))
                .map_err(err)?
                .label(legend_label(format!("{} {l}", words.limit)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 16))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(err)?;
        }
    })
}

/// The distribution of ΔE over the patches: a histogram (bars of 0.5 ΔE, or wider for large
/// differences; patch counts on the left axis) and the cumulative share of patches (right axis),
/// with the limit, the mean and the 95th percentile marked.
pub fn delta_e_distribution(
    path: &Path,
    report: &ComparisonReport,
    limit: Option<f64>,
) -> Result<()> {
    delta_e_distribution_on(Target::File(path), &Words::ENGLISH, report, limit)
}

fn delta_e_distribution_on(
    target: Target<'_>,
    words: &Words,
    report: &ComparisonReport,
    limit: Option<f64>,
) -> Result<()> {
    let n = report.patches.len();
    if n == 0 {
        return Err(ColorError::Plot("no patches to plot".into()));
    }
    let top_de = report.max.max(limit.unwrap_or(0.0)).max(1.0) * 1.05;
    let bin = [0.25, 0.5, 1.0, 2.0, 5.0]
        .into_iter()
        .find(|b| top_de / b <= 60.0)
        .unwrap_or(10.0);
    let bins = (top_de / bin).ceil() as usize;
    let mut counts = vec![0usize; bins.max(1)];
    for p in &report.patches {
        let k = ((p.delta_e / bin) as usize).min(counts.len() - 1);
        counts[k] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut sorted: Vec<f64> = report.patches.iter().map(|p| p.delta_e).collect();
    sorted.sort_by(f64::total_cmp);
    on_backend!(target, |root| {
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} {} {n} {} — {}",
                    report.method, words.distribution_over, words.patches, report.tolerance_set
                ),
                ("sans-serif", 24),
            )
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..bins as f64 * bin, 0.0..most)
            .map_err(err)?
            .set_secondary_coord(0.0..bins as f64 * bin, 0.0..100.0);
        chart
            .configure_mesh()
            .max_light_lines(LIGHT_LINES)
            .x_desc(report.method.as_str())
            .y_desc(words.patches_per_bin_axis)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        chart
            .configure_secondary_axes()
            .y_desc(words.cumulative_share_axis)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(k, c)| {
                let x0 = k as f64 * bin;
                let over = limit.is_some_and(|l| x0 >= l);
                let color = if over {
                    RGBColor(214, 39, 40)
                } else {
                    RGBColor(44, 160, 44)
                };
                Rectangle::new([(x0, 0.0), (x0 + bin * 0.9, *c as f64)], color.filled())
            }))
            .map_err(err)?;
        let cumulative: Vec<(f64, f64)> = sorted
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, (i + 1) as f64 * 100.0 / n as f64))
            .collect();
        chart
            .draw_secondary_series(LineSeries::new(cumulative, BLACK.stroke_width(2)))
            .map_err(err)?
            .label(legend_label(words.cumulative_share))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
        let marks = [
            (limit, RGBColor(214, 39, 40), words.limit),
            (Some(report.mean), palette(0), words.mean),
            (Some(report.percentile95), palette(4), words.percentile95),
        ];
        for (value, color, what) in marks {
            if let Some(v) = value {
                chart
                    .draw_series(LineSeries::new(
                        vec![(v, 0.0), (v, most)],
                        color.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(legend_label(format!("{what} {v:.2}")))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .label_font(("sans-serif", 16))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(err)?;
    })
}

/// ΔE over time for a series of measurements (seconds since the epoch, ΔE), with the limit.
pub fn trend(
    path: &Path,
    title: &str,
    method: &str,
    points: &[(i64, f64)],
    limit: Option<f64>,
) -> Result<()> {
    trend_on(
        Target::File(path),
        &Words::ENGLISH,
        title,
        method,
        points,
        limit,
    )
}

/// [`trend`] as an SVG document, in `words`.
pub fn trend_svg(
    words: &Words,
    title: &str,
    method: &str,
    points: &[(i64, f64)],
    limit: Option<f64>,
) -> Result<String> {
    to_svg(|target| trend_on(target, words, title, method, points, limit))
}

fn trend_on(
    target: Target<'_>,
    words: &Words,
    title: &str,
    method: &str,
    points: &[(i64, f64)],
    limit: Option<f64>,
) -> Result<()> {
    if points.is_empty() {
        return Err(ColorError::Plot("no measurements to plot".into()));
    }
    let t0 = points.iter().map(|p| p.0).min().unwrap_or(0);
    let t1 = points
        .iter()
        .map(|p| p.0)
        .max()
        .unwrap_or(t0 + 1)
        .max(t0 + 1);
    let days = |t: i64| (t - t0) as f64 / 86_400.0;
    let span = days(t1).max(1.0 / 24.0);
    let top = points
        .iter()
        .map(|p| p.1)
        .fold(limit.unwrap_or(1.0), f64::max)
        * 1.15;
    let date = move |x: &f64| {
        let t = t0 + (x * 86_400.0).round() as i64;
        chrono::DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| {
            if span < 3.0 {
                d.format("%m-%d %H:%M").to_string()
            } else {
                d.format("%Y-%m-%d").to_string()
            }
        })
    };
    on_backend!(target, |root| {
        let mut chart = frame(&root, title, -span * 0.03..span * 1.03, 0.0..top)?;
        chart
            .configure_mesh()
            .max_light_lines(LIGHT_LINES)
            .x_desc(words.measured_axis)
            .y_desc(method)
            .x_labels(6)
            .x_label_formatter(&date)
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        let pts: Vec<(f64, f64)> = points.iter().map(|(t, v)| (days(*t), *v)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), palette(0).stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, palette(0).filled())))
            .map_err(err)?
            .label(legend_label(method))
            .legend(|(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (20, 0)], palette(0).stroke_width(2))
                    + Circle::new((10, 0), 4, palette(0).filled())
            });
        if let Some(l) = limit {
            chart
                .draw_series(LineSeries::new(
                    vec![(-span * 0.03, l), (span * 1.03, l)],
                    RGBColor(214, 39, 40).stroke_width(2),
                ))
                .map_err(err)?
                .label(legend_label(format!("{} {l}", words.limit)))
                .legend(|(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 20, y)],
                        RGBColor(214, 39, 40).stroke_width(2),
                    )
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(err)?;
    })
}

/// Size of [`bars_svg`]'s charts: wide and low, for a dashboard.
const BARS_SIZE: (u32, u32) = (1000, 320);

/// A plain bar chart as an SVG document: one bar per label, `x_desc` and `y_desc` on the axes.
/// Not a colour plot: the portal's production dashboard draws with it so that every chart of
/// the portal comes from one drawing library, font and frame.
pub fn bars_svg(x_desc: &str, y_desc: &str, labels: &[String], values: &[f64]) -> Result<String> {
    to_svg(|target| {
        let n = labels.len().max(1);
        let top = values.iter().copied().fold(0.0_f64, f64::max).max(1.0) * 1.15;
        let counts = values.iter().all(|v| (v - v.round()).abs() < 1e-9);
        on_backend!(target, BARS_SIZE, |root| {
            let mut chart = frame(&root, "", -0.5..n as f64 - 0.5, 0.0..top)?;
            // Label at most every other bar of a long series, so that labels never overlap.
            let step = n.div_ceil(16);
            chart
                .configure_mesh()
                .max_light_lines(LIGHT_LINES)
                .disable_x_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_labels(n)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() > 1e-6 || i < 0.0 || (i as usize) % step != 0 {
                        return String::new();
                    }
                    labels.get(i as usize).cloned().unwrap_or_default()
                })
                // Counts (printers, jobs) get whole-number ticks only.
                .y_label_formatter(&|y| {
                    if !counts {
                        format!("{y}")
                    } else if (y - y.round()).abs() < 1e-9 {
                        format!("{y:.0}")
                    } else {
                        String::new()
                    }
                })
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(values.iter().enumerate().map(|(i, v)| {
                    Rectangle::new(
                        [(i as f64 - 0.4, 0.0), (i as f64 + 0.4, v.max(0.0))],
                        palette(0).filled(),
                    )
                }))
                .map_err(err)?;
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_legend_labels_get_room_latin_ones_do_not() {
        assert_eq!(legend_label("limit 3"), "limit 3");
        let ja = legend_label("許容値 3");
        assert!(ja.starts_with("許容値 3"));
        assert_eq!(ja.len() - "許容値 3".len(), 5, "{ja:?}");
        assert_eq!(legend_label("ΔE00 = 3"), "ΔE00 = 3");
    }

    /// The contour by plain bisection (forty halvings), as it was found before.
    fn bisected(formula: crate::delta_e::DeltaE, reference: Lab, limit: f64) -> Vec<(f64, f64)> {
        (0..=36)
            .map(|k| {
                let t = f64::from(k) * std::f64::consts::TAU / 36.0;
                let at = |r: f64| Lab {
                    l: reference.l,
                    a: reference.a + r * t.cos(),
                    b: reference.b + r * t.sin(),
                };
                let mut hi = limit.max(0.1);
                while formula.between(reference, at(hi)) < limit && hi < 1000.0 {
                    hi *= 2.0;
                }
                let mut lo = 0.0;
                for _ in 0..40 {
                    let mid = (lo + hi) / 2.0;
                    if formula.between(reference, at(mid)) < limit {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let p = at((lo + hi) / 2.0);
                (p.a, p.b)
            })
            .collect()
    }

    #[test]
    fn contours_lie_on_the_limit_and_match_bisection() {
        use crate::delta_e::DeltaE;
        let references = [
            Lab {
                l: 50.0,
                a: 0.0,
                b: 0.0,
            },
            Lab {
                l: 30.0,
                a: 20.0,
                b: -60.0,
            },
            Lab {
                l: 55.1,
                a: -37.2,
                b: -50.4,
            },
            Lab {
                l: 89.0,
                a: -5.0,
                b: 93.0,
            },
            Lab {
                l: 48.0,
                a: 74.0,
                b: -3.0,
            },
            Lab {
                l: 95.0,
                a: 0.5,
                b: -2.0,
            },
        ];
        let formulas = [
            DeltaE::DE2000,
            DeltaE::De76,
            DeltaE::De94GraphicArts,
            DeltaE::Cmc { l: 2.0, c: 1.0 },
        ];
        for formula in formulas {
            for reference in references {
                for limit in [0.5, 2.0, 5.0] {
                    let fast = tolerance_contour(formula, reference, limit);
                    let slow = bisected(formula, reference, limit);
                    assert_eq!(fast.len(), 37);
                    for (&(a, b), &(sa, sb)) in fast.iter().zip(&slow) {
                        let de = formula.between(
                            reference,
                            Lab {
                                l: reference.l,
                                a,
                                b,
                            },
                        );
                        assert!(
                            (de - limit).abs() < 1e-8 * limit,
                            "{formula:?} {reference:?}: {de} vs {limit}"
                        );
                        assert!(
                            (a - sa).abs() < 1e-6 && (b - sb).abs() < 1e-6,
                            "{formula:?} {reference:?} {limit}: ({a}, {b}) vs ({sa}, {sb})"
                        );
                    }
                }
            }
        }
    }
}
