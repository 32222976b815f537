//! What the mobile application uploads after a spectrometer measurement: the *Spectrometer*
//! category of the ECSP data appendix. GPS and photos only if the user allows.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::colour_model::{Backing, Geometry, Illuminant, IlluminationCondition, Observer};
use crate::common::{CodeEvent, OperatingEnvironment, SoftwareVersion};
use crate::limits::{
    LIST_ENTRIES, PHOTO_BYTES, PHOTOS_PER_MEASUREMENT, RECORDS_PER_UPLOAD, SAMPLES_PER_MEASUREMENT,
    SHORT_TEXT, SPECTRAL_BANDS,
};
use crate::{Validate, Validator};

/// `POST /api/v1/uploads/measurements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasurementUpload {
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1))]
    pub schema_version: u32,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub records: Vec<MeasurementRecord>,
}

/// One measurement session: a set of colour samples read from one print of one printer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasurementRecord {
    pub record_id: Uuid,
    pub captured_at: DateTime<Utc>,
    /// The printer (as registered on the server) whose output was measured.
    pub device_id: Uuid,
    /// The spectrometer's software (firmware/driver) and its version.
    pub software: SoftwareVersion,
    /// The phone or tablet the mobile application runs on.
    pub environment: OperatingEnvironment,
    pub instrument: InstrumentAttributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<InstrumentMaintenance>,
    pub settings: MeasurementSettings,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 2000))]
    pub samples: Vec<ColorSample>,
    /// Consent-gated (`gps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<GpsFix>,
    /// Consent-gated (`photos`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 4))]
    pub photos: Vec<Photo>,
}

/// The spectrometer's attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstrumentAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
    )]
    pub manufacturer: Option<String>,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub model: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub serial_number: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub firmware_version: String,
}

/// The spectrometer's maintenance state when it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstrumentMaintenance {
    /// e.g. `ready`, `needs_calibration`, `battery_low`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub status: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub errors: Vec<CodeEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_calibrated_at: Option<DateTime<Utc>>,
}

/// What was measured: the paper and the printing condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasurementSettings {
    /// Paper (substrate) name.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub paper: String,
    /// Printing condition, e.g. `FOGRA51` or a house condition name.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub printing_condition: String,
    /// Print mode or quality setting used on the printer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
    )]
    pub print_mode: Option<String>,
}

/// One measured patch: a spectrum, a CIELAB value, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ColorSample {
    /// Patch name or id, e.g. `A1` or `Cyan 100`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub patch: String,
    pub condition: MeasurementCondition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectrum: Option<Spectrum>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<Lab>,
}

/// The conditions a reading was taken under; readings under different ones are not comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MeasurementCondition {
    pub illumination: IlluminationCondition,
    pub geometry: Geometry,
    /// Whether the instrument corrected its spectral bandpass (ASTM E2729).
    pub bandpass_corrected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aperture_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing: Option<Backing>,
}

/// Spectral reflectance factors on a regular wavelength grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Spectrum {
    /// First wavelength in nanometres.
    pub start_nm: u16,
    /// Grid step in nanometres (1, 2, 5, 10 or 20).
    pub interval_nm: u16,
    /// Reflectance factors (1.0 = perfect diffuser), one per band from `start_nm`.
    pub values: Vec<f64>,
}

impl Spectrum {
    /// The last wavelength of the grid.
    pub fn end_nm(&self) -> u32 {
        u32::from(self.start_nm)
            + u32::from(self.interval_nm) * (self.values.len().saturating_sub(1) as u32)
    }
}

/// A CIELAB value with the illuminant and observer it was computed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Lab {
    #[serde(rename = "L")]
    pub l: f64,
    pub a: f64,
    pub b: f64,
    pub illuminant: Illuminant,
    /// `2` (CIE 1931) or `10` (CIE 1964).
    #[cfg_attr(feature = "openapi", schema(value_type = u8))]
    pub observer: Observer,
}

/// Where the measurement was taken. Consent-gated (`gps`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GpsFix {
    /// WGS 84 degrees, -90 to 90.
    pub latitude: f64,
    /// WGS 84 degrees, -180 to 180.
    pub longitude: f64,
    /// Horizontal accuracy radius in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
    pub fixed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PhotoMediaType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
}

/// A picture attached to a measurement. Consent-gated (`photos`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Photo {
    pub media_type: PhotoMediaType,
    /// The image file, standard base64 with padding; at most 4 MiB decoded.
    pub data_base64: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$")
    )]
    pub caption: Option<String>,
}

impl Photo {
    /// The decoded image bytes, if `data_base64` is valid base64.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.data_base64)
    }
}

impl Validate for MeasurementUpload {
    fn validate_into(&self, v: &mut Validator) {
        crate::upload::check_schema_version(v, self.schema_version);
        v.each("records", &self.records, 1, RECORDS_PER_UPLOAD);
        crate::upload::unique_record_ids(v, self.records.iter().map(|r| r.record_id));
    }
}

impl Validate for MeasurementRecord {
    fn validate_into(&self, v: &mut Validator) {
        v.past_time("captured_at", self.captured_at);
        v.nested("software", |v| self.software.validate_into(v));
        v.nested("environment", |v| self.environment.validate_into(v));
        v.nested("instrument", |v| self.instrument.validate_into(v));
        if let Some(m) = &self.maintenance {
            v.nested("maintenance", |v| m.validate_into(v));
        }
        v.nested("settings", |v| self.settings.validate_into(v));
        v.each("samples", &self.samples, 1, SAMPLES_PER_MEASUREMENT);
        if let Some(gps) = &self.gps {
            v.nested("gps", |v| gps.validate_into(v));
        }
        v.each("photos", &self.photos, 0, PHOTOS_PER_MEASUREMENT);
    }
}

impl Validate for InstrumentAttributes {
    fn validate_into(&self, v: &mut Validator) {
        v.opt_text("manufacturer", self.manufacturer.as_deref(), SHORT_TEXT);
        v.text("model", &self.model, SHORT_TEXT);
        v.text("serial_number", &self.serial_number, 64);
        v.text("firmware_version", &self.firmware_version, SHORT_TEXT);
    }
}

impl Validate for InstrumentMaintenance {
    fn validate_into(&self, v: &mut Validator) {
        v.text("status", &self.status, 64);
        v.each("errors", &self.errors, 0, LIST_ENTRIES);
        if let Some(t) = self.last_calibrated_at {
            v.past_time("last_calibrated_at", t);
        }
    }
}

impl Validate for MeasurementSettings {
    fn validate_into(&self, v: &mut Validator) {
        v.text("paper", &self.paper, SHORT_TEXT);
        v.text("printing_condition", &self.printing_condition, SHORT_TEXT);
        v.opt_text("print_mode", self.print_mode.as_deref(), SHORT_TEXT);
    }
}

impl Validate for ColorSample {
    fn validate_into(&self, v: &mut Validator) {
        v.text("patch", &self.patch, 64);
        v.nested("condition", |v| self.condition.validate_into(v));
        if self.spectrum.is_none() && self.lab.is_none() {
            v.error("", "a sample needs a `spectrum`, a `lab` value, or both");
        }
        if let Some(s) = &self.spectrum {
            v.nested("spectrum", |v| s.validate_into(v));
        }
        if let Some(lab) = &self.lab {
            v.nested("lab", |v| lab.validate_into(v));
        }
    }
}

impl Validate for MeasurementCondition {
    fn validate_into(&self, v: &mut Validator) {
        if let Some(a) = self.aperture_mm {
            v.range("aperture_mm", a, 0.1, 50.0);
        }
    }
}

impl Validate for Spectrum {
    fn validate_into(&self, v: &mut Validator) {
        if !(300..=830).contains(&self.start_nm) {
            v.error("start_nm", "must be between 300 and 830 nm");
        }
        if ![1, 2, 5, 10, 20].contains(&self.interval_nm) {
            v.error("interval_nm", "must be 1, 2, 5, 10 or 20 nm");
            return;
        }
        if self.values.len() < 3 {
            v.error("values", "must hold at least 3 bands");
        } else if self.values.len() > SPECTRAL_BANDS {
            v.error(
                "values",
                format!("must hold at most {SPECTRAL_BANDS} bands"),
            );
        } else if self.end_nm() > 830 {
            v.error(
                "values",
                format!("the grid ends at {} nm, past 830 nm", self.end_nm()),
            );
        }
        for (i, r) in self.values.iter().enumerate() {
            if !r.is_finite() {
                v.error(&format!("values[{i}]"), "must be a finite number");
            } else if *r < 0.0 {
                v.error(
                    &format!("values[{i}]"),
                    "a reflectance factor must not be negative",
                );
            } else if *r > 2.0 {
                v.error(
                    &format!("values[{i}]"),
                    "a reflectance factor above 2.0 is not a plausible reading",
                );
            }
        }
    }
}

impl Validate for Lab {
    fn validate_into(&self, v: &mut Validator) {
        v.range("L", self.l, 0.0, 100.0 + 1e-9);
        v.range("a", self.a, -200.0, 200.0);
        v.range("b", self.b, -200.0, 200.0);
    }
}

impl Validate for GpsFix {
    fn validate_into(&self, v: &mut Validator) {
        v.range("latitude", self.latitude, -90.0, 90.0);
        v.range("longitude", self.longitude, -180.0, 180.0);
        if let Some(a) = self.accuracy_m {
            v.range("accuracy_m", a, 0.0, 100_000.0);
        }
        if let Some(a) = self.altitude_m {
            v.range("altitude_m", a, -1_000.0, 20_000.0);
        }
        v.past_time("fixed_at", self.fixed_at);
    }
}

impl Validate for Photo {
    fn validate_into(&self, v: &mut Validator) {
        v.opt_text("caption", self.caption.as_deref(), SHORT_TEXT);
        // Cheap bound before decoding: base64 is 4 characters per 3 bytes.
        if self.data_base64.len() > PHOTO_BYTES / 3 * 4 + 4 {
            v.error(
                "data_base64",
                format!("a photo must be at most {PHOTO_BYTES} bytes"),
            );
            return;
        }
        match self.decode() {
            Err(e) => v.error("data_base64", format!("is not valid base64: {e}")),
            Ok(bytes) => {
                let ok = match self.media_type {
                    PhotoMediaType::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
                    PhotoMediaType::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
                    PhotoMediaType::Webp => {
                        bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
                    }
                };
                if !ok {
                    v.error(
                        "data_base64",
                        "the image content does not match `media_type`",
                    );
                }
            }
        }
    }
}
