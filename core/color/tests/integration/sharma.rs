//! CIEDE2000 against the published test data of Sharma, Wu and Dalal (2005).

use ecsp_color::convert::Lab;
use ecsp_color::delta_e::de2000;

use crate::common::sharma_pairs;

#[test]
fn every_published_ciede2000_pair_to_1e_4() {
    let pairs = sharma_pairs();
    assert_eq!(pairs.len(), 34);
    for (i, p) in pairs.iter().enumerate() {
        let a = Lab {
            l: p[0],
            a: p[1],
            b: p[2],
        };
        let b = Lab {
            l: p[3],
            a: p[4],
            b: p[5],
        };
        let d = de2000(a, b, 1.0, 1.0, 1.0);
        assert!(
            (d - p[6]).abs() < 1e-4,
            "pair {}: {d:.6} vs {}",
            i + 1,
            p[6]
        );
        // CIEDE2000 is symmetric.
        assert!(
            (de2000(b, a, 1.0, 1.0, 1.0) - d).abs() < 1e-12,
            "pair {} not symmetric",
            i + 1
        );
    }
}
