//! The append-only audit log: one row per sign-in, failure, denial, and read or write of
//! customer data. Rows name the actor and object by id only: never a password, token, name or
//! e-mail address. The schema's triggers refuse UPDATE and DELETE.

use ecsp_protocol::admin::{Actor, AuditEntry, Outcome};
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::{from_ms, now_ms, parse_uuid};
use crate::error::ApiError;

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub org_id: Option<i64>,
    pub actor: Actor,
    pub action: &'static str,
    pub object: String,
    pub outcome: Outcome,
}

impl Event {
    pub fn new(
        org_id: Option<i64>,
        actor: Actor,
        action: &'static str,
        object: String,
        outcome: Outcome,
    ) -> Self {
        Self {
            org_id,
            actor,
            action,
            object,
            outcome,
        }
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Success => "success",
        Outcome::Denied => "denied",
        Outcome::Failed => "failed",
    }
}

pub fn append(conn: &Connection, e: &Event) -> rusqlite::Result<()> {
    let (kind, id) = match &e.actor {
        Actor::User(id) => ("user", Some(id.to_string())),
        Actor::Agent(id) => ("agent", Some(id.to_string())),
        Actor::Anonymous => ("anonymous", None),
        Actor::System => ("system", None),
    };
    conn.prepare_cached(
        "INSERT INTO audit_log (at, org_id, actor_kind, actor_id, action, object, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        now_ms(),
        e.org_id,
        kind,
        id,
        e.action,
        e.object,
        outcome_str(e.outcome)
    ])?;
    Ok(())
}

/// The organisation's audit rows after `after_seq`, oldest first.
pub fn page(
    conn: &Connection,
    org_id: i64,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, actor_kind, actor_id, action, object, outcome FROM audit_log
         WHERE org_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_id, after_seq, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, kind, id, action, object, outcome) = row?;
        let id = id
            .as_deref()
            .map(parse_uuid)
            .transpose()?
            .unwrap_or(Uuid::nil());
        let actor = match kind.as_str() {
            "user" => Actor::User(id),
            "agent" => Actor::Agent(id),
            "anonymous" => Actor::Anonymous,
            _ => Actor::System,
        };
        let outcome = match outcome.as_str() {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            _ => Outcome::Failed,
        };
        out.push(AuditEntry {
            seq,
            at: from_ms(at),
            actor,
            action,
            object,
            outcome,
        });
    }
    Ok(out)
}
