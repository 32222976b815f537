//! The server's metrics, in the Prometheus text format, on a listener of their own (loopback by
//! default): whoever runs the service scrapes them there, apart from the port users and agents
//! reach.
//!
//! Recorded through the `metrics` crate's macros wherever the thing happens (requests, uploads,
//! sign-ins, the write queue, MQTT, the audit log), so code that records needs no handle; the
//! Prometheus recorder is installed once per process by [`install`] (a process without one, as
//! the tests' in-process servers, records into nothing). A few figures are read when scraped
//! instead of kept up to date (operations by state, connected agents).
//!
//! Labels take values from closed sets only — a route's template, a status code, a problem
//! code, a record kind, an operation state — never an id of a person, an organisation or a
//! device, so the number of series stays bounded whatever the fleet's size (a test scrapes a
//! busy server and checks it).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::api::AppState;
use crate::db;

pub const HTTP_REQUESTS: &str = "ecsp_http_requests_total";
pub const HTTP_DURATION: &str = "ecsp_http_request_duration_seconds";
pub const UPLOADS: &str = "ecsp_uploads_total";
pub const SIGNIN_REFUSALS: &str = "ecsp_signin_refusals_total";
pub const MQTT_CONNECTIONS: &str = "ecsp_mqtt_connections";
pub const MQTT_MESSAGES: &str = "ecsp_mqtt_messages_total";
pub const OPERATIONS: &str = "ecsp_operations";
pub const AUDIT_ROWS: &str = "ecsp_audit_rows_total";

/// Latency buckets, in seconds: from a cached answer (1 ms) to a slow batch commit (10 s).
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for this process (once; later calls get the same handle).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by route template, method and status"
    );
    describe_counter!(
        UPLOADS,
        "Upload requests by record kind and outcome (`accepted`, or the problem code of the refusal)"
    );
    describe_counter!(
        SIGNIN_REFUSALS,
        "Sign-ins refused, by reason (problem code)"
    );
    describe_histogram!(
        db::WRITE_SECONDS,
        Unit::Seconds,
        "Time from asking for a database write to its durable commit (waiting for the writer included)"
    );
    describe_gauge!(
        db::WRITES_PENDING,
        "Database writes asked for and not yet committed (the write queue's depth)"
    );
    describe_gauge!(MQTT_CONNECTIONS, "Agents connected over MQTT to this node");
    describe_counter!(
        MQTT_MESSAGES,
        "MQTT messages to and from agents, by direction"
    );
    describe_gauge!(OPERATIONS, "Remote operations in the database, by state");
    describe_counter!(AUDIT_ROWS, "Audit-log rows written, by outcome");
}

/// Counts and times every request by its route's template (`/api/v1/devices/{device_id}`, not
/// the path asked for), and counts upload and sign-in outcomes.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    let labels = [
        ("route", route.clone()),
        ("method", method),
        ("status", status.as_u16().to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    let outcome = || {
        if status.is_success() {
            "accepted"
        } else {
            response
                .extensions()
                .get::<crate::error::ProblemCode>()
                .map_or("other", |c| c.0)
        }
    };
    if let Some(kind) = upload_kind(&route) {
        counter!(UPLOADS, "kind" => kind, "outcome" => outcome()).increment(1);
    }
    response
}

/// The record kind an upload route carries.
fn upload_kind(route: &str) -> Option<&'static str> {
    match route {
        "/api/v1/uploads/dfe" => Some("dfe"),
        "/api/v1/uploads/measurements" => Some("measurement"),
        "/api/v1/uploads/device-status" | "/api/v1/agent/device-data" => Some("device_data"),
        _ => None,
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, handle: PrometheusHandle, state: AppState) {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state((handle, state));
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

/// Binds the metrics listener (before the server writes anything, as its other ports).
pub async fn bind(at: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("binding the metrics listener {at}"))
}

async fn scrape(State((handle, state)): State<(PrometheusHandle, AppState)>) -> Response {
    // Figures read now rather than kept: they are cheap to read and never drift.
    gauge!(MQTT_CONNECTIONS).set(state.remote.connected() as f64);
    match tokio::time::timeout(
        Duration::from_secs(5),
        state.db.read(crate::store::operations::count_by_state),
    )
    .await
    {
        Ok(Ok(counts)) => {
            for (operation_state, n) in counts {
                gauge!(OPERATIONS, "state" => operation_state).set(n as f64);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: operations not counted"),
        Err(_) => tracing::warn!("metrics: counting operations took over 5 s"),
    }
    handle.run_upkeep();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
