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
    let mut de = serde_json::Deserializer::from_slice(&text);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let line = (inner.line() > 0).then(|| (inner.line(), inner.column()));
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        let field = (field != "." && inner.classify() == serde_json::error::Category::Data)
            .then_some(field);
        bad(line, field, message)
    })?;
    de.end().map_err(|e| {
        bad(
            Some((e.line(), e.column())),
            None,
            "unexpected content after the JSON value".into(),
        )
    })?;
    Ok(value)
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
