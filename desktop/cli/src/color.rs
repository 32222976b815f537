//! `ecsp color …`: colorimetry on CGATS and CxF files, offline (no server needed).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::dataset::{Dataset, LabSource};
use ecsp_color::delta_e::DeltaE;
use ecsp_color::density::{DensityStatus, densities};
use ecsp_color::tolerance::{CompareOptions, Matching, Statistic, ToleranceSet, compare};
use ecsp_color::{cgats, plot};

#[derive(Debug, Subcommand)]
pub enum ColorCommand {
    /// CGATS or CxF in; CGATS out with XYZ and LAB columns computed from the spectra.
    Convert {
        input: PathBuf,
        #[arg(long, default_value = "D50", value_parser = parse_illuminant)]
        illuminant: Illuminant,
        #[arg(long, default_value = "2", value_parser = parse_observer)]
        observer: Observer,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Per-patch ΔE of a sample against a reference, and the pass/fail report.
    /// Exit status 1 when a normative criterion fails.
    Compare(CompareArgs),
    /// ISO 5-3 densities of every patch with a spectrum, absolute or relative to a paper patch.
    Density {
        input: PathBuf,
        /// T (North America) or E (Europe).
        #[arg(long, default_value = "T", value_parser = parse_status)]
        status: DensityStatus,
        /// The id of the paper-white patch, for paper-relative densities.
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
    #[arg(long)]
    reference: PathBuf,
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
}

#[derive(Debug, Subcommand)]
pub enum PlotWhat {
    /// Spectral reflectance curves (all patches, or those named).
    Spectra {
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Patch ids to draw (comma-separated); at most 12 are drawn.
        #[arg(long, value_delimiter = ',')]
        patches: Vec<String>,
    },
    /// a*b* diagram with tolerance circles, and ΔE per patch.
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
    /// Mean ΔE of several measurements of the same chart over time (by their CREATED time,
    /// else the file's modification time).
    Trend {
        #[arg(long)]
        reference: PathBuf,
        samples: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_parser = parse_method)]
        method: Option<DeltaE>,
    },
}

fn parse_illuminant(s: &str) -> Result<Illuminant, String> {
    Illuminant::parse(s).ok_or_else(|| format!("`{s}`: expected D50, D65 or A"))
}

fn parse_observer(s: &str) -> Result<Observer, String> {
    Observer::parse(s).ok_or_else(|| format!("`{s}`: expected 2 or 10"))
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
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let d = Dataset::from_bytes(&bytes).with_context(|| path.display().to_string())?;
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
    let reference = read_dataset(&args.reference)?;
    let sample = read_dataset(&args.sample)?;
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

/// Runs a colour command; `Ok(false)` means "done, but the job fails" (exit status 1).
pub fn run(command: ColorCommand, json: bool) -> anyhow::Result<bool> {
    match command {
        ColorCommand::Convert {
            input,
            illuminant,
            observer,
            out,
        } => {
            let mut d = read_dataset(&input)?;
            if d.patches.iter().all(|p| p.spectrum.is_none()) {
                bail!(
                    "{}: no spectral data to compute XYZ and LAB from",
                    input.display()
                );
            }
            // Every patch's CIELAB for the requested illuminant/observer: computed from its
            // spectrum, or its stored value only if that is for the same illuminant/observer.
            for i in 0..d.patches.len() {
                let (lab, source) = d
                    .lab(i, illuminant, observer)
                    .with_context(|| format!("{}: patch {}", input.display(), d.patches[i].id))?;
                let p = &mut d.patches[i];
                if let LabSource::Computed(c) = source {
                    p.extra.retain(|(f, _)| !f.starts_with("XYZ_"));
                    p.extra.extend(
                        [("XYZ_X", c.xyz.x), ("XYZ_Y", c.xyz.y), ("XYZ_Z", c.xyz.z)]
                            .map(|(f, v)| (f.to_owned(), format!("{v:.4}"))),
                    );
                }
                p.lab = Some(lab);
            }
            d.meta.lab_illuminant = Some(illuminant);
            d.meta.lab_observer = Some(observer);
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
            let paper_density = match &paper {
                Some(id) => {
                    let p = d
                        .patches
                        .iter()
                        .find(|p| &p.id == id)
                        .with_context(|| format!("{}: no patch `{id}`", input.display()))?;
                    let s = p.spectrum.as_ref().with_context(|| {
                        format!("{}: patch `{id}` has no spectrum", input.display())
                    })?;
                    Some(densities(s, status)?)
                }
                None => None,
            };
            let mut rows = Vec::new();
            for p in &d.patches {
                let Some(s) = &p.spectrum else { continue };
                let abs = densities(s, status)
                    .with_context(|| format!("{}: patch {}", input.display(), p.id))?;
                let value = paper_density.map_or(abs, |paper| abs.relative_to(&paper));
                rows.push((p.id.clone(), value));
            }
            if rows.is_empty() {
                bail!(
                    "{}: no spectral data to compute densities from",
                    input.display()
                );
            }
            if json {
                let out: Vec<_> = rows
                    .iter()
                    .map(|(id, d)| serde_json::json!({ "id": id, "densities": d }))
                    .collect();
                emit!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                let kind = if paper.is_some() {
                    "paper-relative"
                } else {
                    "absolute"
                };
                emit!("ISO 5-3 Status {status:?} densities, {kind}");
                emit!(
                    "{:<12} {:>7} {:>7} {:>7} {:>7}",
                    "patch",
                    "red(C)",
                    "green(M)",
                    "blue(Y)",
                    "visual"
                );
                for (id, d) in rows {
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
                    let curves: Vec<_> = d
                        .patches
                        .iter()
                        .filter(|p| patches.is_empty() || patches.contains(&p.id))
                        .filter_map(|p| {
                            p.spectrum
                                .clone()
                                .map(|s| (p.name.clone().unwrap_or_else(|| p.id.clone()), s))
                        })
                        .take(12)
                        .collect();
                    if curves.is_empty() {
                        bail!("{}: no spectra to plot (check --patches)", input.display());
                    }
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
                    let limit = set
                        .criteria
                        .iter()
                        .find(|c| c.statistic == Statistic::PerPatch)
                        .or(set.criteria.first())
                        .map(|c| c.limit);
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
                        let when = d
                            .meta
                            .created
                            .as_deref()
                            .and_then(created_seconds)
                            .or_else(|| {
                                std::fs::metadata(s)
                                    .and_then(|m| m.modified())
                                    .ok()
                                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                                    .map(|d| d.as_secs() as i64)
                            })
                            .unwrap_or(0);
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

/// Seconds since the epoch of a `CREATED` value: RFC 3339 ("2026-11-21T06:30:00Z") or a date.
fn created_seconds(s: &str) -> Option<i64> {
    let s = s.trim();
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp())
        })
}
