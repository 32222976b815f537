//! A local JMF receiver: Fiery and PRISMAsync push JMF signals to a URL. It answers each
//! message with a JMF `Response` (ReturnCode 0, or the error and its reason), captures what the
//! signals say, and keeps a bad message in the quarantine folder with its reason.
//!
//! It listens on 127.0.0.1 unless given another address: the DFE usually runs on the same
//! workstation, and the receiver has no authentication of its own (JMF has none either).

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::watch;

use crate::{Ingest, IngestError, Ingested, ReadError, ReadErrorKind, xml};

pub const JMF_CONTENT_TYPE: &str = "application/vnd.cip4-jmf+xml";

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub listen: SocketAddr,
    /// Where bad messages are kept with their reasons (`None`: only answered and logged).
    pub quarantine: Option<PathBuf>,
    /// The largest body accepted (larger: 413, not read).
    pub max_body_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            quarantine: None,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
struct AppState {
    ingest: Ingest,
    quarantine: Option<PathBuf>,
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Receiver {
    /// Binds and starts serving.
    pub async fn start(ingest: Ingest, config: ReceiverConfig) -> std::io::Result<Self> {
        if let Some(dir) = &config.quarantine {
            std::fs::create_dir_all(dir)?;
        }
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the JMF receiver listens beyond this computer");
        }
        let app = Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .with_state(AppState {
                ingest,
                quarantine: config.quarantine.clone(),
            });
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
        });
        Ok(Self { addr, stop, task })
    }

    /// The URL to give the DFE.
    pub fn url(&self) -> String {
        format!("http://{}/jmf", self.addr)
    }

    /// Stops accepting and waits for open requests to finish.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(std::io::Error::other)?
    }
}

async fn receive(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    if method != axum::http::Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "POST JMF here\n",
        )
            .into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        content_type.as_str(),
        JMF_CONTENT_TYPE | "application/xml" | "text/xml"
    ) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected {JMF_CONTENT_TYPE}, got `{content_type}` (MIME packages of JMF with JDF are not read)\n"),
        )
            .into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => return (e.status(), format!("{}\n", e.body_text())).into_response(),
    };
    let source = format!("JMF from {}", peer.ip());
    let messages = xml::parse(&source, &body, &state.ingest.options().limits)
        .map(|root| crate::jmf::messages(&root))
        .unwrap_or_default();
    match state.ingest.ingest(&source, &body).await {
        Ok(outcome) => {
            if let Ingested::Captured { record_ids, .. } = &outcome {
                tracing::info!(records = record_ids.len(), "JMF captured");
            }
            jmf_reply(StatusCode::OK, &messages, None)
        }
        Err(IngestError::Bad(reason)) => {
            tracing::warn!(
                kind = IngestError::Bad(reason.clone()).kind(),
                "JMF refused"
            );
            keep(&state, &body, &reason);
            let status = if messages.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            jmf_reply(status, &messages, Some(&reason))
        }
        Err(IngestError::Later(e)) => {
            tracing::warn!(code = e.code.as_str(), "JMF not captured now");
            let reason = ReadError::new(&source, ReadErrorKind::Missing, e.message.clone());
            jmf_reply(StatusCode::SERVICE_UNAVAILABLE, &messages, Some(&reason))
        }
    }
}

/// Keeps a refused body in the quarantine folder with its reason.
fn keep(state: &AppState, body: &[u8], reason: &ReadError) {
    let Some(dir) = &state.quarantine else { return };
    use sha2::Digest as _;
    let name = format!(
        "jmf-{}-{}.jmf",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        hex::encode(&sha2::Sha256::digest(body)[..6])
    );
    let written = std::fs::write(dir.join(&name), body).and_then(|()| {
        std::fs::write(
            dir.join(format!("{name}{}", crate::hot_folder::REASON_SUFFIX)),
            format!("{reason}\n"),
        )
    });
    if let Err(e) = written {
        tracing::error!(error = %e.kind(), "cannot keep a refused JMF message");
    }
}

/// JMF return codes (JDF 1.x specification, appendix "Return codes").
fn return_code(reason: Option<&ReadError>) -> u32 {
    match reason.map(|r| r.kind) {
        None => 0,
        Some(ReadErrorKind::Malformed | ReadErrorKind::Refused | ReadErrorKind::TooLarge) => 3,
        Some(ReadErrorKind::Unsupported) => 5,
        Some(ReadErrorKind::Invalid) => 6,
        Some(ReadErrorKind::Missing) => 7,
    }
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The JMF answer: one `Response` per message received (or one without `refID` when the body
/// could not be read), with a `Notification` saying why when it was refused.
fn jmf_reply(
    status: StatusCode,
    messages: &[crate::jmf::JmfMessage],
    reason: Option<&ReadError>,
) -> Response {
    let code = return_code(reason);
    let notification = reason
        .map(|r| {
            format!(
                "\n    <Notification Class=\"Error\" Type=\"Error\"><Comment>{}</Comment></Notification>",
                escape(&r.to_string())
            )
        })
        .unwrap_or_default();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\" SenderID=\"ecsp-dfe\" TimeStamp=\"{now}\" Version=\"1.3\" MaxVersion=\"1.7\" AgentName=\"ecsp-dfe\" AgentVersion=\"{}\">\n",
        env!("CARGO_PKG_VERSION")
    );
    let answer = |id: &str, ty: &str, out: &mut String| {
        let ref_id = if id.is_empty() {
            String::new()
        } else {
            format!(" refID=\"{}\"", escape(id))
        };
        let open = format!(
            "  <Response ID=\"R{}\"{ref_id} Type=\"{}\" ReturnCode=\"{code}\"",
            uuid::Uuid::new_v4().simple(),
            escape(if ty.is_empty() { "Unknown" } else { ty }),
        );
        if notification.is_empty() {
            out.push_str(&format!("{open}/>\n"));
        } else {
            out.push_str(&format!("{open}>{notification}\n  </Response>\n"));
        }
    };
    if messages.is_empty() {
        answer("", "", &mut body);
    }
    for m in messages {
        answer(&m.id, &m.message_type, &mut body);
    }
    body.push_str("</JMF>\n");
    (status, [(header::CONTENT_TYPE, JMF_CONTENT_TYPE)], body).into_response()
}
