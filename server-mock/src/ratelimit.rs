//! Per-account limit on sign-in attempts, with a separate budget for the owner's known
//! installations.
//!
//! Policy (documented in the README): each account name — known or not, so the answer never
//! tells which — has a bucket of [`BURST`] attempts that refills one attempt every
//! [`REFILL_SECS`] seconds. An attempt takes a token *before* the password is checked, so
//! parallel guesses cannot exceed the bucket; a successful sign-in refills it. Past the limit the
//! server answers 429 with `Retry-After` (at most `REFILL_SECS`), without checking the password.
//!
//! A bucket shared by everyone is a lock an attacker can hold: one wrong guess per refill keeps
//! the owner out. So, as OWASP's guidance on lockout suggests (device cookies), a sign-in that
//! carries the id of an installation which signed in to this account before draws on a bucket
//! of its own ([`installation_bucket`]); guesses from anywhere else cannot drain it. Guessing
//! remains bounded to `BURST` per `REFILL_SECS` per account for anyone who does not hold such an
//! id.
//!
//! Where the buckets are kept follows from the engine ([`SigninBudgets`]). On PostgreSQL they are
//! rows of the database (`signin_budgets`): several server nodes behind one address spend one
//! budget per account, and a restart forgets none. Each is one integer, the generic cell rate
//! algorithm's "theoretical arrival time" (the bucket is full once it is past), so that taking
//! an attempt is one upsert that succeeds only while the bucket holds one, the row lock
//! ordering attempts from every node. On SQLite there is one server process by construction,
//! and its buckets stay in its memory ([`LoginLimiter`]): a sign-in must not queue behind the
//! single writer's group commit, which would make it slower under load and a refusal's timing
//! depend on the writer (a restart forgets them there).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::db::{Database, StoreError};
use crate::sql::{Connection, OptionalExtension, params};

pub const BURST: f64 = 10.0;
pub const REFILL_SECS: u64 = 30;
/// Most accounts tracked at once; beyond it the fullest buckets are forgotten first.
const MAX_TRACKED: usize = 100_000;

/// The bucket of one known installation of an account (keyed hash of the installation id).
pub fn installation_bucket(account: [u8; 32], installation: [u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"known installation\0");
    h.update(account);
    h.update(installation);
    h.finalize().into()
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, Default)]
pub struct LoginLimiter {
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

impl LoginLimiter {
    fn refilled(b: Bucket, now: Instant) -> Bucket {
        let gained = now.duration_since(b.updated).as_secs_f64() / REFILL_SECS as f64;
        Bucket {
            tokens: (b.tokens + gained).min(BURST),
            updated: now,
        }
    }

    /// Takes one attempt for `account`; `Err(wait)` if none is left.
    pub fn try_acquire(&self, account: [u8; 32]) -> Result<(), Duration> {
        self.try_acquire_at(account, Instant::now())
    }

    fn try_acquire_at(&self, account: [u8; 32], now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&account) {
            buckets.retain(|_, b| Self::refilled(*b, now).tokens < BURST);
            if buckets.len() >= MAX_TRACKED {
                // Still full of live attacks: drop an arbitrary half rather than grow without bound.
                let mut kept = 0;
                buckets.retain(|_, _| {
                    kept += 1;
                    kept <= MAX_TRACKED / 2
                });
            }
        }
        let bucket = buckets.entry(account).or_insert(Bucket {
            tokens: BURST,
            updated: now,
        });
        *bucket = Self::refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * REFILL_SECS as f64;
            Err(Duration::from_secs_f64(wait.ceil().max(1.0)))
        }
    }

    /// A correct password: the account's bucket is full again.
    pub fn succeeded(&self, account: [u8; 32]) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.remove(&account);
    }
}

/// Milliseconds for one attempt to come back.
const INTERVAL_MS: i64 = REFILL_SECS as i64 * 1000;
/// How far ahead of now a bucket's arrival time may run: a full bucket allows `BURST` at once.
const TOLERANCE_MS: i64 = (BURST as i64 - 1) * INTERVAL_MS;

/// Takes one attempt from `bucket` at `now` (Unix ms), inside the caller's write; `Ok(Err(wait))`
/// when none is left.
pub fn take(
    conn: &Connection,
    bucket: [u8; 32],
    now: i64,
) -> Result<Result<(), Duration>, StoreError> {
    let taken = conn.execute(
        "INSERT INTO signin_budgets (bucket, tat) VALUES (?1, ?3)
         ON CONFLICT (bucket) DO UPDATE
             SET tat = (CASE WHEN signin_budgets.tat > ?2 THEN signin_budgets.tat ELSE ?2 END) + ?4
             WHERE signin_budgets.tat <= ?5",
        params![
            bucket,
            now,
            now + INTERVAL_MS,
            INTERVAL_MS,
            now + TOLERANCE_MS
        ],
    )?;
    if taken == 1 {
        return Ok(Ok(()));
    }
    let tat: Option<i64> = conn
        .query_row(
            "SELECT tat FROM signin_budgets WHERE bucket = ?1",
            params![bucket],
            |r| r.get(0),
        )
        .optional()?;
    let wait_ms = tat.map_or(0, |t| t - TOLERANCE_MS - now);
    let wait_secs = (wait_ms as f64 / 1000.0)
        .ceil()
        .clamp(1.0, REFILL_SECS as f64);
    Ok(Err(Duration::from_secs_f64(wait_secs)))
}

/// A correct password: `bucket` is full again.
pub fn refill(conn: &Connection, bucket: [u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM signin_budgets WHERE bucket = ?1",
        params![bucket],
    )?;
    Ok(())
}

/// Forgets the buckets that have filled up again (they are as good as absent); returns how many.
pub fn forget_full(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM signin_budgets WHERE tat <= ?1", [now])?)
}

/// The sign-in buckets of this service: in this process on SQLite, in the database on
/// PostgreSQL (see the module's documentation).
#[derive(Debug)]
pub enum SigninBudgets {
    Memory(LoginLimiter),
    Shared(Database),
}

impl SigninBudgets {
    pub fn for_database(db: &Database) -> Self {
        match db {
            Database::Sqlite(_) => Self::Memory(LoginLimiter::default()),
            Database::Postgres(_) => Self::Shared(db.clone()),
        }
    }

    /// Takes one attempt from `bucket`; `Ok(Err(wait))` when none is left.
    pub async fn take(&self, bucket: [u8; 32]) -> Result<Result<(), Duration>, StoreError> {
        match self {
            Self::Memory(limiter) => Ok(limiter.try_acquire(bucket)),
            Self::Shared(db) => {
                let now = crate::store::now_ms();
                db.write(move |c| take(c, bucket, now)).await
            }
        }
    }

    /// A correct password: `bucket` is full again.
    pub async fn refill(&self, bucket: [u8; 32]) -> Result<(), StoreError> {
        match self {
            Self::Memory(limiter) => {
                limiter.succeeded(bucket);
                Ok(())
            }
            Self::Shared(db) => db.write(move |c| refill(c, bucket)).await,
        }
    }

    /// Forgets the buckets that have filled up again (the database's; memory bounds itself).
    pub async fn forget_full(&self) -> Result<usize, StoreError> {
        match self {
            Self::Memory(_) => Ok(0),
            Self::Shared(db) => {
                let now = crate::store::now_ms();
                db.write(move |c| forget_full(c, now)).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Database;

    #[test]
    fn burst_then_one_per_refill_period() {
        let limiter = LoginLimiter::default();
        let start = Instant::now();
        let key = [1u8; 32];
        for _ in 0..BURST as usize {
            assert!(limiter.try_acquire_at(key, start).is_ok());
        }
        let wait = limiter.try_acquire_at(key, start).unwrap_err();
        assert!(
            wait.as_secs() <= REFILL_SECS && wait.as_secs() >= 1,
            "{wait:?}"
        );
        // Another account is unaffected.
        assert!(limiter.try_acquire_at([2u8; 32], start).is_ok());
        // After one refill period, exactly one more attempt.
        let later = start + Duration::from_secs(REFILL_SECS);
        assert!(limiter.try_acquire_at(key, later).is_ok());
        assert!(limiter.try_acquire_at(key, later).is_err());
        limiter.succeeded(key);
        assert!(limiter.try_acquire_at(key, later).is_ok());
    }

    async fn attempt(db: &Database, bucket: [u8; 32], now: i64) -> Result<(), Duration> {
        db.write(move |c| take(c, bucket, now)).await.unwrap()
    }

    #[tokio::test]
    async fn database_buckets_burst_then_one_per_refill_period() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("budgets.sqlite3")).unwrap();
        let start = 1_700_000_000_000;
        let key = [1u8; 32];
        for _ in 0..BURST as usize {
            assert!(attempt(&db, key, start).await.is_ok());
        }
        let wait = attempt(&db, key, start).await.unwrap_err();
        assert_eq!(wait.as_secs(), REFILL_SECS, "a whole period until the next");
        // Another account is unaffected.
        assert!(attempt(&db, [2u8; 32], start).await.is_ok());
        // Part of a period later, part of it to wait; after one period, exactly one more attempt.
        let wait = attempt(&db, key, start + 12_000).await.unwrap_err();
        assert_eq!(wait.as_secs(), REFILL_SECS - 12);
        let later = start + INTERVAL_MS;
        assert!(attempt(&db, key, later).await.is_ok());
        assert!(attempt(&db, key, later).await.is_err());
        db.write(move |c| refill(c, key)).await.unwrap();
        assert!(attempt(&db, key, later).await.is_ok());
        // Long idle: full again, and forgotten by the sweep.
        let idle = later + BURST as i64 * INTERVAL_MS;
        let forgotten = db.write(move |c| forget_full(c, idle)).await.unwrap();
        assert_eq!(forgotten, 2, "both buckets were full again");
        for _ in 0..BURST as usize {
            assert!(attempt(&db, key, idle).await.is_ok());
        }
        assert!(attempt(&db, key, idle).await.is_err());
    }
}
