//! A local JMF receiver: Fiery and PRISMAsync push JMF signals to a URL. It answers each
//! message with a JMF `Response` (ReturnCode 0, or the error and its reason), captures what the
//! signals say, and keeps a bad message in the quarantine folder with its reason.
//!
//! It listens on 127.0.0.1 unless given another address: the DFE usually runs on the same
//! workstation, and the receiver has no authentication of its own (JMF has none either).
//! Because a web page can reach a local port too, it refuses what a browser could send:
//! - a `Host` that is not the address it listens on (`localhost` too when that is loopback, and
//!   the names in [`ReceiverConfig::allowed_hosts`]) gets 421 — DNS rebinding needs a name;
//! - a body that is not `application/vnd.cip4-jmf+xml` gets 415. `text/xml` and
//!   `application/xml` are taken as well, because real DFEs and JDF libraries send them for JMF;
//!   a page cannot send either cross-origin without a CORS preflight, which is never answered.
//!
//! Every refusal is a JMF response (a DFE logs its `Notification`). Bounds, so a slow or
//! flooding peer cannot hold it: a body over `max_body_bytes` is refused when `Content-Length`
//! says so (before a byte of it is read) or when a chunked body passes it; headers must arrive
//! within `header_timeout`, the body within `body_timeout`; at most `max_connections` are served
//! at once (more wait to be accepted); the quarantine is capped ([`QuarantineLimits`]).
//! Connections are served with hyper directly because `axum::serve` sets no header timeout of
//! its own choosing (hyper's default is 30 s).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

use crate::hot_folder::{QuarantineLimits, prune_quarantine};
use crate::{Ingest, IngestError, Ingested, ReadError, ReadErrorKind, xml};

pub const JMF_CONTENT_TYPE: &str = "application/vnd.cip4-jmf+xml";

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub listen: SocketAddr,
    /// Where bad messages are kept with their reasons (`None`: only answered and logged).
    pub quarantine: Option<PathBuf>,
    /// The cap on the quarantine folder.
    pub quarantine_limits: QuarantineLimits,
    /// The largest body accepted (larger: 413, not read).
    pub max_body_bytes: usize,
    /// Host names the DFE may use besides the listening address (the workstation's name, when
    /// the DFE is given `http://NAME:PORT/jmf`). Compared without case.
    pub allowed_hosts: Vec<String>,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            quarantine: None,
            quarantine_limits: QuarantineLimits::default(),
            max_body_bytes: 8 * 1024 * 1024,
            allowed_hosts: Vec::new(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(20),
            max_connections: 32,
        }
    }
}

#[derive(Debug)]
struct AppState {
    ingest: Ingest,
    config: ReceiverConfig,
    /// The bound address (the configured port may have been 0).
    addr: SocketAddr,
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
        let state = Arc::new(AppState {
            ingest,
            config,
            addr,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, state, stopped));
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

/// Until `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts connections while a slot is free, each served by hyper with the header timeout.
async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            () = stopped(&mut stop) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "the JMF receiver cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        while connections.try_join_next().is_some() {}
        let state = state.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let header_timeout = state.config.header_timeout;
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(receive(&state, peer, request).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let mut stop = stop;
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "a JMF connection ended with an error");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn receive(
    state: &AppState,
    peer: SocketAddr,
    request: Request<hyper::body::Incoming>,
) -> Response {
    if request.method() != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "POST JMF here\n",
        )
            .into_response();
    }
    let headers = request.headers();
    let source = format!("JMF from {}", peer.ip());
    let refuse = |status: StatusCode, code: u32, message: String| {
        let mut answer = jmf_reply(status, &[], code, Some(&message));
        answer.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        answer
    };
    if !host_allowed(headers, state) {
        tracing::warn!("JMF refused: a Host header that is not the receiver's address");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            1,
            "the Host header names neither the address this receiver listens on nor a host it was told to accept (a web page rebinding its name to this computer is refused; give the DFE the receiver's address, or add the name to the allowed hosts)".into(),
        );
    }
    let content_type = content_type(headers);
    if !matches!(
        content_type.as_str(),
        JMF_CONTENT_TYPE | "application/xml" | "text/xml"
    ) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            5,
            format!(
                "expected the content type {JMF_CONTENT_TYPE} (or text/xml, application/xml); MIME packages of JMF with JDF are not read"
            ),
        );
    }
    // The reader's own file limit bounds a body too.
    let max = (state.config.max_body_bytes as u64).min(state.ingest.options().limits.max_file_bytes)
        as usize;
    let too_large = || {
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            3,
            format!("the message is larger than the {max} bytes this receiver reads"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return too_large();
    }
    let body = match tokio::time::timeout(
        state.config.body_timeout,
        read_body(Body::new(request.into_body()), max),
    )
    .await
    {
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                9,
                format!(
                    "the message did not arrive within {} s",
                    state.config.body_timeout.as_secs_f32()
                ),
            );
        }
        Ok(Err(BodyError::TooLarge)) => return too_large(),
        Ok(Err(BodyError::Broken)) => {
            return refuse(StatusCode::BAD_REQUEST, 9, "the message was cut off".into());
        }
        Ok(Ok(body)) => body,
    };
    let options = state.ingest.options();
    let root = match xml::parse(&source, &body, &options.limits) {
        Ok(root) => root,
        Err(reason) => {
            tracing::warn!(
                kind = IngestError::Bad(reason.clone()).kind(),
                "JMF refused"
            );
            keep(state, &body, &reason);
            return jmf_reply(
                StatusCode::BAD_REQUEST,
                &[],
                return_code(&reason),
                Some(&reason.to_string()),
            );
        }
    };
    let messages = crate::jmf::messages(&root);
    match state.ingest.ingest_jmf(&source, &body, &root).await {
        Ok(outcome) => {
            if let Ingested::Captured { record_ids, .. } = &outcome {
                tracing::info!(records = record_ids.len(), "JMF captured");
            }
            jmf_reply(StatusCode::OK, &messages, 0, None)
        }
        Err(IngestError::Bad(reason)) => {
            tracing::warn!(
                kind = IngestError::Bad(reason.clone()).kind(),
                "JMF refused"
            );
            keep(state, &body, &reason);
            let status = if messages.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            jmf_reply(
                status,
                &messages,
                return_code(&reason),
                Some(&reason.to_string()),
            )
        }
        Err(IngestError::Later(e)) => {
            tracing::warn!(code = e.code.as_str(), "JMF not captured now");
            let reason = ReadError::new(&source, ReadErrorKind::Missing, e.message.clone());
            jmf_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &messages,
                return_code(&reason),
                Some(&reason.to_string()),
            )
        }
    }
}

/// The media type without parameters, lower case.
fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether the `Host` header names this receiver: its IP address (any IP address when it
/// listens on all of them), `localhost` when it listens on loopback, or an allowed name; with
/// its port, or none when that port is 80. A missing `Host` is refused as well (HTTP/1.1
/// requires one, and every DFE sends it).
fn host_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = host.trim();
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(p) => (ip, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => return false,
        },
    };
    if port != state.addr.port() {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let listening = state.addr.ip();
    if let Ok(ip) = name.parse::<IpAddr>() {
        return ip == listening || listening.is_unspecified();
    }
    (name == "localhost" && (listening.is_loopback() || listening.is_unspecified()))
        || state
            .config
            .allowed_hosts
            .iter()
            .any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

enum BodyError {
    TooLarge,
    Broken,
}

/// Reads the body, stopping as soon as it passes `max` bytes (a chunked body says no length).
async fn read_body(body: Body, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if bytes.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Keeps a refused body in the quarantine folder with its reason, then holds the folder to its
/// cap (oldest out first, logged).
fn keep(state: &AppState, body: &[u8], reason: &ReadError) {
    let Some(dir) = &state.config.quarantine else {
        return;
    };
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
    if let Err(e) = prune_quarantine(dir, state.config.quarantine_limits) {
        tracing::error!(error = %e.kind(), "cannot prune the JMF quarantine");
    }
}

/// JMF return codes (JDF 1.x specification, appendix "Return codes").
fn return_code(reason: &ReadError) -> u32 {
    match reason.kind {
        ReadErrorKind::Malformed | ReadErrorKind::Refused | ReadErrorKind::TooLarge => 3,
        ReadErrorKind::Unsupported => 5,
        ReadErrorKind::Invalid => 6,
        ReadErrorKind::Missing => 7,
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
    code: u32,
    reason: Option<&str>,
) -> Response {
    let notification = reason
        .map(|r| {
            format!(
                "\n    <Notification Class=\"Error\" Type=\"Error\"><Comment>{}</Comment></Notification>",
                escape(r)
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
