//! The append-only audit log: one row per sign-in, failure, denial, and read or write of
//! customer data. Rows name the actor and object by id only: never a password, token, name or
//! e-mail address. The schema's triggers refuse UPDATE and DELETE.

use crate::sql::{Connection, Value, params};
use ecsp_protocol::admin::{Actor, AuditEntry, Outcome};
use uuid::Uuid;

use super::{execute_values, from_ms, now_ms, parse_uuid, placeholder_list, placeholder_rows};
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

/// Longest object a row stores; handlers store canonical ids, this only guards against a slip.
pub const MAX_OBJECT_CHARS: usize = 160;

/// `object` cut to [`MAX_OBJECT_CHARS`] characters.
fn bounded(object: &str) -> &str {
    match object.char_indices().nth(MAX_OBJECT_CHARS) {
        Some((end, _)) => &object[..end],
        None => object,
    }
}

fn actor_columns(actor: &Actor) -> (&'static str, Option<String>) {
    match actor {
        Actor::User(id) => ("user", Some(id.to_string())),
        Actor::Agent(id) => ("agent", Some(id.to_string())),
        Actor::Anonymous => ("anonymous", None),
        Actor::System => ("system", None),
    }
}

/// Appends `events` in one statement (a batch of uploads' rows).
pub fn append_all(conn: &Connection, events: &[Event]) -> crate::sql::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO audit_log (at, org_id, actor_kind, actor_id, action, object, outcome)
         VALUES {}",
        placeholder_rows(events.len(), 7)
    );
    let at = now_ms();
    let actors: Vec<_> = events.iter().map(|e| actor_columns(&e.actor)).collect();
    let mut values: Vec<Value<'_>> = Vec::with_capacity(events.len() * 7);
    for (e, (kind, id)) in events.iter().zip(&actors) {
        values.extend([
            Value::Integer(at),
            e.org_id.map_or(Value::Null, Value::Integer),
            Value::Text(kind),
            id.as_deref().map_or(Value::Null, Value::Text),
            Value::Text(e.action),
            Value::Text(bounded(&e.object)),
            Value::Text(outcome_str(e.outcome)),
        ]);
    }
    execute_values(conn, &sql, &values)?;
    for e in events {
        count_row(e.outcome);
    }
    Ok(())
}

/// The audit-rows metric (rows of a transaction that rolls back are counted too: rare, and
/// the figure is for rates, not accounting).
fn count_row(outcome: Outcome) {
    metrics::counter!(crate::telemetry::AUDIT_ROWS, "outcome" => outcome_str(outcome)).increment(1);
}

pub fn append(conn: &Connection, e: &Event) -> crate::sql::Result<()> {
    let (kind, id) = actor_columns(&e.actor);
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
        bounded(&e.object),
        outcome_str(e.outcome)
    ])?;
    count_row(e.outcome);
    Ok(())
}

/// Shortest retention the server accepts: long enough to investigate an incident.
pub const MIN_RETENTION_DAYS: u32 = 30;
/// Retention when the operator does not choose one: 13 months, a year plus time to review it.
pub const DEFAULT_RETENTION_DAYS: u32 = 400;

/// Deletes the rows older than `retention_days`; returns how many. The schema's trigger refuses
/// to delete any younger row, whatever the caller.
pub fn expire(conn: &Connection, retention_days: u32) -> crate::sql::Result<usize> {
    let days = retention_days.max(MIN_RETENTION_DAYS);
    conn.execute(
        "INSERT INTO server_meta (key, value) VALUES ('audit_retention_days', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [days.to_string()],
    )?;
    conn.execute(
        "DELETE FROM audit_log WHERE at < ?1",
        [now_ms() - i64::from(days) * 86_400_000],
    )
}

/// Writes every row (all organisations, oldest first) as JSON Lines, for archiving before the
/// rows expire. Rows hold ids only, so the export holds no personal data either.
pub fn export(conn: &Connection, out: &mut dyn std::io::Write) -> anyhow::Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT a.seq, a.at, o.public_id, a.actor_kind, a.actor_id, a.action, a.object, a.outcome
         FROM audit_log a LEFT JOIN organizations o ON o.id = a.org_id ORDER BY a.seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let line = serde_json::json!({
            "seq": r.get::<_, i64>(0)?,
            "at": from_ms(r.get(1)?),
            "organization_id": r.get::<_, Option<String>>(2)?,
            "actor_kind": r.get::<_, String>(3)?,
            "actor_id": r.get::<_, Option<String>>(4)?,
            "action": r.get::<_, String>(5)?,
            "object": r.get::<_, String>(6)?,
            "outcome": r.get::<_, String>(7)?,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

/// The organisation's audit rows after `after_seq`, oldest first.
/// Newest first, for people reading the log: rows before `before_seq` (all if `None`), of
/// actions starting with `action_prefix` and of one outcome if given.
/// The newest entries of an organisation, filtered; `hide_reads` leaves out successful reads
/// (actions ending `.read` or `.list`: page views and listings), never a refused one.
pub fn page_newest(
    conn: &Connection,
    org_id: i64,
    before_seq: Option<i64>,
    limit: u32,
    action_prefix: Option<&str>,
    outcome: Option<Outcome>,
    hide_reads: bool,
) -> Result<Vec<AuditEntry>, ApiError> {
    // `LIKE` with the prefix's own wildcards escaped, so `a_b` matches only `a_b…`.
    let pattern = action_prefix.map(|p| {
        let escaped = p
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("{escaped}%")
    });
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, actor_kind, actor_id, action, object, outcome FROM audit_log
         WHERE org_id = ?1 AND (seq < ?2 OR ?2 IS NULL)
           AND (action LIKE ?3 ESCAPE '\\' OR ?3 IS NULL) AND (outcome = ?4 OR ?4 IS NULL)
           AND NOT (?6 AND outcome = 'success' AND (action LIKE '%.read' OR action LIKE '%.list'))
         ORDER BY seq DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            org_id,
            before_seq,
            pattern,
            outcome.map(outcome_str),
            limit,
            hide_reads
        ],
        raw_row,
    )?;
    rows.map(|r| to_entry(r?)).collect()
}

type RawRow = (i64, i64, String, Option<String>, String, String, String);

fn raw_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn to_entry((seq, at, kind, id, action, object, outcome): RawRow) -> Result<AuditEntry, ApiError> {
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
    Ok(AuditEntry {
        seq,
        at: from_ms(at),
        actor,
        action,
        object,
        outcome,
    })
}

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
    let rows = stmt.query_map(params![org_id, after_seq, limit], raw_row)?;
    rows.map(|r| to_entry(r?)).collect()
}

/// What the audit page names records and operations by: for each of `ids` of `table`
/// (`records` or `operations`) in the organisation, its kind and its device's public id. Ids
/// not found (another organisation's, or gone) are left out.
pub fn kinds_and_devices(
    conn: &Connection,
    org_id: i64,
    table: ObjectTable,
    ids: &[Uuid],
) -> crate::sql::Result<std::collections::HashMap<Uuid, (String, Uuid)>> {
    let mut found = std::collections::HashMap::new();
    let id_column = match table {
        ObjectTable::Records => "record_id",
        ObjectTable::Operations => "public_id",
    };
    let table = match table {
        ObjectTable::Records => "records",
        ObjectTable::Operations => "operations",
    };
    for chunk in ids.chunks(256) {
        let list = placeholder_list(2, chunk.len());
        let sql = format!(
            "SELECT t.{id_column}, t.kind, d.public_id FROM {table} t
             JOIN devices d ON d.id = t.device_id
             WHERE t.org_id = ?1 AND t.{id_column} IN ({list})"
        );
        let texts: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        let mut values = vec![Value::Integer(org_id)];
        values.extend(texts.iter().map(|t| Value::Text(t)));
        let refs: Vec<&dyn crate::sql::ToSql> =
            values.iter().map(|v| v as &dyn crate::sql::ToSql).collect();
        let rows = conn.prepare(&sql)?.query_map(&refs[..], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, kind, device) = row?;
            if let (Ok(id), Ok(device)) = (Uuid::parse_str(&id), Uuid::parse_str(&device)) {
                found.insert(id, (kind, device));
            }
        }
    }
    Ok(found)
}

/// The tables [`kinds_and_devices`] reads.
#[derive(Debug, Clone, Copy)]
pub enum ObjectTable {
    Records,
    Operations,
}
