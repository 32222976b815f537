//! CxF3 (ISO 17972-1) XML: read and write objects with reflectance spectra and CIELAB, and the
//! colour specifications that say how they were measured (instrument, ISO 13655 condition,
//! geometry, wavelength range) and for which illuminant and observer CIELAB was computed.
//!
//! Objects may carry several spectra (an instrument measuring M0, M1 and M2 at once, each with
//! its own `ColorSpecification`): [`parse`] takes the condition of the first spectrum in the
//! file and says so in the warnings, naming the others; [`parse_condition`] takes the one asked
//! for. Several `ColorCIELab` per object (D50/2° and D65/10°): the first is kept, the others
//! named in the warnings. A file mixing measurement conditions across objects is refused.
//! Facts CxF3 has no element for (bandpass correction, backing, aperture) travel as
//! `FileInformation/Tag` name–value pairs.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::cie::{Illuminant, Observer};
use crate::convert::Lab;
use crate::dataset::{Dataset, Metadata, Patch};
use crate::error::{ColorError, Result};
use crate::spectrum::{Backing, Geometry, IlluminationCondition, Spectrum, WavelengthGrid};

pub const NAMESPACE: &str = "http://colorexchangeformat.com/CxF3-core";

#[derive(Debug, Default, Clone)]
struct Spec {
    id: String,
    illuminant: Option<String>,
    observer: Option<String>,
    start_wl: Option<u32>,
    increment: Option<u32>,
    model: Option<String>,
    serial: Option<String>,
    device_illumination: Option<String>,
    illumination_angle: Option<String>,
    measurement_angle: Option<String>,
}

#[derive(Debug, Default)]
struct Object {
    id: String,
    name: Option<String>,
    location: String,
    spectra: Vec<(Option<String>, Option<u32>, String)>,
    labs: Vec<(Option<String>, [Option<String>; 3])>,
    /// `ColorCMYK` device values (cyan, magenta, yellow, black), for matching charts.
    cmyk: [Option<String>; 4],
}

fn line_of(text: &str, offset: u64) -> usize {
    text.as_bytes()[..(offset as usize).min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    s.rsplit(':').next().unwrap_or(&s).to_owned()
}

/// Attributes on one element: CxF3's richest carry a handful.
const MAX_ATTRIBUTES: usize = 1_000;

/// Checks an element's attributes once, before [`attr`] looks them up: at most
/// [`MAX_ATTRIBUTES`], none twice. quick-xml's own duplicate check compares each attribute with
/// every one before it, quadratic in their number (40,000 attributes took 37 s in the DFE
/// reader), so [`attr`] turns it off and the names are checked here in a set.
fn check_attributes(e: &BytesStart<'_>, location: impl Fn() -> String) -> Result<()> {
    let name = local(e.name().as_ref());
    let fail = |message: String| ColorError::Cxf {
        location: format!("{}, <{name}>", location()),
        message,
    };
    let mut names = std::collections::HashSet::new();
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|x| fail(format!("a bad attribute: {x}")))?;
        if names.len() >= MAX_ATTRIBUTES {
            return Err(fail(format!(
                "more than {MAX_ATTRIBUTES} attributes on one element"
            )));
        }
        if !names.insert(a.key.0) {
            return Err(fail(format!(
                "the attribute {} appears twice",
                String::from_utf8_lossy(a.key.0)
            )));
        }
    }
    Ok(())
}

fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| local(a.key.as_ref()) == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Reads a CxF3 document (for objects with several spectra, the condition of the first one).
pub fn parse(text: &str) -> Result<Dataset> {
    parse_condition(text, None)
}

/// Reads a CxF3 document, taking from objects with several spectra the one measured under
/// `condition` (an error if an object has none).
pub fn parse_condition(text: &str, condition: Option<IlluminationCondition>) -> Result<Dataset> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut objects: Vec<Object> = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();
    let mut meta = Metadata::default();
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut saw_root = false;
    // Text of the innermost open element (entity references arrive as separate events).
    let mut text_buf = String::new();
    // Lines counted forward from the last place asked about (once per Object): counting from
    // the start each time was quadratic in the number of objects.
    let counted = std::cell::Cell::new((0usize, 1usize));
    let at = |reader: &Reader<&[u8]>| {
        let offset = (reader.buffer_position() as usize).min(text.len());
        let (from, line) = counted.get();
        let line = if offset >= from {
            line + text.as_bytes()[from..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
        } else {
            line_of(text, offset as u64)
        };
        counted.set((offset, line));
        format!("line {line}")
    };
    loop {
        let event = reader.read_event().map_err(|e| ColorError::Cxf {
            location: at(&reader),
            message: format!("not well-formed XML: {e}"),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                check_attributes(e, || at(&reader))?;
                let name = local(e.name().as_ref());
                let empty = matches!(event, Event::Empty(_));
                match name.as_str() {
                    "CxF" => saw_root = true,
                    "Object" => objects.push(Object {
                        id: attr(e, "Id")
                            .or_else(|| attr(e, "Name"))
                            .unwrap_or_else(|| (objects.len() + 1).to_string()),
                        name: attr(e, "Name"),
                        location: at(&reader),
                        ..Default::default()
                    }),
                    "ReflectanceSpectrum" => {
                        if let Some(o) = objects.last_mut() {
                            {
                                let start = attr(e, "StartWL")
                                    .map(|s| s.trim().parse::<f64>().map(|v| v as u32))
                                    .transpose()
                                    .map_err(|_| ColorError::Cxf {
                                        location: at(&reader),
                                        message: "StartWL is not a wavelength".into(),
                                    })?;
                                o.spectra.push((
                                    attr(e, "ColorSpecification"),
                                    start,
                                    String::new(),
                                ));
                            }
                        }
                    }
                    "ColorCIELab" => {
                        if let Some(o) = objects.last_mut() {
                            o.labs
                                .push((attr(e, "ColorSpecification"), [None, None, None]));
                        }
                    }
                    "ColorSpecification"
                        if path
                            .last()
                            .is_some_and(|p| p == "ColorSpecificationCollection") =>
                    {
                        specs.push(Spec {
                            id: attr(e, "Id").unwrap_or_default(),
                            ..Default::default()
                        })
                    }
                    "WavelengthRange" => {
                        if let Some(s) = specs.last_mut() {
                            s.start_wl = attr(e, "StartWL")
                                .and_then(|v| v.trim().parse::<f64>().ok())
                                .map(|v| v as u32);
                            s.increment = attr(e, "Increment")
                                .and_then(|v| v.trim().parse::<f64>().ok())
                                .map(|v| v as u32);
                        }
                    }
                    "Tag" => {
                        if let (Some(n), Some(v)) = (attr(e, "Name"), attr(e, "Value")) {
                            tags.push((n, v));
                        }
                    }
                    _ => {}
                }
                if !empty {
                    path.push(name);
                    text_buf.clear();
                }
            }
            Event::Text(t) => {
                let piece = t.decode().map_err(|e| ColorError::Cxf {
                    location: at(&reader),
                    message: e.to_string(),
                })?;
                text_buf.push_str(&piece);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| ColorError::Cxf {
                    location: at(&reader),
                    message: e.to_string(),
                })?;
                let resolved = match name.as_ref() {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    n => n
                        .strip_prefix("#x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32),
                };
                let c = resolved.ok_or_else(|| ColorError::Cxf {
                    location: at(&reader),
                    message: format!("unknown entity &{name};"),
                })?;
                text_buf.push(c);
            }
            Event::End(_) => {
                let value = std::mem::take(&mut text_buf).trim().to_owned();
                if !value.is_empty() {
                    let leaf = path.last().map(String::as_str).unwrap_or("");
                    let parent = path
                        .len()
                        .checked_sub(2)
                        .map(|i| path[i].as_str())
                        .unwrap_or("");
                    match (parent, leaf) {
                        (_, "ReflectanceSpectrum") => {
                            if let Some((_, _, text)) =
                                objects.last_mut().and_then(|o| o.spectra.last_mut())
                            {
                                if text.is_empty() {
                                    text.push_str(&value);
                                }
                            }
                        }
                        ("ColorCIELab", c @ ("L" | "A" | "B")) => {
                            if let Some((_, v)) = objects.last_mut().and_then(|o| o.labs.last_mut())
                            {
                                let i = match c {
                                    "L" => 0,
                                    "A" => 1,
                                    _ => 2,
                                };
                                v[i].get_or_insert(value);
                            }
                        }
                        ("ColorCMYK", c @ ("Cyan" | "Magenta" | "Yellow" | "Black")) => {
                            if let Some(o) = objects.last_mut() {
                                let i = match c {
                                    "Cyan" => 0,
                                    "Magenta" => 1,
                                    "Yellow" => 2,
                                    _ => 3,
                                };
                                o.cmyk[i].get_or_insert(value);
                            }
                        }
                        ("TristimulusSpec", "Illuminant") => {
                            set(&mut specs, |s| s.illuminant = Some(value))
                        }
                        ("TristimulusSpec", "Observer") => {
                            set(&mut specs, |s| s.observer = Some(value))
                        }
                        ("Device", "Model") => set(&mut specs, |s| s.model = Some(value)),
                        ("Device", "SerialNumber") => set(&mut specs, |s| s.serial = Some(value)),
                        ("Device", "DeviceIllumination") => {
                            set(&mut specs, |s| s.device_illumination = Some(value))
                        }
                        (_, "IlluminationAngle") => {
                            set(&mut specs, |s| s.illumination_angle = Some(value))
                        }
                        (_, "MeasurementAngle") => {
                            set(&mut specs, |s| s.measurement_angle = Some(value))
                        }
                        ("FileInformation", "Creator") => meta.originator = Some(value),
                        ("FileInformation", "CreationDate") => meta.created = Some(value),
                        ("FileInformation", "Description") => meta.descriptor = Some(value),
                        _ => {}
                    }
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(ColorError::Cxf {
            location: "line 1".into(),
            message: "not a CxF3 document (no cc:CxF root element)".into(),
        });
    }
    build(objects, &specs, meta, tags, condition)
}

fn set(specs: &mut [Spec], f: impl FnOnce(&mut Spec)) {
    if let Some(s) = specs.last_mut() {
        f(s);
    }
}

fn condition_of(spec: &Spec) -> (Option<IlluminationCondition>, Option<Geometry>) {
    let cond = spec
        .device_illumination
        .as_deref()
        .and_then(|d| d.get(..2))
        .and_then(IlluminationCondition::parse);
    let geometry = match (
        spec.illumination_angle.as_deref(),
        spec.measurement_angle.as_deref(),
    ) {
        (Some(i), Some(m)) => Geometry::parse(&format!("{}/{}", i.trim(), m.trim())),
        _ => None,
    };
    (cond, geometry)
}

fn build(
    objects: Vec<Object>,
    specs: &[Spec],
    mut meta: Metadata,
    tags: Vec<(String, String)>,
    wanted: Option<IlluminationCondition>,
) -> Result<Dataset> {
    let mut warnings = Vec::new();
    let spec_condition = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| specs.iter().find(|s| &s.id == id))
            .and_then(|s| condition_of(s).0)
    };
    // The conditions the file's spectra were measured under, in order of appearance.
    let mut offered: Vec<Option<IlluminationCondition>> = Vec::new();
    for o in &objects {
        for (spec, _, _) in &o.spectra {
            let c = spec_condition(spec);
            if !offered.contains(&c) {
                offered.push(c);
            }
        }
    }
    let chosen = match wanted {
        Some(c) => Some(c),
        None => offered.first().copied().flatten(),
    };
    if offered.len() > 1 {
        let names: Vec<String> = offered
            .iter()
            .map(|c| c.map_or("unknown".to_owned(), |c| c.to_string()))
            .collect();
        warnings.push(format!(
            "the objects carry spectra measured under {}; this dataset holds the {} ones",
            names.join(", "),
            chosen.map_or("unknown".to_owned(), |c| c.to_string())
        ));
    }
    let find = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| specs.iter().find(|s| &s.id == id))
    };
    let mut patches = Vec::new();
    let mut conditions: Option<(Option<IlluminationCondition>, Option<Geometry>)> = None;
    meta.conditions.bandpass_corrected = true;
    for (k, v) in &tags {
        match k.as_str() {
            "BandpassCorrected" => {
                meta.conditions.bandpass_corrected = !v.eq_ignore_ascii_case("false")
            }
            "SampleBacking" => meta.conditions.backing = Backing::parse(v),
            "ApertureMM" => meta.conditions.aperture_mm = v.parse().ok(),
            _ => meta.keywords.push((k.clone(), v.clone())),
        }
    }
    for o in objects {
        let bad = |message: String| ColorError::Cxf {
            location: format!("{} (object {})", o.location, o.id),
            message,
        };
        let picked = if o.spectra.len() <= 1 {
            o.spectra.first()
        } else {
            Some(
                o.spectra
                    .iter()
                    .find(|(spec, _, _)| spec_condition(spec) == chosen)
                    .ok_or_else(|| {
                        bad(format!(
                            "no spectrum measured under {}",
                            chosen.map_or("the chosen condition".to_owned(), |c| c.to_string())
                        ))
                    })?,
            )
        };
        let spectrum = match picked {
            Some((spec_id, start, text)) => {
                let spec = find(spec_id);
                let start = start.or(spec.and_then(|s| s.start_wl)).unwrap_or(380);
                let step = spec.and_then(|s| s.increment).unwrap_or(10);
                let mut values = Vec::new();
                for (i, v) in text.split_whitespace().enumerate() {
                    let x: f64 = v.parse().map_err(|_| {
                        bad(format!("spectral value {} (`{v}`) is not a number", i + 1))
                    })?;
                    values.push(x);
                }
                let grid = WavelengthGrid::new(start, step, values.len())
                    .map_err(|e| bad(e.to_string()))?;
                if let Some(spec) = spec {
                    let c = condition_of(spec);
                    match &conditions {
                        None => {
                            conditions = Some(c);
                            meta.conditions.illumination = c.0;
                            meta.conditions.geometry = c.1;
                            meta.conditions.instrument_model = spec.model.clone();
                            meta.conditions.instrument_serial = spec.serial.clone();
                        }
                        Some(prev) if *prev != c => {
                            return Err(bad(
                                "objects were measured under different conditions in one file"
                                    .into(),
                            ));
                        }
                        Some(_) => {}
                    }
                }
                Some(Spectrum::new(grid, values).map_err(|e| bad(e.to_string()))?)
            }
            None => None,
        };
        if o.labs.len() > 1 && !warnings.iter().any(|w| w.contains("CIELAB values")) {
            warnings.push(format!(
                "object {} (and maybe others) has {} CIELAB values; the first is used",
                o.id,
                o.labs.len()
            ));
        }
        let lab = match o.labs.first() {
            Some((spec_id, [l, a, b])) => {
                let num = |v: &Option<String>, c: &str| -> Result<f64> {
                    let v = v
                        .as_deref()
                        .ok_or_else(|| bad(format!("ColorCIELab has no {c}")))?;
                    let x: f64 = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("ColorCIELab {c} `{v}` is not a number")))?;
                    if !x.is_finite() {
                        return Err(bad(format!("ColorCIELab {c} is not finite")));
                    }
                    Ok(x)
                };
                if let Some(spec) = find(spec_id) {
                    meta.lab_illuminant = spec
                        .illuminant
                        .as_deref()
                        .and_then(Illuminant::parse)
                        .or(meta.lab_illuminant);
                    meta.lab_observer = spec
                        .observer
                        .as_deref()
                        .and_then(|o| Observer::parse(o.split('_').next().unwrap_or(o)))
                        .or(meta.lab_observer);
                }
                Some(Lab {
                    l: num(l, "L")?,
                    a: num(a, "A")?,
                    b: num(b, "B")?,
                })
            }
            None => None,
        };
        if spectrum.is_none() && lab.is_none() {
            continue; // device values only (targets): nothing colorimetric to carry
        }
        let extra = match &o.cmyk {
            [Some(c), Some(m), Some(y), Some(k)] => ["CMYK_C", "CMYK_M", "CMYK_Y", "CMYK_K"]
                .into_iter()
                .zip([c, m, y, k])
                .map(|(f, v)| (f.to_owned(), v.clone()))
                .collect(),
            _ => Vec::new(),
        };
        patches.push(Patch {
            id: o.id,
            name: o.name,
            spectrum,
            lab,
            extra,
        });
    }
    if patches.is_empty() {
        return Err(ColorError::Cxf {
            location: "document".into(),
            message: "no object with a reflectance spectrum or CIELAB values".into(),
        });
    }
    Ok(Dataset {
        meta,
        patches,
        warnings,
        other_tables: Vec::new(),
    })
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn device_illumination(c: IlluminationCondition) -> &'static str {
    match c {
        IlluminationCondition::M0 => "M0_Incandescent",
        IlluminationCondition::M1 => "M1_Part1",
        IlluminationCondition::M2 => "M2_UVExcluded",
        IlluminationCondition::M3 => "M3_Polarized",
    }
}

/// Writes a dataset as a CxF3 document.
pub fn write(d: &Dataset) -> String {
    let m = &d.meta;
    let c = &m.conditions;
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<cc:CxF xmlns:cc=\"{NAMESPACE}\">\n  <cc:FileInformation>\n"
    ));
    x.push_str(&format!(
        "    <cc:Creator>{}</cc:Creator>\n",
        esc(m.originator.as_deref().unwrap_or("ecsp"))
    ));
    if let Some(v) = &m.created {
        x.push_str(&format!(
            "    <cc:CreationDate>{}</cc:CreationDate>\n",
            esc(v)
        ));
    }
    if let Some(v) = &m.descriptor {
        x.push_str(&format!(
            "    <cc:Description>{}</cc:Description>\n",
            esc(v)
        ));
    }
    let tag = |x: &mut String, n: &str, v: &str| {
        x.push_str(&format!(
            "    <cc:Tag Name=\"{}\" Value=\"{}\"/>\n",
            esc(n),
            esc(v)
        ))
    };
    tag(
        &mut x,
        "BandpassCorrected",
        if c.bandpass_corrected {
            "true"
        } else {
            "false"
        },
    );
    if let Some(b) = c.backing {
        tag(&mut x, "SampleBacking", b.as_str());
    }
    if let Some(a) = c.aperture_mm {
        tag(&mut x, "ApertureMM", &a.to_string());
    }
    for (k, v) in &m.keywords {
        tag(&mut x, k, v);
    }
    x.push_str("  </cc:FileInformation>\n  <cc:Resources>\n    <cc:ObjectCollection>\n");
    let grid = d
        .patches
        .iter()
        .find_map(|p| p.spectrum.as_ref().map(Spectrum::grid));
    for p in &d.patches {
        x.push_str(&format!(
            "      <cc:Object ObjectType=\"Standard\" Name=\"{}\" Id=\"{}\">\n        <cc:ColorValues>\n",
            esc(p.name.as_deref().unwrap_or(&p.id)),
            esc(if p.id.is_empty() { "" } else { &p.id })
        ));
        if let Some(s) = &p.spectrum {
            let values: Vec<String> = s.values().iter().map(|v| format!("{v:.5}")).collect();
            x.push_str(&format!(
                "          <cc:ReflectanceSpectrum ColorSpecification=\"CSM\" StartWL=\"{}\">{}</cc:ReflectanceSpectrum>\n",
                s.grid().start_nm,
                values.join(" ")
            ));
        }
        if let Some(l) = p.lab {
            x.push_str(&format!(
                "          <cc:ColorCIELab ColorSpecification=\"CSL\"><cc:L>{:.4}</cc:L><cc:A>{:.4}</cc:A><cc:B>{:.4}</cc:B></cc:ColorCIELab>\n",
                l.l, l.a, l.b
            ));
        }
        x.push_str("        </cc:ColorValues>\n      </cc:Object>\n");
    }
    x.push_str("    </cc:ObjectCollection>\n    <cc:ColorSpecificationCollection>\n");
    if let Some(g) = grid {
        x.push_str("      <cc:ColorSpecification Id=\"CSM\">\n        <cc:MeasurementSpec>\n          <cc:MeasurementType>Spectrum_Reflectance</cc:MeasurementType>\n");
        if let Some(geo) = c.geometry {
            let (i, m) = geo.as_str().split_once('/').unwrap_or(("45", "0"));
            x.push_str(&format!(
                "          <cc:GeometryChoice><cc:SingleAngle><cc:IlluminationAngle>{i}</cc:IlluminationAngle><cc:MeasurementAngle>{m}</cc:MeasurementAngle></cc:SingleAngle></cc:GeometryChoice>\n"
            ));
        }
        x.push_str(&format!(
            "          <cc:WavelengthRange StartWL=\"{}\" Increment=\"{}\"/>\n",
            g.start_nm, g.interval_nm
        ));
        if c.instrument_model.is_some() || c.instrument_serial.is_some() || c.illumination.is_some()
        {
            x.push_str("          <cc:Device>\n");
            if let Some(v) = &c.instrument_model {
                x.push_str(&format!("            <cc:Model>{}</cc:Model>\n", esc(v)));
            }
            if let Some(v) = &c.instrument_serial {
                x.push_str(&format!(
                    "            <cc:SerialNumber>{}</cc:SerialNumber>\n",
                    esc(v)
                ));
            }
            if let Some(v) = c.illumination {
                x.push_str(&format!(
                    "            <cc:DeviceIllumination>{}</cc:DeviceIllumination>\n",
                    device_illumination(v)
                ));
            }
            x.push_str("          </cc:Device>\n");
        }
        x.push_str("        </cc:MeasurementSpec>\n      </cc:ColorSpecification>\n");
    }
    if d.patches.iter().any(|p| p.lab.is_some()) {
        let ill = m.lab_illuminant.unwrap_or(Illuminant::D50);
        let obs = m.lab_observer.unwrap_or(Observer::Cie1931TwoDegree);
        x.push_str(&format!(
            "      <cc:ColorSpecification Id=\"CSL\">\n        <cc:TristimulusSpec><cc:Illuminant>{}</cc:Illuminant><cc:Observer>{}_Degree</cc:Observer><cc:Method>E308_Table5</cc:Method></cc:TristimulusSpec>\n      </cc:ColorSpecification>\n",
            ill.as_str(),
            obs.degrees()
        ));
    }
    x.push_str("    </cc:ColorSpecificationCollection>\n  </cc:Resources>\n</cc:CxF>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_with(attributes: &str) -> String {
        format!(
            "<cc:CxF xmlns:cc=\"{NAMESPACE}\">\n<cc:Resources><cc:ObjectCollection>\n<cc:Object Id=\"1\" Name=\"A1\"{attributes}><cc:ColorValues><cc:ColorCIELab><cc:L>50</cc:L><cc:A>0</cc:A><cc:B>0</cc:B></cc:ColorCIELab></cc:ColorValues></cc:Object>\n</cc:ObjectCollection></cc:Resources></cc:CxF>"
        )
    }

    #[test]
    fn attributes_are_bounded_and_unique() {
        let many: String = (0..40_000).map(|i| format!(" a{i}=\"\"")).collect();
        let ColorError::Cxf { location, message } = parse(&chart_with(&many)).unwrap_err() else {
            panic!("not a CxF error");
        };
        assert_eq!(message, "more than 1000 attributes on one element");
        assert_eq!(location, "line 3, <Object>");
        let e = parse(&chart_with(" Name=\"again\"")).unwrap_err();
        assert!(
            e.to_string().contains("the attribute Name appears twice"),
            "{e}"
        );
        let at_bound: String = (0..998).map(|i| format!(" a{i}=\"\"")).collect();
        let chart = parse(&chart_with(&at_bound)).unwrap();
        assert_eq!(chart.patches.len(), 1);
    }
}
