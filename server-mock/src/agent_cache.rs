//! Agents send continuously, and looking their secret up in the database for every upload cost
//! about an eighth of the server's CPU in the ingest profile (a blocking-pool hop, a pooled
//! connection and a query). A secret that authenticated is remembered for [`TTL`], by its hash.
//!
//! An agent disabled, deleted or given a new secret through the server (API, portal) is
//! forgotten at once with [`AgentCache::forget`]. A lookup that raced with such a change (it read
//! the database before the change committed) must not put the old answer back: each change
//! moves a generation on, and [`AgentCache::insert`] keeps an answer only if no change happened
//! since the lookup began. A change made to the database by another process (the
//! `ecsp-server agents` command) reaches a running server within [`TTL`]. Refused secrets are
//! never remembered, so they are checked (and audited) every time.
//!
//! The cache also decides when an agent's last-seen time is written: at most once per
//! [`SEEN_EVERY`] per agent, so listing agents with it costs the upload path nearly nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::devices::AgentPrincipal;

/// How long an authenticated agent secret is trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(60);
/// How often an agent's last-seen time is written at most.
pub const SEEN_EVERY: Duration = Duration::from_secs(60);
/// Most secrets (and last-seen times) remembered; past it the map starts again empty.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct AgentCache {
    entries: Mutex<HashMap<[u8; 32], (AgentPrincipal, Instant)>>,
    /// Moves on with every change to an agent's credentials.
    generation: AtomicU64,
    /// When each agent's last-seen time was last written, by agent row id.
    seen: Mutex<HashMap<i64, Instant>>,
}

impl AgentCache {
    /// The agent whose secret has this hash, if it authenticated within [`TTL`].
    pub fn get(&self, secret_hash: &[u8; 32]) -> Option<AgentPrincipal> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(secret_hash)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(agent, _)| agent.clone())
    }

    /// To take before a lookup in the database, and give to [`insert`](Self::insert).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Remembers a lookup begun at `generation`, unless credentials changed since.
    pub fn insert(&self, generation: u64, secret_hash: [u8; 32], agent: AgentPrincipal) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the lock `forget` takes too: a change is either seen here or clears
        // this entry after it is inserted.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(secret_hash, (agent, Instant::now()));
    }

    /// Forgets every secret of this agent (it was disabled, deleted or given a new secret).
    pub fn forget(&self, agent: Uuid) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.retain(|_, (a, _)| a.public_id != agent);
    }

    /// Whether the agent's last-seen time should be written now (and, if so, notes it is).
    pub fn seen_due(&self, agent_id: i64) -> bool {
        self.seen_due_at(agent_id, Instant::now())
    }

    fn seen_due_at(&self, agent_id: i64, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen
            .get(&agent_id)
            .is_some_and(|at| now.duration_since(*at) < SEEN_EVERY)
        {
            return false;
        }
        if seen.len() >= MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(agent_id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(public_id: Uuid) -> AgentPrincipal {
        AgentPrincipal {
            id: 1,
            public_id,
            org_id: 1,
            agent_type: ecsp_protocol::agent::AgentType::DcAgent,
        }
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_remembered() {
        let cache = AgentCache::default();
        let id = Uuid::new_v4();
        let begun = cache.generation();
        cache.forget(id);
        cache.insert(begun, [1; 32], agent(id));
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert(cache.generation(), [1; 32], agent(id));
        assert!(cache.get(&[1; 32]).is_some());
        cache.forget(Uuid::new_v4());
        assert!(cache.get(&[1; 32]).is_some(), "another agent's change");
        cache.forget(id);
        assert!(cache.get(&[1; 32]).is_none());
    }

    #[test]
    fn last_seen_is_due_once_a_minute() {
        let cache = AgentCache::default();
        let start = Instant::now();
        assert!(cache.seen_due_at(7, start));
        assert!(!cache.seen_due_at(7, start + Duration::from_secs(59)));
        assert!(cache.seen_due_at(8, start));
        assert!(cache.seen_due_at(7, start + SEEN_EVERY));
    }
}
