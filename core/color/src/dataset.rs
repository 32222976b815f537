//! A measured chart: patches with spectra and/or CIELAB, and what is known about how they were
//! measured. CGATS and CxF files read into and write from this.
//!
//! What a reader tolerated (a redundant count that disagrees with the data, a free-text header
//! value, decimal commas, Latin-1 text) is listed in [`Dataset::warnings`]: never silent, never
//! a reason to refuse data that is otherwise unambiguous.

use serde::Serialize;

use crate::cie::{Illuminant, Observer};
use crate::colorimetry::{Colorimetry, colorimetry};
use crate::convert::Lab;
use crate::error::{ColorError, Result};
use crate::spectrum::{MeasurementConditions, Spectrum, WavelengthGrid};

/// One measured patch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patch {
    pub id: String,
    pub name: Option<String>,
    pub spectrum: Option<Spectrum>,
    /// CIELAB as the file gives it (for the dataset's `lab_illuminant` and `lab_observer`).
    pub lab: Option<Lab>,
    /// Other columns, kept for writing the file back (field name, value), device values
    /// (`CMYK_C`, `RGB_R`, `6CLR_1` …) among them.
    pub extra: Vec<(String, String)>,
}

/// A patch's device values: the colourant amounts it was printed with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceValues {
    /// `CMYK`, `RGB`, `CMY` or `6CLR` … (the CGATS field prefix).
    pub space: String,
    pub values: Vec<f64>,
}

impl Patch {
    /// The device values from the CGATS columns (`CMYK_C` … `CMYK_K`, `RGB_R` …, `nCLR_1` …),
    /// if the patch has a complete set of one space.
    pub fn device_values(&self) -> Option<DeviceValues> {
        const SPACES: [(&str, &[&str]); 3] = [
            ("CMYK", &["CMYK_C", "CMYK_M", "CMYK_Y", "CMYK_K"]),
            ("RGB", &["RGB_R", "RGB_G", "RGB_B"]),
            ("CMY", &["CMY_C", "CMY_M", "CMY_Y"]),
        ];
        let value = |f: &str| {
            self.extra
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(f))
                .and_then(|(_, v)| v.replace(',', ".").parse::<f64>().ok())
        };
        for (space, fields) in SPACES {
            let values: Option<Vec<f64>> = fields.iter().map(|f| value(f)).collect();
            if let Some(values) = values {
                return Some(DeviceValues {
                    space: space.to_owned(),
                    values,
                });
            }
        }
        // n-colour: 5CLR_1 … FCLR_15.
        let n = self.extra.iter().find_map(|(k, _)| {
            let (n, _) = k.split_once("CLR_")?;
            (n.len() == 1).then(|| u32::from_str_radix(n, 16).ok())?
        })?;
        let prefix = format!("{n:X}CLR");
        let values: Option<Vec<f64>> = (1..=n).map(|k| value(&format!("{prefix}_{k}"))).collect();
        values.map(|values| DeviceValues {
            space: prefix,
            values,
        })
    }
}

/// A table of a multi-table file that is not the measurement table (an Argyll `CAL` table, a
/// target description …), kept as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OtherTable {
    pub identifier: Option<String>,
    pub keywords: Vec<(String, String)>,
    pub fields: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// What the file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metadata {
    pub originator: Option<String>,
    pub descriptor: Option<String>,
    pub created: Option<String>,
    pub conditions: MeasurementConditions,
    /// The illuminant and observer the stored CIELAB values are for.
    pub lab_illuminant: Option<Illuminant>,
    pub lab_observer: Option<Observer>,
    /// Other keywords, kept for writing back.
    pub keywords: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dataset {
    pub meta: Metadata,
    pub patches: Vec<Patch>,
    /// What the reader tolerated or could not tell, in words, with the line where it applies.
    pub warnings: Vec<String>,
    /// The other tables of a multi-table file.
    pub other_tables: Vec<OtherTable>,
}

impl Metadata {
    /// When the file says it was made, in seconds since 1970 (UTC when the file gives no zone),
    /// from the `CREATED` forms instruments write: RFC 3339 (`2007-06-14T00:00:00-08:00`),
    /// `2025-08-04 13:01:31`, `2013/10/29`, X-Rite's `11/14/2014 # Time: 16:45` and
    /// `06/20/2022 #Time: 11:30:29` (month first, as X-Rite writes it, unless the first number
    /// exceeds 12), Argyll's `Fri Mar 17 13:07:06 2017`, `August 21, 2018 15:47`,
    /// `05.03.2024 09:30`. `None` for anything else: a date is never guessed.
    pub fn created_time(&self) -> Option<i64> {
        parse_created(self.created.as_deref()?)
    }
}

/// See [`Metadata::created_time`].
pub fn parse_created(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    // "11/14/2014 # Time: 16:45" → "11/14/2014 16:45"; runs of spaces and tabs → one space.
    let cleaned: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.starts_with('#') && !w.eq_ignore_ascii_case("time:"))
        .map(|w| w.trim_start_matches('#'))
        .collect();
    let mut s = cleaned.join(" ");
    // Month first unless the first number cannot be a month.
    let first = s.split('/').next().unwrap_or("");
    let slashed_day_first = s.matches('/').count() == 2
        && first.len() <= 2
        && first.parse::<u32>().is_ok_and(|d| d > 12);
    if slashed_day_first {
        s = s.replacen('/', "@", 1);
    }
    const WITH_TIME: &[&str] = &[
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%d@%m/%Y %H:%M:%S",
        "%d@%m/%Y %H:%M",
        "%a %b %e %H:%M:%S %Y",
        "%B %d, %Y %H:%M",
        "%B %d, %Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
    ];
    const DATE_ONLY: &[&str] = &[
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%m/%d/%Y",
        "%d@%m/%Y",
        "%B %d, %Y",
        "%d.%m.%Y",
        "%d %B %Y",
    ];
    for f in WITH_TIME {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, f) {
            return Some(t.and_utc().timestamp());
        }
    }
    for f in DATE_ONLY {
        if let Ok(d) = NaiveDate::parse_from_str(&s, f) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
        }
    }
    None
}

/// Where a patch's CIELAB came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum LabSource {
    Computed(Colorimetry),
    /// Taken from the file as it is.
    Stored {
        illuminant: Illuminant,
        observer: Observer,
    },
}

impl Dataset {
    /// The first patch whose device values say it is unprinted substrate (CMYK 0, RGB at
    /// maximum), if the file carries device values.
    pub fn paper_white(&self) -> Option<&Patch> {
        self.patches.iter().find(|p| {
            p.device_values()
                .as_ref()
                .and_then(crate::tolerance::PatchGroup::of)
                == Some(crate::tolerance::PatchGroup::Paper)
        })
    }

    /// Reads a CGATS or CxF3 file's bytes, telling them apart by content.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_under(bytes, None)
    }

    /// As [`Dataset::from_bytes`], for readings under `condition`: from a CxF3 file with
    /// several spectra per object, those measured under it; a file measured under another
    /// condition is refused; a file that does not say its condition takes the one asked for,
    /// which is reported in the warnings.
    pub fn from_bytes_under(
        bytes: &[u8],
        condition: Option<crate::spectrum::IlluminationCondition>,
    ) -> Result<Self> {
        let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let first = start.iter().find(|b| !b.is_ascii_whitespace());
        let mut d = if first == Some(&b'<') {
            let text = match std::str::from_utf8(start) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => encoding_rs::WINDOWS_1252.decode(start).0,
            };
            crate::cxf::parse_condition(&text, condition)?
        } else {
            crate::cgats::parse_bytes(bytes)?
        };
        if let Some(asked) = condition {
            match d.meta.conditions.illumination {
                Some(own) if own != asked => {
                    return Err(ColorError::Dataset(format!(
                        "the file was measured under {own}, not {asked}"
                    )));
                }
                Some(_) => {}
                None => {
                    d.meta.conditions.illumination = Some(asked);
                    d.warnings.push(format!(
                        "the file does not say its measurement condition; taken as {asked} as asked"
                    ));
                }
            }
        }
        Ok(d)
    }

    /// Replaces every patch's CIELAB by the one for `illuminant`/`observer` (computed from its
    /// spectrum, with XYZ columns added; or its stored value if that is for the same
    /// illuminant/observer), and records them as the dataset's.
    pub fn compute_lab(&mut self, illuminant: Illuminant, observer: Observer) -> Result<()> {
        if self.patches.iter().all(|p| p.spectrum.is_none()) {
            return Err(ColorError::Dataset(
                "no spectral data to compute XYZ and LAB from".into(),
            ));
        }
        for i in 0..self.patches.len() {
            let (lab, source) = self.lab(i, illuminant, observer)?;
            let p = &mut self.patches[i];
            if let LabSource::Computed(c) = source {
                p.extra.retain(|(f, _)| !f.starts_with("XYZ_"));
                p.extra.extend(
                    [("XYZ_X", c.xyz.x), ("XYZ_Y", c.xyz.y), ("XYZ_Z", c.xyz.z)]
                        .map(|(f, v)| (f.to_owned(), format!("{v:.4}"))),
                );
            }
            p.lab = Some(lab);
        }
        self.meta.lab_illuminant = Some(illuminant);
        self.meta.lab_observer = Some(observer);
        Ok(())
    }

    /// The spectral grid shared by the patches that have spectra (an error if they differ).
    pub fn grid(&self) -> Result<Option<WavelengthGrid>> {
        let mut grid = None;
        for p in &self.patches {
            if let Some(s) = &p.spectrum {
                match grid {
                    None => grid = Some(s.grid()),
                    Some(g) if g != s.grid() => {
                        return Err(ColorError::GridMismatch(format!(
                            "patch {} is on {} but others on {g}",
                            p.id,
                            s.grid()
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(grid)
    }

    /// CIELAB of patch `i` for `illuminant`/`observer`: computed from the spectrum if there is
    /// one, else the stored value if it is for the same illuminant and observer (graphic-arts
    /// files that do not say are taken as D50/2°, the ISO 13655 default).
    pub fn lab(
        &self,
        i: usize,
        illuminant: Illuminant,
        observer: Observer,
    ) -> Result<(Lab, LabSource)> {
        let p = &self.patches[i];
        if let Some(s) = &p.spectrum {
            let c = colorimetry(
                s,
                self.meta.conditions.bandpass_corrected,
                illuminant,
                observer,
            )?;
            return Ok((c.lab, LabSource::Computed(c)));
        }
        let Some(lab) = p.lab else {
            return Err(ColorError::Dataset(format!(
                "patch {} has neither a spectrum nor CIELAB",
                p.id
            )));
        };
        let stored_ill = self.meta.lab_illuminant.unwrap_or(Illuminant::D50);
        let stored_obs = self.meta.lab_observer.unwrap_or(Observer::Cie1931TwoDegree);
        if stored_ill != illuminant || stored_obs != observer {
            return Err(ColorError::Dataset(format!(
                "patch {} has CIELAB for {stored_ill}/{stored_obs} only, not {illuminant}/{observer}, and no spectrum",
                p.id
            )));
        }
        Ok((
            lab,
            LabSource::Stored {
                illuminant: stored_ill,
                observer: stored_obs,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_created;

    #[test]
    fn the_created_forms_of_real_files_are_dates() {
        let at = |s: &str| {
            parse_created(s)
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        };
        for (text, expected) in [
            ("11/14/2014 Time: 16:45", "2014-11-14 16:45"),
            ("06/20/2022\t#Time:\t11:30:29", "2022-06-20 11:30"),
            ("2025-08-04 13:01:31", "2025-08-04 13:01"),
            ("2013/10/29", "2013-10-29 00:00"),
            ("2007-06-14T00:00:00-08:00", "2007-06-14 08:00"),
            ("Fri Mar 17 13:07:06 2017", "2017-03-17 13:07"),
            ("Tue Mar  5 09:30:00 2024", "2024-03-05 09:30"),
            ("August 21, 2018  15:47", "2018-08-21 15:47"),
            ("March 5, 2024", "2024-03-05 00:00"),
            ("05.03.2024 09:30", "2024-03-05 09:30"),
            ("25/12/2023", "2023-12-25 00:00"),
        ] {
            assert_eq!(at(text).as_deref(), Some(expected), "{text}");
        }
        assert_eq!(parse_created("yesterday"), None);
        assert_eq!(parse_created("13/13/2013"), None);
    }
}
