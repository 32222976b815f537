//! Read errors that say which file, where in it (line, element, row) and what was expected.
//!
//! Messages never quote a value that could be personal data (user, document or job names):
//! they name the attribute or column instead, because a reason is shown in the app and written
//! beside a quarantined file.

use std::fmt;

use serde::Serialize;

/// Why a file could not be read; the hot folder and the receiver act on it the same way
/// (quarantine, or a JMF error response), the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadErrorKind {
    /// Larger than the configured limit; not read at all.
    TooLarge,
    /// Not well-formed (truncated XML, bad UTF-8, a CSV row that cannot be split).
    Malformed,
    /// A construct refused on principle: a DOCTYPE declaring entities, nesting or element
    /// counts past the limits.
    Refused,
    /// Well-formed, but not a format read here (or a CSV whose columns match no known set).
    Unsupported,
    /// A value that is not what its field must be (a page count that is not a number).
    Invalid,
    /// Something the upload needs that the file does not say (the producing software).
    Missing,
}

impl ReadErrorKind {
    pub const ALL: [ReadErrorKind; 6] = [
        ReadErrorKind::TooLarge,
        ReadErrorKind::Malformed,
        ReadErrorKind::Refused,
        ReadErrorKind::Unsupported,
        ReadErrorKind::Invalid,
        ReadErrorKind::Missing,
    ];

    /// The stable code (as serialised, and as a quarantine reason file's `kind:` line says it),
    /// for an application to say the reason in its own language.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadErrorKind::TooLarge => "too_large",
            ReadErrorKind::Malformed => "malformed",
            ReadErrorKind::Refused => "refused",
            ReadErrorKind::Unsupported => "unsupported",
            ReadErrorKind::Invalid => "invalid",
            ReadErrorKind::Missing => "missing",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == code)
    }
}

/// Where in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A line (1-based), and the element being read if known.
    Line { line: u64, element: Option<String> },
    /// A CSV data row (1-based line in the file) and the column if known.
    Row { line: u64, column: Option<String> },
    /// An element path, when the line is not known.
    Element(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { line, element } => {
                write!(f, "line {line}")?;
                if let Some(e) = element {
                    write!(f, ", <{e}>")?;
                }
                Ok(())
            }
            Location::Row { line, column } => {
                write!(f, "line {line}")?;
                if let Some(c) = column {
                    write!(f, ", column `{c}`")?;
                }
                Ok(())
            }
            Location::Element(path) => write!(f, "<{path}>"),
        }
    }
}

/// A file that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct ReadError {
    /// The file name (or `JMF from ADDR` for the receiver).
    pub file: String,
    pub kind: ReadErrorKind,
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(l) = &self.location {
            write!(f, "{l}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl ReadError {
    pub fn new(file: &str, kind: ReadErrorKind, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            kind,
            location: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
}

/// A value left out of an upload that was otherwise read: the field, where, and why. A file is
/// not refused for one bad optional value (a malformed time in one audit); the value is dropped
/// and this says so. Like errors, warnings never quote the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadWarning {
    pub file: String,
    pub location: Option<Location>,
    /// The attribute or column left out (`TimeStamp`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(l) = &self.location {
            write!(f, "{l}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A parse error before the file name is known to the parser's caller.
pub(crate) type Result<T> = std::result::Result<T, ReadError>;
