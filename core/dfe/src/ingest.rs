//! From bytes to records in the outbox: read, capture all or nothing (DFE records and the device
//! data of a device's jobless status alike), remember the content.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use ecsp_client::capture::{DeviceDataCapture, DfeCapture};
use ecsp_client::{EcspClient, EcspError, ErrorCode};
use ecsp_protocol::consent::Purpose;
use serde::Serialize;
use uuid::Uuid;

use crate::{DeviceState, Ledger, ReadError, ReadErrorKind, ReadOptions};

/// What became of one file or one JMF message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ingested {
    /// Captured into the outbox (sent by the client's sync service).
    Captured {
        record_ids: Vec<Uuid>,
        /// Parts left out for lack of consent (`job_info`).
        withheld: Vec<Purpose>,
    },
    /// The same content was captured before; nothing new.
    Duplicate { record_ids: Vec<Uuid> },
}

/// Why a file was not captured.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The content is bad: quarantine it with this reason. Retrying will not help.
    #[error("{0}")]
    Bad(ReadError),
    /// The content was read but the client core cannot capture now (not signed in, keyring
    /// locked, disk full): keep the file and try again later.
    #[error("{0}")]
    Later(EcspError),
}

impl IngestError {
    /// The short key for logs (no names).
    pub fn kind(&self) -> &'static str {
        match self {
            IngestError::Bad(e) => e.kind.as_str(),
            IngestError::Later(e) => e.code.as_str(),
        }
    }
}

/// Reads and captures DFE files and messages for one device, once each.
#[derive(Debug, Clone)]
pub struct Ingest {
    client: EcspClient,
    ledger: Ledger,
    options: Arc<ReadOptions>,
    /// One ingestion at a time, so the same content arriving twice at once is captured once.
    serial: Arc<tokio::sync::Mutex<()>>,
}

impl Ingest {
    pub fn new(client: EcspClient, ledger: Ledger, options: ReadOptions) -> Self {
        Self {
            client,
            ledger,
            options: Arc::new(options),
            serial: Arc::default(),
        }
    }

    pub fn options(&self) -> &ReadOptions {
        &self.options
    }

    /// Reads `bytes` (named `file` in errors) and captures what they hold, unless the same
    /// bytes were captured for this device before.
    pub async fn ingest(&self, file: &str, bytes: &[u8]) -> Result<Ingested, IngestError> {
        self.ingest_with(file, bytes, || crate::read_all(file, bytes, &self.options))
            .await
    }

    /// As [`Ingest::ingest`] for a JMF body the receiver has already parsed into `root` (it
    /// needs the message IDs for its answer): parsed once, not twice.
    pub(crate) async fn ingest_jmf(
        &self,
        file: &str,
        bytes: &[u8],
        root: &crate::xml::Element,
    ) -> Result<Ingested, IngestError> {
        self.ingest_with(file, bytes, || {
            crate::read_jmf_root(file, root, &self.options)
        })
        .await
    }

    async fn ingest_with(
        &self,
        file: &str,
        bytes: &[u8],
        read: impl FnOnce() -> Result<crate::Reading, ReadError>,
    ) -> Result<Ingested, IngestError> {
        let key = Ledger::key(self.options.device_id, bytes);
        let _one_at_a_time = self.serial.lock().await;
        if let Some(record_ids) = self.ledger.lookup(&key).map_err(ledger_error)? {
            return Ok(Ingested::Duplicate { record_ids });
        }
        let reading = read().map_err(IngestError::Bad)?;
        let (captures, device_data) = parts(&key, reading);
        if captures.is_empty() && device_data.is_empty() {
            // A JMF signal with nothing to upload (an empty queue): remembered, nothing made.
            self.ledger.remember(&key, &[]).map_err(ledger_error)?;
            return Ok(Ingested::Captured {
                record_ids: Vec::new(),
                withheld: Vec::new(),
            });
        }
        // The file's DFE records and device data together: all of them or none.
        let captured = self
            .client
            .capture_dfe_reading(captures, device_data)
            .await
            .map_err(|e| capture_error(file, e))?;
        let ingested = captured_as(captured);
        if let Ingested::Captured { record_ids, .. } = &ingested {
            self.ledger
                .remember(&key, record_ids)
                .map_err(ledger_error)?;
        }
        Ok(ingested)
    }

    /// Reads and captures several files (`(name, bytes)`) as [`Ingest::ingest`] does one: each
    /// all or none, each once (the same bytes twice in `files` make one capture), but with one
    /// outbox commit and one ledger commit for all of them, so a folder that finds many files
    /// at once does not pay two fsyncs a file. Answers per file, in order.
    pub async fn ingest_all(&self, files: &[(&str, &[u8])]) -> Vec<Result<Ingested, IngestError>> {
        let keys: Vec<String> = files
            .iter()
            .map(|(_, bytes)| Ledger::key(self.options.device_id, bytes))
            .collect();
        let _one_at_a_time = self.serial.lock().await;
        let mut answers: Vec<Option<Result<Ingested, IngestError>>> = vec![None; files.len()];
        // The first file of each content; later ones answer as duplicates of it.
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut capturing = Vec::new();
        let mut readings = Vec::new();
        let mut empty = Vec::new();
        for (i, (file, bytes)) in files.iter().enumerate() {
            if first.contains_key(keys[i].as_str()) {
                continue;
            }
            first.insert(&keys[i], i);
            match self.ledger.lookup(&keys[i]) {
                Ok(Some(record_ids)) => {
                    answers[i] = Some(Ok(Ingested::Duplicate { record_ids }));
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    answers[i] = Some(Err(ledger_error(e)));
                    continue;
                }
            }
            match crate::read_all(file, bytes, &self.options) {
                Err(bad) => answers[i] = Some(Err(IngestError::Bad(bad))),
                Ok(reading) => {
                    let (captures, device_data) = parts(&keys[i], reading);
                    if captures.is_empty() && device_data.is_empty() {
                        empty.push(i);
                        answers[i] = Some(Ok(Ingested::Captured {
                            record_ids: Vec::new(),
                            withheld: Vec::new(),
                        }));
                    } else {
                        capturing.push(i);
                        readings.push((captures, device_data));
                    }
                }
            }
        }
        if !readings.is_empty() {
            match self.client.capture_dfe_readings(readings).await {
                Ok(results) => {
                    for (&i, result) in capturing.iter().zip(results) {
                        answers[i] = Some(
                            result
                                .map(captured_as)
                                .map_err(|e| capture_error(files[i].0, e)),
                        );
                    }
                }
                Err(e) => {
                    for &i in &capturing {
                        answers[i] = Some(Err(capture_error(files[i].0, e.clone())));
                    }
                }
            }
        }
        let made: Vec<usize> = empty
            .into_iter()
            .chain(capturing)
            .filter(|&i| matches!(answers[i], Some(Ok(Ingested::Captured { .. }))))
            .collect();
        let remembered: Vec<(&str, &[Uuid])> = made
            .iter()
            .filter_map(|&i| match &answers[i] {
                Some(Ok(Ingested::Captured { record_ids, .. })) => {
                    Some((keys[i].as_str(), record_ids.as_slice()))
                }
                _ => None,
            })
            .collect();
        if let Err(e) = self.ledger.remember_all(&remembered) {
            // As for one file: captured, not remembered; tried again (and captured again).
            let e = ledger_error(e);
            for &i in &made {
                answers[i] = Some(Err(e.clone()));
            }
        }
        // Later files with the content of an earlier one answer as its duplicates.
        for i in 0..files.len() {
            if answers[i].is_some() {
                continue;
            }
            let same = first
                .get(keys[i].as_str())
                .and_then(|&j| answers[j].as_ref());
            answers[i] = Some(match same {
                Some(Ok(Ingested::Captured { record_ids, .. }))
                | Some(Ok(Ingested::Duplicate { record_ids })) => Ok(Ingested::Duplicate {
                    record_ids: record_ids.clone(),
                }),
                Some(other) => other.clone(),
                None => Err(unanswered()),
            });
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(unanswered())))
            .collect()
    }
}

/// A reading's DFE records and device data, its warnings logged (field and place, never the
/// value: it may be a name).
fn parts(key: &str, reading: crate::Reading) -> (Vec<DfeCapture>, Vec<DeviceDataCapture>) {
    let tag = &key[..12.min(key.len())];
    for w in &reading.warnings {
        tracing::warn!(file = tag, field = %w.field, at = ?w.location, "DFE value left out: {}", w.message);
    }
    let device_data = reading
        .device_states
        .into_iter()
        .map(as_device_data)
        .collect();
    (reading.captures, device_data)
}

fn captured_as(captured: Vec<ecsp_client::capture::Captured>) -> Ingested {
    let record_ids: Vec<Uuid> = captured.iter().map(|c| c.record_id).collect();
    let mut withheld: Vec<Purpose> = captured.into_iter().flat_map(|c| c.withheld).collect();
    withheld.sort_by_key(|p| p.as_str());
    withheld.dedup();
    Ingested::Captured {
        record_ids,
        withheld,
    }
}

/// A file a batch left without an answer (never expected): kept and tried again.
pub(crate) fn unanswered() -> IngestError {
    IngestError::Later(EcspError::new(
        ErrorCode::LocalStorage,
        "a file was left unanswered",
    ))
}

fn capture_error(file: &str, e: EcspError) -> IngestError {
    match e.code {
        // The content itself failed validation: the file is bad, not the moment.
        ErrorCode::InvalidInput | ErrorCode::Rejected => IngestError::Bad(ReadError::new(
            file,
            ReadErrorKind::Invalid,
            format!("the upload it makes is not valid: {e}"),
        )),
        _ => IngestError::Later(e),
    }
}

/// A device's state without a job, as the device data the PC application uploads.
fn as_device_data(state: DeviceState) -> DeviceDataCapture {
    let now = Utc::now();
    DeviceDataCapture {
        device_id: state.device_id,
        software: state.software,
        // A DFE clock ahead of this one would make a capture time in the future, which the
        // server refuses: the state is then dated when it was read here.
        observed_at: state.observed_at.filter(|at| *at <= now),
        printer_status: state.printer_status,
        error_codes: state.error_codes,
        status_history: state.events,
        values: Some(state.values),
    }
}

fn ledger_error(e: rusqlite::Error) -> IngestError {
    IngestError::Later(EcspError::new(
        ErrorCode::LocalStorage,
        format!("the DFE ledger: {e}"),
    ))
}
