//! Browser sessions of the portal. The cookie carries a random token; the database keeps only
//! its SHA-256. A session ends when it has been idle for [`IDLE_TIMEOUT_MS`], when it is older
//! than [`ABSOLUTE_TIMEOUT_MS`], or when it is revoked (sign-out, sign-out everywhere, a
//! disabled account). The CSRF token of a session is derived from its token, one way, so it
//! needs no column and does not reveal the cookie.

use crate::sql::{Connection, OptionalExtension, params};
use ecsp_protocol::auth::Role;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::{now_ms, parse_uuid};
use crate::crypto::{new_token, token_hash};
use crate::db::StoreError;
use crate::error::ApiError;

/// Prefix of a portal session token (tells it apart from API tokens in a leak report).
pub const WEB_TOKEN_PREFIX: &str = "ecsp_ws_";
/// A session unused this long ends (OWASP's session guidance: 15–30 minutes for most sites).
pub const IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
/// A session ends this long after sign-in however busy it is.
pub const ABSOLUTE_TIMEOUT_MS: i64 = 12 * 3600 * 1000;
/// `last_seen_at` is written at most this often, so reading pages does not write each time.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// Starts a browser session for `user_id`; returns the cookie's token.
pub fn create(conn: &Connection, user_id: i64) -> crate::sql::Result<String> {
    let token = new_token(WEB_TOKEN_PREFIX);
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO web_sessions (token_hash, family, user_id, created_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![
        token_hash(&token).as_slice(),
        Uuid::new_v4().to_string(),
        user_id,
        now
    ])?;
    Ok(token)
}

/// The signed-in user of a live session, and whether its `last_seen_at` should be written.
pub fn authenticate(conn: &Connection, token: &str) -> Result<(UserPrincipal, bool), ApiError> {
    if !token.starts_with(WEB_TOKEN_PREFIX) {
        return Err(ApiError::Unauthenticated("no portal session"));
    }
    let row = conn
        .prepare_cached(
            "SELECT u.id, u.public_id, u.org_id, u.role, u.disabled, s.family, s.created_at,
                    s.last_seen_at, s.revoked_at
             FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
        )?
        .query_row([token_hash(token).as_slice()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, Option<i64>>(8)?,
            ))
        })
        .optional()?;
    let Some((id, public_id, org_id, role, disabled, family, created, seen, revoked)) = row else {
        return Err(ApiError::Unauthenticated("no portal session"));
    };
    let now = now_ms();
    if revoked.is_some()
        || disabled
        || now - seen > IDLE_TIMEOUT_MS
        || now - created > ABSOLUTE_TIMEOUT_MS
    {
        return Err(ApiError::Unauthenticated("the portal session has ended"));
    }
    let principal = UserPrincipal {
        id,
        public_id: parse_uuid(&public_id)?,
        org_id,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
        session_family: family,
    };
    Ok((principal, now - seen > TOUCH_EVERY_MS))
}

/// Records activity on a session (keeps it from idling out).
pub fn touch(conn: &Connection, token: &str) -> crate::sql::Result<()> {
    conn.prepare_cached(
        "UPDATE web_sessions SET last_seen_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
    )?
    .execute(params![now_ms(), token_hash(token).as_slice()])?;
    Ok(())
}

/// Ends one session.
pub fn revoke(conn: &Connection, token: &str) -> crate::sql::Result<usize> {
    conn.execute(
        "UPDATE web_sessions SET revoked_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL",
        params![now_ms(), token_hash(token).as_slice()],
    )
}

/// The CSRF token of the session whose cookie is `token`: a one-way function of it.
pub fn csrf_token(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("ecsp-portal-csrf:{token}").as_bytes(),
    ))
}

/// Whether `presented` is the CSRF token of `token`, compared in constant time.
pub fn csrf_matches(token: &str, presented: &str) -> bool {
    let expected = csrf_token(token);
    expected.len() == presented.len()
        && expected
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_tied_to_its_session() {
        let a = new_token(WEB_TOKEN_PREFIX);
        let b = new_token(WEB_TOKEN_PREFIX);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_token(&a).contains(&a[WEB_TOKEN_PREFIX.len()..]));
    }
}
