//! Request extractors: who is calling (a user or an agent, by bearer token) and a JSON body that
//! is size-limited, parsed with the path of any type error, and validated.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use ecsp_protocol::Validate;
use ecsp_protocol::admin::Actor;
use http_body_util::LengthLimitError;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::ApiError;
use crate::store::accounts::{self, UserPrincipal};
use crate::store::devices::{self, AgentPrincipal};

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Records a refused credential in the audit log, then refuses.
async fn refuse(state: &AppState, action: &'static str, err: ApiError) -> ApiError {
    state
        .audit_refusal(None, Actor::Anonymous, action, String::new(), err)
        .await
}

/// A signed-in user (bearer access token).
#[derive(Debug, Clone)]
pub struct User(pub UserPrincipal);

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = bearer(parts).map(str::to_owned) else {
            return Err(refuse(
                state,
                "auth.token",
                ApiError::Unauthenticated("sign in first: no bearer token"),
            )
            .await);
        };
        match state
            .db
            .read(move |c| accounts::authenticate_access(c, &token))
            .await
        {
            Ok(p) => Ok(User(p)),
            Err(e) => Err(refuse(state, "auth.token", e).await),
        }
    }
}

/// An authenticated agent (bearer agent secret).
#[derive(Debug, Clone)]
pub struct Agent(pub AgentPrincipal);

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(secret) = bearer(parts).map(str::to_owned) else {
            return Err(refuse(
                state,
                "auth.agent",
                ApiError::Unauthenticated("no agent credential"),
            )
            .await);
        };
        let secret_hash = crate::crypto::token_hash(&secret);
        if let Some(agent) = state.agents.get(&secret_hash) {
            crate::agent_admin::seen(state, &agent);
            return Ok(Agent(agent));
        }
        let generation = state.agents.generation();
        match state
            .db
            .read(move |c| devices::authenticate_agent(c, &secret))
            .await
        {
            Ok(p) => {
                state.agents.insert(generation, secret_hash, p.clone());
                crate::agent_admin::seen(state, &p);
                Ok(Agent(p))
            }
            Err(e) => Err(refuse(state, "auth.agent", e).await),
        }
    }
}

/// A request body type and its size limit.
pub trait RequestBody: DeserializeOwned + Validate + Send + 'static {
    const MAX_BYTES: usize = ecsp_protocol::limits::BODY_BYTES;
}

/// A JSON body that parsed and validated.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: RequestBody> FromRequest<AppState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > T::MAX_BYTES) {
            return Err(ApiError::TooLarge(T::MAX_BYTES));
        }
        let bytes = axum::body::to_bytes(req.into_body(), T::MAX_BYTES)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<LengthLimitError>())
                    || e.to_string().contains("length limit");
                if too_large {
                    ApiError::TooLarge(T::MAX_BYTES)
                } else {
                    ApiError::Malformed(format!("the body could not be read: {e}"))
                }
            })?;
        let value = parse::<T>(&bytes)?;
        value.validate(chrono::Utc::now())?;
        Ok(ValidJson(value))
    }
}

/// Parses JSON, telling a syntax error (400) from a value of the wrong shape (422, with its path).
///
/// Tracking the path costs about a third of the parse (it showed in the ingest profile), and
/// only a refused body needs it: a body is parsed plainly first, and again with the path only
/// when that fails.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    ecsp_protocol::json::from_slice(bytes).map_err(|e| match (e.syntax, e.field) {
        (true, _) => ApiError::Malformed(match e.position {
            Some((line, column)) => format!("{} at line {line} column {column}", e.message),
            None => e.message,
        }),
        (false, field) => ApiError::field(field.unwrap_or_default(), e.message),
    })
}
