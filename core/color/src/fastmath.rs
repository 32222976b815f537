//! Branch-free elementary functions for the batch paths ([`crate::weights::WeightTable::lab_batch`],
//! [`crate::delta_e::de2000_batch`]), on [`F64s`].
//!
//! libm's `cbrt`, `atan2`, `exp` and `sin` are calls the compiler cannot vectorise, and they were
//! most of the time of a spectrum → CIELAB → ΔE00 batch. These are plain arithmetic (no calls, no
//! data-dependent branches), so they run on several lanes at once even on the x86-64 baseline
//! (SSE2). Each is accurate to a few units in the last place on the domain it states (the tests
//! below measure that against std); outside it the result is unspecified but never a panic, and
//! the callers keep to the domain or fall back to std.

use crate::lanes::F64s;

/// 1.5·2⁵²: added to a float below 2⁵¹ in magnitude, it rounds it to an integer and leaves
/// that in the low bits of the sum (two's complement).
const SHIFTER: f64 = 6_755_399_441_055_744.0;

/// Cube root of positive, finite, normal values, to within 4 ulp, without a division: an
/// estimate of x^(−1/3) from the exponent (3.5 %), two fourth-order Newton steps for
/// 1/∛x, y ← y(1 + e/3 + 2e²/9 + 14e³/81) with e = 1 − x·y³ (error 10⁻⁵, then below 1 ulp),
/// and ∛x = x·y².
#[inline(always)]
pub(crate) fn cbrt(x: F64s) -> F64s {
    // (1023 + 1023/3 − 0.066)·2²⁰, the bias tuned for the smallest largest error.
    const B2: u64 = 1_430_188_284;
    // The high word divided by 3 (rounded) in floating point, the quotient read from the low
    // bits of a sum with SHIFTER: SSE2 has no packed integer division.
    let third = (x.to_bits().high_word_f64() * (1.0 / 3.0) + SHIFTER).to_bits();
    let mut y = F64s::from_bits(third.wrapping_neg().wrapping_add(B2).shl(32));
    for _ in 0..2 {
        // x·y·y·y in this order stays within range for every normal x.
        let e = 1.0 - ((x * y) * y) * y;
        y = y + y * (e * ((1.0 / 3.0) + e * ((2.0 / 9.0) + e * (14.0 / 81.0))));
    }
    (x * y) * y
}

/// `atan2(y, x)` in degrees, in (−180, 180], and 0 when both are zero (the CIEDE2000 hue rule).
/// Cephes' `atan` rational approximation after reducing to |u| ≤ 0.66.
#[inline(always)]
pub(crate) fn atan2_deg(y: F64s, x: F64s) -> F64s {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    const P: [f64; 5] = [
        -8.750_608_600_031_904e-1,
        -1.615_753_718_733_365e1,
        -7.500_855_792_314_705e1,
        -1.228_866_684_490_136_2e2,
        -6.485_021_904_942_025e1,
    ];
    const Q: [f64; 5] = [
        2.485_846_490_142_306e1,
        1.650_270_098_316_988_6e2,
        4.328_810_604_912_903e2,
        4.853_903_996_359_137e2,
        1.945_506_571_482_614e2,
    ];
    const MOREBITS: f64 = 6.123_233_995_736_766e-17; // π/2 − FRAC_PI_2
    let zero = F64s::splat(0.0);
    let (ax, ay) = (x.abs(), y.abs());
    let swap = ay.gt(ax);
    let (mn, mx) = (swap.select(ax, ay), swap.select(ay, ax));
    // t = mn / mx ∈ [0, 1]; above 0.66, atan t = π/4 + atan((t − 1)/(t + 1)).
    let big = mn.gt(mx * 0.66);
    let n = big.select(mn - mx, mn);
    let d = big.select(mn + mx, mx);
    let u = n / d.eq(zero).select(F64s::splat(1.0), d);
    let z = u * u;
    let p = (((P[0] * z + P[1]) * z + P[2]) * z + P[3]) * z + P[4];
    let q = ((((z + Q[0]) * z + Q[1]) * z + Q[2]) * z + Q[3]) * z + Q[4];
    let a = u + u * (z * p / q);
    let a = big.select(a + (FRAC_PI_4 + 0.5 * MOREBITS), a);
    let a = swap.select((FRAC_PI_2 - a) + MOREBITS, a);
    let a = x.lt(zero).select(PI - a, a);
    let a = y.lt(zero).select(-a, a);
    a.to_degrees()
}

/// eˣ for −700 ≤ x ≤ 0, to within 2 ulp: x = k·ln 2 + r with |r| ≤ ln2/2, a degree-13 Taylor
/// polynomial for eʳ (Horner), and 2ᵏ built from its bits.
#[inline(always)]
pub(crate) fn exp_neg(x: F64s) -> F64s {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1; // its low bits are zero: k·LN2_HI is exact
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let shifted = x * std::f64::consts::LOG2_E + SHIFTER;
    let k = shifted - SHIFTER;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut p = F64s::splat(INV_FACTORIAL[13]);
    for c in INV_FACTORIAL[..13].iter().rev() {
        p = p * r + *c;
    }
    // The low 12 bits of `shifted` hold k (two's complement); add the exponent bias and shift
    // them into place. Exact for −1022 ≤ k ≤ 0.
    p * F64s::from_bits(shifted.to_bits().wrapping_add(1023).shl(52))
}

/// 1/n!, n = 0…13: the exponential's Taylor coefficients (each n! is exact in f64).
const INV_FACTORIAL: [f64; 14] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5_040.0,
    1.0 / 40_320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// sin x for |x| ≤ π/3, to within 2 ulp: the Taylor series to x¹⁷ (the next term is below
/// 2·10⁻¹⁷).
#[inline(always)]
pub(crate) fn sin_small(x: F64s) -> F64s {
    const C: [f64; 8] = [
        -1.0 / 6.0,
        1.0 / 120.0,
        -1.0 / 5_040.0,
        1.0 / 362_880.0,
        -1.0 / 39_916_800.0,
        1.0 / 6_227_020_800.0,
        -1.0 / 1_307_674_368_000.0,
        1.0 / 355_687_428_096_000.0,
    ];
    let z = x * x;
    let mut p = F64s::splat(C[7]);
    for c in C[..7].iter().rev() {
        p = p * z + *c;
    }
    x + x * z * p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::LANES;

    /// `f` on lanes, applied to one value (in every lane).
    fn one(f: impl Fn(F64s) -> F64s) -> impl Fn(f64) -> f64 {
        move |x| {
            let r = f(F64s::splat(x));
            assert!(r.0.iter().all(|v| v.to_bits() == r.0[0].to_bits()));
            r.0[0]
        }
    }

    #[test]
    fn lanes_are_independent() {
        let xs = F64s::from_fn(|i| 0.01 + i as f64 * 0.37);
        let r = cbrt(xs);
        for i in 0..LANES {
            assert_eq!(r.0[i], one(cbrt)(xs.0[i]));
        }
    }

    /// Largest error in units of the last place of the std result.
    fn max_ulps(
        f: impl Fn(f64) -> f64,
        g: impl Fn(f64) -> f64,
        xs: impl Iterator<Item = f64>,
    ) -> f64 {
        xs.map(|x| {
            let (a, b) = (f(x), g(x));
            let ulp = f64::from_bits(b.abs().to_bits() + 1) - b.abs();
            ((a - b) / ulp).abs()
        })
        .fold(0.0, f64::max)
    }

    /// Points spread over `lo..hi`, with a deterministic jitter so that no lattice is favoured.
    fn spread(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        (0..=n).map(move |i| {
            let jitter = ((i as f64 * 0.618_033_988_749_895) % 1.0 - 0.5) / n as f64;
            (lo + (hi - lo) * (i as f64 / n as f64 + jitter)).clamp(lo, hi)
        })
    }

    #[test]
    fn cbrt_is_within_four_ulps_of_std() {
        // The CIELAB range (t > 216/24389) and far beyond, including whole octaves.
        let xs = spread(216.0 / 24389.0, 4.0, 200_000)
            .chain(spread(1.0, 1e6, 50_000))
            .chain((-300..300).map(|e| 2f64.powi(e)))
            .chain([1e-300, 1e300, f64::MIN_POSITIVE, f64::MAX]);
        let e = max_ulps(one(cbrt), f64::cbrt, xs);
        assert!(e <= 4.0, "{e} ulp");
    }

    #[test]
    fn atan2_deg_is_within_two_ulps_of_std_in_every_quadrant() {
        let atan2 = |y: f64, x: f64| atan2_deg(F64s::splat(y), F64s::splat(x)).0[0];
        let mut worst: f64 = 0.0;
        for (i, angle) in spread(-std::f64::consts::PI, std::f64::consts::PI, 100_000).enumerate() {
            let r = [0.011, 0.7, 1.0, 1.9, 25.0, 99.0][i % 6];
            let (y, x) = (r * angle.sin(), r * angle.cos());
            let theirs = y.atan2(x).to_degrees();
            // Relative to the larger of the result and 1° (near zero, absolute).
            worst = worst.max((atan2(y, x) - theirs).abs() / theirs.abs().max(1.0));
        }
        assert!(worst < 5e-16, "{worst}");
        for (y, x, want) in [
            (0.0, 0.0, 0.0),
            (-0.0, 0.0, 0.0),
            (0.0, -2.0, 180.0),
            (3.0, 0.0, 90.0),
            (-3.0, 0.0, -90.0),
            (1.0, 1.0, 45.0),
            (-1.0, -1.0, -135.0),
        ] {
            assert!((atan2(y, x) - want).abs() < 1e-13, "atan2({y}, {x})");
        }
    }

    #[test]
    fn exp_neg_is_within_two_ulps_of_std() {
        let xs = spread(-700.0, 0.0, 200_000).chain(spread(-2.0, 0.0, 50_000));
        let e = max_ulps(one(exp_neg), f64::exp, xs);
        assert!(e <= 2.0, "{e} ulp");
        assert_eq!(one(exp_neg)(0.0), 1.0);
    }

    #[test]
    fn sin_small_is_within_two_ulps_of_std() {
        use std::f64::consts::FRAC_PI_3;
        let xs = spread(-FRAC_PI_3, FRAC_PI_3, 200_000).filter(|x| x.abs() > 1e-300);
        let e = max_ulps(one(sin_small), f64::sin, xs);
        assert!(e <= 2.0, "{e} ulp");
    }
}
