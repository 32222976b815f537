//! The measurement session: calibrate, walk the chart, store every reading, upload.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{SubsecRound as _, Utc};
use ecsp_client::EcspClient;
use ecsp_client::capture::{Captured, MeasurementCapture};
use ecsp_color::colorimetry::colorimetry;
use ecsp_color::convert::Lab;
use ecsp_color::spectrum::{Spectrum, WavelengthGrid};
use ecsp_instrument::message::{Calibration, DeviceInfo, Reading};
use ecsp_instrument_link::driver::Instrument;
use ecsp_protocol::colour_model::IlluminationCondition;
use ecsp_protocol::common::SoftwareVersion;
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::measurement::{
    ColorSample, GpsFix, InstrumentAttributes, InstrumentMaintenance, MeasurementCondition,
    MeasurementSettings, Photo, PhotoMediaType,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calibration::{CalibrationDue, CalibrationPolicy};
use crate::chart::{self, Chart, PatchCheck};
use crate::error::{MeasureError, Result};
use crate::store::{SessionStore, Stored, StoredPhoto, StoredReading};

/// The `tracing` target of the event logged when a session's record is in the client's outbox
/// and the session is about to note it.
pub const UPLOAD_LOG_TARGET: &str = "ecsp_measure::upload";

/// The instrument's readings are bandpass-corrected (the profile's instruments report
/// reflectance already corrected, as ASTM E2729 recommends).
const BANDPASS_CORRECTED: bool = true;

/// Where the phone is. The host implements it (Android's FusedLocationProvider, Core Location);
/// the session asks only when the user granted `gps`.
pub trait LocationProvider: Send + Sync + fmt::Debug {
    /// The current fix, or `None` if there is none.
    fn current_fix(&self) -> Option<GpsFix>;
}

/// What a session is for: the printer whose output is measured, the print, and the condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPlan {
    pub device_id: Uuid,
    /// The phone application (its name and version), uploaded as the record's software.
    pub software: SoftwareVersion,
    pub settings: MeasurementSettings,
    pub condition: IlluminationCondition,
}

/// A reading stored for a patch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredPatch {
    pub index: usize,
    pub patch_id: String,
    pub lab: Lab,
    pub check: PatchCheck,
    pub counter: u32,
    /// False when the same instrument reading was already stored (a resend after a resume).
    pub new: bool,
}

/// A photo attached to the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedPhoto {
    /// Its number in the session, from 0.
    pub index: usize,
    pub media_type: &'static str,
    /// True when a location was found in the photo and removed (no `gps` consent).
    pub location_removed: bool,
}

/// Where the session stands, for the screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStatus {
    pub total: usize,
    pub measured: usize,
    /// The next unmeasured patch (chart order), if any.
    pub next_patch: Option<usize>,
    /// Patches whose reading matches a neighbour better than the patch itself.
    pub flagged: Vec<usize>,
    pub calibration_due: Option<CalibrationDue>,
    pub uploaded_record: Option<Uuid>,
}

/// One guided measurement session over one instrument.
#[derive(Debug)]
pub struct MeasurementSession {
    id: Uuid,
    store: SessionStore,
    chart: Chart,
    plan: SessionPlan,
    instrument: Arc<Instrument>,
    policy: CalibrationPolicy,
    info: Option<DeviceInfo>,
    /// The instrument's temperature as last seen (device info or a reading).
    temperature_tenth_c: Option<i16>,
    /// Patch index → stored reading summary, mirrored from the store.
    done: Vec<Option<PatchCheck>>,
}

/// Runs blocking storage work off the executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await?
}

/// CIELAB (D50, 2°) of an instrument reading, by `ecsp-color`.
pub fn reading_lab(reading: &Reading) -> Result<Lab> {
    let grid = WavelengthGrid::new(
        u32::from(reading.grid.start_nm),
        u32::from(reading.grid.interval_nm),
        usize::from(reading.grid.bands),
    )
    .map_err(|e| MeasureError::Instrument(protocol(format!("reading grid: {e}"))))?;
    let spectrum = Spectrum::new(grid, reading.values.iter().map(|v| f64::from(*v)).collect())
        .map_err(|e| MeasureError::Instrument(protocol(format!("reading spectrum: {e}"))))?;
    let c = colorimetry(
        &spectrum,
        BANDPASS_CORRECTED,
        chart::ILLUMINANT,
        chart::OBSERVER,
    )
    .map_err(|e| MeasureError::Instrument(protocol(format!("colorimetry: {e}"))))?;
    Ok(c.lab)
}

fn protocol(m: String) -> ecsp_instrument_link::driver::InstrumentError {
    ecsp_instrument_link::driver::InstrumentError::Protocol(m)
}

impl MeasurementSession {
    /// Starts a session on a reference chart (CGATS or CxF bytes).
    pub async fn start(
        store: SessionStore,
        instrument: Arc<Instrument>,
        plan: SessionPlan,
        chart_bytes: Vec<u8>,
        policy: CalibrationPolicy,
    ) -> Result<Self> {
        let chart = Chart::from_bytes(&chart_bytes)?;
        let id = Uuid::new_v4();
        let plan_json =
            serde_json::to_string(&plan).map_err(|e| MeasureError::Storage(e.to_string()))?;
        let s = store.clone();
        blocking(move || s.create_session(id, &plan_json, &chart_bytes)).await?;
        let done = vec![None; chart.patches.len()];
        Ok(Self {
            id,
            store,
            chart,
            plan,
            instrument,
            policy,
            info: None,
            temperature_tenth_c: None,
            done,
        })
    }

    /// Opens a session from the local file, recovering a reading the instrument took while the
    /// app was gone (asked for, not yet stored).
    pub async fn resume(
        store: SessionStore,
        instrument: Arc<Instrument>,
        id: Uuid,
        policy: CalibrationPolicy,
    ) -> Result<Self> {
        let s = store.clone();
        let row = blocking(move || s.session(id)).await?;
        let chart = Chart::from_bytes(&row.chart)?;
        let plan: SessionPlan = serde_json::from_str(&row.plan)
            .map_err(|e| MeasureError::Storage(format!("stored plan: {e}")))?;
        let info: Option<DeviceInfo> = row
            .instrument
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok());
        let mut session = Self {
            id,
            store,
            done: vec![None; chart.patches.len()],
            chart,
            plan,
            instrument,
            policy,
            temperature_tenth_c: info.as_ref().map(|i| i.temperature_tenth_c),
            info,
        };
        session.reload().await?;
        if let Some((patch, after)) = row.pending {
            session.recover_pending(patch, after).await?;
        }
        Ok(session)
    }

    async fn reload(&mut self) -> Result<()> {
        let (s, id) = (self.store.clone(), self.id);
        let readings = blocking(move || s.readings(id)).await?;
        for r in readings {
            if let Some(slot) = self.done.get_mut(r.patch_index) {
                *slot = Some(r.check);
            }
            self.temperature_tenth_c = Some(r.reading.temperature_tenth_c);
        }
        Ok(())
    }

    async fn recover_pending(&mut self, patch: usize, after: Option<u32>) -> Result<()> {
        let last = self.instrument.last_reading().await?;
        let serial = self.info.as_ref().map(|i| i.serial.clone());
        match last {
            Some(reading)
                if Some(reading.counter) > after
                    && serial.as_deref().is_none_or(|s| s == reading.serial)
                    && reading.condition == self.plan.condition =>
            {
                tracing::info!(patch, "recovered a reading taken while the app was away");
                self.keep(patch, reading).await?;
            }
            _ => {
                let (s, id) = (self.store.clone(), self.id);
                blocking(move || s.set_pending(id, None)).await?;
            }
        }
        Ok(())
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    pub fn plan(&self) -> &SessionPlan {
        &self.plan
    }

    /// The instrument's identity and state; read once per session (and stored with it).
    pub async fn instrument_info(&mut self) -> Result<DeviceInfo> {
        let info = self.instrument.info().await?;
        self.temperature_tenth_c = Some(info.temperature_tenth_c);
        let json =
            serde_json::to_string(&info).map_err(|e| MeasureError::Storage(e.to_string()))?;
        let (s, id) = (self.store.clone(), self.id);
        blocking(move || s.set_instrument(id, &json)).await?;
        self.info = Some(info.clone());
        Ok(info)
    }

    async fn serial(&mut self) -> Result<String> {
        match &self.info {
            Some(i) => Ok(i.serial.clone()),
            None => Ok(self.instrument_info().await?.serial),
        }
    }

    /// Whether a calibration is due, to show before measuring.
    pub async fn calibration_due(&mut self) -> Result<Option<CalibrationDue>> {
        let serial = self.serial().await?;
        let s = self.store.clone();
        let last = blocking(move || s.last_calibration(&serial)).await?;
        let temperature = self.temperature_tenth_c.unwrap_or(0);
        Ok(self.policy.due(last, Utc::now(), temperature))
    }

    /// White calibration on the instrument's tile; recorded for the due rules.
    pub async fn calibrate(&mut self) -> Result<Calibration> {
        let serial = self.serial().await?;
        let calibration = self.instrument.calibrate_white().await?;
        self.temperature_tenth_c = Some(calibration.temperature_tenth_c);
        let s = self.store.clone();
        let t = calibration.temperature_tenth_c;
        blocking(move || s.record_calibration(&serial, Utc::now(), t)).await?;
        Ok(calibration)
    }

    pub async fn status(&mut self) -> Result<SessionStatus> {
        let calibration_due = self.calibration_due().await?;
        let (s, id) = (self.store.clone(), self.id);
        let uploaded_record = blocking(move || s.session(id)).await?.record_id;
        Ok(SessionStatus {
            total: self.chart.patches.len(),
            measured: self.done.iter().flatten().count(),
            next_patch: self.next_patch(),
            flagged: self.flagged(),
            calibration_due,
            uploaded_record,
        })
    }

    /// The next patch without a reading, in chart order.
    pub fn next_patch(&self) -> Option<usize> {
        self.done.iter().position(Option::is_none)
    }

    pub fn flagged(&self) -> Vec<usize> {
        self.done
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some_and(|c| c.better_match.is_some()))
            .map(|(i, _)| i)
            .collect()
    }

    /// Measures the next unmeasured patch.
    pub async fn measure_next(&mut self) -> Result<MeasuredPatch> {
        let index = self
            .next_patch()
            .ok_or_else(|| MeasureError::NotFound("every patch has a reading".into()))?;
        self.measure_patch(index).await
    }

    /// Measures patch `index`; a reading it already had is replaced.
    pub async fn measure_patch(&mut self, index: usize) -> Result<MeasuredPatch> {
        if index >= self.chart.patches.len() {
            return Err(MeasureError::NotFound(format!(
                "the chart has {} patches; there is no patch {}",
                self.chart.patches.len(),
                index + 1
            )));
        }
        if let Some(due) = self.calibration_due().await? {
            return Err(MeasureError::CalibrationDue(due));
        }
        let serial = self.serial().await?;
        let (s, id) = (self.store.clone(), self.id);
        blocking(move || {
            let after = s.newest_counter(&serial)?;
            s.set_pending(id, Some((index, after)))
        })
        .await?;
        let reading = self.instrument.measure(self.plan.condition).await?;
        self.keep(index, reading).await
    }

    /// Checks a reading against its patch, stores it durably, then acknowledges it.
    async fn keep(&mut self, index: usize, reading: Reading) -> Result<MeasuredPatch> {
        if let Some(info) = &self.info
            && info.serial != reading.serial
        {
            return Err(MeasureError::Instrument(protocol(
                "a reading from another instrument than the session's".into(),
            )));
        }
        let lab = reading_lab(&reading)?;
        let check = self
            .chart
            .check(index, lab)
            .ok_or_else(|| MeasureError::NotFound(format!("no patch {}", index + 1)))?;
        self.temperature_tenth_c = Some(reading.temperature_tenth_c);
        let counter = reading.counter;
        let stored = StoredReading {
            patch_index: index,
            taken_at: Utc::now(),
            reading,
            lab,
            check,
        };
        let (s, id) = (self.store.clone(), self.id);
        let outcome = blocking(move || s.store_reading(id, &stored)).await?;
        if outcome == Stored::New {
            self.done[index] = Some(check);
        }
        Ok(MeasuredPatch {
            index,
            patch_id: self.chart.patches[index].id.clone(),
            lab,
            check,
            counter,
            new: outcome == Stored::New,
        })
    }

    /// Attaches a photo (JPEG, PNG or WebP, at most [`ecsp_photo::MAX_PHOTO_BYTES`], at most
    /// [`ecsp_photo::MAX_PHOTOS`] per session). Only with the user's `photos` consent; without
    /// `gps` consent the photo's location is removed before it is stored (see `ecsp-photo`).
    pub async fn attach_photo(
        &mut self,
        client: &EcspClient,
        bytes: Vec<u8>,
        caption: Option<String>,
    ) -> Result<AttachedPhoto> {
        if !client.is_granted(Purpose::Photos).await? {
            return Err(MeasureError::NotAllowed(
                "the user has not allowed photos to be attached; ask for `photos` consent first"
                    .into(),
            ));
        }
        let keep_location = client.is_granted(Purpose::Gps).await?;
        let (s, id) = (self.store.clone(), self.id);
        blocking(move || {
            let (format, data, location_removed) = if keep_location {
                (ecsp_photo::check(&bytes)?, bytes, false)
            } else {
                let stripped = ecsp_photo::strip_location(&bytes)?;
                (stripped.format, stripped.bytes, stripped.removed.any())
            };
            let photo = StoredPhoto {
                media_type: format.media_type().to_owned(),
                caption,
                data,
            };
            let index =
                s.add_photo(id, &photo, ecsp_photo::MAX_PHOTOS)?
                    .ok_or(MeasureError::Photo(ecsp_photo::PhotoError::TooMany {
                        max: ecsp_photo::MAX_PHOTOS,
                    }))?;
            Ok(AttachedPhoto {
                index,
                media_type: format.media_type(),
                location_removed,
            })
        })
        .await
    }

    /// The photos to upload: none without `photos` consent; without `gps` consent stripped
    /// again (consent may have been withdrawn since they were attached).
    async fn upload_photos(&self, client: &EcspClient) -> Result<Vec<Photo>> {
        if !client.is_granted(Purpose::Photos).await? {
            return Ok(Vec::new());
        }
        let keep_location = client.is_granted(Purpose::Gps).await?;
        let (s, id) = (self.store.clone(), self.id);
        blocking(move || {
            s.photos(id)?
                .into_iter()
                .map(|p| {
                    let (format, data) = if keep_location {
                        (ecsp_photo::check(&p.data)?, p.data)
                    } else {
                        let stripped = ecsp_photo::strip_location(&p.data)?;
                        (stripped.format, stripped.bytes)
                    };
                    Ok(Photo {
                        media_type: match format {
                            ecsp_photo::PhotoFormat::Jpeg => PhotoMediaType::Jpeg,
                            ecsp_photo::PhotoFormat::Png => PhotoMediaType::Png,
                            ecsp_photo::PhotoFormat::WebP => PhotoMediaType::Webp,
                        },
                        data_base64: base64::engine::general_purpose::STANDARD.encode(data),
                        caption: p.caption,
                    })
                })
                .collect()
        })
        .await
    }

    /// Uploads the session as one measurement record, once: a second call returns the first
    /// record's id. Every patch must have a reading and none may be flagged. GPS comes from
    /// `location` only if the user granted `gps`; the client core checks consent again.
    ///
    /// The record's id and capture time are fixed in the session's file before the record is
    /// captured into the client's outbox; if the app dies after that capture but before the
    /// session notes it, the next upload captures under the same id, which the outbox answers
    /// without adding anything (its GPS fix or photos may differ; the first capture stands).
    pub async fn upload(
        &mut self,
        client: &EcspClient,
        location: Option<&dyn LocationProvider>,
    ) -> Result<Captured> {
        let (s, id) = (self.store.clone(), self.id);
        let row = blocking(move || s.session(id)).await?;
        if let Some(record_id) = row.record_id {
            return Ok(Captured {
                record_id,
                // Sessions uploaded before the time was kept (schema 2) say when they are asked.
                captured_at: row.upload.map_or_else(Utc::now, |(_, at)| at),
                withheld: Vec::new(),
            });
        }
        let missing = self.done.iter().filter(|d| d.is_none()).count();
        if missing > 0 {
            return Err(MeasureError::Incomplete(format!(
                "{missing} of {} patches have no reading yet",
                self.chart.patches.len()
            )));
        }
        let flagged = self.flagged();
        if !flagged.is_empty() {
            let names: Vec<_> = flagged
                .iter()
                .map(|i| self.chart.patches[*i].id.as_str())
                .collect();
            return Err(MeasureError::Incomplete(format!(
                "re-measure the patches that match a neighbour better: {}",
                names.join(", ")
            )));
        }
        let info = match &self.info {
            Some(i) => i.clone(),
            None => self.instrument_info().await?,
        };
        let (s, id) = (self.store.clone(), self.id);
        let readings = blocking(move || s.readings(id)).await?;
        let serial = info.serial.clone();
        let s = self.store.clone();
        let last_calibration = blocking(move || s.last_calibration(&serial)).await?;
        let samples = readings
            .iter()
            .map(|r| sample(&self.chart.patches[r.patch_index].id, r))
            .collect();
        let gps = match location {
            Some(provider) if client.is_granted(Purpose::Gps).await? => provider.current_fix(),
            _ => None,
        };
        let (s, id) = (self.store.clone(), self.id);
        // UUIDv7 like the client's own ids; milliseconds, as the client's outbox keeps them.
        let candidate = (Uuid::now_v7(), Utc::now().trunc_subsecs(3));
        let (record_id, captured_at) = blocking(move || s.fix_upload(id, candidate)).await?;
        let capture = MeasurementCapture {
            record_id: Some(record_id),
            captured_at: Some(captured_at),
            device_id: self.plan.device_id,
            software: self.plan.software.clone(),
            environment: None,
            instrument: InstrumentAttributes {
                manufacturer: Some(info.manufacturer.clone()),
                model: info.model.clone(),
                serial_number: info.serial.clone(),
                firmware_version: info.firmware.clone(),
            },
            maintenance: Some(InstrumentMaintenance {
                status: "ready".into(),
                errors: Vec::new(),
                last_calibrated_at: last_calibration.map(|c| c.at),
            }),
            settings: self.plan.settings.clone(),
            samples,
            gps,
            photos: self.upload_photos(client).await?,
        };
        let captured = client.capture_measurement(capture).await?;
        // The window the fixed record id covers: the record is in the outbox, the session does
        // not say so yet. (The kill test in tests/integration/durability.rs stops here.)
        tracing::info!(
            target: UPLOAD_LOG_TARGET,
            session = %self.id,
            record = %captured.record_id,
            "captured into the outbox"
        );
        let (s, id, record) = (self.store.clone(), self.id, captured.record_id);
        blocking(move || s.set_uploaded(id, record)).await?;
        Ok(captured)
    }
}

/// The upload form of a stored reading: its spectrum on the declared grid and its CIELAB.
fn sample(patch: &str, r: &StoredReading) -> ColorSample {
    use ecsp_protocol::measurement::{Lab as WireLab, Spectrum as WireSpectrum};
    ColorSample {
        patch: patch.to_owned(),
        condition: MeasurementCondition {
            illumination: r.reading.condition,
            geometry: r.reading.geometry,
            bandpass_corrected: BANDPASS_CORRECTED,
            aperture_mm: Some(f64::from(r.reading.aperture_tenth_mm) / 10.0),
            backing: None,
        },
        spectrum: Some(WireSpectrum {
            start_nm: r.reading.grid.start_nm,
            interval_nm: r.reading.grid.interval_nm,
            // f32 → f64 keeps the instrument's digits without float noise in the JSON.
            values: r
                .reading
                .values
                .iter()
                .map(|v| (f64::from(*v) * 1e6).round() / 1e6)
                .collect(),
        }),
        lab: Some(WireLab {
            l: r.lab.l,
            a: r.lab.a,
            b: r.lab.b,
            illuminant: chart::ILLUMINANT,
            observer: chart::OBSERVER,
        }),
    }
}
