//! A chart read from a CGATS or CxF file as the wire protocol's measurement samples, so that
//! `ecsp upload measurement chart.cgats` sends what the file says and nothing it does not.
//!
//! Each patch becomes one [`ColorSample`]: its id as the patch name, its spectrum on its grid,
//! its stored CIELAB with the illuminant and observer the file declares for it, and the file's
//! measurement conditions. What the protocol requires but the file does not say (the
//! M-condition, the geometry) is an error naming what is missing, never a default; what cannot
//! be represented is an error naming the patch.
//!
//! And back: [`dataset_of`] makes a stored measurement record a chart again, so the server can
//! compare and plot it with the same code the CLI uses for files.

use chrono::Utc;
use ecsp_protocol::Validate;
use ecsp_protocol::measurement::{
    ColorSample, Lab, MeasurementCondition, MeasurementRecord, Spectrum,
};

use crate::dataset::{Dataset, Metadata, Patch};
use crate::error::{ColorError, Result};
use crate::spectrum::{MeasurementConditions, WavelengthGrid};

fn refuse(message: String) -> ColorError {
    ColorError::Dataset(message)
}

/// The samples of every patch of `d`, in file order.
pub fn measurement_samples(d: &Dataset) -> Result<Vec<ColorSample>> {
    let c = &d.meta.conditions;
    let illumination = c.illumination.ok_or_else(|| {
        refuse(
            "the file does not say its measurement condition (M0, M1, M2 or M3), which a measurement upload needs; add MEASUREMENT_CONDITION to the file".into(),
        )
    })?;
    let geometry = c.geometry.ok_or_else(|| {
        refuse(
            "the file does not say its measurement geometry (45/0, 0/45, d/8 or 8/d), which a measurement upload needs; add MEASUREMENT_GEOMETRY to the file".into(),
        )
    })?;
    let condition = MeasurementCondition {
        illumination,
        geometry,
        bandpass_corrected: c.bandpass_corrected,
        aperture_mm: c.aperture_mm,
        backing: c.backing,
    };
    let stored_for = match (d.meta.lab_illuminant, d.meta.lab_observer) {
        (Some(i), Some(o)) => Some((i, o)),
        _ => None,
    };
    let mut samples = Vec::with_capacity(d.patches.len());
    for p in &d.patches {
        let spectrum = match &p.spectrum {
            Some(s) => {
                let g = s.grid();
                let start_nm = u16::try_from(g.start_nm).map_err(|_| {
                    refuse(format!("patch {}: start wavelength out of range", p.id))
                })?;
                let interval_nm = u16::try_from(g.interval_nm).map_err(|_| {
                    refuse(format!("patch {}: wavelength interval out of range", p.id))
                })?;
                Some(Spectrum {
                    start_nm,
                    interval_nm,
                    values: s.values().to_vec(),
                })
            }
            None => None,
        };
        let lab = match (p.lab, stored_for) {
            (Some(lab), Some((illuminant, observer))) => Some(Lab {
                l: lab.l,
                a: lab.a,
                b: lab.b,
                illuminant,
                observer,
            }),
            // CIELAB whose illuminant/observer the file does not say: kept out when the
            // spectrum carries the measurement, refused when it is all there is.
            (Some(_), None) if spectrum.is_some() => None,
            (Some(_), None) => {
                return Err(refuse(format!(
                    "patch {}: CIELAB without the illuminant and observer it is for (the file declares none), and no spectrum",
                    p.id
                )));
            }
            (None, _) => None,
        };
        let sample = ColorSample {
            patch: p.id.clone(),
            condition: condition.clone(),
            spectrum,
            lab,
        };
        sample
            .validate(Utc::now())
            .map_err(|e| refuse(format!("patch {}: {e}", p.id)))?;
        samples.push(sample);
    }
    Ok(samples)
}

/// A measurement record as a chart: one patch per sample (the patch name as its id), the
/// record's measurement condition and instrument, CIELAB for the illuminant and observer the
/// samples carry it for. Samples measured under different conditions in one record are an
/// error naming the patch, as is a sample that has only CIELAB for another illuminant or
/// observer than the others (a sample with a spectrum just loses that CIELAB, which is then
/// computed from the spectrum).
pub fn dataset_of(record: &MeasurementRecord) -> Result<Dataset> {
    let Some(first) = record.samples.first() else {
        return Err(refuse("the measurement has no samples".into()));
    };
    let c = &first.condition;
    let conditions = MeasurementConditions {
        illumination: Some(c.illumination),
        bandpass_corrected: c.bandpass_corrected,
        geometry: Some(c.geometry),
        aperture_mm: c.aperture_mm,
        backing: c.backing,
        instrument_model: Some(record.instrument.model.clone()),
        instrument_serial: Some(record.instrument.serial_number.clone()),
    };
    let stored_for = record
        .samples
        .iter()
        .find_map(|s| s.lab.as_ref().map(|l| (l.illuminant, l.observer)));
    let mut patches = Vec::with_capacity(record.samples.len());
    for s in &record.samples {
        let sc = &s.condition;
        if (sc.illumination, sc.geometry, sc.backing) != (c.illumination, c.geometry, c.backing)
            || sc.bandpass_corrected != c.bandpass_corrected
        {
            return Err(refuse(format!(
                "patch {}: measured under other conditions than patch {} of the same measurement",
                s.patch, first.patch
            )));
        }
        let spectrum = match &s.spectrum {
            Some(sp) => Some(
                crate::spectrum::Spectrum::new(
                    WavelengthGrid::new(
                        u32::from(sp.start_nm),
                        u32::from(sp.interval_nm),
                        sp.values.len(),
                    )
                    .map_err(|e| refuse(format!("patch {}: {e}", s.patch)))?,
                    sp.values.clone(),
                )
                .map_err(|e| refuse(format!("patch {}: {e}", s.patch)))?,
            ),
            None => None,
        };
        let lab = match &s.lab {
            Some(l) if Some((l.illuminant, l.observer)) == stored_for => {
                Some(crate::convert::Lab {
                    l: l.l,
                    a: l.a,
                    b: l.b,
                })
            }
            Some(_) if spectrum.is_some() => None,
            Some(l) => {
                return Err(refuse(format!(
                    "patch {}: CIELAB for {}/{} only, while the other samples are for {}",
                    s.patch,
                    l.illuminant,
                    l.observer,
                    stored_for.map_or_else(String::new, |(i, o)| format!("{i}/{o}"))
                )));
            }
            None if spectrum.is_none() => {
                return Err(refuse(format!(
                    "patch {}: neither a spectrum nor CIELAB",
                    s.patch
                )));
            }
            None => None,
        };
        patches.push(Patch {
            id: s.patch.clone(),
            name: None,
            spectrum,
            lab,
            extra: Vec::new(),
        });
    }
    Ok(Dataset {
        meta: Metadata {
            descriptor: Some(record.settings.printing_condition.clone()),
            created: Some(record.captured_at.to_rfc3339()),
            conditions,
            lab_illuminant: stored_for.map(|(i, _)| i),
            lab_observer: stored_for.map(|(_, o)| o),
            ..Metadata::default()
        },
        patches,
        warnings: Vec::new(),
        other_tables: Vec::new(),
    })
}

/// Whether `earlier` can be the default reference of `record`: the same printing condition, the
/// same measurement condition and the same patches (ids), so the colour difference says how the
/// printer drifted and nothing else (the portal's measurement page and the phone apps).
pub fn comparable_measurements(record: &MeasurementRecord, earlier: &MeasurementRecord) -> bool {
    fn ids(m: &MeasurementRecord) -> Vec<&str> {
        let mut ids: Vec<&str> = m.samples.iter().map(|s| s.patch.as_str()).collect();
        ids.sort_unstable();
        ids
    }
    let conditions_agree = match (dataset_of(record), dataset_of(earlier)) {
        (Ok(a), Ok(b)) => a
            .meta
            .conditions
            .check_comparable(&b.meta.conditions)
            .is_ok(),
        _ => false,
    };
    record.settings.printing_condition == earlier.settings.printing_condition
        && conditions_agree
        && ids(record) == ids(earlier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cie::{Illuminant, Observer};
    use crate::spectrum::{Geometry, IlluminationCondition};

    const CHART: &str = "CGATS.17\nMEASUREMENT_CONDITION M1\nMEASUREMENT_GEOMETRY 45/0\nILLUMINATION_NAME D50\nOBSERVER_ANGLE 2\nBEGIN_DATA_FORMAT\nSAMPLE_ID SPECTRAL_400 SPECTRAL_410 SPECTRAL_420 LAB_L LAB_A LAB_B\nEND_DATA_FORMAT\nBEGIN_DATA\nA1 0.5 0.6 0.7 80 1 2\nA2 0.1 0.2 0.3 40 -1 -2\nEND_DATA\n";

    #[test]
    fn a_chart_becomes_samples_with_its_own_conditions() {
        let d = crate::cgats::parse(CHART).unwrap();
        let samples = measurement_samples(&d).unwrap();
        assert_eq!(samples.len(), 2);
        let s = &samples[1];
        assert_eq!(s.patch, "A2");
        assert_eq!(s.condition.illumination, IlluminationCondition::M1);
        assert_eq!(s.condition.geometry, Geometry::FortyFiveZero);
        let spectrum = s.spectrum.as_ref().unwrap();
        assert_eq!((spectrum.start_nm, spectrum.interval_nm), (400, 10));
        assert_eq!(spectrum.values, vec![0.1, 0.2, 0.3]);
        let lab = s.lab.as_ref().unwrap();
        assert_eq!(
            (lab.l, lab.illuminant, lab.observer),
            (40.0, Illuminant::D50, Observer::Cie1931TwoDegree)
        );
    }

    #[test]
    fn what_the_file_does_not_say_is_an_error_naming_it() {
        let d = crate::cgats::parse(&CHART.replace("MEASUREMENT_CONDITION M1\n", "")).unwrap();
        let e = measurement_samples(&d).unwrap_err().to_string();
        assert!(e.contains("measurement condition"), "{e}");
        // CIELAB only, for an undeclared illuminant: refused, naming the patch.
        let lab_only = CHART
            .replace("ILLUMINATION_NAME D50\n", "")
            .replace("SPECTRAL_400 SPECTRAL_410 SPECTRAL_420 ", "")
            .replace("0.5 0.6 0.7 ", "")
            .replace("0.1 0.2 0.3 ", "");
        let e = measurement_samples(&crate::cgats::parse(&lab_only).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("patch A1:") && e.contains("illuminant"),
            "{e}"
        );
        // What the protocol refuses names the patch and the field.
        let long = CHART.replace("A2 0.1", &format!("{} 0.1", "P".repeat(70)));
        let e = measurement_samples(&crate::cgats::parse(&long).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("patch {}", "P".repeat(70))) && e.contains("patch:"),
            "{e}"
        );
    }

    #[test]
    fn a_stored_measurement_is_the_chart_it_was_made_from() {
        let d = crate::cgats::parse(CHART).unwrap();
        let samples = measurement_samples(&d).unwrap();
        let record: MeasurementRecord = serde_json::from_value(serde_json::json!({
            "record_id": "00000000-0000-4000-8000-000000000001",
            "captured_at": "2026-01-02T03:04:05Z",
            "device_id": "00000000-0000-4000-8000-000000000002",
            "software": {"name": "driver", "version": "1"},
            "environment": {"os_name": "Android", "os_version": "15", "app_version": "0.1.0"},
            "instrument": {"model": "i1Pro3", "serial_number": "42", "firmware_version": "1"},
            "settings": {"paper": "Luster", "printing_condition": "FOGRA51"},
            "samples": samples,
        }))
        .unwrap();
        let back = dataset_of(&record).unwrap();
        assert_eq!(back.patches.len(), 2);
        assert_eq!(back.patches[1].id, "A2");
        assert_eq!(back.patches[1].spectrum, d.patches[1].spectrum);
        assert_eq!(back.patches[1].lab, d.patches[1].lab);
        assert_eq!(back.meta.lab_illuminant, Some(Illuminant::D50));
        assert_eq!(
            back.meta.conditions.illumination,
            Some(IlluminationCondition::M1)
        );
        assert_eq!(back.meta.descriptor.as_deref(), Some("FOGRA51"));

        let mut mixed = record.clone();
        mixed.samples[1].condition.illumination = IlluminationCondition::M2;
        let e = dataset_of(&mixed).unwrap_err().to_string();
        assert!(
            e.starts_with("patch A2:") && e.contains("other conditions"),
            "{e}"
        );
        // CIELAB for another illuminant: dropped where the spectrum can stand in, else refused.
        let mut other = record.clone();
        if let Some(lab) = other.samples[1].lab.as_mut() {
            lab.illuminant = Illuminant::D65;
        }
        assert_eq!(dataset_of(&other).unwrap().patches[1].lab, None);
        other.samples[1].spectrum = None;
        let e = dataset_of(&other).unwrap_err().to_string();
        assert!(e.starts_with("patch A2:") && e.contains("D65"), "{e}");
    }
}
