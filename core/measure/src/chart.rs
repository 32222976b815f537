//! The reference chart: the patch order the technician follows and what each patch should read.

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::convert::Lab;
use ecsp_color::dataset::Dataset;
use ecsp_color::delta_e::de2000;
use serde::Serialize;

use crate::error::{MeasureError, Result};

/// CIELAB is compared and uploaded for D50 and the 2° observer (ISO 13655, graphic arts).
pub const ILLUMINANT: Illuminant = Illuminant::D50;
pub const OBSERVER: Observer = Observer::Cie1931TwoDegree;

/// One patch to measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartPatch {
    pub id: String,
    pub name: Option<String>,
    pub expected: Lab,
}

/// The chart, in measuring order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    pub patches: Vec<ChartPatch>,
}

/// How a reading compares with its patch and the patches around it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PatchCheck {
    /// ΔE00 to the patch it was taken for.
    pub delta_e: f64,
    /// Set when a neighbour in the chart order matches better: the technician probably measured
    /// that one. Holds the neighbour's index and ΔE00.
    pub better_match: Option<(usize, f64)>,
}

impl Chart {
    /// Reads a CGATS or CxF reference; every patch needs a spectrum or D50/2° CIELAB.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let dataset = Dataset::from_bytes(bytes).map_err(|e| MeasureError::Chart(e.to_string()))?;
        if dataset.patches.is_empty() {
            return Err(MeasureError::Chart("the chart has no patches".into()));
        }
        let patches = (0..dataset.patches.len())
            .map(|i| {
                let p = &dataset.patches[i];
                let (lab, _) = dataset
                    .lab(i, ILLUMINANT, OBSERVER)
                    .map_err(|e| MeasureError::Chart(format!("patch {}: {e}", p.id)))?;
                Ok(ChartPatch {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    expected: lab,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { patches })
    }

    /// Compares a reading taken for patch `index` with it and with its neighbours in the order.
    pub fn check(&self, index: usize, lab: Lab) -> Option<PatchCheck> {
        let own = de2000(self.patches.get(index)?.expected, lab, 1.0, 1.0, 1.0);
        let neighbours = [index.checked_sub(1), index.checked_add(1)];
        let better_match = neighbours
            .into_iter()
            .flatten()
            .filter_map(|n| {
                self.patches
                    .get(n)
                    .map(|p| (n, de2000(p.expected, lab, 1.0, 1.0, 1.0)))
            })
            .filter(|(_, de)| *de < own)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        Some(PatchCheck {
            delta_e: own,
            better_match,
        })
    }
}
