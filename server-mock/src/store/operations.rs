//! Remote operations as persisted jobs: every SQL statement on `operations`,
//! `operation_history` and `device_capabilities`.
//!
//! The state machine is `ecsp_protocol::remote_ops::OperationState`; this module only moves an
//! operation forwards (the protocol's `accepts_report`), keeps the deadline of the state it is
//! in (`expires_at` while `queued`/`sent`, the per-state timeouts after), appends a history row
//! and an audit row with every change, in the same transaction.

use crate::sql::{Connection, OptionalExtension, params};
use chrono::{DateTime, Utc};
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::auth::Role;
use ecsp_protocol::remote_ops::{
    AgentReport, CapabilityReport, Command, HeadCleaningParameters, OperationKind, OperationPage,
    OperationRequest, OperationResult, OperationState, OperationView, Reason, ReportedState,
    StateChange, timeouts,
};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::audit::{self, Event};
use super::devices::{AgentPrincipal, VISIBLE, visible};
use super::{from_ms, now_ms, parse_uuid, to_ms};
use crate::db::StoreError;
use crate::error::{ApiError, Refusal};

/// Only these roles may request, list, read or cancel operations.
pub fn may_operate(who: &UserPrincipal) -> Result<(), ApiError> {
    match who.role {
        Role::ServiceSupport | Role::Admin => Ok(()),
        Role::User => Err(ApiError::Forbidden(
            "remote operations need the service_support or admin role",
        )),
    }
}

const COLUMNS: &str = "o.id, o.public_id, d.public_id, a.public_id, o.kind, o.parameters, o.state, \
     u.public_id, o.requested_at, o.expires_at, o.updated_at, o.deadline, o.progress, o.result, o.reason, o.org_id";

const FROM: &str = "operations o JOIN devices d ON d.id = o.device_id \
     JOIN agents a ON a.id = o.agent_id JOIN users u ON u.id = o.requested_by";

struct Row {
    id: i64,
    org_id: i64,
    view: OperationView,
}

fn json_err(what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored {what} does not parse: {e}"))
}

fn read_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<Result<Row, StoreError>> {
    let id: i64 = r.get(0)?;
    let texts: [String; 4] = [r.get(1)?, r.get(2)?, r.get(3)?, r.get(7)?];
    let kind: String = r.get(4)?;
    let params: Option<String> = r.get(5)?;
    let state: String = r.get(6)?;
    let (requested_at, expires_at, updated_at): (i64, i64, i64) =
        (r.get(8)?, r.get(9)?, r.get(10)?);
    let deadline: Option<i64> = r.get(11)?;
    let progress: Option<i64> = r.get(12)?;
    let result: Option<String> = r.get(13)?;
    let reason: Option<String> = r.get(14)?;
    let org_id: i64 = r.get(15)?;
    Ok((|| {
        let view = OperationView {
            operation_id: parse_uuid(&texts[0])?,
            device_id: parse_uuid(&texts[1])?,
            agent_id: parse_uuid(&texts[2])?,
            kind: OperationKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("operation kind {kind}")))?,
            head_cleaning: params
                .map(|p| serde_json::from_str::<HeadCleaningParameters>(&p))
                .transpose()
                .map_err(|e| json_err("parameters", e))?,
            state: OperationState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("operation state {state}")))?,
            requested_by: parse_uuid(&texts[3])?,
            requested_at: from_ms(requested_at),
            expires_at: from_ms(expires_at),
            updated_at: from_ms(updated_at),
            deadline: deadline.map(from_ms),
            progress_percent: progress.and_then(|p| u8::try_from(p).ok()),
            result: result
                .map(|p| serde_json::from_str::<OperationResult>(&p))
                .transpose()
                .map_err(|e| json_err("result", e))?,
            reason: reason
                .map(|p| serde_json::from_str::<Reason>(&p))
                .transpose()
                .map_err(|e| json_err("reason", e))?,
            history: Vec::new(),
        };
        Ok(Row { id, org_id, view })
    })())
}

fn history(conn: &Connection, id: i64) -> Result<Vec<StateChange>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, at FROM operation_history WHERE operation_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (state, at) = row?;
        out.push(StateChange {
            state: OperationState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("operation state {state}")))?,
            at: from_ms(at),
        });
    }
    Ok(out)
}

fn append_history(
    conn: &Connection,
    id: i64,
    state: OperationState,
    at: i64,
) -> crate::sql::Result<()> {
    conn.prepare_cached(
        "INSERT INTO operation_history (operation_id, seq, state, at)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM operation_history WHERE operation_id = ?1), ?2, ?3)",
    )?
    .execute(params![id, state.as_str(), at])?;
    Ok(())
}

/// The operations a device supports by its latest capability report (see the protocol: a
/// device never reported supports `status` and `head_cleaning`).
pub fn capabilities(conn: &Connection, device: i64) -> Result<Vec<OperationKind>, ApiError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT operations FROM device_capabilities WHERE device_id = ?1")?
        .query_row([device], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        Some(s) => serde_json::from_str(&s).map_err(|e| json_err("capabilities", e))?,
        None => vec![OperationKind::Status, OperationKind::HeadCleaning],
    })
}

/// Stores a request as a `queued` operation. The caller has checked the role.
pub fn create(
    conn: &Connection,
    who: &UserPrincipal,
    req: &OperationRequest,
    now: DateTime<Utc>,
) -> Result<OperationView, ApiError> {
    let (device, view) = visible(conn, who, req.device_id)?;
    let Some(agent_public) = view.agent_id else {
        return Err(ApiError::Conflict(Refusal::NoAgent));
    };
    if !capabilities(conn, device)?.contains(&req.kind) {
        return Err(ApiError::Conflict(Refusal::NotCapable(req.kind)));
    }
    let agent: i64 = conn
        .prepare_cached("SELECT id FROM agents WHERE public_id = ?1")?
        .query_row([agent_public.to_string()], |r| r.get(0))?;
    let public_id = Uuid::new_v4();
    let params_json = match (req.kind, &req.head_cleaning) {
        (OperationKind::HeadCleaning, p) => Some(
            serde_json::to_string(&p.clone().unwrap_or(HeadCleaningParameters {
                level: Default::default(),
                colors: Vec::new(),
            }))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
        _ => None,
    };
    let at = to_ms(now);
    let expires = to_ms(ecsp_protocol::remote_ops::expiry(now, req.ttl_secs));
    let id = conn.prepare_cached(
        "INSERT INTO operations (public_id, org_id, device_id, agent_id, kind, parameters, state,
                                 requested_by, requested_at, expires_at, updated_at, deadline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8, ?9, ?8, ?9)
         RETURNING id",
    )?
    .query_row(
        params![
        public_id.to_string(),
        who.org_id,
        device,
        agent,
        req.kind.as_str(),
        params_json,
        who.id,
            at,
            expires
        ],
        |r| r.get::<_, i64>(0),
    )?;
    append_history(conn, id, OperationState::Queued, at)?;
    let mut row = by_id(conn, id)?;
    row.view.history = history(conn, id)?;
    Ok(row.view)
}

fn by_id(conn: &Connection, id: i64) -> Result<Row, ApiError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE o.id = ?1"))?
        .query_row([id], read_row)??)
}

/// The operation, if `who` may see its device; else "not found".
fn find_visible(conn: &Connection, who: &UserPrincipal, op: Uuid) -> Result<Row, ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE o.public_id = ?4 AND {VISIBLE}"
        ))?
        .query_row(
            params![who.id, who.org_id, who.role == Role::Admin, op.to_string()],
            read_row,
        )
        .optional()?
        .ok_or(ApiError::NotFound("operation"))??;
    Ok(row)
}

pub fn get_visible(
    conn: &Connection,
    who: &UserPrincipal,
    op: Uuid,
) -> Result<OperationView, ApiError> {
    let mut row = find_visible(conn, who, op)?;
    row.view.history = history(conn, row.id)?;
    Ok(row.view)
}

/// Operations on devices `who` may see, newest first, `limit` at a time; `before` is the
/// `next_before` of the previous page: the last operation id it held (an id, not a row
/// number, so a cursor tells nothing about how many operations other organisations have).
pub fn list_visible(
    conn: &Connection,
    who: &UserPrincipal,
    device: Option<Uuid>,
    state: Option<OperationState>,
    before: Option<Uuid>,
    limit: u32,
) -> Result<OperationPage, ApiError> {
    let before = match before {
        Some(op) => Some(
            // A cursor naming no operation the caller may see names nothing: 404, like an id
            // in a path (the query's form was right, so it is no query error).
            find_visible(conn, who, op)
                .map_err(|_| ApiError::NotFound("operation named by `before`"))?
                .id,
        ),
        None => None,
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE {VISIBLE}
           AND (d.public_id = ?4 OR ?4 IS NULL) AND (o.state = ?5 OR ?5 IS NULL)
           AND (o.id < ?6 OR ?6 IS NULL)
         ORDER BY o.id DESC LIMIT ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            who.id,
            who.org_id,
            who.role == Role::Admin,
            device.map(|d| d.to_string()),
            state.map(OperationState::as_str),
            before,
            i64::from(limit) + 1
        ],
        read_row,
    )?;
    let mut items: Vec<OperationView> = Vec::new();
    let mut more = false;
    for row in rows {
        let row = row??;
        if items.len() == limit as usize {
            more = true;
            break;
        }
        items.push(row.view);
    }
    let next_before = if more {
        items.last().map(|v| v.operation_id.to_string())
    } else {
        None
    };
    Ok(OperationPage { items, next_before })
}

/// Cancels an operation no agent has yet.
pub fn cancel(conn: &Connection, who: &UserPrincipal, op: Uuid) -> Result<OperationView, ApiError> {
    let row = find_visible(conn, who, op)?;
    if !row.view.state.cancellable() {
        return Err(ApiError::Conflict(Refusal::NotCancellable(row.view.state)));
    }
    let at = now_ms();
    conn.prepare_cached(
        "UPDATE operations SET state = 'cancelled', updated_at = ?2, deadline = NULL WHERE id = ?1",
    )?
    .execute(params![row.id, at])?;
    append_history(conn, row.id, OperationState::Cancelled, at)?;
    get_visible(conn, who, op)
}

/// The commands an agent should have now: `queued` or `sent`, not yet expired, oldest first.
pub fn pending_for_agent(
    conn: &Connection,
    agent: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Command>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.public_id, d.public_id, d.manufacturer, d.model, d.serial_number, o.kind,
                o.parameters, o.requested_at, o.expires_at
         FROM operations o JOIN devices d ON d.id = o.device_id
         WHERE o.agent_id = ?1 AND o.state IN ('queued', 'sent') AND o.expires_at > ?2
         ORDER BY o.id",
    )?;
    let rows = stmt.query_map(params![agent, to_ms(now)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (op, device, manufacturer, model, serial, kind, params, issued, expires) = row?;
        out.push(Command {
            schema_version: ecsp_protocol::PROTOCOL_VERSION,
            operation_id: parse_uuid(&op)?,
            device_id: parse_uuid(&device)?,
            manufacturer,
            model,
            serial_number: serial,
            kind: OperationKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("operation kind {kind}")))?,
            head_cleaning: params
                .map(|p| serde_json::from_str(&p))
                .transpose()
                .map_err(|e| json_err("parameters", e))?,
            issued_at: from_ms(issued),
            expires_at: from_ms(expires),
        });
    }
    Ok(out)
}

/// Marks commands as published to their agent (`queued` → `sent`; already `sent` stays).
pub fn mark_sent(conn: &Connection, agent: &AgentPrincipal, ops: &[Uuid]) -> Result<(), ApiError> {
    let at = now_ms();
    for op in ops {
        let id: Option<i64> = conn
            .prepare_cached(
                "UPDATE operations SET state = 'sent', updated_at = ?3
                 WHERE public_id = ?1 AND agent_id = ?2 AND state = 'queued' RETURNING id",
            )?
            .query_row(params![op.to_string(), agent.id, at], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            append_history(conn, id, OperationState::Sent, at)?;
            audit::append(
                conn,
                &Event::new(
                    Some(agent.org_id),
                    Actor::System,
                    "operation.sent",
                    format!("operation:{op}"),
                    Outcome::Success,
                ),
            )?;
        }
    }
    Ok(())
}

/// What became of an agent's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The operation moved to this state.
    Applied(OperationState),
    /// A repeat or a late report (QoS 1 redelivery, or the operation is final): nothing changed.
    Ignored(OperationState),
}

/// Applies an agent's report to one of *its own* operations. An operation id of another agent
/// (or none) is "not found"; a result of another kind than the operation's is refused.
pub fn apply_report(
    conn: &Connection,
    agent: &AgentPrincipal,
    report: &AgentReport,
) -> Result<ReportOutcome, ApiError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE o.public_id = ?1 AND o.agent_id = ?2"
        ))?
        .query_row(params![report.operation_id.to_string(), agent.id], read_row)
        .optional()?
        .ok_or(ApiError::NotFound("operation"))??;
    let current = row.view.state;
    if let Some(result) = &report.result {
        if result.kind() != row.view.kind {
            return Err(ApiError::field(
                "result.kind",
                format!("the operation is `{}`", row.view.kind.as_str()),
            ));
        }
    }
    if !current.accepts_report(report.state) {
        // An `in_progress` repeat may still carry news of the progress.
        if current == OperationState::InProgress && report.state == ReportedState::InProgress {
            if let Some(p) = report.progress_percent {
                conn.prepare_cached("UPDATE operations SET progress = ?2 WHERE id = ?1")?
                    .execute(params![row.id, p])?;
            }
        }
        return Ok(ReportOutcome::Ignored(current));
    }
    let next = report.state.as_operation_state();
    let at = now_ms();
    let deadline = match next {
        OperationState::Delivered => Some(at + i64::from(timeouts::DELIVERED_SECS) * 1000),
        OperationState::InProgress => {
            Some(at + i64::from(timeouts::in_progress_secs(row.view.kind)) * 1000)
        }
        _ => None,
    };
    let result = report
        .result
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let reason = report
        .reason
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "UPDATE operations SET state = ?2, updated_at = ?3, deadline = ?4,
                progress = COALESCE(?5, progress), result = COALESCE(?6, result),
                reason = COALESCE(?7, reason)
         WHERE id = ?1",
    )?
    .execute(params![
        row.id,
        next.as_str(),
        at,
        deadline,
        report.progress_percent,
        result,
        reason
    ])?;
    append_history(conn, row.id, next, at)?;
    if matches!(next, OperationState::Failed | OperationState::Rejected) {
        super::alerts::operation_ended(conn, row.id, next.as_str(), at)?;
    }
    audit::append(
        conn,
        &Event::new(
            Some(row.org_id),
            Actor::Agent(agent.public_id),
            match next {
                OperationState::Succeeded | OperationState::Failed | OperationState::Rejected => {
                    "operation.result"
                }
                _ => "operation.state",
            },
            format!("operation:{}:{}", report.operation_id, next.as_str()),
            Outcome::Success,
        ),
    )?;
    Ok(ReportOutcome::Applied(next))
}

/// Ends every operation whose current state outlived its deadline: `queued`/`sent` become
/// `expired`, `delivered`/`in_progress` become `timed_out`. Returns how many.
pub fn sweep(conn: &Connection, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let at = to_ms(now);
    let due: Vec<(i64, String, String, i64)> = conn
        .prepare_cached(
            "SELECT id, public_id, state, org_id FROM operations
             WHERE deadline IS NOT NULL AND deadline <= ?1 ORDER BY id LIMIT 1000",
        )?
        .query_map([at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<crate::sql::Result<_>>()?;
    let mut swept = 0;
    for (id, public_id, state, org) in &due {
        let next = match state.as_str() {
            "queued" | "sent" => OperationState::Expired,
            _ => OperationState::TimedOut,
        };
        // Only if it is still as read: another server node's sweep, or the agent's report,
        // may have changed it since (on PostgreSQL this waits for that change to commit, then
        // finds the row no longer due), so each due deadline is swept once.
        let changed = conn
            .prepare_cached(
                "UPDATE operations SET state = ?2, updated_at = ?3, deadline = NULL
                 WHERE id = ?1 AND state = ?4 AND deadline IS NOT NULL AND deadline <= ?3",
            )?
            .execute(params![id, next.as_str(), at, state])?;
        if changed == 0 {
            continue;
        }
        swept += 1;
        append_history(conn, *id, next, at)?;
        super::alerts::operation_ended(conn, *id, next.as_str(), at)?;
        audit::append(
            conn,
            &Event::new(
                Some(*org),
                Actor::System,
                "operation.state",
                format!("operation:{public_id}:{}", next.as_str()),
                Outcome::Success,
            ),
        )?;
    }
    Ok(swept)
}

/// The earliest deadline still open, for the sweeper to sleep until.
pub fn next_deadline(conn: &Connection) -> Result<Option<DateTime<Utc>>, ApiError> {
    let at: Option<i64> = conn
        .prepare_cached("SELECT MIN(deadline) FROM operations WHERE deadline IS NOT NULL")?
        .query_row([], |r| r.get(0))?;
    Ok(at.map(from_ms))
}

/// Stores what an agent says its devices support; devices not designated to it are skipped.
/// Returns how many devices were updated.
pub fn set_capabilities(
    conn: &Connection,
    agent: &AgentPrincipal,
    report: &CapabilityReport,
) -> Result<usize, ApiError> {
    let mut n = 0;
    for d in &report.devices {
        let Some((device, _)) =
            super::devices::designated(conn, agent, &d.manufacturer, &d.model, &d.serial_number)?
        else {
            continue;
        };
        let mut ops = d.operations.clone();
        ops.sort_by_key(|k| k.as_str());
        ops.dedup();
        let json = serde_json::to_string(&ops).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        conn.prepare_cached(
            "INSERT INTO device_capabilities (device_id, operations, reported_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (device_id) DO UPDATE SET operations = excluded.operations,
                                                   reported_at = excluded.reported_at",
        )?
        .execute(params![device, json, now_ms()])?;
        n += 1;
    }
    Ok(n)
}

/// How many operations are in each state (every state, zeros included), for the metrics.
pub fn count_by_state(conn: &Connection) -> Result<Vec<(&'static str, i64)>, ApiError> {
    let mut counts: Vec<(&'static str, i64)> = OperationState::ALL
        .into_iter()
        .map(|s| (s.as_str(), 0))
        .collect();
    let mut stmt = conn.prepare_cached("SELECT state, COUNT(*) FROM operations GROUP BY state")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (state, n) = row?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = n;
        }
    }
    Ok(counts)
}

/// The agent row behind an MQTT identity, if it exists and is enabled.
pub fn agent_by_public_id(
    conn: &Connection,
    agent: Uuid,
) -> Result<Option<AgentPrincipal>, ApiError> {
    let row = conn
        .prepare_cached(
            "SELECT id, org_id, agent_type FROM agents WHERE public_id = ?1 AND disabled = 0",
        )?
        .query_row([agent.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(id, org_id, agent_type)| AgentPrincipal {
        id,
        public_id: agent,
        org_id,
        agent_type: super::devices::agent_type_of(&agent_type),
    }))
}

/// Agents that have commands `queued` or `sent` and not expired.
pub fn agents_with_pending(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Uuid>, ApiError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT a.public_id FROM operations o JOIN agents a ON a.id = o.agent_id
             WHERE o.state IN ('queued', 'sent') AND o.expires_at > ?1",
        )?
        .query_map([to_ms(now)], |r| r.get(0))?
        .collect::<crate::sql::Result<_>>()?;
    Ok(ids
        .iter()
        .map(|s| parse_uuid(s))
        .collect::<Result<_, _>>()?)
}

/// Every enabled agent's id and broker password hash (agents created before the hash was kept
/// have none and cannot use the external broker until they get a new secret).
pub fn broker_accounts(conn: &Connection) -> Result<Vec<(Uuid, String)>, ApiError> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT public_id, broker_hash FROM agents
             WHERE disabled = 0 AND broker_hash IS NOT NULL ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    rows.into_iter()
        .map(|(id, hash)| Ok((parse_uuid(&id)?, hash)))
        .collect()
}
