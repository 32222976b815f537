//! A measurement record at a glance, as the portal's measurement page and the phone apps show
//! it: its patches, its colour difference from a reference (ΔE00 with the measurement
//! tolerance set), and the plots, as SVG documents drawn by [`crate::plot`] in the caller's
//! words.
//!
//! The plots' size is bounded whatever the chart: at most [`PLOTTED_PATCHES`] spectra (the
//! worst patches of the comparison, else the first ones) and a*b* points (the worst); the
//! statistics cover every patch.

use ecsp_protocol::measurement::MeasurementRecord;

use crate::plot::{self, Words};
use crate::samples::{comparable_measurements, dataset_of};
use crate::spectrum::{Spectrum, WavelengthGrid};
use crate::tolerance::{
    ComparisonReport, NotComparable, compare_measurements, measurement_tolerance,
};

/// Most patches drawn in one plot.
pub const PLOTTED_PATCHES: usize = 100;

/// What a measurement shows.
#[derive(Debug, Clone)]
pub struct MeasurementSummary {
    pub patches: usize,
    pub printing_condition: String,
    /// The comparison with the reference, when there is one: the report, or why not.
    pub comparison: Option<Result<ComparisonReport, NotComparable>>,
    /// The spectra of the patches shown (none when the record carries no spectrum).
    pub spectra_svg: Option<String>,
    /// The a*b* diagram and the ΔE bars of the comparison.
    pub ab_svg: Option<String>,
    pub delta_e_bars_svg: Option<String>,
}

/// Which of `earlier` (newest first) `record` is compared with by default: the newest it may
/// be compared with (see [`comparable_measurements`]), by its position.
pub fn default_reference<'a>(
    record: &MeasurementRecord,
    earlier: impl IntoIterator<Item = &'a MeasurementRecord>,
) -> Option<usize> {
    earlier
        .into_iter()
        .position(|e| comparable_measurements(record, e))
}

/// Summarises `record` against `reference` (patches paired by id), plots in `words`.
pub fn summarize(
    record: &MeasurementRecord,
    reference: Option<&MeasurementRecord>,
    words: &Words,
) -> MeasurementSummary {
    let (set, limit) = measurement_tolerance();
    let comparison = reference.map(|reference| {
        let reference = dataset_of(reference).map_err(|_| NotComparable::ReferenceUnreadable)?;
        let sample = dataset_of(record).map_err(|e| NotComparable::Unreadable(e.to_string()))?;
        compare_measurements(&reference, &sample, &set, false)
    });
    let report = comparison.as_ref().and_then(|c| c.as_ref().ok());
    // The worst patches of a large chart (a*b* and spectra), all of a small one.
    let shown = report.map(|r| {
        let mut worst = r.clone();
        worst
            .patches
            .sort_by(|a, b| b.delta_e.total_cmp(&a.delta_e));
        worst.patches.truncate(PLOTTED_PATCHES);
        worst
    });
    let shown_ids: Option<Vec<&str>> = shown
        .as_ref()
        .map(|r| r.patches.iter().map(|p| p.id.as_str()).collect());
    let curves = spectra_of(record, shown_ids.as_deref());
    let spectra_svg = (!curves.is_empty())
        .then(|| plot::spectra_svg(words, &record.settings.printing_condition, &curves).ok())
        .flatten();
    MeasurementSummary {
        patches: record.samples.len(),
        printing_condition: record.settings.printing_condition.clone(),
        ab_svg: shown
            .as_ref()
            .and_then(|r| plot::ab_diagram_svg(words, r, limit).ok()),
        delta_e_bars_svg: report.and_then(|r| plot::delta_e_bars_svg(words, r, limit).ok()),
        comparison,
        spectra_svg,
    }
}

/// The spectra of `record`'s samples to draw: those of the patches `shown` (all without it), at
/// most [`PLOTTED_PATCHES`], in the record's order; samples without a usable spectrum left out.
pub fn spectra_of(record: &MeasurementRecord, shown: Option<&[&str]>) -> Vec<(String, Spectrum)> {
    record
        .samples
        .iter()
        .filter(|s| shown.is_none_or(|ids| ids.contains(&s.patch.as_str())))
        .take(PLOTTED_PATCHES)
        .filter_map(|s| {
            let sp = s.spectrum.as_ref()?;
            let grid = WavelengthGrid::new(
                u32::from(sp.start_nm),
                u32::from(sp.interval_nm),
                sp.values.len(),
            )
            .ok()?;
            Some((
                s.patch.clone(),
                Spectrum::new(grid, sp.values.clone()).ok()?,
            ))
        })
        .collect()
}
