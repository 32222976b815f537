//! Plots a colour engineer reads: spectral reflectance curves, an a*b* diagram with the
//! reference, the samples and the tolerance circles, ΔE per patch against the limit, and ΔE
//! over time. SVG or PNG, chosen by the file extension; axes carry quantities and units.

use std::path::Path;

use plotters::prelude::*;

use crate::convert::Xyz;
use crate::error::{ColorError, Result};
use crate::spectrum::Spectrum;
use crate::tolerance::ComparisonReport;

const WIDTH: u32 = 1000;
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

macro_rules! on_backend {
    ($path:expr, |$root:ident| $body:block) => {
        on_backend!($path, (WIDTH, HEIGHT), |$root| $body)
    };
    ($path:expr, $size:expr, |$root:ident| $body:block) => {{
        register_font();
        let path: &Path = $path;
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => {
                let $root = SVGBackend::new(path, $size).into_drawing_area();
                $body;
                $root.present().map_err(err)?;
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
        }
    }};
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
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
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

/// Spectral reflectance curves of named spectra.
pub fn spectra(path: &Path, title: &str, curves: &[(String, Spectrum)]) -> Result<()> {
    if curves.is_empty() {
        return Err(ColorError::Plot("no spectra to plot".into()));
    }
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
    let top = curves
        .iter()
        .flat_map(|(_, s)| s.values().iter().copied())
        .fold(1.0f64, f64::max)
        .max(1.0)
        * 1.05;
    on_backend!(path, |root| {
        let mut chart = frame(&root, title, f64::from(lo)..f64::from(hi), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("Wavelength (nm)")
            .y_desc("Reflectance factor")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        for (i, (name, s)) in curves.iter().enumerate() {
            let color = palette(i);
            let pts: Vec<(f64, f64)> = s
                .grid()
                .wavelengths()
                .map(f64::from)
                .zip(s.values().iter().copied())
                .collect();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 16))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(err)?;
    })
}

/// The a*b* plane: each reference patch (its own colour, square), its sample (circle) joined
/// to it, and the tolerance circle of radius `radius` ΔE*ab around the reference.
pub fn ab_diagram(path: &Path, report: &ComparisonReport, radius: Option<f64>) -> Result<()> {
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
        .fold(10.0f64, f64::max)
        * 1.1;
    // Square plotting area (70 px of y labels, 55 px of x labels, caption) so circles stay round.
    on_backend!(path, (835, 880), |root| {
        let mut chart = frame(
            &root,
            &format!(
                "a*b* — {} ({}/{})",
                report.tolerance_set, report.illuminant, report.observer
            ),
            -extent..extent,
            -extent..extent,
        )?;
        chart
            .configure_mesh()
            .x_desc("a* (CIELAB)")
            .y_desc("b* (CIELAB)")
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
        for p in &report.patches {
            let [r, g, b] = p.reference.to_srgb(D50);
            let fill = RGBColor(r, g, b);
            if let Some(radius) = radius {
                let circle: Vec<(f64, f64)> = (0..=72)
                    .map(|k| {
                        let t = f64::from(k) * std::f64::consts::TAU / 72.0;
                        (
                            p.reference.a + radius * t.cos(),
                            p.reference.b + radius * t.sin(),
                        )
                    })
                    .collect();
                chart
                    .draw_series(LineSeries::new(circle, BLACK.mix(0.35)))
                    .map_err(err)?;
            }
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
            .label("reference (its colour)")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], RGBColor(90, 90, 90).filled())
            });
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label("sample")
            .legend(|(x, y)| Circle::new((x + 5, y), 5, BLACK.stroke_width(1)));
        if let Some(r) = radius {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label(format!("tolerance circle, {r} ΔE*ab"))
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

/// ΔE per patch as bars, coloured by pass/fail against `limit`.
pub fn delta_e_bars(path: &Path, report: &ComparisonReport, limit: Option<f64>) -> Result<()> {
    let n = report.patches.len();
    let top = report.max.max(limit.unwrap_or(0.0)).max(1.0) * 1.15;
    on_backend!(path, |root| {
        let mut chart = frame(
            &root,
            &format!("{} per patch — {}", report.method, report.tolerance_set),
            -0.5..n as f64 - 0.5,
            0.0..top,
        )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("Patch")
            .y_desc(report.method.as_str())
            .x_labels(n.min(20))
            .x_label_formatter(&|x| {
                // Bars are centred on whole numbers; label only those.
                let i = x.round();
                if (x - i).abs() > 1e-6 || i < 0.0 {
                    return String::new();
                }
                report
                    .patches
                    .get(i as usize)
                    .map_or(String::new(), |p| p.id.clone())
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
                .label(format!("limit {l}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .label_font(("sans-serif", 16))
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(err)?;
        }
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
    let hours = |t: i64| (t - t0) as f64 / 3600.0;
    let top = points
        .iter()
        .map(|p| p.1)
        .fold(limit.unwrap_or(1.0), f64::max)
        * 1.15;
    on_backend!(path, |root| {
        let mut chart = frame(&root, title, 0.0..hours(t1), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("Time since first measurement (h)")
            .y_desc(method)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .draw()
            .map_err(err)?;
        let pts: Vec<(f64, f64)> = points.iter().map(|(t, v)| (hours(*t), *v)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), palette(0).stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, palette(0).filled())))
            .map_err(err)?;
        if let Some(l) = limit {
            chart
                .draw_series(LineSeries::new(
                    vec![(0.0, l), (hours(t1), l)],
                    RGBColor(214, 39, 40).stroke_width(2),
                ))
                .map_err(err)?;
        }
    })
}
