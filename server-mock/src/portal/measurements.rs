//! A device's measurements, and a measurement's plots: spectral reflectance per patch, the a*b*
//! diagram and ΔE per patch against a reference, and the device's ΔE trend over time.
//!
//! The plots are ecsp-color's own (the code the CLI writes files with), drawn as SVG documents
//! and placed inline in the page: the CSP forbids scripts and style attributes, not SVG elements,
//! and plotters writes presentation attributes only, escaping every text it draws (patch names
//! and printing conditions come from user data). Each plot has a caption and, for the keyboard
//! and screen readers, the table of the values it shows.
//!
//! The reference: records carry no target values (a printing condition is only a name, and the
//! server holds no characterisation data), so a print is judged against how the printer printed
//! before. By default that is the device's first stored measurement, the state it was set up in;
//! the user can choose another measurement they may see (after a recalibration, or another
//! printer's to match). ΔE is CIEDE2000, patches paired by name, under the illuminant and
//! observer the records carry CIELAB for, else D50/2° (ISO 13655); the limit drawn is the
//! default tolerance set's (mean ΔE00 ≤ 3), as the CLI draws it.
//!
//! Reads are bounded whatever the device holds: one step up the `records_device` index for the
//! first measurement, and the newest [`TREND_MEASUREMENTS`] for the trend.

use std::borrow::Cow;
use std::sync::Arc;

use crate::sql::Connection;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::samples::{comparable_measurements, dataset_of};
use ecsp_color::tolerance::{
    ComparisonReport, NotComparable, compare_measurements, measurement_tolerance,
};
use ecsp_color::{plot, summary};
use ecsp_protocol::admin::Actor;
use ecsp_protocol::measurement::{InstrumentAttributes, MeasurementRecord, MeasurementSettings};
use ecsp_protocol::upload::RecordKind;
use serde::Deserialize;
use uuid::Uuid;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::pages::{Before, Nav, failure, nav, render, when};
use crate::api::AppState;
use crate::crypto::DataKey;
use crate::db::StoreError;
use crate::error::ApiError;
use crate::store::accounts::UserPrincipal;
use crate::store::records::StoredRecord;
use crate::store::{devices, records};

/// The most measurements the trend compares with the reference: the device's newest.
pub const TREND_MEASUREMENTS: u32 = 30;
/// Measurements per page of a device's list.
const MEASUREMENTS_PER_PAGE: u32 = 20;
/// The most patches a page tabulates; a larger chart lists those with the largest ΔE (see
/// [`comparison_figures`]), and its statistics cover all. Fewer are drawn (see
/// [`ecsp_color::summary`]).
const PAGE_PATCHES: usize = ecsp_color::summary::LISTED_PATCHES;
/// The spectra table's step: every 20 nm keeps a 72-patch strip's page under 200 KB (every
/// 10 nm, the table alone was 40 KB); the plot draws every band.
const TABLE_STEP_NM: u32 = 20;

// ---- a device's measurements ------------------------------------------------------------------

#[derive(Debug)]
struct MeasurementRow {
    id: Uuid,
    captured_at: String,
    printing_condition: String,
    paper: String,
    patches: usize,
    instrument: String,
}

#[derive(Template)]
#[template(path = "portal/measurements.html")]
struct MeasurementsPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    id: Uuid,
    model: String,
    serial: String,
    rows: Vec<MeasurementRow>,
    paged: bool,
    /// The query of the next (older) page, if there is one.
    older: Option<String>,
}

/// A device's measurement records, newest first, a page at a time (keyed by capture time and
/// record id, so the hundredth page costs what the first does, and none is skipped).
pub async fn list(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(page): Query<Before>,
) -> Response {
    let lang = browser.lang;
    let Ok(id) = Uuid::parse_str(&id) else {
        return failure(lang, ApiError::NotFound("device"));
    };
    let start = page.start();
    let (who, key) = (browser.who.clone(), state.key.clone());
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "portal.measurements.read",
            format!("device:{id}"),
            move |c| {
                let (internal, view) = devices::visible(c, &who, id)?;
                let listed = records::sealed_for_device(
                    c,
                    internal,
                    id,
                    Some(RecordKind::Measurement),
                    start,
                    MEASUREMENTS_PER_PAGE + 1,
                )?;
                let mut rows = Vec::with_capacity(listed.len());
                for r in listed {
                    let heading = r.open_as::<Heading>(&key).ok();
                    rows.push((r, heading));
                }
                Ok((view, rows))
            },
        )
        .await;
    let (view, mut listed) = match found {
        Ok(f) => f,
        Err(e) => return failure(lang, e),
    };
    let more = listed.len() > MEASUREMENTS_PER_PAGE as usize;
    listed.truncate(MEASUREMENTS_PER_PAGE as usize);
    let older = more
        .then(|| listed.last().map(|(r, _)| Before::after(r)))
        .flatten();
    let rows = listed
        .into_iter()
        .map(|(v, r)| MeasurementRow {
            id: v.record_id,
            captured_at: when(v.captured_at),
            printing_condition: r
                .as_ref()
                .map(|r| r.settings.printing_condition.clone())
                .unwrap_or_default(),
            paper: r
                .as_ref()
                .map(|r| r.settings.paper.clone())
                .unwrap_or_default(),
            patches: r.as_ref().map_or(0, |r| r.samples.len()),
            instrument: r
                .as_ref()
                .map(|r| format!("{} {}", r.instrument.model, r.instrument.serial_number))
                .unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &MeasurementsPage {
            t: lang.messages(),
            lang,
            nav: nav(&browser, "devices"),
            back: format!("/portal/devices/{id}/measurements"),
            id,
            model: view.model,
            serial: view.serial_number,
            rows,
            paged: start.is_some(),
            older,
        },
    )
}

/// What a device's list shows of a measurement: its settings, its instrument and how many
/// samples it has, read without building its samples (`IgnoredAny` skips their values).
#[derive(Debug, Deserialize)]
struct Heading {
    settings: MeasurementSettings,
    instrument: InstrumentAttributes,
    samples: Vec<serde::de::IgnoredAny>,
}

/// A stored measurement, opened once per page however many roles it plays there (this one,
/// the reference, the previous, the first, a point of the trend). `record` is `None` for a
/// body that does not read as a measurement record.
#[derive(Debug, Clone)]
pub struct Measured {
    pub record_id: Uuid,
    pub captured_at: DateTime<Utc>,
    pub record: Option<Arc<MeasurementRecord>>,
}

impl Measured {
    /// Opens `stored`; a body that does not open under the data key is an error, as anywhere
    /// else, while one that is no measurement record is kept without its record.
    pub fn open(stored: &StoredRecord, key: &DataKey) -> Result<Self, StoreError> {
        let record = match stored.open_as::<MeasurementRecord>(key) {
            Ok(record) => Some(Arc::new(record)),
            Err(StoreError::Decrypt) => return Err(StoreError::Decrypt),
            Err(_) => None,
        };
        Ok(Self {
            record_id: stored.record_id,
            captured_at: stored.captured_at,
            record,
        })
    }
}

// ---- a measurement's plots --------------------------------------------------------------------

/// What a measurement's page reads besides the record: its reference, the device's newest
/// earlier comparable measurement (the default reference), the device's first measurement
/// (always offered) and its newest measurements.
#[derive(Debug)]
pub struct Related {
    reference: Measured,
    previous: Option<Measured>,
    first: Measured,
    recent: Vec<Measured>,
    /// Whether no reference was chosen, so the default is in use.
    default: bool,
    by_position: bool,
}

impl Related {
    /// Reads the reference (`chosen`, which must be a measurement `who` may see; else the
    /// device's newest earlier comparable measurement among the [`TREND_MEASUREMENTS`] before
    /// it, else the device's first) and the device's newest [`TREND_MEASUREMENTS`]
    /// measurements. Each body is opened once: the earlier ones only until the previous
    /// comparable one is found, and not again where they are among the newest.
    pub fn read(
        c: &Connection,
        key: &DataKey,
        who: &UserPrincipal,
        this: &Measured,
        device: Uuid,
        chosen: Chosen,
    ) -> Result<Self, ApiError> {
        let (internal, _) = devices::visible(c, who, device)?;
        let recent: Vec<Measured> = records::sealed_for_device(
            c,
            internal,
            device,
            Some(RecordKind::Measurement),
            None,
            TREND_MEASUREMENTS,
        )?
        .iter()
        .map(|r| Measured::open(r, key))
        .collect::<Result<_, _>>()?;
        let opened = |stored: &StoredRecord| match recent
            .iter()
            .chain([this])
            .find(|m| m.record_id == stored.record_id)
        {
            Some(m) => Ok(m.clone()),
            None => Measured::open(stored, key),
        };
        let first = match records::oldest_of_kind(c, internal, device, RecordKind::Measurement)? {
            Some(stored) => opened(&stored)?,
            None => this.clone(),
        };
        let mut previous = None;
        if let Some(record) = &this.record {
            let earlier = records::sealed_for_device(
                c,
                internal,
                device,
                Some(RecordKind::Measurement),
                Some(records::PageStart::after(&(
                    this.captured_at,
                    this.record_id,
                ))),
                TREND_MEASUREMENTS,
            )?;
            for stored in &earlier {
                let m = opened(stored)?;
                if m.record
                    .as_deref()
                    .is_some_and(|earlier| comparable_measurements(record, earlier))
                {
                    previous = Some(m);
                    break;
                }
            }
        }
        let reference = match chosen.id {
            None => previous.clone().unwrap_or_else(|| first.clone()),
            Some(id) if id == this.record_id => this.clone(),
            Some(id) => {
                let r = records::get_visible_sealed(c, who, id)?;
                if r.kind != RecordKind::Measurement {
                    return Err(ApiError::NotFound("measurement"));
                }
                opened(&r)?
            }
        };
        Ok(Self {
            reference,
            previous,
            first,
            recent,
            default: chosen.id.is_none(),
            by_position: chosen.by_position,
        })
    }
}

/// The reference query of a measurement's page: `?reference=<record id>`, and `match=position`
/// to pair patches by position where the two charts name them differently.
#[derive(Debug, Deserialize)]
pub struct ReferenceQuery {
    reference: Option<String>,
    #[serde(rename = "match")]
    matching: Option<String>,
}

/// The reference a page asked for (`None`: the default) and how to pair patches.
#[derive(Debug, Clone, Copy)]
pub struct Chosen {
    id: Option<Uuid>,
    by_position: bool,
}

impl ReferenceQuery {
    /// The chosen reference; `Err` for an id that is not a UUID (answered as not found).
    pub fn chosen(&self) -> Result<Chosen, ApiError> {
        let id = match self.reference.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(Uuid::parse_str(r).map_err(|_| ApiError::NotFound("measurement"))?),
        };
        Ok(Chosen {
            id,
            by_position: self.matching.as_deref() == Some("position"),
        })
    }
}

/// Why a measurement could not be compared with its reference, in the page's language (the
/// colour library's own words are kept beside it as the detail).
fn say(why: &NotComparable, lang: Lang) -> String {
    let w = lang.terms();
    match why {
        NotComparable::ReferenceUnreadable => w.cmp_reference_unreadable.to_owned(),
        NotComparable::Unreadable(d) => format!("{} ({d})", w.cmp_unreadable),
        NotComparable::Conditions(d) => format!("{} ({d})", w.cmp_conditions),
        NotComparable::NoCommonPatch => w.cmp_no_common_patch.to_owned(),
        NotComparable::SizesDiffer(r, s) => w
            .cmp_sizes_differ
            .replace("{reference}", &r.to_string())
            .replace("{sample}", &s.to_string()),
        NotComparable::Other(d) => format!("{} ({d})", w.cmp_other),
    }
}

#[derive(Debug)]
pub struct SpectraFigure {
    pub(super) svg: String,
    pub(super) wavelengths: Vec<u32>,
    pub(super) rows: Vec<(String, Vec<String>)>,
    /// The patches of the measurement (more than `rows` for a large chart).
    pub(super) of: usize,
}

#[derive(Debug)]
pub struct PatchRow {
    pub(super) patch: String,
    pub(super) reference: [String; 3],
    pub(super) sample: [String; 3],
    pub(super) delta_e: String,
    pub(super) over: bool,
}

#[derive(Debug)]
pub struct ComparisonFigures {
    pub(super) ab_svg: String,
    pub(super) bars_svg: String,
    pub(super) method: String,
    pub(super) conditions: String,
    pub(super) limit: String,
    pub(super) patches: usize,
    pub(super) mean: String,
    pub(super) percentile95: String,
    pub(super) max: String,
    pub(super) unmatched: usize,
    pub(super) notes: Vec<String>,
    pub(super) rows: Vec<PatchRow>,
    /// The patches whose spectra are drawn: the worst.
    pub(super) worst: Vec<String>,
    /// How many patches the a*b* diagram draws.
    pub(super) ab_drawn: usize,
}

#[derive(Debug)]
pub struct TrendRow {
    pub(super) id: Uuid,
    pub(super) at: String,
    pub(super) mean: String,
    pub(super) percentile95: String,
    pub(super) max: String,
    pub(super) patches: usize,
    pub(super) current: bool,
}

/// What the trend keeps of a comparison.
#[derive(Debug, Clone, Copy)]
struct TrendPoint {
    mean: f64,
    percentile95: f64,
    max: f64,
    patches: usize,
}

impl TrendPoint {
    fn of(report: &ComparisonReport) -> Self {
        Self {
            mean: report.mean,
            percentile95: report.percentile95,
            max: report.max,
            patches: report.patches.len(),
        }
    }
}

#[derive(Debug)]
pub struct TrendFigure {
    pub(super) svg: String,
    pub(super) rows: Vec<TrendRow>,
    pub(super) left_out: usize,
}

#[derive(Debug)]
pub struct ReferenceChoice {
    pub(super) id: Uuid,
    pub(super) label: String,
    pub(super) selected: bool,
}

/// Everything a measurement's page shows about it beyond its fields.
#[derive(Debug)]
pub struct MeasurementPlots {
    pub(super) id: Uuid,
    pub(super) reference_id: Uuid,
    pub(super) reference_at: String,
    pub(super) default_reference: bool,
    pub(super) is_reference: bool,
    pub(super) choices: Vec<ReferenceChoice>,
    pub(super) spectra: Option<SpectraFigure>,
    pub(super) comparison: Option<ComparisonFigures>,
    pub(super) comparison_error: Option<String>,
    /// Whether pairing by position is offered (ids differ) or in use.
    pub(super) offer_position: bool,
    pub(super) by_position: bool,
    /// What the default reference is, in words, when it is in use.
    pub(super) default_label: &'static str,
    pub(super) trend: Option<TrendFigure>,
    /// Only one measurement compares: a table row, no plot of one point.
    pub(super) trend_single: bool,
    pub(super) window: u32,
}

/// Gives an SVG document from plotters its accessible name (the caption `caption_id`) and the
/// class the stylesheet sizes it by. plotters' documents always begin `<svg `.
pub(super) fn embed(svg: String, caption_id: &str) -> String {
    svg.replacen(
        "<svg ",
        &format!("<svg class=\"plot\" role=\"img\" aria-labelledby=\"{caption_id}\" "),
        1,
    )
}

fn two(v: f64) -> String {
    format!("{v:.2}")
}

impl MeasurementPlots {
    /// Compares, and draws, `this` against what `related` read. CPU work (colorimetry of every
    /// sample of up to [`TREND_MEASUREMENTS`] records, and the SVGs): run it off the async
    /// threads.
    pub fn build(lang: Lang, this: &Measured, related: &Related) -> Option<Self> {
        let t = lang.messages();
        let record = this.record.as_deref()?;
        let by_position = related.by_position;
        let (set, limit) = measurement_tolerance();
        let method = set.delta_e.name();
        let reference_data = related.reference.record.as_deref().map(dataset_of);
        let is_reference = related.reference.record_id == this.record_id;
        // Each dataset once: this one's serves its comparison and its point of the trend.
        let this_data = dataset_of(record);

        let outcome = (!is_reference).then(|| match (&reference_data, &this_data) {
            (None | Some(Err(_)), _) => Err(NotComparable::ReferenceUnreadable),
            (_, Err(e)) => Err(NotComparable::Unreadable(e.to_string())),
            (Some(Ok(r)), Ok(s)) => compare_measurements(r, s, &set, by_position),
        });
        // This measurement's point of the trend is its comparison's.
        let this_point = outcome
            .as_ref()
            .and_then(|o| o.as_ref().ok())
            .map(TrendPoint::of);
        let (comparison, comparison_error) = match outcome.map(|o| {
            o.and_then(|report| comparison_figures(t, &report, limit).map_err(NotComparable::Other))
        }) {
            None => (None, None),
            Some(Ok(c)) => (Some(c), None),
            Some(Err(e)) => (None, Some(e)),
        };
        // The spectra of the worst patches of the comparison, else the first ones.
        let shown: Option<Vec<&str>> = comparison
            .as_ref()
            .map(|c| c.worst.iter().map(String::as_str).collect());
        let spectra = spectra_figure(t, record, shown.as_deref());

        // The trend: each of the newest measurements (and this one, if older) against the
        // reference; those that cannot be compared are counted, not drawn.
        let mut window: Vec<&Measured> = related.recent.iter().collect();
        if !window.iter().any(|r| r.record_id == this.record_id) {
            window.push(this);
        }
        let mut points = Vec::new();
        let mut left_out = 0;
        if let Some(Ok(reference)) = &reference_data {
            for r in &window {
                if r.record_id == this.record_id
                    && let Some(point) = this_point
                {
                    points.push((*r, point));
                    continue;
                }
                // Each dataset is made once: this one's and the reference's are at hand.
                let data = if r.record_id == this.record_id {
                    this_data
                        .as_ref()
                        .map(Cow::Borrowed)
                        .map_err(|e| e.to_string())
                } else if r.record_id == related.reference.record_id {
                    Ok(Cow::Borrowed(reference))
                } else {
                    r.record
                        .as_deref()
                        .ok_or_else(String::new)
                        .and_then(|m| dataset_of(m).map(Cow::Owned).map_err(|e| e.to_string()))
                };
                let report = data.and_then(|d| {
                    compare_measurements(reference, &d, &set, by_position)
                        .map_err(|e| say(&e, lang))
                });
                match report {
                    Ok(report) => points.push((*r, TrendPoint::of(&report))),
                    Err(_) => left_out += 1,
                }
            }
        }
        points.sort_by_key(|(r, _)| r.captured_at);
        // One point on an empty time axis is no trend: its row is in the table alone.
        let trend_single = points.len() == 1;
        let trend = (!points.is_empty())
            .then(|| {
                let series: Vec<(i64, f64)> = points
                    .iter()
                    .map(|(r, report)| (r.captured_at.timestamp(), report.mean))
                    .collect();
                let svg = if trend_single {
                    String::new()
                } else {
                    let svg = plot::trend_svg(
                        t.plot_words,
                        t.trend_title,
                        &format!("{} {method}", t.plot_words.mean),
                        &series,
                        limit,
                    )
                    .ok()?;
                    embed(svg, "trend-caption")
                };
                Some(TrendFigure {
                    svg,
                    rows: points
                        .iter()
                        .rev()
                        .map(|(r, report)| TrendRow {
                            id: r.record_id,
                            at: when(r.captured_at),
                            mean: two(report.mean),
                            percentile95: two(report.percentile95),
                            max: two(report.max),
                            patches: report.patches,
                            current: r.record_id == this.record_id,
                        })
                        .collect(),
                    left_out,
                })
            })
            .flatten();

        // The reference to choose from, newest first: the device's newest measurements, this
        // one, and the reference in use (the device's first, unless another was chosen).
        let mut offered: Vec<&Measured> = Vec::new();
        for r in related
            .recent
            .iter()
            .chain([this, &related.reference, &related.first])
            .chain(related.previous.as_ref())
        {
            if !offered.iter().any(|o| o.record_id == r.record_id) {
                offered.push(r);
            }
        }
        offered.sort_by_key(|r| std::cmp::Reverse(r.captured_at));
        let choices = offered
            .into_iter()
            .map(|r| {
                let m = r.record.as_deref();
                let mut label = format!(
                    "{} — {}, {} {}",
                    when(r.captured_at),
                    m.as_ref()
                        .map(|m| m.settings.printing_condition.as_str())
                        .unwrap_or_default(),
                    m.as_ref().map_or(0, |m| m.samples.len()),
                    t.patches_unit
                );
                if related.previous.as_ref().map(|p| p.record_id) == Some(r.record_id) {
                    label = format!("{label} ({})", lang.terms().previous_comparable);
                } else if r.record_id == related.first.record_id {
                    label = format!("{label} ({})", t.reference_default);
                }
                if r.record_id == this.record_id {
                    label = format!("{label} ({})", t.this_measurement);
                }
                ReferenceChoice {
                    id: r.record_id,
                    label,
                    selected: r.record_id == related.reference.record_id,
                }
            })
            .collect();

        Some(Self {
            id: this.record_id,
            reference_id: related.reference.record_id,
            reference_at: when(related.reference.captured_at),
            default_reference: related.default,
            is_reference,
            choices,
            spectra,
            offer_position: by_position
                || matches!(comparison_error, Some(NotComparable::NoCommonPatch)),
            by_position,
            default_label: if related.previous.is_some() {
                lang.terms().previous_comparable
            } else {
                t.reference_default
            },
            comparison,
            comparison_error: comparison_error.map(|e| say(&e, lang)),
            trend,
            trend_single,
            window: TREND_MEASUREMENTS,
        })
    }
}

/// The samples table's rows (patch, L*, a*, b*): the CIELAB a sample carries, else computed from
/// its spectrum for D50/2° (ISO 13655), which the `bool` says.
pub fn sample_rows(record: &MeasurementRecord) -> (Vec<(String, String, String, String)>, bool) {
    let mut computed = false;
    let rows = record
        .samples
        .iter()
        .map(|s| {
            let lab = s.lab.as_ref().map(|l| (l.l, l.a, l.b)).or_else(|| {
                let (_, spectrum) = summary::sample_spectrum(s)?;
                let c = ecsp_color::colorimetry::colorimetry(
                    &spectrum,
                    s.condition.bandpass_corrected,
                    Illuminant::D50,
                    Observer::Cie1931TwoDegree,
                )
                .ok()?;
                computed = true;
                Some((c.lab.l, c.lab.a, c.lab.b))
            });
            let f = |v: Option<f64>| v.map_or_else(String::new, two);
            (
                s.patch.clone(),
                f(lab.map(|l| l.0)),
                f(lab.map(|l| l.1)),
                f(lab.map(|l| l.2)),
            )
        })
        .collect();
    (rows, computed)
}

/// The spectra plot (at most [`summary::SPECTRA_DRAWN`] of them, `shown` or the first, before
/// the band of all the record's spectra when there are more) and its table (values every
/// [`TABLE_STEP_NM`] from the first patch's grid); none when no sample carries a spectrum.
fn spectra_figure(
    t: &Messages,
    record: &MeasurementRecord,
    shown: Option<&[&str]>,
) -> Option<SpectraFigure> {
    let title = format!(
        "{} — {}",
        t.spectra_title, record.settings.printing_condition
    );
    let (curves, svg) = summary::spectra_plot(t.plot_words, &title, record, shown)?;
    let first = curves.first()?.1.grid();
    let step = TABLE_STEP_NM.max(first.interval_nm);
    let wavelengths: Vec<u32> = (first.start_nm..=first.end_nm())
        .step_by(step as usize)
        .collect();
    let rows = curves
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                wavelengths
                    .iter()
                    .map(|nm| format!("{:.3}", s.at(f64::from(*nm))))
                    .collect(),
            )
        })
        .collect();
    Some(SpectraFigure {
        svg: embed(svg, "spectra-caption"),
        wavelengths,
        rows,
        of: record.samples.len(),
    })
}

/// The comparison's figures. The a*b* diagram draws the [`summary::AB_DRAWN`] patches with the
/// largest ΔE, the table lists the [`PAGE_PATCHES`] largest: what a technician looks at first, at
/// a page's size; the statistics and the ΔE distribution cover every patch.
fn comparison_figures(
    t: &Messages,
    report: &ComparisonReport,
    limit: Option<f64>,
) -> Result<ComparisonFigures, String> {
    let bars = plot::delta_e_bars_svg(t.plot_words, report, limit).map_err(|e| e.to_string())?;
    let compared_patches = report.patches.len();
    let ab = plot::ab_diagram_svg(
        t.plot_words,
        &summary::with_worst(report, summary::AB_DRAWN),
        limit,
    )
    .map_err(|e| e.to_string())?;
    let worst = summary::worst_patches(report, summary::SPECTRA_DRAWN)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let shown = summary::with_worst(report, PAGE_PATCHES);
    let report = &shown;
    let lab = |l: &ecsp_color::convert::Lab| [two(l.l), two(l.a), two(l.b)];
    Ok(ComparisonFigures {
        ab_svg: embed(ab, "ab-caption"),
        bars_svg: embed(bars, "bars-caption"),
        method: report.method.clone(),
        conditions: format!("{}/{}", report.illuminant, report.observer),
        limit: limit.map(two).unwrap_or_default(),
        patches: compared_patches,
        mean: two(report.mean),
        percentile95: two(report.percentile95),
        max: two(report.max),
        unmatched: report.unmatched_reference.len() + report.unmatched_sample.len(),
        notes: report.warnings.clone(),
        worst,
        ab_drawn: compared_patches.min(summary::AB_DRAWN),
        rows: report
            .patches
            .iter()
            .map(|p| PatchRow {
                patch: p.id.clone(),
                reference: lab(&p.reference),
                sample: lab(&p.sample),
                delta_e: two(p.delta_e),
                over: limit.is_some_and(|l| p.delta_e > l),
            })
            .collect(),
    })
}
