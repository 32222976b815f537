//! Organisations, users (personal fields sealed, e-mail found by blind index) and sessions
//! (opaque access and refresh tokens, stored only as hashes; refresh tokens rotate, and a reused
//! one revokes its whole family).

use crate::sql::{Connection, OptionalExtension, params};
use ecsp_protocol::admin::{NewUser, UserUpdate, UserView};
use ecsp_protocol::auth::{Role, TokenPair, WhoAmI};
use uuid::Uuid;

use super::{from_ms, now_ms, parse_uuid};
use crate::crypto::{DataKey, new_token, token_hash};
use crate::db::StoreError;
use crate::error::ApiError;

pub const ACCESS_TOKEN_PREFIX: &str = "ecsp_at_";
pub const REFRESH_TOKEN_PREFIX: &str = "ecsp_rt_";

/// A signed-in user, as every authorisation check sees them.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    pub id: i64,
    pub public_id: Uuid,
    pub org_id: i64,
    pub role: Role,
    pub session_family: String,
}

/// Token lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// Creates an organisation; its name is stored sealed (the clear `name` column stays empty).
pub fn create_org(conn: &Connection, key: &DataKey, name: &str) -> crate::sql::Result<(i64, Uuid)> {
    let public_id = Uuid::new_v4();
    let id = conn.query_row(
        "INSERT INTO organizations (public_id, name, name_enc, created_at) VALUES (?1, '', ?2, ?3)
         RETURNING id",
        params![
            public_id.to_string(),
            key.seal_str(&org_name_context(public_id), name.trim()),
            now_ms()
        ],
        |r| r.get(0),
    )?;
    Ok((id, public_id))
}

/// Whether `key` opens the data sealed in this database (checked on one organisation's name;
/// an empty database is opened by any key).
pub fn data_key_opens(conn: &Connection, key: &DataKey) -> Result<bool, ApiError> {
    let row: Option<(String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT public_id, name_enc FROM organizations WHERE name_enc IS NOT NULL ORDER BY id LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((org, sealed)) => key
            .open_str(&org_name_context(parse_uuid(&org)?), &sealed)
            .is_some(),
        None => true,
    })
}

fn org_name_context(org: Uuid) -> String {
    format!("organizations.name:{org}")
}

/// Seals organisation names and agent labels stored in clear by servers before schema v6, and
/// blanks the clear text. Returns how many rows it sealed.
pub fn seal_legacy_names(conn: &Connection, key: &DataKey) -> Result<usize, ApiError> {
    let mut sealed = 0;
    for (table, column, context) in [
        ("organizations", "name", "organizations.name"),
        ("agents", "label", "agents.label"),
    ] {
        let rows: Vec<(i64, String, String)> = conn
            .prepare(&format!(
                "SELECT id, public_id, {column} FROM {table} WHERE {column} != ''"
            ))?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<crate::sql::Result<_>>()?;
        for (id, public_id, clear) in rows {
            let ciphertext = key.seal_str(&format!("{context}:{public_id}"), &clear);
            conn.execute(
                &format!("UPDATE {table} SET {column} = '', {column}_enc = ?1 WHERE id = ?2"),
                params![ciphertext, id],
            )?;
            sealed += 1;
        }
    }
    Ok(sealed)
}

fn ctx(field: &str, user: Uuid) -> String {
    format!("users.{field}:{user}")
}

/// Inserts a user; the password must already be hashed (hashing is slow, keep it off the writer).
pub fn create_user(
    conn: &Connection,
    key: &DataKey,
    org_id: i64,
    new: &NewUser,
    password_hash: &str,
) -> Result<UserView, ApiError> {
    let public_id = Uuid::new_v4();
    let created = now_ms();
    let seal_opt = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| key.seal_str(&ctx(field, public_id), s))
    };
    let inserted = conn.execute(
        "INSERT INTO users (public_id, org_id, role, email_index, email_enc, name_enc, partner_enc,
                            client_enc, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            public_id.to_string(),
            org_id,
            new.role.as_str(),
            key.email_index(&new.email).as_slice(),
            key.seal_str(&ctx("email", public_id), new.email.trim()),
            key.seal_str(&ctx("name", public_id), new.name.trim()),
            seal_opt("partner", &new.partner_information),
            seal_opt("client", &new.client_information),
            password_hash,
            created
        ],
    );
    // Unique per organisation only: another organisation's users are nobody's business here.
    super::unique_or_conflict(inserted, crate::error::Refusal::EmailTaken)?;
    Ok(UserView {
        user_id: public_id,
        email: new.email.trim().to_owned(),
        name: new.name.trim().to_owned(),
        role: new.role,
        disabled: false,
        created_at: from_ms(created),
        partner_information: new.partner_information.clone(),
        client_information: new.client_information.clone(),
    })
}

/// What sign-in needs to know about an account.
#[derive(Debug)]
pub struct LoginRow {
    pub id: i64,
    pub public_id: Uuid,
    pub org_id: i64,
    pub password_hash: String,
    pub disabled: bool,
}

/// Most accounts one address may hold (one per organisation) that sign-in will try.
pub const MAX_ACCOUNTS_PER_ADDRESS: usize = 8;

/// The accounts an address holds, oldest first: one per organisation that registered it.
pub fn find_login(conn: &Connection, email_index: &[u8; 32]) -> Result<Vec<LoginRow>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, public_id, org_id, password_hash, disabled FROM users
         WHERE email_index = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![email_index.as_slice(), MAX_ACCOUNTS_PER_ADDRESS as i64],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get::<_, bool>(4)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (id, public_id, org_id, password_hash, disabled) = row?;
        out.push(LoginRow {
            id,
            public_id: parse_uuid(&public_id)?,
            org_id,
            password_hash,
            disabled,
        });
    }
    Ok(out)
}

/// How long an installation stays known after its last successful sign-in.
pub const INSTALLATION_KNOWN_FOR_MS: i64 = 90 * 86_400_000;

/// Whether `user_id` signed in successfully from the installation with this keyed hash recently.
pub fn installation_known(
    conn: &Connection,
    user_id: i64,
    installation_hash: &[u8; 32],
) -> crate::sql::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM known_installations
         WHERE user_id = ?1 AND installation_hash = ?2 AND last_seen > ?3",
    )?
    .exists(params![
        user_id,
        installation_hash.as_slice(),
        now_ms() - INSTALLATION_KNOWN_FOR_MS
    ])
}

/// Remembers (or refreshes) an installation `user_id` just signed in from.
pub fn remember_installation(
    conn: &Connection,
    user_id: i64,
    installation_hash: &[u8; 32],
) -> crate::sql::Result<()> {
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO known_installations (user_id, installation_hash, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (user_id, installation_hash) DO UPDATE SET last_seen = excluded.last_seen",
    )?
    .execute(params![user_id, installation_hash.as_slice(), now])?;
    Ok(())
}

/// Issues a token pair, starting a new session family unless `family` continues one.
pub fn issue_tokens(
    conn: &Connection,
    user_id: i64,
    family: Option<&str>,
    policy: TokenPolicy,
) -> crate::sql::Result<(TokenPair, String)> {
    let family = family.map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    let access = new_token(ACCESS_TOKEN_PREFIX);
    let refresh = new_token(REFRESH_TOKEN_PREFIX);
    let now = now_ms();
    conn.prepare_cached(
        "INSERT INTO sessions (family, user_id, access_hash, access_expires_at, refresh_hash,
                               refresh_expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        family,
        user_id,
        token_hash(&access).as_slice(),
        now + (policy.access_ttl_secs as i64) * 1000,
        token_hash(&refresh).as_slice(),
        now + (policy.refresh_ttl_secs as i64) * 1000,
        now
    ])?;
    Ok((
        TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: policy.access_ttl_secs,
            refresh_expires_in: policy.refresh_ttl_secs,
        },
        family,
    ))
}

/// Resolves an access token to its user; every refusal is a 401 that says why in general terms.
pub fn authenticate_access(conn: &Connection, token: &str) -> Result<UserPrincipal, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT u.id, u.public_id, u.org_id, u.role, u.disabled, s.family, s.access_expires_at, s.revoked_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.access_hash = ?1",
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
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .optional()?;
    let Some((id, public_id, org_id, role, disabled, family, expires, revoked)) = row else {
        return Err(ApiError::Unauthenticated("the access token is not valid"));
    };
    if revoked.is_some() || disabled {
        return Err(ApiError::Unauthenticated(
            "the session has ended; sign in again",
        ));
    }
    if expires <= now_ms() {
        return Err(ApiError::TokenExpired);
    }
    Ok(UserPrincipal {
        id,
        public_id: parse_uuid(&public_id)?,
        org_id,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role `{role}`")))?,
        session_family: family,
    })
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Refreshed {
    Issued {
        tokens: TokenPair,
        user_public_id: Uuid,
        org_id: i64,
    },
    /// Unknown, expired, or for a disabled user.
    Refused,
    /// A token that was already exchanged: stolen or replayed. The family is now revoked.
    Reused { user_public_id: Uuid, org_id: i64 },
}

pub fn refresh(
    conn: &Connection,
    refresh_token: &str,
    policy: TokenPolicy,
) -> Result<Refreshed, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT s.id, s.family, s.user_id, s.refresh_expires_at, s.rotated_at, s.revoked_at,
                    u.public_id, u.org_id, u.disabled
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.refresh_hash = ?1",
        )?
        .query_row([token_hash(refresh_token).as_slice()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get::<_, bool>(8)?,
            ))
        })
        .optional()?;
    let Some((session_id, family, user_id, expires, rotated, revoked, public_id, org_id, disabled)) =
        row
    else {
        return Ok(Refreshed::Refused);
    };
    let user_public_id = parse_uuid(&public_id)?;
    if rotated.is_some() && revoked.is_none() {
        revoke_family(conn, &family)?;
        return Ok(Refreshed::Reused {
            user_public_id,
            org_id,
        });
    }
    if revoked.is_some() || disabled || expires <= now_ms() {
        return Ok(Refreshed::Refused);
    }
    conn.execute(
        "UPDATE sessions SET rotated_at = ?1 WHERE id = ?2",
        params![now_ms(), session_id],
    )?;
    let (tokens, _) = issue_tokens(conn, user_id, Some(&family), policy)?;
    Ok(Refreshed::Issued {
        tokens,
        user_public_id,
        org_id,
    })
}

pub fn revoke_family(conn: &Connection, family: &str) -> crate::sql::Result<usize> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
        params![now_ms(), family],
    )
}

/// Ends every session of a user: API token families and portal browser sessions.
pub fn revoke_user(conn: &Connection, user_id: i64) -> crate::sql::Result<usize> {
    let api = conn.execute(
        "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
        params![now_ms(), user_id],
    )?;
    let web = conn.execute(
        "UPDATE web_sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
        params![now_ms(), user_id],
    )?;
    Ok(api + web)
}

struct UserRow {
    public_id: Uuid,
    role: String,
    email: Vec<u8>,
    name: Vec<u8>,
    partner: Option<Vec<u8>>,
    client: Option<Vec<u8>>,
    disabled: bool,
    created_at: i64,
}

const USER_COLUMNS: &str =
    "id, public_id, role, email_enc, name_enc, partner_enc, client_enc, disabled, created_at";

/// The columns of [`USER_COLUMNS`], as read.
type UserTuple = (
    i64,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    bool,
    i64,
);

fn user_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<UserTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn to_user_row(t: UserTuple) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        public_id: parse_uuid(&t.1)?,
        role: t.2,
        email: t.3,
        name: t.4,
        partner: t.5,
        client: t.6,
        disabled: t.7,
        created_at: t.8,
    })
}

fn to_view(key: &DataKey, row: &UserRow) -> Result<UserView, StoreError> {
    let open = |field: &str, sealed: &[u8]| {
        key.open_str(&ctx(field, row.public_id), sealed)
            .ok_or(StoreError::Decrypt)
    };
    Ok(UserView {
        user_id: row.public_id,
        email: open("email", &row.email)?,
        name: open("name", &row.name)?,
        role: Role::parse(&row.role)
            .ok_or_else(|| StoreError::Corrupt(format!("role `{}`", row.role)))?,
        disabled: row.disabled,
        created_at: from_ms(row.created_at),
        partner_information: row
            .partner
            .as_deref()
            .map(|s| open("partner", s))
            .transpose()?,
        client_information: row
            .client
            .as_deref()
            .map(|s| open("client", s))
            .transpose()?,
    })
}

pub fn whoami(conn: &Connection, key: &DataKey, who: &UserPrincipal) -> Result<WhoAmI, ApiError> {
    let view = get_user(conn, key, who.org_id, who.public_id)?;
    let (org_public, sealed_name): (String, Option<Vec<u8>>) = conn
        .prepare_cached("SELECT public_id, name_enc FROM organizations WHERE id = ?1")?
        .query_row([who.org_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let org_public = parse_uuid(&org_public)?;
    let org_name = sealed_name
        .and_then(|n| key.open_str(&org_name_context(org_public), &n))
        .ok_or(StoreError::Decrypt)?;
    Ok(WhoAmI {
        user_id: view.user_id,
        organization_id: org_public,
        organization_name: org_name,
        role: view.role,
        name: view.name,
        email: view.email,
    })
}

pub fn list_users(
    conn: &Connection,
    key: &DataKey,
    org_id: i64,
) -> Result<Vec<UserView>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE org_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([org_id], user_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(to_view(key, &to_user_row(row?)?)?);
    }
    Ok(out)
}

/// The internal id of a user of `org_id`; another organisation's user is "not found".
pub fn user_id_in_org(conn: &Connection, org_id: i64, user: Uuid) -> Result<i64, ApiError> {
    conn.prepare_cached("SELECT id FROM users WHERE public_id = ?1 AND org_id = ?2")?
        .query_row(params![user.to_string(), org_id], |r| r.get(0))
        .optional()?
        .ok_or(ApiError::NotFound("user"))
}

pub fn get_user(
    conn: &Connection,
    key: &DataKey,
    org_id: i64,
    user: Uuid,
) -> Result<UserView, ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE public_id = ?1 AND org_id = ?2"
        ))?
        .query_row(params![user.to_string(), org_id], user_row)
        .optional()?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(to_view(key, &to_user_row(row)?)?)
}

/// Changes a user's role or disables them; disabling revokes every session at once.
pub fn update_user(
    conn: &Connection,
    key: &DataKey,
    admin: &UserPrincipal,
    user: Uuid,
    update: &UserUpdate,
) -> Result<UserView, ApiError> {
    let id = user_id_in_org(conn, admin.org_id, user)?;
    if id == admin.id
        && (update.disabled == Some(true) || update.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::Conflict(crate::error::Refusal::AdminSelf));
    }
    if let Some(role) = update.role {
        conn.execute(
            "UPDATE users SET role = ?1 WHERE id = ?2",
            params![role.as_str(), id],
        )?;
    }
    if let Some(disabled) = update.disabled {
        conn.execute(
            "UPDATE users SET disabled = ?1 WHERE id = ?2",
            params![disabled, id],
        )?;
        if disabled {
            revoke_user(conn, id)?;
        }
    }
    get_user(conn, key, admin.org_id, user)
}

/// Replaces a user's password hash and ends their sessions (used by the operator command).
pub fn set_password_hash(conn: &Connection, user_id: i64, phc: &str) -> crate::sql::Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?1 WHERE id = ?2",
        params![phc, user_id],
    )?;
    revoke_user(conn, user_id)?;
    Ok(())
}
