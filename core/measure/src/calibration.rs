//! When a white calibration is due. An instrument drifts with time, with temperature and with
//! use; the session tells the technician before measuring, and refuses readings it would have
//! to distrust.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Limits after which a calibration is due.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationPolicy {
    /// Oldest calibration still trusted.
    pub max_age_secs: u64,
    /// Largest optics temperature change since calibration, in tenths of a degree.
    pub max_temperature_change_tenth_c: u16,
    /// Most readings per calibration.
    pub max_readings: u32,
}

impl Default for CalibrationPolicy {
    /// Four hours, 3 °C, 500 readings: typical handheld-instrument guidance.
    fn default() -> Self {
        Self {
            max_age_secs: 4 * 3600,
            max_temperature_change_tenth_c: 30,
            max_readings: 500,
        }
    }
}

/// The last white calibration of an instrument, as the session recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastCalibration {
    pub at: DateTime<Utc>,
    pub temperature_tenth_c: i16,
    pub readings_since: u32,
}

/// Why a calibration is due.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CalibrationDue {
    Never,
    Age {
        age_secs: u64,
        max_secs: u64,
    },
    Temperature {
        change_tenth_c: u16,
        max_tenth_c: u16,
    },
    Readings {
        readings: u32,
        max: u32,
    },
}

impl fmt::Display for CalibrationDue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationDue::Never => {
                f.write_str("calibrate the instrument on its white tile first")
            }
            CalibrationDue::Age { age_secs, max_secs } => write!(
                f,
                "calibration due: the last one is {} min old (limit {} min)",
                age_secs / 60,
                max_secs / 60
            ),
            CalibrationDue::Temperature {
                change_tenth_c,
                max_tenth_c,
            } => write!(
                f,
                "calibration due: the instrument's temperature changed by {:.1} °C since (limit {:.1} °C)",
                f64::from(*change_tenth_c) / 10.0,
                f64::from(*max_tenth_c) / 10.0
            ),
            CalibrationDue::Readings { readings, max } => write!(
                f,
                "calibration due: {readings} readings since the last one (limit {max})"
            ),
        }
    }
}

impl CalibrationPolicy {
    /// Whether a calibration is due now, for an instrument at `temperature_tenth_c`.
    pub fn due(
        &self,
        last: Option<LastCalibration>,
        now: DateTime<Utc>,
        temperature_tenth_c: i16,
    ) -> Option<CalibrationDue> {
        let Some(last) = last else {
            return Some(CalibrationDue::Never);
        };
        let age_secs = u64::try_from((now - last.at).num_seconds()).unwrap_or(0);
        if age_secs > self.max_age_secs {
            return Some(CalibrationDue::Age {
                age_secs,
                max_secs: self.max_age_secs,
            });
        }
        let change = temperature_tenth_c.abs_diff(last.temperature_tenth_c);
        if change > self.max_temperature_change_tenth_c {
            return Some(CalibrationDue::Temperature {
                change_tenth_c: change,
                max_tenth_c: self.max_temperature_change_tenth_c,
            });
        }
        if last.readings_since >= self.max_readings {
            return Some(CalibrationDue::Readings {
                readings: last.readings_since,
                max: self.max_readings,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn each_limit_makes_a_calibration_due() {
        let p = CalibrationPolicy::default();
        let now = Utc::now();
        let fresh = LastCalibration {
            at: now - Duration::minutes(10),
            temperature_tenth_c: 230,
            readings_since: 10,
        };
        assert_eq!(p.due(None, now, 230), Some(CalibrationDue::Never));
        assert_eq!(p.due(Some(fresh), now, 230), None);
        assert_eq!(
            p.due(Some(fresh), now, 260),
            None,
            "3.0 °C is within the limit"
        );
        assert!(matches!(
            p.due(Some(fresh), now, 261),
            Some(CalibrationDue::Temperature {
                change_tenth_c: 31,
                ..
            })
        ));
        assert!(matches!(
            p.due(Some(fresh), now, 199),
            Some(CalibrationDue::Temperature { .. })
        ));
        let old = LastCalibration {
            at: now - Duration::hours(5),
            ..fresh
        };
        assert!(matches!(
            p.due(Some(old), now, 230),
            Some(CalibrationDue::Age { .. })
        ));
        let used = LastCalibration {
            readings_since: 500,
            ..fresh
        };
        assert!(matches!(
            p.due(Some(used), now, 230),
            Some(CalibrationDue::Readings { readings: 500, .. })
        ));
    }
}
