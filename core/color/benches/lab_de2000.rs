//! A batch of 1,000,000 36-band spectra (380–730 nm) to CIELAB (D50/2°, ASTM E2022 weights) and
//! ΔE2000 against a reference, on one core, through the batch API (`WeightTable::lab_batch`,
//! `delta_e::de2000_batch`), next to colour-science's vectorised numpy path on the same batch in
//! the same run (through `ECSP_PYTHON`, set up by scripts/setup-python.sh). The aim is 5 times
//! numpy's rate. Each side's time is the median of three passes.
//!
//! `cargo bench -p ecsp-color --bench lab_de2000` (`ECSP_BENCH_SPECTRA` to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use ecsp_color::cie::{Illuminant, Observer};
use ecsp_color::convert::Lab;
use ecsp_color::delta_e::de2000_batch;
use ecsp_color::spectrum::WavelengthGrid;
use ecsp_color::weights::weights;

/// The batch, by the same formula as tests/reference/bench.py.
fn batch(n: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(n * 36);
    for i in 0..n {
        let fi = i as f64;
        for k in 0..36 {
            v.push(0.5 + 0.45 * (0.7 * fi + 0.3 * k as f64 + (fi * 0.013).sin()).sin());
        }
    }
    v
}

fn main() {
    let n: usize = std::env::var("ECSP_BENCH_SPECTRA")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let spectra = batch(n);
    let reference = Lab {
        l: 50.0,
        a: 10.0,
        b: -20.0,
    };

    // The median of three passes, as bench.py times numpy's: one pass is easily stretched by
    // another process on a shared machine. Each pass starts from the weights (cached after the
    // first) and goes in blocks, so that the Lab values are still in cache for the colour
    // differences.
    const PASSES: usize = 3;
    const BLOCK: usize = 1024;
    let mut labs = vec![Lab::default(); BLOCK];
    let mut des = vec![0.0; BLOCK];
    let mut times = Vec::new();
    let mut sum = 0.0;
    for _ in 0..PASSES {
        let start = Instant::now();
        let table = weights(
            Illuminant::D50,
            Observer::Cie1931TwoDegree,
            WavelengthGrid::nm380_730(),
            true,
        )
        .unwrap();
        sum = 0.0;
        for rows in spectra.chunks(BLOCK * 36) {
            let (labs, des) = (&mut labs[..rows.len() / 36], &mut des[..rows.len() / 36]);
            table.lab_batch(rows, labs).unwrap();
            de2000_batch(reference, labs, des).unwrap();
            sum += des.iter().sum::<f64>();
        }
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let ours = times[PASSES / 2];
    let our_mean = sum / n as f64;
    let our_rate = n as f64 / ours;

    println!(
        "spectra → Lab → ΔE2000: {n} spectra of 36 bands, one core (median of {PASSES} passes)"
    );
    println!(
        "  ecsp-color            {our_rate:>12.0} spectra/s  ({ours:.3} s, mean ΔE00 {our_mean:.6})"
    );
    let python = std::env::var("ECSP_PYTHON").expect(
        "ECSP_PYTHON is not set: run scripts/setup-python.sh and export ECSP_PYTHON as it says, to compare with colour-science",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/bench.py");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let out = std::process::Command::new(python)
        .args([script, &n.to_string(), data])
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs = r["seconds"].as_f64().unwrap();
    let their_mean = r["mean_de2000"].as_f64().unwrap();
    let their_rate = n as f64 / theirs;
    println!(
        "  colour-science numpy  {their_rate:>12.0} spectra/s  ({theirs:.3} s, mean ΔE00 {their_mean:.6})"
    );
    println!(
        "  ratio ecsp-color / colour-science: {:.2} (aim ≥ 5)",
        our_rate / their_rate
    );
    assert!(
        (our_mean - their_mean).abs() < 1e-6,
        "the two computed different things: {our_mean} vs {their_mean}"
    );
}
