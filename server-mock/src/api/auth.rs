//! Sign-in, token refresh and sign-out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::auth::{LoginRequest, RefreshRequest, Role, TokenPair};
use ecsp_protocol::problem::Problem;

use super::AppState;
use super::extract::{RequestBody, User, ValidJson};
use crate::crypto::{verify_against_dummy, verify_password};
use crate::error::ApiError;
use crate::ratelimit::installation_bucket;
use crate::store::accounts::{self, Refreshed};
use crate::store::audit::{self, Event};
use crate::unlock;

impl RequestBody for LoginRequest {}
impl RequestBody for RefreshRequest {}

/// Signs in with e-mail and password. Unknown accounts, wrong passwords and disabled accounts get
/// the same answer. Past the per-account attempt limit: 429 with `Retry-After`; a sign-in with
/// the `installation_id` of an installation that signed in to this account before has its own
/// limit, which guesses from elsewhere do not use up, and so has one with an `unlock_code` an
/// administrator issued (spent by the sign-in it lets in).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair),
              (status = 401, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ValidJson(req): ValidJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let installation = req.installation_id;
    let attempt = SignInAttempt {
        installation,
        unlock_code: req.unlock_code,
    };
    let who = verify_sign_in(&state, req.email, req.password, attempt).await?;
    let policy = state.tokens;
    let seen = installation.map(|i| state.key.installation_index(who.public_id, i));
    let tokens = state
        .db
        .write(move |c| {
            let (tokens, _) = accounts::issue_tokens(c, who.user_id, None, policy)?;
            if let Some(hash) = &seen {
                accounts::remember_installation(c, who.user_id, hash)?;
            }
            audit::append(c, &who.event("auth.login"))?;
            Ok::<_, ApiError>(tokens)
        })
        .await?;
    Ok(Json(tokens))
}

/// A user whose e-mail address and password were just checked.
#[derive(Debug, Clone, Copy)]
pub struct Verified {
    pub user_id: i64,
    pub org_id: i64,
    pub public_id: uuid::Uuid,
}

impl Verified {
    /// The audit row of this successful sign-in.
    pub fn event(&self, action: &'static str) -> Event {
        Event::new(
            Some(self.org_id),
            Actor::User(self.public_id),
            action,
            format!("user:{}", self.public_id),
            Outcome::Success,
        )
    }
}

/// Where a sign-in comes from, beyond the address and password: the installation (or browser)
/// id, and an administrator's unlock code if the owner has one.
#[derive(Debug, Default)]
pub struct SignInAttempt {
    pub installation: Option<uuid::Uuid>,
    pub unlock_code: Option<String>,
}

/// Checks an e-mail address and password under the sign-in limits, for the API and the portal
/// alike: unknown accounts, wrong passwords and disabled accounts get the same answer; past the
/// per-account attempt limit, 429; an installation (or browser) that signed in to the account
/// before has a limit of its own. Refusals are audited here.
pub async fn verify_sign_in(
    state: &AppState,
    email: String,
    password: String,
    attempt: SignInAttempt,
) -> Result<Verified, ApiError> {
    let verified = check_sign_in(state, email, password, attempt).await;
    if let Err(e) = &verified {
        metrics::counter!(crate::telemetry::SIGNIN_REFUSALS, "reason" => e.problem_code())
            .increment(1);
    }
    verified
}

async fn check_sign_in(
    state: &AppState,
    email: String,
    password: String,
    attempt: SignInAttempt,
) -> Result<Verified, ApiError> {
    let SignInAttempt {
        installation,
        unlock_code,
    } = attempt;
    let account = state.key.email_index(&email);
    // Every index the address may be under (several only while a key rotation runs).
    let indexes = state.key.email_indexes(&email);
    let key = state.key.clone();
    // The accounts the address holds (one per organisation that registered it), and the
    // known-installation hash if this sign-in comes from an installation one of them used.
    let (rows, known, unlock) = state
        .db
        .read(move |c| {
            let mut rows = Vec::new();
            for index in &indexes {
                rows.extend(accounts::find_login(c, index)?);
            }
            // An unlock code of one of the accounts: (the account's row, the code's hash).
            let mut unlock = None;
            if let Some(code) = &unlock_code {
                for r in &rows {
                    let hash = unlock::code_hash(&key, r.public_id, code);
                    if accounts::installation_known(c, r.id, &hash)? {
                        unlock = Some((r.id, hash));
                        break;
                    }
                }
                if rows.is_empty() {
                    // The same lookup for an address without an account (no user has id 0).
                    let hash = unlock::code_hash(&key, uuid::Uuid::nil(), code);
                    accounts::installation_known(c, 0, &hash)?;
                }
            }
            let mut known = None;
            if let Some(i) = installation {
                for r in &rows {
                    let hash = key.installation_index(r.public_id, i);
                    if accounts::installation_known(c, r.id, &hash)? {
                        known = Some(hash);
                        break;
                    }
                }
                if rows.is_empty() {
                    // The same lookup for an address without an account (no user has id 0).
                    let hash = key.installation_index(uuid::Uuid::nil(), i);
                    accounts::installation_known(c, 0, &hash)?;
                }
            }
            Ok::<_, ApiError>((rows, known, unlock))
        })
        .await?;
    let bucket = match (&unlock, known) {
        (Some((_, code)), _) => installation_bucket(account, *code),
        (None, Some(hash)) => installation_bucket(account, hash),
        (None, None) => account,
    };
    if let Err(wait) = state.budgets.take(bucket).await? {
        audit_refusals_later(
            state,
            vec![Event::new(
                None,
                Actor::Anonymous,
                "auth.login",
                String::new(),
                Outcome::Failed,
            )],
            true,
        );
        return Err(ApiError::TooManyAttempts(wait.as_secs()));
    }
    let (rows, matched) = state
        .hash_work(move || {
            if rows.is_empty() {
                verify_against_dummy(&password);
            }
            // The oldest account whose password this is (and that is not disabled).
            let matched = rows
                .iter()
                .position(|r| verify_password(&r.password_hash, &password) && !r.disabled);
            (rows, matched)
        })
        .await?;
    let Some(row) = matched.map(|i| &rows[i]) else {
        if rows.is_empty() {
            let anonymous = Event::new(
                None,
                Actor::Anonymous,
                "auth.login",
                String::new(),
                Outcome::Failed,
            );
            audit_refusals_later(state, vec![anonymous], true);
        } else {
            let failed = rows
                .iter()
                .map(|row| {
                    Event::new(
                        Some(row.org_id),
                        Actor::User(row.public_id),
                        "auth.login",
                        format!("user:{}", row.public_id),
                        Outcome::Failed,
                    )
                })
                .collect();
            audit_refusals_later(state, failed, false);
        }
        return Err(ApiError::InvalidCredentials);
    };
    state.budgets.refill(bucket).await?;
    if let Some((user_id, code)) = unlock.filter(|(user_id, _)| *user_id == row.id) {
        let event = Event::new(
            Some(row.org_id),
            Actor::User(row.public_id),
            "auth.unlock_code_used",
            format!("user:{}", row.public_id),
            Outcome::Success,
        );
        state
            .db
            .write(move |c| {
                unlock::spend(c, user_id, &code)?;
                audit::append(c, &event)?;
                Ok::<_, ApiError>(())
            })
            .await?;
    }
    Ok(Verified {
        user_id: row.id,
        org_id: row.org_id,
        public_id: row.public_id,
    })
}

/// Audits refused sign-ins without making the answer wait for the database writer.
///
/// A refused sign-in of an existing account writes its own audit row, while those for unknown
/// addresses are folded in memory by the throttle (`throttled`); awaiting that write made
/// existing accounts answer 2–3 ms slower, which told an attacker which addresses have
/// accounts. So neither answer waits: a task hands the rows to the writer as the answer leaves
/// (they are committed within milliseconds; a crash in between loses them, as it loses the
/// throttle's open windows), and a failure to write them is logged.
fn audit_refusals_later(state: &AppState, events: Vec<Event>, throttled: bool) {
    let rows = if throttled {
        events
            .into_iter()
            .flat_map(|e| state.audit_throttle.admit(e))
            .collect()
    } else {
        events
    };
    if rows.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = state.audit_all(rows).await {
            tracing::error!(error = %e, "could not write the audit rows of refused sign-ins");
        }
    });
}

/// A sign-in unlock code, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SignInUnlock {
    /// Tell it to the user by a channel of your own (in person, by phone); with their password
    /// it signs them in once, from a new installation, even while their account's shared
    /// attempt budget is used up by someone else's guesses.
    pub unlock_code: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issues a one-time sign-in unlock code for a user of the admin's organisation (the owner's
/// way in from a new installation while someone guesses the password). Valid 24 hours.
#[utoipa::path(post, path = "/api/v1/admin/users/{user_id}/sign-in-unlock", tag = "admin",
    security(("user_token" = [])), params(("user_id" = uuid::Uuid, Path)),
    responses((status = 201, body = SignInUnlock), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn issue_unlock_code(
    State(state): State<AppState>,
    User(who): User,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<SignInUnlock>), ApiError> {
    let object = format!("user:{user_id}");
    let actor = Actor::User(who.public_id);
    if who.role != Role::Admin {
        let err = ApiError::Forbidden("this needs the admin role");
        return Err(state
            .audit_refusal(Some(who.org_id), actor, "admin.user.unlock", object, err)
            .await);
    }
    let user = uuid::Uuid::parse_str(&user_id).map_err(|_| ApiError::NotFound("user"));
    let (key, org) = (state.key.clone(), who.org_id);
    let issued = state
        .audited_write(Some(org), actor, "admin.user.unlock", object, move |c| {
            let user = user?;
            let id = accounts::user_id_in_org(c, org, user)?;
            Ok::<_, ApiError>(unlock::issue(c, &key, id, user)?)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SignInUnlock {
            unlock_code: issued.code,
            expires_at: issued.expires_at,
        }),
    ))
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a used
/// one again ends the whole session (it was copied).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    ValidJson(req): ValidJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let policy = state.tokens;
    let outcome = state
        .db
        .write(move |c| {
            let outcome = accounts::refresh(c, &req.refresh_token, policy)?;
            let event = match &outcome {
                Refreshed::Issued {
                    user_public_id,
                    org_id,
                    ..
                } => Event::new(
                    Some(*org_id),
                    Actor::User(*user_public_id),
                    "auth.refresh",
                    format!("user:{user_public_id}"),
                    Outcome::Success,
                ),
                Refreshed::Reused {
                    user_public_id,
                    org_id,
                } => Event::new(
                    Some(*org_id),
                    Actor::User(*user_public_id),
                    "auth.refresh_reused",
                    format!("user:{user_public_id}"),
                    Outcome::Denied,
                ),
                // Anonymous: audited below, through the throttle.
                Refreshed::Refused => return Ok(outcome),
            };
            audit::append(c, &event)?;
            Ok::<_, ApiError>(outcome)
        })
        .await?;
    match outcome {
        Refreshed::Issued { tokens, .. } => Ok(Json(tokens)),
        Refreshed::Reused { .. } => Err(ApiError::Unauthenticated(
            "this refresh token was already used; the session has been ended, sign in again",
        )),
        Refreshed::Refused => {
            let err = ApiError::Unauthenticated(
                "the refresh token is not valid or has expired; sign in again",
            );
            Err(state
                .audit_refusal(None, Actor::Anonymous, "auth.refresh", String::new(), err)
                .await)
        }
    }
}

/// Ends the session the access token belongs to: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("user_token" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    User(who): User,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .write(move |c| {
            accounts::revoke_family(c, &who.session_family)?;
            audit::append(
                c,
                &Event::new(
                    Some(who.org_id),
                    Actor::User(who.public_id),
                    "auth.logout",
                    format!("user:{}", who.public_id),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
