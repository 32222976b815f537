//! The signed-in user: who they are, and their consent decisions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::auth::WhoAmI;
use ecsp_protocol::consent::{ConsentDecision, ConsentOverview, ConsentRecord};
use ecsp_protocol::problem::Problem;

use super::AppState;
use super::extract::{RequestBody, User, ValidJson};
use crate::error::ApiError;
use crate::store::audit::{self, Event};
use crate::store::{accounts, consent};

impl RequestBody for ConsentDecision {}

/// Who the access token belongs to.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("user_token" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = Problem)))]
pub async fn whoami(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<WhoAmI>, ApiError> {
    let key = state.key.clone();
    let object = format!("user:{}", who.public_id);
    let me = who.clone();
    let view = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "account.read",
            object,
            move |c| accounts::whoami(c, &key, &me),
        )
        .await?;
    Ok(Json(view))
}

/// The user's consent per purpose (each is not granted until granted) and the full history.
#[utoipa::path(get, path = "/api/v1/consents", tag = "account", security(("user_token" = [])),
    responses((status = 200, body = ConsentOverview), (status = 401, body = Problem)))]
pub async fn consents(
    State(state): State<AppState>,
    User(who): User,
) -> Result<Json<ConsentOverview>, ApiError> {
    let user_id = who.id;
    let overview = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "consent.read",
            format!("user:{}", who.public_id),
            move |c| consent::overview(c, user_id),
        )
        .await?;
    Ok(Json(overview))
}

/// Records one consent decision (grant, refusal or withdrawal) with its notice version and time.
#[utoipa::path(post, path = "/api/v1/consents", tag = "account", security(("user_token" = [])),
    request_body = ConsentDecision,
    responses((status = 201, body = ConsentRecord), (status = 401, body = Problem),
              (status = 409, body = Problem, description = "A different decision was already recorded under this `decision_id`"),
              (status = 422, body = Problem)))]
pub async fn record_consent(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<ConsentDecision>, ApiError>,
) -> Result<(StatusCode, Json<ConsentRecord>), ApiError> {
    let object = format!("user:{}", who.public_id);
    let decision = match body {
        Ok(ValidJson(d)) => d,
        Err(e) => {
            return Err(state
                .audit_refusal(
                    Some(who.org_id),
                    Actor::User(who.public_id),
                    "consent.record",
                    object,
                    e,
                )
                .await);
        }
    };
    let record = state
        .db
        .write(move |c| {
            let record = consent::record(c, who.id, &decision)?;
            audit::append(
                c,
                &Event::new(
                    Some(who.org_id),
                    Actor::User(who.public_id),
                    "consent.record",
                    format!("{object}:{}", decision.purpose),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(record)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}
