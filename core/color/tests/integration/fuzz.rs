//! The parsers never panic, whatever they are given: arbitrary text, and valid files with bytes
//! deleted, replaced or inserted at random.

use proptest::prelude::*;

use crate::common::read;

fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for &(pos, kind, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = pos % bytes.len();
        match kind % 3 {
            0 => {
                bytes.remove(i);
            }
            1 => bytes[i] = byte,
            _ => bytes.insert(i, byte),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn cgats_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = ecsp_color::cgats::parse(&text);
    }

    #[test]
    fn the_byte_reader_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = ecsp_color::dataset::Dataset::from_bytes(&bytes);
    }

    #[test]
    fn cgats_dialects_never_panic_when_damaged(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..12), which in 0usize..3) {
        let name = ["corpus/lookalike_argyll_two_tables.ti3", "corpus/pycgats_Tuerkis7712-HolmenX60.txt", "corpus/colour_X-Rite_Digital_Colour_Checker.txt"][which];
        let base = read(name);
        let _ = ecsp_color::cgats::parse(&mutate(&base, &edits));
    }

    #[test]
    fn cxf_parser_never_panics_on_arbitrary_text(text in ".{0,400}") {
        let _ = ecsp_color::cxf::parse(&text);
    }

    #[test]
    fn cgats_parser_never_panics_on_damaged_files(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..12)) {
        let base = read("colorchecker_babelcolor.cgats");
        let _ = ecsp_color::cgats::parse(&mutate(&base, &edits));
    }

    #[test]
    fn cxf_parser_never_panics_on_damaged_files(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..12)) {
        let chart = ecsp_color::cgats::parse(&read("colorchecker_babelcolor.cgats")).unwrap();
        let base = ecsp_color::cxf::write(&chart);
        let _ = ecsp_color::cxf::parse(&mutate(&base, &edits));
    }
}
