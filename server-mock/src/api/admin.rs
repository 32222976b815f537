//! Organisation administration: users, their device rights, devices, agents and the audit log.
//! Admin role only; everything is confined to the admin's own organisation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ecsp_protocol::admin::{
    Actor, AgentCredentials, AgentUpdate, AgentView, AuditEntry, CreatedUser, DeviceGroup,
    DeviceView, GroupAssignment, NewAgent, NewDevice, NewDeviceGroup, NewUser, UserUpdate,
    UserView,
};
use ecsp_protocol::auth::Role;
use ecsp_protocol::problem::Problem;
use serde::Deserialize;

use super::AppState;
use super::devices::path_id;
use super::extract::{QueryParams, RequestBody, User, ValidJson, ValidQuery};
use crate::agent_admin;
use crate::crypto::{hash_password, new_password};
use crate::error::ApiError;
use crate::store::accounts::{self, UserPrincipal};
use crate::store::{audit, devices, groups};

impl RequestBody for NewUser {}
impl RequestBody for UserUpdate {}
impl RequestBody for NewDevice {}
impl RequestBody for NewAgent {}
impl RequestBody for AgentUpdate {}
impl RequestBody for NewDeviceGroup {}
impl RequestBody for GroupAssignment {}

/// Refuses (and audits) a caller who is not an admin, or a body that did not validate.
async fn admin_gate<T>(
    state: &AppState,
    who: &UserPrincipal,
    action: &'static str,
    object: &str,
    body: Result<T, ApiError>,
) -> Result<T, ApiError> {
    let err = if who.role != Role::Admin {
        ApiError::Forbidden("this needs the admin role")
    } else {
        match body {
            Ok(b) => return Ok(b),
            Err(e) => e,
        }
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

fn no_body() -> Result<(), ApiError> {
    Ok(())
}

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("user_token" = [])),
    responses((status = 200, body = Vec<UserView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_users(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<Vec<UserView>>, ApiError> {
    admin_gate(&state, &who, "admin.user.list", "", no_body()).await?;
    let (key, org) = (state.key.clone(), who.org_id);
    let users = state
        .audited_read(
            Some(org),
            Actor::User(who.public_id),
            "admin.user.list",
            String::new(),
            move |c| accounts::list_users(c, &key, org),
        )
        .await?;
    Ok(Json(users))
}

/// Creates a user. Without a password in the request, one is generated and returned once.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("user_token" = [])),
    request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_user(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<NewUser>, ApiError>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let ValidJson(new) = admin_gate(&state, &who, "admin.user.create", "", body).await?;
    let generated = new.password.is_none().then(new_password);
    let password = new
        .password
        .clone()
        .or_else(|| generated.clone())
        .unwrap_or_default();
    let phc = state.hash_work(move || hash_password(&password)).await?;
    let (key, org) = (state.key.clone(), who.org_id);
    let user = state
        .audited_write(
            Some(org),
            Actor::User(who.public_id),
            "admin.user.create",
            String::new(),
            move |c| accounts::create_user(c, &key, org, &new, &phc),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            generated_password: generated,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/admin/users/{user_id}", tag = "admin", security(("user_token" = [])),
    params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    User(who): User,
    Path(user_id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let (object, user) = path_id("user", &user_id);
    admin_gate(&state, &who, "admin.user.read", &object, no_body()).await?;
    let (key, org) = (state.key.clone(), who.org_id);
    let user = state
        .audited_read(
            Some(org),
            Actor::User(who.public_id),
            "admin.user.read",
            object,
            move |c| accounts::get_user(c, &key, org, user?),
        )
        .await?;
    Ok(Json(user))
}

/// Changes a user's role, or disables them (which ends all their sessions at once).
#[utoipa::path(patch, path = "/api/v1/admin/users/{user_id}", tag = "admin", security(("user_token" = [])),
    params(("user_id" = uuid::Uuid, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    State(state): State<AppState>,
    User(who): User,
    Path(user_id): Path<String>,
    body: Result<ValidJson<UserUpdate>, ApiError>,
) -> Result<Json<UserView>, ApiError> {
    let (object, user) = path_id("user", &user_id);
    let ValidJson(update) = admin_gate(&state, &who, "admin.user.update", &object, body).await?;
    let key = state.key.clone();
    let admin = who.clone();
    let user = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.user.update",
            object,
            move |c| accounts::update_user(c, &key, &admin, user?, &update),
        )
        .await?;
    Ok(Json(user))
}

/// Grants a user the right to see and upload for a device.
#[utoipa::path(put, path = "/api/v1/admin/users/{user_id}/devices/{device_id}", tag = "admin",
    security(("user_token" = [])),
    params(("user_id" = uuid::Uuid, Path), ("device_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn grant_device(
    State(state): State<AppState>,
    User(who): User,
    Path((user_id, device_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ((user_object, user), (device_object, device)) =
        (path_id("user", &user_id), path_id("device", &device_id));
    let object = format!("{user_object}:{device_object}");
    admin_gate(&state, &who, "admin.grant", &object, no_body()).await?;
    let admin = who.clone();
    state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.grant",
            object,
            move |c| devices::grant(c, &admin, user?, device?),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a user's right to a device away.
#[utoipa::path(delete, path = "/api/v1/admin/users/{user_id}/devices/{device_id}", tag = "admin",
    security(("user_token" = [])),
    params(("user_id" = uuid::Uuid, Path), ("device_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_device(
    State(state): State<AppState>,
    User(who): User,
    Path((user_id, device_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let ((user_object, user), (device_object, device)) =
        (path_id("user", &user_id), path_id("device", &device_id));
    let object = format!("{user_object}:{device_object}");
    admin_gate(&state, &who, "admin.revoke", &object, no_body()).await?;
    let admin = who.clone();
    state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.revoke",
            object,
            move |c| devices::revoke_grant(c, &admin, user?, device?),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Registers a printer of the organisation, optionally designating the agent that reports it.
#[utoipa::path(post, path = "/api/v1/admin/devices", tag = "admin", security(("user_token" = [])),
    request_body = NewDevice,
    responses((status = 201, body = DeviceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, description = "`agent_id` names no agent of your organisation", body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn register_device(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<NewDevice>, ApiError>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    let ValidJson(new) = admin_gate(&state, &who, "device.register", "", body).await?;
    let org = who.org_id;
    let device = state
        .audited_write(
            Some(org),
            Actor::User(who.public_id),
            "device.register",
            String::new(),
            move |c| devices::register(c, org, &new),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(device)))
}

/// Creates a device group.
#[utoipa::path(post, path = "/api/v1/admin/groups", tag = "admin", security(("user_token" = [])),
    request_body = NewDeviceGroup,
    responses((status = 201, body = DeviceGroup), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_group(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<NewDeviceGroup>, ApiError>,
) -> Result<(StatusCode, Json<DeviceGroup>), ApiError> {
    let ValidJson(new) = admin_gate(&state, &who, "admin.group.create", "", body).await?;
    let (key, admin) = (state.key.clone(), who.clone());
    let group = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.group.create",
            String::new(),
            move |c| groups::create(c, &key, &admin, &new),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(group)))
}

/// Deletes a device group; its devices stay, in no group.
#[utoipa::path(delete, path = "/api/v1/admin/groups/{group_id}", tag = "admin",
    security(("user_token" = [])),
    params(("group_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_group(
    State(state): State<AppState>,
    User(who): User,
    Path(group_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (object, group) = path_id("group", &group_id);
    admin_gate(&state, &who, "admin.group.delete", &object, no_body()).await?;
    let admin = who.clone();
    state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.group.delete",
            object,
            move |c| groups::delete(c, &admin, group?),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Files a device under a group, or (with `group_id: null`) under none.
#[utoipa::path(put, path = "/api/v1/admin/devices/{device_id}/group", tag = "admin",
    security(("user_token" = [])),
    params(("device_id" = uuid::Uuid, Path)),
    request_body = GroupAssignment,
    responses((status = 200, body = DeviceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assign_group(
    State(state): State<AppState>,
    User(who): User,
    Path(device_id): Path<String>,
    body: Result<ValidJson<GroupAssignment>, ApiError>,
) -> Result<Json<DeviceView>, ApiError> {
    let (object, device) = path_id("device", &device_id);
    let ValidJson(assignment) =
        admin_gate(&state, &who, "admin.group.assign", &object, body).await?;
    let admin = who.clone();
    let view = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "admin.group.assign",
            object,
            move |c| {
                let device = device?;
                groups::assign(c, &admin, device, assignment.group_id)?;
                Ok(devices::visible(c, &admin, device)?.1)
            },
        )
        .await?;
    Ok(Json(view))
}

/// Creates an agent and returns its secret, once.
#[utoipa::path(post, path = "/api/v1/admin/agents", tag = "admin", security(("user_token" = [])),
    request_body = NewAgent,
    responses((status = 201, body = AgentCredentials), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn create_agent(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<NewAgent>, ApiError>,
) -> Result<(StatusCode, Json<AgentCredentials>), ApiError> {
    let ValidJson(new) = admin_gate(&state, &who, "admin.agent.create", "", body).await?;
    let (key, org) = (state.key.clone(), who.org_id);
    let creds = state
        .audited_write(
            Some(org),
            Actor::User(who.public_id),
            "admin.agent.create",
            String::new(),
            move |c| devices::create_agent(c, &key, org, &new),
        )
        .await?;
    state.remote.accounts_changed();
    Ok((StatusCode::CREATED, Json(creds)))
}

/// The organisation's agents (never their secrets), with when each last authenticated and
/// whether it is connected over MQTT now.
#[utoipa::path(get, path = "/api/v1/admin/agents", tag = "admin", security(("user_token" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_agents(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    admin_gate(&state, &who, "admin.agent.list", "", no_body()).await?;
    let actor = Actor::User(who.public_id);
    Ok(Json(agent_admin::list(&state, who.org_id, actor).await?))
}

/// Disables or enables an agent. Disabling refuses its secret at once, on HTTPS and MQTT, and
/// closes its MQTT connection.
#[utoipa::path(patch, path = "/api/v1/admin/agents/{agent_id}", tag = "admin",
    security(("user_token" = [])),
    params(("agent_id" = uuid::Uuid, Path)), request_body = AgentUpdate,
    responses((status = 200, body = AgentView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_agent(
    State(state): State<AppState>,
    User(who): User,
    Path(agent_id): Path<String>,
    body: Result<ValidJson<AgentUpdate>, ApiError>,
) -> Result<Json<AgentView>, ApiError> {
    let (object, agent) = path_id("agent", &agent_id);
    let ValidJson(update) = admin_gate(&state, &who, "admin.agent.update", &object, body).await?;
    let actor = Actor::User(who.public_id);
    let view = agent_admin::set_disabled(&state, who.org_id, actor, agent, update.disabled).await?;
    Ok(Json(view))
}

/// Deletes an agent: its secret is refused at once (its MQTT connection closed) and its
/// devices are designated to no agent. Its operations and records stay.
#[utoipa::path(delete, path = "/api/v1/admin/agents/{agent_id}", tag = "admin",
    security(("user_token" = [])),
    params(("agent_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    User(who): User,
    Path(agent_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (object, agent) = path_id("agent", &agent_id);
    admin_gate(&state, &who, "admin.agent.delete", &object, no_body()).await?;
    agent_admin::delete(&state, who.org_id, Actor::User(who.public_id), agent).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an agent a new secret, returned once; the old one is refused from now on, on HTTPS
/// and MQTT (its MQTT connection is closed).
#[utoipa::path(post, path = "/api/v1/admin/agents/{agent_id}/secret", tag = "admin",
    security(("user_token" = [])),
    params(("agent_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AgentCredentials), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
pub async fn rotate_agent_secret(
    State(state): State<AppState>,
    User(who): User,
    Path(agent_id): Path<String>,
) -> Result<Json<AgentCredentials>, ApiError> {
    let (object, agent) = path_id("agent", &agent_id);
    admin_gate(&state, &who, "admin.agent.rotate", &object, no_body()).await?;
    let actor = Actor::User(who.public_id);
    Ok(Json(
        agent_admin::rotate(&state, who.org_id, actor, agent).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only rows after this sequence number (for paging forward).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

impl QueryParams for AuditQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] = &[
        ("after", "a sequence number, an integer from 0"),
        ("limit", "an integer from 1 to 1000"),
    ];

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.after.is_some_and(|n| n < 0) {
            return Err((
                "after",
                "must be a sequence number, an integer from 0".into(),
            ));
        }
        if self.limit.is_some_and(|n| !(1..=1000).contains(&n)) {
            return Err(("limit", "must be an integer from 1 to 1000".into()));
        }
        Ok(())
    }
}

/// The organisation's audit log, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("user_token" = [])),
    params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
pub async fn audit_log(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<AuditQuery>, ApiError>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let ValidQuery(query) = admin_gate(&state, &who, "audit.read", "", query).await?;
    let limit = query.limit.unwrap_or(100);
    let org = who.org_id;
    let after = query.after.unwrap_or(0);
    let rows = state
        .audited_read(
            Some(org),
            Actor::User(who.public_id),
            "audit.read",
            String::new(),
            move |c| audit::page(c, org, after, limit),
        )
        .await?;
    Ok(Json(rows))
}
