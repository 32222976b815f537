//! Capturing a record: fixing its UUID and capture time, leaving out every consent-gated part the
//! user has not granted (it is not even written down), validating it, and writing it to the
//! outbox in one transaction.

use chrono::{DateTime, SubsecRound as _, Utc};
use ecsp_protocol::Validate;
use ecsp_protocol::common::{CodeEvent, OperatingEnvironment, Settings, SoftwareVersion};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::dfe::{
    DeviceStatusRecord, DeviceStatusUpload, DfeRecord, DfeUpload, JobInformation, PrintSettings,
};
use ecsp_protocol::measurement::{
    ColorSample, GpsFix, InstrumentAttributes, InstrumentMaintenance, MeasurementRecord,
    MeasurementSettings, MeasurementUpload, Photo,
};
use ecsp_protocol::upload::UserRecord;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ClientError, EcspResult, Result};
use crate::outbox::{self, NewEntry, OutboxKind};
use crate::{Core, EcspClient};

/// A DFE's state as the PC application read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DfeCapture {
    pub device_id: Uuid,
    pub software: SoftwareVersion,
    /// Leave out to describe the machine this runs on.
    #[serde(default)]
    pub environment: Option<OperatingEnvironment>,
    pub print_settings: PrintSettings,
    /// Kept only if the user granted `job_info`.
    #[serde(default)]
    pub job: Option<JobInformation>,
}

/// A device's state as the PC application read it from its DFE (a device down or stopped, its
/// errors and counters, no job): uploaded as device data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDataCapture {
    pub device_id: Uuid,
    /// The DFE software that reported the state.
    pub software: SoftwareVersion,
    /// When the device was in this state, as the DFE said (else now); the record's capture time.
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
    /// e.g. `down`, `stopped`.
    pub printer_status: String,
    /// Errors and warnings active then.
    #[serde(default)]
    pub error_codes: Vec<CodeEvent>,
    /// Other events the device reported.
    #[serde(default)]
    pub status_history: Vec<CodeEvent>,
    /// Counters and the device's identity as the DFE names them.
    #[serde(default)]
    pub values: Option<Settings>,
}

/// A spectrometer measurement as the mobile application read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementCapture {
    pub device_id: Uuid,
    pub software: SoftwareVersion,
    #[serde(default)]
    pub environment: Option<OperatingEnvironment>,
    pub instrument: InstrumentAttributes,
    #[serde(default)]
    pub maintenance: Option<InstrumentMaintenance>,
    pub settings: MeasurementSettings,
    pub samples: Vec<ColorSample>,
    /// Kept only if the user granted `gps`.
    #[serde(default)]
    pub gps: Option<GpsFix>,
    /// Kept only if the user granted `photos`.
    #[serde(default)]
    pub photos: Vec<Photo>,
    /// The record's id, when the caller fixed it beforehand (else a new UUIDv7). Capturing a
    /// record id that is already in the outbox adds nothing and answers what the first capture
    /// did, whatever this capture's content: a caller that may have died between capturing and
    /// noting it (the measurement session) captures again under the same id, and the server
    /// never gets two records, nor one it would refuse as a conflict.
    #[serde(default)]
    pub record_id: Option<Uuid>,
    /// The capture time, when the caller fixed it with `record_id` (else now). Kept to the
    /// millisecond, as the outbox keeps it. GPS and photos are then kept only if the user's
    /// consent was in force at that time too, as the server judges them by it.
    #[serde(default)]
    pub captured_at: Option<DateTime<Utc>>,
}

/// What capture did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Captured {
    pub record_id: Uuid,
    pub captured_at: DateTime<Utc>,
    /// Parts left out for lack of consent.
    pub withheld: Vec<Purpose>,
}

/// The operating environment of this machine, for records that do not say.
pub fn this_environment() -> OperatingEnvironment {
    let os_name = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        "android" => "Android",
        "ios" => "iOS",
        other => other,
    };
    let os_version = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    OperatingEnvironment {
        os_name: os_name.into(),
        os_version,
        architecture: Some(std::env::consts::ARCH.into()),
        app_version: env!("CARGO_PKG_VERSION").into(),
        device_model: None,
        locale: None,
    }
}

/// Validation errors of a single record, with paths relative to the record.
fn strip_record_prefix(e: ecsp_protocol::ValidationErrors) -> ClientError {
    let errors =
        e.0.into_iter()
            .map(|mut f| {
                f.field = f
                    .field
                    .strip_prefix("records[0].")
                    .unwrap_or(&f.field)
                    .to_owned();
                f
            })
            .collect();
    ClientError::Invalid(ecsp_protocol::ValidationErrors(errors))
}

/// A validated record ready for the outbox, its gated parts taken out of it.
struct Prepared {
    kind: OutboxKind,
    record_id: Uuid,
    device_id: Uuid,
    captured_at: DateTime<Utc>,
    body: String,
    gated: Vec<(Purpose, serde_json::Value)>,
    withheld: Vec<Purpose>,
}

impl Prepared {
    fn new(
        kind: OutboxKind,
        record: &impl UserRecord,
        gated: Vec<(Purpose, serde_json::Value)>,
        withheld: Vec<Purpose>,
    ) -> Result<Self> {
        Ok(Self {
            kind,
            record_id: record.record_id(),
            device_id: record.device_id(),
            captured_at: record.captured_at(),
            body: serde_json::to_string(record).map_err(|e| ClientError::Corrupt(e.to_string()))?,
            gated,
            withheld,
        })
    }
}

impl Core {
    fn prepare_dfe(&self, user: Uuid, input: DfeCapture) -> Result<Prepared> {
        let mut withheld = Vec::new();
        let mut gated = Vec::new();
        let mut record = DfeRecord {
            // Time-ordered (UUIDv7): the server's idempotency index then grows at its end instead
            // of taking a random page per record. The time it carries is `captured_at`'s.
            record_id: Uuid::now_v7(),
            captured_at: Utc::now(),
            device_id: input.device_id,
            software: input.software,
            environment: input
                .environment
                .unwrap_or_else(|| self.environment.clone()),
            print_settings: input.print_settings,
            job: input.job,
        };
        if record.job.is_some() && !self.is_granted(user, Purpose::JobInfo)? {
            record.job = None;
            withheld.push(Purpose::JobInfo);
        }
        DfeUpload {
            schema_version: ecsp_protocol::PROTOCOL_VERSION,
            records: vec![record.clone()],
        }
        .validate(Utc::now())
        .map_err(strip_record_prefix)?;
        if let Some(job) = record.job.take() {
            gated.push((Purpose::JobInfo, to_value(&job)?));
        }
        Prepared::new(OutboxKind::Dfe, &record, gated, withheld)
    }

    fn prepare_device_data(&self, input: DeviceDataCapture) -> Result<Prepared> {
        let record = DeviceStatusRecord {
            record_id: Uuid::now_v7(),
            // Milliseconds, as the outbox keeps it.
            captured_at: input.observed_at.unwrap_or_else(Utc::now).trunc_subsecs(3),
            device_id: input.device_id,
            software: input.software,
            printer_status: input.printer_status,
            error_codes: input.error_codes,
            status_history: input.status_history,
            values: input.values.filter(|v| !v.is_empty()),
        };
        DeviceStatusUpload {
            schema_version: ecsp_protocol::PROTOCOL_VERSION,
            records: vec![record.clone()],
        }
        .validate(Utc::now())
        .map_err(strip_record_prefix)?;
        Prepared::new(OutboxKind::DeviceData, &record, Vec::new(), Vec::new())
    }

    /// Whether a gated part may be kept: consent now and, when the caller fixed the capture
    /// time, also at that time (the server judges a record's gated parts by it).
    fn may_keep(
        &self,
        user: Uuid,
        purpose: Purpose,
        fixed_at: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        Ok(self.is_granted(user, purpose)?
            && match fixed_at {
                Some(at) => self.was_granted_at(user, purpose, at)?,
                None => true,
            })
    }

    fn prepare_measurement(&self, user: Uuid, input: MeasurementCapture) -> Result<Prepared> {
        let mut withheld = Vec::new();
        let fixed_at = input.captured_at.map(|at| at.trunc_subsecs(3));
        let mut record = MeasurementRecord {
            record_id: input.record_id.unwrap_or_else(Uuid::now_v7),
            // Milliseconds, as the outbox keeps it, so a repeated capture answers the same time.
            captured_at: fixed_at.unwrap_or_else(|| Utc::now().trunc_subsecs(3)),
            device_id: input.device_id,
            software: input.software,
            environment: input
                .environment
                .unwrap_or_else(|| self.environment.clone()),
            instrument: input.instrument,
            maintenance: input.maintenance,
            settings: input.settings,
            samples: input.samples,
            gps: input.gps,
            photos: input.photos,
        };
        if record.gps.is_some() && !self.may_keep(user, Purpose::Gps, fixed_at)? {
            record.gps = None;
            withheld.push(Purpose::Gps);
        }
        if !record.photos.is_empty() && !self.may_keep(user, Purpose::Photos, fixed_at)? {
            record.photos.clear();
            withheld.push(Purpose::Photos);
        }
        MeasurementUpload {
            schema_version: ecsp_protocol::PROTOCOL_VERSION,
            records: vec![record.clone()],
        }
        .validate(Utc::now())
        .map_err(strip_record_prefix)?;
        let mut gated = Vec::new();
        if let Some(gps) = record.gps.take() {
            gated.push((Purpose::Gps, to_value(&gps)?));
        }
        if !record.photos.is_empty() {
            gated.push((
                Purpose::Photos,
                to_value(&std::mem::take(&mut record.photos))?,
            ));
        }
        Prepared::new(OutboxKind::Measurement, &record, gated, withheld)
    }

    /// Writes validated records to the outbox in one transaction: all of them or none. A record
    /// whose id is already there (a repeated capture, possibly in the same batch) is not written
    /// again: it answers what its first capture did.
    fn enqueue_prepared(&self, user: Uuid, prepared: Vec<Prepared>) -> Result<Vec<Captured>> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<_> = prepared
            .iter()
            .map(|p| {
                (
                    NewEntry {
                        user,
                        kind: p.kind,
                        record_id: p.record_id,
                        device_id: Some(p.device_id),
                        captured_at: p.captured_at,
                        body: &p.body,
                        withheld: &p.withheld,
                    },
                    p.gated.as_slice(),
                )
            })
            .collect();
        let captured = self.enqueue(&entries, |conn, entry, inserted| {
            if inserted {
                return Ok(Captured {
                    record_id: entry.record_id,
                    captured_at: entry.captured_at,
                    withheld: entry.withheld.to_vec(),
                });
            }
            let first = outbox::existing(conn, entry.record_id)?;
            first_capture(user, entry.kind, entry.record_id, first)
        })?;
        self.queue_changed();
        self.wake.notify_one();
        Ok(captured)
    }

    /// What capturing `record_id` answered the first time, if it is already in the outbox.
    fn captured_before(
        &self,
        user: Uuid,
        kind: OutboxKind,
        record_id: Uuid,
    ) -> Result<Option<Captured>> {
        let Some(first) = outbox::existing(&self.store.conn(), record_id)? else {
            return Ok(None);
        };
        first_capture(user, kind, record_id, Some(first)).map(Some)
    }
}

/// The answer of the first capture of `record_id`; an error if that id belongs to another user's
/// or another kind of record (the caller reused an id it should not have).
fn first_capture(
    user: Uuid,
    kind: OutboxKind,
    record_id: Uuid,
    first: Option<outbox::Existing>,
) -> Result<Captured> {
    let first = first.ok_or_else(|| {
        ClientError::Corrupt(format!("outbox entry {record_id} vanished while capturing"))
    })?;
    if first.kind != kind || first.user != user.to_string() {
        return Err(ClientError::Invalid(ecsp_protocol::ValidationErrors(vec![
            ecsp_protocol::FieldError {
                field: "record_id".into(),
                message: format!(
                    "record {record_id} is already in the outbox as another record (another kind or another user's); a record id is used once"
                ),
                rule: None,
            },
        ])));
    }
    Ok(Captured {
        record_id,
        captured_at: first.captured_at,
        withheld: first.withheld,
    })
}

impl EcspClient {
    /// Captures a DFE's state into the outbox (durable when this returns); the job part only
    /// with `job_info` consent. Wakes the sync service.
    pub async fn capture_dfe(&self, input: DfeCapture) -> EcspResult<Captured> {
        self.blocking(move |core| {
            let user = core.current_user()?;
            let prepared = core.prepare_dfe(user, input)?;
            Ok(core.enqueue_prepared(user, vec![prepared])?.remove(0))
        })
        .await
    }

    /// Captures several DFE records (e.g. every job of a job log) all or none: every record is
    /// validated before any is written, in one transaction.
    pub async fn capture_dfes(&self, inputs: Vec<DfeCapture>) -> EcspResult<Vec<Captured>> {
        self.blocking(move |core| {
            let user = core.current_user()?;
            let prepared = inputs
                .into_iter()
                .map(|input| core.prepare_dfe(user, input))
                .collect::<Result<Vec<_>>>()?;
            core.enqueue_prepared(user, prepared)
        })
        .await
    }

    /// Captures device data (a device's state as its DFE reported it) all or none: every record
    /// is validated before any is written, in one transaction.
    pub async fn capture_device_data(
        &self,
        inputs: Vec<DeviceDataCapture>,
    ) -> EcspResult<Vec<Captured>> {
        self.capture_dfe_reading(Vec::new(), inputs).await
    }

    /// Captures what one DFE file or message held, DFE records and device data, all or none in
    /// one transaction; the answers in that order (DFE records first).
    pub async fn capture_dfe_reading(
        &self,
        dfes: Vec<DfeCapture>,
        device_data: Vec<DeviceDataCapture>,
    ) -> EcspResult<Vec<Captured>> {
        self.blocking(move |core| {
            let user = core.current_user()?;
            let mut prepared = Vec::with_capacity(dfes.len() + device_data.len());
            for input in dfes {
                prepared.push(core.prepare_dfe(user, input)?);
            }
            for input in device_data {
                prepared.push(core.prepare_device_data(input)?);
            }
            core.enqueue_prepared(user, prepared)
        })
        .await
    }

    /// Captures what several DFE files or messages held, as [`EcspClient::capture_dfe_reading`]
    /// does for one, in one transaction: one commit for many files (a hot folder that finds a
    /// hundred tickets at once). Each reading stays all or none: one that fails validation is
    /// answered with its error and nothing of it is written; the others are written together.
    /// The outer error (not signed in, the database) means nothing was written.
    pub async fn capture_dfe_readings(
        &self,
        readings: Vec<(Vec<DfeCapture>, Vec<DeviceDataCapture>)>,
    ) -> EcspResult<Vec<EcspResult<Vec<Captured>>>> {
        self.blocking(move |core| {
            let user = core.current_user()?;
            let mut answers = Vec::with_capacity(readings.len());
            let mut prepared = Vec::new();
            // Per reading: how many of `prepared` are its own, or why it was refused.
            let mut counts = Vec::with_capacity(readings.len());
            for (dfes, device_data) in readings {
                let mut mine = Vec::with_capacity(dfes.len() + device_data.len());
                let judge = || -> Result<()> {
                    for input in dfes {
                        mine.push(core.prepare_dfe(user, input)?);
                    }
                    for input in device_data {
                        mine.push(core.prepare_device_data(input)?);
                    }
                    Ok(())
                };
                let judged = judge();
                counts.push(judged.map(|()| mine.len()));
                if counts.last().is_some_and(|c| c.is_ok()) {
                    prepared.extend(mine);
                }
            }
            let mut captured = core.enqueue_prepared(user, prepared)?.into_iter();
            for count in counts {
                answers.push(match count {
                    Ok(n) => Ok(captured.by_ref().take(n).collect()),
                    Err(e) => Err(e.into()),
                });
            }
            Ok(answers)
        })
        .await
    }

    /// Captures a measurement into the outbox; GPS and photos only with consent.
    pub async fn capture_measurement(&self, input: MeasurementCapture) -> EcspResult<Captured> {
        let mut captured = self.capture_measurements(vec![input]).await?;
        Ok(captured.remove(0))
    }

    /// Captures several measurements (e.g. one per patch of a chart) all or none: every record
    /// is validated before any is written, in one transaction.
    pub async fn capture_measurements(
        &self,
        inputs: Vec<MeasurementCapture>,
    ) -> EcspResult<Vec<Captured>> {
        self.blocking(move |core| {
            let user = core.current_user()?;
            // A record already captured under the caller's id is not judged again (consent,
            // validation): it answers as it did. The others are captured, all or none.
            let mut answers = Vec::with_capacity(inputs.len());
            let mut prepared = Vec::new();
            for input in inputs {
                let before = match input.record_id {
                    Some(id) => core.captured_before(user, OutboxKind::Measurement, id)?,
                    None => None,
                };
                match before {
                    Some(captured) => answers.push(Some(captured)),
                    None => {
                        prepared.push(core.prepare_measurement(user, input)?);
                        answers.push(None);
                    }
                }
            }
            let mut fresh = core.enqueue_prepared(user, prepared)?.into_iter();
            answers
                .into_iter()
                .map(|a| {
                    a.or_else(|| fresh.next()).ok_or_else(|| {
                        ClientError::Corrupt("a capture answered fewer records than asked".into())
                    })
                })
                .collect()
        })
        .await
    }
}

fn to_value(v: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| ClientError::Corrupt(e.to_string()))
}
