//! Tolerance sets and the pass/fail report a print is judged by.
//!
//! A set names a ΔE formula and criteria; each criterion is a statistic over the patches (mean,
//! maximum, 95th percentile, or every patch of a list) with a limit, and is *normative* (failing
//! it fails the job) or *informative* (shown only). The 95th percentile is the nearest-rank
//! value: the smallest ΔE at or above which 5 % of the patches lie.

use serde::{Deserialize, Serialize};

use crate::cie::{Illuminant, Observer};
use crate::convert::Lab;
use crate::dataset::Dataset;
use crate::delta_e::DeltaE;
use crate::error::{ColorError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Mean,
    Max,
    Percentile95,
    /// Every patch of `patches` (or every patch) must be within the limit.
    PerPatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Normative,
    Informative,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub statistic: Statistic,
    /// The largest ΔE that passes.
    pub limit: f64,
    pub severity: Severity,
    /// Only these patch ids (e.g. the paper white and the primaries); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<String>>,
    /// A label for the report, e.g. "Paper white".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToleranceSet {
    pub name: String,
    pub delta_e: DeltaE,
    #[serde(default = "default_illuminant")]
    pub illuminant: Illuminant,
    /// `2` or `10`, as a number or a string (tolerance files have used both).
    #[serde(
        default = "default_observer",
        deserialize_with = "observer_number_or_text"
    )]
    pub observer: Observer,
    pub criteria: Vec<Criterion>,
}

fn default_illuminant() -> Illuminant {
    Illuminant::D50
}

fn observer_number_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Observer, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Number(u8),
        Text(String),
    }
    let text = match Written::deserialize(d)? {
        Written::Number(n) => n.to_string(),
        Written::Text(t) => t,
    };
    Observer::parse(&text).ok_or_else(|| {
        serde::de::Error::custom(format!("observer must be 2 or 10 (degrees), got `{text}`"))
    })
}

fn default_observer() -> Observer {
    Observer::Cie1931TwoDegree
}

impl ToleranceSet {
    /// ISO 12647-2-style defaults for a ΔE method: mean ≤ 3 and 95th percentile ≤ 6 normative,
    /// maximum shown.
    pub fn default_for(delta_e: DeltaE) -> Self {
        Self {
            name: format!("default ({})", delta_e.name()),
            delta_e,
            illuminant: Illuminant::D50,
            observer: Observer::Cie1931TwoDegree,
            criteria: vec![
                Criterion {
                    statistic: Statistic::Mean,
                    limit: 3.0,
                    severity: Severity::Normative,
                    patches: None,
                    label: None,
                },
                Criterion {
                    statistic: Statistic::Percentile95,
                    limit: 6.0,
                    severity: Severity::Normative,
                    patches: None,
                    label: None,
                },
                Criterion {
                    statistic: Statistic::Max,
                    limit: 10.0,
                    severity: Severity::Informative,
                    patches: None,
                    label: None,
                },
            ],
        }
    }

    /// Reads a tolerance set from JSON, with the position of a mistake.
    pub fn from_json(text: &str) -> Result<Self> {
        let set: Self =
            serde_json::from_str(text).map_err(|e| ColorError::Tolerance(e.to_string()))?;
        if set.criteria.is_empty() {
            return Err(ColorError::Tolerance("`criteria` is empty".into()));
        }
        for (i, c) in set.criteria.iter().enumerate() {
            if !c.limit.is_finite() || c.limit < 0.0 {
                return Err(ColorError::Tolerance(format!(
                    "criteria[{i}].limit must be a number of 0 or more"
                )));
            }
        }
        Ok(set)
    }
}

/// One patch compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchDifference {
    pub id: String,
    pub reference: Lab,
    pub sample: Lab,
    pub delta_e: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionOutcome {
    pub criterion: Criterion,
    /// The statistic's value (for per-patch: the worst patch).
    pub value: f64,
    pub passed: bool,
    /// Why, in words: "mean ΔE00 2.31 ≤ 3.00" or "patch P7 ΔE00 4.2 > 3.0".
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonReport {
    pub tolerance_set: String,
    pub method: String,
    pub illuminant: Illuminant,
    pub observer: Observer,
    pub patches: Vec<PatchDifference>,
    pub mean: f64,
    pub max: f64,
    pub percentile95: f64,
    pub outcomes: Vec<CriterionOutcome>,
    /// All normative criteria passed.
    pub passed: bool,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Options for [`compare`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// Compare readings taken under different measurement conditions anyway.
    pub allow_mixed_conditions: bool,
}

/// Compares `sample` to `reference` patch by patch (matched by id when both have distinct ids,
/// else by position) under the tolerance set.
pub fn compare(
    reference: &Dataset,
    sample: &Dataset,
    set: &ToleranceSet,
    options: CompareOptions,
) -> Result<ComparisonReport> {
    let has_spectra = |d: &Dataset| d.patches.iter().any(|p| p.spectrum.is_some());
    if !options.allow_mixed_conditions && has_spectra(reference) && has_spectra(sample) {
        reference
            .meta
            .conditions
            .check_comparable(&sample.meta.conditions)?;
    }
    if reference.patches.is_empty() {
        return Err(ColorError::Dataset("the reference has no patches".into()));
    }
    let pairs: Vec<(usize, usize)> = {
        let ids: std::collections::HashMap<&str, usize> = sample
            .patches
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let unique = ids.len() == sample.patches.len();
        if unique
            && reference
                .patches
                .iter()
                .all(|p| ids.contains_key(p.id.as_str()))
        {
            reference
                .patches
                .iter()
                .enumerate()
                .map(|(i, p)| (i, ids[p.id.as_str()]))
                .collect()
        } else if reference.patches.len() == sample.patches.len() {
            (0..reference.patches.len()).map(|i| (i, i)).collect()
        } else {
            return Err(ColorError::Dataset(format!(
                "the reference has {} patches and the sample {}, and their ids do not match",
                reference.patches.len(),
                sample.patches.len()
            )));
        }
    };
    let mut patches = Vec::with_capacity(pairs.len());
    for (r, s) in pairs {
        let (ref_lab, _) = reference.lab(r, set.illuminant, set.observer)?;
        let (sam_lab, _) = sample.lab(s, set.illuminant, set.observer)?;
        patches.push(PatchDifference {
            id: reference.patches[r].id.clone(),
            reference: ref_lab,
            sample: sam_lab,
            delta_e: set.delta_e.between(ref_lab, sam_lab),
        });
    }
    let mut sorted: Vec<f64> = patches.iter().map(|p| p.delta_e).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let max = sorted.last().copied().unwrap_or(0.0);
    let p95 = percentile(&sorted, 95.0);
    let name = set.delta_e.name();
    let mut outcomes = Vec::new();
    for c in &set.criteria {
        let chosen: Vec<&PatchDifference> = match &c.patches {
            Some(ids) => {
                let mut v = Vec::new();
                for id in ids {
                    v.push(patches.iter().find(|p| &p.id == id).ok_or_else(|| {
                        ColorError::Tolerance(format!(
                            "criterion names patch `{id}`, which the reference does not have"
                        ))
                    })?);
                }
                v
            }
            None => patches.iter().collect(),
        };
        let mut values: Vec<f64> = chosen.iter().map(|p| p.delta_e).collect();
        values.sort_by(f64::total_cmp);
        let label = c.label.clone().unwrap_or_default();
        let (value, explanation) = match c.statistic {
            Statistic::Mean => {
                let v = values.iter().sum::<f64>() / values.len().max(1) as f64;
                (v, format!("{label}mean {name} {v:.2}"))
            }
            Statistic::Max => {
                let v = values.last().copied().unwrap_or(0.0);
                (v, format!("{label}maximum {name} {v:.2}"))
            }
            Statistic::Percentile95 => {
                let v = percentile(&values, 95.0);
                (v, format!("{label}95th percentile {name} {v:.2}"))
            }
            Statistic::PerPatch => {
                let worst = chosen.iter().max_by(|a, b| a.delta_e.total_cmp(&b.delta_e));
                let v = worst.map_or(0.0, |p| p.delta_e);
                let id = worst.map_or("-", |p| p.id.as_str());
                (v, format!("{label}worst patch {id} {name} {v:.2}"))
            }
        };
        let passed = value <= c.limit;
        let explanation = format!(
            "{explanation} {} {:.2}",
            if passed { "≤" } else { ">" },
            c.limit
        );
        outcomes.push(CriterionOutcome {
            criterion: c.clone(),
            value,
            passed,
            explanation,
        });
    }
    let passed = outcomes
        .iter()
        .all(|o| o.passed || o.criterion.severity == Severity::Informative);
    Ok(ComparisonReport {
        tolerance_set: set.name.clone(),
        method: name,
        illuminant: set.illuminant,
        observer: set.observer,
        patches,
        mean,
        max,
        percentile95: p95,
        outcomes,
        passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 95.0), 19.0);
        assert_eq!(percentile(&[3.0], 95.0), 3.0);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 95.0), 95.0);
    }

    #[test]
    fn tolerance_files_are_checked() {
        let ok = r#"{"name": "x", "delta_e": {"method": "de2000", "kl": 1, "kc": 1, "kh": 1},
                     "criteria": [{"statistic": "mean", "limit": 2, "severity": "normative"}]}"#;
        assert!(ToleranceSet::from_json(ok).is_ok());
        for observer in [r#""10""#, "10"] {
            let ten = ok.replace(
                "\"criteria\"",
                &format!("\"observer\": {observer}, \"criteria\""),
            );
            assert_eq!(
                ToleranceSet::from_json(&ten).unwrap().observer,
                Observer::Cie1964TenDegree
            );
        }
        let bad = ok.replace("\"limit\": 2", "\"limit\": -1");
        assert!(
            ToleranceSet::from_json(&bad)
                .unwrap_err()
                .to_string()
                .contains("limit")
        );
        let unknown = ok.replace("\"mean\"", "\"median\"");
        assert!(
            ToleranceSet::from_json(&unknown)
                .unwrap_err()
                .to_string()
                .contains("median")
        );
    }
}
