//! The DC agent: polls the printers on its designated list — and only those — over SNMP, checks
//! each one is still the printer it was designated as (same serial number), and turns each good
//! reading into a device-data record for the outbox.
//!
//! There is no discovery: an address reaches the SNMP layer only through [`DcAgent::poll`], which
//! looks it up in the designated list first.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use ecsp_client::SecretStore;
use ecsp_protocol::agent::DeviceDataRecord;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::printer_mib::{PrinterReading, Registered, read_printer, to_device_data};
use crate::snmp::{
    AuthProtocol, PrivProtocol, SnmpCredentials, SnmpError, SnmpSession, SnmpTiming,
};
use crate::store::{AgentStore, PrinterPoll};

/// How the agent authenticates to a printer. Secrets are named, not written here: the names are
/// keys in the agent's secret store (the OS keyring), so the configuration file holds none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "snake_case", deny_unknown_fields)]
pub enum SnmpAuth {
    V2c {
        community_secret: String,
    },
    V3 {
        user: String,
        auth: AuthProtocol,
        auth_secret: String,
        privacy: PrivProtocol,
        priv_secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
}

/// One designated printer: where it is, what it must be, and how to ask it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignatedPrinter {
    /// `host:port` (port 161 for real printers).
    pub address: SocketAddr,
    /// As registered on the server (`POST /api/v1/admin/devices`).
    pub manufacturer: String,
    pub model: String,
    /// The serial number it was designated with; a printer answering with another is reported.
    pub serial_number: String,
    pub snmp: SnmpAuth,
    #[serde(default)]
    pub timing: SnmpTiming,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DcError {
    #[error("{0} is not on this agent's designated list; nothing was sent to it")]
    NotDesignated(SocketAddr),
    #[error(
        "{address}: designated with serial number {expected}, but the printer there reports {found}"
    )]
    SerialChanged {
        address: SocketAddr,
        expected: String,
        found: String,
    },
    #[error(
        "{address}: the printer cannot be identified as {expected}: it publishes no serial number (none in prtGeneralSerialNumber, ENTITY-MIB entPhysicalSerialNum, its maker's MIB or sysDescr), so its readings were not sent"
    )]
    CannotIdentify {
        address: SocketAddr,
        expected: String,
    },
    #[error("none of the {tried} designated printer(s) could be read")]
    NothingRead { tried: usize },
    #[error("secret `{0}` named in the configuration is not in the secret store")]
    MissingSecret(String),
    #[error("the secret store failed: {0}")]
    SecretStore(String),
    #[error(transparent)]
    Snmp(#[from] SnmpError),
}

/// What one poll of one printer produced.
#[derive(Debug)]
pub struct PollResult {
    pub address: SocketAddr,
    pub outcome: Result<(PrinterReading, DeviceDataRecord), DcError>,
}

#[derive(Debug)]
pub struct DcAgent {
    designated: Vec<DesignatedPrinter>,
    secrets: Arc<dyn SecretStore>,
}

fn same_serial(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

impl DcAgent {
    pub fn new(designated: Vec<DesignatedPrinter>, secrets: Arc<dyn SecretStore>) -> Self {
        DcAgent {
            designated,
            secrets,
        }
    }

    pub fn designated(&self) -> &[DesignatedPrinter] {
        &self.designated
    }

    fn secret(&self, key: &str) -> Result<ecsp_client::Secret, DcError> {
        self.secrets
            .get(key)
            .map_err(|e| DcError::SecretStore(e.to_string()))?
            .ok_or_else(|| DcError::MissingSecret(key.to_owned()))
    }

    fn credentials(&self, auth: &SnmpAuth) -> Result<SnmpCredentials, DcError> {
        Ok(match auth {
            SnmpAuth::V2c { community_secret } => SnmpCredentials::V2c {
                community: self.secret(community_secret)?,
            },
            SnmpAuth::V3 {
                user,
                auth,
                auth_secret,
                privacy,
                priv_secret,
                context,
            } => SnmpCredentials::V3 {
                user: user.clone(),
                auth: *auth,
                auth_password: self.secret(auth_secret)?,
                privacy: *privacy,
                priv_password: self.secret(priv_secret)?,
                context: context.clone(),
            },
        })
    }

    /// Polls one address, which must be designated.
    pub async fn poll(
        &self,
        address: SocketAddr,
    ) -> Result<(PrinterReading, DeviceDataRecord), DcError> {
        let Some(printer) = self.designated.iter().find(|p| p.address == address) else {
            return Err(DcError::NotDesignated(address));
        };
        let credentials = self.credentials(&printer.snmp)?;
        let mut session = SnmpSession::new(address, credentials, printer.timing);
        let reading = read_printer(&mut session).await?;
        let found = reading
            .serial_number
            .clone()
            .ok_or_else(|| DcError::CannotIdentify {
                address,
                expected: printer.serial_number.clone(),
            })?;
        if !same_serial(&found, &printer.serial_number) {
            return Err(DcError::SerialChanged {
                address,
                expected: printer.serial_number.clone(),
                found,
            });
        }
        let now = Utc::now();
        let who = Registered {
            manufacturer: &printer.manufacturer,
            model: &printer.model,
            serial_number: &printer.serial_number,
        };
        let record = DeviceDataRecord {
            record_id: Uuid::new_v4(),
            captured_at: now,
            device: to_device_data(&reading, &who, now),
        };
        Ok((reading, record))
    }

    /// Polls every designated printer, a few at a time; one printer's failure never stops the rest.
    pub async fn poll_all(&self) -> Vec<PollResult> {
        let mut results = Vec::with_capacity(self.designated.len());
        let mut pending = self.designated.iter().map(|p| p.address);
        const AT_ONCE: usize = 8;
        loop {
            let batch: Vec<SocketAddr> = pending.by_ref().take(AT_ONCE).collect();
            if batch.is_empty() {
                break;
            }
            let polls = batch.iter().map(|a| async move {
                PollResult {
                    address: *a,
                    outcome: self.poll(*a).await,
                }
            });
            results.extend(futures_join_all(polls).await);
        }
        results
    }
}

/// The code a designated printer that cannot be identified is reported under.
pub const CANNOT_IDENTIFY_CODE: &str = "error.agent.printer_not_identified";

impl DcAgent {
    /// What the operator must see of a failed poll, as a record for the designated printer:
    /// for a printer that cannot be identified, its designated identity with the error and no
    /// reading (what answered may not be that printer). Other failures make no record.
    pub fn problem_record(&self, address: SocketAddr, error: &DcError) -> Option<DeviceDataRecord> {
        let DcError::CannotIdentify { .. } = error else {
            return None;
        };
        let printer = self.designated.iter().find(|p| p.address == address)?;
        let now = Utc::now();
        let mut device = to_device_data(
            &PrinterReading::default(),
            &Registered {
                manufacturer: &printer.manufacturer,
                model: &printer.model,
                serial_number: &printer.serial_number,
            },
            now,
        );
        device.printer_status = Some("unknown".into());
        device.maintenance_settings = None;
        device.error_codes = vec![ecsp_protocol::common::CodeEvent {
            code: CANNOT_IDENTIFY_CODE.into(),
            description: Some(error.to_string().chars().take(256).collect()),
            occurred_at: Some(now),
        }];
        Some(DeviceDataRecord {
            record_id: Uuid::new_v4(),
            captured_at: now,
            device,
        })
    }

    /// Keeps what a cycle produced: each reading in the outbox, a record for each printer that
    /// cannot be identified ([`DcAgent::problem_record`]), and the outcome of every poll for
    /// `ecsp-agent status`. Failures are logged with the printer's address.
    pub fn keep_results(
        &self,
        store: &AgentStore,
        results: &[PollResult],
    ) -> Result<(), crate::store::StoreError> {
        for result in results {
            let Some(printer) = self.designated.iter().find(|p| p.address == result.address) else {
                continue;
            };
            let (read_ok, detail) = match &result.outcome {
                Ok((reading, record)) => {
                    store.enqueue(std::slice::from_ref(record))?;
                    (true, reading_summary(reading, record))
                }
                Err(e) => {
                    tracing::warn!(printer = %result.address, error = %e, "poll failed");
                    if let Some(record) = self.problem_record(result.address, e) {
                        store.enqueue(&[record])?;
                    }
                    (false, e.to_string())
                }
            };
            store.record_poll(&PrinterPoll {
                address: result.address.to_string(),
                serial_number: printer.serial_number.clone(),
                polled_at: Utc::now(),
                read_ok,
                detail,
            })?;
        }
        Ok(())
    }
}

fn reading_summary(reading: &PrinterReading, record: &DeviceDataRecord) -> String {
    let d = &record.device;
    let mut s = format!(
        "status {}, {} error code(s), {} supplies, firmware {}",
        d.printer_status.as_deref().unwrap_or("unknown"),
        d.error_codes.len(),
        d.consumables.len(),
        d.firmware_version
    );
    if let Some(source) = reading.firmware_source {
        s.push_str(&format!(" (from {source})"));
    }
    if let Some(source) = reading.serial_source {
        s.push_str(&format!("; serial number from {source}"));
    }
    if !reading.incomplete.is_empty() {
        s.push_str(&format!("; incomplete: {}", reading.incomplete.join(", ")));
    }
    s
}

/// How many printers a cycle read; an error when it read none (`dc --once` then fails).
pub fn require_some_read(results: &[PollResult]) -> Result<usize, DcError> {
    let read = results.iter().filter(|r| r.outcome.is_ok()).count();
    if read == 0 {
        return Err(DcError::NothingRead {
            tried: results.len(),
        });
    }
    Ok(read)
}

/// Runs futures concurrently and returns their outputs in order (a tiny `join_all`, so as not to
/// take the `futures` crate for one function).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<_>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, out) in futs.iter_mut().zip(outputs.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Remote operations on SNMP printers: `status` is a fresh poll; head cleaning and diagnosis
/// cannot be done over the Printer MIB, so the DC agent reports neither capability.
impl crate::session::Executor for DcAgent {
    fn capabilities(&self) -> Vec<ecsp_protocol::remote_ops::DeviceCapabilities> {
        self.designated
            .iter()
            .map(|p| ecsp_protocol::remote_ops::DeviceCapabilities {
                manufacturer: p.manufacturer.clone(),
                model: p.model.clone(),
                serial_number: p.serial_number.clone(),
                operations: vec![ecsp_protocol::remote_ops::OperationKind::Status],
            })
            .collect()
    }

    fn check(
        &self,
        command: &ecsp_protocol::remote_ops::Command,
    ) -> Result<(), ecsp_protocol::remote_ops::Reason> {
        use ecsp_protocol::remote_ops::{OperationKind, Reason, ReasonCode};
        if !self.designated.iter().any(|p| {
            same_serial(&p.serial_number, &command.serial_number) && p.model == command.model
        }) {
            return Err(Reason {
                code: ReasonCode::UnknownDevice,
                message: Some("this printer is not on the agent's designated list".into()),
            });
        }
        if command.kind != OperationKind::Status {
            return Err(Reason {
                code: ReasonCode::NotSupported,
                message: Some("only status can be read over SNMP".into()),
            });
        }
        Ok(())
    }

    fn execute<'a>(
        &'a self,
        command: &'a ecsp_protocol::remote_ops::Command,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        ecsp_protocol::remote_ops::OperationResult,
                        ecsp_protocol::remote_ops::Reason,
                    >,
                > + Send
                + 'a,
        >,
    > {
        use ecsp_protocol::remote_ops::{
            OperationCounters, OperationResult, Reason, ReasonCode, StatusResult,
        };
        Box::pin(async move {
            let printer = self
                .designated
                .iter()
                .find(|p| same_serial(&p.serial_number, &command.serial_number))
                .ok_or(Reason {
                    code: ReasonCode::UnknownDevice,
                    message: None,
                })?;
            let (reading, record) = self.poll(printer.address).await.map_err(|e| Reason {
                code: match e {
                    DcError::Snmp(_) => ReasonCode::DeviceUnreachable,
                    _ => ReasonCode::DeviceError,
                },
                message: Some(e.to_string().chars().take(256).collect()),
            })?;
            let pages = reading
                .counters
                .iter()
                .find(|c| c.unit == "impressions" || c.unit == "sheets")
                .map(|c| c.count);
            Ok(OperationResult::Status(StatusResult {
                printer_status: record.device.printer_status.unwrap_or_default(),
                error_codes: record.device.error_codes,
                consumables: record.device.consumables,
                counters: OperationCounters {
                    total_pages: pages,
                    ..Default::default()
                },
            }))
        })
    }
}
