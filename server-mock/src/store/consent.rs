//! The server's copy of each user's consent decisions: append-only, and the authority on
//! whether a consent-gated part of an upload may be stored.

use crate::sql::{Connection, OptionalExtension, params};
use ecsp_protocol::consent::{
    ConsentDecision, ConsentOverview, ConsentRecord, Decision, Purpose, PurposeState,
};

use super::{from_ms, now_ms, to_ms};
use crate::db::StoreError;
use crate::error::ApiError;

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Granted => "granted",
        Decision::Refused => "refused",
        Decision::Withdrawn => "withdrawn",
    }
}

fn parse_decision(s: &str) -> Result<Decision, StoreError> {
    match s {
        "granted" => Ok(Decision::Granted),
        "refused" => Ok(Decision::Refused),
        "withdrawn" => Ok(Decision::Withdrawn),
        other => Err(StoreError::Corrupt(format!("consent decision `{other}`"))),
    }
}

/// Appends a decision. The same decision id again answers the stored row (a retried upload);
/// a different decision under a known id is a conflict.
pub fn record(
    conn: &Connection,
    user_id: i64,
    d: &ConsentDecision,
) -> Result<ConsentRecord, ApiError> {
    let existing = conn
        .prepare_cached(
            "SELECT user_id, purpose, decision, notice_version, decided_at, recorded_at FROM consents
             WHERE decision_id = ?1",
        )?
        .query_row([d.decision_id.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .optional()?;
    if let Some((owner, purpose, decision, notice, decided_at, recorded_at)) = existing {
        let same = owner == user_id
            && purpose == d.purpose.as_str()
            && decision == decision_str(d.decision)
            && notice == d.notice_version.trim()
            && decided_at == to_ms(d.decided_at);
        if !same {
            return Err(ApiError::Conflict(crate::error::Refusal::DecisionIdReused));
        }
        return Ok(ConsentRecord {
            purpose: d.purpose,
            decision: d.decision,
            notice_version: notice,
            decided_at: from_ms(decided_at),
            recorded_at: from_ms(recorded_at),
        });
    }
    let recorded_at = now_ms();
    conn.prepare_cached(
        "INSERT INTO consents (user_id, purpose, decision, notice_version, decided_at, recorded_at, decision_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        user_id,
        d.purpose.as_str(),
        decision_str(d.decision),
        d.notice_version.trim(),
        to_ms(d.decided_at),
        recorded_at,
        d.decision_id.to_string()
    ])?;
    Ok(ConsentRecord {
        purpose: d.purpose,
        decision: d.decision,
        notice_version: d.notice_version.trim().to_owned(),
        decided_at: from_ms(to_ms(d.decided_at)),
        recorded_at: from_ms(recorded_at),
    })
}

pub fn overview(conn: &Connection, user_id: i64) -> Result<ConsentOverview, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT purpose, decision, notice_version, decided_at, recorded_at FROM consents
         WHERE user_id = ?1 ORDER BY decided_at, id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut history = Vec::new();
    for row in rows {
        let (purpose, decision, notice_version, decided_at, recorded_at) = row?;
        history.push(ConsentRecord {
            purpose: purpose
                .parse::<Purpose>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            decision: parse_decision(&decision)?,
            notice_version,
            decided_at: from_ms(decided_at),
            recorded_at: from_ms(recorded_at),
        });
    }
    let purposes = Purpose::ALL
        .into_iter()
        .map(|purpose| {
            let latest = history.iter().rev().find(|r| r.purpose == purpose).cloned();
            PurposeState {
                purpose,
                granted: latest.as_ref().is_some_and(|r| r.decision.is_granted()),
                latest,
            }
        })
        .collect();
    Ok(ConsentOverview { purposes, history })
}

/// Whether the user's latest decision for `purpose` made at or before `at_ms` was a grant.
pub fn granted_at(
    conn: &Connection,
    user_id: i64,
    purpose: Purpose,
    at_ms: i64,
) -> Result<bool, ApiError> {
    let decision: Option<String> = conn
        .prepare_cached(
            "SELECT decision FROM consents WHERE user_id = ?1 AND purpose = ?2 AND decided_at <= ?3
             ORDER BY decided_at DESC, id DESC LIMIT 1",
        )?
        .query_row(params![user_id, purpose.as_str(), at_ms], |r| r.get(0))
        .optional()?;
    Ok(decision.as_deref() == Some("granted"))
}
