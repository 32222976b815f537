//! Sign-in, tokens and the signed-in identity.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do. An organisation's admin manages its users and their device rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and uploads for the devices they have rights to.
    User,
    /// Service staff: like `user`, and may run remote operations on the devices they manage.
    ServiceSupport,
    /// Manages the organisation's users, devices, agents and rights; reads its audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::ServiceSupport => "service_support",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::User, Role::ServiceSupport, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// `POST /api/v1/auth/login`. A sign-in from an installation that has signed in to this account
/// before (same `installation_id`) draws on its own attempt budget, so guesses from elsewhere
/// cannot keep the owner out.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 254))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub password: String,
    /// The client installation's random, persistent id (the same on every sign-in from it).
    /// Treat it like a secret: it is what makes an installation "known".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<Uuid>,
    /// A one-time unlock code an administrator issued to the account's owner: with the right
    /// password it signs in from a new installation while the account's shared attempt budget
    /// is used up by someone else's guesses. Dashes and spaces do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub unlock_code: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &"<redacted>")
            .field("password", &"<redacted>")
            .field(
                "installation_id",
                &self.installation_id.map(|_| "<redacted>"),
            )
            .field(
                "unlock_code",
                &self.unlock_code.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// An access token and the refresh token that renews it. Debug output hides both.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenPair {
    pub access_token: String,
    /// Single use: each refresh returns a new one and retires this one.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

/// `POST /api/v1/auth/refresh`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub refresh_token: String,
}

impl fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshRequest { refresh_token: <redacted> }")
    }
}

/// `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WhoAmI {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub role: Role,
    pub name: String,
    pub email: String,
}

impl crate::Validate for LoginRequest {
    fn validate_into(&self, v: &mut crate::Validator) {
        validate_credentials(v, &self.email, &self.password);
        if let Some(code) = &self.unlock_code
            && (code.trim().is_empty() || code.chars().count() > 64)
        {
            v.error("unlock_code", "must be 1 to 64 characters");
        }
    }
}

fn validate_credentials(v: &mut crate::Validator, email: &str, password: &str) {
    if email.trim().is_empty() || email.len() > 254 {
        v.error(
            "email",
            "must be an e-mail address of at most 254 characters",
        );
    }
    // Bounded so that a huge password cannot make hashing expensive.
    if password.is_empty() || password.chars().count() > 256 {
        v.error("password", "must be 1 to 256 characters");
    }
}

impl crate::Validate for RefreshRequest {
    fn validate_into(&self, v: &mut crate::Validator) {
        if self.refresh_token.is_empty() || self.refresh_token.len() > 256 {
            v.error(
                "refresh_token",
                "must be a refresh token as issued at sign-in",
            );
        }
    }
}
