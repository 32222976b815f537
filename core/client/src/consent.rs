//! Consent, per purpose and per user: not granted until granted; grant, refuse and withdraw are
//! one call each; every decision is kept locally (append-only) and queued for the server in the
//! same transaction. A decision made under an older notice version does not count: the user is
//! asked again.
//!
//! Refusing or withdrawing also drops that purpose's sealed parts from every record still in the
//! outbox, so nothing gated leaves the machine after the user said no, even if they said it
//! offline.

use chrono::{DateTime, Utc};
use ecsp_protocol::consent::{ConsentDecision, Decision, Purpose};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::EcspClient;
use crate::error::{ClientError, Result};

/// The version of the consent notice this build shows. Changing it asks every user again.
pub const CURRENT_NOTICE_VERSION: &str = "2026-11";

/// The state of one purpose for the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsentStatus {
    pub purpose: Purpose,
    /// Granted under the current notice version.
    pub granted: bool,
    /// The user has not decided under the current notice version yet.
    pub needs_asking: bool,
    pub latest_decision: Option<Decision>,
    pub notice_version: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

fn decision_str(d: Decision) -> &'static str {
    match d {
        Decision::Granted => "granted",
        Decision::Refused => "refused",
        Decision::Withdrawn => "withdrawn",
    }
}

fn parse_decision(s: &str) -> Result<Decision> {
    match s {
        "granted" => Ok(Decision::Granted),
        "refused" => Ok(Decision::Refused),
        "withdrawn" => Ok(Decision::Withdrawn),
        other => Err(ClientError::Corrupt(format!("consent decision `{other}`"))),
    }
}

impl EcspClient {
    fn latest_decision(
        &self,
        user: Uuid,
        purpose: Purpose,
    ) -> Result<Option<(Decision, String, i64)>> {
        let row = self
            .store
            .conn()
            .query_row(
                "SELECT decision, notice_version, decided_at FROM consents
                 WHERE user_id = ?1 AND purpose = ?2 ORDER BY id DESC LIMIT 1",
                params![user.to_string(), purpose.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(d, v, t)| Ok((parse_decision(&d)?, v, t)))
            .transpose()
    }

    /// Whether the signed-in user has granted `purpose` under the current notice.
    pub fn is_granted(&self, purpose: Purpose) -> Result<bool> {
        let user = self.current_user()?;
        Ok(self
            .latest_decision(user, purpose)?
            .is_some_and(|(d, v, _)| d == Decision::Granted && v == CURRENT_NOTICE_VERSION))
    }

    pub fn consent_status(&self) -> Result<Vec<ConsentStatus>> {
        let user = self.current_user()?;
        Purpose::ALL
            .into_iter()
            .map(|purpose| {
                let latest = self.latest_decision(user, purpose)?;
                let current = latest
                    .as_ref()
                    .is_some_and(|(_, v, _)| v == CURRENT_NOTICE_VERSION);
                Ok(ConsentStatus {
                    purpose,
                    granted: current
                        && latest
                            .as_ref()
                            .is_some_and(|(d, ..)| *d == Decision::Granted),
                    needs_asking: !current,
                    latest_decision: latest.as_ref().map(|(d, ..)| *d),
                    notice_version: latest.as_ref().map(|(_, v, _)| v.clone()),
                    decided_at: latest.map(|(.., t)| crate::outbox::from_ms(t)),
                })
            })
            .collect()
    }

    /// Records a decision locally and queues it for the server, in one transaction.
    pub fn decide(&self, purpose: Purpose, decision: Decision) -> Result<ConsentDecision> {
        let user = self.current_user()?;
        let decided = ConsentDecision {
            decision_id: Uuid::new_v4(),
            purpose,
            decision,
            notice_version: CURRENT_NOTICE_VERSION.to_owned(),
            decided_at: Utc::now(),
        };
        let decided_ms = decided.decided_at.timestamp_millis();
        let body =
            serde_json::to_string(&decided).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO consents (decision_id, user_id, purpose, decision, notice_version, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                decided.decision_id.to_string(),
                user.to_string(),
                purpose.as_str(),
                decision_str(decision),
                CURRENT_NOTICE_VERSION,
                decided_ms
            ],
        )?;
        tx.execute(
            "INSERT INTO outbox (record_id, user_id, kind, captured_at, body, state)
             VALUES (?1, ?2, 'consent', ?3, ?4, 'queued')",
            params![
                decided.decision_id.to_string(),
                user.to_string(),
                decided_ms,
                body
            ],
        )?;
        if decision != Decision::Granted {
            let dropped = tx.execute(
                "DELETE FROM outbox_gated WHERE purpose = ?1 AND record_id IN
                     (SELECT record_id FROM outbox WHERE user_id = ?2 AND state != 'sent')",
                params![purpose.as_str(), user.to_string()],
            )?;
            if dropped > 0 {
                tracing::info!(purpose = %purpose, dropped, "consent withdrawn: gated parts removed from queued records");
            }
        }
        tx.commit()?;
        Ok(decided)
    }

    pub fn grant(&self, purpose: Purpose) -> Result<ConsentDecision> {
        self.decide(purpose, Decision::Granted)
    }

    pub fn refuse(&self, purpose: Purpose) -> Result<ConsentDecision> {
        self.decide(purpose, Decision::Refused)
    }

    pub fn withdraw(&self, purpose: Purpose) -> Result<ConsentDecision> {
        self.decide(purpose, Decision::Withdrawn)
    }
}
