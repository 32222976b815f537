//! Remote operations over REST: request, list, read, cancel. Thin: the rules are in
//! `store::operations`, the delivery in `remote`.
//!
//! Only `service_support` and `admin` users may use them (403 for others, checked before
//! anything is looked up), and only on devices they have a right to (404 otherwise, as for
//! every other device endpoint).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::problem::Problem;
use ecsp_protocol::remote_ops::{OperationPage, OperationRequest, OperationState, OperationView};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::devices::path_id;
use super::extract::{QueryParams, RequestBody, User, ValidJson, ValidQuery};
use crate::error::ApiError;
use crate::store::accounts::UserPrincipal;
use crate::store::operations;

impl RequestBody for OperationRequest {}

/// The role check, then the body: each refusal audited.
async fn gate<T>(
    state: &AppState,
    who: &UserPrincipal,
    action: &'static str,
    object: &str,
    body: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let err = match operations::may_operate(who) {
        Err(e) => e,
        Ok(()) => match body {
            Ok(b) => return Ok(b),
            Err(e) => e,
        },
    };
    Err(state
        .audit_refusal(
            Some(who.org_id),
            Actor::User(who.public_id),
            action,
            object.to_owned(),
            err,
        )
        .await)
}

/// Asks for an operation on a device. It is stored `queued` and sent at once if the device's
/// agent is connected, else when it next connects (until `ttl_secs` runs out).
#[utoipa::path(post, path = "/api/v1/operations", tag = "operations", security(("user_token" = [])),
    request_body = OperationRequest,
    responses((status = 201, body = OperationView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem, description = "no such device, or no right to it"),
              (status = 409, body = Problem, description = "the device has no agent, or lacks the capability"),
              (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn request_operation(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<OperationRequest>, ApiError>,
) -> Result<(StatusCode, Json<OperationView>), ApiError> {
    let ValidJson(req) = gate(&state, &who, "operation.request", "", body).await?;
    let object = format!("device:{}:{}", req.device_id, req.kind.as_str());
    let me = who.clone();
    let view = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.request",
            object,
            move |c| operations::create(c, &me, &req, Utc::now()),
        )
        .await?;
    crate::remote::kick_anywhere(&state, view.agent_id).await;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OperationQuery {
    /// Only operations on this device.
    device_id: Option<Uuid>,
    /// Only operations in this state.
    state: Option<OperationState>,
    /// The `next_before` of the previous page.
    before: Option<Uuid>,
    /// At most this many (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl QueryParams for OperationQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] = &[
        ("device_id", "a device id (UUID)"),
        ("state", "an operation state, e.g. `queued` or `succeeded`"),
        ("before", "the `next_before` of a previous page"),
        ("limit", "an integer from 1 to 200"),
    ];

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.limit.is_some_and(|n| !(1..=200).contains(&n)) {
            return Err(("limit", "must be an integer from 1 to 200".into()));
        }
        Ok(())
    }
}

/// Operations on the devices the caller has rights to, newest first.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations", security(("user_token" = [])),
    params(OperationQuery),
    responses((status = 200, body = OperationPage), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, description = "`before` names no operation that you have rights to", body = Problem)))]
pub async fn list_operations(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<OperationQuery>, ApiError>,
) -> Result<Json<OperationPage>, ApiError> {
    let ValidQuery(query) = gate(&state, &who, "operation.list", "", query).await?;
    let limit = query.limit.unwrap_or(50);
    let before = query.before;
    let me = who.clone();
    let page = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.list",
            String::new(),
            move |c| operations::list_visible(c, &me, query.device_id, query.state, before, limit),
        )
        .await?;
    Ok(Json(page))
}

/// One operation: its state, history, and result or reason.
#[utoipa::path(get, path = "/api/v1/operations/{operation_id}", tag = "operations", security(("user_token" = [])),
    params(("operation_id" = Uuid, Path)),
    responses((status = 200, body = OperationView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_operation(
    State(state): State<AppState>,
    User(who): User,
    Path(operation_id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    let (object, op) = path_id("operation", &operation_id);
    gate(&state, &who, "operation.read", &object, Ok(())).await?;
    let me = who.clone();
    let view = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.read",
            object,
            move |c| operations::get_visible(c, &me, op?),
        )
        .await?;
    Ok(Json(view))
}

/// Cancels an operation that no agent has yet (state `queued`); 409 after.
#[utoipa::path(post, path = "/api/v1/operations/{operation_id}/cancel", tag = "operations", security(("user_token" = [])),
    params(("operation_id" = Uuid, Path)),
    responses((status = 200, body = OperationView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "already sent, started or ended")))]
pub async fn cancel_operation(
    State(state): State<AppState>,
    User(who): User,
    Path(operation_id): Path<String>,
) -> Result<Json<OperationView>, ApiError> {
    let (object, op) = path_id("operation", &operation_id);
    gate(&state, &who, "operation.cancel", &object, Ok(())).await?;
    let me = who.clone();
    let view = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.cancel",
            object,
            move |c| operations::cancel(c, &me, op?),
        )
        .await?;
    Ok(Json(view))
}
