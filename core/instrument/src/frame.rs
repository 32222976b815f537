//! Framing: how one message travels as ATT values of at most `MTU − 3` bytes.
//!
//! ```text
//! byte 0      sequence number, +1 per frame in each direction, wraps 255 → 0, 0 after connecting
//! byte 1      flags: bit 0 START, bit 1 END; other bits reserved (must be 0)
//! bytes 2..4  START frames only: length of the whole message, u16 little-endian, 1..=4096
//! …           payload bytes
//! last 2      CRC-16/IBM-3740 (poly 0x1021, init 0xFFFF) of every byte before it, little-endian
//! ```
//!
//! A per-frame CRC (rather than one per message) lets the receiver drop a damaged message at the
//! first bad frame, and the sequence number makes a lost notification visible instead of
//! silently splicing two messages together.

use crc::{CRC_16_IBM_3740, Crc};
use thiserror::Error;

/// The CRC every frame ends with.
pub const FRAME_CRC: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The smallest ATT MTU (Bluetooth Core, ATT_MTU default).
pub const MIN_ATT_MTU: u16 = 23;
/// The largest ATT MTU an ATT value can use (512-byte attribute + 5).
pub const MAX_ATT_MTU: u16 = 517;
/// The largest message either side may send; bounds the receiver's buffer.
pub const MAX_MESSAGE_LEN: usize = 4096;

const FLAG_START: u8 = 0b01;
const FLAG_END: u8 = 0b10;
const HEADER: usize = 2;
const LENGTH: usize = 2;
const CRC_LEN: usize = 2;

/// The largest frame for an ATT MTU: a notification or write-without-response carries
/// `MTU − 3` bytes (1 opcode + 2 handle).
pub fn frame_capacity(att_mtu: u16) -> usize {
    usize::from(att_mtu.clamp(MIN_ATT_MTU, MAX_ATT_MTU)) - 3
}

/// Why a message could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("a message must hold 1 to {MAX_MESSAGE_LEN} bytes, not {0}")]
    Length(usize),
}

/// Splits `message` into frames for `att_mtu` (clamped to 23..=517), numbering them from
/// `*next_seq`, which is advanced past the last frame.
pub fn encode(
    message: &[u8],
    att_mtu: u16,
    next_seq: &mut u8,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    if message.is_empty() || message.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::Length(message.len()));
    }
    let capacity = frame_capacity(att_mtu);
    let mut frames = Vec::new();
    let mut rest = message;
    let mut first = true;
    while first || !rest.is_empty() {
        let overhead = HEADER + CRC_LEN + if first { LENGTH } else { 0 };
        let take = rest.len().min(capacity - overhead);
        let (chunk, tail) = rest.split_at(take);
        let mut flags = 0;
        if first {
            flags |= FLAG_START;
        }
        if tail.is_empty() {
            flags |= FLAG_END;
        }
        let mut frame = Vec::with_capacity(overhead + take);
        frame.push(*next_seq);
        frame.push(flags);
        if first {
            // Checked above: the length fits in u16.
            frame.extend_from_slice(&(message.len() as u16).to_le_bytes());
        }
        frame.extend_from_slice(chunk);
        let crc = FRAME_CRC.checksum(&frame);
        frame.extend_from_slice(&crc.to_le_bytes());
        frames.push(frame);
        *next_seq = next_seq.wrapping_add(1);
        rest = tail;
        first = false;
    }
    Ok(frames)
}

/// A frame the receiver refused. Any message in progress is lost with it; the [`Reassembler`]
/// is ready for the next frame (the sender or the link layer decides whether to ask again).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is shorter than the smallest frame")]
    TooShort(usize),
    #[error("frame CRC mismatch: frame says {stated:#06x}, content gives {computed:#06x}")]
    BadCrc { stated: u16, computed: u16 },
    #[error("frame sets reserved flag bits {0:#04x}")]
    ReservedFlags(u8),
    #[error("sequence gap: expected frame {expected}, got {got}")]
    SequenceGap { expected: u8, got: u8 },
    #[error("continuation frame {0} with no message started")]
    NoMessageStarted(u8),
    #[error("a message of {0} bytes is longer than the {MAX_MESSAGE_LEN} allowed")]
    MessageTooLong(usize),
    #[error("message length 0 is not allowed")]
    EmptyMessage,
    #[error("message declared {declared} bytes but its frames carry {carried}")]
    LengthMismatch { declared: usize, carried: usize },
}

/// Puts frames back into messages, checking CRC, sequence and length.
#[derive(Debug)]
pub struct Reassembler {
    expected_seq: Option<u8>,
    partial: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    declared: usize,
    bytes: Vec<u8>,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl Reassembler {
    /// A reassembler for a fresh connection: the first frame is number 0, so even the loss of
    /// the very first frame is seen.
    pub fn new() -> Self {
        Self::expecting(0)
    }

    /// A reassembler whose next frame is number `seq`.
    pub fn expecting(seq: u8) -> Self {
        Self {
            expected_seq: Some(seq),
            partial: None,
        }
    }

    /// Forgets any message in progress and expects frame 0 (after a reconnection).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Whether a message is partly received.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Takes one frame; returns a message when its last frame arrived.
    ///
    /// Any error drops the message in progress. A sequence gap also drops the frame that showed
    /// it (even a START frame): the sequence resynchronises on it, and the next message is
    /// received cleanly. Whoever asked for the lost message asks again.
    pub fn push(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        let result = self.take_frame(frame);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn take_frame(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        if frame.len() < HEADER + CRC_LEN {
            return Err(FrameError::TooShort(frame.len()));
        }
        let (body, crc) = frame.split_at(frame.len() - CRC_LEN);
        let stated = u16::from_le_bytes([crc[0], crc[1]]);
        let computed = FRAME_CRC.checksum(body);
        if stated != computed {
            // A damaged frame's sequence number cannot be trusted: the next frame resyncs (the
            // loss is already reported by this error).
            self.expected_seq = None;
            return Err(FrameError::BadCrc { stated, computed });
        }
        let (seq, flags) = (body[0], body[1]);
        let expected = self.expected_seq.replace(seq.wrapping_add(1));
        if let Some(expected) = expected
            && expected != seq
        {
            return Err(FrameError::SequenceGap { expected, got: seq });
        }
        let reserved = flags & !(FLAG_START | FLAG_END);
        if reserved != 0 {
            return Err(FrameError::ReservedFlags(reserved));
        }
        let mut payload = &body[HEADER..];
        if flags & FLAG_START != 0 {
            let Some((len, rest)) = payload.split_first_chunk::<LENGTH>() else {
                return Err(FrameError::TooShort(frame.len()));
            };
            let declared = usize::from(u16::from_le_bytes(*len));
            payload = rest;
            if declared == 0 {
                return Err(FrameError::EmptyMessage);
            }
            if declared > MAX_MESSAGE_LEN {
                return Err(FrameError::MessageTooLong(declared));
            }
            if let Some(lost) = self.partial.take() {
                // A new message began before the last one ended: its END frame was lost.
                return Err(FrameError::LengthMismatch {
                    declared: lost.declared,
                    carried: lost.bytes.len(),
                });
            }
            self.partial = Some(Partial {
                declared,
                bytes: Vec::with_capacity(declared),
            });
        } else if self.partial.is_none() {
            return Err(FrameError::NoMessageStarted(seq));
        }
        self.append(payload, flags)
    }

    fn append(&mut self, payload: &[u8], flags: u8) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(partial) = self.partial.as_mut() else {
            return Ok(None);
        };
        let carried = partial.bytes.len() + payload.len();
        if carried > partial.declared {
            let declared = partial.declared;
            self.partial = None;
            return Err(FrameError::LengthMismatch { declared, carried });
        }
        partial.bytes.extend_from_slice(payload);
        if flags & FLAG_END != 0 {
            let done = self.partial.take().map(|p| (p.declared, p.bytes));
            if let Some((declared, bytes)) = done {
                if bytes.len() != declared {
                    return Err(FrameError::LengthMismatch {
                        declared,
                        carried: bytes.len(),
                    });
                }
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }
}
