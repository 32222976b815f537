//! A measurement record at a glance, as the portal's measurement page and the phone apps show
//! it: its patches, its colour difference from a reference (ΔE00 with the measurement
//! tolerance set), and the plots, as SVG documents drawn by [`crate::plot`] in the caller's
//! words.
//!
//! The plots' size is bounded whatever the chart: at most [`SPECTRA_DRAWN`] spectra (the worst
//! patches of the comparison, else the first ones) in front of a grey band spanning every
//! patch's spectrum, and at most [`AB_DRAWN`] a*b* points (the worst); the statistics cover
//! every patch. A 1,617-patch chart's page stays under 200 KB this way.

use ecsp_protocol::measurement::MeasurementRecord;

use crate::plot::{self, Words};
use crate::samples::{comparable_measurements, dataset_of};
use crate::spectrum::{Spectrum, WavelengthGrid};
use crate::tolerance::{
    ComparisonReport, NotComparable, compare_measurements, measurement_tolerance,
};

/// Most patches a page tabulates beside its plots (the worst; the statistics cover all).
pub const LISTED_PATCHES: usize = 100;
/// Most spectra drawn, each named in the legend ([`plot::LEGEND_LIMIT`]); the band behind them
/// spans the others.
pub const SPECTRA_DRAWN: usize = plot::LEGEND_LIMIT;
/// Most patches drawn on the a*b* diagram, each with its tolerance contour.
pub const AB_DRAWN: usize = 48;

/// The ids of the `n` patches of `report` with the largest ΔE (ties in the report's order).
pub fn worst_patches(report: &ComparisonReport, n: usize) -> Vec<&str> {
    let mut order: Vec<&crate::tolerance::PatchDifference> = report.patches.iter().collect();
    order.sort_by(|a, b| b.delta_e.total_cmp(&a.delta_e));
    order.into_iter().take(n).map(|p| p.id.as_str()).collect()
}

/// `report` with only its `n` worst patches, in the report's order.
pub fn with_worst(report: &ComparisonReport, n: usize) -> ComparisonReport {
    let keep = worst_patches(report, n);
    let mut shown = report.clone();
    shown.patches.retain(|p| keep.contains(&p.id.as_str()));
    shown
}

/// The band of every spectrum `record` carries (see [`plot::SpectralBand`]).
pub fn spectral_band(record: &MeasurementRecord) -> Option<plot::SpectralBand> {
    let spectra: Vec<Spectrum> = record
        .samples
        .iter()
        .filter_map(|s| sample_spectrum(s).map(|(_, s)| s))
        .collect();
    plot::SpectralBand::of(&spectra)
}

/// A sample's patch and spectrum, if it carries a usable one.
pub fn sample_spectrum(s: &ecsp_protocol::measurement::ColorSample) -> Option<(String, Spectrum)> {
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
}

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
    let shown_ids: Option<Vec<&str>> = report.map(|r| worst_patches(r, SPECTRA_DRAWN));
    let spectra_svg = spectra_plot(
        words,
        &record.settings.printing_condition,
        record,
        shown_ids.as_deref(),
    )
    .map(|(_, svg)| svg);
    MeasurementSummary {
        patches: record.samples.len(),
        printing_condition: record.settings.printing_condition.clone(),
        ab_svg: report
            .and_then(|r| plot::ab_diagram_svg(words, &with_worst(r, AB_DRAWN), limit).ok()),
        delta_e_bars_svg: report.and_then(|r| plot::delta_e_bars_svg(words, r, limit).ok()),
        comparison,
        spectra_svg,
    }
}

/// The spectra plot of `record` titled `title`: the curves [`spectra_of`] picks, in front of the
/// band of all the record's spectra when there are more; the curves drawn come with it. None
/// when no sample carries a usable spectrum.
pub fn spectra_plot(
    words: &Words,
    title: &str,
    record: &MeasurementRecord,
    shown: Option<&[&str]>,
) -> Option<(Vec<(String, Spectrum)>, String)> {
    let curves = spectra_of(record, shown);
    if curves.is_empty() {
        return None;
    }
    let band = (record.samples.len() > curves.len())
        .then(|| spectral_band(record))
        .flatten();
    let svg = plot::spectra_band_svg(words, title, &curves, band.as_ref()).ok()?;
    Some((curves, svg))
}

/// The spectra of `record`'s samples to draw: those of the patches `shown` (all without it), at
/// most [`SPECTRA_DRAWN`], in the record's order; samples without a usable spectrum left out.
pub fn spectra_of(record: &MeasurementRecord, shown: Option<&[&str]>) -> Vec<(String, Spectrum)> {
    record
        .samples
        .iter()
        .filter(|s| shown.is_none_or(|ids| ids.contains(&s.patch.as_str())))
        .filter_map(sample_spectrum)
        .take(SPECTRA_DRAWN)
        .collect()
}
