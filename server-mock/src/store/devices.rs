//! Devices (printers), the rights users hold on them, and the agents designated to report them.
//!
//! The one rule: a user sees a device only if it belongs to their organisation and either they
//! are its admin or they were granted a right to it. Anything else is "not found", so another
//! organisation's ids reveal nothing.

use crate::sql::{Connection, OptionalExtension, params};
use ecsp_protocol::admin::{AgentCredentials, DeviceView, NewAgent, NewDevice};
use ecsp_protocol::agent::AgentType;
use ecsp_protocol::auth::Role;
use uuid::Uuid;

use super::accounts::{UserPrincipal, user_id_in_org};
use super::{from_ms, now_ms, parse_uuid};
use crate::crypto::{new_token, token_hash};
use crate::db::StoreError;
use crate::error::ApiError;

pub const AGENT_SECRET_PREFIX: &str = "ecsp_ag_";

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentPrincipal {
    pub id: i64,
    pub public_id: Uuid,
    pub org_id: i64,
    /// The kind the agent was registered as; its reports must name the same.
    pub agent_type: AgentType,
}

/// An `agents.agent_type` column's value as the protocol's type (`dc_agent` or `es_agent`).
pub fn agent_type_of(column: &str) -> AgentType {
    if column == "es_agent" {
        AgentType::EsAgent
    } else {
        AgentType::DcAgent
    }
}

const DEVICE_COLUMNS: &str =
    "d.id, d.public_id, d.manufacturer, d.model, d.serial_number, a.public_id, d.registered_at,
     (SELECT gr.public_id FROM device_groups gr WHERE gr.id = d.group_id)";

/// The columns of [`DEVICE_COLUMNS`], as read.
type DeviceTuple = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<String>,
);

fn device_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<DeviceTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn to_view(t: DeviceTuple) -> Result<(i64, DeviceView), ApiError> {
    Ok((
        t.0,
        DeviceView {
            device_id: parse_uuid(&t.1)?,
            manufacturer: t.2,
            model: t.3,
            serial_number: t.4,
            agent_id: t.5.as_deref().map(parse_uuid).transpose()?,
            registered_at: from_ms(t.6),
            group_id: t.7.as_deref().map(parse_uuid).transpose()?,
            state: None,
        },
    ))
}

/// The SQL condition under which `?1` (user id), `?2` (org id), `?3` (is admin) sees device `d`.
pub(crate) const VISIBLE: &str = "d.org_id = ?2 AND (?3 OR EXISTS (SELECT 1 FROM device_access g WHERE g.user_id = ?1 AND g.device_id = d.id))";

pub fn list_visible(conn: &Connection, who: &UserPrincipal) -> Result<Vec<DeviceView>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d LEFT JOIN agents a ON a.id = d.agent_id WHERE {VISIBLE} ORDER BY d.id"
    ))?;
    let rows = stmt.query_map(
        params![who.id, who.org_id, who.role == Role::Admin],
        device_row,
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.push(to_view(row?)?.1);
    }
    Ok(out)
}

/// The device with public id `device`, if `who` may see it; else "not found".
pub fn visible(
    conn: &Connection,
    who: &UserPrincipal,
    device: Uuid,
) -> Result<(i64, DeviceView), ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d LEFT JOIN agents a ON a.id = d.agent_id
             WHERE d.public_id = ?4 AND {VISIBLE}"
        ))?
        .query_row(
            params![
                who.id,
                who.org_id,
                who.role == Role::Admin,
                device.to_string()
            ],
            device_row,
        )
        .optional()?
        .ok_or(ApiError::NotFound("device"))?;
    to_view(row)
}

/// The internal id of a device of `org_id`, regardless of rights (for admins' grants).
pub fn device_id_in_org(conn: &Connection, org_id: i64, device: Uuid) -> Result<i64, ApiError> {
    conn.prepare_cached("SELECT id FROM devices WHERE public_id = ?1 AND org_id = ?2")?
        .query_row(params![device.to_string(), org_id], |r| r.get(0))
        .optional()?
        .ok_or(ApiError::NotFound("device"))
}

pub fn register(conn: &Connection, org_id: i64, new: &NewDevice) -> Result<DeviceView, ApiError> {
    let agent = match new.agent_id {
        Some(agent) => Some(
            conn.prepare_cached("SELECT id FROM agents WHERE public_id = ?1 AND org_id = ?2")?
                .query_row(params![agent.to_string(), org_id], |r| r.get::<_, i64>(0))
                .optional()?
                // Like any id naming nothing the caller has: not found (404), with the field.
                .ok_or_else(|| {
                    ApiError::UnknownReference(vec![ecsp_protocol::FieldError {
                        field: "agent_id".into(),
                        message: "no agent with this id in your organisation".into(),
                        rule: None,
                    }])
                })?,
        ),
        None => None,
    };
    let public_id = Uuid::new_v4();
    let now = now_ms();
    let inserted = conn.execute(
        "INSERT INTO devices (public_id, org_id, manufacturer, model, serial_number, agent_id, registered_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            public_id.to_string(),
            org_id,
            new.manufacturer.trim(),
            new.model.trim(),
            new.serial_number.trim(),
            agent,
            now
        ],
    );
    super::unique_or_conflict(inserted, crate::error::Refusal::DeviceRegistered)?;
    Ok(DeviceView {
        device_id: public_id,
        manufacturer: new.manufacturer.trim().to_owned(),
        model: new.model.trim().to_owned(),
        serial_number: new.serial_number.trim().to_owned(),
        agent_id: new.agent_id,
        registered_at: from_ms(now),
        group_id: None,
        state: None,
    })
}

/// Grants `user` a right to `device`; both must belong to the admin's organisation.
pub fn grant(
    conn: &Connection,
    admin: &UserPrincipal,
    user: Uuid,
    device: Uuid,
) -> Result<(), ApiError> {
    let user_id = user_id_in_org(conn, admin.org_id, user)?;
    let device_id = device_id_in_org(conn, admin.org_id, device)?;
    conn.execute(
        "INSERT INTO device_access (user_id, device_id, granted_by, granted_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        params![user_id, device_id, admin.id, now_ms()],
    )?;
    Ok(())
}

pub fn revoke_grant(
    conn: &Connection,
    admin: &UserPrincipal,
    user: Uuid,
    device: Uuid,
) -> Result<(), ApiError> {
    let user_id = user_id_in_org(conn, admin.org_id, user)?;
    let device_id = device_id_in_org(conn, admin.org_id, device)?;
    conn.execute(
        "DELETE FROM device_access WHERE user_id = ?1 AND device_id = ?2",
        params![user_id, device_id],
    )?;
    Ok(())
}

/// Every device right in the organisation, as (user, device) public ids.
pub fn grants(conn: &Connection, org_id: i64) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.public_id, d.public_id FROM device_access g
         JOIN users u ON u.id = g.user_id JOIN devices d ON d.id = g.device_id
         WHERE d.org_id = ?1 ORDER BY u.id, d.id",
    )?;
    let rows = stmt.query_map([org_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (user, device) = row?;
        out.push((parse_uuid(&user)?, parse_uuid(&device)?));
    }
    Ok(out)
}

/// An agent as administrators see it (never its secret).
#[derive(Debug, Clone)]
pub struct AgentSummary {
    pub agent_id: Uuid,
    pub org_id: i64,
    pub agent_type: String,
    pub label: String,
    pub disabled: bool,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
}

impl AgentSummary {
    /// The API's view; `connected` comes from the broker.
    pub fn view(self, connected: bool) -> ecsp_protocol::admin::AgentView {
        ecsp_protocol::admin::AgentView {
            agent_id: self.agent_id,
            label: self.label,
            agent_type: agent_type_of(&self.agent_type),
            disabled: self.disabled,
            created_at: from_ms(self.created_at),
            last_seen_at: self.last_seen_at.map(from_ms),
            connected,
        }
    }
}

const AGENT_COLUMNS: &str =
    "public_id, org_id, agent_type, label, label_enc, disabled, created_at, last_seen_at";

fn agent_summary(
    key: &crate::crypto::DataKey,
    r: &crate::sql::Row<'_>,
) -> Result<AgentSummary, ApiError> {
    let id: String = r.get(0)?;
    let label = match r.get::<_, Option<Vec<u8>>>(4)? {
        Some(s) => key
            .open_str(&format!("agents.label:{id}"), &s)
            .ok_or_else(|| StoreError::Corrupt(format!("agent {id}'s label does not open")))?,
        None => r.get(3)?,
    };
    Ok(AgentSummary {
        agent_id: parse_uuid(&id)?,
        org_id: r.get(1)?,
        agent_type: r.get(2)?,
        label,
        disabled: r.get(5)?,
        created_at: r.get(6)?,
        last_seen_at: r.get(7)?,
    })
}

/// The organisation's agents (every organisation's with `None`: the server's operator), oldest
/// first, labels unsealed; deleted ones are not listed.
pub fn list_agents(
    conn: &Connection,
    key: &crate::crypto::DataKey,
    org_id: Option<i64>,
) -> Result<Vec<AgentSummary>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents
         WHERE deleted_at IS NULL AND (org_id = ?1 OR ?1 IS NULL) ORDER BY id"
    ))?;
    let mut rows = stmt.query([org_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(agent_summary(key, &r)?);
    }
    Ok(out)
}

/// One agent of the organisation (of any with `None`) that is not deleted.
pub fn get_agent(
    conn: &Connection,
    key: &crate::crypto::DataKey,
    org_id: Option<i64>,
    agent: Uuid,
) -> Result<AgentSummary, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents
         WHERE public_id = ?1 AND deleted_at IS NULL AND (org_id = ?2 OR ?2 IS NULL)"
    ))?;
    let mut rows = stmt.query(params![agent.to_string(), org_id])?;
    match rows.next()? {
        Some(r) => agent_summary(key, &r),
        None => Err(ApiError::NotFound("agent")),
    }
}

/// Disables or enables an agent; returns it as it is now.
pub fn set_agent_disabled(
    conn: &Connection,
    key: &crate::crypto::DataKey,
    org_id: Option<i64>,
    agent: Uuid,
    disabled: bool,
) -> Result<AgentSummary, ApiError> {
    let changed = conn.execute(
        "UPDATE agents SET disabled = ?3
         WHERE public_id = ?1 AND deleted_at IS NULL AND (org_id = ?2 OR ?2 IS NULL)",
        params![agent.to_string(), org_id, disabled],
    )?;
    if changed == 0 {
        return Err(ApiError::NotFound("agent"));
    }
    if disabled {
        revoke_broker_credentials(conn, agent)?;
    }
    get_agent(conn, key, org_id, agent)
}

/// Stamps the moment an agent's broker credentials stop counting (in the transaction of the
/// change that ends them), for the clustered broker's revocations (`remote::nats`).
fn revoke_broker_credentials(conn: &Connection, agent: Uuid) -> Result<(), ApiError> {
    conn.execute(
        "UPDATE agents SET broker_revoked_at = ?2 WHERE public_id = ?1",
        params![agent.to_string(), now_ms()],
    )?;
    Ok(())
}

/// Agents whose broker credentials were revoked at or after `since_ms`, with when (Unix ms).
pub fn broker_revocations(conn: &Connection, since_ms: i64) -> Result<Vec<(Uuid, i64)>, ApiError> {
    let rows: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT public_id, broker_revoked_at FROM agents
             WHERE broker_revoked_at >= ?1 ORDER BY id",
        )?
        .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    rows.into_iter()
        .map(|(id, at)| Ok((parse_uuid(&id)?, at)))
        .collect()
}

/// Gives an agent a new secret (returned, to be shown once); the old one is refused from now.
pub fn rotate_agent_secret(
    conn: &Connection,
    org_id: Option<i64>,
    agent: Uuid,
) -> Result<AgentCredentials, ApiError> {
    let secret = new_token(AGENT_SECRET_PREFIX);
    let changed = conn.execute(
        "UPDATE agents SET secret_hash = ?3, broker_hash = ?4
         WHERE public_id = ?1 AND deleted_at IS NULL AND (org_id = ?2 OR ?2 IS NULL)",
        params![
            agent.to_string(),
            org_id,
            token_hash(&secret).as_slice(),
            crate::remote::external::mosquitto_hash(&secret)
        ],
    )?;
    if changed == 0 {
        return Err(ApiError::NotFound("agent"));
    }
    revoke_broker_credentials(conn, agent)?;
    Ok(AgentCredentials {
        agent_id: agent,
        secret,
    })
}

/// Deletes an agent: its secret is replaced by one nobody knows, its devices are designated to
/// no agent, and it is listed no more. The row stays because operations, records and the audit
/// log refer to it.
pub fn delete_agent(conn: &Connection, org_id: Option<i64>, agent: Uuid) -> Result<(), ApiError> {
    let unknowable = new_token(AGENT_SECRET_PREFIX);
    let id: i64 = conn
        .prepare_cached(
            "UPDATE agents SET disabled = 1, deleted_at = ?3, secret_hash = ?4, broker_hash = NULL
             WHERE public_id = ?1 AND deleted_at IS NULL AND (org_id = ?2 OR ?2 IS NULL)
             RETURNING id",
        )?
        .query_row(
            params![
                agent.to_string(),
                org_id,
                now_ms(),
                token_hash(&unknowable).as_slice()
            ],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(ApiError::NotFound("agent"))?;
    conn.execute(
        "UPDATE devices SET agent_id = NULL WHERE agent_id = ?1",
        [id],
    )?;
    revoke_broker_credentials(conn, agent)
}

/// Records that an agent authenticated now (callers write this at most once a minute).
pub fn agent_seen(conn: &Connection, agent_id: i64, at_ms: i64) -> Result<(), ApiError> {
    conn.prepare_cached("UPDATE agents SET last_seen_at = ?2 WHERE id = ?1")?
        .execute(params![agent_id, at_ms])?;
    Ok(())
}

/// Whether the agent is enabled and its secret is still the one with this hash.
pub fn agent_is_current(
    conn: &Connection,
    agent_id: i64,
    secret_hash: &[u8; 32],
) -> Result<bool, ApiError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM agents WHERE id = ?1 AND secret_hash = ?2 AND disabled = 0")?
        .query_row(params![agent_id, secret_hash.as_slice()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Creates an agent; its label is stored sealed (the clear `label` column stays empty).
pub fn create_agent(
    conn: &Connection,
    key: &crate::crypto::DataKey,
    org_id: i64,
    new: &NewAgent,
) -> Result<AgentCredentials, ApiError> {
    let public_id = Uuid::new_v4();
    let secret = new_token(AGENT_SECRET_PREFIX);
    let agent_type = match new.agent_type {
        AgentType::DcAgent => "dc_agent",
        AgentType::EsAgent => "es_agent",
    };
    conn.execute(
        "INSERT INTO agents (public_id, org_id, label, label_enc, agent_type, secret_hash, created_at,
                             broker_hash)
         VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7)",
        params![
            public_id.to_string(),
            org_id,
            key.seal_str(&format!("agents.label:{public_id}"), new.label.trim()),
            agent_type,
            token_hash(&secret).as_slice(),
            now_ms(),
            crate::remote::external::mosquitto_hash(&secret)
        ],
    )?;
    Ok(AgentCredentials {
        agent_id: public_id,
        secret,
    })
}

pub fn authenticate_agent(conn: &Connection, secret: &str) -> Result<AgentPrincipal, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT id, public_id, org_id, agent_type FROM agents
             WHERE secret_hash = ?1 AND disabled = 0",
        )?
        .query_row([token_hash(secret).as_slice()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?
        .ok_or(ApiError::Unauthenticated(
            "the agent credential is not valid",
        ))?;
    Ok(AgentPrincipal {
        id: row.0,
        public_id: parse_uuid(&row.1)?,
        org_id: row.2,
        agent_type: agent_type_of(&row.3),
    })
}

/// The device an agent was designated to report, matched by manufacturer, model and serial.
pub fn designated(
    conn: &Connection,
    agent: &AgentPrincipal,
    manufacturer: &str,
    model: &str,
    serial: &str,
) -> Result<Option<(i64, Uuid)>, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT id, public_id FROM devices
             WHERE agent_id = ?1 AND org_id = ?2 AND manufacturer = ?3 AND model = ?4 AND serial_number = ?5",
        )?
        .query_row(
            params![agent.id, agent.org_id, manufacturer.trim(), model.trim(), serial.trim()],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    row.map(|(id, public)| Ok((id, parse_uuid(&public)?)))
        .transpose()
}
