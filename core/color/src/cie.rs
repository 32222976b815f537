//! The CIE data the maths needs, shipped as data files (see `data/SOURCES.md`): the 1931 2° and
//! 1964 10° observers (360–830 nm) and illuminants A, D50 and D65 (300–780 nm), all at 1 nm.

use std::sync::OnceLock;

/// The illuminants and observers are the shared colour model of the wire protocol; this crate
/// has 1 nm tables for illuminants A, D50 and D65 only (see [`spd`]).
pub use ecsp_protocol::colour_model::{Illuminant, Observer};

/// The illuminants this crate can compute for.
pub const COMPUTABLE_ILLUMINANTS: [Illuminant; 3] =
    [Illuminant::A, Illuminant::D50, Illuminant::D65];

/// A table at 1 nm from `start_nm`.
#[derive(Debug)]
pub struct Table1nm {
    pub start_nm: u32,
    pub columns: Vec<Vec<f64>>,
}

impl Table1nm {
    pub fn end_nm(&self) -> u32 {
        self.start_nm + self.columns[0].len() as u32 - 1
    }

    /// Column `c` at `nm` (which must be inside the table).
    pub fn at(&self, c: usize, nm: u32) -> f64 {
        self.columns[c][(nm - self.start_nm) as usize]
    }
}

/// Parses one of the embedded CSV tables (header line, then `nm,value…` rows every 1 nm).
fn parse_table(name: &str, text: &str) -> Table1nm {
    let mut start = None;
    let mut columns: Vec<Vec<f64>> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let mut fields = line.split(',');
        let nm: u32 = fields
            .next()
            .and_then(|f| f.trim().parse().ok())
            .unwrap_or_else(|| panic!("embedded table {name}, line {}: no wavelength", i + 1));
        let expected = start.map_or(nm, |s| s + columns.first().map_or(0, Vec::len) as u32);
        assert_eq!(
            nm,
            expected,
            "embedded table {name}, line {}: not 1 nm steps",
            i + 1
        );
        start.get_or_insert(nm);
        for (c, f) in fields.enumerate() {
            if columns.len() <= c {
                columns.push(Vec::new());
            }
            columns[c].push(
                f.trim().parse().unwrap_or_else(|_| {
                    panic!("embedded table {name}, line {}: not a number", i + 1)
                }),
            );
        }
    }
    Table1nm {
        start_nm: start.unwrap_or_else(|| panic!("embedded table {name} is empty")),
        columns,
    }
}

macro_rules! embedded {
    ($fn:ident, $file:literal) => {
        fn $fn() -> &'static Table1nm {
            static TABLE: OnceLock<Table1nm> = OnceLock::new();
            TABLE.get_or_init(|| parse_table($file, include_str!(concat!("../data/", $file))))
        }
    };
}

embedded!(cmf_1931, "cie1931_2deg_1nm.csv");
embedded!(cmf_1964, "cie1964_10deg_1nm.csv");
embedded!(spd_a, "illuminant_A_1nm.csv");
embedded!(spd_d50, "illuminant_D50_1nm.csv");
embedded!(spd_d65, "illuminant_D65_1nm.csv");

/// The colour-matching functions x̄, ȳ, z̄ (columns 0, 1, 2), 360–830 nm.
pub fn cmfs(observer: Observer) -> &'static Table1nm {
    match observer {
        Observer::Cie1931TwoDegree => cmf_1931(),
        Observer::Cie1964TenDegree => cmf_1964(),
    }
}

/// The relative spectral power (column 0), 300–780 nm; an error for an illuminant this crate
/// has no table for.
pub fn spd(illuminant: Illuminant) -> crate::error::Result<&'static Table1nm> {
    match illuminant {
        Illuminant::A => Ok(spd_a()),
        Illuminant::D50 => Ok(spd_d50()),
        Illuminant::D65 => Ok(spd_d65()),
        other => Err(crate::error::ColorError::Unsupported(format!(
            "no spectral data for illuminant {other} here: colours can be computed for A, D50 and D65"
        ))),
    }
}

/// The wavelength range integrated over: where both observer and illuminant data exist
/// (360–780 nm, the range of the ASTM E308 tables).
pub const INTEGRATION_START_NM: u32 = 360;
pub const INTEGRATION_END_NM: u32 = 780;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_with_their_ranges() {
        for o in [Observer::Cie1931TwoDegree, Observer::Cie1964TenDegree] {
            let t = cmfs(o);
            assert_eq!((t.start_nm, t.end_nm(), t.columns.len()), (360, 830, 3));
        }
        for i in [Illuminant::A, Illuminant::D50, Illuminant::D65] {
            let t = spd(i).unwrap();
            assert_eq!((t.start_nm, t.end_nm()), (300, 780));
            assert!(
                (t.at(0, 560) - 100.0).abs() < 1.5,
                "{i} is normalised near 100 at 560 nm"
            );
        }
        let e = spd(Illuminant::F11).unwrap_err();
        assert!(e.to_string().contains("F11"), "{e}");
        // ȳ peaks at 555 nm at 1.0 for the 1931 observer.
        assert!((cmfs(Observer::Cie1931TwoDegree).at(1, 555) - 1.0).abs() < 1e-4);
    }
}
