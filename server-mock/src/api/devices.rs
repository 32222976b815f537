//! Devices the caller has rights to, and the records stored for them.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use ecsp_protocol::admin::{Actor, DeviceGroup, DeviceView};
use ecsp_protocol::problem::Problem;
use ecsp_protocol::upload::{RecordKind, RecordView};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::extract::{QueryParams, User, ValidQuery};
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

/// What the device list carries beyond the devices themselves.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeviceListQuery {
    /// `true`: each device's `state` by its newest report. It opens one record per device, so
    /// it is asked for by the screens that show it, not by every look-up of the list.
    with_state: Option<bool>,
}

impl QueryParams for DeviceListQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] =
        &[("with_state", "`true` or `false`")];

    fn check(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }
}

/// The devices of the caller's organisation they have rights to (all of them for an admin).
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", security(("user_token" = [])),
    params(DeviceListQuery),
    responses((status = 200, body = Vec<DeviceView>), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
pub async fn list_devices(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<DeviceListQuery>, ApiError>,
) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let actor = Actor::User(who.public_id);
    let with_state = match query {
        Ok(ValidQuery(q)) => q.with_state.unwrap_or(false),
        Err(err) => {
            return Err(state
                .audit_refusal(Some(who.org_id), actor, "device.list", String::new(), err)
                .await);
        }
    };
    let (me, key) = (who.clone(), state.key.clone());
    let list = state
        .audited_read(
            Some(who.org_id),
            actor,
            "device.list",
            String::new(),
            move |c| {
                let mut list = devices::list_visible(c, &me)?;
                if with_state {
                    // The fleet's kept status first; a device that has not reported since it
                    // was kept (before schema v16) by its newest record.
                    let kept = crate::store::fleet::states(c, &me)?;
                    for view in &mut list {
                        view.state = match kept.get(&view.device_id) {
                            Some(state) => Some(*state),
                            None => latest_state(c, &key, &me, view.device_id)?,
                        };
                    }
                }
                Ok(list)
            },
        )
        .await?;
    Ok(Json(list))
}

/// Where a device stands by its newest device-data record (one index step per device).
fn latest_state(
    c: &crate::sql::Connection,
    key: &crate::crypto::DataKey,
    who: &crate::store::accounts::UserPrincipal,
    device: Uuid,
) -> Result<Option<ecsp_protocol::agent::DeviceState>, ApiError> {
    Ok(
        records::latest_of_kind(c, key, who, device, RecordKind::DeviceData)?
            .as_ref()
            .and_then(records::device_data_of)
            .map(|d| d.state()),
    )
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
    let (me, key) = (who.clone(), state.key.clone());
    let view = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "device.read",
            object,
            move |c| {
                let mut view = devices::visible(c, &me, device?)?.1;
                view.state = latest_state(c, &key, &me, view.device_id)?;
                Ok(view)
            },
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
    /// The next page: the `captured_at` of the previous page's last record, with its
    /// `record_id` as `before_id`. Alone (no `before_id`), every record captured before this
    /// time.
    before: Option<DateTime<Utc>>,
    /// The `record_id` of the previous page's last record, with its `captured_at` as `before`.
    /// Records are listed newest capture first, those of one capture time by `record_id`
    /// descending, so the pair says where the previous page ended even when records share the
    /// capture time. Alone, the server looks the record's `captured_at` up (404 if the device
    /// has no such record).
    before_id: Option<Uuid>,
    /// At most this many (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

impl QueryParams for RecordQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] = &[
        ("kind", "one of `device_data`, `dfe`, `measurement`"),
        (
            "before",
            "an RFC 3339 date-time, e.g. `2026-01-31T09:00:00Z`",
        ),
        ("before_id", "a record id (UUID)"),
        ("limit", "an integer from 1 to 500"),
    ];

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.limit.is_some_and(|n| !(1..=500).contains(&n)) {
            return Err(("limit", "must be an integer from 1 to 500".into()));
        }
        Ok(())
    }
}

/// A device's stored records, newest capture first (those of one capture time by `record_id`,
/// highest first). To page, pass the last record's `captured_at` and `record_id` as `before`
/// and `before_id`.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}/records", tag = "devices", security(("user_token" = [])),
    params(("device_id" = Uuid, Path), RecordQuery),
    responses((status = 200, body = Vec<RecordView>), (status = 400, body = Problem),
              (status = 401, body = Problem),
              (status = 404, description = "No such device that you have rights to, or no such `before_id` record of it", body = Problem)))]
pub async fn list_records(
    State(state): State<AppState>,
    User(who): User,
    Path(device_id): Path<String>,
    query: Result<ValidQuery<RecordQuery>, ApiError>,
) -> Result<Json<Vec<RecordView>>, ApiError> {
    let (object, device) = path_id("device", &device_id);
    let actor = Actor::User(who.public_id);
    let query = match query {
        Ok(ValidQuery(q)) => q,
        Err(err) => {
            return Err(state
                .audit_refusal(Some(who.org_id), actor, "record.list", object, err)
                .await);
        }
    };
    let limit = query.limit.unwrap_or(50);
    let key = state.key.clone();
    let me = who.clone();
    let list = state
        .audited_read(Some(who.org_id), actor, "record.list", object, move |c| {
            let device = device?;
            let (internal, _) = devices::visible(c, &me, device)?;
            let start = match (query.before, query.before_id) {
                (Some(before), before_id) => Some(records::PageStart { before, before_id }),
                (None, Some(id)) => Some(records::page_after_record(c, internal, id)?),
                (None, None) => None,
            };
            records::list_for_device(c, &key, internal, device, query.kind, start, limit)
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
