//! Properties of framing and messages for every ATT MTU from 23 to 517.

use ecsp_instrument::frame::{self, FrameError, MAX_MESSAGE_LEN, Reassembler};
use ecsp_instrument::message::{DecodeError, Grid, Reading, Request, Response};
use ecsp_protocol::colour_model::{Geometry, IlluminationCondition};
use proptest::prelude::*;

/// Reassembles `frames` and returns the messages, failing on any error.
fn reassemble(first_seq: u8, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut r = Reassembler::expecting(first_seq);
    frames.iter().filter_map(|f| r.push(f).unwrap()).collect()
}

#[test]
fn every_mtu_chunks_and_reassembles_the_largest_and_smallest_messages() {
    let big: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| (i * 31 % 251) as u8).collect();
    for mtu in frame::MIN_ATT_MTU..=frame::MAX_ATT_MTU {
        for message in [&big[..], &big[..1], &big[..17]] {
            let mut seq = 200;
            let frames = frame::encode(message, mtu, &mut seq).unwrap();
            assert!(
                frames.iter().all(|f| f.len() <= usize::from(mtu) - 3),
                "mtu {mtu}"
            );
            // Every frame but the last is full: no MTU is wasted.
            for f in &frames[..frames.len() - 1] {
                assert_eq!(f.len(), usize::from(mtu) - 3, "mtu {mtu}");
            }
            assert_eq!(
                reassemble(200, &frames),
                vec![message.to_vec()],
                "mtu {mtu}"
            );
        }
    }
}

#[test]
fn empty_and_oversized_messages_are_refused_by_the_encoder() {
    let mut seq = 0;
    assert!(frame::encode(&[], 23, &mut seq).is_err());
    assert!(frame::encode(&vec![0; MAX_MESSAGE_LEN + 1], 23, &mut seq).is_err());
    assert_eq!(seq, 0, "nothing sent, no sequence used");
}

fn reading_strategy() -> impl Strategy<Value = Reading> {
    (
        any::<u32>(),
        prop::sample::select(vec![
            IlluminationCondition::M0,
            IlluminationCondition::M1,
            IlluminationCondition::M2,
        ]),
        prop::collection::vec(0.0f32..2.0, 1..=401),
        "[A-Z0-9-]{0,64}",
        any::<i16>(),
    )
        .prop_map(|(counter, condition, values, serial, t)| Reading {
            counter,
            condition,
            geometry: Geometry::FortyFiveZero,
            aperture_tenth_mm: 40,
            serial,
            grid: Grid {
                start_nm: 380,
                interval_nm: 1,
                bands: values.len() as u16,
            },
            values,
            temperature_tenth_c: t,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_reading_survives_any_mtu(reading in reading_strategy(), mtu in 23u16..=517, seq in any::<u8>()) {
        let response = Response::Reading { id: 9, reading };
        let bytes = response.encode().unwrap();
        let mut next = seq;
        let frames = frame::encode(&bytes, mtu, &mut next).unwrap();
        let messages = reassemble(seq, &frames);
        prop_assert_eq!(messages.len(), 1);
        prop_assert_eq!(Response::decode(&messages[0]).unwrap(), response);
    }

    #[test]
    fn any_single_bit_flip_is_caught(len in 1usize..600, mtu in 23u16..=517, pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let message: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut seq = 0;
        let mut frames = frame::encode(&message, mtu, &mut seq).unwrap();
        let total: usize = frames.iter().map(Vec::len).sum();
        let mut at = pick.index(total);
        let mut hit = 0;
        for (i, f) in frames.iter().enumerate() {
            if at < f.len() { hit = i; break; }
            at -= f.len();
        }
        frames[hit][at] ^= 1 << bit;
        let mut r = Reassembler::new();
        let mut errors = Vec::new();
        let mut delivered = Vec::new();
        for f in &frames {
            match r.push(f) {
                Ok(Some(m)) => delivered.push(m),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        // CRC-16 detects every single-bit error: the message never comes out damaged.
        prop_assert!(delivered.is_empty(), "a damaged message was delivered");
        prop_assert!(matches!(errors.first(), Some(FrameError::BadCrc { .. })), "{:?}", errors);
    }

    #[test]
    fn a_dropped_frame_loses_exactly_its_message(count in 2usize..6, len in 1usize..300, mtu in 23u16..=60, drop in any::<prop::sample::Index>()) {
        // Several messages back to back; one frame is lost on the air.
        let mut seq = 250;
        let mut frames = Vec::new();
        let mut owner = Vec::new();
        for m in 0..count {
            let message = vec![m as u8; len];
            for f in frame::encode(&message, mtu, &mut seq).unwrap() {
                frames.push(f);
                owner.push(m);
            }
        }
        let lost = drop.index(frames.len());
        let mut r = Reassembler::expecting(250);
        let mut delivered = Vec::new();
        let mut gaps = 0;
        for (i, f) in frames.iter().enumerate() {
            if i == lost { continue; }
            match r.push(f) {
                Ok(Some(m)) => delivered.push(m[0] as usize),
                Ok(None) => {}
                Err(FrameError::SequenceGap { .. }) => gaps += 1,
                // The rest of the damaged message, or of the one whose START revealed the gap.
                Err(FrameError::NoMessageStarted(_)) => prop_assert!(
                    gaps == 1 && (owner[i] == owner[lost] || owner[i] == owner[lost + 1])
                ),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
        // The loss is always seen, unless the very last frame was lost (nothing follows it).
        prop_assert_eq!(gaps, usize::from(lost + 1 < frames.len()));
        // No message is delivered damaged; the one that lost a frame is missing; a message that
        // started with the frame revealing the gap is dropped too.
        let damaged = owner[lost];
        prop_assert!(!delivered.contains(&damaged));
        for m in &delivered {
            prop_assert!(*m != damaged);
        }
        let revealing = owner.get(lost + 1).copied();
        for m in 0..count {
            if m != damaged && Some(m) != revealing {
                prop_assert!(delivered.contains(&m), "message {} lost too: {:?}", m, delivered);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        let mut r = Reassembler::new();
        let _ = r.push(&bytes);
        for chunk in bytes.chunks(20) {
            let _ = r.push(chunk);
        }
    }
}

#[test]
fn non_finite_values_and_wrong_band_counts_are_refused() {
    let reading = Reading {
        counter: 1,
        condition: IlluminationCondition::M2,
        geometry: Geometry::FortyFiveZero,
        aperture_tenth_mm: 40,
        serial: "S".into(),
        grid: Grid {
            start_nm: 400,
            interval_nm: 10,
            bands: 3,
        },
        values: vec![0.5, 0.5, 0.5],
        temperature_tenth_c: 0,
    };
    let mut bytes = Response::Reading {
        id: 1,
        reading: reading.clone(),
    }
    .encode()
    .unwrap();
    let first_value = bytes.len() - 2 - 12;
    bytes[first_value + 4..first_value + 8].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        Response::decode(&bytes),
        Err(DecodeError::NotFinite { index: 1 })
    );

    let wrong = Reading {
        values: vec![0.5; 4],
        ..reading
    };
    assert!(matches!(
        Response::Reading {
            id: 1,
            reading: wrong
        }
        .encode(),
        Err(DecodeError::BandCount {
            declared: 3,
            carried: 4
        })
    ));
}

#[test]
fn truncated_and_padded_messages_are_refused() {
    let full = Request::Measure {
        id: 1,
        condition: IlluminationCondition::M1,
    }
    .encode();
    assert_eq!(
        Request::decode(&full[..2]),
        Err(DecodeError::Truncated("condition"))
    );
    let mut padded = full.clone();
    padded.push(0);
    assert_eq!(
        Request::decode(&padded),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        Request::decode(&[0x7F, 1]),
        Err(DecodeError::UnknownOpcode(0x7F))
    );
    assert_eq!(
        Request::decode(&[0x03, 1, 9]),
        Err(DecodeError::BadValue {
            field: "condition",
            value: 9
        })
    );
}
