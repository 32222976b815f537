//! CGATS.17 (ISO 28178) text files: read and write, with spectral fields.
//!
//! * Spectral fields may be written `SPECTRAL_380`, `SPECTRAL_NM380`, `SPECTRAL_NM_380` or
//!   `SPEC_380`; they must form a regular grid. Values may be reflectance factors or percent
//!   (files whose largest value exceeds 2 are read as percent); they are written back as read.
//! * Data fields must be CGATS field names (or declared with `KEYWORD`): a misspelt field is an
//!   error rather than silently lost data.
//! * Measurement metadata: `INSTRUMENTATION`, `INSTRUMENT_SERIAL`, `MEASUREMENT_CONDITION`
//!   (M0–M3; also read from `FILTER` or the `Filter=` of an X-Rite `MEASUREMENT_SOURCE`),
//!   `MEASUREMENT_GEOMETRY`, `SAMPLE_BACKING`, `BANDPASS_CORRECTED` (`YES`/`NO`; ISO 13655
//!   data are corrected, so that is assumed when absent), `ILLUMINATION_NAME` and
//!   `OBSERVER_ANGLE` (or `Illumination=`/`ObserverAngle=` in `MEASUREMENT_SOURCE`) for the
//!   stored CIELAB values.
//! * Errors give the line and what was expected.

use std::collections::HashSet;

use crate::cie::{Illuminant, Observer};
use crate::convert::Lab;
use crate::dataset::{Dataset, Metadata, Patch};
use crate::error::{ColorError, Result};
use crate::spectrum::{Backing, Geometry, IlluminationCondition, Spectrum, WavelengthGrid};

fn err(line: usize, message: impl Into<String>) -> ColorError {
    ColorError::Cgats {
        line,
        message: message.into(),
    }
}

/// Splits a line into tokens: whitespace-separated, `"quoted strings"` kept whole, `#` comments.
fn tokens(line: &str, number: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => s.push(c),
                    None => return Err(err(number, "a quoted string is not closed")),
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(s);
        }
    }
    Ok(out)
}

/// The wavelength of a spectral field name, if it is one.
fn spectral_nm(field: &str) -> Option<u32> {
    let rest = field
        .strip_prefix("SPECTRAL_NM_")
        .or_else(|| field.strip_prefix("SPECTRAL_NM"))
        .or_else(|| field.strip_prefix("SPECTRAL_"))
        .or_else(|| field.strip_prefix("SPEC_"))?;
    rest.parse().ok()
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

#[derive(Default)]
struct Header {
    /// (line, keyword, value)
    keywords: Vec<(usize, String, String)>,
    declared: HashSet<String>,
}

fn parse_value(token: &str, line: usize, field: &str) -> Result<f64> {
    let v: f64 = token
        .parse()
        .map_err(|_| err(line, format!("`{token}` in field {field} is not a number")))?;
    if !v.is_finite() {
        return Err(err(
            line,
            format!("field {field} is `{token}`, not a finite number"),
        ));
    }
    Ok(v)
}

/// Reads a CGATS.17 file's text.
pub fn parse(text: &str) -> Result<Dataset> {
    enum State {
        Header,
        Format,
        AfterFormat,
        Data,
        Done,
    }
    let mut state = State::Header;
    let mut identified = false;
    let mut header = Header::default();
    let mut fields: Vec<String> = Vec::new();
    let mut format_line = 0;
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    let mut declared_sets: Option<(usize, usize)> = None;
    let mut declared_fields: Option<(usize, usize)> = None;
    let mut last_line = 0;
    let count = |toks: &[String], n: usize| -> Result<usize> {
        toks.get(1)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| err(n, format!("{} needs a whole number", toks[0])))
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let toks = tokens(raw, n)?;
        if toks.is_empty() {
            continue;
        }
        if !identified {
            identified = true;
            if toks.len() == 1 && !toks[0].starts_with("BEGIN_") && !toks[0].contains('=') {
                continue; // the file identifier, e.g. "CGATS.17", "IT8.7/2", "ECI2002"
            }
        }
        match state {
            State::Header | State::AfterFormat => match toks[0].as_str() {
                "BEGIN_DATA_FORMAT" if matches!(state, State::Header) => {
                    state = State::Format;
                    format_line = n;
                }
                "BEGIN_DATA" if matches!(state, State::AfterFormat) => state = State::Data,
                "BEGIN_DATA" => {
                    return Err(err(
                        n,
                        "BEGIN_DATA before BEGIN_DATA_FORMAT … END_DATA_FORMAT",
                    ));
                }
                "KEYWORD" => {
                    let name = toks.get(1).ok_or_else(|| err(n, "KEYWORD needs a name"))?;
                    header.declared.insert(name.clone());
                }
                "NUMBER_OF_FIELDS" => declared_fields = Some((n, count(&toks, n)?)),
                "NUMBER_OF_SETS" => declared_sets = Some((n, count(&toks, n)?)),
                other if other.starts_with("BEGIN_") || other.starts_with("END_") => {
                    return Err(err(n, format!("unexpected {other}")));
                }
                key => header
                    .keywords
                    .push((n, key.to_owned(), toks[1..].join(" "))),
            },
            State::Format => {
                if toks[0] == "END_DATA_FORMAT" {
                    if fields.is_empty() {
                        return Err(err(n, "the data format lists no fields"));
                    }
                    state = State::AfterFormat;
                    continue;
                }
                for f in toks {
                    if !is_standard_field(&f) && !header.declared.contains(&f) {
                        return Err(err(
                            n,
                            format!(
                                "unknown field `{f}`: use a CGATS field name (SAMPLE_ID, LAB_L, SPECTRAL_380, …) or declare it with KEYWORD"
                            ),
                        ));
                    }
                    if fields.contains(&f) {
                        return Err(err(n, format!("field `{f}` appears twice")));
                    }
                    fields.push(f);
                }
            }
            State::Data => {
                if toks[0] == "END_DATA" {
                    state = State::Done;
                    continue;
                }
                if toks.len() != fields.len() {
                    return Err(err(
                        n,
                        format!(
                            "{} values where the data format has {} fields",
                            toks.len(),
                            fields.len()
                        ),
                    ));
                }
                rows.push((n, toks));
            }
            State::Done => {
                return Err(err(
                    n,
                    "content after END_DATA (files with several tables are not supported)",
                ));
            }
        }
    }
    match state {
        State::Done => {}
        State::Data => return Err(err(last_line, "the file ends before END_DATA")),
        _ => {
            return Err(err(
                last_line,
                "the file has no complete BEGIN_DATA_FORMAT … BEGIN_DATA … END_DATA",
            ));
        }
    }
    if let Some((l, declared)) = declared_fields {
        if declared != fields.len() {
            return Err(err(
                l,
                format!(
                    "NUMBER_OF_FIELDS says {declared}, the data format lists {}",
                    fields.len()
                ),
            ));
        }
    }
    if let Some((l, declared)) = declared_sets {
        if declared != rows.len() {
            return Err(err(
                l,
                format!(
                    "NUMBER_OF_SETS says {declared}, the data has {} rows",
                    rows.len()
                ),
            ));
        }
    }
    build(header, &fields, format_line, &rows)
}

fn build(
    header: Header,
    fields: &[String],
    format_line: usize,
    rows: &[(usize, Vec<String>)],
) -> Result<Dataset> {
    // The spectral grid.
    let spectral: Vec<(usize, u32)> = fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| spectral_nm(f).map(|nm| (i, nm)))
        .collect();
    let grid = if spectral.is_empty() {
        None
    } else {
        let start = spectral[0].1;
        if spectral.len() < 3 {
            return Err(err(format_line, "fewer than 3 spectral bands"));
        }
        let step = spectral[1].1.saturating_sub(start);
        for (k, (_, nm)) in spectral.iter().enumerate() {
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
            WavelengthGrid::new(start, step, spectral.len())
                .map_err(|e| err(format_line, e.to_string()))?,
        )
    };
    let idx = |name: &str| fields.iter().position(|f| f == name);
    let (id_col, name_col) = (idx("SAMPLE_ID"), idx("SAMPLE_NAME"));
    let lab_cols = match (idx("LAB_L"), idx("LAB_A"), idx("LAB_B")) {
        (Some(l), Some(a), Some(b)) => Some((l, a, b)),
        (None, None, None) => None,
        _ => {
            return Err(err(
                format_line,
                "LAB_L, LAB_A and LAB_B must come together",
            ));
        }
    };
    let percent = grid.is_some()
        && rows.iter().any(|(_, r)| {
            spectral.iter().any(|(i, _)| {
                r[*i]
                    .parse::<f64>()
                    .is_ok_and(|v| v > crate::spectrum::MAX_REFLECTANCE)
            })
        });
    let mut meta = metadata(&header)?;
    if percent {
        meta.keywords
            .push(("SPECTRAL_SCALE".into(), "PERCENT".into()));
    }
    let mut patches = Vec::with_capacity(rows.len());
    let mut seen_ids = HashSet::new();
    for (k, (n, row)) in rows.iter().enumerate() {
        let id = id_col.map_or_else(|| (k + 1).to_string(), |c| row[c].clone());
        if !seen_ids.insert(id.clone()) {
            return Err(err(*n, format!("SAMPLE_ID `{id}` appears twice")));
        }
        let spectrum = match grid {
            Some(g) => {
                let mut values = Vec::with_capacity(g.bands);
                for (i, _) in &spectral {
                    let v = parse_value(&row[*i], *n, &fields[*i])?;
                    values.push(if percent { v / 100.0 } else { v });
                }
                Some(Spectrum::new(g, values).map_err(|e| err(*n, e.to_string()))?)
            }
            None => None,
        };
        let lab = match lab_cols {
            Some((l, a, b)) => Some(Lab {
                l: parse_value(&row[l], *n, "LAB_L")?,
                a: parse_value(&row[a], *n, "LAB_A")?,
                b: parse_value(&row[b], *n, "LAB_B")?,
            }),
            None => None,
        };
        let skip: HashSet<usize> = spectral
            .iter()
            .map(|(i, _)| *i)
            .chain(id_col)
            .chain(name_col)
            .chain(lab_cols.into_iter().flat_map(|(l, a, b)| [l, a, b]))
            .collect();
        let extra = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip.contains(i))
            .map(|(i, f)| (f.clone(), row[i].clone()))
            .collect();
        patches.push(Patch {
            id,
            name: name_col.map(|c| row[c].clone()),
            spectrum,
            lab,
            extra,
        });
    }
    Ok(Dataset { meta, patches })
}

/// `Key=Value` pairs of an X-Rite style `MEASUREMENT_SOURCE`.
fn source_pairs(s: &str) -> Vec<(String, String)> {
    s.split(|c: char| c.is_whitespace() || c == ';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim_end_matches('°').to_owned()))
        .collect()
}

fn filter_to_condition(v: &str) -> Option<IlluminationCondition> {
    IlluminationCondition::parse(v).or(match v.to_ascii_lowercase().as_str() {
        "no" | "none" => Some(IlluminationCondition::M0),
        "d50" => Some(IlluminationCondition::M1),
        "uvcut" | "uv-cut" | "uvex" => Some(IlluminationCondition::M2),
        "pol" | "polarized" | "polarised" => Some(IlluminationCondition::M3),
        _ => None,
    })
}

fn metadata(h: &Header) -> Result<Metadata> {
    let mut meta = Metadata {
        conditions: crate::spectrum::MeasurementConditions {
            bandpass_corrected: true,
            ..Default::default()
        },
        ..Default::default()
    };
    for (line, k, v) in &h.keywords {
        let bad = |what: &str| err(*line, format!("{k} `{v}` is not {what}"));
        match k.as_str() {
            "ORIGINATOR" => meta.originator = Some(v.clone()),
            "DESCRIPTOR" => meta.descriptor = Some(v.clone()),
            "CREATED" => meta.created = Some(v.clone()),
            "INSTRUMENTATION" => meta.conditions.instrument_model = Some(v.clone()),
            "INSTRUMENT_SERIAL" => meta.conditions.instrument_serial = Some(v.clone()),
            "MEASUREMENT_CONDITION" | "FILTER" => {
                meta.conditions.illumination =
                    Some(filter_to_condition(v).ok_or_else(|| bad("M0, M1, M2 or M3"))?);
            }
            "MEASUREMENT_GEOMETRY" => {
                meta.conditions.geometry =
                    Some(Geometry::parse(v).ok_or_else(|| bad("a geometry like 45/0 or d/8"))?)
            }
            "SAMPLE_BACKING" => {
                meta.conditions.backing =
                    Some(Backing::parse(v).ok_or_else(|| bad("white, black or self"))?)
            }
            "BANDPASS_CORRECTED" => {
                meta.conditions.bandpass_corrected = match v.to_ascii_uppercase().as_str() {
                    "YES" | "TRUE" | "1" => true,
                    "NO" | "FALSE" | "0" => false,
                    _ => return Err(bad("YES or NO")),
                }
            }
            "ILLUMINATION_NAME" => {
                meta.lab_illuminant =
                    Some(Illuminant::parse(v).ok_or_else(|| bad("A, D50 or D65"))?)
            }
            "OBSERVER_ANGLE" => {
                meta.lab_observer = Some(Observer::parse(v).ok_or_else(|| bad("2 or 10"))?)
            }
            "MEASUREMENT_SOURCE" => {
                for (key, value) in source_pairs(v) {
                    match key.as_str() {
                        "illumination" => {
                            meta.lab_illuminant = meta.lab_illuminant.or(Illuminant::parse(&value))
                        }
                        "observerangle" => {
                            meta.lab_observer = meta.lab_observer.or(Observer::parse(&value))
                        }
                        "filter" => {
                            meta.conditions.illumination =
                                meta.conditions.illumination.or(filter_to_condition(&value))
                        }
                        _ => {}
                    }
                }
                meta.keywords.push((k.clone(), v.clone()));
            }
            _ => meta.keywords.push((k.clone(), v.clone())),
        }
    }
    Ok(meta)
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
        if k != "SPECTRAL_SCALE" {
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
    fn errors_name_the_line() {
        let e = parse("CGATS.17\nBEGIN_DATA_FORMAT\nSAMPLE_ID FOO\nEND_DATA_FORMAT\nBEGIN_DATA\n1 2\nEND_DATA\n").unwrap_err();
        assert!(
            e.to_string().starts_with("line 3:") && e.to_string().contains("FOO"),
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
