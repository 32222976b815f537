//! Parsing JSON into the protocol types with errors a person can act on: the JSON path of a
//! value of the wrong shape, or the line and column of a syntax error. The server answers with
//! it, and the clients use it for the files users give them.

use serde::de::DeserializeOwned;

/// Why a JSON text did not parse into the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    /// `true` for malformed JSON; `false` for well-formed JSON of the wrong shape.
    pub syntax: bool,
    /// The JSON path of the value at fault (shape errors), e.g. `records[0].lab.L`.
    pub field: Option<String>,
    /// Line and column (1-based) where the parser stopped.
    pub position: Option<(usize, usize)>,
    /// What was wrong and what was expected, without the position.
    pub message: String,
}

/// Parses `bytes` as one JSON value of type `T` (nothing may follow it).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let syntax = inner.classify() != serde_json::error::Category::Data;
        let message = inner.to_string();
        JsonError {
            syntax,
            field: (!syntax && path != ".").then_some(path),
            position: (inner.line() > 0).then(|| (inner.line(), inner.column())),
            message: message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned(),
        }
    })?;
    de.end().map_err(|e| JsonError {
        syntax: true,
        field: None,
        position: Some((e.line(), e.column())),
        message: "unexpected content after the JSON value".into(),
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_errors_name_the_path_and_syntax_errors_the_place() {
        let e = from_slice::<crate::auth::LoginRequest>(br#"{"email": 5, "password": "x"}"#)
            .unwrap_err();
        assert!(!e.syntax);
        assert_eq!(e.field.as_deref(), Some("email"));
        assert!(e.message.contains("invalid type"), "{e}");
        let e = from_slice::<crate::auth::LoginRequest>(b"{\n  \"email\": ").unwrap_err();
        assert!(e.syntax && e.field.is_none());
        assert_eq!(e.position.map(|p| p.0), Some(2));
        let e = from_slice::<serde_json::Value>(b"{} {}").unwrap_err();
        assert!(e.syntax && e.message.contains("after the JSON value"));
    }
}
