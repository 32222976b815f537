//! Delivery of the outbox: consent decisions first (the server judges gated parts by them), then
//! the person's decisions read back from the server's ledger (another of their apps may have
//! decided since), then records in batches of one kind, oldest first, capture order kept per
//! device. A gated part leaves only if the ledger grants it now and granted it at its capture time.
//!
//! * Success: the batch is `sent` and its bodies erased.
//! * A refusal the server gives for the content (4xx): the batch is split in halves until the
//!   refused record stands alone; it becomes `rejected` with the server's reason and code; the
//!   rest go on. A `consent_required` refusal first reads the ledger again and sends the record
//!   once more without the parts it does not grant.
//! * Trouble that may pass (network, 429, 5xx): the batch goes back to `queued` with an
//!   exponential backoff with jitter, capped at [`MAX_BACKOFF_SECS`], and the flush stops.
//! * 401: one transparent refresh (in `EcspClient::authed`); if that fails the session has
//!   ended (an event says so), the flush stops and nothing is lost.
//! * Dropped mid-request (cancelled, aborted): the claimed rows go back to the queue at once
//!   ([`InFlightGuard`]); if the server had already stored them, its idempotency on record ids
//!   makes the resend harmless.
//! * Pipelined (records): the client's SQLite commits used to add to every request's time (40 %
//!   of a flush of 10,000). Now one request is on the wire while the batch before it is marked
//!   sent and the next one claimed, in one transaction. Never two requests at once: the server
//!   would store two batches of one device in whichever order it finished them, and a batch that
//!   fails must stop the flush before a later one of the same device is delivered.

use std::future::Future;
use std::pin::Pin;

use ecsp_protocol::PROTOCOL_VERSION;
use ecsp_protocol::problem::codes;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ClientError, EcspError, EcspResult, Result};
use crate::events::ClientEvent;
use crate::outbox::{self, Claimed, InFlightGuard, OutboxKind};
use crate::session::StoredSession;
use crate::{Core, EcspClient};

pub const MAX_BACKOFF_SECS: u64 = 300;
/// How long the record of a delivered entry stays in the outbox.
pub const KEEP_DELIVERED_DAYS: i64 = 30;
const BASE_BACKOFF_MS: u64 = 1000;

/// The delay before attempt `attempts + 1`: exponential, capped, with jitter in [½, 1].
pub fn backoff_ms(attempts: u32) -> u64 {
    let exp = BASE_BACKOFF_MS.saturating_mul(1u64 << attempts.min(20));
    let capped = exp.min(MAX_BACKOFF_SECS * 1000);
    capped / 2 + fastrand::u64(0..=capped / 2)
}

#[derive(Debug, Clone, Copy)]
pub struct FlushOptions {
    /// Most records per request.
    pub batch_size: usize,
    /// Send records that are still backing off (an explicit "flush now").
    pub ignore_backoff: bool,
    /// Send only consent decisions (e.g. right after the user decided) and read the person's
    /// decisions back from the server's ledger, leaving records queued.
    pub consents_only: bool,
}

impl Default for FlushOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            ignore_backoff: false,
            consents_only: false,
        }
    }
}

/// Progress of a flush, reported after each request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlushProgress {
    pub sent: u64,
    pub rejected: u64,
    /// Records and decisions waiting when the flush started.
    pub total: u64,
}

/// What a flush did.
#[derive(Debug, Default, Serialize)]
pub struct FlushReport {
    pub sent: u64,
    pub rejected: u64,
    /// Still waiting (backing off, or the flush stopped early).
    pub remaining: u64,
    /// Why the flush stopped before the queue was empty, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<EcspError>,
}

/// A claimed batch and the guard that puts it back in the queue if the flush ends first.
struct Batch {
    kind: OutboxKind,
    batch: Vec<Claimed>,
    guard: InFlightGuard,
}

enum Sent {
    Done,
    /// Stop flushing: the server is unreachable or the session is gone.
    Stop(ClientError),
}

use crate::outbox::gated_field;

impl Core {
    /// The request body: consent decisions go one per request; records as an upload with their
    /// still-consented gated parts put back in.
    fn request_body(&self, user: Uuid, kind: OutboxKind, batch: &[Claimed]) -> Result<Vec<u8>> {
        if !kind.is_upload() {
            return Ok(batch
                .first()
                .map(|c| c.body.clone().into_bytes())
                .unwrap_or_default());
        }
        // Bodies are stored as the canonical JSON of a record; only those with gated parts to
        // put back are parsed, the rest are spliced in as they are.
        let opener = if batch.iter().any(|c| c.has_gated) {
            Some(self.gated_opener(user)?)
        } else {
            None
        };
        let mut out = format!("{{\"schema_version\":{PROTOCOL_VERSION},\"records\":[").into_bytes();
        for (i, c) in batch.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let parts = match &opener {
                Some(opener) if c.has_gated => {
                    self.gated_parts(opener, c.record_id, c.captured_at)?
                }
                _ => Vec::new(),
            };
            if parts.is_empty() {
                out.extend_from_slice(c.body.as_bytes());
                continue;
            }
            let mut record: serde_json::Value = serde_json::from_str(&c.body)
                .map_err(|e| ClientError::Corrupt(format!("queued record: {e}")))?;
            for (purpose, part) in parts {
                record[gated_field(purpose)] = part;
            }
            serde_json::to_writer(&mut out, &record)
                .map_err(|e| ClientError::Corrupt(e.to_string()))?;
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

impl EcspClient {
    /// Sends what waits in the outbox for the signed-in user. Progress, deliveries and
    /// rejections are reported as [`ClientEvent`]s. Cancellation-safe: dropping the future puts
    /// the rows it claimed back in the queue.
    pub async fn flush(&self, options: FlushOptions) -> EcspResult<FlushReport> {
        Ok(self.flush_internal(options).await?)
    }

    pub(crate) async fn flush_internal(&self, options: FlushOptions) -> Result<FlushReport> {
        let mut session = self.session().await?;
        let user = session.user_id;
        let mut p = FlushProgress {
            total: self
                .blocking_internal(move |core| outbox::pending_count(&core.store.conn(), user))
                .await?,
            ..FlushProgress::default()
        };
        let mut stop = None;
        'outer: for phase in [0, 1] {
            if phase == 1 && options.consents_only {
                if let Err(e) = self.refresh_consents_with(&mut session).await {
                    tracing::warn!(error = %e, "could not read the consent ledger");
                }
                break;
            }
            let kinds: Vec<OutboxKind> = OutboxKind::ALL
                .into_iter()
                .filter(|k| k.phase() == phase)
                .collect();
            if phase == 1 {
                stop = self
                    .flush_records(&mut session, user, &kinds, options, &mut p)
                    .await?;
                break;
            }
            loop {
                let claim_kinds = kinds.clone();
                let claimed = self
                    .blocking_internal(move |core| {
                        outbox::claim(
                            &mut core.store.conn(),
                            user,
                            &claim_kinds,
                            options.batch_size,
                            options.ignore_backoff,
                        )
                    })
                    .await?;
                let Some((kind, batch)) = claimed else {
                    break;
                };
                let _guard = InFlightGuard::new(self.core.clone(), &batch);
                match self
                    .send_batch(&mut session, kind, batch, &mut p, false)
                    .await?
                {
                    Sent::Done => {}
                    Sent::Stop(e) => {
                        stop = Some(e);
                        break 'outer;
                    }
                }
            }
        }
        let delivered_any = p.sent > 0;
        let remaining = self
            .blocking_internal(move |core| {
                let conn = core.store.conn();
                let cutoff = crate::now_ms() - KEEP_DELIVERED_DAYS * 86_400_000;
                outbox::prune_delivered(&conn, cutoff)?;
                if delivered_any {
                    // Erased bodies also leave the write-ahead log (secure_delete covers the
                    // database file's free pages, not old WAL frames).
                    crate::store::checkpoint(&conn)?;
                }
                outbox::pending_count(&conn, user)
            })
            .await?;
        Ok(FlushReport {
            sent: p.sent,
            rejected: p.rejected,
            remaining,
            stopped: stop.map(EcspError::from),
        })
    }

    /// Records, pipelined: while one batch is on the wire, the batch delivered before it is
    /// marked sent and the one after it claimed, in one transaction, so the client's commits
    /// overlap the server's work instead of adding to it. One request at a time: the server
    /// stores batches in the order they were claimed (capture order per device), and a batch
    /// that fails stops the flush before anything claimed after it leaves. Answers why the flush
    /// stopped early, if it did.
    async fn flush_records(
        &self,
        session: &mut StoredSession,
        user: Uuid,
        kinds: &[OutboxKind],
        options: FlushOptions,
        p: &mut FlushProgress,
    ) -> Result<Option<ClientError>> {
        // The person's decisions are read once per flush, after this installation's are
        // delivered and before the first record leaves (its gated parts are judged by them),
        // while the first batch is claimed; read even with nothing to send, for what this app
        // shows and captures next.
        let (ledger, claimed) = tokio::join!(
            self.refresh_consents_with(session),
            self.mark_and_claim(None, user, kinds, options, true),
        );
        let (_, mut next) = claimed?;
        if let Err(e) = ledger {
            if let Some(first) = next.take().filter(|_| e.is_transient()) {
                // As if the batch had failed: it backs off and says why.
                let (reason, code) = (e.to_string(), e.code());
                let Batch {
                    batch, mut guard, ..
                } = first;
                self.blocking_internal(move |core| {
                    outbox::reschedule(&mut core.store.conn(), &batch, &reason, code)
                })
                .await?;
                guard.disarm();
                self.after_request(*p).await?;
            }
            return Ok(Some(e));
        }
        // Delivered, not yet marked sent. A crash before the mark sends it again at the next
        // flush, which the server's idempotency on record ids makes harmless.
        let mut delivered: Option<Batch> = None;
        while let Some(Batch { kind, batch, guard }) = next.take() {
            // The body is built beside the commit too (it takes the database only for gated
            // parts), and after the ledger and the batch before it are settled, as before.
            let (sent, settled) = tokio::join!(
                async {
                    let (batch, body) = self
                        .blocking_internal(move |core| {
                            let body = core.request_body(user, kind, &batch)?;
                            Ok((batch, body))
                        })
                        .await?;
                    Ok::<_, ClientError>((batch, self.post(session, kind, body).await))
                },
                self.mark_and_claim(delivered.take(), user, kinds, options, true),
            );
            let (marked, claimed) = settled?;
            next = claimed;
            if let Some((kind, ids)) = marked {
                self.report_delivered(kind, ids, p).await?;
            }
            let (batch, posted) = sent?;
            match posted {
                Ok(()) => delivered = Some(Batch { kind, batch, guard }),
                Err(e) => {
                    // Settled on its own (split on a refusal, backoff on trouble); `next` waits.
                    let _guard = guard;
                    if let Sent::Stop(e) = self
                        .settle_batch(session, kind, batch, Err(e), p, false)
                        .await?
                    {
                        // `next`'s guard puts it back in the queue.
                        return Ok(Some(e));
                    }
                }
            }
        }
        if let Some(last) = delivered {
            let (marked, _) = self
                .mark_and_claim(Some(last), user, kinds, options, false)
                .await?;
            if let Some((kind, ids)) = marked {
                self.report_delivered(kind, ids, p).await?;
            }
        }
        Ok(None)
    }

    /// Marks `delivered` sent and (if `claim`) claims the next batch, in one transaction. The
    /// claimed rows' guard is made on the blocking thread, so a flush dropped meanwhile still
    /// puts them back.
    async fn mark_and_claim(
        &self,
        delivered: Option<Batch>,
        user: Uuid,
        kinds: &[OutboxKind],
        options: FlushOptions,
        claim: bool,
    ) -> Result<(Option<(OutboxKind, Vec<Uuid>)>, Option<Batch>)> {
        let kinds = if claim { kinds.to_vec() } else { Vec::new() };
        let arc = self.core.clone();
        self.blocking_internal(move |core| {
            let sent = delivered.as_ref().map_or(&[][..], |d| d.batch.as_slice());
            let claimed = outbox::mark_sent_and_claim(
                &mut core.store.conn(),
                sent,
                user,
                &kinds,
                options.batch_size,
                options.ignore_backoff,
            )?;
            let marked = delivered.map(|mut d| {
                d.guard.disarm();
                (d.kind, d.batch.iter().map(|c| c.record_id).collect())
            });
            let next = claimed.map(|(kind, batch)| Batch {
                kind,
                guard: InFlightGuard::new(arc, &batch),
                batch,
            });
            Ok((marked, next))
        })
        .await
    }

    async fn report_delivered(
        &self,
        kind: OutboxKind,
        record_ids: Vec<Uuid>,
        p: &mut FlushProgress,
    ) -> Result<()> {
        p.sent += record_ids.len() as u64;
        self.core.emit(ClientEvent::Delivered { kind, record_ids });
        self.after_request(*p).await
    }

    /// Posts one request body to `kind`'s endpoint; a refusal comes back as the server's
    /// problem.
    async fn post(
        &self,
        session: &mut StoredSession,
        kind: OutboxKind,
        body: Vec<u8>,
    ) -> Result<()> {
        let path = kind.endpoint();
        let response = self
            .authed(session, |http, url, token| {
                http.post(url(path))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body.clone())
            })
            .await?;
        if response.status().is_success() {
            // Read to its end, so the connection goes back to the pool. The upload is stored
            // whatever becomes of the answer's body.
            let _ = response.bytes().await;
            Ok(())
        } else {
            Err(crate::session::problem(response).await)
        }
    }

    fn send_batch<'a>(
        &'a self,
        session: &'a mut StoredSession,
        kind: OutboxKind,
        batch: Vec<Claimed>,
        p: &'a mut FlushProgress,
        ledger_reread: bool,
    ) -> Pin<Box<dyn Future<Output = Result<Sent>> + Send + 'a>> {
        Box::pin(async move {
            let user = session.user_id;
            let (batch, body) = self
                .blocking_internal(move |core| {
                    let body = core.request_body(user, kind, &batch)?;
                    Ok((batch, body))
                })
                .await?;
            let result = self.post(session, kind, body).await;
            self.settle_batch(session, kind, batch, result, p, ledger_reread)
                .await
        })
    }

    /// Settles a batch by the answer to its request: sent; split in halves on a refusal until
    /// the refused record stands alone; back to the queue with a backoff on trouble that may
    /// pass.
    fn settle_batch<'a>(
        &'a self,
        session: &'a mut StoredSession,
        kind: OutboxKind,
        batch: Vec<Claimed>,
        result: Result<()>,
        p: &'a mut FlushProgress,
        ledger_reread: bool,
    ) -> Pin<Box<dyn Future<Output = Result<Sent>> + Send + 'a>> {
        Box::pin(async move {
            match result {
                Ok(()) => {
                    let batch = self
                        .blocking_internal(move |core| {
                            if kind == OutboxKind::Consent {
                                // Into the known ledger first: a crash in between leaves the
                                // decision counted twice, never not at all.
                                let ids: Vec<Uuid> = batch.iter().map(|c| c.record_id).collect();
                                core.ledger_received(&ids)?;
                            }
                            outbox::mark_sent(&mut core.store.conn(), &batch)?;
                            Ok(batch)
                        })
                        .await?;
                    p.sent += batch.len() as u64;
                    self.core.emit(ClientEvent::Delivered {
                        kind,
                        record_ids: batch.iter().map(|c| c.record_id).collect(),
                    });
                    self.after_request(*p).await?;
                    Ok(Sent::Done)
                }
                Err(e) if e.is_transient() => {
                    let (reason, code) = (e.to_string(), e.code());
                    self.blocking_internal(move |core| {
                        outbox::reschedule(&mut core.store.conn(), &batch, &reason, code)
                    })
                    .await?;
                    self.after_request(*p).await?;
                    Ok(Sent::Stop(e))
                }
                Err(ClientError::Server(problem)) if (400..500).contains(&problem.status) => {
                    if batch.len() > 1 {
                        let mut first = batch;
                        let second = first.split_off(first.len() / 2);
                        if let Sent::Stop(e) = self
                            .send_batch(session, kind, first, p, ledger_reread)
                            .await?
                        {
                            // `second` stays claimed until the flush's guard puts it back.
                            return Ok(Sent::Stop(e));
                        }
                        return self
                            .send_batch(session, kind, second, p, ledger_reread)
                            .await;
                    }
                    if problem.code == codes::CONSENT_REQUIRED && kind.is_upload() && !ledger_reread
                    {
                        // Another app of this person withdrew (or never granted) what this
                        // record carries: read the ledger again, which drops the parts it does
                        // not grant, and send the rest once more.
                        if let Err(e) = self.refresh_consents_with(session).await {
                            return Ok(Sent::Stop(e));
                        }
                        return self.send_batch(session, kind, batch, p, true).await;
                    }
                    let reason =
                        format!("{} ({}): {}", problem.title, problem.code, problem.detail);
                    let code = problem.code.clone();
                    let (reason, code, batch) = self
                        .blocking_internal(move |core| {
                            outbox::reject(&mut core.store.conn(), &batch, &reason, &code)?;
                            Ok((reason, code, batch))
                        })
                        .await?;
                    p.rejected += batch.len() as u64;
                    for c in &batch {
                        self.core.emit(ClientEvent::Rejected {
                            record_id: c.record_id,
                            kind,
                            code: code.clone(),
                            reason: reason.clone(),
                        });
                    }
                    self.after_request(*p).await?;
                    Ok(Sent::Done)
                }
                // Not signed in, TLS failure, unexpected answer: nothing is lost (the flush's
                // guard puts the rows back), try later.
                Err(e) => Ok(Sent::Stop(e)),
            }
        })
    }

    async fn after_request(&self, progress: FlushProgress) -> Result<()> {
        self.core.emit(ClientEvent::FlushProgress { progress });
        if self.core.events.receiver_count() > 0 {
            self.blocking_internal(|core| {
                core.queue_changed();
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        for attempts in 0..40 {
            let exp = (BASE_BACKOFF_MS << attempts.min(20)).min(MAX_BACKOFF_SECS * 1000);
            for _ in 0..50 {
                let d = backoff_ms(attempts);
                assert!(
                    d >= exp / 2 && d <= exp,
                    "attempt {attempts}: {d} not in [{}, {exp}]",
                    exp / 2
                );
            }
        }
        assert!(backoff_ms(0) <= 1000);
        assert!(backoff_ms(100) <= MAX_BACKOFF_SECS * 1000);
    }
}
