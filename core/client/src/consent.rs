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
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ClientError, EcspResult, Result};
use crate::events::ClientEvent;
use crate::outbox::{self, NewEntry, OutboxKind};
use crate::{Core, EcspClient};

// The notice is shared with the server's portal, which shows the same text.
pub use ecsp_protocol::consent_notice::{
    CURRENT_NOTICE_VERSION, Notice, NoticeItem, NoticeLanguage, notice,
};

/// Where one purpose stands for the signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Granted under the current notice.
    Granted,
    /// Refused under the current notice.
    Refused,
    /// Granted once, then withdrawn, under the current notice.
    Withdrawn,
    /// Never asked on this installation.
    NeverAsked,
    /// Decided under an older notice: the user must be asked again (not granted meanwhile).
    AskAgain,
}

/// The state of one purpose for the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentStatus {
    pub purpose: Purpose,
    pub state: ConsentState,
    /// Granted under the current notice version.
    pub granted: bool,
    /// The user has not decided under the current notice version yet.
    pub needs_asking: bool,
    pub latest_decision: Option<Decision>,
    pub notice_version: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The latest decision is still waiting in the outbox for the server.
    pub pending_upload: bool,
}

/// One entry of the local consent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentHistoryEntry {
    pub decision_id: Uuid,
    pub purpose: Purpose,
    pub decision: Decision,
    pub notice_version: String,
    pub decided_at: DateTime<Utc>,
    /// Whether the server has it.
    pub delivered: bool,
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

fn parse_purpose(s: &str) -> Result<Purpose> {
    s.parse()
        .map_err(|e: ecsp_protocol::consent::UnknownPurpose| ClientError::Corrupt(e.to_string()))
}

struct Latest {
    decision_id: String,
    decision: Decision,
    notice_version: String,
    decided_at: i64,
}

impl Core {
    fn latest_decision(&self, user: Uuid, purpose: Purpose) -> Result<Option<Latest>> {
        let row = self
            .store
            .conn()
            .query_row(
                "SELECT decision_id, decision, notice_version, decided_at FROM consents
                 WHERE user_id = ?1 AND purpose = ?2 ORDER BY id DESC LIMIT 1",
                params![user.to_string(), purpose.as_str()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(decision_id, d, notice_version, decided_at)| {
            Ok(Latest {
                decision_id,
                decision: parse_decision(&d)?,
                notice_version,
                decided_at,
            })
        })
        .transpose()
    }

    /// Whether `user` has granted `purpose` under the current notice.
    pub(crate) fn is_granted(&self, user: Uuid, purpose: Purpose) -> Result<bool> {
        Ok(self.latest_decision(user, purpose)?.is_some_and(|l| {
            l.decision == Decision::Granted && l.notice_version == CURRENT_NOTICE_VERSION
        }))
    }

    /// Whether `user`'s decision in force at `at` granted `purpose`, judged as the server judges
    /// a record's gated parts by its capture time (the latest decision made by then).
    pub(crate) fn was_granted_at(
        &self,
        user: Uuid,
        purpose: Purpose,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let decision: Option<String> = self
            .store
            .conn()
            .query_row(
                "SELECT decision FROM consents WHERE user_id = ?1 AND purpose = ?2 AND decided_at <= ?3
                 ORDER BY decided_at DESC, id DESC LIMIT 1",
                params![user.to_string(), purpose.as_str(), at.timestamp_millis()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(decision.is_some_and(|d| parse_decision(&d).ok() == Some(Decision::Granted)))
    }

    fn consent_status(&self, user: Uuid) -> Result<Vec<ConsentStatus>> {
        let conn_state = |id: &str| -> Result<bool> {
            let id =
                Uuid::parse_str(id).map_err(|_| ClientError::Corrupt(format!("uuid `{id}`")))?;
            Ok(outbox::state_of(&self.store.conn(), id)?
                .is_some_and(|s| s != outbox::QueueState::Sent))
        };
        Purpose::ALL
            .into_iter()
            .map(|purpose| {
                let latest = self.latest_decision(user, purpose)?;
                let state = match &latest {
                    None => ConsentState::NeverAsked,
                    Some(l) if l.notice_version != CURRENT_NOTICE_VERSION => ConsentState::AskAgain,
                    Some(l) => match l.decision {
                        Decision::Granted => ConsentState::Granted,
                        Decision::Refused => ConsentState::Refused,
                        Decision::Withdrawn => ConsentState::Withdrawn,
                    },
                };
                Ok(ConsentStatus {
                    purpose,
                    state,
                    granted: state == ConsentState::Granted,
                    needs_asking: matches!(
                        state,
                        ConsentState::NeverAsked | ConsentState::AskAgain
                    ),
                    pending_upload: match &latest {
                        Some(l) => conn_state(&l.decision_id)?,
                        None => false,
                    },
                    latest_decision: latest.as_ref().map(|l| l.decision),
                    notice_version: latest.as_ref().map(|l| l.notice_version.clone()),
                    decided_at: latest.map(|l| outbox::from_ms(l.decided_at)),
                })
            })
            .collect()
    }

    fn consent_history(&self, user: Uuid) -> Result<Vec<ConsentHistoryEntry>> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT c.decision_id, c.purpose, c.decision, c.notice_version, c.decided_at,
                    COALESCE(o.state, 'sent')
             FROM consents c LEFT JOIN outbox o ON o.record_id = c.decision_id
             WHERE c.user_id = ?1 ORDER BY c.id DESC",
        )?;
        let rows = stmt.query_map([user.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, purpose, decision, notice_version, decided_at, state) = row?;
            out.push(ConsentHistoryEntry {
                decision_id: Uuid::parse_str(&id)
                    .map_err(|_| ClientError::Corrupt(format!("uuid `{id}`")))?,
                purpose: parse_purpose(&purpose)?,
                decision: parse_decision(&decision)?,
                notice_version,
                decided_at: outbox::from_ms(decided_at),
                delivered: state == "sent",
            });
        }
        Ok(out)
    }

    /// Records a decision locally and queues it for the server, in one transaction.
    fn decide(&self, purpose: Purpose, decision: Decision) -> Result<ConsentDecision> {
        let user = self.current_user()?;
        let decided = ConsentDecision {
            decision_id: Uuid::new_v4(),
            purpose,
            decision,
            notice_version: CURRENT_NOTICE_VERSION.to_owned(),
            decided_at: Utc::now(),
        };
        let body =
            serde_json::to_string(&decided).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        {
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
                    decided.decided_at.timestamp_millis()
                ],
            )?;
            outbox::insert(
                &tx,
                NewEntry {
                    user,
                    kind: OutboxKind::Consent,
                    record_id: decided.decision_id,
                    device_id: None,
                    captured_at: decided.decided_at,
                    body: &body,
                    withheld: &[],
                },
            )?;
            if decision != Decision::Granted {
                let dropped = outbox::drop_gated_parts(&tx, user, purpose)?;
                if dropped > 0 {
                    tracing::info!(purpose = %purpose, dropped, "consent withdrawn: gated parts removed from queued records");
                }
            }
            tx.commit()?;
        }
        self.emit(ClientEvent::ConsentChanged { purpose, decision });
        self.queue_changed();
        self.wake.notify_one();
        Ok(decided)
    }
}

impl EcspClient {
    /// Whether the signed-in user has granted `purpose` under the current notice.
    pub async fn is_granted(&self, purpose: Purpose) -> EcspResult<bool> {
        self.blocking(move |core| core.is_granted(core.current_user()?, purpose))
            .await
    }

    pub async fn consent_status(&self) -> EcspResult<Vec<ConsentStatus>> {
        self.blocking(|core| core.consent_status(core.current_user()?))
            .await
    }

    /// The signed-in user's decisions on this installation, newest first.
    pub async fn consent_history(&self) -> EcspResult<Vec<ConsentHistoryEntry>> {
        self.blocking(|core| core.consent_history(core.current_user()?))
            .await
    }

    /// Records a decision and queues it for the server; the sync service (or the next flush)
    /// delivers it before any record.
    pub async fn decide(
        &self,
        purpose: Purpose,
        decision: Decision,
    ) -> EcspResult<ConsentDecision> {
        self.blocking(move |core| core.decide(purpose, decision))
            .await
    }

    pub async fn grant(&self, purpose: Purpose) -> EcspResult<ConsentDecision> {
        self.decide(purpose, Decision::Granted).await
    }

    pub async fn refuse(&self, purpose: Purpose) -> EcspResult<ConsentDecision> {
        self.decide(purpose, Decision::Refused).await
    }

    pub async fn withdraw(&self, purpose: Purpose) -> EcspResult<ConsentDecision> {
        self.decide(purpose, Decision::Withdrawn).await
    }
}
