//! Alerts, in the database: each device's newest report in brief, the rules, the events and the
//! messages (deliveries).
//!
//! Events are written in the transaction that made them happen: the upload that stored the
//! report (a new error code, a consumable crossing a rule's threshold), the operation's end, the
//! refused upload, the sweep that found an agent silent. So an event is never lost to a crash
//! between "it happened" and "someone will be told": it is an outbox.
//!
//! Each node's alert worker ([`crate::alerts`]) then, in short transactions:
//! 1. [`dispatch`] claims waiting events and turns each into deliveries, one per matching rule
//!    and device. At most one message per rule and device per quiet period: an event for a rule
//!    and device whose message is not yet tried joins it (a digest), else it starts the next
//!    message, due when the quiet period after the last one ends.
//! 2. [`claim_due`] leases due deliveries to this node (`claimed_until`): with several nodes
//!    each message is sent by one; a node that dies mid-send leaves a lease that runs out, and
//!    another sends it again (at least once; the delivery id lets a receiver drop a repeat).
//! 3. [`finish`] records the outcome: sent, or retried with backoff until 24 hours have passed.

use std::collections::{BTreeSet, HashMap};

use chrono::DateTime;
use ecsp_protocol::alerts::{
    AlertChannel, AlertCondition, AlertDeliveryView, AlertRuleView, DeliveryState, NewAlertRule,
};
use ecsp_protocol::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::fleet::StatusDigest;
use super::{from_ms, now_ms, parse_uuid};
use crate::crypto::DataKey;
use crate::db::StoreError;
use crate::error::ApiError;
use crate::sql::{Connection, OptionalExtension, params};

/// Most rules one user may have: more than anyone watches, a bound on what one account stores.
pub const MAX_RULES_PER_USER: i64 = 100;
/// How long a message is retried before it is given up as failed.
pub const RETRY_FOR_MS: i64 = 24 * 3600 * 1000;
/// Events turned into deliveries per transaction.
const DISPATCH_BATCH: i64 = 200;

/// An event as stored in `alert_events.detail` and carried in a delivery's `events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub condition: AlertCondition,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Percent left now (consumables), minutes silent (agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Percent left in the report before (consumables): a rule fires when its threshold lies
    /// between the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
}

impl EventDetail {
    fn new(condition: AlertCondition, at: i64) -> Self {
        Self {
            condition,
            at,
            subject: None,
            detail: None,
            value: None,
            before: None,
        }
    }
}

/// `value` as the JSON text a column holds.
pub(super) fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Task(e.to_string()))
}

/// A JSON column read back; text that does not read is damaged storage, not a panic.
pub(super) fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a JSON column: {e}")))
}

/// Writes one event.
fn insert_event(
    conn: &Connection,
    org_id: i64,
    device_id: Option<i64>,
    rule_id: Option<i64>,
    user_id: Option<i64>,
    event: &EventDetail,
) -> Result<(), ApiError> {
    conn.prepare_cached(
        "INSERT INTO alert_events (org_id, device_id, rule_id, user_id, kind, detail, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        org_id,
        device_id,
        rule_id,
        user_id,
        event.condition.as_str(),
        json(event)?,
        event.at
    ])?;
    Ok(())
}

/// The conditions (and consumable thresholds) some live rule of `org_id` watches.
fn watched(conn: &Connection, org_id: i64) -> Result<(BTreeSet<String>, Vec<f64>), ApiError> {
    let rows: Vec<(String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT DISTINCT condition, threshold FROM alert_rules
             WHERE org_id = ?1 AND deleted_at IS NULL",
        )?
        .query_map([org_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<_>>()?;
    let thresholds = rows
        .iter()
        .filter(|(c, _)| c == AlertCondition::ConsumableLow.as_str())
        .filter_map(|(_, t)| t.map(|t| t as f64))
        .collect();
    Ok((rows.into_iter().map(|(c, _)| c).collect(), thresholds))
}

/// What some live rule of an organisation watches (read once per write that needs it).
#[derive(Debug, Default)]
pub struct Watched {
    conditions: BTreeSet<String>,
    thresholds: Vec<f64>,
}

impl Watched {
    pub fn of(conn: &Connection, org_id: i64) -> Result<Self, ApiError> {
        let (conditions, thresholds) = watched(conn, org_id)?;
        Ok(Self {
            conditions,
            thresholds,
        })
    }
}

/// Writes the events of device `device`'s change from report `old` to `new` (captured at
/// `at`), for what `watched` holds.
pub fn note_change(
    conn: &Connection,
    org_id: i64,
    device: i64,
    old: Option<&StatusDigest>,
    at: i64,
    new: &StatusDigest,
    watched: &Watched,
) -> Result<(), ApiError> {
    if watched.conditions.is_empty() {
        return Ok(());
    }
    for event in changes(old, at, new, &watched.conditions, &watched.thresholds) {
        insert_event(conn, org_id, Some(device), None, None, &event)?;
    }
    Ok(())
}

/// The events from `old` to `new` for the conditions watched.
fn changes(
    old: Option<&StatusDigest>,
    at: i64,
    new: &StatusDigest,
    conditions: &BTreeSet<String>,
    thresholds: &[f64],
) -> Vec<EventDetail> {
    let mut events = Vec::new();
    for (severity, code, description) in &new.codes {
        let condition = if severity == "warning" {
            AlertCondition::Warning
        } else {
            AlertCondition::Error
        };
        let was_active = old.is_some_and(|o| o.codes.iter().any(|(_, c, _)| c == code));
        if was_active || !conditions.contains(condition.as_str()) {
            continue;
        }
        let mut e = EventDetail::new(condition, at);
        e.subject = Some(code.clone());
        e.detail = description.clone();
        events.push(e);
    }
    if conditions.contains(AlertCondition::ConsumableLow.as_str()) {
        for (name, now) in &new.consumables {
            // A consumable not in the report before counts as full: a first report already
            // below a threshold is told.
            let was = old
                .and_then(|o| o.consumables.iter().find(|(n, _)| n == name))
                .map_or(100.0_f64, |(_, p)| *p);
            if thresholds.iter().any(|t| was > *t && now <= t) {
                let mut e = EventDetail::new(AlertCondition::ConsumableLow, at);
                e.subject = Some(name.clone());
                e.value = Some(*now);
                e.before = Some(was);
                events.push(e);
            }
        }
    }
    events
}

/// An operation ended without success (`state` is `failed`, `rejected`, `timed_out` or
/// `expired`): an event if a rule of the organisation watches for it.
pub fn operation_ended(
    conn: &Connection,
    operation_id: i64,
    state: &str,
    at: i64,
) -> Result<(), ApiError> {
    let row: Option<(i64, i64, String)> = conn
        .prepare_cached(
            "SELECT o.org_id, o.device_id, o.kind FROM operations o
             WHERE o.id = ?1 AND EXISTS (SELECT 1 FROM alert_rules r WHERE r.org_id = o.org_id
                 AND r.condition = 'operation_failed' AND r.deleted_at IS NULL)",
        )?
        .query_row([operation_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((org, device, kind)) = row {
        let mut e = EventDetail::new(AlertCondition::OperationFailed, at);
        e.subject = Some(kind);
        e.detail = Some(state.to_owned());
        insert_event(conn, org, Some(device), None, None, &e)?;
    }
    Ok(())
}

/// Whether one of user `user`'s (public id) rules watches for their refused uploads: their
/// internal id and organisation if so. Read first, so that a refusal nobody watches costs no
/// write.
pub fn rejection_watcher(conn: &Connection, user: Uuid) -> Result<Option<(i64, i64)>, ApiError> {
    Ok(conn
        .prepare_cached(
            "SELECT u.id, u.org_id FROM users u WHERE u.public_id = ?1
             AND EXISTS (SELECT 1 FROM alert_rules r WHERE r.recipient_id = u.id
                 AND r.condition = 'upload_rejected' AND r.deleted_at IS NULL)",
        )?
        .query_row([user.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// An upload of the user `(user_id, org)` ([`rejection_watcher`]) was refused for `reason`.
pub fn upload_rejected(
    conn: &Connection,
    (user_id, org): (i64, i64),
    reason: &str,
    at: i64,
) -> Result<(), ApiError> {
    let mut e = EventDetail::new(AlertCondition::UploadRejected, at);
    e.subject = Some(reason.to_owned());
    insert_event(conn, org, None, None, Some(user_id), &e)
}

/// What a round of the alert worker would find, read without writing: whether a rule watches
/// for silent agents, whether events wait to become messages and whether a message is due. An
/// idle service thus writes nothing every round (each of these is a partial index's first row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub silence_rules: bool,
    pub events: bool,
    pub due: bool,
}

pub fn waiting(conn: &Connection, now: i64) -> Result<Waiting, ApiError> {
    let (silence_rules, events, due) = conn
        .prepare_cached(
            "SELECT
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM alert_rules
                     WHERE condition = 'agent_silent' AND deleted_at IS NULL) THEN 1 ELSE 0 END AS BIGINT),
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM alert_events
                     WHERE dispatched = 0) THEN 1 ELSE 0 END AS BIGINT),
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM alert_deliveries
                     WHERE state = 'pending' AND due_at <= ?1) THEN 1 ELSE 0 END AS BIGINT)",
        )?
        .query_row(params![now], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?;
    Ok(Waiting {
        silence_rules: silence_rules == 1,
        events: events == 1,
        due: due == 1,
    })
}

/// Agents silent for longer than an `agent_silent` rule allows, told once per silence (until
/// the agent is heard from again): an event per device of the agent, for that rule alone.
/// Returns how many silences were found.
pub fn sweep_silent(conn: &Connection, now: i64) -> Result<usize, ApiError> {
    let silent: Vec<(i64, i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT r.id, r.org_id, a.id, a.last_seen_at FROM alert_rules r
             JOIN agents a ON a.org_id = r.org_id
             LEFT JOIN alert_silence s ON s.rule_id = r.id AND s.agent_id = a.id
             WHERE r.condition = 'agent_silent' AND r.deleted_at IS NULL
               AND a.deleted_at IS NULL AND a.disabled = 0 AND a.last_seen_at IS NOT NULL
               AND a.last_seen_at < ?1 - r.threshold * 60000
               AND (s.last_seen_at IS NULL OR s.last_seen_at < a.last_seen_at)
             LIMIT 1000",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<crate::sql::Result<_>>()?;
    let mut found = 0;
    for (rule, org, agent, seen) in silent {
        // Once per silence, whichever node sweeps first.
        let claimed = conn
            .prepare_cached(
                "INSERT INTO alert_silence (rule_id, agent_id, last_seen_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (rule_id, agent_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
                 WHERE alert_silence.last_seen_at < excluded.last_seen_at",
            )?
            .execute(params![rule, agent, seen])?;
        if claimed == 0 {
            continue;
        }
        found += 1;
        let devices: Vec<i64> = conn
            .prepare_cached("SELECT id FROM devices WHERE agent_id = ?1")?
            .query_map([agent], |r| r.get(0))?
            .collect::<crate::sql::Result<_>>()?;
        for device in devices {
            let mut e = EventDetail::new(AlertCondition::AgentSilent, now);
            e.value = Some(((now - seen) / 60_000) as f64);
            e.detail = Some(from_ms(seen).to_rfc3339());
            insert_event(conn, org, Some(device), Some(rule), None, &e)?;
        }
    }
    Ok(found)
}

/// A rule as [`dispatch`] matches events against it.
struct MatchRule {
    id: i64,
    recipient: i64,
    group: Option<i64>,
    device: Option<i64>,
    condition: String,
    codes: Vec<String>,
    threshold: Option<i64>,
    quiet_ms: i64,
}

impl MatchRule {
    fn matches(&self, event: &StoredEvent, device_group: Option<i64>) -> bool {
        let d = &event.detail;
        if self.condition != d.condition.as_str() {
            return false;
        }
        if let Some(rule) = event.rule {
            return rule == self.id;
        }
        if d.condition == AlertCondition::UploadRejected {
            return event.user == Some(self.recipient);
        }
        if self.device.is_some_and(|id| event.device != Some(id))
            || self.group.is_some_and(|g| device_group != Some(g))
        {
            return false;
        }
        match d.condition {
            AlertCondition::Error | AlertCondition::Warning => {
                self.codes.is_empty()
                    || d.subject
                        .as_deref()
                        .is_some_and(|code| self.codes.iter().any(|p| code.starts_with(p.as_str())))
            }
            AlertCondition::ConsumableLow => match (self.threshold, d.value, d.before) {
                (Some(t), Some(now), Some(was)) => was > t as f64 && now <= t as f64,
                _ => false,
            },
            _ => true,
        }
    }
}

struct StoredEvent {
    org: i64,
    device: Option<i64>,
    rule: Option<i64>,
    user: Option<i64>,
    detail: EventDetail,
}

/// Turns up to [`DISPATCH_BATCH`] waiting events into deliveries; returns how many events.
pub fn dispatch(conn: &Connection, now: i64) -> Result<usize, ApiError> {
    // Claimed by the update itself: of two nodes, the second finds the rows no longer waiting.
    // (org, device, rule, user, detail)
    type EventRow = (i64, Option<i64>, Option<i64>, Option<i64>, String);
    let events: Vec<EventRow> = conn
        .prepare_cached(
            "UPDATE alert_events SET dispatched = 1
             WHERE dispatched = 0 AND id IN
                 (SELECT id FROM alert_events WHERE dispatched = 0 ORDER BY id LIMIT ?1)
             RETURNING org_id, device_id, rule_id, user_id, detail",
        )?
        .query_map([DISPATCH_BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<crate::sql::Result<_>>()?;
    let n = events.len();
    let mut rules: HashMap<i64, Vec<MatchRule>> = HashMap::new();
    let mut groups: HashMap<i64, Option<i64>> = HashMap::new();
    for (org, device, rule, user, detail) in events {
        let event = StoredEvent {
            org,
            device,
            rule,
            user,
            detail: from_json(&detail)?,
        };
        if let std::collections::hash_map::Entry::Vacant(e) = rules.entry(org) {
            e.insert(rules_of(conn, org)?);
        }
        let group = match device {
            Some(d) => match groups.get(&d) {
                Some(g) => *g,
                None => {
                    let g: Option<i64> = conn
                        .prepare_cached("SELECT group_id FROM devices WHERE id = ?1")?
                        .query_row([d], |r| r.get(0))
                        .optional()?
                        .flatten();
                    groups.insert(d, g);
                    g
                }
            },
            None => None,
        };
        for rule in rules[&event.org]
            .iter()
            .filter(|r| r.matches(&event, group))
        {
            enqueue(conn, rule, &event, now)?;
        }
    }
    Ok(n)
}

fn rules_of(conn: &Connection, org: i64) -> Result<Vec<MatchRule>, ApiError> {
    // (id, recipient, group, device, condition, codes, threshold, quiet minutes)
    type RuleRow = (
        i64,
        i64,
        Option<i64>,
        Option<i64>,
        String,
        Option<String>,
        Option<i64>,
        i64,
    );
    let rows: Vec<RuleRow> = conn
        .prepare_cached(
            "SELECT id, recipient_id, group_id, device_id, condition, codes, threshold,
                    quiet_minutes
             FROM alert_rules WHERE org_id = ?1 AND deleted_at IS NULL",
        )?
        .query_map([org], |r| {
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
        })?
        .collect::<crate::sql::Result<_>>()?;
    rows.into_iter()
        .map(
            |(id, recipient, group, device, condition, codes, threshold, quiet)| {
                Ok(MatchRule {
                    id,
                    recipient,
                    group,
                    device,
                    condition,
                    codes: codes
                        .as_deref()
                        .map(from_json)
                        .transpose()?
                        .unwrap_or_default(),
                    threshold,
                    quiet_ms: quiet * 60_000,
                })
            },
        )
        .collect()
}

/// Adds `event` to `rule`'s message for the event's device: the one not yet tried, else a new
/// one due when the quiet period after the last ends.
fn enqueue(
    conn: &Connection,
    rule: &MatchRule,
    event: &StoredEvent,
    now: i64,
) -> Result<(), ApiError> {
    let device_key = event.device.unwrap_or(0);
    // (id, state, attempts, created, due, sent, events)
    type LastRow = (i64, String, i64, i64, i64, Option<i64>, String);
    let last: Option<LastRow> = conn
        .prepare_cached(
            "SELECT id, state, attempts, created_at, due_at, sent_at, events FROM alert_deliveries
             WHERE rule_id = ?1 AND COALESCE(device_id, 0) = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![rule.id, device_key], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .optional()?;
    let mut due = now;
    if let Some((id, state, attempts, _created, due_at, sent_at, events)) = last {
        if state == "pending" && attempts == 0 {
            let mut list: Vec<EventDetail> = from_json(&events)?;
            list.push(event.detail.clone());
            // Only while still untried: a node may have claimed it since it was read.
            let joined = conn
                .prepare_cached(
                    "UPDATE alert_deliveries SET events = ?2 WHERE id = ?1 AND attempts = 0",
                )?
                .execute(params![id, json(&list)?])?;
            if joined == 1 {
                return Ok(());
            }
        }
        let last_message = sent_at.unwrap_or(due_at);
        due = due.max(last_message + rule.quiet_ms);
    }
    conn.prepare_cached(
        "INSERT INTO alert_deliveries (public_id, rule_id, device_id, events, state, created_at,
                                       due_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
    )?
    .execute(params![
        Uuid::new_v4().to_string(),
        rule.id,
        event.device,
        json(&vec![event.detail.clone()])?,
        now,
        due
    ])?;
    Ok(())
}

/// A message leased to this node to send.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub public_id: Uuid,
    pub rule_public_id: Uuid,
    pub created_at: i64,
    pub attempts: i64,
    pub events: Vec<EventDetail>,
    pub channel: AlertChannel,
    pub language: String,
    pub time_zone: String,
    /// The recipient's e-mail address (for `email`), opened only here.
    pub email: Option<String>,
    /// (URL, secret) for `webhook`.
    pub webhook: Option<(String, String)>,
    pub device: Option<DueDevice>,
    /// Why it must not be sent (rights lost, rule deleted): it is dropped instead.
    pub drop_reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct DueDevice {
    pub public_id: Uuid,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
}

/// The webhook's URL and secret as sealed in `alert_rules.webhook_enc`.
#[derive(Serialize, Deserialize)]
struct WebhookSecret {
    url: String,
    secret: String,
}

fn webhook_context(rule: &str) -> String {
    format!("alert_rules.webhook:{rule}")
}

/// Leases up to `limit` due messages to this node for `lease_ms`, each with what sending it
/// needs, rights checked now.
pub fn claim_due(
    conn: &Connection,
    key: &DataKey,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Due>, ApiError> {
    let claimed: Vec<ClaimedTuple> = conn
        .prepare_cached(
            "UPDATE alert_deliveries
             SET claimed_until = ?2, attempts = attempts + 1, last_attempt_at = ?1
             WHERE state = 'pending' AND due_at <= ?1
               AND (claimed_until IS NULL OR claimed_until <= ?1)
               AND id IN (SELECT id FROM alert_deliveries
                          WHERE state = 'pending' AND due_at <= ?1
                            AND (claimed_until IS NULL OR claimed_until <= ?1)
                          ORDER BY due_at LIMIT ?3)
             RETURNING id, public_id, rule_id, device_id, events, created_at, attempts",
        )?
        .query_map(params![now, now + lease_ms, limit], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<crate::sql::Result<_>>()?;
    let mut out = Vec::with_capacity(claimed.len());
    for (id, public_id, rule, device, events, created_at, attempts) in claimed {
        out.push(due_message(
            conn,
            key,
            (id, &public_id, rule, device, &events, created_at, attempts),
        )?);
    }
    Ok(out)
}

/// (id, public id, rule, device, events, created, attempts) of a claimed message.
type ClaimedTuple = (i64, String, i64, Option<i64>, String, i64, i64);
type ClaimedRow<'a> = (i64, &'a str, i64, Option<i64>, &'a str, i64, i64);

fn due_message(conn: &Connection, key: &DataKey, row: ClaimedRow<'_>) -> Result<Due, ApiError> {
    let (id, public_id, rule, device, events, created_at, attempts) = row;
    #[allow(clippy::type_complexity)]
    let (rule_public, channel, webhook_enc, language, time_zone, deleted, user): (
        String,
        String,
        Option<Vec<u8>>,
        String,
        String,
        Option<i64>,
        (i64, String, i64, String, bool, Vec<u8>),
    ) = conn
        .prepare_cached(
            "SELECT r.public_id, r.channel, r.webhook_enc, r.language, r.time_zone, r.deleted_at,
                    u.id, u.public_id, u.org_id, u.role, u.disabled, u.email_enc
             FROM alert_rules r JOIN users u ON u.id = r.recipient_id WHERE r.id = ?1",
        )?
        .query_row([rule], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                (
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ),
            ))
        })?;
    let (user_id, user_public, user_org, role, disabled, email_enc) = user;
    let mut drop_reason = None;
    if deleted.is_some() {
        drop_reason = Some("the rule was deleted");
    } else if disabled {
        drop_reason = Some("the recipient's account is disabled");
    }
    let mut due_device = None;
    if let Some(device) = device {
        let row: Option<(String, String, String, String, i64)> = conn
            .prepare_cached(
                "SELECT public_id, manufacturer, model, serial_number, org_id FROM devices
                 WHERE id = ?1",
            )?
            .query_row([device], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .optional()?;
        let visible = conn
            .prepare_cached(&format!(
                "SELECT 1 FROM devices d WHERE d.id = ?4 AND {}",
                super::devices::VISIBLE
            ))?
            .exists(params![user_id, user_org, role == "admin", device])?;
        if !visible && drop_reason.is_none() {
            drop_reason = Some("the recipient may no longer see the device");
        }
        if let Some((public, manufacturer, model, serial_number, _)) = row {
            due_device = Some(DueDevice {
                public_id: parse_uuid(&public)?,
                manufacturer,
                model,
                serial_number,
            });
        }
    }
    let channel = AlertChannel::parse(&channel)
        .ok_or_else(|| StoreError::Corrupt(format!("alert channel `{channel}`")))?;
    let (mut email, mut webhook) = (None, None);
    if drop_reason.is_none() {
        match channel {
            AlertChannel::Email => {
                email = Some(
                    key.open_str(&format!("users.email:{user_public}"), &email_enc)
                        .ok_or_else(|| StoreError::Corrupt("a recipient's address".into()))?,
                );
            }
            AlertChannel::Webhook => {
                let sealed = webhook_enc
                    .ok_or_else(|| StoreError::Corrupt("a webhook rule without address".into()))?;
                let opened = key
                    .open_str(&webhook_context(&rule_public), &sealed)
                    .ok_or_else(|| StoreError::Corrupt("a webhook's address".into()))?;
                let w: WebhookSecret = from_json(&opened)?;
                webhook = Some((w.url, w.secret));
            }
        }
    }
    Ok(Due {
        id,
        public_id: parse_uuid(public_id)?,
        rule_public_id: parse_uuid(&rule_public)?,
        created_at,
        attempts,
        events: from_json(events)?,
        channel,
        language,
        time_zone,
        email,
        webhook,
        device: due_device,
        drop_reason,
    })
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent(String),
    /// Failed; tried again at `retry_at` unless the 24 hours are over.
    Failed {
        status: String,
        retry_at: i64,
    },
    Dropped(&'static str),
}

/// Records `outcome` for message `id` (leased by this node).
pub fn finish(conn: &Connection, due: &Due, outcome: &Outcome, now: i64) -> Result<(), ApiError> {
    match outcome {
        Outcome::Sent(status) => conn
            .prepare_cached(
                "UPDATE alert_deliveries SET state = 'sent', sent_at = ?2, last_status = ?3,
                     claimed_until = NULL WHERE id = ?1",
            )?
            .execute(params![due.id, now, status])?,
        Outcome::Dropped(reason) => conn
            .prepare_cached(
                "UPDATE alert_deliveries SET state = 'dropped', last_status = ?2,
                     claimed_until = NULL WHERE id = ?1",
            )?
            .execute(params![due.id, *reason])?,
        Outcome::Failed { status, retry_at } => {
            let state = if *retry_at > due.created_at + RETRY_FOR_MS {
                "failed"
            } else {
                "pending"
            };
            conn.prepare_cached(
                "UPDATE alert_deliveries SET state = ?2, last_status = ?3, due_at = ?4,
                     claimed_until = NULL WHERE id = ?1",
            )?
            .execute(params![due.id, state, status, retry_at])?
        }
    };
    Ok(())
}

/// How long an event is kept once it became deliveries.
pub const EVENTS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a finished message stays in its rule's log.
pub const DELIVERIES_KEPT_MS: i64 = 90 * 24 * 3600 * 1000;

/// Deletes events dispatched more than [`EVENTS_KEPT_MS`] ago and finished messages (sent,
/// failed, dropped) older than [`DELIVERIES_KEPT_MS`]; returns how many rows went.
pub fn expire_old(conn: &Connection, now: i64) -> Result<usize, ApiError> {
    let events = conn
        .prepare_cached("DELETE FROM alert_events WHERE dispatched = 1 AND at < ?1")?
        .execute([now - EVENTS_KEPT_MS])?;
    let deliveries = conn
        .prepare_cached(
            "DELETE FROM alert_deliveries WHERE state <> 'pending' AND created_at < ?1",
        )?
        .execute([now - DELIVERIES_KEPT_MS])?;
    Ok(events + deliveries)
}

// ---- rules ----

/// Makes a rule; returns it and, for a webhook, its secret (shown once).
pub fn create_rule(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    new: &NewAlertRule,
) -> Result<(AlertRuleView, Option<String>), ApiError> {
    let recipient = match new.recipient_id {
        None => who.id,
        Some(r) if r == who.public_id => who.id,
        Some(r) => {
            if who.role != Role::Admin {
                return Err(ApiError::Forbidden(
                    "only an admin may set rules for another member",
                ));
            }
            super::accounts::user_id_in_org(conn, who.org_id, r)?
        }
    };
    if new.time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::Validation(vec![ecsp_protocol::FieldError {
            field: "time_zone".into(),
            message: "is not an IANA time zone name such as `Asia/Tokyo`".into(),
            rule: None,
        }]));
    }
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM alert_rules WHERE recipient_id = ?1 AND deleted_at IS NULL",
        )?
        .query_row([recipient], |r| r.get(0))?;
    if count >= MAX_RULES_PER_USER {
        return Err(ApiError::Conflict(crate::error::Refusal::TooManyRules(
            MAX_RULES_PER_USER as usize,
        )));
    }
    let group = match new.group_id {
        Some(g) => Some(super::groups::group_id_in_org(conn, who.org_id, g)?),
        None => None,
    };
    // The recipient's rights, not the author's: a rule never reaches further than they see.
    let device = match new.device_id {
        Some(d) => Some(super::devices::device_id_in_org(conn, who.org_id, d)?),
        None => None,
    };
    let public_id = Uuid::new_v4();
    let secret = (new.channel == AlertChannel::Webhook).then(new_webhook_secret);
    let webhook_enc = match (&new.webhook_url, &secret) {
        (Some(url), Some(secret)) => Some(
            key.seal(
                &webhook_context(&public_id.to_string()),
                json(&WebhookSecret {
                    url: url.clone(),
                    secret: secret.clone(),
                })?
                .as_bytes(),
            ),
        ),
        _ => None,
    };
    let codes = (!new.codes.is_empty())
        .then(|| json(&new.codes))
        .transpose()?;
    conn.prepare_cached(
        "INSERT INTO alert_rules (public_id, org_id, recipient_id, created_by, group_id, device_id,
             condition, codes, threshold, channel, webhook_enc, language, time_zone,
             quiet_minutes, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        public_id.to_string(),
        who.org_id,
        recipient,
        who.id,
        group,
        device,
        new.condition.as_str(),
        codes,
        new.threshold,
        new.channel.as_str(),
        webhook_enc,
        new.language,
        new.time_zone,
        new.quiet_minutes,
        now_ms()
    ])?;
    let view = get_rule(conn, key, who, public_id)?;
    Ok((view, secret))
}

/// `whsec_` and 32 random bytes, base64url.
fn new_webhook_secret() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The rules `who` may see: their own; an admin, every rule of the organisation.
pub fn list_rules(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
) -> Result<Vec<AlertRuleView>, ApiError> {
    let ids: Vec<String> = conn
        .prepare_cached(
            "SELECT public_id FROM alert_rules WHERE org_id = ?1 AND deleted_at IS NULL
               AND (?3 OR recipient_id = ?2 OR created_by = ?2) ORDER BY id",
        )?
        .query_map(params![who.org_id, who.id, who.role == Role::Admin], |r| {
            r.get(0)
        })?
        .collect::<crate::sql::Result<_>>()?;
    ids.iter()
        .map(|id| get_rule(conn, key, who, parse_uuid(id)?))
        .collect()
}

/// One rule `who` may see (their own, or any of the organisation for an admin).
pub fn get_rule(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    rule: Uuid,
) -> Result<AlertRuleView, ApiError> {
    #[allow(clippy::type_complexity)]
    let row: Option<(
        i64,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        Option<Vec<u8>>,
        String,
        String,
        String,
        i64,
        i64,
    )> = conn
        .prepare_cached(
            "SELECT r.id, r.condition, r.threshold, r.codes, g.public_id, d.public_id, r.channel,
                    r.webhook_enc, u.public_id, r.language, r.time_zone, r.quiet_minutes,
                    r.created_at
             FROM alert_rules r JOIN users u ON u.id = r.recipient_id
             LEFT JOIN device_groups g ON g.id = r.group_id
             LEFT JOIN devices d ON d.id = r.device_id
             WHERE r.public_id = ?1 AND r.org_id = ?2 AND r.deleted_at IS NULL
               AND (?4 OR r.recipient_id = ?3 OR r.created_by = ?3)",
        )?
        .query_row(
            params![
                rule.to_string(),
                who.org_id,
                who.id,
                who.role == Role::Admin
            ],
            |r| {
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
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                ))
            },
        )
        .optional()?;
    let Some((
        id,
        condition,
        threshold,
        codes,
        group,
        device,
        channel,
        webhook_enc,
        recipient,
        language,
        time_zone,
        quiet,
        created,
    )) = row
    else {
        return Err(ApiError::NotFound("alert rule"));
    };
    let webhook_url = match webhook_enc {
        Some(sealed) => {
            let opened = key
                .open_str(&webhook_context(&rule.to_string()), &sealed)
                .ok_or_else(|| StoreError::Corrupt("a webhook's address".into()))?;
            Some(from_json::<WebhookSecret>(&opened)?.url)
        }
        None => None,
    };
    let last_delivery = deliveries_of(conn, id, 1)?.into_iter().next();
    Ok(AlertRuleView {
        rule_id: rule,
        condition: AlertCondition::parse(&condition)
            .ok_or_else(|| StoreError::Corrupt(format!("alert condition `{condition}`")))?,
        threshold,
        codes: codes
            .as_deref()
            .map(from_json)
            .transpose()?
            .unwrap_or_default(),
        group_id: group.as_deref().map(parse_uuid).transpose()?,
        device_id: device.as_deref().map(parse_uuid).transpose()?,
        channel: AlertChannel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("alert channel `{channel}`")))?,
        webhook_url,
        recipient_id: parse_uuid(&recipient)?,
        language,
        time_zone,
        quiet_minutes: quiet,
        created_at: from_ms(created),
        last_delivery,
    })
}

/// Deletes a rule `who` may see; messages not yet sent are dropped when their time comes.
pub fn delete_rule(conn: &Connection, who: &UserPrincipal, rule: Uuid) -> Result<(), ApiError> {
    let n = conn
        .prepare_cached(
            "UPDATE alert_rules SET deleted_at = ?5
             WHERE public_id = ?1 AND org_id = ?2 AND deleted_at IS NULL
               AND (?4 OR recipient_id = ?3 OR created_by = ?3)",
        )?
        .execute(params![
            rule.to_string(),
            who.org_id,
            who.id,
            who.role == Role::Admin,
            now_ms()
        ])?;
    if n == 0 {
        return Err(ApiError::NotFound("alert rule"));
    }
    Ok(())
}

/// The newest `limit` messages of a rule `who` may see.
pub fn deliveries(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
    rule: Uuid,
    limit: i64,
) -> Result<Vec<AlertDeliveryView>, ApiError> {
    // The rights check and the rule's internal id in one.
    get_rule(conn, key, who, rule)?;
    let id: i64 = conn
        .prepare_cached("SELECT id FROM alert_rules WHERE public_id = ?1")?
        .query_row([rule.to_string()], |r| r.get(0))?;
    deliveries_of(conn, id, limit)
}

fn deliveries_of(
    conn: &Connection,
    rule: i64,
    limit: i64,
) -> Result<Vec<AlertDeliveryView>, ApiError> {
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        String,
        Option<String>,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    )> = conn
        .prepare_cached(
            "SELECT a.public_id, a.state, d.public_id, a.events, a.created_at, a.attempts,
                    a.last_attempt_at, a.last_status, a.sent_at
             FROM alert_deliveries a LEFT JOIN devices d ON d.id = a.device_id
             WHERE a.rule_id = ?1 ORDER BY a.id DESC LIMIT ?2",
        )?
        .query_map(params![rule, limit], |r| {
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
        })?
        .collect::<crate::sql::Result<_>>()?;
    rows.into_iter()
        .map(
            |(id, state, device, events, created, attempts, last_at, status, sent)| {
                let events: Vec<EventDetail> = from_json(&events)?;
                Ok(AlertDeliveryView {
                    delivery_id: parse_uuid(&id)?,
                    state: DeliveryState::parse(&state)
                        .ok_or_else(|| StoreError::Corrupt(format!("delivery state `{state}`")))?,
                    device_id: device.as_deref().map(parse_uuid).transpose()?,
                    events: events.len() as u32,
                    created_at: from_ms(created),
                    attempts: attempts as u32,
                    last_attempt_at: last_at.map(from_ms),
                    last_status: status,
                    sent_at: sent.map(from_ms),
                })
            },
        )
        .collect()
}

/// `t` as the rule's zone shows it.
pub fn local_time(at: i64, zone: &str) -> DateTime<chrono_tz::Tz> {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
    from_ms(at).with_timezone(&tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(codes: &[(&str, &str)], consumables: &[(&str, f64)]) -> StatusDigest {
        StatusDigest {
            state: "error".into(),
            counters: Default::default(),
            jobs: Vec::new(),
            codes: codes
                .iter()
                .map(|(s, c)| (s.to_string(), c.to_string(), None))
                .collect(),
            consumables: consumables
                .iter()
                .map(|(n, p)| (n.to_string(), *p))
                .collect(),
        }
    }

    #[test]
    fn an_idle_service_has_nothing_waiting_and_an_event_is_seen() {
        let mut raw = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::sqlite_schema::migrate(&mut raw).unwrap();
        let conn = Connection::Sqlite(raw);
        let idle = Waiting {
            silence_rules: false,
            events: false,
            due: false,
        };
        assert_eq!(waiting(&conn, 0).unwrap(), idle);
        conn.execute(
            "INSERT INTO alert_events (org_id, kind, detail, at) VALUES (1, 'error', '{}', 0)",
            params![],
        )
        .unwrap();
        assert_eq!(
            waiting(&conn, 0).unwrap(),
            Waiting {
                events: true,
                ..idle
            }
        );
        conn.execute("UPDATE alert_events SET dispatched = 1", params![])
            .unwrap();
        assert_eq!(waiting(&conn, 0).unwrap(), idle);
    }

    #[test]
    fn only_new_codes_and_crossed_thresholds_are_events() {
        let watched: BTreeSet<String> = ["error", "warning", "consumable_low"]
            .map(String::from)
            .into();
        let old = digest(
            &[("error", "E-1")],
            &[("ink cyan", 25.0), ("ink black", 9.0)],
        );
        let new = digest(
            &[("error", "E-1"), ("warning", "warning.ink_low")],
            &[("ink cyan", 19.0), ("ink black", 8.0), ("ink yellow", 5.0)],
        );
        let events = changes(Some(&old), 10, &new, &watched, &[20.0, 10.0]);
        let said: Vec<(AlertCondition, Option<&str>)> = events
            .iter()
            .map(|e| (e.condition, e.subject.as_deref()))
            .collect();
        assert_eq!(
            said,
            [
                (AlertCondition::Warning, Some("warning.ink_low")),
                (AlertCondition::ConsumableLow, Some("ink cyan")),
                (AlertCondition::ConsumableLow, Some("ink yellow")),
            ]
        );
        // Nothing is watched: nothing is an event.
        assert!(changes(Some(&old), 10, &new, &BTreeSet::new(), &[20.0]).is_empty());
    }

    #[test]
    fn a_rule_matches_its_threshold_scope_and_codes() {
        let rule = MatchRule {
            id: 7,
            recipient: 1,
            group: Some(3),
            device: None,
            condition: "consumable_low".into(),
            codes: Vec::new(),
            threshold: Some(10),
            quiet_ms: 0,
        };
        let mut detail = EventDetail::new(AlertCondition::ConsumableLow, 0);
        detail.value = Some(9.0);
        detail.before = Some(25.0);
        let event = StoredEvent {
            org: 1,
            device: Some(5),
            rule: None,
            user: None,
            detail,
        };
        assert!(rule.matches(&event, Some(3)));
        assert!(!rule.matches(&event, Some(4)), "another group");
        assert!(!rule.matches(&event, None));
        let mut above = event.detail.clone();
        above.value = Some(11.0);
        let event = StoredEvent {
            detail: above,
            ..event
        };
        assert!(!rule.matches(&event, Some(3)), "not crossed");

        let codes = MatchRule {
            condition: "error".into(),
            codes: vec!["error.prt".into()],
            group: None,
            threshold: None,
            ..rule
        };
        let mut e = EventDetail::new(AlertCondition::Error, 0);
        e.subject = Some("error.prt.jam".into());
        let jam = StoredEvent {
            org: 1,
            device: Some(5),
            rule: None,
            user: None,
            detail: e.clone(),
        };
        assert!(codes.matches(&jam, None));
        e.subject = Some("error.ink.out".into());
        assert!(!codes.matches(&StoredEvent { detail: e, ..jam }, None));
    }
}
