//! XYZ, xyY, CIELAB, LCh(ab); Bradford adaptation; sRGB for display swatches.

use serde::{Deserialize, Serialize};

use crate::lanes::F64s;

/// CIE XYZ tristimulus values (Y = 100 for the perfect diffuser).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Xyz {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// CIE 1976 L*a*b*.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Lab {
    #[serde(rename = "L")]
    pub l: f64,
    pub a: f64,
    pub b: f64,
}

/// CIE LCh(ab): lightness, chroma, hue angle in degrees [0, 360).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Lch {
    #[serde(rename = "L")]
    pub l: f64,
    pub c: f64,
    pub h: f64,
}

/// CIE xyY chromaticity and luminance factor.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct XyY {
    pub x: f64,
    pub y: f64,
    #[serde(rename = "Y")]
    pub big_y: f64,
}

const EPSILON: f64 = 216.0 / 24389.0;
const KAPPA: f64 = 24389.0 / 27.0;

#[inline]
fn f(t: f64) -> f64 {
    if t > EPSILON {
        t.cbrt()
    } else {
        (KAPPA * t + 16.0) / 116.0
    }
}

/// [`f`] on lanes, with the branch-free cube root of the batch paths: both sides are computed
/// and one kept. Same value as `f` to within 4 ulp, except that +∞ gives NaN (the caller falls
/// back to `f` for what is not finite).
#[inline(always)]
pub(crate) fn lab_f(t: F64s) -> F64s {
    let linear = (KAPPA * t + 16.0) * (1.0 / 116.0); // within 1 ulp of f's division
    let root = crate::fastmath::cbrt(t.max(F64s::splat(EPSILON)));
    t.gt(F64s::splat(EPSILON)).select(root, linear)
}

/// CIELAB from f(X/Xn), f(Y/Yn), f(Z/Zn) (see [`lab_f`]), as [`Xyz::to_lab`] computes it.
#[inline(always)]
pub(crate) fn lab_from_f(fx: f64, fy: f64, fz: f64) -> Lab {
    Lab {
        l: 116.0 * fy - 16.0,
        a: 500.0 * (fx - fy),
        b: 200.0 * (fy - fz),
    }
}

#[inline]
fn f_inv(t: f64) -> f64 {
    let t3 = t * t * t;
    if t3 > EPSILON {
        t3
    } else {
        (116.0 * t - 16.0) / KAPPA
    }
}

impl Xyz {
    /// CIELAB relative to `white` (CIE 015:2018, with the exact ε and κ).
    #[inline]
    pub fn to_lab(self, white: Xyz) -> Lab {
        let fx = f(self.x / white.x);
        let fy = f(self.y / white.y);
        let fz = f(self.z / white.z);
        Lab {
            l: 116.0 * fy - 16.0,
            a: 500.0 * (fx - fy),
            b: 200.0 * (fy - fz),
        }
    }

    pub fn to_xyy(self) -> XyY {
        let sum = self.x + self.y + self.z;
        if sum <= 0.0 {
            return XyY::default();
        }
        XyY {
            x: self.x / sum,
            y: self.y / sum,
            big_y: self.y,
        }
    }

    /// Bradford chromatic adaptation from `from` white to `to` white.
    pub fn adapt(self, from: Xyz, to: Xyz) -> Xyz {
        const M: [[f64; 3]; 3] = [
            [0.8951, 0.2664, -0.1614],
            [-0.7502, 1.7135, 0.0367],
            [0.0389, -0.0685, 1.0296],
        ];
        const M_INV: [[f64; 3]; 3] = [
            [0.986_992_9, -0.147_054_3, 0.159_962_7],
            [0.432_305_3, 0.518_360_3, 0.049_291_2],
            [-0.008_528_7, 0.040_042_8, 0.968_486_7],
        ];
        let mul = |m: &[[f64; 3]; 3], v: [f64; 3]| {
            [
                m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
                m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
                m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
            ]
        };
        let src = mul(&M, [from.x, from.y, from.z]);
        let dst = mul(&M, [to.x, to.y, to.z]);
        let c = mul(&M, [self.x, self.y, self.z]);
        let scaled = [
            c[0] * dst[0] / src[0],
            c[1] * dst[1] / src[1],
            c[2] * dst[2] / src[2],
        ];
        let r = mul(&M_INV, scaled);
        Xyz {
            x: r[0],
            y: r[1],
            z: r[2],
        }
    }
}

impl Lab {
    pub fn to_xyz(self, white: Xyz) -> Xyz {
        let fy = (self.l + 16.0) / 116.0;
        let fx = fy + self.a / 500.0;
        let fz = fy - self.b / 200.0;
        let yr = if self.l > KAPPA * EPSILON {
            fy * fy * fy
        } else {
            self.l / KAPPA
        };
        Xyz {
            x: f_inv(fx) * white.x,
            y: yr * white.y,
            z: f_inv(fz) * white.z,
        }
    }

    pub fn to_lch(self) -> Lch {
        let h = self.b.atan2(self.a).to_degrees();
        Lch {
            l: self.l,
            c: self.a.hypot(self.b),
            h: if h < 0.0 { h + 360.0 } else { h },
        }
    }

    /// An sRGB colour for showing this Lab (relative to `white`) on screen: Bradford-adapted to
    /// D65, IEC 61966-2-1 transfer function, clipped to the gamut.
    pub fn to_srgb(self, white: Xyz) -> [u8; 3] {
        const D65: Xyz = Xyz {
            x: 95.047,
            y: 100.0,
            z: 108.883,
        };
        let xyz = self.to_xyz(white).adapt(white, D65);
        let (x, y, z) = (xyz.x / 100.0, xyz.y / 100.0, xyz.z / 100.0);
        let lin = [
            3.2404542 * x - 1.5371385 * y - 0.4985314 * z,
            -0.9692660 * x + 1.8760108 * y + 0.0415560 * z,
            0.0556434 * x - 0.2040259 * y + 1.0572252 * z,
        ];
        lin.map(|c| {
            let c = c.clamp(0.0, 1.0);
            let v = if c <= 0.003_130_8 {
                12.92 * c
            } else {
                1.055 * c.powf(1.0 / 2.4) - 0.055
            };
            (v * 255.0).round() as u8
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D50: Xyz = Xyz {
        x: 96.422,
        y: 100.0,
        z: 82.521,
    };
    const D65: Xyz = Xyz {
        x: 95.047,
        y: 100.0,
        z: 108.883,
    };

    #[test]
    fn lab_round_trips_and_white_is_100() {
        let w = D50.to_lab(D50);
        assert!((w.l - 100.0).abs() < 1e-12 && w.a.abs() < 1e-12 && w.b.abs() < 1e-12);
        for lab in [
            Lab {
                l: 50.0,
                a: 20.0,
                b: -30.0,
            },
            Lab {
                l: 5.0,
                a: 1.0,
                b: 2.0,
            },
            Lab {
                l: 95.0,
                a: -2.0,
                b: 4.0,
            },
        ] {
            let back = lab.to_xyz(D50).to_lab(D50);
            assert!(
                (back.l - lab.l).abs() < 1e-9
                    && (back.a - lab.a).abs() < 1e-9
                    && (back.b - lab.b).abs() < 1e-9
            );
        }
        let lch = Lab {
            l: 50.0,
            a: 0.0,
            b: -10.0,
        }
        .to_lch();
        assert!((lch.h - 270.0).abs() < 1e-9 && (lch.c - 10.0).abs() < 1e-12);
    }

    #[test]
    fn bradford_maps_white_to_white_and_round_trips() {
        let w = D50.adapt(D50, D65);
        assert!(
            (w.x - D65.x).abs() < 1e-3 && (w.y - D65.y).abs() < 1e-3 && (w.z - D65.z).abs() < 1e-3,
            "{w:?}"
        );
        let c = Xyz {
            x: 30.0,
            y: 25.0,
            z: 10.0,
        };
        let back = c.adapt(D50, D65).adapt(D65, D50);
        assert!((back.x - c.x).abs() < 1e-4 && (back.z - c.z).abs() < 1e-4);
    }

    #[test]
    fn srgb_swatches_of_known_colours() {
        assert_eq!(
            Lab {
                l: 100.0,
                a: 0.0,
                b: 0.0
            }
            .to_srgb(D50),
            [255, 255, 255]
        );
        assert_eq!(
            Lab {
                l: 0.0,
                a: 0.0,
                b: 0.0
            }
            .to_srgb(D50),
            [0, 0, 0]
        );
        let grey = Lab {
            l: 50.0,
            a: 0.0,
            b: 0.0,
        }
        .to_srgb(D50);
        assert!(grey.iter().all(|c| (118..=120).contains(c)), "{grey:?}");
    }
}
