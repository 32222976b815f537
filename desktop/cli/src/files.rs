//! Reading the JSON files given on the command line, with errors that name the file, the line
//! and column or the field, and what was expected.

use std::path::Path;

use ecsp_client::ClientError;
use serde::de::DeserializeOwned;

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ClientError> {
    let bad = |line, field: Option<String>, message: String| ClientError::BadFile {
        path: path.to_owned(),
        line,
        field,
        message,
    };
    let text = std::fs::read(path).map_err(|e| bad(None, None, format!("cannot read: {e}")))?;
    ecsp_protocol::json::from_slice(&text).map_err(|e| bad(e.position, e.field, e.message))
}

/// Re-labels validation errors of a captured record as errors of the file it came from.
pub fn in_file(path: &Path, err: ClientError) -> ClientError {
    match err {
        ClientError::Invalid(errors) => {
            let message = errors
                .0
                .iter()
                .map(|e| format!("field `{}`: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            ClientError::BadFile {
                path: path.to_owned(),
                line: None,
                field: None,
                message,
            }
        }
        other => other,
    }
}
