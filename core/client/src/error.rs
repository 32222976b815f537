//! The client's errors, in two tiers (as in mozilla application-services):
//!
//! * [`ClientError`]: the rich internal error, with the library errors behind it. Only this crate
//!   sees it.
//! * [`EcspError`]: what the public API returns. Its variants are only what a caller acts on
//!   differently (show the sign-in screen, offer the server's CA, try later, fix the input…),
//!   each with a stable [`ErrorCode`]; the set is closed and pinned by a test. It holds owned
//!   strings only, so no library error type leaks to a front end or across the FFI.
//!
//! The one conversion point is `From<ClientError> for EcspError`. No token, password or
//! personal data is ever put in an error of either tier.

use std::path::PathBuf;

use ecsp_protocol::FieldError;
use ecsp_protocol::problem::{Problem, codes};
use serde::Serialize;

/// Why a TLS connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server's certificate chains to no trusted CA (configure `--ca-cert`?).
    UnknownCa,
    /// The certificate is not valid for the host name in the server URL.
    WrongHost,
    /// The certificate has expired (or is not yet valid).
    Expired,
    /// The server offered no protocol version this client accepts (TLS 1.2 or 1.3).
    ProtocolVersion,
    /// Any other certificate or handshake failure.
    Other,
}

/// The internal error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("the server URL must start with https:// (got {0}); this client never uses plain HTTP")]
    PlainHttpRefused(String),
    #[error("the server URL is not valid: {0}")]
    BadUrl(String),
    #[error("CA certificate file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("extra trust anchors: {0}")]
    CaPem(String),
    #[error("{}", tls_message(*.0))]
    Tls(TlsFailure),
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("not signed in (or the session has ended): sign in again")]
    NotSignedIn,
    #[error("the server refused the request: {}", .0.detail)]
    Server(Box<Problem>),
    #[error("too many attempts: {detail}")]
    RateLimited {
        detail: String,
        retry_after_secs: Option<u64>,
    },
    #[error("the server answered {status} without a problem description")]
    UnexpectedStatus { status: u16 },
    #[error("the secret store failed: {0}")]
    SecretStore(String),
    #[error("the local database failed: {0}")]
    Local(#[from] rusqlite::Error),
    #[error("the local database holds damaged data: {0}")]
    Corrupt(String),
    #[error(
        "the local database {path} was written by a newer version of this application (schema {found}, this one knows up to {known}); update the application"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("a background task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Invalid(#[from] ecsp_protocol::ValidationErrors),
}

fn tls_message(f: TlsFailure) -> &'static str {
    match f {
        TlsFailure::UnknownCa => {
            "the server's certificate is not signed by a trusted CA; give the server's CA certificate (--ca-cert)"
        }
        TlsFailure::WrongHost => {
            "the server's certificate is not valid for this host name; check the server URL"
        }
        TlsFailure::Expired => "the server's certificate has expired or is not yet valid",
        TlsFailure::ProtocolVersion => {
            "the server does not speak TLS 1.2 or 1.3; refusing an older protocol"
        }
        TlsFailure::Other => "the TLS connection to the server failed its checks",
    }
}

fn file_message(
    path: &std::path::Path,
    line: Option<&(usize, usize)>,
    field: Option<&str>,
    message: &str,
) -> String {
    let mut s = path.display().to_string();
    if let Some((l, c)) = line {
        s.push_str(&format!(":{l}:{c}"));
    }
    if let Some(f) = field.filter(|f| !f.is_empty()) {
        s.push_str(&format!(": field `{f}`"));
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

impl ClientError {
    /// Whether trying again later may succeed (network trouble, server busy or down).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) | ClientError::RateLimited { .. } => true,
            ClientError::Server(p) => p.status == 429 || p.status >= 500,
            ClientError::UnexpectedStatus { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A secret store's error (the store is a public trait hosts implement, so it speaks the
/// exported error).
impl From<EcspError> for ClientError {
    fn from(e: EcspError) -> Self {
        ClientError::SecretStore(e.message)
    }
}

impl From<tokio::task::JoinError> for ClientError {
    fn from(e: tokio::task::JoinError) -> Self {
        ClientError::Task(e.to_string())
    }
}

pub(crate) type Result<T, E = ClientError> = std::result::Result<T, E>;

/// The stable codes of [`EcspError`]: a closed set, listed in the README and pinned by a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The server URL, CA file or another setting is wrong: fix the settings.
    Configuration,
    /// The server's certificate chains to no trusted CA: offer to trust the server's CA.
    TlsUntrusted,
    /// Any other TLS failure (wrong host, expired, old protocol): the message says which.
    TlsFailed,
    /// The server cannot be reached: nothing is lost, try later.
    Offline,
    /// There is no session, or it has ended: show the sign-in screen.
    NotSignedIn,
    /// E-mail or password wrong, or the account is disabled.
    SignInRefused,
    /// Too many attempts: wait `retry_after_secs`.
    RateLimited,
    /// The device or record does not exist, or this user has no right to it.
    NotFound,
    /// The user's role does not allow this.
    Forbidden,
    /// The server refused the content; `reason_code` and `fields` say why. Retrying the same
    /// content will not help.
    Rejected,
    /// The input (a file, a form, an argument) is not valid; `fields` say where.
    InvalidInput,
    /// The server failed (5xx or an answer this client does not understand): try later.
    ServerError,
    /// The OS keyring (or the host's secret store) is locked or unavailable.
    KeyringUnavailable,
    /// The local database failed (disk full, damaged, or written by a newer version).
    LocalStorage,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::Configuration,
        ErrorCode::TlsUntrusted,
        ErrorCode::TlsFailed,
        ErrorCode::Offline,
        ErrorCode::NotSignedIn,
        ErrorCode::SignInRefused,
        ErrorCode::RateLimited,
        ErrorCode::NotFound,
        ErrorCode::Forbidden,
        ErrorCode::Rejected,
        ErrorCode::InvalidInput,
        ErrorCode::ServerError,
        ErrorCode::KeyringUnavailable,
        ErrorCode::LocalStorage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Configuration => "configuration",
            ErrorCode::TlsUntrusted => "tls_untrusted",
            ErrorCode::TlsFailed => "tls_failed",
            ErrorCode::Offline => "offline",
            ErrorCode::NotSignedIn => "not_signed_in",
            ErrorCode::SignInRefused => "sign_in_refused",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Rejected => "rejected",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::ServerError => "server_error",
            ErrorCode::KeyringUnavailable => "keyring_unavailable",
            ErrorCode::LocalStorage => "local_storage",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of the public API. `message` is for people; match on [`EcspError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct EcspError {
    pub code: ErrorCode,
    pub message: String,
    /// The server's own problem code, when the server refused (e.g. `consent_required`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The fields at fault, when the input or content was refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// When to try again, for [`ErrorCode::RateLimited`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl EcspError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            reason_code: None,
            fields: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Configuration, message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// A file the user gave is not valid: the message names the file, the line and column or
    /// the field, and what was expected.
    pub fn bad_file(
        path: &std::path::Path,
        line: Option<(usize, usize)>,
        field: Option<&str>,
        message: &str,
    ) -> Self {
        let mut e = Self::invalid_input(file_message(path, line.as_ref(), field, message));
        if let Some(field) = field.filter(|f| !f.is_empty()) {
            e.fields.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
                rule: None,
            });
        }
        e
    }

    /// Whether trying again later, unchanged, may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::Offline | ErrorCode::ServerError | ErrorCode::RateLimited
        )
    }
}

/// The code a server problem maps to.
fn problem_code(p: &Problem) -> ErrorCode {
    match (p.status, p.code.as_str()) {
        (_, codes::TOO_MANY_ATTEMPTS) | (429, _) => ErrorCode::RateLimited,
        (_, codes::INVALID_CREDENTIALS) => ErrorCode::SignInRefused,
        (401, _) => ErrorCode::NotSignedIn,
        (403, _) => ErrorCode::Forbidden,
        (404, _) => ErrorCode::NotFound,
        (s, _) if s >= 500 => ErrorCode::ServerError,
        _ => ErrorCode::Rejected,
    }
}

impl ClientError {
    /// The public code of this error: what a caller acts on (see [`ErrorCode`]).
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            ClientError::PlainHttpRefused(_)
            | ClientError::BadUrl(_)
            | ClientError::CaFile { .. }
            | ClientError::CaPem(_) => ErrorCode::Configuration,
            ClientError::Tls(TlsFailure::UnknownCa) => ErrorCode::TlsUntrusted,
            ClientError::Tls(_) => ErrorCode::TlsFailed,
            ClientError::Unreachable(_) => ErrorCode::Offline,
            ClientError::NotSignedIn => ErrorCode::NotSignedIn,
            ClientError::Server(p) => problem_code(p),
            ClientError::RateLimited { .. } => ErrorCode::RateLimited,
            ClientError::UnexpectedStatus { status } => match status {
                401 => ErrorCode::NotSignedIn,
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                429 => ErrorCode::RateLimited,
                _ => ErrorCode::ServerError,
            },
            ClientError::SecretStore(_) => ErrorCode::KeyringUnavailable,
            ClientError::Local(_)
            | ClientError::Corrupt(_)
            | ClientError::SchemaTooNew { .. }
            | ClientError::Task(_) => ErrorCode::LocalStorage,
            ClientError::Invalid(_) => ErrorCode::InvalidInput,
        }
    }
}

impl From<ClientError> for EcspError {
    fn from(e: ClientError) -> Self {
        let plain = EcspError::new(e.code(), e.to_string());
        match e {
            ClientError::Server(p) => EcspError {
                reason_code: Some(p.code),
                fields: p.errors,
                ..plain
            },
            ClientError::RateLimited {
                retry_after_secs, ..
            } => EcspError {
                retry_after_secs,
                ..plain
            },
            ClientError::Invalid(errors) => EcspError {
                fields: errors.0,
                ..plain
            },
            _ => plain,
        }
    }
}

/// The public API's result.
pub type EcspResult<T> = std::result::Result<T, EcspError>;
