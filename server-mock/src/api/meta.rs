//! Health, the local CA certificate download, and the 404 for unknown paths.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use super::AppState;
use crate::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    protocol_version: u32,
}

/// Liveness: answers without touching the database.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        protocol_version: ecsp_protocol::PROTOCOL_VERSION,
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    status: &'static str,
}

/// Readiness, for a load balancer in front of several nodes: the database answers and holds
/// the schema this node writes, and the external MQTT broker, when one is configured, is
/// connected. 503 (with `Retry-After`) otherwise.
#[utoipa::path(get, path = "/ready", tag = "meta",
    responses((status = 200, body = Readiness),
              (status = 503, body = ecsp_protocol::problem::Problem)))]
pub async fn ready(State(state): State<AppState>) -> Result<axum::Json<Readiness>, ApiError> {
    if state.remote.external_connected() == Some(false) {
        return Err(ApiError::NotReady(
            "the external MQTT broker is not connected: remote operations cannot reach agents",
        ));
    }
    match state.db.ready().await {
        Ok(()) => Ok(axum::Json(Readiness { status: "ready" })),
        Err(e) if e.is_unavailable() => Err(ApiError::Store(e)),
        // Reachable but not this node's schema: not ready either, and said so.
        Err(e) => Err(ApiError::Store(crate::db::StoreError::Unavailable(
            e.to_string(),
        ))),
    }
}

/// The local CA certificate (PEM) that signed this server's certificate, for clients to trust.
/// 404 when the server runs with an operator-supplied certificate.
#[utoipa::path(get, path = "/ca.pem", tag = "meta",
    responses((status = 200, content_type = "application/x-pem-file", body = String),
              (status = 404, body = ecsp_protocol::problem::Problem)))]
pub async fn ca_certificate(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let pem = state
        .ca_pem
        .clone()
        .ok_or(ApiError::NotFound("local CA certificate"))?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        pem.to_string(),
    ))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
