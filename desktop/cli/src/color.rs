//! `ecsp color …`: colorimetry on CGATS and CxF files, offline (no server needed).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::dataset::Dataset;
use ecsp_color::delta_e::DeltaE;
use ecsp_color::density::{DensityStatus, PaperChoice, chart_densities};
use ecsp_color::spectrum::IlluminationCondition;
use ecsp_color::tolerance::{CompareOptions, Matching, ToleranceSet, compare};
use ecsp_color::{cgats, plot};

#[derive(Debug, Subcommand)]
pub enum ColorCommand {
    /// CGATS or CxF in; CGATS out with XYZ and LAB columns computed from the spectra.
    Convert {
        /// The chart file (CGATS or CxF).
        input: PathBuf,
        /// Default: the file's own illuminant, else D50.
        #[arg(long, value_parser = parse_illuminant)]
        illuminant: Option<Illuminant>,
        /// 2 or 10; default: the file's own observer, else 2.
        #[arg(long, value_parser = parse_observer)]
        observer: Option<Observer>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Per-patch ΔE of a sample against a reference, and the pass/fail report.
    /// Exit status 5 when a normative criterion fails.
    Compare(CompareArgs),
    /// ISO 5-3 densities of every patch with a spectrum, absolute or relative to a paper patch.
    Density {
        /// The chart file (CGATS or CxF).
        input: PathBuf,
        /// T (North America) or E (Europe).
        #[arg(long, default_value = "T", value_parser = parse_status)]
        status: DensityStatus,
        /// The id of the paper-white patch for paper-relative densities, or `auto` to find it
        /// by its device values (CMYK 0, RGB at maximum).
        #[arg(long)]
        paper: Option<String>,
    },
    /// Plots: spectra of a file, or a comparison (a*b* diagram, ΔE per patch), or ΔE over time.
    Plot {
        #[command(subcommand)]
        what: PlotWhat,
    },
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference chart (CGATS or CxF): the aim values.
    #[arg(long)]
    reference: PathBuf,
    /// The measured print (CGATS or CxF).
    #[arg(long)]
    sample: PathBuf,
    /// de2000, de94, de94t, cmc (2:1), cmc11 or de76; overrides the tolerance file's.
    #[arg(long, value_parser = parse_method)]
    method: Option<DeltaE>,
    /// A tolerance set (JSON); without one: mean ≤ 3 and 95th percentile ≤ 6 normative.
    #[arg(long)]
    tolerance: Option<PathBuf>,
    /// Compare readings taken under different measurement conditions anyway (reported).
    #[arg(long)]
    allow_mixed_conditions: bool,
    /// How to pair patches: auto (device values when both files carry them, else id), device,
    /// id, or position (only charts of equal size).
    #[arg(long = "match", default_value = "auto", value_parser = parse_matching)]
    matching: Matching,
    /// Judge under this illuminant instead of the tolerance set's or the reference file's own
    /// (a difference from a file's declaration is reported).
    #[arg(long, value_parser = parse_illuminant)]
    illuminant: Option<Illuminant>,
    /// 2 or 10, instead of the tolerance set's or the reference file's own.
    #[arg(long, value_parser = parse_observer)]
    observer: Option<Observer>,
    /// M0, M1, M2 or M3: the readings to use from CxF files that carry several; a file
    /// measured under another condition is refused.
    #[arg(long, value_parser = parse_condition)]
    condition: Option<IlluminationCondition>,
}

#[derive(Debug, Subcommand)]
pub enum PlotWhat {
    /// Spectral reflectance curves (all patches, or those named).
    Spectra {
        /// The chart file (CGATS or CxF).
        input: PathBuf,
        /// The plot to write (SVG or PNG, by extension).
        #[arg(long)]
        out: PathBuf,
        /// Patch ids or names to draw (comma-separated); all when absent. Every one is drawn in
        /// its own colour; the legend lists up to 16.
        #[arg(long, value_delimiter = ',')]
        patches: Vec<String>,
    },
    /// a*b* diagram with the tolerance contour of the ΔE formula, and ΔE per patch (or its
    /// distribution above 100 patches).
    Compare {
        #[command(flatten)]
        args: CompareArgs,
        /// The a*b* diagram (SVG or PNG).
        #[arg(long)]
        ab_out: Option<PathBuf>,
        /// ΔE per patch (SVG or PNG).
        #[arg(long)]
        delta_e_out: Option<PathBuf>,
    },
    /// Mean ΔE of several measurements of the same chart over time (by their CREATED date,
    /// else the file's modification time, which is then said).
    Trend {
        /// The reference chart every measurement is compared with.
        #[arg(long)]
        reference: PathBuf,
        /// Measurements of the same chart, in any order.
        samples: Vec<PathBuf>,
        /// The plot to write (SVG or PNG, by extension).
        #[arg(long)]
        out: PathBuf,
        /// de2000 (default), de94, de94t, cmc, cmc11 or de76.
        #[arg(long, value_parser = parse_method)]
        method: Option<DeltaE>,
    },
}

fn parse_illuminant(s: &str) -> Result<Illuminant, String> {
    match Illuminant::parse(s) {
        Some(i) if ecsp_color::cie::COMPUTABLE_ILLUMINANTS.contains(&i) => Ok(i),
        Some(i) => Err(format!(
            "no spectral data for {i} here: expected D50, D65 or A"
        )),
        None => Err(format!("`{s}`: expected D50, D65 or A")),
    }
}

fn parse_observer(s: &str) -> Result<Observer, String> {
    Observer::parse(s).ok_or_else(|| format!("`{s}`: expected 2 or 10"))
}

fn parse_condition(s: &str) -> Result<IlluminationCondition, String> {
    IlluminationCondition::parse(s).ok_or_else(|| format!("`{s}`: expected M0, M1, M2 or M3"))
}

fn parse_matching(s: &str) -> Result<Matching, String> {
    Matching::parse(s).ok_or_else(|| format!("`{s}`: expected auto, device, id or position"))
}

fn parse_status(s: &str) -> Result<DensityStatus, String> {
    DensityStatus::parse(s).ok_or_else(|| format!("`{s}`: expected T or E"))
}

fn parse_method(s: &str) -> Result<DeltaE, String> {
    DeltaE::parse(s)
        .ok_or_else(|| format!("`{s}`: expected de2000, de94, de94t, cmc, cmc11 or de76"))
}

/// Reads CGATS or CxF (by content), naming the file in any error; what the reader tolerated
/// goes to standard error, prefixed with the file.
pub fn read_dataset(path: &Path) -> anyhow::Result<Dataset> {
    read_dataset_under(path, None)
}

/// As [`read_dataset`], for readings under `condition` (see `Dataset::from_bytes_under`).
fn read_dataset_under(
    path: &Path,
    condition: Option<IlluminationCondition>,
) -> anyhow::Result<Dataset> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let d =
        Dataset::from_bytes_under(&bytes, condition).with_context(|| path.display().to_string())?;
    for w in &d.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    Ok(d)
}

fn tolerance_set(args: &CompareArgs) -> anyhow::Result<ToleranceSet> {
    let mut set = match &args.tolerance {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read", p.display()))?;
            ToleranceSet::from_json(&text).with_context(|| p.display().to_string())?
        }
        None => ToleranceSet::default_for(args.method.unwrap_or(DeltaE::DE2000)),
    };
    if let Some(m) = args.method {
        set.delta_e = m;
    }
    Ok(set)
}

fn run_compare(args: &CompareArgs) -> anyhow::Result<ecsp_color::tolerance::ComparisonReport> {
    let reference = read_dataset_under(&args.reference, args.condition)?;
    let sample = read_dataset_under(&args.sample, args.condition)?;
    let set = tolerance_set(args)?;
    Ok(compare(
        &reference,
        &sample,
        &set,
        CompareOptions {
            allow_mixed_conditions: args.allow_mixed_conditions,
            matching: args.matching,
            illuminant: args.illuminant,
            observer: args.observer,
        },
    )?)
}

/// The file's own illuminant/observer unless asked otherwise (said on standard error), else
/// D50/2° (said too).
fn chosen_conditions(
    path: &Path,
    d: &Dataset,
    illuminant: Option<Illuminant>,
    observer: Option<Observer>,
) -> (Illuminant, Observer) {
    let ill = illuminant
        .or(d.meta.lab_illuminant)
        .unwrap_or(Illuminant::D50);
    let obs = observer
        .or(d.meta.lab_observer)
        .unwrap_or(Observer::Cie1931TwoDegree);
    match (d.meta.lab_illuminant, d.meta.lab_observer) {
        (Some(fi), Some(fo)) if (fi, fo) != (ill, obs) => eprintln!(
            "{}: note: the file declares {fi}/{fo}; computing for {ill}/{obs} as asked",
            path.display()
        ),
        (None, _) | (_, None) if illuminant.is_none() || observer.is_none() => eprintln!(
            "{}: note: the file does not say its illuminant and observer; computing for {ill}/{obs}",
            path.display()
        ),
        _ => {}
    }
    (ill, obs)
}

/// Runs a colour command; `Ok(false)` means "done, but the job fails" (exit status 5).
pub fn run(command: ColorCommand, json: bool) -> anyhow::Result<bool> {
    match command {
        ColorCommand::Convert {
            input,
            illuminant,
            observer,
            out,
        } => {
            let mut d = read_dataset(&input)?;
            let (ill, obs) = chosen_conditions(&input, &d, illuminant, observer);
            d.compute_lab(ill, obs)
                .with_context(|| input.display().to_string())?;
            let text = cgats::write(&d).with_context(|| input.display().to_string())?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => emit_raw!("{text}"),
            }
            Ok(true)
        }
        ColorCommand::Compare(args) => {
            let report = run_compare(&args)?;
            if json {
                emit!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                emit_raw!("{}", report.to_text(60));
            }
            Ok(report.passed)
        }
        ColorCommand::Density {
            input,
            status,
            paper,
        } => {
            let d = read_dataset(&input)?;
            let choice = match paper.as_deref() {
                None => PaperChoice::None,
                Some("auto") => PaperChoice::Detect,
                Some(id) => PaperChoice::Patch(id.to_owned()),
            };
            let chart = chart_densities(&d, status, &choice)
                .with_context(|| input.display().to_string())?;
            if json {
                let out: Vec<_> = chart
                    .patches
                    .iter()
                    .map(|(id, d)| serde_json::json!({ "id": id, "densities": d }))
                    .collect();
                emit!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                match &chart.paper {
                    Some(p) => {
                        emit!("ISO 5-3 Status {status:?} densities, relative to paper patch {p}")
                    }
                    None => emit!("ISO 5-3 Status {status:?} densities, absolute"),
                }
                emit!(
                    "{:<12} {:>7} {:>7} {:>7} {:>7}",
                    "patch",
                    "red(C)",
                    "green(M)",
                    "blue(Y)",
                    "visual"
                );
                for (id, d) in &chart.patches {
                    emit!(
                        "{id:<12} {:>7.3} {:>8.3} {:>7.3} {:>7.3}",
                        d.red,
                        d.green,
                        d.blue,
                        d.visual
                    );
                }
            }
            Ok(true)
        }
        ColorCommand::Plot { what } => {
            match what {
                PlotWhat::Spectra {
                    input,
                    out,
                    patches,
                } => {
                    let d = read_dataset(&input)?;
                    let curves = plot::spectra_of(&d, &patches)
                        .with_context(|| input.display().to_string())?;
                    let title = d
                        .meta
                        .descriptor
                        .clone()
                        .unwrap_or_else(|| input.display().to_string());
                    plot::spectra(&out, &title, &curves)?;
                }
                PlotWhat::Compare {
                    args,
                    ab_out,
                    delta_e_out,
                } => {
                    if ab_out.is_none() && delta_e_out.is_none() {
                        bail!("give --ab-out, --delta-e-out, or both");
                    }
                    let report = run_compare(&args)?;
                    let set = tolerance_set(&args)?;
                    let limit = set.plotted_limit();
                    if let Some(p) = ab_out {
                        plot::ab_diagram(&p, &report, limit)?;
                    }
                    if let Some(p) = delta_e_out {
                        plot::delta_e_bars(&p, &report, limit)?;
                    }
                }
                PlotWhat::Trend {
                    reference,
                    samples,
                    out,
                    method,
                } => {
                    if samples.is_empty() {
                        bail!("give the measurement files to plot");
                    }
                    let set = ToleranceSet::default_for(method.unwrap_or(DeltaE::DE2000));
                    let reference_data = read_dataset(&reference)?;
                    let mut points = Vec::new();
                    for s in &samples {
                        let d = read_dataset(s)?;
                        let report = compare(&reference_data, &d, &set, CompareOptions::default())
                            .with_context(|| s.display().to_string())?;
                        let when = match d.meta.created_time() {
                            Some(t) => t,
                            None => {
                                let t = std::fs::metadata(s)
                                    .and_then(|m| m.modified())
                                    .with_context(|| format!("{}: no file time", s.display()))?
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .map_or(0, |d| d.as_secs() as i64);
                                eprintln!(
                                    "{}: note: {}; the file's modification time is used",
                                    s.display(),
                                    match &d.meta.created {
                                        Some(c) =>
                                            format!("CREATED `{c}` is not a date this reads"),
                                        None => "no CREATED date".to_owned(),
                                    }
                                );
                                t
                            }
                        };
                        points.push((when, report.mean));
                    }
                    points.sort_by_key(|p| p.0);
                    let title = format!(
                        "Mean {} against {}",
                        set.delta_e.name(),
                        reference.display()
                    );
                    plot::trend(
                        &out,
                        &title,
                        &format!("mean {}", set.delta_e.name()),
                        &points,
                        set.criteria.first().map(|c| c.limit),
                    )?;
                }
            }
            Ok(true)
        }
    }
}
