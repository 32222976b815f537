//! Sign-in, token refresh, sign-out and whoami. The session (access and refresh tokens, the
//! user's id) is one secret in the [`SecretStore`](crate::SecretStore), keyed by server origin.

use ecsp_protocol::auth::{LoginRequest, RefreshRequest, TokenPair, WhoAmI};
use ecsp_protocol::problem::Problem;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::secrets::Secret;
use crate::{EcspClient, now_ms};

#[derive(Serialize, Deserialize)]
struct StoredSession {
    access_token: String,
    refresh_token: String,
    access_expires_at: i64,
    user_id: Uuid,
}

/// What sign-out achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

pub(crate) async fn problem(response: reqwest::Response) -> ClientError {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return ClientError::NotSignedIn;
    }
    match response.json::<Problem>().await {
        Ok(p) => ClientError::Server(Box::new(p)),
        Err(_) => ClientError::UnexpectedStatus {
            status: status.as_u16(),
        },
    }
}

impl EcspClient {
    fn session_key(&self) -> String {
        format!("session:{}", self.transport.origin())
    }

    fn load_session(&self) -> Result<Option<StoredSession>> {
        match self.secrets.get(&self.session_key())? {
            None => Ok(None),
            Some(s) => serde_json::from_str(s.expose()).map(Some).map_err(|_| {
                ClientError::SecretStore("the stored session is damaged; sign in again".into())
            }),
        }
    }

    fn save_session(&self, tokens: &TokenPair, user_id: Uuid) -> Result<()> {
        let stored = StoredSession {
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            access_expires_at: now_ms() + (tokens.expires_in as i64) * 1000,
            user_id,
        };
        let json =
            serde_json::to_string(&stored).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        self.secrets.set(&self.session_key(), &Secret::new(json))
    }

    /// The signed-in user's id, known offline too.
    pub fn current_user(&self) -> Result<Uuid> {
        self.load_session()?
            .map(|s| s.user_id)
            .ok_or(ClientError::NotSignedIn)
    }

    /// Signs in and keeps the tokens in the secret store.
    pub async fn login(&self, email: &str, password: &str) -> Result<WhoAmI> {
        let request = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let response = self
            .transport
            .send(
                self.transport
                    .http()
                    .post(self.transport.url("/api/v1/auth/login"))
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
            self.transport
                .send(
                    self.transport
                        .http()
                        .get(self.transport.url("/api/v1/me"))
                        .bearer_auth(&tokens.access_token),
                )
                .await?,
        )
        .await?;
        self.save_session(&tokens, me.user_id)?;
        Ok(me)
    }

    /// Ends the session on the server (if reachable) and forgets the tokens here.
    pub async fn logout(&self) -> Result<SignedOut> {
        let Some(session) = self.load_session()? else {
            return Ok(SignedOut::NotSignedIn);
        };
        let sent = self
            .transport
            .send(
                self.transport
                    .http()
                    .post(self.transport.url("/api/v1/auth/logout"))
                    .bearer_auth(&session.access_token),
            )
            .await;
        self.secrets.delete(&self.session_key())?;
        Ok(match sent {
            Ok(r) if r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED => {
                SignedOut::Revoked
            }
            _ => SignedOut::LocalOnly,
        })
    }

    pub async fn whoami(&self) -> Result<WhoAmI> {
        let response = self
            .authed(|http, url, token| http.get(url("/api/v1/me")).bearer_auth(token))
            .await?;
        read_json(response).await
    }

    /// Sends an authenticated request; on 401 refreshes the tokens once and tries again.
    pub(crate) async fn authed<F>(&self, build: F) -> Result<reqwest::Response>
    where
        F: Fn(&reqwest::Client, &dyn Fn(&str) -> url::Url, &str) -> reqwest::RequestBuilder,
    {
        let session = self.load_session()?.ok_or(ClientError::NotSignedIn)?;
        let url = |p: &str| self.transport.url(p);
        // Refresh ahead of a known expiry, saving a round trip.
        let token = if session.access_expires_at <= now_ms() {
            self.refresh(&session.access_token).await?
        } else {
            session.access_token
        };
        let response = self
            .transport
            .send(build(self.transport.http(), &url, &token))
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let token = self.refresh(&token).await?;
        let response = self
            .transport
            .send(build(self.transport.http(), &url, &token))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(ClientError::NotSignedIn);
        }
        Ok(response)
    }

    /// Exchanges the refresh token; returns the new access token. `stale` is the access token
    /// that failed: if another task already replaced it, its result is used instead.
    async fn refresh(&self, stale: &str) -> Result<String> {
        let _guard = self.refresh_lock.lock().await;
        let session = self.load_session()?.ok_or(ClientError::NotSignedIn)?;
        if session.access_token != stale && session.access_expires_at > now_ms() {
            return Ok(session.access_token);
        }
        let response = self
            .transport
            .send(
                self.transport
                    .http()
                    .post(self.transport.url("/api/v1/auth/refresh"))
                    .json(&RefreshRequest {
                        refresh_token: session.refresh_token.clone(),
                    }),
            )
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // The session is over (expired, revoked, or the refresh token was replayed).
            self.secrets.delete(&self.session_key())?;
            return Err(ClientError::NotSignedIn);
        }
        let tokens: TokenPair = read_json(response).await?;
        self.save_session(&tokens, session.user_id)?;
        tracing::debug!("access token refreshed");
        Ok(tokens.access_token)
    }
}
