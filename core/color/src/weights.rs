//! Tristimulus weighting factors for a spectrum's wavelength grid.
//!
//! * Data **corrected for bandpass** (or measured at 1 nm): weights computed from the 1 nm CIE
//!   tables as ASTM E2022 describes. The 1 nm products S(λ)·x̄(λ) are shared among the grid's
//!   nodes with Lagrange interpolation coefficients (cubic inside, quadratic in the first and
//!   last interval), on the grid extended to 360–780 nm; the weights of nodes outside the
//!   measured range are then folded into the end bands (ASTM E308 §7.3, the measured end values
//!   standing for the unmeasured ones), and the table is scaled so that ΣW_y = 100. This works
//!   for any interval, so spectra on other grids need no resampling.
//! * Data **not corrected for bandpass**, 10 nm: the ICC colorimetry-data registry tables (ISO
//!   13655 practice, D50 and D65, both observers), folded the same way. For other illuminants,
//!   correct the data first ([`Spectrum::bandpass_corrected`](crate::spectrum::Spectrum::bandpass_corrected)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;

use crate::cie::{self, INTEGRATION_END_NM, INTEGRATION_START_NM, Illuminant, Observer};
use crate::convert::{Lab, Xyz, lab_f, lab_from_f};
use crate::error::{ColorError, Result};
use crate::lanes::{F64s, LANES};
use crate::spectrum::WavelengthGrid;

/// Which weights were used, recorded in every result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeightsProvenance {
    /// `ASTM E2022` (computed, for bandpass-corrected data) or `ICC registry` (for uncorrected data).
    pub method: &'static str,
    pub illuminant: Illuminant,
    pub observer: Observer,
    pub grid: WavelengthGrid,
    pub for_bandpass_corrected_data: bool,
}

/// Weights for one grid, illuminant and observer.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTable {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub z: Vec<f64>,
    /// The perfect diffuser under these weights: the white point for CIELAB.
    pub white: Xyz,
    pub provenance: WeightsProvenance,
}

impl WeightTable {
    /// XYZ of reflectance factors on this table's grid.
    #[inline]
    pub fn xyz(&self, r: &[f64]) -> Xyz {
        let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
        for (((r, wx), wy), wz) in r.iter().zip(&self.x).zip(&self.y).zip(&self.z) {
            x += r * wx;
            y += r * wy;
            z += r * wz;
        }
        Xyz { x, y, z }
    }

    /// CIELAB of many spectra on this table's grid, against its white: `spectra` holds them one
    /// after another (`out.len()` spectra of as many values as the grid has bands), `out` gets
    /// one Lab each. The values of [`xyz`](Self::xyz) then [`Xyz::to_lab`] to within a few ulp,
    /// several times faster, for converting a whole chart or a scan line of measurements: the
    /// spectra go in blocks, the tristimulus sums run in independent lanes instead of one chain
    /// of additions, and the cube roots are branch-free and division-free so that the compiler
    /// vectorises them. A batch that is not a whole number of spectra, or an `out` of another
    /// length, is an error.
    pub fn lab_batch(&self, spectra: &[f64], out: &mut [Lab]) -> Result<()> {
        let bands = self.x.len();
        if bands == 0 || spectra.len() % bands != 0 {
            return Err(ColorError::Batch(format!(
                "a batch of {} values is not a whole number of {bands}-band spectra",
                spectra.len()
            )));
        }
        if spectra.len() / bands != out.len() {
            return Err(ColorError::Batch(format!(
                "a batch of {} spectra for {} results",
                spectra.len() / bands,
                out.len()
            )));
        }
        let inv_white = [1.0 / self.white.x, 1.0 / self.white.y, 1.0 / self.white.z];
        let mut all_ratios = [[0.0; 3]; BLOCK];
        for (rows, labs) in spectra.chunks(BLOCK * bands).zip(out.chunks_mut(BLOCK)) {
            let ratios = &mut all_ratios[..labs.len()];
            if let (Ok(x), Ok(y), Ok(z)) = (
                <&[f64; 36]>::try_from(&self.x[..]),
                <&[f64; 36]>::try_from(&self.y[..]),
                <&[f64; 36]>::try_from(&self.z[..]),
            ) {
                // The common 10 nm, 380–730 nm grid, with every length known to the compiler
                // (which then vectorises this loop two spectra to a register).
                for (r, xyz) in rows.chunks_exact(36).zip(ratios.iter_mut()) {
                    *xyz = lane_sums(r, x, y, z, inv_white);
                }
            } else {
                for (r, xyz) in rows.chunks_exact(bands).zip(ratios.iter_mut()) {
                    *xyz = lane_sums(r, &self.x, &self.y, &self.z, inv_white);
                }
            }
            // All the block's ratios, lanes at a time (a partial block's last lanes run on
            // values left from the previous block or on zeros, and are not used).
            let used = labs.len() * 3;
            let mut sum = F64s::splat(0.0);
            for v in all_ratios.as_flattened_mut()[..used.div_ceil(LANES) * LANES]
                .chunks_exact_mut(LANES)
            {
                let f = lab_f(F64s::from_fn(|i| v[i]));
                sum = sum + f;
                v.copy_from_slice(&f.0);
            }
            for (f, lab) in all_ratios.iter().zip(labs.iter_mut()) {
                *lab = lab_from_f(f[0], f[1], f[2]);
            }
            if !sum.sum().is_finite() {
                // Infinite or NaN values somewhere in the block: for those, exactly what the
                // one-spectrum path gives.
                for (lab, r) in labs.iter_mut().zip(rows.chunks_exact(bands)) {
                    if !(lab.l + lab.a + lab.b).is_finite() {
                        *lab = self.xyz(r).to_lab(self.white);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Spectra per block of [`WeightTable::lab_batch`]: their tristimulus values stay in L1 cache
/// between the sums and the cube roots, and a block is short enough that the processor overlaps
/// its cube roots with the next block's reads from memory (64 was 10–15 % slower on a batch in
/// RAM).
const BLOCK: usize = 16; // 3·BLOCK is a multiple of LANES

/// Independent partial sums in [`lane_sums`]: enough to hide the latency
/// of floating-point addition, and a multiple of the two f64 lanes of SSE2.
const SUM_LANES: usize = 4;

/// X/Xn, Y/Yn, Z/Zn of one spectrum, each summed in [`SUM_LANES`] partial sums.
#[inline(always)]
fn lane_sums(r: &[f64], wx: &[f64], wy: &[f64], wz: &[f64], inv_white: [f64; 3]) -> [f64; 3] {
    let mut acc = [[0.0; SUM_LANES]; 3];
    let chunks = r
        .chunks_exact(SUM_LANES)
        .zip(wx.chunks_exact(SUM_LANES))
        .zip(wy.chunks_exact(SUM_LANES))
        .zip(wz.chunks_exact(SUM_LANES));
    for (((r, wx), wy), wz) in chunks {
        for l in 0..SUM_LANES {
            acc[0][l] += r[l] * wx[l];
            acc[1][l] += r[l] * wy[l];
            acc[2][l] += r[l] * wz[l];
        }
    }
    let tail = r.len() - r.len() % SUM_LANES;
    for (k, r) in r.iter().enumerate().skip(tail) {
        for (acc, w) in acc.iter_mut().zip([wx, wy, wz]) {
            acc[0] += r * w.get(k).copied().unwrap_or_default();
        }
    }
    let sum = |a: [f64; SUM_LANES]| (a[0] + a[2]) + (a[1] + a[3]);
    [
        sum(acc[0]) * inv_white[0],
        sum(acc[1]) * inv_white[1],
        sum(acc[2]) * inv_white[2],
    ]
}

type Key = (Illuminant, Observer, WavelengthGrid, bool);

/// The white point (perfect diffuser, Y = 100) of an illuminant and observer, from the 1 nm
/// tables: what CIELAB is computed against when a file gives XYZ only.
pub fn white_point(illuminant: Illuminant, observer: Observer) -> Result<Xyz> {
    let grid = WavelengthGrid::new(360, 1, 421)?;
    Ok(weights(illuminant, observer, grid, true)?.white)
}

/// The weights for `grid` (cached).
pub fn weights(
    illuminant: Illuminant,
    observer: Observer,
    grid: WavelengthGrid,
    bandpass_corrected: bool,
) -> Result<Arc<WeightTable>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<WeightTable>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (illuminant, observer, grid, bandpass_corrected);
    if let Some(t) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(t.clone());
    }
    let table = Arc::new(if bandpass_corrected || grid.interval_nm == 1 {
        astm_e2022(illuminant, observer, grid)?
    } else {
        registry_uncorrected(illuminant, observer, grid)?
    });
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, table.clone());
    Ok(table)
}

/// Lagrange coefficients for a wavelength a fraction `t` (0 < t < 1) past node `j` of `n` nodes:
/// (first node index, coefficients).
fn lagrange(j: usize, n: usize, t: f64) -> (usize, Vec<f64>) {
    if n == 2 {
        return (0, vec![1.0 - t, t]);
    }
    if j == 0 {
        // Quadratic through nodes 0, 1, 2.
        (
            0,
            vec![
                (t - 1.0) * (t - 2.0) / 2.0,
                -t * (t - 2.0),
                t * (t - 1.0) / 2.0,
            ],
        )
    } else if j + 2 >= n {
        // Quadratic through nodes n-3, n-2, n-1 (t measured from n-2).
        (
            j - 1,
            vec![t * (t - 1.0) / 2.0, 1.0 - t * t, (t + 1.0) * t / 2.0],
        )
    } else {
        // Cubic through nodes j-1, j, j+1, j+2.
        (
            j - 1,
            vec![
                -t * (t - 1.0) * (t - 2.0) / 6.0,
                (t + 1.0) * (t - 1.0) * (t - 2.0) / 2.0,
                -(t + 1.0) * t * (t - 2.0) / 2.0,
                (t + 1.0) * t * (t - 1.0) / 6.0,
            ],
        )
    }
}

fn astm_e2022(
    illuminant: Illuminant,
    observer: Observer,
    grid: WavelengthGrid,
) -> Result<WeightTable> {
    let cmf = cie::cmfs(observer);
    let spd = cie::spd(illuminant)?;
    let step = grid.interval_nm;
    if grid.start_nm > INTEGRATION_END_NM || grid.end_nm() < INTEGRATION_START_NM {
        return Err(ColorError::Unsupported(format!(
            "the grid {grid} lies outside 360–780 nm"
        )));
    }
    // The grid extended by whole steps as far as the data reach.
    let below = grid.start_nm.saturating_sub(INTEGRATION_START_NM) / step;
    let above = INTEGRATION_END_NM.saturating_sub(grid.end_nm()) / step;
    let first = grid.start_nm - below * step;
    let nodes = grid.bands + (below + above) as usize;
    let last = first + step * (nodes as u32 - 1);
    let mut w = vec![[0.0f64; 3]; nodes];
    let mut norm = 0.0;
    for nm in INTEGRATION_START_NM..=INTEGRATION_END_NM {
        let s = spd.at(0, nm);
        let p = [s * cmf.at(0, nm), s * cmf.at(1, nm), s * cmf.at(2, nm)];
        norm += p[1];
        let mut add = |node: usize, c: f64| {
            for k in 0..3 {
                w[node][k] += c * p[k];
            }
        };
        if nm <= first {
            add(0, 1.0);
        } else if nm >= last {
            add(nodes - 1, 1.0);
        } else {
            let offset = nm - first;
            let (j, rem) = ((offset / step) as usize, offset % step);
            if rem == 0 {
                add(j, 1.0);
            } else {
                let (base, coeffs) = lagrange(j, nodes, f64::from(rem) / f64::from(step));
                for (i, c) in coeffs.into_iter().enumerate() {
                    add(base + i, c);
                }
            }
        }
    }
    let scale = 100.0 / norm;
    let mut table = vec![[0.0f64; 3]; grid.bands];
    for (e, wk) in w.iter().enumerate() {
        // Fold the nodes outside the measured range into its end bands.
        let band = e.saturating_sub(below as usize).min(grid.bands - 1);
        for k in 0..3 {
            table[band][k] += wk[k] * scale;
        }
    }
    Ok(finish(
        table,
        WeightsProvenance {
            method: "ASTM E2022",
            illuminant,
            observer,
            grid,
            for_bandpass_corrected_data: true,
        },
    ))
}

fn finish(table: Vec<[f64; 3]>, provenance: WeightsProvenance) -> WeightTable {
    let col = |k: usize| table.iter().map(|r| r[k]).collect::<Vec<_>>();
    let (x, y, z) = (col(0), col(1), col(2));
    let white = Xyz {
        x: x.iter().sum(),
        y: y.iter().sum(),
        z: z.iter().sum(),
    };
    WeightTable {
        x,
        y,
        z,
        white,
        provenance,
    }
}

fn registry_text(illuminant: Illuminant, observer: Observer) -> Option<&'static str> {
    Some(match (illuminant, observer) {
        (Illuminant::D50, Observer::Cie1931TwoDegree) => {
            include_str!("../data/Wts-D50-1931-380-10-780nm.csv")
        }
        (Illuminant::D50, Observer::Cie1964TenDegree) => {
            include_str!("../data/Wts-D50-1964-380-10-780nm.csv")
        }
        (Illuminant::D65, Observer::Cie1931TwoDegree) => {
            include_str!("../data/Wts-D65-1931-380-10-780nm.csv")
        }
        (Illuminant::D65, Observer::Cie1964TenDegree) => {
            include_str!("../data/Wts-D65-1964-380-10-780nm.csv")
        }
        _ => return None,
    })
}

fn registry_uncorrected(
    illuminant: Illuminant,
    observer: Observer,
    grid: WavelengthGrid,
) -> Result<WeightTable> {
    let text = registry_text(illuminant, observer).ok_or_else(|| {
        ColorError::Unsupported(format!(
            "no weights for data not corrected for bandpass under illuminant {illuminant}; correct the data for bandpass first"
        ))
    })?;
    if grid.interval_nm != 10
        || grid.start_nm % 10 != 0
        || grid.start_nm < 380
        || grid.end_nm() > 780
    {
        return Err(ColorError::Unsupported(format!(
            "weights for data not corrected for bandpass exist for 10 nm grids within 380–780 nm, not {grid}; correct the data for bandpass first"
        )));
    }
    let mut table = vec![[0.0f64; 3]; grid.bands];
    for line in text.lines() {
        let f: Vec<f64> = line
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        let [nm, wx, wy, wz] = f[..] else {
            continue;
        };
        let nm = nm as u32;
        let band = (nm.saturating_sub(grid.start_nm) / 10).min(grid.bands as u32 - 1) as usize;
        table[band][0] += wx;
        table[band][1] += wy;
        table[band][2] += wz;
    }
    Ok(finish(
        table,
        WeightsProvenance {
            method: "ICC registry",
            illuminant,
            observer,
            grid,
            for_bandpass_corrected_data: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lagrange_coefficients_sum_to_one_and_reproduce_polynomials() {
        for n in [3usize, 4, 10] {
            for j in 0..n - 1 {
                for t in [0.1, 0.5, 0.9] {
                    let (base, c) = lagrange(j, n, t);
                    assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                    // Exact for a quadratic f(x) = x²: Σ c_i x_i² = (j + t)².
                    let v: f64 = c
                        .iter()
                        .enumerate()
                        .map(|(i, c)| c * ((base + i) as f64).powi(2))
                        .sum();
                    assert!(
                        (v - (j as f64 + t).powi(2)).abs() < 1e-9,
                        "n={n} j={j} t={t}"
                    );
                }
            }
        }
    }

    #[test]
    fn white_points_match_the_published_astm_e308_values() {
        // ASTM E308 Table 5 white points (10 nm, 360–780 nm). A and D65 agree to ±0.002. For
        // D50 the ASTM tables rest on a D50 that differs from the CIE 5 nm table in the blue
        // (Z 82.521 against the 82.513 that the CIE table gives, with this code and with
        // colour-science alike), hence the wider allowance there.
        let cases = [
            (
                Illuminant::D50,
                Observer::Cie1931TwoDegree,
                [96.422, 100.0, 82.521],
                0.01,
            ),
            (
                Illuminant::D65,
                Observer::Cie1931TwoDegree,
                [95.047, 100.0, 108.883],
                0.002,
            ),
            (
                Illuminant::D50,
                Observer::Cie1964TenDegree,
                [96.720, 100.0, 81.427],
                0.015,
            ),
            (
                Illuminant::D65,
                Observer::Cie1964TenDegree,
                [94.811, 100.0, 107.304],
                0.002,
            ),
            (
                Illuminant::A,
                Observer::Cie1931TwoDegree,
                [109.850, 100.0, 35.585],
                0.002,
            ),
        ];
        for (ill, obs, w, tolerance) in cases {
            let t = weights(ill, obs, WavelengthGrid::new(360, 10, 43).unwrap(), true).unwrap();
            assert!(
                (t.white.x - w[0]).abs() < tolerance,
                "{ill} {obs}: X {}",
                t.white.x
            );
            assert!(
                (t.white.y - w[1]).abs() < 1e-9,
                "{ill} {obs}: Y {}",
                t.white.y
            );
            assert!(
                (t.white.z - w[2]).abs() < tolerance,
                "{ill} {obs}: Z {}",
                t.white.z
            );
            // Folding to a shorter range keeps the white point.
            let short = weights(ill, obs, WavelengthGrid::nm400_700(), true).unwrap();
            assert!(
                (short.white.x - t.white.x).abs() < 1e-9
                    && (short.white.z - t.white.z).abs() < 1e-9
            );
        }
    }

    #[test]
    fn registry_tables_fold_into_shorter_grids_and_keep_y_100() {
        let t = weights(
            Illuminant::D50,
            Observer::Cie1931TwoDegree,
            WavelengthGrid::nm380_730(),
            false,
        )
        .unwrap();
        assert_eq!(t.provenance.method, "ICC registry");
        assert!((t.white.y - 100.0).abs() < 0.01, "{}", t.white.y);
        assert!((t.white.x - 96.42).abs() < 0.05, "{}", t.white.x);
        assert!(
            weights(
                Illuminant::A,
                Observer::Cie1931TwoDegree,
                WavelengthGrid::nm380_730(),
                false
            )
            .is_err()
        );
        assert!(
            weights(
                Illuminant::D50,
                Observer::Cie1931TwoDegree,
                WavelengthGrid::new(380, 5, 71).unwrap(),
                false
            )
            .is_err()
        );
    }
}
