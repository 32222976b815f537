//! A measured chart: patches with spectra and/or CIELAB, and what is known about how they were
//! measured. CGATS and CxF files read into and write from this.

use serde::Serialize;

use crate::cie::{Illuminant, Observer};
use crate::colorimetry::{Colorimetry, colorimetry};
use crate::convert::Lab;
use crate::error::{ColorError, Result};
use crate::spectrum::{MeasurementConditions, Spectrum, WavelengthGrid};

/// One measured patch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patch {
    pub id: String,
    pub name: Option<String>,
    pub spectrum: Option<Spectrum>,
    /// CIELAB as the file gives it (for the dataset's `lab_illuminant` and `lab_observer`).
    pub lab: Option<Lab>,
    /// Other columns, kept for writing the file back (field name, value).
    pub extra: Vec<(String, String)>,
}

/// What the file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metadata {
    pub originator: Option<String>,
    pub descriptor: Option<String>,
    pub created: Option<String>,
    pub conditions: MeasurementConditions,
    /// The illuminant and observer the stored CIELAB values are for.
    pub lab_illuminant: Option<Illuminant>,
    pub lab_observer: Option<Observer>,
    /// Other keywords, kept for writing back.
    pub keywords: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dataset {
    pub meta: Metadata,
    pub patches: Vec<Patch>,
}

/// Where a patch's CIELAB came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum LabSource {
    Computed(Colorimetry),
    /// Taken from the file as it is.
    Stored {
        illuminant: Illuminant,
        observer: Observer,
    },
}

impl Dataset {
    /// The spectral grid shared by the patches that have spectra (an error if they differ).
    pub fn grid(&self) -> Result<Option<WavelengthGrid>> {
        let mut grid = None;
        for p in &self.patches {
            if let Some(s) = &p.spectrum {
                match grid {
                    None => grid = Some(s.grid()),
                    Some(g) if g != s.grid() => {
                        return Err(ColorError::GridMismatch(format!(
                            "patch {} is on {} but others on {g}",
                            p.id,
                            s.grid()
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(grid)
    }

    /// CIELAB of patch `i` for `illuminant`/`observer`: computed from the spectrum if there is
    /// one, else the stored value if it is for the same illuminant and observer (graphic-arts
    /// files that do not say are taken as D50/2°, the ISO 13655 default).
    pub fn lab(
        &self,
        i: usize,
        illuminant: Illuminant,
        observer: Observer,
    ) -> Result<(Lab, LabSource)> {
        let p = &self.patches[i];
        if let Some(s) = &p.spectrum {
            let c = colorimetry(
                s,
                self.meta.conditions.bandpass_corrected,
                illuminant,
                observer,
            )?;
            return Ok((c.lab, LabSource::Computed(c)));
        }
        let Some(lab) = p.lab else {
            return Err(ColorError::Dataset(format!(
                "patch {} has neither a spectrum nor CIELAB",
                p.id
            )));
        };
        let stored_ill = self.meta.lab_illuminant.unwrap_or(Illuminant::D50);
        let stored_obs = self.meta.lab_observer.unwrap_or(Observer::Cie1931TwoDegree);
        if stored_ill != illuminant || stored_obs != observer {
            return Err(ColorError::Dataset(format!(
                "patch {} has CIELAB for {stored_ill}/{stored_obs} only, not {illuminant}/{observer}, and no spectrum",
                p.id
            )));
        }
        Ok((
            lab,
            LabSource::Stored {
                illuminant: stored_ill,
                observer: stored_obs,
            },
        ))
    }
}
