//! Spectrum → XYZ → CIELAB, recording how: weights, white point, illuminant and observer.

use serde::Serialize;

use crate::cie::{Illuminant, Observer};
use crate::convert::{Lab, Lch, XyY, Xyz};
use crate::error::Result;
use crate::spectrum::Spectrum;
use crate::weights::{WeightsProvenance, weights};

/// A computed colour and how it was computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Colorimetry {
    pub xyz: Xyz,
    pub xyy: XyY,
    pub lab: Lab,
    pub lch: Lch,
    /// The perfect diffuser under the same weights (the CIELAB white point).
    pub white: Xyz,
    pub weights: WeightsProvenance,
}

/// The colour of `spectrum` under `illuminant` for `observer`. `bandpass_corrected` says whether
/// the data were corrected for the instrument's bandpass (it picks the weights).
pub fn colorimetry(
    spectrum: &Spectrum,
    bandpass_corrected: bool,
    illuminant: Illuminant,
    observer: Observer,
) -> Result<Colorimetry> {
    let table = weights(illuminant, observer, spectrum.grid(), bandpass_corrected)?;
    let xyz = table.xyz(spectrum.values());
    let lab = xyz.to_lab(table.white);
    Ok(Colorimetry {
        xyz,
        xyy: xyz.to_xyy(),
        lab,
        lch: lab.to_lch(),
        white: table.white,
        weights: table.provenance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spectrum::WavelengthGrid;

    #[test]
    fn a_perfect_diffuser_is_l_100_on_every_grid() {
        for grid in [
            WavelengthGrid::nm380_730(),
            WavelengthGrid::nm400_700(),
            WavelengthGrid::new(380, 5, 71).unwrap(),
            WavelengthGrid::new(360, 1, 421).unwrap(),
        ] {
            let s = Spectrum::new(grid, vec![1.0; grid.bands]).unwrap();
            let c = colorimetry(&s, true, Illuminant::D50, Observer::Cie1931TwoDegree).unwrap();
            assert!(
                (c.lab.l - 100.0).abs() < 1e-9 && c.lab.a.abs() < 1e-9 && c.lab.b.abs() < 1e-9,
                "{grid}: {:?}",
                c.lab
            );
            assert_eq!(c.weights.illuminant, Illuminant::D50);
        }
    }

    #[test]
    fn grids_agree_on_a_smooth_spectrum() {
        // The same smooth reflectance sampled at 10 nm and 5 nm gives nearly the same Lab.
        let r = |nm: f64| 0.3 + 0.25 * ((nm - 380.0) / 60.0).sin();
        let g10 = WavelengthGrid::nm380_730();
        let g5 = WavelengthGrid::new(380, 5, 71).unwrap();
        let s10 = Spectrum::new(g10, g10.wavelengths().map(|w| r(f64::from(w))).collect()).unwrap();
        let s5 = Spectrum::new(g5, g5.wavelengths().map(|w| r(f64::from(w))).collect()).unwrap();
        let a = colorimetry(&s10, true, Illuminant::D65, Observer::Cie1964TenDegree)
            .unwrap()
            .lab;
        let b = colorimetry(&s5, true, Illuminant::D65, Observer::Cie1964TenDegree)
            .unwrap()
            .lab;
        assert!(crate::delta_e::de76(a, b) < 0.05, "{a:?} vs {b:?}");
    }
}
