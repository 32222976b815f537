//! Fixture files (`tests/fixtures/`, written by `generate.py`, an independent Python encoder of
//! `docs/gatt-profile.md`): each message must encode to exactly the listed frames, and the
//! frames must reassemble and decode to the message. Refused sequences must fail as listed.

use std::path::{Path, PathBuf};

use ecsp_instrument::frame::{self, FrameError, Reassembler};
use ecsp_instrument::message::{Request, Response};
use serde_json::Value;

fn fixture_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

fn load(kind: &str) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let doc = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (name, doc)
        })
        .collect()
}

fn hex_list(doc: &Value, key: &str) -> Vec<Vec<u8>> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn every_message_fixture_encodes_and_decodes_exactly() {
    let cases = load("messages");
    assert!(cases.len() >= 20, "fixtures missing: {}", cases.len());
    for (name, doc) in cases {
        let mtu = u16::try_from(doc["att_mtu"].as_u64().unwrap()).unwrap();
        let first_seq = u8::try_from(doc["first_seq"].as_u64().unwrap()).unwrap();
        let expected_message = hex::decode(doc["message_hex"].as_str().unwrap()).unwrap();
        let expected_frames = hex_list(&doc, "frames_hex");

        let encoded = match doc["direction"].as_str().unwrap() {
            "request" => {
                let request: Request = serde_json::from_value(doc["message"].clone()).unwrap();
                assert_eq!(
                    Request::decode(&expected_message).unwrap(),
                    request,
                    "{name}: decode"
                );
                request.encode()
            }
            _ => {
                let response: Response = serde_json::from_value(doc["message"].clone()).unwrap();
                assert_eq!(
                    Response::decode(&expected_message).unwrap(),
                    response,
                    "{name}: decode"
                );
                response.encode().unwrap()
            }
        };
        assert_eq!(
            hex::encode(&encoded),
            hex::encode(&expected_message),
            "{name}: message bytes"
        );

        let mut seq = first_seq;
        let frames = frame::encode(&encoded, mtu, &mut seq).unwrap();
        assert_eq!(
            frames.iter().map(hex::encode).collect::<Vec<_>>(),
            expected_frames.iter().map(hex::encode).collect::<Vec<_>>(),
            "{name}: frames"
        );
        assert_eq!(
            seq,
            first_seq.wrapping_add(frames.len() as u8),
            "{name}: next sequence"
        );

        let mut reassembler = Reassembler::expecting(first_seq);
        let mut out = None;
        for (i, f) in expected_frames.iter().enumerate() {
            assert!(
                f.len() <= frame::frame_capacity(mtu),
                "{name}: frame {i} too big"
            );
            let got = reassembler.push(f).unwrap();
            assert_eq!(
                got.is_some(),
                i + 1 == expected_frames.len(),
                "{name}: frame {i}"
            );
            out = got;
        }
        assert_eq!(out.unwrap(), expected_message, "{name}: reassembled");
    }
}

fn error_name(e: &FrameError) -> &'static str {
    match e {
        FrameError::TooShort(_) => "too_short",
        FrameError::BadCrc { .. } => "bad_crc",
        FrameError::ReservedFlags(_) => "reserved_flags",
        FrameError::SequenceGap { .. } => "sequence_gap",
        FrameError::NoMessageStarted(_) => "no_message_started",
        FrameError::MessageTooLong(_) => "message_too_long",
        FrameError::EmptyMessage => "empty_message",
        FrameError::LengthMismatch { .. } => "length_mismatch",
    }
}

#[test]
fn every_refused_fixture_fails_at_its_last_frame_with_its_error() {
    let cases = load("refused");
    assert!(cases.len() >= 10);
    for (name, doc) in cases {
        let frames = hex_list(&doc, "frames_hex");
        let mut reassembler = Reassembler::new();
        let (last, before) = frames.split_last().unwrap();
        for f in before {
            assert_eq!(
                reassembler.push(f),
                Ok(None),
                "{name}: frames before the fault"
            );
        }
        let err = reassembler.push(last).unwrap_err();
        assert_eq!(
            error_name(&err),
            doc["error"].as_str().unwrap(),
            "{name}: {err}"
        );
        assert!(
            !reassembler.in_progress(),
            "{name}: a refused message is dropped"
        );
    }
}

#[test]
fn the_crc_is_crc16_ibm_3740() {
    // The catalogue's check value for "123456789".
    assert_eq!(frame::FRAME_CRC.checksum(b"123456789"), 0x29B1);
}
