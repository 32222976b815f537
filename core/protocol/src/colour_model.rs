//! The one definition of how a colour reading was taken and for what it was computed: ISO 13655
//! measurement condition, geometry, backing, CIE illuminant and observer.
//!
//! The wire protocol (measurement uploads) and the colorimetry crate (`ecsp-color`, which reads
//! CGATS and CxF files) both use these types, so a reading keeps its meaning from the file to the
//! server. The serde forms are the ones stored since protocol version 1: enum names as strings
//! (`"M1"`, `"45/0"`, `"self_backing"`, `"D50"`) and the observer as a number (`2`, `10`).
//! `parse` accepts the spellings files use; it never guesses: an unknown spelling is `None`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 13655 measurement condition (illumination of the sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IlluminationCondition {
    /// Illuminant A (tungsten), UV content undefined.
    M0,
    /// D50, UV content included (optical brighteners excited).
    M1,
    /// UV excluded.
    M2,
    /// Polarised, UV excluded.
    M3,
}

impl IlluminationCondition {
    /// `M0`…`M3` (any case, surrounding spaces ignored).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "M0" => Some(Self::M0),
            "M1" => Some(Self::M1),
            "M2" => Some(Self::M2),
            "M3" => Some(Self::M3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::M0 => "M0",
            Self::M1 => "M1",
            Self::M2 => "M2",
            Self::M3 => "M3",
        }
    }
}

impl fmt::Display for IlluminationCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Illumination/viewing geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Geometry {
    #[serde(rename = "45/0")]
    FortyFiveZero,
    #[serde(rename = "0/45")]
    ZeroFortyFive,
    #[serde(rename = "d/8")]
    DiffuseEight,
    #[serde(rename = "8/d")]
    EightDiffuse,
}

impl Geometry {
    /// `45/0`, `45°/0°`, `45a:0`, `0/45`, `d/8`, `di:8`, `8/d` and the like.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s
            .split(['/', ':', ' ', '°'])
            .filter(|p| !p.is_empty())
            .collect();
        match parts.join("/").to_ascii_lowercase().as_str() {
            "45/0" | "45a/0" | "45c/0" | "45x/0" | "45.0/0.0" => Some(Self::FortyFiveZero),
            "0/45" | "0/45a" | "0/45c" | "0/45x" | "0.0/45.0" => Some(Self::ZeroFortyFive),
            "d/8" | "di/8" | "de/8" | "d/8.0" => Some(Self::DiffuseEight),
            "8/d" | "8/di" | "8/de" | "8.0/d" => Some(Self::EightDiffuse),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FortyFiveZero => "45/0",
            Self::ZeroFortyFive => "0/45",
            Self::DiffuseEight => "d/8",
            Self::EightDiffuse => "8/d",
        }
    }
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was behind the sample when it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Backing {
    White,
    Black,
    /// A stack of the same substrate.
    SelfBacking,
}

impl Backing {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "white" => Some(Self::White),
            "black" => Some(Self::Black),
            "self" | "self_backing" | "self-backing" => Some(Self::SelfBacking),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::White => "white",
            Self::Black => "black",
            Self::SelfBacking => "self",
        }
    }
}

impl fmt::Display for Backing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CIE standard illuminants a CIELAB value may be stated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Illuminant {
    A,
    C,
    D50,
    D55,
    D65,
    D75,
    F2,
    F7,
    F11,
}

impl Illuminant {
    pub const ALL: [Self; 9] = [
        Self::A,
        Self::C,
        Self::D50,
        Self::D55,
        Self::D65,
        Self::D75,
        Self::F2,
        Self::F7,
        Self::F11,
    ];

    /// `D50`, `d50`, `CIE D50`, `F11` …
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_uppercase();
        let s = s.strip_prefix("CIE").map_or(s.as_str(), str::trim);
        Self::ALL.into_iter().find(|i| i.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::C => "C",
            Self::D50 => "D50",
            Self::D55 => "D55",
            Self::D65 => "D65",
            Self::D75 => "D75",
            Self::F2 => "F2",
            Self::F7 => "F7",
            Self::F11 => "F11",
        }
    }
}

impl fmt::Display for Illuminant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CIE standard observer; on the wire the number `2` (CIE 1931) or `10` (CIE 1964).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Observer {
    Cie1931TwoDegree,
    Cie1964TenDegree,
}

impl Observer {
    /// `2`, `2°`, `2 degree`, `2_Degree`, `2.0`, `1931`; `10`, `10°`, `1964` …
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let number: String = s
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let rest = s[number.len()..]
            .trim_start_matches(['°', ' ', '_', '-'])
            .trim();
        if !(rest.is_empty() || rest.starts_with("deg")) {
            return None;
        }
        match number.trim_end_matches(".0") {
            "2" | "1931" => Some(Self::Cie1931TwoDegree),
            "10" | "1964" => Some(Self::Cie1964TenDegree),
            _ => None,
        }
    }

    pub fn degrees(self) -> u8 {
        match self {
            Self::Cie1931TwoDegree => 2,
            Self::Cie1964TenDegree => 10,
        }
    }
}

impl fmt::Display for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}°", self.degrees())
    }
}

impl TryFrom<u8> for Observer {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            2 => Ok(Self::Cie1931TwoDegree),
            10 => Ok(Self::Cie1964TenDegree),
            other => Err(format!("observer must be 2 or 10 (degrees), got {other}")),
        }
    }
}

impl From<Observer> for u8 {
    fn from(o: Observer) -> u8 {
        o.degrees()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_spellings_are_read_and_unknown_ones_are_not_guessed() {
        assert_eq!(
            Observer::parse("2 degree"),
            Some(Observer::Cie1931TwoDegree)
        );
        assert_eq!(
            Observer::parse("10_Degree"),
            Some(Observer::Cie1964TenDegree)
        );
        assert_eq!(Observer::parse("2.0"), Some(Observer::Cie1931TwoDegree));
        assert_eq!(Observer::parse("10°"), Some(Observer::Cie1964TenDegree));
        assert_eq!(Observer::parse("20"), None);
        assert_eq!(Observer::parse("2 fields"), None);
        assert_eq!(Illuminant::parse(" cie d65"), Some(Illuminant::D65));
        assert_eq!(Illuminant::parse("F11"), Some(Illuminant::F11));
        assert_eq!(Illuminant::parse("D93"), None);
        assert_eq!(Geometry::parse("45°/0°"), Some(Geometry::FortyFiveZero));
        assert_eq!(Geometry::parse("45.0/0.0"), Some(Geometry::FortyFiveZero));
        assert_eq!(Geometry::parse("di:8"), Some(Geometry::DiffuseEight));
        assert_eq!(Geometry::parse("ISO 13655 - Reflection, M1"), None);
        assert_eq!(
            IlluminationCondition::parse(" m2 "),
            Some(IlluminationCondition::M2)
        );
        assert_eq!(Backing::parse("Self"), Some(Backing::SelfBacking));
    }

    #[test]
    fn wire_forms_are_those_stored_since_version_1() {
        assert_eq!(
            serde_json::to_string(&Observer::Cie1964TenDegree).unwrap(),
            "10"
        );
        assert!(serde_json::from_str::<Observer>("\"10\"").is_err());
        assert_eq!(
            serde_json::to_string(&Geometry::DiffuseEight).unwrap(),
            "\"d/8\""
        );
        assert_eq!(
            serde_json::to_string(&Backing::SelfBacking).unwrap(),
            "\"self_backing\""
        );
        assert_eq!(serde_json::to_string(&Illuminant::F11).unwrap(), "\"F11\"");
    }
}
