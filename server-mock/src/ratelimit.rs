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
//! id. The state is in memory and bounded; a restart forgets it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
