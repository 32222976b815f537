//! CGATS.17 (ISO 28178) text files, in the dialects instruments, RIPs and tools write: read and
//! write, with spectral fields.
//!
//! Read:
//! * Text in UTF-8 (with or without a byte-order mark) or, failing that, Latin-1 (Windows-1252);
//!   LF or CRLF line ends; with or without the identifier line (`CGATS.17`, `CTI3`, `IT8.7/2` …).
//! * Spectral fields `SPECTRAL_380`, `SPECTRAL_NM380`, `SPECTRAL_NM_380`, `SPEC_380`, `nm380`,
//!   `R_380`, or the `SPECTRAL_NM`/`SPECTRAL_DEC` (or `SPECTRAL_PCT`) pairs of CGATS.17 where
//!   each row gives wavelength and value; they must form a regular grid. Values may be
//!   reflectance factors or percent: `SPECTRAL_PCT` or Argyll's `SPECTRAL_NORM "100"` say so;
//!   otherwise a file whose largest value exceeds 2 is read as percent, with a warning.
//! * Patch ids from `SAMPLE_ID` (also `SampleID`), else `SAMPLE_LOC`, else `SAMPLE_NAME`.
//! * Several tables (Argyll `.ti3` with its `CAL` table): the first table with spectra, CIELAB
//!   or XYZ is the measurement; the others are kept in [`Dataset::other_tables`]. Argyll
//!   `BEGIN_…`/`END_…` blocks in a header are kept as one keyword.
//! * XYZ without CIELAB: converted with the white of the declared illuminant and observer, or
//!   left without CIELAB (with a warning saying why) when the file does not declare them.
//! * Fields that are not CGATS names are kept as extra columns, with a warning.
//! * Measurement metadata is read, never invented: `MEASUREMENT_CONDITION`, `FILTER` and the
//!   `MeasurementCondition=`/`Filter=` of an X-Rite `MEASUREMENT_SOURCE` (a bare `Filter=No`
//!   does not say M0 or M1, so it stays unknown); `MEASUREMENT_GEOMETRY`, `SAMPLE_BACKING`,
//!   `BANDPASS_CORRECTED` (ISO 13655 data are corrected, so that is assumed when absent);
//!   `ILLUMINATION_NAME`/`ILLUMINANT`, `OBSERVER_ANGLE`/`OBSERVER`, `WEIGHTING_FUNCTION` and
//!   `Illumination=`/`ObserverAngle=` for the stored CIELAB.
//!
//! Tolerated with a warning in [`Dataset::warnings`]: `NUMBER_OF_FIELDS` or `NUMBER_OF_SETS`
//! disagreeing with data that is otherwise consistent, a header value that is free text or
//! unknown (it stays unknown), two header entries that disagree (the first is used), decimal
//! commas (`0,5234`: no CGATS numeric field uses thousands separators, so a comma between digits
//! can only be a decimal mark).
//!
//! Refused, with the line: a data row whose number of values differs from the fields, a value
//! that is not a number, a field named twice, spectral fields that are not a regular grid,
//! duplicate patch ids, an unclosed quote or block, no table with colorimetric data.

use std::collections::HashSet;

use crate::cie::{Illuminant, Observer};
use crate::convert::{Lab, Xyz};
use crate::dataset::{Dataset, Metadata, OtherTable, Patch};
use crate::error::{ColorError, Result};
use crate::spectrum::{
    Backing, Geometry, IlluminationCondition, MeasurementConditions, Spectrum, WavelengthGrid,
};

fn err(line: usize, message: impl Into<String>) -> ColorError {
    ColorError::Cgats {
        line,
        message: message.into(),
    }
}

/// Splits a line into tokens: whitespace-separated, `"quoted strings"` kept whole; returns the
/// text of a `#` comment apart.
fn tokens(line: &str, number: usize) -> Result<(Vec<String>, Option<String>)> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            return Ok((out, Some(line[at + 1..].trim().to_owned())));
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, c)) => s.push(c),
                    None => return Err(err(number, "a quoted string is not closed")),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok((out, None))
}

/// The wavelength of a spectral field name, if it is one (any case).
fn spectral_nm(field: &str) -> Option<u32> {
    let f = field.to_ascii_uppercase();
    let rest = f
        .strip_prefix("SPECTRAL_NM_")
        .or_else(|| f.strip_prefix("SPECTRAL_NM"))
        .or_else(|| f.strip_prefix("SPECTRAL_"))
        .or_else(|| f.strip_prefix("SPEC_"))
        .or_else(|| f.strip_prefix("NM_"))
        .or_else(|| f.strip_prefix("NM"))
        .or_else(|| f.strip_prefix("R_"))?;
    let rest = rest.strip_suffix("NM").unwrap_or(rest);
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok().filter(|nm| (300..=830).contains(nm))
}

/// The CGATS name a field is written for: `SampleID` is `SAMPLE_ID`.
fn canonical_field(field: &str) -> String {
    match field.to_ascii_uppercase().as_str() {
        "SAMPLEID" | "SAMPLE_ID" => "SAMPLE_ID".into(),
        "SAMPLENAME" | "SAMPLE_NAME" => "SAMPLE_NAME".into(),
        "SAMPLELOC" | "SAMPLE_LOC" => "SAMPLE_LOC".into(),
        upper if upper.starts_with("LAB_") || upper.starts_with("XYZ_") => upper.to_owned(),
        _ => field.to_owned(),
    }
}

const STANDARD_FIELDS: &[&str] = &[
    "SAMPLE_ID",
    "SAMPLE_NAME",
    "SAMPLE_LOC",
    "MEAN_DE",
    "CHI_SQD_PAR",
    "STRING",
];
const STANDARD_PREFIXES: &[&str] = &[
    "CMYK_",
    "CMY_",
    "RGB_",
    "XYZ_",
    "XYY_",
    "LAB_",
    "LCH_",
    "D_",
    "STDEV_",
    "SPECTRAL_",
    "SPEC_",
    "HEX_",
];

fn is_standard_field(f: &str) -> bool {
    STANDARD_FIELDS.contains(&f)
        || STANDARD_PREFIXES.iter().any(|p| f.starts_with(p))
        // n-colour fields: 5CLR_1 … FCLR_F, and PC5_1 …
        || f.split_once("CLR_").is_some_and(|(n, _)| n.len() == 1)
        || (f.starts_with("PC") && f.contains('_'))
}

/// One table of a file: header, data format and rows, with the lines they came from.
#[derive(Default)]
struct Table {
    identifier: Option<String>,
    /// (line, keyword, value)
    keywords: Vec<(usize, String, String)>,
    declared: HashSet<String>,
    fields: Vec<String>,
    format_line: usize,
    rows: Vec<(usize, Vec<String>)>,
    declared_fields: Option<(usize, usize)>,
    declared_sets: Option<(usize, usize)>,
}

impl Table {
    fn is_colorimetric(&self) -> bool {
        self.fields.iter().any(|f| {
            let u = f.to_ascii_uppercase();
            spectral_nm(f).is_some()
                || u == "SPECTRAL_DEC"
                || u == "SPECTRAL_PCT"
                || u.starts_with("LAB_")
                || u.starts_with("XYZ_")
        })
    }

    fn into_other(self) -> OtherTable {
        OtherTable {
            identifier: self.identifier,
            keywords: self.keywords.into_iter().map(|(_, k, v)| (k, v)).collect(),
            fields: self.fields,
            rows: self.rows.into_iter().map(|(_, r)| r).collect(),
        }
    }
}

/// Numbers as files write them; decimal commas are read and reported once.
struct Numbers {
    decimal_comma_line: Option<usize>,
}

impl Numbers {
    fn parse(&mut self, token: &str, line: usize, field: &str) -> Result<f64> {
        let v: f64 = match token.parse() {
            Ok(v) => v,
            Err(_) => {
                let comma = token.replacen(',', ".", 1);
                let plain = token.matches(',').count() == 1
                    && !token.contains('.')
                    && token
                        .trim_start_matches(['-', '+'])
                        .split(',')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                match comma.parse() {
                    Ok(v) if plain => {
                        self.decimal_comma_line.get_or_insert(line);
                        v
                    }
                    _ => {
                        return Err(err(
                            line,
                            format!("`{token}` in field {field} is not a number"),
                        ));
                    }
                }
            }
        };
        if !v.is_finite() {
            return Err(err(
                line,
                format!("field {field} is `{token}`, not a finite number"),
            ));
        }
        Ok(v)
    }
}

/// Reads a CGATS file's bytes: UTF-8 (a byte-order mark is skipped), else Latin-1
/// (Windows-1252), which is reported in the warnings.
pub fn parse_bytes(bytes: &[u8]) -> Result<Dataset> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            let mut d = parse(&text)?;
            d.warnings
                .push("the file is not UTF-8; read as Latin-1 (Windows-1252)".into());
            Ok(d)
        }
    }
}

/// Splits the text into tables; a stray `END_DATA` after a table is reported, not refused.
fn tables(text: &str) -> Result<(Vec<Table>, Vec<String>)> {
    let mut warnings = Vec::new();
    #[derive(PartialEq)]
    enum State {
        Header,
        Format,
        AfterFormat,
        Data,
    }
    let mut state = State::Header;
    let mut done: Vec<Table> = Vec::new();
    let mut t = Table::default();
    let mut started = false;
    let mut block: Option<(usize, String, Vec<String>)> = None;
    let mut last_line = 0;
    let mut identifier_line = 0;
    // The counts are redundant with the data: one that is not a number is reported and ignored.
    let count = |toks: &[String], n: usize, warnings: &mut Vec<String>| -> Option<(usize, usize)> {
        let v = toks.get(1).and_then(|t| t.parse().ok());
        if v.is_none() {
            warnings.push(format!(
                "line {n}: {} `{}` is not a whole number; ignored",
                toks[0],
                toks.get(1).map_or("", String::as_str)
            ));
        }
        v.map(|v| (n, v))
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        if let Some((_, name, lines)) = &mut block {
            if raw.trim() == format!("END_{name}") {
                let (_, name, lines) = block.take().unwrap_or_default();
                t.keywords.push((n, name, lines.join("\n")));
            } else {
                lines.push(raw.trim().to_owned());
            }
            continue;
        }
        let (toks, comment) = tokens(raw, n)?;
        if toks.is_empty() {
            continue;
        }
        if !started {
            started = true;
            let key = toks[0].as_str();
            if toks.len() == 1
                && !key.starts_with("BEGIN_")
                && !key.starts_with("END_")
                && !key.contains('=')
                && key != "KEYWORD"
            {
                t.identifier = Some(toks[0].clone());
                identifier_line = n;
                continue; // the file identifier, e.g. "CGATS.17", "CTI3", "IT8.7/2"
            }
        }
        match state {
            State::Header | State::AfterFormat => match toks[0].as_str() {
                "BEGIN_DATA_FORMAT" if state == State::Header => {
                    state = State::Format;
                    t.format_line = n;
                }
                "BEGIN_DATA_FORMAT" => return Err(err(n, "a second BEGIN_DATA_FORMAT")),
                "BEGIN_DATA" if state == State::AfterFormat => state = State::Data,
                "BEGIN_DATA" => {
                    return Err(err(
                        n,
                        "BEGIN_DATA before BEGIN_DATA_FORMAT … END_DATA_FORMAT",
                    ));
                }
                "KEYWORD" => {
                    let name = toks.get(1).ok_or_else(|| err(n, "KEYWORD needs a name"))?;
                    t.declared.insert(name.clone());
                }
                "NUMBER_OF_FIELDS" => t.declared_fields = count(&toks, n, &mut warnings),
                "NUMBER_OF_SETS" => t.declared_sets = count(&toks, n, &mut warnings),
                "END_DATA"
                    if state == State::Header && t.keywords.is_empty() && !done.is_empty() =>
                {
                    warnings.push(format!("line {n}: a second END_DATA; ignored"));
                }
                other if other.starts_with("BEGIN_") && toks.len() == 1 => {
                    // A block of free lines (Argyll: BEGIN_ARGYLL_COLPROF_ARGS … END_…).
                    block = Some((n, other["BEGIN_".len()..].to_owned(), Vec::new()));
                }
                other if other.starts_with("BEGIN_") || other.starts_with("END_") => {
                    return Err(err(n, format!("unexpected {other}")));
                }
                key => {
                    let mut value = toks[1..].join(" ");
                    if key == "CREATED" {
                        if let Some(c) = comment {
                            value = format!("{value} {c}");
                        }
                    }
                    t.keywords.push((n, key.to_owned(), value));
                }
            },
            State::Format => {
                if toks[0] == "END_DATA_FORMAT" {
                    if t.fields.is_empty() {
                        return Err(err(n, "the data format lists no fields"));
                    }
                    state = State::AfterFormat;
                    continue;
                }
                t.fields.extend(toks);
            }
            State::Data => {
                if toks[0] == "END_DATA" {
                    done.push(std::mem::take(&mut t));
                    state = State::Header;
                    started = false;
                    continue;
                }
                if toks.len() != t.fields.len() {
                    return Err(err(
                        n,
                        format!(
                            "{} values where the data format has {} fields",
                            toks.len(),
                            t.fields.len()
                        ),
                    ));
                }
                t.rows.push((n, toks));
            }
        }
    }
    if let Some((line, name, _)) = block {
        return Err(err(
            line,
            format!("BEGIN_{name} is never closed by END_{name}"),
        ));
    }
    match state {
        State::Data => return Err(err(last_line, "the file ends before END_DATA")),
        State::Format | State::AfterFormat if !done.is_empty() => {
            return Err(err(
                t.format_line,
                "a table after the first one is not complete (no BEGIN_DATA … END_DATA)",
            ));
        }
        _ if done.is_empty() => {
            return Err(err(
                last_line,
                "the file has no complete BEGIN_DATA_FORMAT … BEGIN_DATA … END_DATA (is it a CGATS file?)",
            ));
        }
        _ => {}
    }
    // Header lines after the last table, with no table of their own: kept with the last table.
    if started {
        if let Some(last) = done.last_mut() {
            if let Some(id) = t.identifier.take() {
                t.keywords.insert(0, (identifier_line, id, String::new()));
            }
            if let Some((line, ..)) = t.keywords.first() {
                warnings.push(format!(
                    "line {line}: header lines after the last table, with no data; kept as keywords"
                ));
            }
            last.keywords.append(&mut t.keywords);
        }
    }
    Ok((done, warnings))
}

/// Reads a CGATS.17 file's text.
pub fn parse(text: &str) -> Result<Dataset> {
    let (mut all, mut table_warnings) = tables(text)?;
    let Some(pick) = all.iter().position(Table::is_colorimetric) else {
        let what: Vec<String> = all
            .iter()
            .map(|t| {
                format!(
                    "{} ({})",
                    t.identifier.as_deref().unwrap_or("a table"),
                    t.fields.join(" ")
                )
            })
            .collect();
        return Err(err(
            all.first().map_or(1, |t| t.format_line),
            format!(
                "no table with spectra, CIELAB (LAB_L …) or XYZ (XYZ_X …): {}",
                what.join("; ")
            ),
        ));
    };
    let table = all.remove(pick);
    let mut d = build(table)?;
    d.warnings.append(&mut table_warnings);
    d.other_tables = all.into_iter().map(Table::into_other).collect();
    Ok(d)
}

/// Spectral columns: (column, nm) for named fields, or the `SPECTRAL_NM`/`SPECTRAL_DEC` pairs.
enum SpectralLayout {
    None,
    Named(Vec<(usize, u32)>),
    /// (wavelength column, value column) per band.
    Pairs(Vec<(usize, usize)>),
}

fn build(table: Table) -> Result<Dataset> {
    let Table {
        identifier,
        keywords,
        declared,
        fields: raw_fields,
        format_line,
        rows,
        declared_fields,
        declared_sets,
    } = table;
    let mut warnings = Vec::new();
    let fields: Vec<String> = raw_fields.iter().map(|f| canonical_field(f)).collect();
    // Field checks: duplicates (but the pair layout), non-CGATS names.
    let upper: Vec<String> = fields.iter().map(|f| f.to_ascii_uppercase()).collect();
    let pair_value = |u: &str| u == "SPECTRAL_DEC" || u == "SPECTRAL_PCT";
    let mut seen = HashSet::new();
    let mut unknown = Vec::new();
    for (i, (f, u)) in fields.iter().zip(&upper).enumerate() {
        if u != "SPECTRAL_NM" && !pair_value(u) && !seen.insert(u.clone()) {
            return Err(err(format_line, format!("field `{f}` appears twice")));
        }
        let declared_here = declared.contains(f) || declared.contains(&raw_fields[i]);
        if !is_standard_field(f) && spectral_nm(f).is_none() && !declared_here {
            unknown.push(raw_fields[i].clone());
        }
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "line {format_line}: {}; kept as extra columns",
            quote_list(
                &unknown,
                "is not a CGATS field name",
                "are not CGATS field names"
            )
        ));
    }
    if let Some((l, n)) = declared_fields {
        if n != fields.len() {
            warnings.push(format!(
                "line {l}: NUMBER_OF_FIELDS says {n}, the data format lists {}; the data format is used",
                fields.len()
            ));
        }
    }
    if let Some((l, n)) = declared_sets {
        if n != rows.len() {
            warnings.push(format!(
                "line {l}: NUMBER_OF_SETS says {n}, the data has {} rows; all rows are read",
                rows.len()
            ));
        }
    }
    let mut numbers = Numbers {
        decimal_comma_line: None,
    };
    // The spectral layout and grid.
    let nm_cols: Vec<usize> = (0..fields.len())
        .filter(|&i| upper[i] == "SPECTRAL_NM")
        .collect();
    let value_cols: Vec<usize> = (0..fields.len())
        .filter(|&i| pair_value(&upper[i]))
        .collect();
    let named: Vec<(usize, u32)> = fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| spectral_nm(f).map(|nm| (i, nm)))
        .collect();
    let (layout, wavelengths) = if !nm_cols.is_empty() || !value_cols.is_empty() {
        if !named.is_empty() {
            return Err(err(
                format_line,
                "both SPECTRAL_NM/SPECTRAL_DEC pairs and named spectral fields; which is the spectrum?",
            ));
        }
        if nm_cols.len() != value_cols.len()
            || nm_cols.iter().zip(&value_cols).any(|(n, v)| v != &(n + 1))
        {
            return Err(err(
                format_line,
                "SPECTRAL_NM and SPECTRAL_DEC (or SPECTRAL_PCT) must come in pairs, wavelength first",
            ));
        }
        let first = rows
            .first()
            .ok_or_else(|| err(format_line, "the data has no rows"))?;
        let mut nms = Vec::new();
        for &c in &nm_cols {
            let v = numbers.parse(&first.1[c], first.0, "SPECTRAL_NM")?;
            if v.fract() != 0.0 || !(300.0..=830.0).contains(&v) {
                return Err(err(
                    first.0,
                    format!("SPECTRAL_NM `{}` is not a wavelength in nm", first.1[c]),
                ));
            }
            nms.push(v as u32);
        }
        (
            SpectralLayout::Pairs(nm_cols.into_iter().zip(value_cols).collect()),
            nms,
        )
    } else if named.is_empty() {
        (SpectralLayout::None, Vec::new())
    } else {
        let nms = named.iter().map(|(_, nm)| *nm).collect();
        (SpectralLayout::Named(named), nms)
    };
    let grid = if wavelengths.is_empty() {
        None
    } else {
        if wavelengths.len() < 3 {
            return Err(err(format_line, "fewer than 3 spectral bands"));
        }
        let start = wavelengths[0];
        let step = wavelengths[1].saturating_sub(start);
        for (k, nm) in wavelengths.iter().enumerate() {
            let expected = start + step * k as u32;
            if *nm != expected {
                return Err(err(
                    format_line,
                    format!(
                        "the spectral fields are not a regular grid: expected {expected} nm, found {nm} nm (a missing or misplaced band)"
                    ),
                ));
            }
        }
        Some(
            WavelengthGrid::new(start, step, wavelengths.len())
                .map_err(|e| err(format_line, e.to_string()))?,
        )
    };
    let value_columns: Vec<usize> = match &layout {
        SpectralLayout::None => Vec::new(),
        SpectralLayout::Named(v) => v.iter().map(|(i, _)| *i).collect(),
        SpectralLayout::Pairs(v) => v.iter().map(|(_, i)| *i).collect(),
    };
    // Percent or factor: SPECTRAL_PCT, Argyll's SPECTRAL_NORM, else the values themselves (a
    // reflectance factor above 2 is not plausible), which is then said.
    let declared_norm = keywords
        .iter()
        .find(|(_, k, _)| k == "SPECTRAL_NORM")
        .and_then(|(_, _, v)| v.trim().parse::<f64>().ok());
    let percent = match (&layout, declared_norm) {
        (SpectralLayout::Pairs(p), _) => upper[p[0].1] == "SPECTRAL_PCT",
        (_, Some(norm)) => (norm - 100.0).abs() < 1e-9,
        _ => {
            let above = grid.is_some()
                && rows.iter().any(|(_, r)| {
                    value_columns.iter().any(|i| {
                        r[*i]
                            .replace(',', ".")
                            .parse::<f64>()
                            .is_ok_and(|v| v > crate::spectrum::MAX_REFLECTANCE)
                    })
                });
            if above {
                warnings.push(
                    "spectral values above 2: read as percent (the file does not say)".into(),
                );
            }
            above
        }
    };
    let idx = |name: &str| fields.iter().position(|f| f == name);
    let (id_col, name_col, loc_col) = (idx("SAMPLE_ID"), idx("SAMPLE_NAME"), idx("SAMPLE_LOC"));
    let triple = |a: &str, b: &str, c: &str, what: &str| -> Result<Option<(usize, usize, usize)>> {
        match (idx(a), idx(b), idx(c)) {
            (Some(x), Some(y), Some(z)) => Ok(Some((x, y, z))),
            (None, None, None) => Ok(None),
            _ => Err(err(
                format_line,
                format!("{a}, {b} and {c} must come together ({what})"),
            )),
        }
    };
    let lab_cols = triple("LAB_L", "LAB_A", "LAB_B", "CIELAB")?;
    let xyz_cols = triple("XYZ_X", "XYZ_Y", "XYZ_Z", "XYZ")?;
    let (mut meta, mut meta_warnings) = metadata(&keywords);
    warnings.append(&mut meta_warnings);
    if let Some(id) = identifier {
        meta.keywords.insert(0, ("FILE_IDENTIFIER".into(), id));
    }
    if percent {
        meta.keywords
            .push(("SPECTRAL_SCALE".into(), "PERCENT".into()));
    }
    // Which column names the patch.
    let (key_col, key_name) = match (id_col, loc_col, name_col) {
        (Some(c), _, _) => (Some(c), "SAMPLE_ID"),
        (None, Some(c), _) => (Some(c), "SAMPLE_LOC"),
        (None, None, Some(c)) => (Some(c), "SAMPLE_NAME"),
        _ => (None, ""),
    };
    let display_name_col = match key_name {
        "SAMPLE_ID" => name_col.or(loc_col),
        "SAMPLE_LOC" => name_col,
        _ => None,
    };
    if key_col.is_none() {
        warnings
            .push("no SAMPLE_ID, SAMPLE_LOC or SAMPLE_NAME: patches are numbered by row".into());
    }
    let skip: HashSet<usize> = value_columns
        .iter()
        .copied()
        .chain(match &layout {
            SpectralLayout::Pairs(p) => p.iter().map(|(n, _)| *n).collect(),
            _ => Vec::new(),
        })
        .chain(key_col)
        .chain(display_name_col)
        .chain(lab_cols.into_iter().flat_map(|(l, a, b)| [l, a, b]))
        .collect();
    // XYZ without CIELAB: the white of the declared illuminant/observer.
    let xyz_white = match (xyz_cols, lab_cols, grid) {
        (Some(_), None, None) => match (meta.lab_illuminant, meta.lab_observer) {
            (Some(i), Some(o)) => match crate::weights::white_point(i, o) {
                Ok(w) => Some(w),
                Err(e) => {
                    warnings.push(format!("XYZ only, and {e}; no CIELAB"));
                    None
                }
            },
            _ => {
                warnings.push(
                    "XYZ only, and the file does not say for which illuminant and observer: CIELAB is not computed".into(),
                );
                None
            }
        },
        _ => None,
    };
    let xyz_scale = xyz_cols.map_or(1.0, |(_, y, _)| {
        let largest = rows
            .iter()
            .filter_map(|(_, r)| r[y].replace(',', ".").parse::<f64>().ok())
            .fold(0.0f64, f64::max);
        if largest <= 2.0 { 100.0 } else { 1.0 }
    });
    if xyz_white.is_some() && xyz_scale != 1.0 {
        warnings.push(
            "XYZ values are all 2 or less: read as relative to 1 (scaled by 100 for CIELAB)".into(),
        );
    }
    let mut patches = Vec::with_capacity(rows.len());
    let mut seen_ids = HashSet::new();
    for (k, (n, row)) in rows.iter().enumerate() {
        let id = key_col.map_or_else(|| (k + 1).to_string(), |c| row[c].clone());
        if !seen_ids.insert(id.clone()) {
            return Err(err(*n, format!("{key_name} `{id}` appears twice")));
        }
        let spectrum = match grid {
            Some(g) => {
                if let SpectralLayout::Pairs(p) = &layout {
                    for (band, (c, _)) in p.iter().enumerate() {
                        let nm = numbers.parse(&row[*c], *n, "SPECTRAL_NM")?;
                        if (nm - f64::from(g.wavelength(band))).abs() > 1e-9 {
                            return Err(err(
                                *n,
                                format!(
                                    "SPECTRAL_NM is {nm} nm where the first row has {} nm; every row must use the same wavelengths",
                                    g.wavelength(band)
                                ),
                            ));
                        }
                    }
                }
                let mut values = Vec::with_capacity(g.bands);
                for i in &value_columns {
                    let v = numbers.parse(&row[*i], *n, &fields[*i])?;
                    values.push(if percent { v / 100.0 } else { v });
                }
                Some(Spectrum::new(g, values).map_err(|e| err(*n, format!("patch {id}: {e}")))?)
            }
            None => None,
        };
        let lab = match (lab_cols, xyz_cols, xyz_white) {
            (Some((l, a, b)), _, _) => Some(Lab {
                l: numbers.parse(&row[l], *n, "LAB_L")?,
                a: numbers.parse(&row[a], *n, "LAB_A")?,
                b: numbers.parse(&row[b], *n, "LAB_B")?,
            }),
            (None, Some((x, y, z)), Some(white)) => {
                let xyz = Xyz {
                    x: numbers.parse(&row[x], *n, "XYZ_X")? * xyz_scale,
                    y: numbers.parse(&row[y], *n, "XYZ_Y")? * xyz_scale,
                    z: numbers.parse(&row[z], *n, "XYZ_Z")? * xyz_scale,
                };
                Some(xyz.to_lab(white))
            }
            _ => None,
        };
        let extra = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip.contains(i))
            .map(|(i, f)| (f.clone(), row[i].clone()))
            .collect();
        patches.push(Patch {
            id,
            name: display_name_col.map(|c| row[c].clone()),
            spectrum,
            lab,
            extra,
        });
    }
    if xyz_white.is_some() {
        warnings.push(format!(
            "CIELAB computed from XYZ with the white of {}/{}",
            meta.lab_illuminant.map_or("?".into(), |i| i.to_string()),
            meta.lab_observer.map_or("?".into(), |o| o.to_string())
        ));
    }
    if let Some(l) = numbers.decimal_comma_line {
        warnings.push(format!(
            "line {l}: decimal commas (`0,5`) read as decimal points"
        ));
    }
    Ok(Dataset {
        meta,
        patches,
        warnings,
        other_tables: Vec::new(),
    })
}

fn quote_list(items: &[String], one: &str, many: &str) -> String {
    let list: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    format!(
        "{} {}",
        list.join(", "),
        if items.len() == 1 { one } else { many }
    )
}

/// `Key=Value` pairs of an X-Rite style `MEASUREMENT_SOURCE`.
fn source_pairs(s: &str) -> Vec<(String, String)> {
    s.split(|c: char| c.is_whitespace() || c == ';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_end_matches('°').to_owned()))
        .collect()
}

/// What a filter name says about the ISO 13655 condition; `None` when it says nothing (a bare
/// "no filter" is M0 on a tungsten instrument and M1 on a D50-LED one).
fn filter_to_condition(v: &str) -> Option<IlluminationCondition> {
    IlluminationCondition::parse(v).or(match v.trim().to_ascii_lowercase().as_str() {
        "d50" => Some(IlluminationCondition::M1),
        "uvcut" | "uv-cut" | "uvex" | "uv cut" => Some(IlluminationCondition::M2),
        "pol" | "polarized" | "polarised" | "polarizer" | "polariser" => {
            Some(IlluminationCondition::M3)
        }
        _ => None,
    })
}

/// An M-condition stated as a word in free text ("ISO 13655 - Reflection, M1").
fn condition_in_text(v: &str) -> Option<IlluminationCondition> {
    let found: Vec<IlluminationCondition> = v
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(IlluminationCondition::parse)
        .collect();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Sets a header fact once; a later source that disagrees is reported, not used.
fn settle<T: PartialEq + Copy + std::fmt::Display>(
    slot: &mut Option<(T, String)>,
    value: T,
    source: String,
    warnings: &mut Vec<String>,
) {
    match slot {
        None => *slot = Some((value, source)),
        Some((v, first)) if *v != value => warnings.push(format!(
            "{source} says {value} but {first} says {v}; {v} is used"
        )),
        Some(_) => {}
    }
}

fn metadata(keywords: &[(usize, String, String)]) -> (Metadata, Vec<String>) {
    let mut w = Vec::new();
    let mut meta = Metadata {
        conditions: MeasurementConditions {
            bandpass_corrected: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut condition: Option<(IlluminationCondition, String)> = None;
    let mut geometry: Option<(Geometry, String)> = None;
    let mut illuminant: Option<(Illuminant, String)> = None;
    let mut observer: Option<(Observer, String)> = None;
    for (line, k, v) in keywords {
        let at = |what: &str| format!("line {line}: {what}");
        let source = at(&format!("{k} `{v}`"));
        let mut keep = false;
        match k.to_ascii_uppercase().as_str() {
            key @ ("ORIGINATOR" | "DESCRIPTOR" | "CREATED") => {
                let slot = match key {
                    "ORIGINATOR" => &mut meta.originator,
                    "DESCRIPTOR" => &mut meta.descriptor,
                    _ => &mut meta.created,
                };
                if let Some(earlier) = slot.replace(v.clone()) {
                    if &earlier != v {
                        // Barbieri writes the chart's CREATED, then the measurement's.
                        w.push(format!(
                            "{source}: {key} appears twice (`{earlier}` first); the last is used"
                        ));
                    }
                }
            }
            "INSTRUMENTATION" | "INSTRUMENT" | "INSTRUMENT_TYPE" => {
                if meta.conditions.instrument_model.is_none() {
                    meta.conditions.instrument_model = Some(v.clone());
                } else {
                    keep = true;
                }
            }
            "INSTRUMENT_SERIAL" => meta.conditions.instrument_serial = Some(v.clone()),
            "MEASUREMENT_CONDITION" | "FILTER" => {
                let bare_filter = matches!(v.trim().to_ascii_lowercase().as_str(), "no" | "none");
                if let Some(c) = filter_to_condition(v) {
                    settle(&mut condition, c, source, &mut w);
                } else if let Some(c) = condition_in_text(v) {
                    w.push(format!("{source} is free text; {c} is read from it"));
                    settle(&mut condition, c, source, &mut w);
                } else if bare_filter {
                    w.push(format!(
                        "{source} does not say M0 or M1 (that depends on the instrument's light); the measurement condition stays unknown"
                    ));
                } else {
                    w.push(format!(
                        "{source} does not say the measurement condition (M0–M3); it stays unknown"
                    ));
                }
                keep = k == "FILTER";
            }
            "MEASUREMENT_GEOMETRY" => {
                if let Some(g) = Geometry::parse(v) {
                    settle(&mut geometry, g, source, &mut w);
                } else {
                    let c = condition_in_text(v);
                    w.push(format!(
                        "{source} is free text, not a geometry like 45/0 or d/8; the geometry stays unknown{}",
                        c.map_or(String::new(), |c| format!(", and {c} is read from it"))
                    ));
                    if let Some(c) = c {
                        settle(&mut condition, c, source, &mut w);
                    }
                    keep = true;
                }
            }
            "SAMPLE_BACKING" => match Backing::parse(v) {
                Some(b) => meta.conditions.backing = Some(b),
                None => {
                    w.push(format!(
                        "{source} is not white, black or self; it stays unknown"
                    ));
                    keep = true;
                }
            },
            "BANDPASS_CORRECTED" => match v.to_ascii_uppercase().as_str() {
                "YES" | "TRUE" | "1" => meta.conditions.bandpass_corrected = true,
                "NO" | "FALSE" | "0" => meta.conditions.bandpass_corrected = false,
                _ => w.push(format!(
                    "{source} is not YES or NO; the data are taken as corrected (ISO 13655)"
                )),
            },
            "ILLUMINATION_NAME" | "ILLUMINANT" => match Illuminant::parse(v) {
                Some(i) => settle(&mut illuminant, i, source, &mut w),
                None => {
                    w.push(format!(
                        "{source} is not a CIE illuminant; it stays unknown"
                    ));
                    keep = true;
                }
            },
            "OBSERVER_ANGLE" | "OBSERVER" => match Observer::parse(v) {
                Some(o) => settle(&mut observer, o, source, &mut w),
                None => {
                    w.push(format!("{source} is not 2 or 10 degrees; it stays unknown"));
                    keep = true;
                }
            },
            "WEIGHTING_FUNCTION" => {
                // i1Profiler: "ILLUMINANT, D50" and "OBSERVER, 2 degree".
                let (what, value) = v.split_once(',').unwrap_or((v, ""));
                match what.trim().to_ascii_uppercase().as_str() {
                    "ILLUMINANT" => match Illuminant::parse(value) {
                        Some(i) => settle(&mut illuminant, i, source, &mut w),
                        None => w.push(format!("{source}: unknown illuminant; it stays unknown")),
                    },
                    "OBSERVER" => match Observer::parse(value) {
                        Some(o) => settle(&mut observer, o, source, &mut w),
                        None => w.push(format!("{source}: unknown observer; it stays unknown")),
                    },
                    _ => keep = true,
                }
            }
            vendor if vendor.starts_with("BARBIERI_INFO") => {
                // "Mode=Reflection,Measurement Condition=M1,…"
                let lower = v.to_ascii_lowercase();
                for key in ["measurement condition=", "measurement_condition="] {
                    if let Some(at) = lower.find(key) {
                        let rest = &v[at + key.len()..];
                        let value = rest.split([',', ';', ' ', '\t']).next().unwrap_or("");
                        if let Some(c) = IlluminationCondition::parse(value) {
                            settle(&mut condition, c, source.clone(), &mut w);
                        }
                    }
                }
                keep = true;
            }
            "MEASUREMENT_SOURCE" => {
                for (key, value) in source_pairs(v) {
                    let pair = at(&format!("MEASUREMENT_SOURCE {key}={value}"));
                    match key.to_ascii_lowercase().as_str() {
                        "illumination" => match Illuminant::parse(&value) {
                            Some(i) => settle(&mut illuminant, i, pair, &mut w),
                            None => w.push(format!("{pair}: unknown illuminant")),
                        },
                        "observerangle" => match Observer::parse(&value) {
                            Some(o) => settle(&mut observer, o, pair, &mut w),
                            None => w.push(format!("{pair}: unknown observer")),
                        },
                        "measurementcondition" | "filter" => {
                            if let Some(c) = filter_to_condition(&value) {
                                settle(&mut condition, c, pair, &mut w);
                            } else if key.eq_ignore_ascii_case("filter") && condition.is_none() {
                                w.push(format!(
                                    "{pair} does not say M0 or M1 (that depends on the instrument's light); the measurement condition stays unknown"
                                ));
                            }
                        }
                        _ => {}
                    }
                }
                keep = true;
            }
            _ => keep = true,
        }
        if keep {
            meta.keywords.push((k.clone(), v.clone()));
        }
    }
    // A "no filter" warning is moot once another source states the condition.
    if condition.is_some() {
        w.retain(|m| !m.contains("does not say M0 or M1"));
    }
    meta.conditions.illumination = condition.map(|(c, _)| c);
    meta.conditions.geometry = geometry.map(|(g, _)| g);
    meta.lab_illuminant = illuminant.map(|(i, _)| i);
    meta.lab_observer = observer.map(|(o, _)| o);
    (meta, w)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "'"))
}

/// Writes a dataset as CGATS.17. Spectra are written as read (factor or percent); CIELAB
/// values with 4 decimals, for the dataset's illuminant and observer.
///
/// A CGATS table has one value per field for every patch, so a dataset where some patches
/// lack what others have (a spectrum, CIELAB, an extra column), or whose spectra are on
/// different grids, is refused rather than written with made-up values.
pub fn write(d: &Dataset) -> Result<String> {
    let grid = d.grid()?;
    let mut out = String::from("CGATS.17\n");
    let m = &d.meta;
    let percent = m
        .keywords
        .iter()
        .any(|(k, v)| k == "SPECTRAL_SCALE" && v == "PERCENT");
    out.push_str(&format!(
        "ORIGINATOR {}\n",
        quote(m.originator.as_deref().unwrap_or("ecsp"))
    ));
    if let Some(v) = &m.descriptor {
        out.push_str(&format!("DESCRIPTOR {}\n", quote(v)));
    }
    if let Some(v) = &m.created {
        out.push_str(&format!("CREATED {}\n", quote(v)));
    }
    let c = &m.conditions;
    let declared = |out: &mut String, key: &str, value: &str| {
        out.push_str(&format!("KEYWORD {}\n{key} {}\n", quote(key), quote(value)));
    };
    if let Some(v) = &c.instrument_model {
        out.push_str(&format!("INSTRUMENTATION {}\n", quote(v)));
    }
    if let Some(v) = &c.instrument_serial {
        declared(&mut out, "INSTRUMENT_SERIAL", v);
    }
    if let Some(v) = c.illumination {
        declared(&mut out, "MEASUREMENT_CONDITION", v.as_str());
    }
    if let Some(v) = c.geometry {
        declared(&mut out, "MEASUREMENT_GEOMETRY", v.as_str());
    }
    if let Some(v) = c.backing {
        declared(&mut out, "SAMPLE_BACKING", v.as_str());
    }
    declared(
        &mut out,
        "BANDPASS_CORRECTED",
        if c.bandpass_corrected { "YES" } else { "NO" },
    );
    if let Some(v) = m.lab_illuminant {
        declared(&mut out, "ILLUMINATION_NAME", v.as_str());
    }
    if let Some(v) = m.lab_observer {
        declared(&mut out, "OBSERVER_ANGLE", &v.degrees().to_string());
    }
    for (k, v) in &m.keywords {
        if k == "SPECTRAL_SCALE" || k == "FILE_IDENTIFIER" {
            continue;
        }
        if v.contains('\n') {
            // A block (Argyll's BEGIN_ARGYLL_COLPROF_ARGS …) is written back as one.
            out.push_str(&format!("BEGIN_{k}\n{v}\nEND_{k}\n"));
        } else {
            declared(&mut out, k, v);
        }
    }
    if percent {
        declared(&mut out, "SPECTRAL_SCALE", "PERCENT");
    }
    // Fields: id, name, spectrum, extra columns, CIELAB.
    let has_name = d.patches.iter().any(|p| p.name.is_some());
    let has_lab = d.patches.iter().any(|p| p.lab.is_some());
    let mut extra_fields: Vec<&str> = Vec::new();
    for p in &d.patches {
        for (f, _) in &p.extra {
            if !extra_fields.contains(&f.as_str()) {
                extra_fields.push(f);
            }
        }
    }
    let mut fields = vec!["SAMPLE_ID".to_owned()];
    if has_name {
        fields.push("SAMPLE_NAME".into());
    }
    if let Some(g) = grid {
        fields.extend(g.wavelengths().map(|nm| format!("SPECTRAL_{nm}")));
    }
    for f in &extra_fields {
        if !is_standard_field(f) {
            out.push_str(&format!("KEYWORD {}\n", quote(f)));
        }
    }
    fields.extend(extra_fields.iter().map(|f| (*f).to_owned()));
    if has_lab {
        fields.extend(["LAB_L", "LAB_A", "LAB_B"].map(String::from));
    }
    out.push_str(&format!(
        "NUMBER_OF_FIELDS {}\nBEGIN_DATA_FORMAT\n{}\nEND_DATA_FORMAT\n",
        fields.len(),
        fields.join("\t")
    ));
    out.push_str(&format!("NUMBER_OF_SETS {}\nBEGIN_DATA\n", d.patches.len()));
    for p in &d.patches {
        let mut row = vec![token(&p.id)];
        if has_name {
            row.push(quote(p.name.as_deref().unwrap_or("")));
        }
        if grid.is_some() {
            match &p.spectrum {
                Some(s) => row.extend(s.values().iter().map(|v| {
                    if percent {
                        format!("{:.2}", v * 100.0)
                    } else {
                        format!("{v:.5}")
                    }
                })),
                None => return Err(missing(&p.id, "spectrum")),
            }
        }
        for f in &extra_fields {
            let (_, v) = p
                .extra
                .iter()
                .find(|(k, _)| k == f)
                .ok_or_else(|| missing(&p.id, f))?;
            row.push(token(v));
        }
        if has_lab {
            let lab = p.lab.ok_or_else(|| missing(&p.id, "CIELAB values"))?;
            row.extend([lab.l, lab.a, lab.b].map(|v| format!("{v:.4}")));
        }
        out.push_str(&row.join("\t"));
        out.push('\n');
    }
    out.push_str("END_DATA\n");
    // The other tables of a multi-table file, as read.
    for t in &d.other_tables {
        out.push_str(&format!(
            "\n{}\n",
            t.identifier.as_deref().unwrap_or("CGATS.17")
        ));
        for (k, v) in &t.keywords {
            out.push_str(&format!("{k} {}\n", quote(v)));
        }
        out.push_str(&format!(
            "NUMBER_OF_FIELDS {}\nBEGIN_DATA_FORMAT\n{}\nEND_DATA_FORMAT\nNUMBER_OF_SETS {}\nBEGIN_DATA\n",
            t.fields.len(),
            t.fields.join("\t"),
            t.rows.len()
        ));
        for r in &t.rows {
            let row: Vec<String> = r.iter().map(|v| token(v)).collect();
            out.push_str(&row.join("\t"));
            out.push('\n');
        }
        out.push_str("END_DATA\n");
    }
    Ok(out)
}

fn missing(id: &str, what: &str) -> ColorError {
    ColorError::Dataset(format!(
        "patch {id} has no {what} while other patches do; a CGATS table cannot leave it out"
    ))
}

fn token(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"' || c == '#') {
        quote(s)
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "CGATS.17\nORIGINATOR \"test\"\nMEASUREMENT_SOURCE \"Illumination=D50\tObserverAngle=2°\tWhiteBase=Abs\tFilter=UVcut\"\nNUMBER_OF_FIELDS 7\nBEGIN_DATA_FORMAT\nSAMPLE_ID SAMPLE_NAME SPECTRAL_400 SPECTRAL_410 SPECTRAL_420 CMYK_C LAB_L\nEND_DATA_FORMAT\nNUMBER_OF_SETS 2\nBEGIN_DATA\n1 \"Paper white\" 0.9 0.91 0.92 0 95\n2 C100 0.5 0.6 0.7 100 55\nEND_DATA\n";

    #[test]
    fn reads_fields_and_metadata() {
        let e = parse(SMALL).unwrap_err();
        assert!(e.to_string().contains("LAB_L, LAB_A and LAB_B"), "{e}");
        let text = SMALL
            .replace(" LAB_L", "")
            .replace(" 95\n", "\n")
            .replace(" 55\n", "\n")
            .replace("FIELDS 7", "FIELDS 6");
        let d = parse(&text).unwrap();
        assert_eq!(d.patches.len(), 2);
        assert_eq!(d.patches[0].name.as_deref(), Some("Paper white"));
        assert_eq!(
            d.patches[1].extra,
            vec![("CMYK_C".to_owned(), "100".to_owned())]
        );
        assert_eq!(
            d.meta.conditions.illumination,
            Some(IlluminationCondition::M2)
        );
        assert_eq!(d.meta.lab_illuminant, Some(Illuminant::D50));
        assert_eq!(
            d.patches[1].spectrum.as_ref().unwrap().grid(),
            WavelengthGrid::new(400, 10, 3).unwrap()
        );
    }

    #[test]
    fn vendor_field_names_pairs_and_counts_are_read_with_warnings() {
        // X-Rite ColorPort style: no identifier, SampleID, nmNNN, a count that is off by one.
        let text = "LGOROWLENGTH\t10\r\nMEASUREMENT_SOURCE\t\"Illumination=D65\tObserverAngle=10°\tFilter=No\"\r\nNUMBER_OF_FIELDS\t6\r\nBEGIN_DATA_FORMAT\r\nSampleID\tSAMPLE_NAME\tnm400\tnm410\tnm420\tFOO\r\nEND_DATA_FORMAT\r\nNUMBER_OF_SETS\t3\r\nBEGIN_DATA\r\n1\tA1\t0,5\t0,6\t0,7\tx\r\n2\tA2\t0,1\t0,2\t0,3\ty\r\nEND_DATA\r\n";
        let d = parse(text).unwrap();
        assert_eq!(d.patches.len(), 2);
        assert_eq!(
            (d.patches[1].id.as_str(), d.patches[1].name.as_deref()),
            ("2", Some("A2"))
        );
        assert_eq!(
            d.patches[0].spectrum.as_ref().unwrap().values(),
            &[0.5, 0.6, 0.7]
        );
        assert_eq!(d.meta.lab_observer, Some(Observer::Cie1964TenDegree));
        assert_eq!(d.meta.conditions.illumination, None, "Filter=No is not M0");
        let all = d.warnings.join("\n");
        for expected in [
            "NUMBER_OF_FIELDS says 6, the data format lists 6",
            "NUMBER_OF_SETS says 3, the data has 2",
            "`FOO` is not",
            "decimal commas",
            "Filter=No does not say M0 or M1",
        ] {
            if expected.starts_with("NUMBER_OF_FIELDS") {
                assert!(!all.contains(expected), "{all}");
            } else {
                assert!(all.contains(expected), "{expected}: {all}");
            }
        }
        // The CGATS.17 wavelength/value pairs, in percent.
        let pairs = "CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_LOC SPECTRAL_NM SPECTRAL_PCT SPECTRAL_NM SPECTRAL_PCT SPECTRAL_NM SPECTRAL_PCT\nEND_DATA_FORMAT\nBEGIN_DATA\nA1 400 50 410 60 420 70\nA2 400 10 410 20 420 30\nEND_DATA\n";
        let d = parse(pairs).unwrap();
        assert_eq!(d.patches[1].id, "A2");
        assert_eq!(
            d.patches[1].spectrum.as_ref().unwrap().values(),
            &[0.1, 0.2, 0.3]
        );
        let e = parse(&pairs.replace("A2 400", "A2 405")).unwrap_err();
        assert!(
            e.to_string().starts_with("line 7:") && e.to_string().contains("405"),
            "{e}"
        );
    }

    #[test]
    fn argyll_blocks_and_several_tables_keep_the_measurement_and_the_rest() {
        let ti3 = "CTI3\nDESCRIPTOR \"Argyll Calibration Target chart information 3\"\nBEGIN_ARGYLL_COLPROF_ARGS\n-v -qm\nEND_ARGYLL_COLPROF_ARGS\nCOLOR_REP \"CMYK_XYZ\"\nNUMBER_OF_FIELDS 8\nBEGIN_DATA_FORMAT\nSAMPLE_ID CMYK_C CMYK_M CMYK_Y CMYK_K XYZ_X XYZ_Y XYZ_Z\nEND_DATA_FORMAT\nNUMBER_OF_SETS 1\nBEGIN_DATA\n1 0 0 0 0 82.0 85.0 70.0\nEND_DATA\n\nCAL\n\nDESCRIPTOR \"Argyll Device Calibration State\"\nNUMBER_OF_FIELDS 2\nBEGIN_DATA_FORMAT\nRGB_I RGB_R\nEND_DATA_FORMAT\nNUMBER_OF_SETS 2\nBEGIN_DATA\n0 0\n1 1\nEND_DATA\n";
        let d = parse(ti3).unwrap();
        assert_eq!(d.patches.len(), 1);
        assert!(d.patches[0].lab.is_none(), "no declared white: no CIELAB");
        assert!(
            d.warnings.iter().any(|w| w.contains("XYZ only")),
            "{:?}",
            d.warnings
        );
        assert_eq!(d.other_tables.len(), 1);
        assert_eq!(d.other_tables[0].identifier.as_deref(), Some("CAL"));
        assert_eq!(d.other_tables[0].rows.len(), 2);
        assert!(
            d.meta
                .keywords
                .iter()
                .any(|(k, v)| k == "ARGYLL_COLPROF_ARGS" && v == "-v -qm")
        );
        let declared = ti3.replace(
            "COLOR_REP",
            "ILLUMINATION_NAME D50\nOBSERVER_ANGLE 2\nCOLOR_REP",
        );
        let lab = parse(&declared).unwrap().patches[0].lab.unwrap();
        assert!((lab.l - 93.9).abs() < 0.1, "{lab:?}");
        // Written back with its block and its second table.
        let mut two_lines = parse(&ti3.replace("-v -qm\n", "-v -qm\n-aX\n")).unwrap();
        two_lines.patches[0].lab = None;
        let again = parse(&write(&two_lines).unwrap()).unwrap();
        assert!(
            again
                .meta
                .keywords
                .iter()
                .any(|(k, v)| k == "ARGYLL_COLPROF_ARGS" && v == "-v -qm\n-aX")
        );
        assert_eq!(again.other_tables, two_lines.other_tables);
        let e = parse(&ti3.replace("END_ARGYLL_COLPROF_ARGS\n", "")).unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
    }

    #[test]
    fn latin1_and_free_text_headers_are_read_not_refused() {
        let mut bytes = b"CGATS.17\nORIGINATOR \"Messger\xe4t\"\nMEASUREMENT_GEOMETRY \"ISO 13655 - Reflection, M1\"\nILLUMINATION_NAME \"D93\"\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 50 0 0\nEND_DATA\n".to_vec();
        let d = parse_bytes(&bytes).unwrap();
        assert_eq!(d.meta.originator.as_deref(), Some("Messgerät"));
        assert_eq!(
            d.meta.conditions.illumination,
            Some(IlluminationCondition::M1)
        );
        assert_eq!(d.meta.conditions.geometry, None);
        assert_eq!(d.meta.lab_illuminant, None);
        let all = d.warnings.join("\n");
        assert!(
            all.contains("Latin-1") && all.contains("free text") && all.contains("D93"),
            "{all}"
        );
        bytes.splice(0..0, *b"\xEF\xBB\xBF");
        assert!(
            parse_bytes(&bytes).is_ok(),
            "a UTF-8 byte-order mark is skipped (and the rest is Latin-1)"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let table = "CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 50 0 0\nEND_DATA\n";
        let e = parse(&format!(
            "{table}CAL\nBEGIN_DATA_FORMAT\nRGB_I\nEND_DATA_FORMAT\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().starts_with("line 9:") && e.to_string().contains("not complete"),
            "{e}"
        );
        let d = parse(&format!("{table}\nTRAILER\nNOTE \"x\"\n")).unwrap();
        assert!(d.meta.keywords.iter().any(|(k, v)| k == "NOTE" && v == "x"));
        assert!(
            d.warnings
                .iter()
                .any(|w| w.starts_with("line 9: header lines after the last table")),
            "{:?}",
            d.warnings
        );
        let d = parse(&table.replace(
            "BEGIN_DATA_FORMAT",
            "NUMBER_OF_SETS many\nBEGIN_DATA_FORMAT",
        ))
        .unwrap();
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("`many` is not a whole number")),
            "{:?}",
            d.warnings
        );
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID FOO\nEND_DATA_FORMAT\nBEGIN_DATA\n1 2\nEND_DATA\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 2:") && e.to_string().contains("no table with spectra"),
            "{e}"
        );
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B LAB_L\nEND_DATA_FORMAT\nBEGIN_DATA\n1 2 3 4 5\nEND_DATA\n").unwrap_err();
        assert!(e.to_string().contains("`LAB_L` appears twice"), "{e}");
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 5O 0 0\nEND_DATA\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 6:") && e.to_string().contains("`5O`"),
            "{e}"
        );
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_400 SPECTRAL_410 SPECTRAL_420\nEND_DATA_FORMAT\nBEGIN_DATA\n1 0.1 nan 0.3\nEND_DATA\n").unwrap_err();
        assert!(e.to_string().starts_with("line 6:"), "{e}");
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_400 SPECTRAL_410 SPECTRAL_430\nEND_DATA_FORMAT\nBEGIN_DATA\n1 0.1 0.2 0.3\nEND_DATA\n").unwrap_err();
        assert!(e.to_string().contains("420 nm"), "{e}");
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_400 SPECTRAL_410 SPECTRAL_420\nEND_DATA_FORMAT\nBEGIN_DATA\n1 0.1 -0.2 0.3\nEND_DATA\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 6:") && e.to_string().contains("negative"),
            "{e}"
        );
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 50 0\nEND_DATA\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 6:") && e.to_string().contains("3 values"),
            "{e}"
        );
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\n1 50 0 0\n").unwrap_err();
        assert!(e.to_string().contains("before END_DATA"), "{e}");
    }
}
