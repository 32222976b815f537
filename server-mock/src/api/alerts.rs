//! Alert rules: a user's own, or (for an admin) any member's of the organisation; the
//! messages each sent. What is watched and how messages go out: `store::alerts`, `alerts`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::alerts::{AlertDeliveryView, AlertRuleView, CreatedAlertRule, NewAlertRule};
use ecsp_protocol::problem::Problem;

use super::AppState;
use super::devices::path_id;
use super::extract::{RequestBody, User, ValidJson};
use crate::error::ApiError;
use crate::store::alerts;

impl RequestBody for NewAlertRule {}

/// Messages listed per rule.
const DELIVERIES_LISTED: i64 = 50;

/// Makes an alert rule. For a webhook the answer carries the secret its signatures are made
/// with, this once.
#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts", security(("user_token" = [])),
    request_body = NewAlertRule,
    responses((status = 201, body = CreatedAlertRule), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_rule(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<NewAlertRule>, ApiError>,
) -> Result<(StatusCode, Json<CreatedAlertRule>), ApiError> {
    const ACTION: &str = "alert_rule.create";
    let actor = Actor::User(who.public_id);
    let ValidJson(new) = match body {
        Ok(b) => b,
        Err(e) => {
            return Err(state
                .audit_refusal(Some(who.org_id), actor, ACTION, String::new(), e)
                .await);
        }
    };
    let (key, me) = (state.key.clone(), who.clone());
    let (rule, webhook_secret) = state
        .audited_write(Some(who.org_id), actor, ACTION, String::new(), move |c| {
            alerts::create_rule(c, &key, &me, &new)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAlertRule {
            rule,
            webhook_secret,
        }),
    ))
}

/// The caller's alert rules (an admin: every rule of the organisation).
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts", security(("user_token" = [])),
    responses((status = 200, body = Vec<AlertRuleView>), (status = 401, body = Problem)))]
pub async fn list_rules(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<Vec<AlertRuleView>>, ApiError> {
    let key = state.key.clone();
    Ok(Json(
        state
            .db
            .read(move |c| alerts::list_rules(c, &key, &who))
            .await?,
    ))
}

/// One alert rule with its newest message's outcome.
#[utoipa::path(get, path = "/api/v1/alert-rules/{rule_id}", tag = "alerts", security(("user_token" = [])),
    params(("rule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AlertRuleView), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn get_rule(
    State(state): State<AppState>,
    User(who): User,
    Path(rule_id): Path<String>,
) -> Result<Json<AlertRuleView>, ApiError> {
    let rule = path_id("alert_rule", &rule_id).1?;
    let key = state.key.clone();
    Ok(Json(
        state
            .db
            .read(move |c| alerts::get_rule(c, &key, &who, rule))
            .await?,
    ))
}

/// Deletes an alert rule; its messages not yet sent are dropped.
#[utoipa::path(delete, path = "/api/v1/alert-rules/{rule_id}", tag = "alerts", security(("user_token" = [])),
    params(("rule_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    User(who): User,
    Path(rule_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (object, rule) = path_id("alert_rule", &rule_id);
    let me = who.clone();
    state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "alert_rule.delete",
            object,
            move |c| alerts::delete_rule(c, &me, rule?),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rule's newest messages (at most 50), newest first: state, attempts, last outcome.
#[utoipa::path(get, path = "/api/v1/alert-rules/{rule_id}/deliveries", tag = "alerts",
    security(("user_token" = [])),
    params(("rule_id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<AlertDeliveryView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    User(who): User,
    Path(rule_id): Path<String>,
) -> Result<Json<Vec<AlertDeliveryView>>, ApiError> {
    let rule = path_id("alert_rule", &rule_id).1?;
    let key = state.key.clone();
    Ok(Json(
        state
            .db
            .read(move |c| alerts::deliveries(c, &key, &who, rule, DELIVERIES_LISTED))
            .await?,
    ))
}
