//! Errors on the wire: RFC 9457 `application/problem+json`, with a stable machine code that
//! clients match on and the fields at fault.

use serde::{Deserialize, Serialize};

use crate::FieldError;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Stable codes a client can act on; the `detail` text is for people.
pub mod codes {
    pub const VALIDATION_FAILED: &str = "validation_failed";
    pub const MALFORMED_BODY: &str = "malformed_body";
    /// A query parameter is unknown, repeated, or not what the operation takes (400);
    /// `errors[].field` names it and `errors[].message` says what it must be.
    pub const INVALID_QUERY: &str = "invalid_query";
    pub const BODY_TOO_LARGE: &str = "body_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const CONSENT_REQUIRED: &str = "consent_required";
    pub const RECORD_CONFLICT: &str = "record_conflict";
    pub const CONFLICT: &str = "conflict";
    pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";
    pub const INTERNAL: &str = "internal_error";
    pub const UNAVAILABLE: &str = "unavailable";
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type: `urn:ecsp:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine code, one of [`codes`].
    pub code: String,
    /// The fields at fault, if the problem is in the request body or query.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:ecsp:problem:{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
}
