//! `GET /api/v1/agent/devices`: an agent asks which devices it was designated, so that it can
//! report those and only those (the ES agent simulator simulates them by default). Kept apart
//! from the upload handlers: it reads, and only the asking agent's own designations.

use axum::Json;
use axum::extract::State;
use ecsp_protocol::agent::{BrokerCredential, DesignatedDevice, DesignatedDevices};

use super::AppState;
use super::extract::Agent;
use crate::error::ApiError;

/// DC/ES agents: the devices designated to the agent asking.
#[utoipa::path(get, path = "/api/v1/agent/devices", tag = "uploads", security(("agent_secret" = [])),
    responses((status = 200, body = DesignatedDevices, description = "The devices designated to this agent, oldest first")))]
pub async fn designated_devices(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<DesignatedDevices>, ApiError> {
    let agent_type = agent.agent_type;
    let devices = state
        .db
        .read(move |c| -> Result<Vec<DesignatedDevice>, ApiError> {
            let mut stmt = c.prepare_cached(
                "SELECT manufacturer, model, serial_number FROM devices
                 WHERE agent_id = ?1 AND org_id = ?2 ORDER BY id",
            )?;
            let rows = stmt.query_map([agent.id, agent.org_id], |r| {
                Ok(DesignatedDevice {
                    manufacturer: r.get(0)?,
                    model: r.get(1)?,
                    serial_number: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await?;
    Ok(Json(DesignatedDevices {
        agent_type,
        devices,
    }))
}

/// DC/ES agents: a credential for the clustered MQTT broker (`remote::nats`), valid for
/// `remote::nats::CREDENTIAL_LIFETIME`, naming the asking agent's own topics only.
#[utoipa::path(post, path = "/api/v1/agent/broker-credential", tag = "uploads", security(("agent_secret" = [])),
    responses(
        (status = 200, body = BrokerCredential, description = "The MQTT password to use until it expires"),
        (status = 404, body = ecsp_protocol::problem::Problem, description = "This service's broker takes the agent's secret itself")))]
pub async fn broker_credential(
    State(state): State<AppState>,
    Agent(agent): Agent,
) -> Result<Json<BrokerCredential>, ApiError> {
    let keys = state
        .remote
        .broker_keys()
        .ok_or(ApiError::NotFound("broker credential"))?;
    let now = chrono::Utc::now();
    let password = keys
        .agent_credential(agent.public_id, now)
        .map_err(|e| ApiError::Store(crate::db::StoreError::Task(e.to_string())))?;
    Ok(Json(BrokerCredential {
        password,
        expires_at: now + crate::remote::nats::CREDENTIAL_LIFETIME,
    }))
}
