//! Delivery of the outbox: consent decisions first (the server judges gated parts by them), then
//! records in batches of one kind, oldest first, capture order kept per device.
//!
//! * Success: the batch is `sent` and its bodies erased.
//! * A refusal the server gives for the content (4xx): the batch is split in halves until the
//!   refused record stands alone; it becomes `rejected` with the server's reason; the rest go on.
//! * Trouble that may pass (network, 429, 5xx): the batch goes back to `queued` with an
//!   exponential backoff with jitter, capped at [`MAX_BACKOFF_SECS`], and the flush stops.
//! * 401: one transparent refresh (in [`EcspClient::authed`]); if that fails the flush stops and
//!   nothing is lost.

use std::future::Future;
use std::pin::Pin;

use ecsp_protocol::PROTOCOL_VERSION;
use rusqlite::params;
use serde::Serialize;

use crate::EcspClient;
use crate::error::{ClientError, Result};
use crate::outbox::{Claimed, claim};

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
}

impl Default for FlushOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            ignore_backoff: false,
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

#[derive(Debug, Default, Serialize)]
pub struct FlushReport {
    pub sent: u64,
    pub rejected: u64,
    /// Still waiting (backing off, or the flush stopped early).
    pub remaining: u64,
    /// Why the flush stopped before the queue was empty, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    #[serde(skip)]
    pub stop_error: Option<ClientError>,
}

enum Sent {
    Done,
    /// Stop flushing: the server is unreachable or the session is gone.
    Stop(ClientError),
}

fn endpoint(kind: &str) -> &'static str {
    match kind {
        "dfe" => "/api/v1/uploads/dfe",
        "measurement" => "/api/v1/uploads/measurements",
        _ => "/api/v1/consents",
    }
}

/// The JSON field of a record that each purpose gates.
fn gated_field(purpose: ecsp_protocol::consent::Purpose) -> &'static str {
    use ecsp_protocol::consent::Purpose;
    match purpose {
        Purpose::JobInfo => "job",
        Purpose::Gps => "gps",
        Purpose::Photos => "photos",
    }
}

impl EcspClient {
    fn pending_count(&self, user: uuid::Uuid) -> Result<u64> {
        let n: i64 = self.store.conn().query_row(
            "SELECT COUNT(*) FROM outbox WHERE user_id = ?1 AND state IN ('queued', 'in_flight')",
            [user.to_string()],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Sends what waits in the outbox for the signed-in user. `progress` is called after each
    /// request.
    pub async fn flush(
        &self,
        options: FlushOptions,
        progress: &(dyn Fn(FlushProgress) + Send + Sync),
    ) -> Result<FlushReport> {
        let user = self.current_user()?;
        let batch_size = options
            .batch_size
            .clamp(1, ecsp_protocol::limits::RECORDS_PER_UPLOAD);
        let mut p = FlushProgress {
            total: self.pending_count(user)?,
            ..FlushProgress::default()
        };
        let mut stop = None;
        'outer: for kinds in [&["consent"][..], &["dfe", "measurement"][..]] {
            loop {
                let max = if kinds[0] == "consent" { 1 } else { batch_size };
                let (kind, batch) = {
                    let mut conn = self.store.conn();
                    claim(&mut conn, user, kinds, max, options.ignore_backoff)?
                };
                if batch.is_empty() {
                    break;
                }
                match self.send_batch(&kind, batch, &mut p, progress).await? {
                    Sent::Done => {}
                    Sent::Stop(e) => {
                        stop = Some(e);
                        break 'outer;
                    }
                }
            }
        }
        self.prune_delivered()?;
        Ok(FlushReport {
            sent: p.sent,
            rejected: p.rejected,
            remaining: self.pending_count(user)?,
            stopped: stop.as_ref().map(ToString::to_string),
            stop_error: stop,
        })
    }

    fn send_batch<'a>(
        &'a self,
        kind: &'a str,
        batch: Vec<Claimed>,
        p: &'a mut FlushProgress,
        progress: &'a (dyn Fn(FlushProgress) + Send + Sync),
    ) -> Pin<Box<dyn Future<Output = Result<Sent>> + Send + 'a>> {
        Box::pin(async move {
            let body = self.request_body(kind, &batch)?;
            let path = endpoint(kind);
            let result = self
                .authed(|http, url, token| {
                    http.post(url(path))
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                })
                .await;
            let result = match result {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(crate::session::problem(r).await),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.mark_sent(&batch)?;
                    p.sent += batch.len() as u64;
                    progress(*p);
                    Ok(Sent::Done)
                }
                Err(e) if e.is_transient() => {
                    self.reschedule(&batch, &e)?;
                    Ok(Sent::Stop(e))
                }
                Err(ClientError::Server(problem)) if (400..500).contains(&problem.status) => {
                    if batch.len() > 1 {
                        let mut first = batch;
                        let second = first.split_off(first.len() / 2);
                        if let Sent::Stop(e) = self.send_batch(kind, first, p, progress).await? {
                            self.requeue(&second)?;
                            return Ok(Sent::Stop(e));
                        }
                        return self.send_batch(kind, second, p, progress).await;
                    }
                    let reason =
                        format!("{} ({}): {}", problem.title, problem.code, problem.detail);
                    self.reject(&batch, &reason)?;
                    p.rejected += 1;
                    progress(*p);
                    Ok(Sent::Done)
                }
                Err(e) => {
                    // Not signed in, TLS failure, unexpected answer: nothing is lost, try later.
                    self.requeue(&batch)?;
                    Ok(Sent::Stop(e))
                }
            }
        })
    }

    /// The request body: consent decisions go one per request; records as an upload with their
    /// still-consented gated parts put back in.
    fn request_body(&self, kind: &str, batch: &[Claimed]) -> Result<Vec<u8>> {
        if kind == "consent" {
            return Ok(batch
                .first()
                .map(|c| c.body.clone().into_bytes())
                .unwrap_or_default());
        }
        // Bodies are stored as the canonical JSON of a record; only those with gated parts to
        // put back are parsed, the rest are spliced in as they are.
        let opener = if batch.iter().any(|c| c.has_gated) {
            Some(self.gated_opener()?)
        } else {
            None
        };
        let mut out = format!("{{\"schema_version\":{PROTOCOL_VERSION},\"records\":[").into_bytes();
        for (i, c) in batch.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let parts = match &opener {
                Some(opener) if c.has_gated => self.gated_parts(opener, c.record_id)?,
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

    /// Forgets delivered entries after [`KEEP_DELIVERED_DAYS`] (their bodies are already erased;
    /// only the delivery record is kept for `queue list`).
    fn prune_delivered(&self) -> Result<usize> {
        let cutoff = crate::now_ms() - KEEP_DELIVERED_DAYS * 86_400_000;
        Ok(self.store.conn().execute(
            "DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?1",
            [cutoff],
        )?)
    }

    fn mark_sent(&self, batch: &[Claimed]) -> Result<()> {
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'sent', body = NULL, sent_at = ?2, last_error = NULL WHERE id = ?1",
            )?;
            let mut gated = tx.prepare_cached("DELETE FROM outbox_gated WHERE record_id = ?1")?;
            let now = crate::now_ms();
            for c in batch {
                stmt.execute(params![c.id, now])?;
                gated.execute([c.record_id.to_string()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn reject(&self, batch: &[Claimed], reason: &str) -> Result<()> {
        let conn = self.store.conn();
        for c in batch {
            conn.execute(
                "UPDATE outbox SET state = 'rejected', last_error = ?2, attempts = attempts + 1 WHERE id = ?1",
                params![c.id, reason],
            )?;
        }
        Ok(())
    }

    fn reschedule(&self, batch: &[Claimed], error: &ClientError) -> Result<()> {
        let mut conn = self.store.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'queued', attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?;
            let mut attempts_of = tx.prepare_cached("SELECT attempts FROM outbox WHERE id = ?1")?;
            for c in batch {
                let attempts: i64 = attempts_of.query_row([c.id], |r| r.get(0))?;
                let next = crate::now_ms() + backoff_ms(attempts.clamp(0, 30) as u32) as i64;
                stmt.execute(params![c.id, next, error.to_string()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn requeue(&self, batch: &[Claimed]) -> Result<()> {
        let conn = self.store.conn();
        for c in batch {
            conn.execute("UPDATE outbox SET state = 'queued' WHERE id = ?1", [c.id])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_entries_are_forgotten_after_the_retention_period() {
        let dir = tempfile::tempdir().unwrap();
        let client = EcspClient::open(
            &crate::ClientConfig {
                server: "https://localhost:8443".into(),
                ca_file: None,
                data_dir: dir.path().to_owned(),
            },
            std::sync::Arc::new(crate::secrets::MemorySecretStore::default()),
        )
        .unwrap();
        let now = crate::now_ms();
        let day = 86_400_000;
        for (id, state, sent_at) in [
            ("a", "sent", now - 31 * day),
            ("b", "sent", now - day),
            ("c", "queued", 0),
        ] {
            client
                .store
                .conn()
                .execute(
                    "INSERT INTO outbox (record_id, user_id, kind, captured_at, state, sent_at) VALUES (?1, 'u', 'dfe', 0, ?2, ?3)",
                    rusqlite::params![id, state, sent_at],
                )
                .unwrap();
        }
        assert_eq!(client.prune_delivered().unwrap(), 1);
        let left: Vec<String> = client
            .store
            .conn()
            .prepare("SELECT record_id FROM outbox ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, vec!["b", "c"]);
    }

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
