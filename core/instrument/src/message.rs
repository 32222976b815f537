//! Control-point requests and instrument responses: the payloads that [`crate::frame`] carries.
//!
//! All integers are little-endian. Strings are one length byte and UTF-8 (at most 64 bytes).
//! Every request carries a request id the instrument echoes, so a late answer to a cancelled or
//! timed-out request is recognised and not mistaken for the current one. Readings carry the
//! instrument's reading counter, which is how a host that asked for the last reading again after
//! a lost frame or a reconnection tells a new reading from one it already has.

use ecsp_protocol::colour_model::{Geometry, IlluminationCondition};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest string field.
pub const MAX_TEXT: usize = 64;
/// Most spectral bands a reading may carry (380–780 nm at 1 nm is 401).
pub const MAX_BANDS: usize = 401;

mod opcode {
    pub const GET_INFO: u8 = 0x01;
    pub const CALIBRATE_WHITE: u8 = 0x02;
    pub const MEASURE: u8 = 0x03;
    pub const CANCEL: u8 = 0x04;
    pub const RESEND_LAST_READING: u8 = 0x05;
    pub const INFO: u8 = 0x81;
    pub const CALIBRATED: u8 = 0x82;
    pub const READING: u8 = 0x83;
    pub const CANCELLED: u8 = 0x84;
    pub const ERROR: u8 = 0xEE;
}

/// What the phone writes to the control point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Ask for [`DeviceInfo`].
    GetInfo { id: u8 },
    /// Measure the white calibration tile.
    CalibrateWhite { id: u8 },
    /// Take one reading under `condition` (M0, M1 or M2).
    Measure {
        id: u8,
        condition: IlluminationCondition,
    },
    /// Abandon the request in progress; the instrument answers `Cancelled` with its id.
    Cancel { id: u8 },
    /// Send the last reading again, with its original counter (after a lost frame or link).
    ResendLastReading { id: u8 },
}

impl Request {
    pub fn id(&self) -> u8 {
        match *self {
            Request::GetInfo { id }
            | Request::CalibrateWhite { id }
            | Request::Measure { id, .. }
            | Request::Cancel { id }
            | Request::ResendLastReading { id } => id,
        }
    }
}

/// What the instrument notifies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Info { id: u8, info: DeviceInfo },
    Calibrated { id: u8, calibration: Calibration },
    Reading { id: u8, reading: Reading },
    Cancelled { id: u8 },
    Error { id: u8, code: ErrorCode },
}

impl Response {
    /// The request id this answers.
    pub fn id(&self) -> u8 {
        match self {
            Response::Info { id, .. }
            | Response::Calibrated { id, .. }
            | Response::Reading { id, .. }
            | Response::Cancelled { id }
            | Response::Error { id, .. } => *id,
        }
    }
}

/// The instrument's identity, optics and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub profile_version: u8,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub firmware: String,
    pub geometry: Geometry,
    /// Measuring aperture in tenths of a millimetre.
    pub aperture_tenth_mm: u16,
    pub grid: Grid,
    /// The conditions it can measure under.
    pub conditions: Vec<IlluminationCondition>,
    /// Seconds since the last white calibration; `None` if never calibrated since power-on.
    pub seconds_since_calibration: Option<u32>,
    pub readings_since_calibration: u32,
    /// Optics temperature in tenths of a degree Celsius.
    pub temperature_tenth_c: i16,
    pub battery_percent: u8,
}

/// A regular wavelength grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub start_nm: u16,
    pub interval_nm: u16,
    pub bands: u16,
}

/// The result of a white calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calibration {
    /// ΔE00 of the tile reading against the tile's stored values, in hundredths.
    pub tile_delta_e_hundredths: u16,
    pub temperature_tenth_c: i16,
}

/// One spectral reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The instrument's reading counter: increases by one per reading, never reused.
    pub counter: u32,
    pub condition: IlluminationCondition,
    pub geometry: Geometry,
    pub aperture_tenth_mm: u16,
    pub serial: String,
    pub grid: Grid,
    /// Reflectance factors, one per band (1.0 = perfect diffuser).
    pub values: Vec<f32>,
    pub temperature_tenth_c: i16,
}

/// Why the instrument refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Measuring needs a white calibration first (or the last one expired).
    NotCalibrated,
    /// Stray light reached the sensor: the aperture is not flat on the sample.
    AmbientLight,
    /// Too little battery to light the lamp reliably.
    LowBattery,
    /// The white tile reading is too far from its stored values (dirty or wrong tile).
    TileDeltaETooHigh,
    /// The optics did not settle in time.
    Timeout,
    /// Another request is in progress.
    Busy,
    UnknownCommand,
    MalformedRequest,
    /// `ResendLastReading` with no reading since power-on.
    NoReading,
    /// The instrument cannot measure under the condition asked for.
    UnsupportedCondition,
    /// A code this version of the profile does not know (a newer instrument).
    Other(u8),
}

impl ErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            ErrorCode::NotCalibrated => 0x01,
            ErrorCode::AmbientLight => 0x02,
            ErrorCode::LowBattery => 0x03,
            ErrorCode::TileDeltaETooHigh => 0x04,
            ErrorCode::Timeout => 0x05,
            ErrorCode::Busy => 0x06,
            ErrorCode::UnknownCommand => 0x07,
            ErrorCode::MalformedRequest => 0x08,
            ErrorCode::NoReading => 0x09,
            ErrorCode::UnsupportedCondition => 0x0A,
            ErrorCode::Other(b) => b,
        }
    }

    fn from_byte(b: u8) -> Self {
        match b {
            0x01 => ErrorCode::NotCalibrated,
            0x02 => ErrorCode::AmbientLight,
            0x03 => ErrorCode::LowBattery,
            0x04 => ErrorCode::TileDeltaETooHigh,
            0x05 => ErrorCode::Timeout,
            0x06 => ErrorCode::Busy,
            0x07 => ErrorCode::UnknownCommand,
            0x08 => ErrorCode::MalformedRequest,
            0x09 => ErrorCode::NoReading,
            0x0A => ErrorCode::UnsupportedCondition,
            other => ErrorCode::Other(other),
        }
    }
}

/// Why a message could not be decoded (or encoded).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    #[error("message ends inside `{0}`")]
    Truncated(&'static str),
    #[error("{extra} unexpected bytes after the message")]
    TrailingBytes { extra: usize },
    #[error("`{field}` has the unknown value {value}")]
    BadValue { field: &'static str, value: u16 },
    #[error("`{0}` is not valid UTF-8")]
    BadText(&'static str),
    #[error("`{0}` is longer than {MAX_TEXT} bytes")]
    TextTooLong(&'static str),
    #[error("spectral value {index} is not a finite number")]
    NotFinite { index: usize },
    #[error(
        "the grid declares {declared} bands (1..={MAX_BANDS}) but the reading carries {carried}"
    )]
    BandCount { declared: u16, carried: usize },
}

fn condition_byte(c: IlluminationCondition) -> u8 {
    match c {
        IlluminationCondition::M0 => 0,
        IlluminationCondition::M1 => 1,
        IlluminationCondition::M2 => 2,
        IlluminationCondition::M3 => 3,
    }
}

fn condition_from(b: u8) -> Result<IlluminationCondition, DecodeError> {
    Ok(match b {
        0 => IlluminationCondition::M0,
        1 => IlluminationCondition::M1,
        2 => IlluminationCondition::M2,
        3 => IlluminationCondition::M3,
        v => {
            return Err(DecodeError::BadValue {
                field: "condition",
                value: v.into(),
            });
        }
    })
}

fn geometry_byte(g: Geometry) -> u8 {
    match g {
        Geometry::FortyFiveZero => 0,
        Geometry::ZeroFortyFive => 1,
        Geometry::DiffuseEight => 2,
        Geometry::EightDiffuse => 3,
    }
}

fn geometry_from(b: u8) -> Result<Geometry, DecodeError> {
    Ok(match b {
        0 => Geometry::FortyFiveZero,
        1 => Geometry::ZeroFortyFive,
        2 => Geometry::DiffuseEight,
        3 => Geometry::EightDiffuse,
        v => {
            return Err(DecodeError::BadValue {
                field: "geometry",
                value: v.into(),
            });
        }
    })
}

/// Little-endian writer.
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn text(&mut self, field: &'static str, s: &str) -> Result<(), DecodeError> {
        if s.len() > MAX_TEXT {
            return Err(DecodeError::TextTooLong(field));
        }
        self.u8(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn grid(&mut self, g: Grid) {
        self.u16(g.start_nm);
        self.u16(g.interval_nm);
        self.u16(g.bands);
    }
}

/// Little-endian reader that never reads past the end.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated(field))?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take(field)?))
    }
    fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        Ok(i16::from_le_bytes(self.take(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(field)?))
    }
    fn f32(&mut self, field: &'static str) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.take(field)?))
    }
    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = usize::from(self.u8(field)?);
        if len > MAX_TEXT {
            return Err(DecodeError::TextTooLong(field));
        }
        if self.0.len() < len {
            return Err(DecodeError::Truncated(field));
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::BadText(field))
    }
    fn grid(&mut self) -> Result<Grid, DecodeError> {
        Ok(Grid {
            start_nm: self.u16("grid.start_nm")?,
            interval_nm: self.u16("grid.interval_nm")?,
            bands: self.u16("grid.bands")?,
        })
    }
    fn finish(self) -> Result<(), DecodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                extra: self.0.len(),
            })
        }
    }
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Out(Vec::with_capacity(3));
        match *self {
            Request::GetInfo { id } => {
                out.u8(opcode::GET_INFO);
                out.u8(id);
            }
            Request::CalibrateWhite { id } => {
                out.u8(opcode::CALIBRATE_WHITE);
                out.u8(id);
            }
            Request::Measure { id, condition } => {
                out.u8(opcode::MEASURE);
                out.u8(id);
                out.u8(condition_byte(condition));
            }
            Request::Cancel { id } => {
                out.u8(opcode::CANCEL);
                out.u8(id);
            }
            Request::ResendLastReading { id } => {
                out.u8(opcode::RESEND_LAST_READING);
                out.u8(id);
            }
        }
        out.0
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = In(bytes);
        let op = r.0.first().copied().ok_or(DecodeError::Empty)?;
        r.0 = &r.0[1..];
        let id = r.u8("id")?;
        let request = match op {
            opcode::GET_INFO => Request::GetInfo { id },
            opcode::CALIBRATE_WHITE => Request::CalibrateWhite { id },
            opcode::MEASURE => Request::Measure {
                id,
                condition: condition_from(r.u8("condition")?)?,
            },
            opcode::CANCEL => Request::Cancel { id },
            opcode::RESEND_LAST_READING => Request::ResendLastReading { id },
            other => return Err(DecodeError::UnknownOpcode(other)),
        };
        r.finish()?;
        Ok(request)
    }
}

impl Response {
    /// The message bytes; fails only for text fields longer than [`MAX_TEXT`] or a band count
    /// that disagrees with the values (an instrument's own bug, refused rather than sent).
    pub fn encode(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Out(Vec::with_capacity(64));
        match self {
            Response::Info { id, info } => {
                out.u8(opcode::INFO);
                out.u8(*id);
                out.u8(info.profile_version);
                out.text("manufacturer", &info.manufacturer)?;
                out.text("model", &info.model)?;
                out.text("serial", &info.serial)?;
                out.text("firmware", &info.firmware)?;
                out.u8(geometry_byte(info.geometry));
                out.u16(info.aperture_tenth_mm);
                out.grid(info.grid);
                out.u8(info
                    .conditions
                    .iter()
                    .fold(0, |m, c| m | (1 << condition_byte(*c))));
                out.u32(info.seconds_since_calibration.unwrap_or(u32::MAX));
                out.u32(info.readings_since_calibration);
                out.i16(info.temperature_tenth_c);
                out.u8(info.battery_percent);
            }
            Response::Calibrated { id, calibration } => {
                out.u8(opcode::CALIBRATED);
                out.u8(*id);
                out.u16(calibration.tile_delta_e_hundredths);
                out.i16(calibration.temperature_tenth_c);
            }
            Response::Reading { id, reading } => {
                if usize::from(reading.grid.bands) != reading.values.len()
                    || reading.values.len() > MAX_BANDS
                {
                    return Err(DecodeError::BandCount {
                        declared: reading.grid.bands,
                        carried: reading.values.len(),
                    });
                }
                out.u8(opcode::READING);
                out.u8(*id);
                out.u32(reading.counter);
                out.u8(condition_byte(reading.condition));
                out.u8(geometry_byte(reading.geometry));
                out.u16(reading.aperture_tenth_mm);
                out.text("serial", &reading.serial)?;
                out.grid(reading.grid);
                for v in &reading.values {
                    out.0.extend_from_slice(&v.to_le_bytes());
                }
                out.i16(reading.temperature_tenth_c);
            }
            Response::Cancelled { id } => {
                out.u8(opcode::CANCELLED);
                out.u8(*id);
            }
            Response::Error { id, code } => {
                out.u8(opcode::ERROR);
                out.u8(*id);
                out.u8(code.to_byte());
            }
        }
        Ok(out.0)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = In(bytes);
        let op = r.0.first().copied().ok_or(DecodeError::Empty)?;
        r.0 = &r.0[1..];
        let id = r.u8("id")?;
        let response = match op {
            opcode::INFO => {
                let profile_version = r.u8("profile_version")?;
                let manufacturer = r.text("manufacturer")?;
                let model = r.text("model")?;
                let serial = r.text("serial")?;
                let firmware = r.text("firmware")?;
                let geometry = geometry_from(r.u8("geometry")?)?;
                let aperture_tenth_mm = r.u16("aperture")?;
                let grid = r.grid()?;
                let mask = r.u8("conditions")?;
                if mask & 0xF0 != 0 {
                    return Err(DecodeError::BadValue {
                        field: "conditions",
                        value: mask.into(),
                    });
                }
                let conditions = (0..4)
                    .filter(|bit| mask & (1 << bit) != 0)
                    .map(condition_from)
                    .collect::<Result<_, _>>()?;
                let seconds = r.u32("seconds_since_calibration")?;
                Response::Info {
                    id,
                    info: DeviceInfo {
                        profile_version,
                        manufacturer,
                        model,
                        serial,
                        firmware,
                        geometry,
                        aperture_tenth_mm,
                        grid,
                        conditions,
                        seconds_since_calibration: (seconds != u32::MAX).then_some(seconds),
                        readings_since_calibration: r.u32("readings_since_calibration")?,
                        temperature_tenth_c: r.i16("temperature")?,
                        battery_percent: r.u8("battery_percent")?,
                    },
                }
            }
            opcode::CALIBRATED => Response::Calibrated {
                id,
                calibration: Calibration {
                    tile_delta_e_hundredths: r.u16("tile_delta_e")?,
                    temperature_tenth_c: r.i16("temperature")?,
                },
            },
            opcode::READING => {
                let counter = r.u32("counter")?;
                let condition = condition_from(r.u8("condition")?)?;
                let geometry = geometry_from(r.u8("geometry")?)?;
                let aperture_tenth_mm = r.u16("aperture")?;
                let serial = r.text("serial")?;
                let grid = r.grid()?;
                let bands = usize::from(grid.bands);
                // The temperature follows the values: what is left must be exactly them.
                let carried = r.0.len().saturating_sub(2) / 4;
                if bands == 0 || bands > MAX_BANDS || r.0.len() != bands * 4 + 2 {
                    return Err(DecodeError::BandCount {
                        declared: grid.bands,
                        carried,
                    });
                }
                let mut values = Vec::with_capacity(bands);
                for index in 0..bands {
                    let v = r.f32("values")?;
                    if !v.is_finite() {
                        return Err(DecodeError::NotFinite { index });
                    }
                    values.push(v);
                }
                Response::Reading {
                    id,
                    reading: Reading {
                        counter,
                        condition,
                        geometry,
                        aperture_tenth_mm,
                        serial,
                        grid,
                        values,
                        temperature_tenth_c: r.i16("temperature")?,
                    },
                }
            }
            opcode::CANCELLED => Response::Cancelled { id },
            opcode::ERROR => Response::Error {
                id,
                code: ErrorCode::from_byte(r.u8("code")?),
            },
            other => return Err(DecodeError::UnknownOpcode(other)),
        };
        r.finish()?;
        Ok(response)
    }
}
