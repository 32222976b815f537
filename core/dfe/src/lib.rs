//! DFE readers: what a digital front end writes or pushes (JDF job tickets, JMF signals,
//! job-log CSV exports) turned into the PC application's DFE upload ([`DfeCapture`]).
//!
//! Two layers, so the parsing can be tested and benchmarked without files or sockets:
//! - parsing, no I/O: [`read`] takes a name and bytes and returns the captures, or a
//!   [`ReadError`] naming the file, the line or element, and what was expected. Size, depth
//!   and element-count limits, and a DOCTYPE declaring entities is refused. One bad optional
//!   value (a malformed time in one audit) does not refuse a ticket: it is left out with a
//!   [`ReadWarning`] ([`read_all`]).
//! - I/O: [`Ingest`] (read, capture through the client core, remember the content hash so a
//!   file seen twice makes one record), the [`hot_folder`] watcher and the JMF [`receiver`].
//!
//! Whether the job part is sent follows consent in the client core (`capture_dfe` withholds it
//! without `job_info`); user and document names are personal data, so nothing here logs a
//! name — logs name files by a content hash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod collector;
mod error;
pub mod hot_folder;
mod ingest;
mod jdf;
pub mod jmf;
pub mod joblog;
mod ledger;
pub mod receiver;
#[cfg(test)]
mod tests;
mod values;
mod xml;

pub use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::SoftwareVersion;
pub use error::{Location, ReadError, ReadErrorKind, ReadWarning};
pub use ingest::{Ingest, IngestError, Ingested};
pub use jmf::DeviceState;
pub use joblog::{ColumnMapping, Columns, known_column_sets};
pub use ledger::Ledger;
use uuid::Uuid;

/// Bounds on what is read. A file past `max_file_bytes` is refused before it is read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_depth: usize,
    pub max_elements: usize,
    /// Attributes on one element (JDF's richest elements have a few dozen).
    pub max_attributes_per_element: usize,
    /// Attributes in the whole document.
    pub max_attributes: usize,
}

impl Default for Limits {
    /// 32 MiB: real tickets and job logs are kilobytes to a few megabytes; a JDF with a whole
    /// layout inlined stays well below this.
    fn default() -> Self {
        Self {
            max_file_bytes: 32 * 1024 * 1024,
            max_depth: 128,
            max_elements: 500_000,
            max_attributes_per_element: 1_000,
            max_attributes: 2_000_000,
        }
    }
}

/// What reading needs besides the bytes.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The printer this DFE drives (as registered on the server).
    pub device_id: Uuid,
    /// The DFE software, for files that do not name it.
    pub software: Option<SoftwareVersion>,
    /// A job-log column mapping for DFEs whose export is not a known column set.
    pub mapping: Option<ColumnMapping>,
    pub limits: Limits,
}

impl ReadOptions {
    pub fn new(device_id: Uuid) -> Self {
        Self {
            device_id,
            software: None,
            mapping: None,
            limits: Limits::default(),
        }
    }
}

/// The formats read, told apart by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Jdf,
    Jmf,
    JobLog,
}

/// Which format `bytes` are: XML with a `<JDF>` or `<JMF>` root, text that may be a CSV job
/// log, or neither (`None`: binary data, or text without a delimited header line).
fn sniff(bytes: &[u8]) -> Option<Format> {
    let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = &start[..start.len().min(4096)];
    let first = start.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'<') {
        let text = String::from_utf8_lossy(start);
        return Some(if text.contains("<JMF") || text.contains(":JMF") {
            Format::Jmf
        } else {
            Format::Jdf
        });
    }
    joblog::looks_like_csv(start).then_some(Format::JobLog)
}

/// What one file or message holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Reading {
    /// DFE uploads: one per ticket, per job of a JMF message, per job-log row.
    pub captures: Vec<DfeCapture>,
    /// Device states from JMF `Status` messages without a job (a device down with a paper
    /// jam): device data, not a DFE upload.
    pub device_states: Vec<DeviceState>,
    /// Values left out, each with where and why; the rest was read.
    pub warnings: Vec<ReadWarning>,
}

/// Reads a JDF ticket, a JMF document or a job log into the captures it would upload: one for
/// a ticket, one per job for JMF, one per row for a job log; device states a JMF reports
/// without a job; and warnings for optional values left out. A file that cannot be read at
/// all is an error; nothing is half-read.
pub fn read_all(file: &str, bytes: &[u8], options: &ReadOptions) -> Result<Reading, ReadError> {
    if bytes.len() as u64 > options.limits.max_file_bytes {
        return Err(too_large(file, bytes.len() as u64, &options.limits));
    }
    match sniff(bytes) {
        None => Err(ReadError::new(
            file,
            ReadErrorKind::Unsupported,
            "neither XML (a JDF ticket or a JMF message) nor a job-log CSV export: the content does not start with `<` and is not delimited text",
        )),
        Some(Format::JobLog) => Ok(Reading {
            captures: joblog::read(file, bytes, options)?,
            ..Reading::default()
        }),
        Some(Format::Jdf | Format::Jmf) => {
            let root = xml::parse(file, bytes, &options.limits)?;
            let notes = values::Notes::new(file);
            let mut reading = match root.name.as_str() {
                "JDF" => Reading {
                    captures: vec![jdf::read(file, &root, options, &notes)?],
                    ..Reading::default()
                },
                "JMF" => jmf::read(file, &root, options, &notes)?,
                other => {
                    return Err(ReadError::new(
                        file,
                        ReadErrorKind::Unsupported,
                        format!("the root element is <{other}>, expected <JDF> or <JMF>"),
                    )
                    .at(root.location()));
                }
            };
            reading.warnings = notes.into_warnings();
            Ok(reading)
        }
    }
}

/// [`read_all`] for a JMF document already parsed into `root` (the receiver parses a body once
/// and needs the message ids for its answer).
pub(crate) fn read_jmf_root(
    file: &str,
    root: &xml::Element,
    options: &ReadOptions,
) -> Result<Reading, ReadError> {
    let notes = values::Notes::new(file);
    let mut reading = jmf::read(file, root, options, &notes)?;
    reading.warnings = notes.into_warnings();
    Ok(reading)
}

/// The DFE uploads of [`read_all`] alone (device states and warnings left aside).
pub fn read(file: &str, bytes: &[u8], options: &ReadOptions) -> Result<Vec<DfeCapture>, ReadError> {
    read_all(file, bytes, options).map(|r| r.captures)
}

pub(crate) fn too_large(file: &str, len: u64, limits: &Limits) -> ReadError {
    ReadError::new(
        file,
        ReadErrorKind::TooLarge,
        format!(
            "{len} bytes, more than the {} bytes read from one file",
            limits.max_file_bytes
        ),
    )
}

/// A JDF `Resolution` XY pair as the protocol's dpi pair (50 to 9600 each); anything else is
/// a warning and no resolution.
pub(crate) fn checked_resolution(
    notes: &values::Notes<'_>,
    value: &str,
    at: &xml::Element,
) -> Option<[u32; 2]> {
    let dpi = values::parse_xy(value)
        .filter(|[x, y]| (50.0..=9600.0).contains(x) && (50.0..=9600.0).contains(y))
        .map(|[x, y]| [x.round() as u32, y.round() as u32]);
    if dpi.is_none() {
        notes.warn(
            at,
            "Resolution",
            "Resolution is not two numbers of dots per inch between 50 and 9600",
        );
    }
    dpi
}
