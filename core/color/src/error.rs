//! Errors of the colorimetry crate: each names what was wrong and, for files, where.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ColorError {
    #[error("{0}")]
    InvalidSpectrum(String),
    #[error("the wavelength grids differ: {0}")]
    GridMismatch(String),
    #[error(
        "the readings were taken under different conditions ({field}: {a} vs {b}); compare them only if you mean to (allow mixed conditions)"
    )]
    IncomparableConditions {
        field: &'static str,
        a: String,
        b: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("line {line}: {message}")]
    Cgats { line: usize, message: String },
    #[error("CxF {location}: {message}")]
    Cxf { location: String, message: String },
    #[error("{0}")]
    Dataset(String),
    #[error("tolerance set: {0}")]
    Tolerance(String),
    #[error("plot: {0}")]
    Plot(String),
    /// The slices given to a batch function do not fit together.
    #[error("{0}")]
    Batch(String),
}

pub type Result<T, E = ColorError> = std::result::Result<T, E>;
