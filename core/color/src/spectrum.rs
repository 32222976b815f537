//! Spectra on a regular wavelength grid, and the conditions they were measured under.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{ColorError, Result};

/// A regular wavelength grid: `bands` wavelengths from `start_nm` every `interval_nm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WavelengthGrid {
    pub start_nm: u32,
    pub interval_nm: u32,
    pub bands: usize,
}

impl WavelengthGrid {
    pub fn new(start_nm: u32, interval_nm: u32, bands: usize) -> Result<Self> {
        if !(1..=20).contains(&interval_nm) {
            return Err(ColorError::InvalidSpectrum(format!(
                "a wavelength interval of {interval_nm} nm is not supported (1 to 20 nm)"
            )));
        }
        if bands < 3 {
            return Err(ColorError::InvalidSpectrum(format!(
                "a spectrum needs at least 3 bands, got {bands}"
            )));
        }
        let grid = Self {
            start_nm,
            interval_nm,
            bands,
        };
        if start_nm < 300 || grid.end_nm() > 830 {
            return Err(ColorError::InvalidSpectrum(format!(
                "the grid {grid} leaves 300–830 nm"
            )));
        }
        Ok(grid)
    }

    /// The common 10 nm grids of graphic-arts instruments.
    pub fn nm380_730() -> Self {
        Self {
            start_nm: 380,
            interval_nm: 10,
            bands: 36,
        }
    }

    pub fn nm400_700() -> Self {
        Self {
            start_nm: 400,
            interval_nm: 10,
            bands: 31,
        }
    }

    pub fn end_nm(&self) -> u32 {
        self.start_nm + self.interval_nm * (self.bands as u32 - 1)
    }

    pub fn wavelength(&self, i: usize) -> u32 {
        self.start_nm + self.interval_nm * i as u32
    }

    pub fn wavelengths(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.bands).map(|i| self.wavelength(i))
    }
}

impl fmt::Display for WavelengthGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}–{} nm every {} nm",
            self.start_nm,
            self.end_nm(),
            self.interval_nm
        )
    }
}

/// Spectral reflectance factors (1.0 = perfect diffuser) on a grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spectrum {
    grid: WavelengthGrid,
    values: Vec<f64>,
}

/// Largest plausible reflectance factor (fluorescent papers exceed 1.0, not 2.0).
pub const MAX_REFLECTANCE: f64 = 2.0;

impl Spectrum {
    /// Checks that there is one finite, non-negative value per band.
    pub fn new(grid: WavelengthGrid, values: Vec<f64>) -> Result<Self> {
        if values.len() != grid.bands {
            return Err(ColorError::InvalidSpectrum(format!(
                "{} values for a grid of {} bands ({grid})",
                values.len(),
                grid.bands
            )));
        }
        for (i, v) in values.iter().enumerate() {
            let nm = grid.wavelength(i);
            if !v.is_finite() {
                return Err(ColorError::InvalidSpectrum(format!(
                    "the value at {nm} nm is not a number"
                )));
            }
            if *v < 0.0 {
                return Err(ColorError::InvalidSpectrum(format!(
                    "the value at {nm} nm is negative ({v}); reflectance factors are 0 or more"
                )));
            }
            if *v > MAX_REFLECTANCE {
                return Err(ColorError::InvalidSpectrum(format!(
                    "the value at {nm} nm is {v}; a reflectance factor above {MAX_REFLECTANCE} is not plausible (percent instead of a factor?)"
                )));
            }
        }
        Ok(Self { grid, values })
    }

    pub fn grid(&self) -> WavelengthGrid {
        self.grid
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The value at `nm`, holding the end values beyond the grid (ASTM E308 practice) and
    /// interpolating linearly between bands.
    pub fn at(&self, nm: f64) -> f64 {
        let g = self.grid;
        let pos = (nm - f64::from(g.start_nm)) / f64::from(g.interval_nm);
        if pos <= 0.0 {
            return self.values[0];
        }
        let last = g.bands - 1;
        if pos >= last as f64 {
            return self.values[last];
        }
        let i = pos.floor() as usize;
        let t = pos - i as f64;
        self.values[i] * (1.0 - t) + self.values[i + 1] * t
    }

    /// Stearns & Stearns bandpass correction (ASTM E308 §7.5.2, α = 0.083) for data measured
    /// with a triangular bandpass equal to the interval and not corrected by the instrument.
    pub fn bandpass_corrected(&self) -> Spectrum {
        const ALPHA: f64 = 0.083;
        let m = &self.values;
        let n = m.len();
        let values = (0..n)
            .map(|i| {
                let r = if i == 0 {
                    (1.0 + ALPHA) * m[0] - ALPHA * m[1]
                } else if i == n - 1 {
                    (1.0 + ALPHA) * m[n - 1] - ALPHA * m[n - 2]
                } else {
                    (1.0 + 2.0 * ALPHA) * m[i] - ALPHA * (m[i - 1] + m[i + 1])
                };
                r.max(0.0)
            })
            .collect();
        Spectrum {
            grid: self.grid,
            values,
        }
    }
}

pub use ecsp_protocol::colour_model::{Backing, Geometry, IlluminationCondition};

/// How a reading was taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasurementConditions {
    pub illumination: Option<IlluminationCondition>,
    /// Whether the instrument (or the user) corrected the data for spectral bandpass.
    pub bandpass_corrected: bool,
    pub geometry: Option<Geometry>,
    pub aperture_mm: Option<f64>,
    pub backing: Option<Backing>,
    pub instrument_model: Option<String>,
    pub instrument_serial: Option<String>,
}

impl MeasurementConditions {
    /// Whether readings under `self` and `other` may be compared: same ISO 13655 condition,
    /// geometry and backing wherever both declare one. Different instruments of a model family
    /// are compared routinely, so instrument and aperture are not checked; bandpass handling is
    /// accounted for by the weights. Returns what could not be checked (one side unknown).
    pub fn check_comparable(&self, other: &Self) -> Result<Vec<String>> {
        fn one<T: PartialEq + fmt::Debug>(
            field: &'static str,
            a: &Option<T>,
            b: &Option<T>,
            unchecked: &mut Vec<String>,
        ) -> Result<()> {
            match (a, b) {
                (Some(x), Some(y)) if x != y => Err(ColorError::IncomparableConditions {
                    field,
                    a: format!("{x:?}"),
                    b: format!("{y:?}"),
                }),
                (Some(_), Some(_)) | (None, None) => Ok(()),
                (None, Some(_)) => {
                    unchecked.push(format!(
                        "the reference does not say its {field}; not checked"
                    ));
                    Ok(())
                }
                (Some(_), None) => {
                    unchecked.push(format!("the sample does not say its {field}; not checked"));
                    Ok(())
                }
            }
        }
        let mut unchecked = Vec::new();
        one(
            "measurement condition",
            &self.illumination,
            &other.illumination,
            &mut unchecked,
        )?;
        one("geometry", &self.geometry, &other.geometry, &mut unchecked)?;
        one("backing", &self.backing, &other.backing, &mut unchecked)?;
        Ok(unchecked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named_by_wavelength() {
        let g = WavelengthGrid::new(400, 10, 4).unwrap();
        let e = Spectrum::new(g, vec![0.1, f64::NAN, 0.3, 0.4]).unwrap_err();
        assert!(e.to_string().contains("410 nm"), "{e}");
        let e = Spectrum::new(g, vec![0.1, 0.2, -0.3, 0.4]).unwrap_err();
        assert!(
            e.to_string().contains("420 nm") && e.to_string().contains("negative"),
            "{e}"
        );
        let e = Spectrum::new(g, vec![0.1, 0.2]).unwrap_err();
        assert!(e.to_string().contains("2 values"), "{e}");
        let e = Spectrum::new(g, vec![10.0, 20.0, 30.0, 40.0]).unwrap_err();
        assert!(e.to_string().contains("percent"), "{e}");
        assert!(WavelengthGrid::new(380, 10, 50).is_err());
    }

    #[test]
    fn conditions_must_match_to_compare() {
        let m1 = MeasurementConditions {
            illumination: Some(IlluminationCondition::M1),
            ..Default::default()
        };
        let m2 = MeasurementConditions {
            illumination: Some(IlluminationCondition::M2),
            ..Default::default()
        };
        assert!(m1.check_comparable(&m1.clone()).is_ok());
        let e = m1.check_comparable(&m2).unwrap_err();
        assert!(
            e.to_string().contains("M1") && e.to_string().contains("M2"),
            "{e}"
        );
    }

    #[test]
    fn bandpass_correction_keeps_flat_spectra_flat() {
        let g = WavelengthGrid::nm380_730();
        let s = Spectrum::new(g, vec![0.5; 36])
            .unwrap()
            .bandpass_corrected();
        assert!(s.values().iter().all(|v| (v - 0.5).abs() < 1e-12));
    }
}
