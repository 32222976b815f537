//! `ecsp upload measurement chart.cgats|chart.cxf`: a chart file as measurement records. The
//! samples come from `ecsp_color::samples` (what the file says, never a default); what an upload
//! needs and a chart file does not carry (the instrument's serial and firmware, the paper, the
//! printing condition) comes from options, and the error lists every one that is missing.

use std::path::Path;

use clap::Args;
use ecsp_client::EcspError;
use ecsp_client::capture::MeasurementCapture;
use ecsp_protocol::common::SoftwareVersion;
use ecsp_protocol::measurement::{InstrumentAttributes, MeasurementSettings};
use uuid::Uuid;

/// What a chart file does not say about its measurement.
#[derive(Debug, Clone, Default, Args)]
pub struct ChartArgs {
    /// Charts: one record per patch instead of one record for the whole chart.
    #[arg(long)]
    per_patch: bool,
    /// Charts: the software that measured, "NAME VERSION" (default: the file's ORIGINATOR).
    #[arg(long)]
    software: Option<String>,
    /// Charts: the instrument's maker.
    #[arg(long)]
    instrument_maker: Option<String>,
    /// Charts: the instrument's model (default: the file's INSTRUMENTATION).
    #[arg(long)]
    instrument_model: Option<String>,
    /// Charts: the instrument's serial number (default: the file's INSTRUMENT_SERIAL).
    #[arg(long)]
    instrument_serial: Option<String>,
    /// Charts: the instrument's firmware version.
    #[arg(long)]
    instrument_firmware: Option<String>,
    /// Charts: the paper (substrate) measured.
    #[arg(long)]
    paper: Option<String>,
    /// Charts: the printing condition, e.g. FOGRA51 (default: the file's PRINT_CONDITIONS).
    #[arg(long)]
    printing_condition: Option<String>,
}

/// Whether `bytes` look like a chart file (CGATS or CxF) rather than a JSON measurement.
pub fn is_chart(path: &Path, bytes: &[u8]) -> bool {
    let json_by_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    !json_by_name && first != Some(&b'{')
}

/// "i1Profiler 3.8.1" → ("i1Profiler", "3.8.1"): the last word when it starts with a digit.
pub(crate) fn split_software(text: &str) -> Option<SoftwareVersion> {
    let text = text.trim();
    let (name, version) = text.rsplit_once(' ')?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| SoftwareVersion {
            name: name.trim().to_owned(),
            version: version.to_owned(),
            vendor: None,
        })
}

fn keyword<'a>(d: &'a ecsp_color::dataset::Dataset, names: &[&str]) -> Option<&'a str> {
    d.meta
        .keywords
        .iter()
        .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// The measurement records of a chart file, for `device`.
pub fn captures(
    path: &Path,
    bytes: &[u8],
    device: Uuid,
    args: &ChartArgs,
) -> Result<Vec<MeasurementCapture>, EcspError> {
    let refused = |message: String| EcspError::bad_file(path, None, None, &message);
    let dataset =
        ecsp_color::dataset::Dataset::from_bytes(bytes).map_err(|e| refused(e.to_string()))?;
    for w in &dataset.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    let samples =
        ecsp_color::samples::measurement_samples(&dataset).map_err(|e| refused(e.to_string()))?;

    let mut missing = Vec::new();
    let mut need = |value: Option<String>, what: &str| {
        if value.is_none() {
            missing.push(what.to_owned());
        }
        value.unwrap_or_default()
    };
    let software_text = args
        .software
        .clone()
        .or_else(|| dataset.meta.originator.clone());
    let software = software_text.as_deref().and_then(split_software);
    if software.is_none() {
        need(
            None,
            "the software and its version (--software \"NAME VERSION\")",
        );
    }
    let instrument = InstrumentAttributes {
        manufacturer: args.instrument_maker.clone(),
        model: need(
            args.instrument_model
                .clone()
                .or_else(|| dataset.meta.conditions.instrument_model.clone()),
            "the instrument's model (--instrument-model)",
        ),
        serial_number: need(
            args.instrument_serial
                .clone()
                .or_else(|| dataset.meta.conditions.instrument_serial.clone()),
            "the instrument's serial number (--instrument-serial)",
        ),
        firmware_version: need(
            args.instrument_firmware.clone(),
            "the instrument's firmware version (--instrument-firmware)",
        ),
    };
    let settings = MeasurementSettings {
        paper: need(args.paper.clone(), "the paper (--paper)"),
        printing_condition: need(
            args.printing_condition.clone().or_else(|| {
                keyword(&dataset, &["PRINT_CONDITIONS", "PRINTING_CONDITION"]).map(str::to_owned)
            }),
            "the printing condition (--printing-condition)",
        ),
        print_mode: None,
    };
    if !missing.is_empty() {
        return Err(refused(format!(
            "a measurement upload needs what this chart file does not say: {}",
            missing.join(", ")
        )));
    }
    let software = software.unwrap_or_else(|| SoftwareVersion {
        name: String::new(),
        version: String::new(),
        vendor: None,
    });
    let record = |samples| MeasurementCapture {
        device_id: device,
        software: software.clone(),
        environment: None,
        instrument: instrument.clone(),
        maintenance: None,
        settings: settings.clone(),
        samples,
        gps: None,
        photos: Vec::new(),
        record_id: None,
        captured_at: None,
    };
    if args.per_patch {
        Ok(samples.into_iter().map(|s| record(vec![s])).collect())
    } else {
        let chunks = samples
            .chunks(ecsp_protocol::limits::SAMPLES_PER_MEASUREMENT)
            .map(|c| record(c.to_vec()))
            .collect();
        Ok(chunks)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_software_line_splits_at_its_version() {
        let s = split_software("i1Profiler 3.8.1").unwrap();
        assert_eq!(
            (s.name.as_str(), s.version.as_str()),
            ("i1Profiler", "3.8.1")
        );
        assert!(split_software("ColorPort").is_none());
        assert!(split_software("Some Tool beta").is_none());
    }

    #[test]
    fn json_and_charts_are_told_apart() {
        assert!(!is_chart(Path::new("m.json"), b"CGATS.17"));
        assert!(!is_chart(Path::new("m.txt"), b"  {\"device_id\": 1}"));
        assert!(is_chart(Path::new("m.txt"), b"CGATS.17\n"));
        assert!(is_chart(Path::new("m.cxf"), b"<?xml version"));
    }
}
