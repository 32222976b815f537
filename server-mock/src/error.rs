//! The one error type of the HTTP API, rendered as `application/problem+json`.
//!
//! Internal failures are logged with their cause and answered with a generic message, so no
//! database detail, key material or personal data reaches a client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ecsp_protocol::FieldError;
use ecsp_protocol::problem::{CONTENT_TYPE, Problem, codes};

use crate::db::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid")]
    Validation(Vec<FieldError>),
    /// A query parameter the operation does not take, or not in the form it takes (400): each
    /// error names the parameter (`field`) and says what it must be (`message`).
    #[error("the query is not valid")]
    InvalidQuery(Vec<FieldError>),
    #[error("the request body is not well-formed JSON: {0}")]
    Malformed(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body must be `application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    #[error("the e-mail address or password is wrong")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this endpoint does not accept this method; see /openapi.json")]
    MethodNotAllowed,
    #[error("the request names something that does not exist or that you have no rights to")]
    UnknownReference(Vec<FieldError>),
    #[error("consent is required for a part of this upload")]
    ConsentRequired(Vec<FieldError>),
    #[error("a record with this id was already stored with different content")]
    RecordConflict(Vec<FieldError>),
    #[error("{0}")]
    Conflict(Refusal),
    #[error("too many failed sign-in attempts; try again in {0} s")]
    TooManyAttempts(u64),
    /// A service the node needs (besides its database) is not there: not ready (503).
    #[error("{0}")]
    NotReady(&'static str),
    #[error("internal error")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// One query parameter at fault, and what it must be.
    pub fn query(parameter: impl Into<String>, expected: impl Into<String>) -> Self {
        ApiError::InvalidQuery(vec![FieldError {
            field: parameter.into(),
            message: expected.into(),
            rule: None,
        }])
    }

    /// One field at fault, as a validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
            rule: None,
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::ConsentRequired(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Malformed(_) | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthenticated(_)
            | ApiError::TokenExpired
            | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotFound(_) | ApiError::UnknownReference(_) => StatusCode::NOT_FOUND,
            ApiError::RecordConflict(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's `code` (a closed set), for logs and metrics.
    pub fn problem_code(&self) -> &'static str {
        self.code_and_title().0
    }

    fn code_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation(_) => (codes::VALIDATION_FAILED, "Invalid request"),
            ApiError::Malformed(_) => (codes::MALFORMED_BODY, "Malformed request body"),
            ApiError::InvalidQuery(_) => (codes::INVALID_QUERY, "Invalid query parameter"),
            ApiError::TooLarge(_) => (codes::BODY_TOO_LARGE, "Request body too large"),
            ApiError::UnsupportedMediaType => {
                (codes::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
            }
            ApiError::Unauthenticated(_) => (codes::UNAUTHENTICATED, "Not signed in"),
            ApiError::TokenExpired => (codes::TOKEN_EXPIRED, "Access token expired"),
            ApiError::InvalidCredentials => (codes::INVALID_CREDENTIALS, "Sign-in failed"),
            ApiError::Forbidden(_) => (codes::FORBIDDEN, "Forbidden"),
            ApiError::MethodNotAllowed => (codes::METHOD_NOT_ALLOWED, "Method not allowed"),
            ApiError::NotFound(_) | ApiError::UnknownReference(_) => {
                (codes::NOT_FOUND, "Not found")
            }
            ApiError::ConsentRequired(_) => (codes::CONSENT_REQUIRED, "Consent required"),
            ApiError::RecordConflict(_) => (codes::RECORD_CONFLICT, "Record conflict"),
            ApiError::Conflict(_) => (codes::CONFLICT, "Conflict"),
            ApiError::TooManyAttempts(_) => (codes::TOO_MANY_ATTEMPTS, "Too many attempts"),
            ApiError::Store(e) if e.is_unavailable() => (codes::UNAVAILABLE, "Service unavailable"),
            ApiError::NotReady(_) => (codes::UNAVAILABLE, "Service unavailable"),
            ApiError::Store(_) => (codes::INTERNAL, "Internal error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (code, title) = self.code_and_title();
        let errors = match self {
            ApiError::Validation(e)
            | ApiError::InvalidQuery(e)
            | ApiError::ConsentRequired(e)
            | ApiError::RecordConflict(e)
            | ApiError::UnknownReference(e) => e.clone(),
            _ => Vec::new(),
        };
        let detail = match self {
            ApiError::Validation(e)
            | ApiError::InvalidQuery(e)
            | ApiError::ConsentRequired(e)
            | ApiError::RecordConflict(e)
            | ApiError::UnknownReference(e)
                if !e.is_empty() =>
            {
                format!("{self}: {}", ecsp_protocol::ValidationErrors(e.clone()))
            }
            _ => self.to_string(),
        };
        Problem::new(self.status().as_u16(), code, title, detail).with_errors(errors)
    }
}

impl From<ecsp_protocol::ValidationErrors> for ApiError {
    fn from(e: ecsp_protocol::ValidationErrors) -> Self {
        ApiError::Validation(e.0)
    }
}

impl From<crate::sql::Error> for ApiError {
    fn from(e: crate::sql::Error) -> Self {
        ApiError::Store(StoreError::Sql(e))
    }
}

/// The problem code of an answer made from an [`ApiError`], kept with the response for the
/// request metrics (`telemetry`).
#[derive(Debug, Clone, Copy)]
pub struct ProblemCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            if e.is_unavailable() {
                tracing::warn!(error = %e, "request refused: the database is unavailable");
            } else {
                tracing::error!(error = %e, "request failed on storage");
            }
        }
        let status = self.status();
        let problem = self.to_problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        // For the metrics: the refusal's reason without reading the body back.
        response
            .extensions_mut()
            .insert(ProblemCode(self.code_and_title().0));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        match &self {
            // Long enough for a database to come back from a restart or a fail-over.
            ApiError::Store(e) if e.is_unavailable() => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::NotReady(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::TooManyAttempts(secs) => {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::Unauthenticated(_)
            | ApiError::TokenExpired
            | ApiError::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Why a request that was well formed and allowed still could not be done (409): one variant per
/// rule, so each front end can say it in its own language (the portal's catalogue has a text per
/// variant); the API's problem detail is the English text below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an admin cannot disable or demote themselves; ask another admin")]
    AdminSelf,
    #[error("a user with this e-mail address already exists in your organisation")]
    EmailTaken,
    #[error("this device is already registered")]
    DeviceRegistered,
    #[error("a different decision was already recorded under this decision_id")]
    DecisionIdReused,
    #[error("a device group with this name already exists")]
    GroupNameTaken,
    #[error("an organisation has at most {0} device groups")]
    TooManyGroups(usize),
    #[error("a user has at most {0} alert rules")]
    TooManyRules(usize),
    #[error("no agent is designated to report this device, so nothing can reach it")]
    NoAgent,
    #[error("the device does not report the `{}` capability", .0.as_str())]
    NotCapable(ecsp_protocol::remote_ops::OperationKind),
    #[error("the operation is {} and can no longer be cancelled (only while queued)", .0.as_str())]
    NotCancellable(ecsp_protocol::remote_ops::OperationState),
}
