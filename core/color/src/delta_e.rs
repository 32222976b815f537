//! Colour differences: ΔE*ab (1976), ΔE94 (graphic arts and textiles), ΔE CMC (l:c), and
//! CIEDE2000 (kL, kC, kH) after Sharma, Wu and Dalal (2005).

use serde::{Deserialize, Serialize};

use crate::convert::Lab;
use crate::error::{ColorError, Result};
use crate::fastmath::{atan2_deg, exp_neg, sin_small};
use crate::lanes::{F64s, LANES};

/// A colour-difference formula with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum DeltaE {
    De76,
    /// CIE94 with kL = 1, K1 = 0.045, K2 = 0.015.
    De94GraphicArts,
    /// CIE94 with kL = 2, K1 = 0.048, K2 = 0.014.
    De94Textiles,
    /// CMC (l:c), usually 2:1 for acceptability, 1:1 for perceptibility.
    Cmc {
        l: f64,
        c: f64,
    },
    De2000 {
        kl: f64,
        kc: f64,
        kh: f64,
    },
}

impl DeltaE {
    pub const DE2000: DeltaE = DeltaE::De2000 {
        kl: 1.0,
        kc: 1.0,
        kh: 1.0,
    };

    /// Parses the command-line names `de76`, `de94` (graphic arts), `de94t`, `cmc` (2:1),
    /// `cmc11`, `de2000`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "de76" | "deab" | "cie76" => DeltaE::De76,
            "de94" | "cie94" => DeltaE::De94GraphicArts,
            "de94t" | "de94-textiles" => DeltaE::De94Textiles,
            "cmc" | "cmc21" => DeltaE::Cmc { l: 2.0, c: 1.0 },
            "cmc11" => DeltaE::Cmc { l: 1.0, c: 1.0 },
            "de2000" | "de00" | "ciede2000" => DeltaE::DE2000,
            _ => return None,
        })
    }

    pub fn name(&self) -> String {
        match self {
            DeltaE::De76 => "ΔE*ab".into(),
            DeltaE::De94GraphicArts => "ΔE94 (graphic arts)".into(),
            DeltaE::De94Textiles => "ΔE94 (textiles)".into(),
            DeltaE::Cmc { l, c } => format!("ΔE CMC ({l}:{c})"),
            DeltaE::De2000 { kl, kc, kh } if *kl == 1.0 && *kc == 1.0 && *kh == 1.0 => {
                "ΔE00".into()
            }
            DeltaE::De2000 { kl, kc, kh } => format!("ΔE00 ({kl}:{kc}:{kh})"),
        }
    }

    /// The difference of `sample` from `reference` (the asymmetric formulas, ΔE94 and CMC, take
    /// the reference as the standard).
    pub fn between(&self, reference: Lab, sample: Lab) -> f64 {
        match *self {
            DeltaE::De76 => de76(reference, sample),
            DeltaE::De94GraphicArts => de94(reference, sample, 1.0, 0.045, 0.015),
            DeltaE::De94Textiles => de94(reference, sample, 2.0, 0.048, 0.014),
            DeltaE::Cmc { l, c } => cmc(reference, sample, l, c),
            DeltaE::De2000 { kl, kc, kh } => de2000(reference, sample, kl, kc, kh),
        }
    }
}

pub fn de76(a: Lab, b: Lab) -> f64 {
    ((a.l - b.l).powi(2) + (a.a - b.a).powi(2) + (a.b - b.b).powi(2)).sqrt()
}

/// The reference's chroma, and the lightness, chroma and squared hue differences.
fn lch_differences(reference: Lab, sample: Lab) -> (f64, f64, f64, f64) {
    let c1 = reference.a.hypot(reference.b);
    let c2 = sample.a.hypot(sample.b);
    let dc = c1 - c2;
    let da = reference.a - sample.a;
    let db = reference.b - sample.b;
    (
        c1,
        reference.l - sample.l,
        dc,
        (da * da + db * db - dc * dc).max(0.0),
    )
}

pub fn de94(reference: Lab, sample: Lab, kl: f64, k1: f64, k2: f64) -> f64 {
    let (c1, dl, dc, dh2) = lch_differences(reference, sample);
    let sl = 1.0;
    let sc = 1.0 + k1 * c1;
    let sh = 1.0 + k2 * c1;
    ((dl / (kl * sl)).powi(2) + (dc / sc).powi(2) + dh2 / (sh * sh)).sqrt()
}

pub fn cmc(reference: Lab, sample: Lab, l: f64, c: f64) -> f64 {
    let (c1, dl, dc, dh2) = lch_differences(reference, sample);
    let mut h1 = reference.b.atan2(reference.a).to_degrees();
    if h1 < 0.0 {
        h1 += 360.0;
    }
    let sl = if reference.l < 16.0 {
        0.511
    } else {
        0.040975 * reference.l / (1.0 + 0.01765 * reference.l)
    };
    let sc = 0.0638 * c1 / (1.0 + 0.0131 * c1) + 0.638;
    let c14 = c1.powi(4);
    let f = (c14 / (c14 + 1900.0)).sqrt();
    let t = if (164.0..=345.0).contains(&h1) {
        0.56 + (0.2 * (h1 + 168.0).to_radians().cos()).abs()
    } else {
        0.36 + (0.4 * (h1 + 35.0).to_radians().cos()).abs()
    };
    let sh = sc * (f * t + 1.0 - f);
    ((dl / (l * sl)).powi(2) + (dc / (c * sc)).powi(2) + dh2 / (sh * sh)).sqrt()
}

/// CIEDE2000, implemented as Sharma, Wu and Dalal (2005) state it, including their notes on
/// hue angles 180° apart and on zero chroma.
pub fn de2000(lab1: Lab, lab2: Lab, kl: f64, kc: f64, kh: f64) -> f64 {
    let c1 = lab1.a.hypot(lab1.b);
    let c2 = lab2.a.hypot(lab2.b);
    let c_bar = (c1 + c2) / 2.0;
    let c_bar7 = c_bar.powi(7);
    let g = 0.5 * (1.0 - (c_bar7 / (c_bar7 + 25f64.powi(7))).sqrt());
    let a1p = (1.0 + g) * lab1.a;
    let a2p = (1.0 + g) * lab2.a;
    let c1p = a1p.hypot(lab1.b);
    let c2p = a2p.hypot(lab2.b);
    let hue = |b: f64, ap: f64| {
        if b == 0.0 && ap == 0.0 {
            0.0
        } else {
            let h = b.atan2(ap).to_degrees();
            if h < 0.0 { h + 360.0 } else { h }
        }
    };
    let h1p = hue(lab1.b, a1p);
    let h2p = hue(lab2.b, a2p);

    let dlp = lab2.l - lab1.l;
    let dcp = c2p - c1p;
    let dhp = if c1p * c2p == 0.0 {
        0.0
    } else {
        let d = h2p - h1p;
        if d.abs() <= 180.0 {
            d
        } else if d > 180.0 {
            d - 360.0
        } else {
            d + 360.0
        }
    };
    let d_hp = 2.0 * (c1p * c2p).sqrt() * (dhp / 2.0).to_radians().sin();

    let l_barp = (lab1.l + lab2.l) / 2.0;
    let c_barp = (c1p + c2p) / 2.0;
    let h_barp = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * (h_barp - 30.0).to_radians().cos()
        + 0.24 * (2.0 * h_barp).to_radians().cos()
        + 0.32 * (3.0 * h_barp + 6.0).to_radians().cos()
        - 0.20 * (4.0 * h_barp - 63.0).to_radians().cos();
    let d_theta = 30.0 * (-((h_barp - 275.0) / 25.0).powi(2)).exp();
    let c_barp7 = c_barp.powi(7);
    let rc = 2.0 * (c_barp7 / (c_barp7 + 25f64.powi(7))).sqrt();
    let l50 = (l_barp - 50.0).powi(2);
    let sl = 1.0 + 0.015 * l50 / (20.0 + l50).sqrt();
    let sc = 1.0 + 0.045 * c_barp;
    let sh = 1.0 + 0.015 * c_barp * t;
    let rt = -(2.0 * d_theta).to_radians().sin() * rc;

    let l = dlp / (kl * sl);
    let c = dcp / (kc * sc);
    let h = d_hp / (kh * sh);
    (l * l + c * c + h * h + rt * c * h).sqrt()
}

/// CIEDE2000 (kL = kC = kH = 1) of each of `samples` from `reference`, into `out` (as long as
/// `samples`): the values of [`de2000`] to within about 10⁻¹², several times faster. For
/// comparing many measurements with one reference (a chart's patch, a press sheet's target).
///
/// The samples go [`LANES`] at a time through the same branch-free arithmetic, so that the
/// compiler vectorises it, with fewer transcendental functions than the formula as written: the
/// hue difference ΔH′ = 2√(C′₁C′₂)·sin(Δh′/2) is the chord between the two unit hue vectors
/// scaled by √(C′₁C′₂); the mean hue h̄′ is the direction of their sum (which is how Sharma's
/// rules for hues more than 180° apart pick it), so T needs only that direction's cosine and
/// sine and multiple-angle identities; one `atan2` remains, for Δθ. Samples where these differ
/// from the formula's rules (hues within 10⁻⁶ rad of opposite), or outside the range that
/// arithmetic is safe in (chroma below 10⁻³⁰ but not 0, or above 10¹⁰; |L| above 10¹⁰; values
/// that are not finite), are computed by [`de2000`] itself.
pub fn de2000_batch(reference: Lab, samples: &[Lab], out: &mut [f64]) -> Result<()> {
    if samples.len() != out.len() {
        return Err(ColorError::Batch(format!(
            "{} colours for {} colour differences",
            samples.len(),
            out.len()
        )));
    }
    let r = De2000Reference::new(reference);
    if r.usable {
        let mut samples_left = samples.chunks_exact(LANES);
        let mut out_left = out.chunks_exact_mut(LANES);
        for (s, d) in (&mut samples_left).zip(&mut out_left) {
            let de = r.de2000(
                F64s::from_fn(|i| s[i].l),
                F64s::from_fn(|i| s[i].a),
                F64s::from_fn(|i| s[i].b),
            );
            d.copy_from_slice(&de.0);
        }
        // The last few, padded with the reference.
        let (s, d) = (samples_left.remainder(), out_left.into_remainder());
        let get = |i: usize| s.get(i).copied().unwrap_or(reference);
        let de = r.de2000(
            F64s::from_fn(|i| get(i).l),
            F64s::from_fn(|i| get(i).a),
            F64s::from_fn(|i| get(i).b),
        );
        d.copy_from_slice(&de.0[..d.len()]);
    }
    // NaN marks the samples left to the formula as written.
    for (s, d) in samples.iter().zip(out.iter_mut()) {
        if d.is_nan() || !r.usable {
            *d = de2000(reference, *s, 1.0, 1.0, 1.0);
        }
    }
    Ok(())
}

/// 25⁷, the constant of CIEDE2000's chroma terms.
const POW25_7: f64 = 6_103_515_625.0;

/// What [`de2000_batch`] computes once for its reference.
struct De2000Reference {
    l: f64,
    a: f64,
    b: f64,
    c: f64,
    /// The reference is within the batch path's domain (else every sample takes [`de2000`]).
    usable: bool,
    /// T = 1 − 0.17 cos(h − 30°) + 0.24 cos 2h + 0.32 cos(3h + 6°) − 0.20 cos(4h − 63°) written
    /// with c = cos h, s = sin h (multiple-angle formulas, s² = 1 − c²) as
    /// A(c²) + c·B(c²) + s·(C(c²) + c·D(c²)): these polynomials' coefficients, A's first.
    t: [f64; 9],
}

impl De2000Reference {
    fn new(lab: Lab) -> Self {
        let q = lab.a * lab.a + lab.b * lab.b;
        let (s30, c30) = 30f64.to_radians().sin_cos();
        let (s6, c6) = 6f64.to_radians().sin_cos();
        let (s63, c63) = 63f64.to_radians().sin_cos();
        Self {
            l: lab.l,
            a: lab.a,
            b: lab.b,
            c: lab.a.hypot(lab.b),
            usable: in_domain(F64s::splat(lab.l), F64s::splat(q)).0[0],
            t: [
                // 1 + 0.24(2c² − 1) − 0.2 cos 63°·(8c⁴ − 8c² + 1)
                1.0 - 0.24 - 0.2 * c63,
                0.48 + 1.6 * c63,
                -1.6 * c63,
                // −0.17 cos 30° + 0.32 cos 6°·(4c² − 3)
                -0.17 * c30 - 0.96 * c6,
                1.28 * c6,
                // −0.17 sin 30° − 0.32 sin 6°·(4c² − 1)
                -0.17 * s30 + 0.32 * s6,
                -1.28 * s6,
                // −0.2 sin 63°·4(2c² − 1)
                0.8 * s63,
                -1.6 * s63,
            ],
        }
    }

    /// CIEDE2000 of [`LANES`] samples, NaN for those [`de2000`] must decide.
    ///
    /// Divisions and square roots each take the time of several multiplications, so reciprocals
    /// are shared: five divisions, nine square roots.
    #[inline(always)]
    fn de2000(&self, l2: F64s, a2: F64s, b2: F64s) -> F64s {
        let (zero, one) = (F64s::splat(0.0), F64s::splat(1.0));
        let q2 = a2 * a2 + b2 * b2;
        let c2 = q2.sqrt();
        let c_bar7 = pow7((self.c + c2) * 0.5);
        let g1 = 1.5 - 0.5 * (c_bar7 / (c_bar7 + POW25_7)).sqrt(); // 1 + G
        let (a1p, a2p) = (g1 * self.a, g1 * a2);
        let c1p = (a1p * a1p + self.b * self.b).sqrt();
        let c2p = (a2p * a2p + b2 * b2).sqrt();
        // With v = (a′, b) and u = v/C′ the unit hue vectors, scaled by e1·e2 (C′, or 1 for a
        // neutral colour, whose hue the formula takes as 0):
        let chromatic = (c1p * c2p).gt(zero);
        let (e1, e2) = (c1p.eq(zero).select(one, c1p), c2p.eq(zero).select(one, c2p));
        // h̄′ is the direction of u1 + u2, ∝ v1·e2 + v2·e1;
        let (bx, by) = (a1p * e2 + a2p * e1, self.b * e2 + b2 * e1);
        // ΔH′ = 2√(C′₁C′₂)·sin(Δh′/2) = √(C′₁C′₂)·|u2 − u1|, = |v2·e1 − v1·e2| / √(e1·e2),
        // signed as the turn from v1 to v2.
        let (wx, wy) = (a2p * e1 - a1p * e2, b2 * e1 - self.b * e2);
        let cross = a1p * b2 - self.b * a2p;
        let nb2 = bx * bx + by * by;
        let nb = nb2.sqrt();
        let p = e1 * e2;
        let r = 1.0 / (nb * p); // 1/|b| and 1/(e1·e2) from one division
        let d_hp = chromatic.select(
            ((wx * wx + wy * wy) * (nb * r)).sqrt().copysign(cross),
            zero,
        );
        let neutral = nb2.eq(zero); // both neutral: h̄′ = 0
        let (ch, sh) = (
            neutral.select(one, bx * (p * r)),
            neutral.select(zero, by * (p * r)),
        );
        let h = atan2_deg(sh, ch);
        let h_bar = h.lt(zero).select(h + 360.0, h);
        // T as a polynomial in cos h̄′ and sin h̄′ (see `De2000Reference::t`).
        let c2 = ch * ch;
        let [a0, a1, a2, b0, b1, c0, c1, d0, d1] = self.t;
        let t = (a0 + c2 * (a1 + c2 * a2))
            + ch * (b0 + c2 * b1)
            + sh * ((c0 + c2 * c1) + ch * (d0 + c2 * d1));
        let e = (h_bar - 275.0) * (1.0 / 25.0);
        let d_theta = 30.0 * exp_neg(-(e * e));
        let c_barp = (c1p + c2p) * 0.5;
        let c_barp7 = pow7(c_barp);
        let l50 = {
            let d = (l2 + self.l) * 0.5 - 50.0;
            d * d
        };
        // S_L = 1 + 0.015·l50/√(20 + l50) = num/root.
        let root = (l50 + 20.0).sqrt();
        let sl_num = root + 0.015 * l50;
        let sc = 1.0 + 0.045 * c_barp;
        let s_h = 1.0 + 0.015 * c_barp * t;
        // One division for R_C's ratio and the three quotients.
        let (scsh, d_rc) = (sc * s_h, c_barp7 + POW25_7);
        let inv = 1.0 / (d_rc * sl_num * scsh);
        let rc = 2.0 * (c_barp7 * (sl_num * scsh) * inv).sqrt();
        let inv = inv * d_rc;
        // sin 2Δθ, 2Δθ in degrees.
        let rt = -sin_small(d_theta * (std::f64::consts::PI / 90.0)) * rc;
        let l = (l2 - self.l) * root * scsh * inv;
        let c = (c2p - c1p) * (sl_num * s_h) * inv;
        let h = d_hp * (sl_num * sc) * inv;
        let de = (l * l + c * c + h * h + rt * c * h).sqrt();
        // Hues (nearly) opposite, |u1 + u2| < 10⁻⁶: which way the mean hue lies depends on
        // the formula's rules.
        let opposite = chromatic & nb2.lt(p * p * 1e-12);
        (opposite | !in_domain(l2, q2)).select(F64s::splat(f64::NAN), de)
    }
}

/// Within the batch path's range: |L| < 10¹⁰ and a chroma of 0 or between 10⁻³⁰ and 10¹⁰ (far
/// beyond any colour; products of four such values neither overflow nor underflow). NaN is not.
#[inline(always)]
fn in_domain(l: F64s, q: F64s) -> crate::lanes::Mask {
    let zero = F64s::splat(0.0);
    l.abs().lt(F64s::splat(1e10))
        & (q.eq(zero) | (q.gt(F64s::splat(1e-60)) & q.lt(F64s::splat(1e20))))
}

#[inline(always)]
fn pow7(x: F64s) -> F64s {
    let x2 = x * x;
    x2 * x2 * x2 * x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_colours_differ_by_zero_in_every_formula() {
        let lab = Lab {
            l: 50.0,
            a: 10.0,
            b: -20.0,
        };
        for m in [
            DeltaE::De76,
            DeltaE::De94GraphicArts,
            DeltaE::De94Textiles,
            DeltaE::Cmc { l: 2.0, c: 1.0 },
            DeltaE::DE2000,
        ] {
            assert!(m.between(lab, lab).abs() < 1e-12, "{m:?}");
        }
        assert_eq!(DeltaE::parse("de2000"), Some(DeltaE::DE2000));
        assert_eq!(DeltaE::parse("cmc"), Some(DeltaE::Cmc { l: 2.0, c: 1.0 }));
        assert_eq!(DeltaE::parse("nope"), None);
    }
}
