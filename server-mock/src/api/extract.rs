//! Request extractors: who is calling (a user or an agent, by bearer token), a JSON body that
//! is size-limited, parsed with the path of any type error, and validated, and a query string
//! whose every fault names its parameter.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::{FieldError, Validate};
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
        // serde reads a struct from an array of its fields too (`[null, null]` was a valid
        // user update): every body here is an object, as the document says.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::field("", "the body must be a JSON object"));
        }
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
    // JSON (and the document's JSON Schema) counts `3600.0` as the integer 3600; serde does not
    // take it for an integer field. A body refused for that reads again with such numbers as
    // integers: on the refusal path only, so a good body costs nothing more.
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && integral_floats_as_integers(&mut value)
        && let Ok(typed) = serde_json::from_value(value)
    {
        return Ok(typed);
    }
    ecsp_protocol::json::from_slice(bytes).map_err(|e| match (e.syntax, e.field) {
        (true, _) => ApiError::Malformed(match e.position {
            Some((line, column)) => format!("{} at line {line} column {column}", e.message),
            None => e.message,
        }),
        (false, field) => ApiError::field(field.unwrap_or_default(), e.message),
    })
}

/// Rewrites every number with no fractional part (`3600.0`) as an integer, where one holds
/// it exactly; says whether it changed any.
fn integral_floats_as_integers(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // Beyond 2^53 a double no longer holds every integer: leave such numbers alone.
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                *value = serde_json::Value::from(f as i64);
                true
            } else {
                false
            }
        }
        // Every number is visited (no short cut at the first change).
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for v in items {
                changed |= integral_floats_as_integers(v);
            }
            changed
        }
        serde_json::Value::Object(map) => {
            let mut changed = false;
            for v in map.values_mut() {
                changed |= integral_floats_as_integers(v);
            }
            changed
        }
        _ => false,
    }
}

/// An operation's query parameters: what each must be, in words, and the rules between them.
pub trait QueryParams: DeserializeOwned + Send + 'static {
    /// Every parameter the operation takes, with what its value must be ("an integer from 1 to
    /// 500"): the message of an error naming it. A parameter not listed is refused as unknown.
    const EXPECTED: &'static [(&'static str, &'static str)];

    /// Rules a value's type does not carry (ranges, parameters that go together): the parameter
    /// at fault and what it must be.
    fn check(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }
}

/// A query string that parsed and passed [`QueryParams::check`]. Any fault is a 400
/// `invalid_query` problem naming the parameter and what it must be, never the body's 422:
/// unknown and repeated parameters too, and an empty value (`before=`), which is not a value of
/// any parameter's type.
#[derive(Debug)]
pub struct ValidQuery<T>(pub T);

impl<T: QueryParams, S: Send + Sync> FromRequestParts<S> for ValidQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parse_query::<T>(parts.uri.query().unwrap_or_default())?;
        value
            .check()
            .map_err(|(parameter, expected)| ApiError::query(parameter, expected))?;
        Ok(ValidQuery(value))
    }
}

/// What parameter `name` must be, from `T::EXPECTED`.
fn expected<T: QueryParams>(name: &str) -> Option<&'static str> {
    T::EXPECTED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, what)| *what)
}

/// Parses a query string into `T`. Names are checked first (so an unknown or repeated one is
/// named as such, whatever serde would say of it), then each value, with the path of the one
/// that fails (`serde_path_to_error`: axum's own `Query` keeps it only inside its message).
pub fn parse_query<T: QueryParams>(query: &str) -> Result<T, ApiError> {
    let mut seen = std::collections::HashSet::new();
    let mut errors = Vec::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        let message = if expected::<T>(&name).is_none() {
            let known: Vec<&str> = T::EXPECTED.iter().map(|(n, _)| *n).collect();
            format!(
                "is not a parameter of this operation, which takes: {}",
                known.join(", ")
            )
        } else if !seen.insert(name.clone()) {
            "must be given at most once".to_owned()
        } else {
            continue;
        };
        // A name is bounded only by the URI's length: keep the answer short.
        let field: String = name.chars().take(64).collect();
        if !errors.iter().any(|e: &FieldError| e.field == field) {
            errors.push(FieldError {
                field,
                message,
                rule: None,
            });
        }
        if errors.len() >= 10 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidQuery(errors));
    }
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let parameter = e.path().to_string();
        match expected::<T>(&parameter) {
            Some(what) => ApiError::query(parameter, format!("must be {what}")),
            // Not one parameter's value (cannot happen after the names' check): say serde's words.
            None => ApiError::query("query", e.inner().to_string()),
        }
    })
}
