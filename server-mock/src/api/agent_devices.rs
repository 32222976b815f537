//! `GET /api/v1/agent/devices`: an agent asks which devices it was designated, so that it can
//! report those and only those (the ES agent simulator simulates them by default). Kept apart
//! from the upload handlers: it reads, and only the asking agent's own designations.

use axum::Json;
use axum::extract::State;
use ecsp_protocol::agent::{DesignatedDevice, DesignatedDevices};

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
