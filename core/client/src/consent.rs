//! Consent, per purpose and per user: not granted until granted; grant, refuse and withdraw are
//! one call each; every decision is kept locally (append-only) and queued for the server in the
//! same transaction. A decision made under an older notice version does not count: the user is
//! asked again.
//!
//! Refusing or withdrawing also drops that purpose's sealed parts from every record still in the
//! outbox, so nothing gated leaves the machine after the user said no, even if they said it
//! offline.
//!
//! A person decides in several apps (the CLI, the desktop app, a phone), each with its own local
//! database; the server's ledger is the truth they share. What counts here is the *effective
//! ledger*: the server's decisions as last read (at sign-in, on each sync, after a
//! `consent_required` refusal; see [`EcspClient::refresh_consents`]) together with the decisions
//! made here that the server does not have yet. The latest by decision time wins, as on the
//! server, so a decision queued here wins over the server's older state until it is delivered,
//! and a withdrawal made in another app stops this one capturing and sending the gated part.

use chrono::{DateTime, Utc};
use ecsp_protocol::consent::{ConsentDecision, ConsentOverview, Decision, Purpose};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ClientError, EcspResult, Result};
use crate::events::ClientEvent;
use crate::outbox::{self, NewEntry, OutboxKind};
use crate::session::StoredSession;
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
    /// The decision's id when it was made on this installation; `None` for one made in another
    /// app, known from the server's ledger.
    pub decision_id: Option<Uuid>,
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
    /// Set when the decision was made here and the server does not have it yet.
    pending_id: Option<String>,
    decision: Decision,
    notice_version: String,
    decided_at: i64,
}

/// The effective ledger of user `?1`: the server's decisions as last known, then the decisions
/// made here that it does not have yet (queued, in flight, or a refusal or withdrawal the server
/// rejected: the user's "no" is honoured here regardless). Ordered as the server orders its own:
/// by decision time, later entries first among equals.
const LEDGER: &str =
    "WITH ledger (purpose, decision, notice_version, decided_at, pending_id, ord, seq) AS (
        SELECT purpose, decision, notice_version, decided_at, NULL, 0, rowid
        FROM server_consents WHERE user_id = ?1
        UNION ALL
        SELECT c.purpose, c.decision, c.notice_version, c.decided_at, c.decision_id, 1, c.id
        FROM consents c JOIN outbox o ON o.record_id = c.decision_id
        WHERE c.user_id = ?1 AND (o.state IN ('queued', 'in_flight')
            OR (o.state = 'rejected' AND c.decision <> 'granted')))";

impl Core {
    fn latest_decision(&self, user: Uuid, purpose: Purpose) -> Result<Option<Latest>> {
        latest_in(&self.store.conn(), user, purpose)
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
                &format!(
                    "{LEDGER} SELECT decision FROM ledger WHERE purpose = ?2 AND decided_at <= ?3
                     ORDER BY decided_at DESC, ord DESC, seq DESC LIMIT 1"
                ),
                params![user.to_string(), purpose.as_str(), at.timestamp_millis()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(decision.is_some_and(|d| parse_decision(&d).ok() == Some(Decision::Granted)))
    }

    fn consent_status(&self, user: Uuid) -> Result<Vec<ConsentStatus>> {
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
                    pending_upload: latest.as_ref().is_some_and(|l| l.pending_id.is_some()),
                    latest_decision: latest.as_ref().map(|l| l.decision),
                    notice_version: latest.as_ref().map(|l| l.notice_version.clone()),
                    decided_at: latest.map(|l| outbox::from_ms(l.decided_at)),
                })
            })
            .collect()
    }

    /// The decisions made here, and those of the server's ledger made elsewhere, newest first.
    fn consent_history(&self, user: Uuid) -> Result<Vec<ConsentHistoryEntry>> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT c.decision_id, c.purpose, c.decision, c.notice_version, c.decided_at,
                    COALESCE(o.state, 'sent'), c.id
             FROM consents c LEFT JOIN outbox o ON o.record_id = c.decision_id
             WHERE c.user_id = ?1
             UNION ALL
             SELECT NULL, s.purpose, s.decision, s.notice_version, s.decided_at, 'sent', 0
             FROM server_consents s
             WHERE s.user_id = ?1 AND NOT EXISTS (
                 SELECT 1 FROM consents c WHERE c.user_id = s.user_id AND c.purpose = s.purpose
                 AND c.decision = s.decision AND c.notice_version = s.notice_version
                 AND c.decided_at = s.decided_at)
             ORDER BY 5 DESC, 7 DESC",
        )?;
        let rows = stmt.query_map([user.to_string()], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
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
                decision_id: id
                    .map(|id| {
                        Uuid::parse_str(&id)
                            .map_err(|_| ClientError::Corrupt(format!("uuid `{id}`")))
                    })
                    .transpose()?,
                purpose: parse_purpose(&purpose)?,
                decision: parse_decision(&decision)?,
                notice_version,
                decided_at: outbox::from_ms(decided_at),
                delivered: state == "sent",
            });
        }
        Ok(out)
    }

    /// Replaces what is known of the server's ledger with `overview`, read by a request sent at
    /// `requested_at` (ms): decisions delivered from here since then are kept, since the answer
    /// may predate them. A purpose no longer granted loses its sealed parts in the outbox, as
    /// after a withdrawal made here. Answers the purposes whose decision in force changed, and
    /// whether queued records lost a part.
    fn apply_server_ledger(
        &self,
        user: Uuid,
        overview: &ConsentOverview,
        requested_at: i64,
    ) -> Result<(Vec<(Purpose, Decision)>, bool)> {
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        let before = Purpose::ALL
            .into_iter()
            .map(|p| Ok(latest_in(&tx, user, p)?.map(|l| (l.decision, l.decided_at))))
            .collect::<Result<Vec<_>>>()?;
        tx.execute(
            "DELETE FROM server_consents WHERE user_id = ?1",
            [user.to_string()],
        )?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO server_consents
                     (user_id, purpose, decision, notice_version, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            // The server lists its history oldest first; keeping that order keeps its tie-break.
            for r in &overview.history {
                insert.execute(params![
                    user.to_string(),
                    r.purpose.as_str(),
                    decision_str(r.decision),
                    r.notice_version,
                    r.decided_at.timestamp_millis()
                ])?;
            }
        }
        tx.execute(
            "INSERT OR IGNORE INTO server_consents
                 (user_id, purpose, decision, notice_version, decided_at)
             SELECT c.user_id, c.purpose, c.decision, c.notice_version, c.decided_at
             FROM consents c JOIN outbox o ON o.record_id = c.decision_id
             WHERE c.user_id = ?1 AND o.state = 'sent' AND o.sent_at >= ?2
             ORDER BY c.id",
            params![user.to_string(), requested_at],
        )?;
        let mut changed = Vec::new();
        let mut dropped_any = false;
        for (purpose, before) in Purpose::ALL.into_iter().zip(before) {
            let after = latest_in(&tx, user, purpose)?;
            let granted = after.as_ref().is_some_and(|l| {
                l.decision == Decision::Granted && l.notice_version == CURRENT_NOTICE_VERSION
            });
            if !granted {
                let dropped = outbox::drop_gated_parts(&tx, user, purpose)?;
                if dropped > 0 {
                    dropped_any = true;
                    tracing::info!(%purpose, dropped, "not granted in the server's ledger: gated parts removed from queued records");
                }
            }
            if let Some(after) = after
                && before != Some((after.decision, after.decided_at))
            {
                changed.push((purpose, after.decision));
            }
        }
        tx.commit()?;
        Ok((changed, dropped_any))
    }

    /// Adds decisions the server has just acknowledged to what is known of its ledger, so they
    /// stay in force once they no longer wait in the outbox.
    pub(crate) fn ledger_received(&self, decision_ids: &[Uuid]) -> Result<()> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT OR IGNORE INTO server_consents
                 (user_id, purpose, decision, notice_version, decided_at)
             SELECT user_id, purpose, decision, notice_version, decided_at
             FROM consents WHERE decision_id = ?1",
        )?;
        for id in decision_ids {
            stmt.execute([id.to_string()])?;
        }
        Ok(())
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

/// The decision in force for `purpose` in `user`'s effective ledger.
fn latest_in(conn: &rusqlite::Connection, user: Uuid, purpose: Purpose) -> Result<Option<Latest>> {
    let row = conn
        .prepare_cached(&format!(
            "{LEDGER} SELECT pending_id, decision, notice_version, decided_at FROM ledger
             WHERE purpose = ?2 ORDER BY decided_at DESC, ord DESC, seq DESC LIMIT 1"
        ))?
        .query_row(params![user.to_string(), purpose.as_str()], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(pending_id, d, notice_version, decided_at)| {
        Ok(Latest {
            pending_id,
            decision: parse_decision(&d)?,
            notice_version,
            decided_at,
        })
    })
    .transpose()
}

impl EcspClient {
    /// Whether the signed-in user has granted `purpose` under the current notice.
    pub async fn is_granted(&self, purpose: Purpose) -> EcspResult<bool> {
        self.blocking(move |core| core.is_granted(core.current_user()?, purpose))
            .await
    }

    /// Reads the signed-in user's decisions from the server's ledger (every app of theirs
    /// records there) and answers where each purpose stands now. Decisions made here and not
    /// delivered yet still count, and win over older ones of the server's.
    pub async fn refresh_consents(&self) -> EcspResult<Vec<ConsentStatus>> {
        let mut session = self.session().await?;
        self.refresh_consents_with(&mut session).await?;
        self.consent_status().await
    }

    pub(crate) async fn refresh_consents_with(&self, session: &mut StoredSession) -> Result<()> {
        let user = session.user_id;
        let requested_at = crate::now_ms();
        let response = self
            .authed(session, |http, url, token| {
                http.get(url("/api/v1/consents")).bearer_auth(token)
            })
            .await?;
        let overview: ConsentOverview = crate::session::read_json(response).await?;
        let (changed, dropped) = self
            .blocking_internal(move |core| core.apply_server_ledger(user, &overview, requested_at))
            .await?;
        for (purpose, decision) in &changed {
            self.core.emit(ClientEvent::ConsentChanged {
                purpose: *purpose,
                decision: *decision,
            });
        }
        if dropped || !changed.is_empty() {
            self.blocking_internal(|core| {
                core.queue_changed();
                Ok(())
            })
            .await?;
        }
        Ok(())
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
