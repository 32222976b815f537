use std::path::PathBuf;

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

pub fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// The Sharma, Wu and Dalal (2005) pairs: (L1, a1, b1, L2, a2, b2, ΔE00).
pub fn sharma_pairs() -> Vec<[f64; 7]> {
    read("ciede2000_sharma.csv")
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.trim().parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3], v[4], v[5], v[6]]
        })
        .collect()
}
