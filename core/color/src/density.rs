//! ISO 5-3 reflection densities: Status T and Status E (red, green and blue filters) and ISO
//! visual density, absolute or relative to the paper.
//!
//! D = −log10(Σ Π(λ)·R(λ) / Σ Π(λ)) over the ISO 5-3 spectral products Π at 10 nm from 340 to
//! 830 nm. Spectra on a 10 nm grid are used as they are, spectra at 1, 2 or 5 nm at their 10 nm
//! points; beyond the measured range the end values are held (ASTM E308 practice).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{ColorError, Result};
use crate::spectrum::Spectrum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DensityStatus {
    /// Status T: wide-band, North American graphic arts.
    T,
    /// Status E: wide-band with a different blue filter, European graphic arts.
    E,
}

impl DensityStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "T" => Some(Self::T),
            "E" => Some(Self::E),
            _ => None,
        }
    }
}

/// Densities through each filter. Cyan ink is read through the red filter, magenta through the
/// green and yellow through the blue; black (and grey) with the visual function.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Densities {
    pub red: f64,
    pub green: f64,
    pub blue: f64,
    pub visual: f64,
}

impl Densities {
    /// Densities relative to the paper (sample minus paper).
    pub fn relative_to(&self, paper: &Densities) -> Densities {
        Densities {
            red: self.red - paper.red,
            green: self.green - paper.green,
            blue: self.blue - paper.blue,
            visual: self.visual - paper.visual,
        }
    }
}

struct Products {
    /// Columns: T red, T green, T blue, E red, E green, E blue, visual; 340–830 nm at 10 nm.
    columns: [Vec<f64>; 7],
}

fn products() -> &'static Products {
    static P: OnceLock<Products> = OnceLock::new();
    P.get_or_init(|| {
        let mut columns: [Vec<f64>; 7] = Default::default();
        for line in include_str!("../data/iso5-3_density_10nm.csv")
            .lines()
            .skip(1)
        {
            let f: Vec<f64> = line
                .split(',')
                .map(|v| v.trim().parse().expect("embedded ISO 5-3 table is numeric"))
                .collect();
            for (c, col) in columns.iter_mut().enumerate() {
                col.push(f[c + 1]);
            }
        }
        Products { columns }
    })
}

const START_NM: u32 = 340;

fn density(product: &[f64], spectrum: &Spectrum) -> Result<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (i, p) in product.iter().enumerate() {
        if *p == 0.0 {
            continue;
        }
        let nm = START_NM + 10 * i as u32;
        num += p * spectrum.at(f64::from(nm));
        den += p;
    }
    if num <= 0.0 {
        return Err(ColorError::InvalidSpectrum(
            "the reflectance is zero over the whole filter band: the density is infinite".into(),
        ));
    }
    Ok(-(num / den).log10())
}

/// ISO 5-3 densities of a reflectance spectrum.
pub fn densities(spectrum: &Spectrum, status: DensityStatus) -> Result<Densities> {
    let g = spectrum.grid();
    if 10 % g.interval_nm != 0 || g.start_nm % g.interval_nm != 0 {
        return Err(ColorError::Unsupported(format!(
            "densities need a grid with points every 10 nm (1, 2, 5 or 10 nm steps on whole wavelengths), not {g}"
        )));
    }
    let p = products();
    let base = match status {
        DensityStatus::T => 0,
        DensityStatus::E => 3,
    };
    Ok(Densities {
        red: density(&p.columns[base], spectrum)?,
        green: density(&p.columns[base + 1], spectrum)?,
        blue: density(&p.columns[base + 2], spectrum)?,
        visual: density(&p.columns[6], spectrum)?,
    })
}

/// Which patch densities are made relative to.
#[derive(Debug, Clone, PartialEq)]
pub enum PaperChoice {
    /// Absolute densities.
    None,
    /// The patch with this id.
    Patch(String),
    /// The patch whose device values say it is unprinted (CMYK 0, RGB at maximum).
    Detect,
}

/// The densities of a chart: every patch with a spectrum, absolute or paper-relative.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartDensities {
    pub status: DensityStatus,
    /// The paper patch the densities are relative to, if any.
    pub paper: Option<String>,
    /// (patch id, densities).
    pub patches: Vec<(String, Densities)>,
}

/// Densities of every patch of `d` that has a spectrum.
pub fn chart_densities(
    d: &crate::dataset::Dataset,
    status: DensityStatus,
    paper: &PaperChoice,
) -> Result<ChartDensities> {
    let paper_patch = match paper {
        PaperChoice::None => None,
        PaperChoice::Patch(id) => Some(
            d.patches
                .iter()
                .find(|p| &p.id == id)
                .ok_or_else(|| ColorError::Dataset(format!("no patch `{id}`")))?,
        ),
        PaperChoice::Detect => Some(d.paper_white().ok_or_else(|| {
            ColorError::Dataset(
                "no patch is unprinted by its device values (CMYK 0 or RGB at maximum); name the paper patch".into(),
            )
        })?),
    };
    let paper_density = match paper_patch {
        Some(p) => {
            let s = p.spectrum.as_ref().ok_or_else(|| {
                ColorError::Dataset(format!("the paper patch `{}` has no spectrum", p.id))
            })?;
            Some(densities(s, status)?)
        }
        None => None,
    };
    let mut patches = Vec::new();
    for p in &d.patches {
        let Some(s) = &p.spectrum else { continue };
        let abs = densities(s, status)
            .map_err(|e| ColorError::Dataset(format!("patch {}: {e}", p.id)))?;
        patches.push((
            p.id.clone(),
            paper_density.map_or(abs, |paper| abs.relative_to(&paper)),
        ));
    }
    if patches.is_empty() {
        return Err(ColorError::Dataset(
            "no spectral data to compute densities from".into(),
        ));
    }
    Ok(ChartDensities {
        status,
        paper: paper_patch.map(|p| p.id.clone()),
        patches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::WavelengthGrid;

    #[test]
    fn a_flat_grey_has_the_same_density_through_every_filter() {
        let g = WavelengthGrid::nm380_730();
        let s = Spectrum::new(g, vec![0.1; 36]).unwrap();
        let d = densities(&s, DensityStatus::T).unwrap();
        for v in [d.red, d.green, d.blue, d.visual] {
            assert!((v - 1.0).abs() < 1e-12, "{d:?}");
        }
        let paper = densities(&Spectrum::new(g, vec![0.9; 36]).unwrap(), DensityStatus::E).unwrap();
        let rel = d.relative_to(&paper);
        assert!((rel.visual - (1.0 + 0.9f64.log10())).abs() < 1e-12);
        let black = Spectrum::new(g, vec![0.0; 36]).unwrap();
        assert!(densities(&black, DensityStatus::T).is_err());
    }
}
