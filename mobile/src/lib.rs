//! uniffi bindings for the phone apps — thin wrappers, no logic: every method is a call into
//! `ecsp-client` (sign-in, consent, outbox) or `ecsp-measure` (the guided session), run on
//! tokio. The host supplies its keystore ([`HostSecrets`]), its position ([`LocationSource`])
//! and, optionally, its own Bluetooth stack ([`HostInstrumentLink`]); errors carry one closed
//! enum of the core's codes ([`FieldErrorCode`]) so a front end matches on them.
//!
//! The instrument is the simulated spectrometer ([`Simulator`]) or the host's link; the
//! btleplug link (`ecsp-instrument-ble`) is for desktops and is not linked here, since phones
//! have their own Bluetooth stacks.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ecsp_client::secrets::{HostKeystore, HostSecretStore};
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, EcspClient, EcspError, ErrorCode};
use ecsp_instrument_link::driver::{DriverConfig, Instrument};
use ecsp_instrument_link::sim::{SimConfig, SimulatedSpectrometer, Timing};
use ecsp_measure::calibration::CalibrationPolicy;
use ecsp_measure::session::MeasuredPatch;
use ecsp_measure::store::SessionStore;
use ecsp_measure::{MeasureError, MeasureErrorCode, MeasurementSession};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::measurement::GpsFix;
use tokio::sync::Mutex;
use uuid::Uuid;

uniffi::setup_scaffolding!();

mod delivery;
mod host_link;
mod screens;
#[cfg(feature = "test-server")]
mod test_server;

pub use delivery::*;
pub use host_link::{HostInstrumentLink, NotificationSink};
pub use screens::*;

/// What went wrong, to match on: the client core's codes and the session's, one closed set
/// (mapped exhaustively below, so a new core code cannot be forgotten here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FieldErrorCode {
    // From the client core (`ecsp_client::ErrorCode`).
    Configuration,
    TlsUntrusted,
    TlsFailed,
    Offline,
    NotSignedIn,
    SignInRefused,
    RateLimited,
    NotFound,
    Forbidden,
    Rejected,
    InvalidInput,
    ServerError,
    KeyringUnavailable,
    LocalStorage,
    // From the measurement session (`ecsp_measure::MeasureErrorCode`).
    CalibrationDue,
    InstrumentRefused,
    InstrumentUnreachable,
    InstrumentProtocol,
    Chart,
    Incomplete,
    Photo,
    NotAllowed,
    /// A host callback (keystore, location, Bluetooth link) failed unexpectedly.
    HostCallback,
}

impl From<ErrorCode> for FieldErrorCode {
    fn from(c: ErrorCode) -> Self {
        match c {
            ErrorCode::Configuration => Self::Configuration,
            ErrorCode::TlsUntrusted => Self::TlsUntrusted,
            ErrorCode::TlsFailed => Self::TlsFailed,
            ErrorCode::Offline => Self::Offline,
            ErrorCode::NotSignedIn => Self::NotSignedIn,
            ErrorCode::SignInRefused => Self::SignInRefused,
            ErrorCode::RateLimited => Self::RateLimited,
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::Forbidden => Self::Forbidden,
            ErrorCode::Rejected => Self::Rejected,
            ErrorCode::InvalidInput => Self::InvalidInput,
            ErrorCode::ServerError => Self::ServerError,
            ErrorCode::KeyringUnavailable => Self::KeyringUnavailable,
            ErrorCode::LocalStorage => Self::LocalStorage,
        }
    }
}

/// Every failure, with a `code` to match on and a `reason` for people. (Not `message`: that
/// name collides with `Throwable.message` in the Kotlin bindings.)
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FieldError {
    #[error("{code:?}: {reason}")]
    Failed {
        code: FieldErrorCode,
        reason: String,
    },
}

impl FieldError {
    fn new(code: FieldErrorCode, message: impl Into<String>) -> Self {
        FieldError::Failed {
            code,
            reason: message.into(),
        }
    }
}

impl From<EcspError> for FieldError {
    fn from(e: EcspError) -> Self {
        Self::new(e.code.into(), e.message)
    }
}

impl From<MeasureError> for FieldError {
    fn from(e: MeasureError) -> Self {
        let code = match &e {
            MeasureError::Client(inner) => inner.code.into(),
            other => match other.code() {
                MeasureErrorCode::CalibrationDue => FieldErrorCode::CalibrationDue,
                MeasureErrorCode::InstrumentRefused => FieldErrorCode::InstrumentRefused,
                MeasureErrorCode::InstrumentUnreachable => FieldErrorCode::InstrumentUnreachable,
                MeasureErrorCode::InstrumentProtocol => FieldErrorCode::InstrumentProtocol,
                MeasureErrorCode::Chart => FieldErrorCode::Chart,
                MeasureErrorCode::NotFound => FieldErrorCode::NotFound,
                MeasureErrorCode::Incomplete => FieldErrorCode::Incomplete,
                MeasureErrorCode::LocalStorage => FieldErrorCode::LocalStorage,
                MeasureErrorCode::Client => FieldErrorCode::ServerError,
                MeasureErrorCode::Photo => FieldErrorCode::Photo,
                MeasureErrorCode::NotAllowed => FieldErrorCode::NotAllowed,
            },
        };
        Self::new(code, e.to_string())
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for FieldError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::new(FieldErrorCode::HostCallback, e.reason)
    }
}

/// The host's keystore (Android Keystore-backed storage, the iOS Keychain).
#[uniffi::export(with_foreign)]
pub trait HostSecrets: Send + Sync {
    fn load(&self, key: String) -> Result<Option<String>, FieldError>;
    fn save(&self, key: String, value: String) -> Result<(), FieldError>;
    fn remove(&self, key: String) -> Result<(), FieldError>;
}

/// Adapts the foreign keystore to the core's trait (errors become text without the secret).
struct Keystore(Arc<dyn HostSecrets>);

impl HostKeystore for Keystore {
    fn load(&self, key: String) -> Result<Option<String>, String> {
        self.0.load(key).map_err(|e| e.to_string())
    }
    fn save(&self, key: String, value: String) -> Result<(), String> {
        self.0.save(key, value).map_err(|e| e.to_string())
    }
    fn remove(&self, key: String) -> Result<(), String> {
        self.0.remove(key).map_err(|e| e.to_string())
    }
}

/// A position, as the host's location service gives it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    /// Seconds since the Unix epoch.
    pub fixed_at_unix: i64,
}

/// The host's location service; asked only when the user granted `gps`.
#[uniffi::export(with_foreign)]
pub trait LocationSource: Send + Sync {
    fn current_position(&self) -> Option<Position>;
}

struct Location(Arc<dyn LocationSource>);

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Location")
    }
}

impl ecsp_measure::LocationProvider for Location {
    fn current_fix(&self) -> Option<GpsFix> {
        let p = self.0.current_position()?;
        Some(GpsFix {
            latitude: p.latitude,
            longitude: p.longitude,
            accuracy_m: p.accuracy_m,
            altitude_m: p.altitude_m,
            fixed_at: DateTime::<Utc>::from_timestamp(p.fixed_at_unix, 0)?,
        })
    }
}

fn purpose(name: &str) -> Result<Purpose, FieldError> {
    match name {
        "job_info" => Ok(Purpose::JobInfo),
        "gps" => Ok(Purpose::Gps),
        "photos" => Ok(Purpose::Photos),
        other => Err(FieldError::new(
            FieldErrorCode::InvalidInput,
            format!("unknown consent purpose `{other}` (job_info, gps, photos)"),
        )),
    }
}

fn uuid(s: &str) -> Result<Uuid, FieldError> {
    s.parse()
        .map_err(|_| FieldError::new(FieldErrorCode::InvalidInput, format!("`{s}` is not an id")))
}

/// The client core: one server, one local database, the host's keystore.
#[derive(Debug, uniffi::Object)]
pub struct FieldClient {
    inner: EcspClient,
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldClient {
    #[uniffi::constructor]
    pub fn new(
        server: String,
        ca_pem: Option<String>,
        data_dir: String,
        secrets: Arc<dyn HostSecrets>,
    ) -> Result<Arc<Self>, FieldError> {
        let config = ClientConfig {
            server,
            ca_pem: ca_pem.map(String::into_bytes),
            data_dir: PathBuf::from(data_dir),
            ..ClientConfig::default()
        };
        let store = Arc::new(HostSecretStore(Arc::new(Keystore(secrets))));
        Ok(Arc::new(Self {
            inner: EcspClient::open(&config, store)?,
        }))
    }

    pub async fn login(&self, email: String, password: String) -> Result<(), FieldError> {
        self.inner.login(&email, &password).await?;
        Ok(())
    }

    pub async fn logout(&self) -> Result<(), FieldError> {
        self.inner.logout().await?;
        Ok(())
    }

    /// The printers the user may upload for.
    pub async fn device_ids(&self) -> Result<Vec<String>, FieldError> {
        Ok(self
            .inner
            .devices()
            .await?
            .into_iter()
            .map(|d| d.device_id.to_string())
            .collect())
    }

    pub async fn grant(&self, purpose_name: String) -> Result<(), FieldError> {
        self.inner.grant(purpose(&purpose_name)?).await?;
        Ok(())
    }

    pub async fn refuse(&self, purpose_name: String) -> Result<(), FieldError> {
        self.inner.refuse(purpose(&purpose_name)?).await?;
        Ok(())
    }

    pub async fn withdraw(&self, purpose_name: String) -> Result<(), FieldError> {
        self.inner.withdraw(purpose(&purpose_name)?).await?;
        Ok(())
    }

    /// Sends what waits in the outbox; returns how many records and decisions went.
    pub async fn flush(&self) -> Result<u64, FieldError> {
        let report = self.inner.flush(FlushOptions::default()).await?;
        match report.stopped {
            Some(e) => Err(e.into()),
            None => Ok(report.sent),
        }
    }

    /// A record as the server holds it, as JSON.
    pub async fn record_json(&self, record_id: String) -> Result<String, FieldError> {
        let view = self.inner.record(uuid(&record_id)?).await?;
        serde_json::to_string(&view.record)
            .map_err(|e| FieldError::new(FieldErrorCode::ServerError, e.to_string()))
    }
}

/// The simulated spectrometer (for demos and tests).
#[derive(Debug, uniffi::Object)]
pub struct Simulator {
    inner: SimulatedSpectrometer,
}

#[uniffi::export]
impl Simulator {
    /// `instant`: no instrument timing; otherwise that of a handheld instrument.
    #[uniffi::constructor]
    pub fn new(serial: String, instant: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: SimulatedSpectrometer::new(SimConfig {
                serial,
                timing: if instant {
                    Timing::instant()
                } else {
                    Timing::realistic()
                },
                grid: ecsp_instrument::message::Grid {
                    start_nm: 380,
                    interval_nm: 10,
                    bands: 36,
                },
                ..SimConfig::default()
            }),
        })
    }

    /// Places one sample under the aperture (reflectance, 380–730 nm at 10 nm).
    pub fn place_on(&self, reflectance: Vec<f32>) {
        self.inner.place_on(reflectance);
    }

    /// The next readings walk these samples in turn.
    pub fn walk(&self, samples: Vec<Vec<f32>>) {
        self.inner.walk_chart(samples);
    }

    /// The next readings walk the spectra of a chart file (CGATS or CxF, 380–730 nm at 10 nm).
    pub fn walk_chart_file(&self, path: String) -> Result<(), FieldError> {
        let bytes = std::fs::read(&path)
            .map_err(|e| FieldError::new(FieldErrorCode::InvalidInput, format!("{path}: {e}")))?;
        let (_, samples) = ecsp_instrument_link::sim::chart_samples(&bytes)
            .map_err(|e| FieldError::new(FieldErrorCode::InvalidInput, format!("{path}: {e}")))?;
        self.inner.walk_chart(samples);
        Ok(())
    }
}

/// Where a session stands.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionState {
    pub total: u32,
    pub measured: u32,
    pub next_patch: Option<u32>,
    pub flagged: Vec<u32>,
    /// Why a calibration is due, in words; `None` when it is not.
    pub calibration_due: Option<String>,
    /// The same, as a code with its figures, for the host to say in its own words.
    pub calibration_reason: Option<CalibrationReason>,
}

/// Why the instrument must be calibrated before the next reading.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CalibrationReason {
    /// Not calibrated since it was switched on.
    Never,
    /// The last calibration is too old.
    Age {
        age_minutes: u32,
        limit_minutes: u32,
    },
    /// The optics' temperature moved too far since (tenths of a degree Celsius).
    Temperature {
        change_tenth_c: u32,
        limit_tenth_c: u32,
    },
    /// Too many readings since.
    Readings { readings: u32, limit: u32 },
}

impl From<ecsp_measure::calibration::CalibrationDue> for CalibrationReason {
    fn from(d: ecsp_measure::calibration::CalibrationDue) -> Self {
        use ecsp_measure::calibration::CalibrationDue as D;
        match d {
            D::Never => Self::Never,
            D::Age { age_secs, max_secs } => Self::Age {
                age_minutes: (age_secs / 60) as u32,
                limit_minutes: (max_secs / 60) as u32,
            },
            D::Temperature {
                change_tenth_c,
                max_tenth_c,
            } => Self::Temperature {
                change_tenth_c: u32::from(change_tenth_c),
                limit_tenth_c: u32::from(max_tenth_c),
            },
            D::Readings { readings, max } => Self::Readings {
                readings,
                limit: max,
            },
        }
    }
}

/// The instrument, as a session screen shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct InstrumentStatus {
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub firmware: String,
    pub battery_percent: u8,
    /// Optics temperature, tenths of a degree Celsius.
    pub temperature_tenth_c: i16,
    /// Seconds since its last white calibration; `None` when not calibrated since power-on.
    pub seconds_since_calibration: Option<u32>,
    pub readings_since_calibration: u32,
}

/// A stored reading.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PatchReading {
    pub index: u32,
    pub patch_id: String,
    pub l: f64,
    pub a: f64,
    pub b: f64,
    /// ΔE00 from what the chart says this patch should read.
    pub delta_e: f64,
    /// The chart's reference CIELAB for the patch (D50, 2°).
    pub expected_l: f64,
    pub expected_a: f64,
    pub expected_b: f64,
    /// The neighbouring patch this reading matches better, if any (wrong patch measured), and
    /// its ΔE00.
    pub better_match: Option<u32>,
    pub better_match_delta_e: Option<f64>,
}

impl PatchReading {
    fn of(m: MeasuredPatch, chart: &ecsp_measure::chart::Chart) -> Self {
        let expected = chart.patches.get(m.index).map(|p| p.expected);
        Self {
            index: m.index as u32,
            patch_id: m.patch_id,
            l: m.lab.l,
            a: m.lab.a,
            b: m.lab.b,
            delta_e: m.check.delta_e,
            expected_l: expected.map_or(f64::NAN, |e| e.l),
            expected_a: expected.map_or(f64::NAN, |e| e.a),
            expected_b: expected.map_or(f64::NAN, |e| e.b),
            better_match: m.check.better_match.map(|(i, _)| i as u32),
            better_match_delta_e: m.check.better_match.map(|(_, d)| d),
        }
    }
}

/// A guided measurement session.
#[derive(Debug, uniffi::Object)]
pub struct FieldSession {
    inner: Mutex<MeasurementSession>,
}

/// Starts a session on a reference chart file (CGATS or CxF), stored in `database`, with the
/// simulated spectrometer.
#[uniffi::export(async_runtime = "tokio")]
pub async fn start_session(
    simulator: Arc<Simulator>,
    chart_path: String,
    device_id: String,
    condition: String,
    database: String,
) -> Result<Arc<FieldSession>, FieldError> {
    let link = Arc::new(simulator.inner.clone());
    open_session(link, chart_path, device_id, condition, database).await
}

/// Starts a session like [`start_session`], with the instrument reached through the host's own
/// Bluetooth stack.
#[uniffi::export(async_runtime = "tokio")]
pub async fn start_session_on_host_link(
    link: Arc<dyn HostInstrumentLink>,
    chart_path: String,
    device_id: String,
    condition: String,
    database: String,
) -> Result<Arc<FieldSession>, FieldError> {
    let link = Arc::new(host_link::HostLink(link));
    open_session(link, chart_path, device_id, condition, database).await
}

async fn open_session(
    link: Arc<dyn ecsp_instrument_link::InstrumentLink>,
    chart_path: String,
    device_id: String,
    condition: String,
    database: String,
) -> Result<Arc<FieldSession>, FieldError> {
    let chart = std::fs::read(&chart_path)
        .map_err(|e| FieldError::new(FieldErrorCode::InvalidInput, format!("{chart_path}: {e}")))?;
    let condition = ecsp_protocol::colour_model::IlluminationCondition::parse(&condition)
        .ok_or_else(|| {
            FieldError::new(
                FieldErrorCode::InvalidInput,
                "condition must be M0, M1 or M2",
            )
        })?;
    let plan = ecsp_measure::SessionPlan {
        device_id: uuid(&device_id)?,
        software: ecsp_protocol::common::SoftwareVersion {
            name: "ECSP Field".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            vendor: None,
        },
        settings: ecsp_protocol::measurement::MeasurementSettings {
            paper: "unspecified".into(),
            printing_condition: "unspecified".into(),
            print_mode: None,
        },
        condition,
    };
    let store = SessionStore::open(&PathBuf::from(database))?;
    let instrument = Arc::new(Instrument::new(link, DriverConfig::default()));
    let session =
        MeasurementSession::start(store, instrument, plan, chart, CalibrationPolicy::default())
            .await?;
    Ok(Arc::new(FieldSession {
        inner: Mutex::new(session),
    }))
}

/// A photo attached to a session.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AttachedPhoto {
    pub index: u32,
    pub media_type: String,
    /// True when the photo carried a location and it was removed (no `gps` consent).
    pub location_removed: bool,
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldSession {
    pub async fn state(&self) -> Result<SessionState, FieldError> {
        let s = self.inner.lock().await.status().await?;
        Ok(SessionState {
            total: s.total as u32,
            measured: s.measured as u32,
            next_patch: s.next_patch.map(|i| i as u32),
            flagged: s.flagged.into_iter().map(|i| i as u32).collect(),
            calibration_due: s.calibration_due.map(|d| d.to_string()),
            calibration_reason: s.calibration_due.map(Into::into),
        })
    }

    /// The instrument's identity and state now (its battery, temperature, calibration age).
    pub async fn instrument(&self) -> Result<InstrumentStatus, FieldError> {
        let info = self.inner.lock().await.instrument_info().await?;
        Ok(InstrumentStatus {
            manufacturer: info.manufacturer,
            model: info.model,
            serial: info.serial,
            firmware: info.firmware,
            battery_percent: info.battery_percent,
            temperature_tenth_c: info.temperature_tenth_c,
            seconds_since_calibration: info.seconds_since_calibration,
            readings_since_calibration: info.readings_since_calibration,
        })
    }

    pub async fn calibrate(&self) -> Result<(), FieldError> {
        self.inner.lock().await.calibrate().await?;
        Ok(())
    }

    pub async fn measure_next(&self) -> Result<PatchReading, FieldError> {
        let mut session = self.inner.lock().await;
        let reading = session.measure_next().await?;
        Ok(PatchReading::of(reading, session.chart()))
    }

    pub async fn measure_patch(&self, index: u32) -> Result<PatchReading, FieldError> {
        let mut session = self.inner.lock().await;
        let reading = session.measure_patch(index as usize).await?;
        Ok(PatchReading::of(reading, session.chart()))
    }

    /// Attaches a photo (JPEG, PNG or WebP; at most 4 of 4 MiB each). Needs `photos` consent;
    /// without `gps` consent its location is removed before it is stored.
    pub async fn attach_photo(
        &self,
        client: Arc<FieldClient>,
        image: Vec<u8>,
        caption: Option<String>,
    ) -> Result<AttachedPhoto, FieldError> {
        let attached = self
            .inner
            .lock()
            .await
            .attach_photo(&client.inner, image, caption)
            .await?;
        Ok(AttachedPhoto {
            index: attached.index as u32,
            media_type: attached.media_type.to_owned(),
            location_removed: attached.location_removed,
        })
    }

    /// Uploads the finished session; returns the record id.
    pub async fn upload(
        &self,
        client: Arc<FieldClient>,
        location: Option<Arc<dyn LocationSource>>,
    ) -> Result<String, FieldError> {
        let location = location.map(Location);
        let provider = location
            .as_ref()
            .map(|l| l as &dyn ecsp_measure::LocationProvider);
        let captured = self
            .inner
            .lock()
            .await
            .upload(&client.inner, provider)
            .await?;
        Ok(captured.record_id.to_string())
    }
}
