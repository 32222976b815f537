//! DFE job-log CSV exports. Each known export is a column set: which header holds which part of
//! the job. A mapping file (JSON, the same shape) describes any other DFE's export. One row is
//! one job, one record.
//!
//! The known sets are look-alikes written from the vendors' documentation of what a job log
//! holds (Fiery: user, document, date and time, pages; PRISMAsync accounting: job, user,
//! account, times, sheets, media), not copies of real exports: none could be found under a
//! licence this repository can carry. A real export whose headers differ is read through a
//! mapping file.

use std::collections::BTreeMap;

use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::{Settings, SoftwareVersion};
use ecsp_protocol::dfe::{JobInformation, PrintSettings};
use serde::{Deserialize, Serialize};

use crate::ReadOptions;
use crate::error::{Location, ReadError, ReadErrorKind, Result};
use crate::values::{parse_count, parse_time, rendering_intent, setting, status};

/// One or more headers whose values are joined with a space (a date column and a time column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Columns {
    One(String),
    Joined(Vec<String>),
}

impl Columns {
    fn headers(&self) -> Vec<&str> {
        match self {
            Columns::One(h) => vec![h.as_str()],
            Columns::Joined(hs) => hs.iter().map(String::as_str).collect(),
        }
    }
}

/// Which headers hold which part of a job, for one DFE's job-log export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// Shown in messages (`Fiery job log`).
    pub name: String,
    /// The DFE software, when no column names it.
    #[serde(default)]
    pub software: Option<SoftwareVersion>,
    /// A column holding the DFE software's version (its name is `software.name`).
    #[serde(default)]
    pub software_version: Option<String>,
    /// `,` `;` or a tab; sniffed from the header line when absent.
    #[serde(default)]
    pub delimiter: Option<char>,
    /// A chrono format for the time columns; common formats are tried when absent. Times
    /// without an offset are this machine's local time.
    #[serde(default)]
    pub time_format: Option<String>,
    pub job_id: Columns,
    #[serde(default)]
    pub job_name: Option<Columns>,
    #[serde(default)]
    pub user_name: Option<Columns>,
    #[serde(default)]
    pub document_name: Option<Columns>,
    #[serde(default)]
    pub submitted_at: Option<Columns>,
    #[serde(default)]
    pub printed_at: Option<Columns>,
    #[serde(default)]
    pub status: Option<Columns>,
    #[serde(default)]
    pub copies: Option<Columns>,
    #[serde(default)]
    pub pages: Option<Columns>,
    #[serde(default)]
    pub media_name: Option<Columns>,
    #[serde(default)]
    pub preset_name: Option<Columns>,
    #[serde(default)]
    pub output_profile: Option<Columns>,
    #[serde(default)]
    pub rendering_intent: Option<Columns>,
    /// Other columns copied into the print settings' `values` under their header.
    #[serde(default)]
    pub settings: Vec<String>,
}

impl ColumnMapping {
    /// Every header the mapping needs (the settings columns are optional).
    fn required(&self) -> Vec<&str> {
        let mut out = self.job_id.headers();
        for c in [
            &self.job_name,
            &self.user_name,
            &self.document_name,
            &self.submitted_at,
            &self.printed_at,
            &self.status,
            &self.copies,
            &self.pages,
            &self.media_name,
            &self.preset_name,
            &self.output_profile,
            &self.rendering_intent,
        ]
        .into_iter()
        .flatten()
        {
            out.extend(c.headers());
        }
        out.extend(self.software_version.as_deref());
        out
    }
}

fn one(h: &str) -> Columns {
    Columns::One(h.to_owned())
}

/// The job-log exports read without a mapping file.
pub fn known_column_sets() -> Vec<ColumnMapping> {
    vec![
        ColumnMapping {
            name: "Fiery job log".into(),
            software: None,
            software_version: Some("Server Version".into()),
            delimiter: Some(','),
            time_format: None,
            job_id: one("Job ID"),
            job_name: None,
            user_name: Some(one("User Name")),
            document_name: Some(one("Document Name")),
            submitted_at: None,
            printed_at: Some(Columns::Joined(vec!["Date".into(), "Time".into()])),
            status: Some(one("Status")),
            copies: Some(one("Copies")),
            pages: Some(one("Pages")),
            media_name: Some(one("Media Type")),
            preset_name: Some(one("Server Preset")),
            output_profile: Some(one("Output Profile")),
            rendering_intent: None,
            settings: vec![
                "Paper Size".into(),
                "Duplex".into(),
                "Color Mode".into(),
                "Color Pages".into(),
                "B/W Pages".into(),
                "Server Name".into(),
            ],
        },
        ColumnMapping {
            name: "PRISMAsync accounting log".into(),
            software: None,
            software_version: Some("Controller Version".into()),
            delimiter: Some(';'),
            time_format: None,
            job_id: one("Job ID"),
            job_name: Some(one("Job Name")),
            user_name: Some(one("User Name")),
            document_name: None,
            submitted_at: Some(Columns::Joined(vec![
                "Submission Date".into(),
                "Submission Time".into(),
            ])),
            printed_at: Some(Columns::Joined(vec![
                "Print End Date".into(),
                "Print End Time".into(),
            ])),
            status: Some(one("Job Status")),
            copies: Some(one("Copies")),
            pages: Some(one("Pages")),
            media_name: Some(one("Media Name")),
            preset_name: None,
            output_profile: None,
            rendering_intent: None,
            settings: vec![
                "Account".into(),
                "Sheets".into(),
                "Media Size".into(),
                "Media Weight".into(),
                "Print Mode".into(),
                "Printer".into(),
            ],
        },
    ]
}

/// The software name a known set stands for (the version comes from its column).
fn software_name(set: &str) -> &str {
    match set {
        "Fiery job log" => "Fiery",
        "PRISMAsync accounting log" => "PRISMAsync",
        other => other,
    }
}

/// Whether the start of a file may be a job-log export: text (no NUL or other control bytes
/// but tab and line ends; any 8-bit encoding) whose first non-blank line is a header of short
/// column names split by `,` `;` or a tab, and whose next line, if any, is split by it too.
/// Prose (a licence, a note) is not a job log even when a sentence holds a comma.
pub(crate) fn looks_like_csv(start: &[u8]) -> bool {
    if start
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n') || b == 0x7f)
    {
        return false;
    }
    let mut lines = start
        .split(|&b| b == b'\n')
        .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()));
    let Some(header) = lines.next() else {
        return false;
    };
    let Some(delimiter) = [b',', b';', b'\t'].into_iter().find(|d| header.contains(d)) else {
        return false;
    };
    // Column names are short; 64 bytes leaves room for a quoted, multi-byte one.
    header
        .split(|b| *b == delimiter)
        .all(|name| name.len() <= 64)
        && lines.next().is_none_or(|row| row.contains(&delimiter))
}

fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b',')
}

/// Reads a job log with the caller's mapping, or the known set its header matches.
pub(crate) fn read(file: &str, bytes: &[u8], options: &ReadOptions) -> Result<Vec<DfeCapture>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map(std::borrow::Cow::Borrowed)
        .unwrap_or_else(|_| {
            // Windows exports: Windows-1252 (Latin-1 covers what a job log holds).
            std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect())
        });
    let candidates = match &options.mapping {
        Some(m) => vec![m.clone()],
        None => known_column_sets(),
    };
    let sniffed = sniff_delimiter(&text);
    let mut misses = Vec::new();
    for mapping in &candidates {
        let delimiter = mapping.delimiter.map(|c| c as u8).unwrap_or(sniffed);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_owned()).collect(),
            Err(e) => {
                return Err(ReadError::new(
                    file,
                    ReadErrorKind::Malformed,
                    format!("the header line cannot be read: {e}"),
                ));
            }
        };
        let missing: Vec<&str> = mapping
            .required()
            .into_iter()
            .filter(|h| !headers.iter().any(|x| x == h))
            .collect();
        if !missing.is_empty() {
            misses.push(format!("{} lacks {}", mapping.name, quote_list(&missing)));
            continue;
        }
        return rows(file, reader, &headers, mapping, options);
    }
    Err(ReadError::new(
        file,
        ReadErrorKind::Unsupported,
        format!(
            "the columns match no job-log export ({}); describe them in a mapping file (--mapping)",
            misses.join("; ")
        ),
    )
    .at(Location::Row {
        line: 1,
        column: None,
    }))
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rows(
    file: &str,
    mut reader: csv::Reader<&[u8]>,
    headers: &[String],
    mapping: &ColumnMapping,
    options: &ReadOptions,
) -> Result<Vec<DfeCapture>> {
    let index: BTreeMap<&str, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            let message = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("{len} values where the header has {expected_len} columns"),
                _ => format!("the row cannot be read: {e}"),
            };
            ReadError::new(file, ReadErrorKind::Malformed, message)
                .at(Location::Row { line, column: None })
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let get = |c: &Option<Columns>| -> Option<String> {
            let c = c.as_ref()?;
            let joined = c
                .headers()
                .iter()
                .filter_map(|h| record.get(*index.get(h)?))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        };
        let at = |c: &Option<Columns>| Location::Row {
            line,
            column: c.as_ref().map(|c| c.headers().join(" + ")),
        };
        let invalid = |c: &Option<Columns>, what: &str| {
            ReadError::new(file, ReadErrorKind::Invalid, what.to_owned()).at(at(c))
        };
        let time = |c: &Option<Columns>| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
            match get(c) {
                None => Ok(None),
                Some(v) => parse_time(&v, mapping.time_format.as_deref())
                    .map(Some)
                    .ok_or_else(|| {
                        invalid(
                            c,
                            &match &mapping.time_format {
                                Some(f) => format!("not a time in the format `{f}`"),
                                // Forms described, not exemplified: an example date in an error reads
                                // as if it were the file's value.
                                None => "not a date and time in a known form (year-month-day, day.month.year or month/day/year, then hours:minutes and seconds); name the form with the mapping's time_format".into(),
                            },
                        )
                    }),
            }
        };
        let count = |c: &Option<Columns>| -> Result<Option<u32>> {
            match get(c) {
                None => Ok(None),
                Some(v) => parse_count(&v)
                    .map(Some)
                    .ok_or_else(|| invalid(c, "not a whole non-negative number")),
            }
        };
        let job_id_col = Some(mapping.job_id.clone());
        let job_id = get(&job_id_col).ok_or_else(|| invalid(&job_id_col, "the job id is empty"))?;
        let software = match (
            &mapping.software_version,
            &mapping.software,
            &options.software,
        ) {
            (Some(col), _, _) if get(&Some(one(col))).is_some() => SoftwareVersion {
                name: mapping
                    .software
                    .as_ref()
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| software_name(&mapping.name).to_owned()),
                version: get(&Some(one(col))).unwrap_or_default(),
                vendor: mapping.software.as_ref().and_then(|s| s.vendor.clone()),
            },
            (_, Some(s), _) | (_, None, Some(s)) => s.clone(),
            _ => {
                return Err(ReadError::new(
                    file,
                    ReadErrorKind::Missing,
                    format!(
                        "the {} names no software version; give it with --software \"NAME VERSION\"",
                        mapping.name
                    ),
                )
                .at(Location::Row { line, column: mapping.software_version.clone() }));
            }
        };
        let mut values = Settings::new();
        for h in &mapping.settings {
            if let Some(v) = index.get(h.as_str()).and_then(|&i| record.get(i)) {
                if !v.trim().is_empty() {
                    values.insert(h.clone(), setting(v));
                }
            }
        }
        let media_name = get(&mapping.media_name);
        out.push(DfeCapture {
            device_id: options.device_id,
            software,
            environment: None,
            print_settings: PrintSettings {
                preset_name: get(&mapping.preset_name),
                media_name: media_name.clone(),
                resolution_dpi: None,
                output_profile: get(&mapping.output_profile),
                rendering_intent: get(&mapping.rendering_intent)
                    .as_deref()
                    .and_then(rendering_intent),
                values,
            },
            job: Some(JobInformation {
                job_id,
                job_part_id: None,
                job_name: get(&mapping.job_name),
                user_name: get(&mapping.user_name),
                document_name: get(&mapping.document_name),
                submitted_at: time(&mapping.submitted_at)?,
                printed_at: time(&mapping.printed_at)?,
                status: get(&mapping.status).as_deref().and_then(status),
                started_at: None,
                // A job log's copies are the job's copies setting: what was asked for.
                copies: count(&mapping.copies)?,
                copies_produced: None,
                copies_waste: None,
                pages: count(&mapping.pages)?,
                media_name,
                size_mm: None,
                ink_used_ml: None,
                media: Vec::new(),
            }),
        });
    }
    if out.is_empty() {
        return Err(ReadError::new(
            file,
            ReadErrorKind::Missing,
            format!("a {} with a header and no job rows", mapping.name),
        ));
    }
    Ok(out)
}
