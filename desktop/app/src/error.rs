//! Errors as the UI sees them: `{code, message}` with the client core's stable codes (as
//! gitbutler's `UnmarkedError`), so the front end matches on `code` and shows `message`.
//! Server refusals keep their `reason_code`; nothing else of the error crosses.

use ecsp_client::{EcspError, ErrorCode};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl From<EcspError> for UiError {
    fn from(e: EcspError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            reason_code: e.reason_code,
            retry_after_secs: e.retry_after_secs,
        }
    }
}

impl UiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        EcspError::new(code, message).into()
    }
}

pub type UiResult<T> = Result<T, UiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reaches_the_ui_as_code_and_message() {
        let mut e = EcspError::new(ErrorCode::Rejected, "refused");
        e.reason_code = Some("consent_required".into());
        let json = serde_json::to_value(UiError::from(e)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"code": "rejected", "message": "refused", "reason_code": "consent_required"})
        );
    }
}
