//! Reading the files given on the command line, with errors that name the file, the line and
//! column or the field, and what was expected.

use std::path::Path;

use ecsp_client::{EcspError, ErrorCode};
use serde::de::DeserializeOwned;

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, EcspError> {
    let text = std::fs::read(path)
        .map_err(|e| EcspError::bad_file(path, None, None, &format!("cannot read: {e}")))?;
    ecsp_protocol::json::from_slice(&text)
        .map_err(|e| EcspError::bad_file(path, e.position, e.field.as_deref(), &e.message))
}

/// Reads a JSON object and sets `device_id` in it when `--device` was given, so example files
/// need not name a device of one particular server. Without `--device` the file must name one:
/// the error for a missing `device_id` says where to find the ids.
pub fn read_json_for_device<T: DeserializeOwned>(
    path: &Path,
    device: Option<uuid::Uuid>,
) -> Result<T, EcspError> {
    let Some(device) = device else {
        // Parsed as it is, so an error keeps its line and column.
        return read_json(path).map_err(|mut e| {
            if e.message.contains("`device_id`") {
                e.message
                    .push_str(" (give --device ID; `ecsp devices` lists the ids)");
            }
            e
        });
    };
    let mut value: serde_json::Value = read_json(path)?;
    let Some(object) = value.as_object_mut() else {
        return Err(EcspError::bad_file(
            path,
            None,
            None,
            "expected a JSON object",
        ));
    };
    object.insert(
        "device_id".into(),
        serde_json::Value::String(device.to_string()),
    );
    let text = serde_json::to_vec(&value).unwrap_or_default();
    ecsp_protocol::json::from_slice(&text)
        .map_err(|e| EcspError::bad_file(path, None, e.field.as_deref(), &e.message))
}

/// Re-labels validation errors of a captured record as errors of the file it came from.
pub fn in_file(path: &Path, err: EcspError) -> EcspError {
    if err.code != ErrorCode::InvalidInput || err.fields.is_empty() {
        return err;
    }
    let message = err
        .fields
        .iter()
        .map(|e| format!("field `{}`: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    EcspError {
        message: format!("{}: {message}", path.display()),
        ..err
    }
}
