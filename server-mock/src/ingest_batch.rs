//! Uploads committed many to a transaction on PostgreSQL.
//!
//! On PostgreSQL an upload in a transaction of its own costs four round trips to the database
//! (BEGIN, the record, its audit row, COMMIT) and as many statements for the database to run;
//! at the ingest benchmark's load that, not the disk, bounds the rate. So uploads whose devices
//! are already resolved queue here, and a few workers each take what has queued (up to
//! [`MAX_BATCH`] uploads) and store it with [`records::store_uploads`]: the same answers, in a
//! handful of multi-row statements and one commit. While one batch commits the next gathers, so
//! under load the batches grow by themselves and a lone upload waits for nobody.
//!
//! A node alone keeps [`WORKERS`] batches in flight; a node of a service of several keeps one
//! (it hears of the others through `remote::peers`). Each transaction in flight is another
//! writer on the same index pages of the one database the nodes share: in the cluster
//! benchmark (64 clients over HAProxy to nodes on one 2-core machine), two batches in flight
//! per node cost 1.51 (2 nodes) and 1.72 (3 nodes) times the CPU per upload of one node reached
//! directly (one round); one per node 1.21 and 1.39 times (medians of three).
//!
//! Beyond [`WORKERS`] nodes, one batch per node is still more writers than one node keeps, and
//! smaller batches: each node then paces itself so that the service as a whole keeps about
//! [`WORKERS`] in flight. After a commit that took `t`, a node of `n` waits `t × (n − W) / W`
//! (`W` = [`WORKERS`]; at most [`MAX_PACE`]) before it takes its next batch, gathering
//! meanwhile; a full batch is taken at once, so pacing never caps the rate. A node needs nobody
//! else's word for this: each is busy `W / n` of the time, and the service `W` batches at a time
//! on average. With 3 nodes the cluster benchmark's batches went from 10 uploads to 15 (the
//! direct node's size) and the CPU per upload from 1.31 to 1.15–1.22 times the direct node's.
//!
//! SQLite's single writer already commits concurrent writes together (`db::sqlite`), so there
//! each upload is its own write, as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ecsp_protocol::upload::UploadReceipt;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::db::{Database, StoreError};
use crate::error::ApiError;
use crate::remote::Hub;
use crate::store::records::{self, Upload};

/// Most uploads stored in one transaction.
const MAX_BATCH: usize = 128;
/// Batches being stored at once (each holds one database session while it commits). Two, so
/// that one batch gathers while the other commits: in the ingest benchmark (256 clients) two
/// workers of up to 128 uploads served 17,300 uploads/s, two of 256 15,600, four of 64 14,100,
/// eight of 64 10,800 (each more statements for fewer rows), and one of 256 7,300 (nothing
/// gathers while it commits).
const WORKERS: usize = 2;

type Answer = oneshot::Sender<Result<UploadReceipt, ApiError>>;

/// Where an upload with resolved devices is stored: straight through on SQLite, in batches on
/// PostgreSQL.
#[derive(Debug)]
pub struct IngestBatches {
    db: Database,
    queue: Option<mpsc::Sender<(Upload, Answer)>>,
}

impl IngestBatches {
    /// Starts the workers when `db` is PostgreSQL (call inside the runtime); `hub` tells how
    /// many other server nodes there are.
    pub fn new(db: &Database, hub: Arc<Hub>) -> Self {
        let queue = matches!(db, Database::Postgres(_)).then(|| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * WORKERS * 4);
            let queue = Arc::new(Queue {
                uploads: Mutex::new(rx),
                storing: AtomicUsize::new(0),
                stored: Notify::new(),
                last_commit: std::sync::Mutex::new(None),
                hub,
            });
            for _ in 0..WORKERS {
                tokio::spawn(worker(db.clone(), queue.clone()));
            }
            tx
        });
        Self {
            db: db.clone(),
            queue,
        }
    }

    /// Stores `upload` (or finds it stored); answers once it is durably committed.
    pub async fn store(&self, upload: Upload) -> Result<UploadReceipt, ApiError> {
        let Some(queue) = &self.queue else {
            return store_alone(&self.db, upload).await;
        };
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError((upload, _))) = queue.send((upload, answer)).await {
            return store_alone(&self.db, upload).await;
        }
        answered.await.unwrap_or_else(|_| {
            Err(ApiError::Store(StoreError::Task(
                "the upload's batch was dropped unanswered".into(),
            )))
        })
    }
}

async fn store_alone(db: &Database, upload: Upload) -> Result<UploadReceipt, ApiError> {
    db.write(move |c| records::store_upload(c, &upload)).await
}

/// The uploads waiting, and the batches being stored.
struct Queue {
    uploads: Mutex<mpsc::Receiver<(Upload, Answer)>>,
    storing: AtomicUsize,
    /// Told when a batch has been stored.
    stored: Notify,
    /// When the last batch was stored, and how long its write took (for the pacing of a
    /// service of many nodes, see the module's doc).
    last_commit: std::sync::Mutex<Option<(Instant, Duration)>>,
    hub: Arc<Hub>,
}

/// The longest a node paces itself after a commit: a commit slowed by a stalled database must
/// not hold the next batch back for long.
const MAX_PACE: Duration = Duration::from_millis(20);

/// When a node of `nodes` may take its next batch after a write that ended at `done` and took
/// `took`: at once unless the service has more nodes than [`WORKERS`] (see the module's doc).
fn paced_until(nodes: usize, done: Instant, took: Duration) -> Instant {
    let extra = nodes.saturating_sub(WORKERS) as u32;
    done + (took * extra / WORKERS as u32).min(MAX_PACE)
}

impl Queue {
    /// The next batch into `batch`: what has queued, taken once there is something, fewer
    /// batches are being stored than this node keeps in flight and its pacing allows (see the
    /// module's doc); while it waits for that, more joins. `false` when the senders are gone and
    /// nothing is left.
    async fn take(&self, batch: &mut Vec<(Upload, Answer)>) -> bool {
        let mut uploads = self.uploads.lock().await;
        if uploads.recv_many(batch, MAX_BATCH).await == 0 {
            return false;
        }
        let nodes = self.hub.other_nodes() + 1;
        let in_flight = if nodes == 1 { WORKERS } else { 1 };
        let mut open = true;
        loop {
            // Registered before `storing` is read, so a batch stored in between is not missed.
            let stored = self.stored.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            let room = MAX_BATCH - batch.len();
            if self.storing.load(Ordering::Acquire) < in_flight {
                let last = *self.last_commit.lock().unwrap_or_else(|p| p.into_inner());
                let until = last.map(|(done, took)| paced_until(nodes, done, took));
                match until {
                    Some(until) if open && room > 0 && Instant::now() < until => {
                        tokio::select! {
                            n = uploads.recv_many(batch, room) => open = n > 0,
                            () = tokio::time::sleep_until(until.into()) => {}
                        }
                    }
                    _ => break,
                }
                continue;
            }
            tokio::select! {
                // Cancel-safe: nothing is taken from the channel if the other branch wins.
                n = uploads.recv_many(batch, room), if open && room > 0 => open = n > 0,
                () = &mut stored => {}
            }
        }
        self.storing.fetch_add(1, Ordering::AcqRel);
        true
    }

    fn done(&self, took: Duration) {
        *self.last_commit.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), took));
        self.storing.fetch_sub(1, Ordering::AcqRel);
        self.stored.notify_waiters();
    }
}

/// Takes what has queued and stores it, until the queue's sender is gone.
async fn worker(db: Database, queue: Arc<Queue>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.take(&mut batch).await {
        let (uploads, answers): (Vec<Upload>, Vec<Answer>) = batch.drain(..).unzip();
        let uploads = Arc::new(uploads);
        let shared = uploads.clone();
        let started = Instant::now();
        let stored = db.write(move |c| records::store_uploads(c, &shared)).await;
        queue.done(started.elapsed());
        match stored {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            // Nothing was committed and the database is away: each caller is told so (503).
            Err(ApiError::Store(e)) if e.is_unavailable() => {
                let why = match e {
                    StoreError::Unavailable(why) => why,
                    other => other.to_string(),
                };
                for answer in answers {
                    let _ = answer.send(Err(ApiError::Store(StoreError::Unavailable(why.clone()))));
                }
            }
            // Nothing was committed: each upload is stored on its own, for its own answer (a
            // race with another writer over a record id, or one upload the batch could not
            // hold).
            Err(e) => match Arc::try_unwrap(uploads) {
                Ok(uploads) => {
                    for (upload, answer) in uploads.into_iter().zip(answers) {
                        let _ = answer.send(store_alone(&db, upload).await);
                    }
                }
                // The write's closure has returned, so this is not expected; should it happen,
                // the batch's error is everyone's, and nothing of it was stored.
                Err(_) => {
                    let why = e.to_string();
                    for answer in answers {
                        let _ = answer.send(Err(ApiError::Store(StoreError::Task(why.clone()))));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_service_of_more_nodes_than_workers_paces_itself_and_never_for_long() {
        let done = Instant::now();
        let took = Duration::from_millis(4);
        assert_eq!(paced_until(1, done, took), done);
        assert_eq!(paced_until(WORKERS, done, took), done);
        assert_eq!(paced_until(3, done, took), done + Duration::from_millis(2));
        assert_eq!(paced_until(6, done, took), done + Duration::from_millis(8));
        assert_eq!(
            paced_until(3, done, Duration::from_secs(5)),
            done + MAX_PACE
        );
    }
}
