//! Sign-in (which also reads the person's consent decisions from the server), token refresh,
//! sign-out and whoami. The session (access and refresh tokens, the
//! user's id) is one secret in the [`SecretStore`](crate::SecretStore), keyed by server origin,
//! read once per operation. When the server stops accepting it, the session is deleted and a
//! [`ClientEvent::SessionEnded`] says so: a front end never finds out by accident.

use ecsp_protocol::auth::{LoginRequest, RefreshRequest, TokenPair, WhoAmI};
use ecsp_protocol::problem::Problem;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ClientError, EcspResult, Result};
use crate::events::{ClientEvent, SessionEndReason};
use crate::secrets::Secret;
use crate::{Core, EcspClient, now_ms};

/// The tokens of a session. No `Debug`: it must never reach a log.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    access_token: String,
    refresh_token: String,
    access_expires_at: i64,
    pub(crate) user_id: Uuid,
}

/// What sign-out achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedOut {
    /// The server revoked the session and the local tokens are gone.
    Revoked,
    /// The server could not be reached: the local tokens are gone, the server session will lapse.
    LocalOnly,
    /// There was no session.
    NotSignedIn,
}

/// Reads a JSON answer, or the server's problem.
pub(crate) async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    if status.is_success() {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        return serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Corrupt(format!("server answer: {e}")));
    }
    Err(problem(response).await)
}

/// The error an unsuccessful answer stands for.
pub(crate) async fn problem(response: reqwest::Response) -> ClientError {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return ClientError::NotSignedIn;
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let problem = response.json::<Problem>().await;
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ClientError::RateLimited {
            detail: problem.map_or_else(|_| "try again later".into(), |p| p.detail),
            retry_after_secs: retry_after,
        };
    }
    match problem {
        Ok(p) => ClientError::Server(Box::new(p)),
        Err(_) => ClientError::UnexpectedStatus {
            status: status.as_u16(),
        },
    }
}

impl Core {
    fn session_key(&self) -> String {
        format!("session:{}", self.transport.origin())
    }

    pub(crate) fn load_session(&self) -> Result<Option<StoredSession>> {
        match self.secrets.get(&self.session_key())? {
            None => Ok(None),
            Some(s) => serde_json::from_str(s.expose()).map(Some).map_err(|_| {
                ClientError::SecretStore("the stored session is damaged; sign in again".into())
            }),
        }
    }

    pub(crate) fn require_session(&self) -> Result<StoredSession> {
        self.load_session()?.ok_or(ClientError::NotSignedIn)
    }

    /// The signed-in user's id, known offline too.
    pub(crate) fn current_user(&self) -> Result<Uuid> {
        Ok(self.require_session()?.user_id)
    }

    fn save_session(&self, session: &StoredSession) -> Result<()> {
        let json =
            serde_json::to_string(session).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        Ok(self.secrets.set(&self.session_key(), &Secret::new(json))?)
    }

    /// This installation's random id, sent at sign-in: the server gives a known installation
    /// its own attempt budget, so someone guessing the password elsewhere cannot lock its owner
    /// out. Kept in the secret store, since it is what makes an installation "known".
    fn installation_id(&self) -> Result<Uuid> {
        const KEY: &str = "installation-id";
        if let Some(id) = self.secrets.get(KEY)?
            && let Ok(id) = Uuid::parse_str(id.expose())
        {
            return Ok(id);
        }
        let id = Uuid::new_v4();
        self.secrets.set(KEY, &Secret::new(id.to_string()))?;
        Ok(id)
    }

    fn end_session(&self, reason: SessionEndReason) -> Result<()> {
        self.secrets.delete(&self.session_key())?;
        self.emit(ClientEvent::SessionEnded { reason });
        Ok(())
    }
}

fn session_from(tokens: &TokenPair, user_id: Uuid) -> StoredSession {
    StoredSession {
        access_token: tokens.access_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        access_expires_at: now_ms() + (tokens.expires_in as i64) * 1000,
        user_id,
    }
}

impl EcspClient {
    /// The signed-in user's id, known offline too.
    pub async fn current_user(&self) -> EcspResult<Uuid> {
        self.blocking(Core::current_user).await
    }

    pub(crate) async fn session(&self) -> Result<StoredSession> {
        self.blocking_internal(Core::require_session).await
    }

    /// Signs in and keeps the tokens in the secret store; wakes the sync service.
    pub async fn login(&self, email: &str, password: &str) -> EcspResult<WhoAmI> {
        Ok(self.login_internal(email, password).await?)
    }

    async fn login_internal(&self, email: &str, password: &str) -> Result<WhoAmI> {
        let transport = &self.core.transport;
        let installation_id = self
            .blocking_internal(|core| core.installation_id())
            .await?;
        let request = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            installation_id: Some(installation_id),
            unlock_code: None,
        };
        let response = transport
            .send(
                transport
                    .http()
                    .post(transport.url("/api/v1/auth/login"))
                    .json(&request),
            )
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let p = response.json::<Problem>().await.ok();
            return Err(p.map_or(ClientError::NotSignedIn, |p| {
                ClientError::Server(Box::new(p))
            }));
        }
        let tokens: TokenPair = read_json(response).await?;
        let me: WhoAmI = read_json(
            transport
                .send(
                    transport
                        .http()
                        .get(transport.url("/api/v1/me"))
                        .bearer_auth(&tokens.access_token),
                )
                .await?,
        )
        .await?;
        let mut session = session_from(&tokens, me.user_id);
        let saved = session.clone();
        self.blocking_internal(move |core| core.save_session(&saved))
            .await?;
        // What this person decided in their other apps. Signing in stands without it: every
        // sync reads the ledger again before sending a record.
        if let Err(e) = self.refresh_consents_with(&mut session).await {
            tracing::warn!(error = %e, "could not read the consent ledger at sign-in");
        }
        self.core.wake.notify_one();
        Ok(me)
    }

    /// Ends the session on the server (if reachable) and forgets the tokens here.
    pub async fn logout(&self) -> EcspResult<SignedOut> {
        let Some(session) = self.blocking(Core::load_session).await? else {
            return Ok(SignedOut::NotSignedIn);
        };
        let transport = &self.core.transport;
        let sent = transport
            .send(
                transport
                    .http()
                    .post(transport.url("/api/v1/auth/logout"))
                    .bearer_auth(&session.access_token),
            )
            .await;
        self.blocking(|core| core.end_session(SessionEndReason::SignedOut))
            .await?;
        Ok(match sent {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                SignedOut::Revoked
            }
            _ => SignedOut::LocalOnly,
        })
    }

    pub async fn whoami(&self) -> EcspResult<WhoAmI> {
        Ok(self.get_json("/api/v1/me").await?)
    }

    /// GET of a JSON resource with the current session.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let mut session = self.session().await?;
        let response = self
            .authed(&mut session, |http, url, token| {
                http.get(url(path)).bearer_auth(token)
            })
            .await?;
        read_json(response).await
    }

    /// Sends an authenticated request with `session`; on 401 refreshes the tokens once (updating
    /// `session`) and tries again.
    pub(crate) async fn authed<F>(
        &self,
        session: &mut StoredSession,
        build: F,
    ) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client, &dyn Fn(&str) -> url::Url, &str) -> reqwest::RequestBuilder,
    {
        let transport = &self.core.transport;
        let url = |p: &str| transport.url(p);
        // Refresh ahead of a known expiry, saving a round trip.
        if session.access_expires_at <= now_ms() {
            self.refresh(session).await?;
        }
        let response = transport
            .send(build(transport.http(), &url, &session.access_token))
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        self.refresh(session).await?;
        let response = transport
            .send(build(transport.http(), &url, &session.access_token))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(ClientError::NotSignedIn);
        }
        Ok(response)
    }

    /// Exchanges the refresh token, updating `session`. If another task already replaced the
    /// tokens, its result is used instead.
    async fn refresh(&self, session: &mut StoredSession) -> Result<()> {
        let _guard = self.core.refresh_lock.lock().await;
        let stored = self.session().await?;
        if stored.access_token != session.access_token && stored.access_expires_at > now_ms() {
            *session = stored;
            return Ok(());
        }
        let transport = &self.core.transport;
        let response = transport
            .send(
                transport
                    .http()
                    .post(transport.url("/api/v1/auth/refresh"))
                    .json(&RefreshRequest {
                        refresh_token: stored.refresh_token.clone(),
                    }),
            )
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // The session is over (expired, revoked, or the refresh token was replayed).
            self.blocking_internal(|core| core.end_session(SessionEndReason::Expired))
                .await?;
            tracing::info!("the server ended the session; signing in again is needed");
            return Err(ClientError::NotSignedIn);
        }
        let tokens: TokenPair = read_json(response).await?;
        let renewed = session_from(&tokens, stored.user_id);
        let saved = renewed.clone();
        self.blocking_internal(move |core| core.save_session(&saved))
            .await?;
        *session = renewed;
        tracing::debug!("access token refreshed");
        Ok(())
    }
}
