//! The session's errors: one type with a closed set of codes a front end matches on. No message
//! holds a position, a photo or a secret.

use ecsp_client::EcspError;
use ecsp_instrument_link::driver::InstrumentError;
use ecsp_photo::PhotoError;
use thiserror::Error;

use crate::calibration::CalibrationDue;

/// What went wrong, for a front end to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureErrorCode {
    /// Calibrate the instrument first.
    CalibrationDue,
    /// The instrument refused (stray light, low battery, dirty tile …): the message says which.
    InstrumentRefused,
    /// The instrument could not be reached or kept connected.
    InstrumentUnreachable,
    /// The instrument sent something the profile does not allow.
    InstrumentProtocol,
    /// The reference chart cannot be used.
    Chart,
    /// A patch, session or reading that does not exist.
    NotFound,
    /// The session cannot be uploaded yet (patches unmeasured or flagged).
    Incomplete,
    /// The local database failed.
    LocalStorage,
    /// The client core failed (sign-in, consent, outbox): see the inner code.
    Client,
    /// A photo cannot be attached (format, size, damaged file): the message says why.
    Photo,
    /// The user has not allowed this (photos without `photos` consent).
    NotAllowed,
}

#[derive(Debug, Clone, Error)]
pub enum MeasureError {
    #[error("{0}")]
    CalibrationDue(CalibrationDue),
    #[error(transparent)]
    Instrument(#[from] InstrumentError),
    #[error("the reference chart cannot be used: {0}")]
    Chart(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Incomplete(String),
    #[error("local storage: {0}")]
    Storage(String),
    #[error(transparent)]
    Client(#[from] EcspError),
    #[error(transparent)]
    Photo(#[from] PhotoError),
    #[error("{0}")]
    NotAllowed(String),
}

impl MeasureError {
    pub fn code(&self) -> MeasureErrorCode {
        match self {
            MeasureError::CalibrationDue(_) => MeasureErrorCode::CalibrationDue,
            MeasureError::Instrument(InstrumentError::Refused(_))
            | MeasureError::Instrument(InstrumentError::Cancelled) => {
                MeasureErrorCode::InstrumentRefused
            }
            MeasureError::Instrument(InstrumentError::Link(_)) => {
                MeasureErrorCode::InstrumentUnreachable
            }
            MeasureError::Instrument(InstrumentError::Protocol(_)) => {
                MeasureErrorCode::InstrumentProtocol
            }
            MeasureError::Chart(_) => MeasureErrorCode::Chart,
            MeasureError::NotFound(_) => MeasureErrorCode::NotFound,
            MeasureError::Incomplete(_) => MeasureErrorCode::Incomplete,
            MeasureError::Storage(_) => MeasureErrorCode::LocalStorage,
            MeasureError::Client(_) => MeasureErrorCode::Client,
            MeasureError::Photo(_) => MeasureErrorCode::Photo,
            MeasureError::NotAllowed(_) => MeasureErrorCode::NotAllowed,
        }
    }
}

impl From<rusqlite::Error> for MeasureError {
    fn from(e: rusqlite::Error) -> Self {
        MeasureError::Storage(e.to_string())
    }
}

impl From<tokio::task::JoinError> for MeasureError {
    fn from(e: tokio::task::JoinError) -> Self {
        MeasureError::Storage(format!("a storage task failed: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, MeasureError>;
