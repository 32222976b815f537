//! Tolerance sets and the pass/fail report a print is judged by.
//!
//! A set names a ΔE formula and criteria; each criterion is a statistic over the patches (mean,
//! maximum, 95th percentile, or every patch of a list) with a limit, and is *normative* (failing
//! it fails the job) or *informative* (shown only). The 95th percentile is the nearest-rank
//! value: the smallest ΔE at or above which 5 % of the patches lie.

use serde::{Deserialize, Serialize};

use crate::cie::{Illuminant, Observer};
use crate::convert::Lab;
use crate::dataset::{Dataset, DeviceValues, Patch};
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
    /// The illuminant to judge under; when absent, the one the reference file declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub illuminant: Option<Illuminant>,
    /// `2` or `10`, as a number or a string (tolerance files have used both); when absent, the
    /// observer the reference file declares.
    #[serde(
        default,
        deserialize_with = "observer_number_or_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub observer: Option<Observer>,
    pub criteria: Vec<Criterion>,
}

fn observer_number_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Observer>, D::Error> {
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
    Observer::parse(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!("observer must be 2 or 10 (degrees), got `{text}`"))
    })
}

impl ToleranceSet {
    /// The limit a per-patch plot draws: the per-patch criterion's if the set has one, else its
    /// first criterion's.
    pub fn plotted_limit(&self) -> Option<f64> {
        self.criteria
            .iter()
            .find(|c| c.statistic == Statistic::PerPatch)
            .or(self.criteria.first())
            .map(|c| c.limit)
    }

    /// ISO 12647-2-style defaults for a ΔE method: mean ≤ 3 and 95th percentile ≤ 6 normative,
    /// maximum shown.
    pub fn default_for(delta_e: DeltaE) -> Self {
        Self {
            name: format!("default ({})", delta_e.name()),
            delta_e,
            illuminant: None,
            observer: None,
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
    /// The reference patch's id.
    pub id: String,
    /// The sample patch's id (differs from `id` when matched by device values).
    pub sample_id: String,
    pub reference: Lab,
    pub sample: Lab,
    pub delta_e: f64,
    /// The print-verification group of the patch, from its device values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<PatchGroup>,
}

/// The groups print verification reports separately (ISO 12647-2 / ISO 15339 practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchGroup {
    /// Unprinted substrate: no colourant (CMYK 0) or full white (RGB at maximum).
    Paper,
    /// One colourant solid (C, M, Y, K; R, G, B for RGB).
    Primaries,
    /// Two chromatic colourants solid (R, G, B overprints; C, M, Y for RGB).
    Secondaries,
    /// Black tints and CMY grey balance (equal RGB values for RGB).
    Greys,
}

impl PatchGroup {
    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Primaries => "primaries",
            Self::Secondaries => "secondaries",
            Self::Greys => "greys",
        }
    }

    /// The group of a patch with these device values, if any.
    pub fn of(device: &DeviceValues) -> Option<Self> {
        let v = &device.values;
        let near = |a: f64, b: f64| (a - b).abs() <= 0.5 * (b.abs().max(1.0) / 100.0).max(0.005);
        match device.space.as_str() {
            "CMYK" | "CMY" => {
                let full = 100.0;
                let (cmy, k) = (&v[..3], v.get(3).copied().unwrap_or(0.0));
                let solids = cmy.iter().filter(|x| near(**x, full)).count();
                let zeros = cmy.iter().filter(|x| near(**x, 0.0)).count();
                if zeros == 3 && near(k, 0.0) {
                    Some(Self::Paper)
                } else if (solids == 1 && zeros == 2 && near(k, 0.0))
                    || (zeros == 3 && near(k, full))
                {
                    Some(Self::Primaries)
                } else if solids == 2 && zeros == 1 && near(k, 0.0) {
                    Some(Self::Secondaries)
                } else if zeros == 3
                    || (near(k, 0.0)
                        && near(cmy[1], cmy[2])
                        && cmy[0] >= cmy[1]
                        && cmy[0] - cmy[1] <= 15.0
                        && cmy[1] > 0.0)
                {
                    Some(Self::Greys)
                } else {
                    None
                }
            }
            "RGB" => {
                let max = if v.iter().any(|x| *x > 100.0) {
                    255.0
                } else if v.iter().any(|x| *x > 1.0) {
                    100.0
                } else {
                    1.0
                };
                let fulls = v.iter().filter(|x| near(**x, max)).count();
                let zeros = v.iter().filter(|x| near(**x, 0.0)).count();
                match (fulls, zeros) {
                    (3, _) => Some(Self::Paper),
                    (1, 2) => Some(Self::Primaries),
                    (2, 1) => Some(Self::Secondaries),
                    _ if near(v[0], v[1]) && near(v[1], v[2]) => Some(Self::Greys),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// ΔE statistics of one group of patches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatistics {
    pub group: PatchGroup,
    pub count: usize,
    pub mean: f64,
    pub max: f64,
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
    /// The ΔE formula with its parameters.
    pub formula: DeltaE,
    /// What CIELAB was computed or taken for.
    pub illuminant: Illuminant,
    pub observer: Observer,
    /// How patches were paired.
    pub matched_by: Matching,
    /// Compared patches, in the reference's order.
    pub patches: Vec<PatchDifference>,
    /// Reference patches with no counterpart in the sample (ids), and the reverse.
    pub unmatched_reference: Vec<String>,
    pub unmatched_sample: Vec<String>,
    /// The worst patches, largest ΔE first (at most 10).
    pub worst: Vec<PatchDifference>,
    /// Statistics per group, for the groups present.
    pub groups: Vec<GroupStatistics>,
    pub mean: f64,
    pub max: f64,
    pub percentile95: f64,
    pub outcomes: Vec<CriterionOutcome>,
    /// All normative criteria passed.
    pub passed: bool,
    /// What was assumed, not checked or chosen against a file's own declaration.
    pub warnings: Vec<String>,
}

impl ComparisonReport {
    /// The report as a print-verification tool prints it: what was compared and how, every
    /// patch up to `patch_rows` patches (else the worst ten), statistics by group, unmatched
    /// patches, what was assumed, and the criteria.
    pub fn to_text(&self, patch_rows: usize) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "{} — {} under {}/{}, patches matched by {}",
            self.tolerance_set,
            self.method,
            self.illuminant,
            self.observer,
            match self.matched_by {
                Matching::DeviceValues => "device values",
                Matching::Position => "position",
                _ => "id",
            }
        );
        let rows: Vec<&PatchDifference> = if self.patches.len() <= patch_rows {
            self.patches.iter().collect()
        } else {
            let _ = writeln!(
                w,
                "{} patches compared; the {} worst:",
                self.patches.len(),
                self.worst.len()
            );
            self.worst.iter().collect()
        };
        let _ = writeln!(
            w,
            "{:<12} {:<12} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}   {:>7}",
            "patch", "sample", "ref L*", "a*", "b*", "L*", "a*", "b*", "ΔE"
        );
        for p in rows {
            let _ = writeln!(
                w,
                "{:<12} {:<12} {:>8.2} {:>8.2} {:>8.2}   {:>8.2} {:>8.2} {:>8.2}   {:>7.2}",
                p.id,
                p.sample_id,
                p.reference.l,
                p.reference.a,
                p.reference.b,
                p.sample.l,
                p.sample.a,
                p.sample.b,
                p.delta_e
            );
        }
        let _ = writeln!(
            w,
            "mean {:.2}  95th percentile {:.2}  max {:.2}  ({} patches)",
            self.mean,
            self.percentile95,
            self.max,
            self.patches.len()
        );
        for g in &self.groups {
            let _ = writeln!(
                w,
                "  {:<12} {:>4} patches  mean {:.2}  max {:.2}",
                g.group.name(),
                g.count,
                g.mean,
                g.max
            );
        }
        for (side, ids) in [
            ("reference", &self.unmatched_reference),
            ("sample", &self.unmatched_sample),
        ] {
            if !ids.is_empty() {
                let shown: Vec<&str> = ids.iter().take(12).map(String::as_str).collect();
                let _ = writeln!(
                    w,
                    "unmatched {side} patches ({}): {}{}",
                    ids.len(),
                    shown.join(", "),
                    if ids.len() > shown.len() { ", …" } else { "" }
                );
            }
        }
        for note in &self.warnings {
            let _ = writeln!(w, "note: {note}");
        }
        for o in &self.outcomes {
            let severity = match o.criterion.severity {
                Severity::Normative => "normative",
                Severity::Informative => "informative",
            };
            let _ = writeln!(
                w,
                "  {} {} ({severity})",
                if o.passed { "PASS" } else { "FAIL" },
                o.explanation
            );
        }
        let _ = writeln!(
            w,
            "{}",
            if self.passed {
                "PASS"
            } else {
                "FAIL: a normative criterion is not met"
            }
        );
        out
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// How to pair the patches of two charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matching {
    /// By device values when both charts carry them in the same space, else by id.
    #[default]
    Auto,
    /// Equal device values (CMYK, RGB, n-colour), to 0.01; duplicates of the reference are
    /// averaged, so the order of either chart does not matter.
    DeviceValues,
    /// Equal patch ids.
    Id,
    /// The n-th patch with the n-th: only when asked, and only for charts of equal size.
    Position,
}

impl Matching {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "device" | "device_values" | "device-values" => Some(Self::DeviceValues),
            "id" => Some(Self::Id),
            "position" => Some(Self::Position),
            _ => None,
        }
    }
}

/// Options for [`compare`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// Compare readings taken under different measurement conditions anyway (reported).
    pub allow_mixed_conditions: bool,
    pub matching: Matching,
    /// Judge under this illuminant/observer rather than the tolerance set's or the files'.
    pub illuminant: Option<Illuminant>,
    pub observer: Option<Observer>,
}

/// Device values to 0.01, with their space: equal keys are the same patch of a chart.
type DeviceKey = (String, Vec<i64>);

fn device_key(d: &DeviceValues) -> DeviceKey {
    (
        d.space.clone(),
        d.values
            .iter()
            .map(|v| (v * 100.0).round() as i64)
            .collect(),
    )
}

/// (reference indices, sample index) pairs: several reference indices when the reference has
/// duplicates of a device value (their CIELAB is averaged).
type Pairs = Vec<(Vec<usize>, usize)>;

/// How the patches were paired, which were not, and what to say about it.
struct Pairing {
    matching: Matching,
    pairs: Pairs,
    unmatched_reference: Vec<String>,
    unmatched_sample: Vec<String>,
    notes: Vec<String>,
}

fn pair_patches(reference: &Dataset, sample: &Dataset, matching: Matching) -> Result<Pairing> {
    let device = |d: &Dataset| -> Option<Vec<DeviceValues>> {
        d.patches.iter().map(Patch::device_values).collect()
    };
    let (ref_dev, sam_dev) = (device(reference), device(sample));
    let same_space = match (&ref_dev, &sam_dev) {
        (Some(r), Some(s)) => r.first().map(|d| &d.space) == s.first().map(|d| &d.space),
        _ => false,
    };
    let matching = match matching {
        Matching::Auto if same_space => Matching::DeviceValues,
        Matching::Auto => Matching::Id,
        m => m,
    };
    let mut pairs: Pairs = Vec::new();
    let mut notes = Vec::new();
    let mut used_sample = vec![false; sample.patches.len()];
    let mut matched_reference = vec![false; reference.patches.len()];
    match matching {
        Matching::DeviceValues => {
            let (Some(r), Some(s)) = (ref_dev, sam_dev) else {
                return Err(ColorError::Dataset(
                    "matching by device values needs CMYK, RGB or n-colour values in both files"
                        .into(),
                ));
            };
            let mut groups: Vec<(DeviceKey, Vec<usize>)> = Vec::new();
            let mut index: std::collections::HashMap<DeviceKey, usize> =
                std::collections::HashMap::new();
            for (i, d) in r.iter().enumerate() {
                let key = device_key(d);
                match index.get(&key) {
                    Some(&g) => groups[g].1.push(i),
                    None => {
                        index.insert(key.clone(), groups.len());
                        groups.push((key, vec![i]));
                    }
                }
            }
            let mut by_group: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
            for (j, d) in s.iter().enumerate() {
                if let Some(&g) = index.get(&device_key(d)) {
                    by_group[g].push(j);
                    used_sample[j] = true;
                }
            }
            let repeated = groups.iter().filter(|(_, refs)| refs.len() > 1).count();
            if repeated > 0 {
                notes.push(format!(
                    "{repeated} device values occur more than once in the reference; each sample patch is compared with their mean CIELAB"
                ));
            }
            for ((_, refs), mut samples) in groups.into_iter().zip(by_group) {
                // Duplicates in the sample: in id order, so the sample's order does not matter.
                samples.sort_by(|a, b| sample.patches[*a].id.cmp(&sample.patches[*b].id));
                if !samples.is_empty() {
                    for &i in &refs {
                        matched_reference[i] = true;
                    }
                }
                for j in samples {
                    pairs.push((refs.clone(), j));
                }
            }
        }
        Matching::Id => {
            let mut ids = std::collections::HashMap::new();
            for (j, p) in sample.patches.iter().enumerate() {
                ids.entry(p.id.as_str()).or_insert(j);
            }
            for (i, p) in reference.patches.iter().enumerate() {
                if let Some(&j) = ids.get(p.id.as_str()) {
                    pairs.push((vec![i], j));
                    used_sample[j] = true;
                    matched_reference[i] = true;
                }
            }
        }
        Matching::Position | Matching::Auto => {
            if reference.patches.len() != sample.patches.len() {
                return Err(ColorError::Dataset(format!(
                    "matching by position needs charts of the same size; the reference has {} patches and the sample {}",
                    reference.patches.len(),
                    sample.patches.len()
                )));
            }
            for i in 0..reference.patches.len() {
                pairs.push((vec![i], i));
            }
            used_sample.fill(true);
            matched_reference.fill(true);
        }
    }
    let unmatched_reference: Vec<String> = reference
        .patches
        .iter()
        .zip(&matched_reference)
        .filter(|(_, m)| !**m)
        .map(|(p, _)| p.id.clone())
        .collect();
    let unmatched_sample: Vec<String> = sample
        .patches
        .iter()
        .zip(&used_sample)
        .filter(|(_, m)| !**m)
        .map(|(p, _)| p.id.clone())
        .collect();
    if pairs.is_empty() {
        let how = match matching {
            Matching::DeviceValues => "device values",
            _ => "id",
        };
        return Err(ColorError::Dataset(format!(
            "no patch of the sample matches one of the reference by {how} ({} and {} patches); the charts differ, or ask for matching by position",
            reference.patches.len(),
            sample.patches.len()
        )));
    }
    Ok(Pairing {
        matching,
        pairs,
        unmatched_reference,
        unmatched_sample,
        notes,
    })
}

/// The illuminant or observer to judge under, and a warning for each file that declares
/// another one.
fn settle_for<T: Copy + PartialEq + std::fmt::Display>(
    what: &str,
    asked: Option<T>,
    set: Option<(T, &str)>,
    reference: Option<T>,
    sample: Option<T>,
    default: T,
    warnings: &mut Vec<String>,
) -> T {
    let (chosen, why) = match (asked, set, reference, sample) {
        (Some(a), ..) => (a, "as asked"),
        (None, Some((s, why)), ..) => (s, why),
        (None, None, Some(r), _) => (r, "the reference's own"),
        (None, None, None, Some(s)) => (s, "the sample's own"),
        (None, None, None, None) => {
            warnings.push(format!(
                "neither file says its {what}; {default} is used (ISO 13655)"
            ));
            (default, "")
        }
    };
    for (file, declared) in [("reference", reference), ("sample", sample)] {
        if let Some(d) = declared {
            if d != chosen {
                warnings.push(format!(
                    "the {file} file declares {what} {d}; the comparison is at {chosen} ({why})"
                ));
            }
        }
    }
    chosen
}

/// Compares `sample` to `reference` under the tolerance set: patches paired as `options` say
/// (device values, else id; position only when asked), CIELAB for the illuminant and observer
/// asked for, else the tolerance set's, else the reference file's own.
pub fn compare(
    reference: &Dataset,
    sample: &Dataset,
    set: &ToleranceSet,
    options: CompareOptions,
) -> Result<ComparisonReport> {
    let mut warnings = Vec::new();
    let (rc, sc) = (&reference.meta.conditions, &sample.meta.conditions);
    match rc.check_comparable(sc) {
        Ok(unchecked) => warnings.extend(unchecked),
        Err(e) if options.allow_mixed_conditions => warnings.push(format!("{e} (allowed)")),
        Err(e) => return Err(e),
    }
    if reference.patches.is_empty() {
        return Err(ColorError::Dataset("the reference has no patches".into()));
    }
    // A side with CIELAB only dictates what it can be compared under: what it declares, or
    // D50/2° (ISO 13655) when it declares nothing, which is then said.
    let lab_only = |d: &Dataset| d.patches.iter().all(|p| p.spectrum.is_none());
    let mut fixed_illuminant = None;
    let mut fixed_observer = None;
    for (file, d) in [("reference", reference), ("sample", sample)] {
        if lab_only(d) {
            if d.meta.lab_illuminant.is_none() || d.meta.lab_observer.is_none() {
                warnings.push(format!(
                    "the {file} has CIELAB only and does not say for which illuminant and observer; taken as D50/2° (ISO 13655)"
                ));
            }
            fixed_illuminant =
                fixed_illuminant.or(Some(d.meta.lab_illuminant.unwrap_or(Illuminant::D50)));
            fixed_observer = fixed_observer.or(Some(
                d.meta.lab_observer.unwrap_or(Observer::Cie1931TwoDegree),
            ));
        }
    }
    let illuminant = settle_for(
        "illuminant",
        options.illuminant,
        set.illuminant
            .map(|i| (i, "the tolerance set's"))
            .or(fixed_illuminant.map(|i| (i, "all a CIELAB-only file allows"))),
        reference.meta.lab_illuminant,
        sample.meta.lab_illuminant,
        Illuminant::D50,
        &mut warnings,
    );
    let observer = settle_for(
        "observer",
        options.observer,
        set.observer
            .map(|o| (o, "the tolerance set's"))
            .or(fixed_observer.map(|o| (o, "all a CIELAB-only file allows"))),
        reference.meta.lab_observer,
        sample.meta.lab_observer,
        Observer::Cie1931TwoDegree,
        &mut warnings,
    );
    let Pairing {
        matching: matched_by,
        pairs,
        unmatched_reference,
        unmatched_sample,
        mut notes,
    } = pair_patches(reference, sample, options.matching)?;
    warnings.append(&mut notes);
    if !unmatched_reference.is_empty() || !unmatched_sample.is_empty() {
        warnings.push(format!(
            "{} reference and {} sample patches have no counterpart (listed in the report)",
            unmatched_reference.len(),
            unmatched_sample.len()
        ));
    }
    let mut patches = Vec::with_capacity(pairs.len());
    for (refs, s) in pairs {
        let mut sum = Lab {
            l: 0.0,
            a: 0.0,
            b: 0.0,
        };
        for &r in &refs {
            let (lab, _) = reference.lab(r, illuminant, observer)?;
            sum = Lab {
                l: sum.l + lab.l,
                a: sum.a + lab.a,
                b: sum.b + lab.b,
            };
        }
        let n = refs.len() as f64;
        let ref_lab = Lab {
            l: sum.l / n,
            a: sum.a / n,
            b: sum.b / n,
        };
        let (sam_lab, _) = sample.lab(s, illuminant, observer)?;
        let first = &reference.patches[refs[0]];
        patches.push(PatchDifference {
            id: first.id.clone(),
            sample_id: sample.patches[s].id.clone(),
            reference: ref_lab,
            sample: sam_lab,
            delta_e: set.delta_e.between(ref_lab, sam_lab),
            group: first.device_values().as_ref().and_then(PatchGroup::of),
        });
    }
    let mut sorted: Vec<f64> = patches.iter().map(|p| p.delta_e).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    let max = sorted.last().copied().unwrap_or(0.0);
    let p95 = percentile(&sorted, 95.0);
    let mut worst = patches.clone();
    worst.sort_by(|a, b| {
        b.delta_e
            .total_cmp(&a.delta_e)
            .then_with(|| a.sample_id.cmp(&b.sample_id))
    });
    worst.truncate(10);
    let mut groups = Vec::new();
    for g in [
        PatchGroup::Paper,
        PatchGroup::Primaries,
        PatchGroup::Secondaries,
        PatchGroup::Greys,
    ] {
        let v: Vec<f64> = patches
            .iter()
            .filter(|p| p.group == Some(g))
            .map(|p| p.delta_e)
            .collect();
        if !v.is_empty() {
            groups.push(GroupStatistics {
                group: g,
                count: v.len(),
                mean: v.iter().sum::<f64>() / v.len() as f64,
                max: v.iter().copied().fold(0.0, f64::max),
            });
        }
    }
    let name = set.delta_e.name();
    let mut outcomes = Vec::new();
    for c in &set.criteria {
        let chosen: Vec<&PatchDifference> = match &c.patches {
            Some(ids) => {
                let mut v = Vec::new();
                for id in ids {
                    v.push(patches.iter().find(|p| &p.id == id).ok_or_else(|| {
                        ColorError::Tolerance(format!(
                            "criterion names patch `{id}`, which the reference does not have (or the sample lacks)"
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
        formula: set.delta_e,
        illuminant,
        observer,
        matched_by,
        patches,
        unmatched_reference,
        unmatched_sample,
        worst,
        groups,
        mean,
        max,
        percentile95: p95,
        outcomes,
        passed,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plotted_limit_is_the_per_patch_one_else_the_first() {
        let mut set = ToleranceSet::default_for(DeltaE::DE2000);
        assert_eq!(set.plotted_limit(), Some(set.criteria[0].limit));
        let mut per_patch = set.criteria[0].clone();
        per_patch.statistic = Statistic::PerPatch;
        per_patch.limit = 4.5;
        set.criteria.push(per_patch);
        assert_eq!(set.plotted_limit(), Some(4.5));
        set.criteria.clear();
        assert_eq!(set.plotted_limit(), None);
    }

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
                Some(Observer::Cie1964TenDegree)
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

/// Why two measurements cannot be compared; each front end says it in its own language.
#[derive(Debug, Clone, PartialEq)]
pub enum NotComparable {
    /// The reference's samples cannot be read as a dataset.
    ReferenceUnreadable,
    /// The measurement's samples cannot be read as a dataset (the reader's words).
    Unreadable(String),
    /// Measured under other conditions (M0–M3, backing, aperture…): the library's words.
    Conditions(String),
    /// No patch of the one pairs with a patch of the other.
    NoCommonPatch,
    /// Paired by position, but the charts have these many patches (reference, sample).
    SizesDiffer(usize, usize),
    Other(String),
}

/// The tolerance set measurements are compared with (the portal's pages and the phone apps):
/// ΔE00 at its defaults, and the per-patch limit drawn from it (the per-patch criterion if it
/// has one, else its first, as the CLI draws it).
pub fn measurement_tolerance() -> (ToleranceSet, Option<f64>) {
    let set = ToleranceSet::default_for(DeltaE::DE2000);
    let limit = set.plotted_limit();
    (set, limit)
}

/// `reference` against `sample`, patches paired by name (or by position, when asked), CIELAB
/// for what the records carry it for, else D50/2° (ISO 13655): a spectrum has no illuminant.
/// An error when the two cannot be compared or no patch pairs.
pub fn compare_measurements(
    reference: &Dataset,
    sample: &Dataset,
    set: &ToleranceSet,
    by_position: bool,
) -> std::result::Result<ComparisonReport, NotComparable> {
    if let Err(e) = reference
        .meta
        .conditions
        .check_comparable(&sample.meta.conditions)
    {
        return Err(NotComparable::Conditions(e.to_string()));
    }
    if by_position && reference.patches.len() != sample.patches.len() {
        return Err(NotComparable::SizesDiffer(
            reference.patches.len(),
            sample.patches.len(),
        ));
    }
    let illuminant = reference
        .meta
        .lab_illuminant
        .or(sample.meta.lab_illuminant)
        .unwrap_or(Illuminant::D50);
    let observer = reference
        .meta
        .lab_observer
        .or(sample.meta.lab_observer)
        .unwrap_or(Observer::Cie1931TwoDegree);
    let report = compare(
        reference,
        sample,
        set,
        CompareOptions {
            matching: if by_position {
                Matching::Position
            } else {
                Matching::Id
            },
            illuminant: Some(illuminant),
            observer: Some(observer),
            ..CompareOptions::default()
        },
    )
    .map_err(|e| {
        let detail = e.to_string();
        if detail.contains("no patch of the sample matches") {
            NotComparable::NoCommonPatch
        } else {
            NotComparable::Other(detail)
        }
    })?;
    if report.patches.is_empty() {
        return Err(NotComparable::NoCommonPatch);
    }
    Ok(report)
}
