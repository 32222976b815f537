//! Colour differences: ΔE*ab (1976), ΔE94 (graphic arts and textiles), ΔE CMC (l:c), and
//! CIEDE2000 (kL, kC, kH) after Sharma, Wu and Dalal (2005).

use serde::{Deserialize, Serialize};

use crate::convert::Lab;

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
