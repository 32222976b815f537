//! The client's errors. Variants are what a caller acts on differently; messages say what to do.
//! No token, password or personal data is ever put in an error.

use std::path::PathBuf;

use ecsp_protocol::problem::Problem;

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

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the server URL must start with https:// (got {0}); this client never uses plain HTTP")]
    PlainHttpRefused(String),
    #[error("the server URL is not valid: {0}")]
    BadUrl(String),
    #[error("CA certificate file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("{}", tls_message(*.0))]
    Tls(TlsFailure),
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error("not signed in (or the session has ended): sign in again")]
    NotSignedIn,
    #[error("the server refused the request: {}", .0.detail)]
    Server(Box<Problem>),
    #[error("the server answered {status} without a problem description")]
    UnexpectedStatus { status: u16 },
    #[error("the secret store failed: {0}")]
    SecretStore(String),
    #[error("the local database failed: {0}")]
    Local(#[from] rusqlite::Error),
    #[error("the local database holds damaged data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(#[from] ecsp_protocol::ValidationErrors),
    #[error("{}", file_message(path, line.as_ref(), field.as_deref(), message))]
    BadFile {
        path: PathBuf,
        line: Option<(usize, usize)>,
        field: Option<String>,
        message: String,
    },
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
            ClientError::Unreachable(_) => true,
            ClientError::Server(p) => p.status == 429 || p.status >= 500,
            ClientError::UnexpectedStatus { status } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// A stable code for UIs and `--json` output.
    pub fn code(&self) -> &str {
        match self {
            ClientError::PlainHttpRefused(_) => "plain_http_refused",
            ClientError::BadUrl(_) => "bad_url",
            ClientError::CaFile { .. } => "ca_file",
            ClientError::Tls(TlsFailure::UnknownCa) => "tls_unknown_ca",
            ClientError::Tls(TlsFailure::WrongHost) => "tls_wrong_host",
            ClientError::Tls(TlsFailure::Expired) => "tls_expired",
            ClientError::Tls(TlsFailure::ProtocolVersion) => "tls_protocol_version",
            ClientError::Tls(TlsFailure::Other) => "tls_failed",
            ClientError::Unreachable(_) => "unreachable",
            ClientError::NotSignedIn => "not_signed_in",
            ClientError::Server(p) => &p.code,
            ClientError::UnexpectedStatus { .. } => "unexpected_status",
            ClientError::SecretStore(_) => "secret_store",
            ClientError::Local(_) | ClientError::Corrupt(_) => "local_database",
            ClientError::Invalid(_) => "invalid",
            ClientError::BadFile { .. } => "bad_file",
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
