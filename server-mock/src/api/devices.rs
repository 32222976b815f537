//! Devices the caller has rights to, and the records stored for them.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use ecsp_protocol::admin::{Actor, DeviceGroup, DeviceView};
use ecsp_protocol::problem::Problem;
use ecsp_protocol::upload::{RecordKind, RecordView};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::extract::User;
use crate::error::ApiError;
use crate::store::{devices, groups, records};

/// A path id, parsed before anything is recorded: the audit object (`what:<canonical UUID>`, so
/// a row is bounded and one id has one spelling) and the id. Text that is not a UUID cannot name
/// anything: "not found", like any unknown id, audited as `what:invalid`.
pub fn path_id(what: &'static str, raw: &str) -> (String, Result<Uuid, ApiError>) {
    match Uuid::parse_str(raw) {
        Ok(id) => (format!("{what}:{id}"), Ok(id)),
        Err(_) => (format!("{what}:invalid"), Err(ApiError::NotFound(what))),
    }
}

/// The devices of the caller's organisation they have rights to (all of them for an admin).
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", security(("user_token" = [])),
    responses((status = 200, body = Vec<DeviceView>), (status = 401, body = Problem)))]
pub async fn list_devices(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let me = who.clone();
    let list = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "device.list",
            String::new(),
            move |c| devices::list_visible(c, &me),
        )
        .await?;
    Ok(Json(list))
}

/// The organisation's device groups, by name, each with the number of its devices the caller
/// may see (a group of devices the caller has no rights to shows 0).
#[utoipa::path(get, path = "/api/v1/groups", tag = "devices", security(("user_token" = [])),
    responses((status = 200, body = Vec<DeviceGroup>), (status = 401, body = Problem)))]
pub async fn list_groups(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<Vec<DeviceGroup>>, ApiError> {
    let (me, key) = (who.clone(), state.key.clone());
    let list = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "group.list",
            String::new(),
            move |c| groups::list(c, &key, &me),
        )
        .await?;
    Ok(Json(list))
}

#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "devices", security(("user_token" = [])),
    params(("device_id" = Uuid, Path)),
    responses((status = 200, body = DeviceView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_device(
    State(state): State<AppState>,
    User(who): User,
    Path(device_id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let (object, device) = path_id("device", &device_id);
    let me = who.clone();
    let view = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "device.read",
            object,
            move |c| Ok(devices::visible(c, &me, device?)?.1),
        )
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// Only records of this kind.
    kind: Option<RecordKind>,
    /// Only records captured before this time (for paging back).
    before: Option<DateTime<Utc>>,
    /// At most this many (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A device's stored records, newest capture first.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/records", tag = "devices", security(("user_token" = [])),
    params(("device_id" = Uuid, Path), RecordQuery),
    responses((status = 200, body = Vec<RecordView>), (status = 401, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_records(
    State(state): State<AppState>,
    User(who): User,
    Path(device_id): Path<String>,
    query: Result<Query<RecordQuery>, QueryRejection>,
) -> Result<Json<Vec<RecordView>>, ApiError> {
    let (object, device) = path_id("device", &device_id);
    let actor = Actor::User(who.public_id);
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            let err = ApiError::field("query", e.body_text());
            return Err(state
                .audit_refusal(Some(who.org_id), actor, "record.list", object, err)
                .await);
        }
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        let err = ApiError::field("limit", "must be between 1 and 500");
        return Err(state
            .audit_refusal(Some(who.org_id), actor, "record.list", object, err)
            .await);
    }
    let key = state.key.clone();
    let me = who.clone();
    let list = state
        .audited_read(Some(who.org_id), actor, "record.list", object, move |c| {
            let device = device?;
            let (internal, _) = devices::visible(c, &me, device)?;
            records::list_for_device(c, &key, internal, device, query.kind, query.before, limit)
        })
        .await?;
    Ok(Json(list))
}

/// One stored record, if the caller has rights to its device.
#[utoipa::path(get, path = "/api/v1/records/{record_id}", tag = "devices", security(("user_token" = [])),
    params(("record_id" = Uuid, Path)),
    responses((status = 200, body = RecordView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_record(
    State(state): State<AppState>,
    User(who): User,
    Path(record_id): Path<String>,
) -> Result<Json<RecordView>, ApiError> {
    let (object, record) = path_id("record", &record_id);
    let key = state.key.clone();
    let me = who.clone();
    let view = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "record.read",
            object,
            move |c| records::get_visible(c, &key, &me, record?),
        )
        .await?;
    Ok(Json(view))
}
