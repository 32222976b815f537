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
//! SQLite's single writer already commits concurrent writes together (`db::sqlite`), so there
//! each upload is its own write, as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    hub: Arc<Hub>,
}

impl Queue {
    /// The next batch into `batch`: what has queued, taken once there is something and fewer
    /// batches are being stored than this node keeps in flight (see the module's doc); while it
    /// waits for that, more joins. `false` when the senders are gone and nothing is left.
    async fn take(&self, batch: &mut Vec<(Upload, Answer)>) -> bool {
        let mut uploads = self.uploads.lock().await;
        if uploads.recv_many(batch, MAX_BATCH).await == 0 {
            return false;
        }
        let in_flight = if self.hub.other_nodes() == 0 {
            WORKERS
        } else {
            1
        };
        let mut open = true;
        loop {
            // Registered before `storing` is read, so a batch stored in between is not missed.
            let stored = self.stored.notified();
            tokio::pin!(stored);
            stored.as_mut().enable();
            if self.storing.load(Ordering::Acquire) < in_flight {
                break;
            }
            let room = MAX_BATCH - batch.len();
            tokio::select! {
                // Cancel-safe: nothing is taken from the channel if the other branch wins.
                n = uploads.recv_many(batch, room), if open && room > 0 => open = n > 0,
                () = &mut stored => {}
            }
        }
        self.storing.fetch_add(1, Ordering::AcqRel);
        true
    }

    fn done(&self) {
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
        let stored = db.write(move |c| records::store_uploads(c, &shared)).await;
        queue.done();
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
