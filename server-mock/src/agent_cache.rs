//! Agents send continuously, and looking their secret up in the database for every upload cost
//! about an eighth of the server's CPU in the ingest profile (a blocking-pool hop, a pooled
//! connection and a query). A secret that authenticated is remembered for [`TTL`], by its hash.
//!
//! Nothing in the API disables or deletes an agent; if that changes, call [`AgentCache::clear`]
//! where it happens. Until then an agent disabled in the database directly is refused within
//! [`TTL`]. Refused secrets are never remembered, so they are checked (and audited) every time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::devices::AgentPrincipal;

/// How long an authenticated agent secret is trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(60);
/// Most secrets remembered; past it the cache starts again empty.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct AgentCache {
    entries: Mutex<HashMap<[u8; 32], (AgentPrincipal, Instant)>>,
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

    pub fn insert(&self, secret_hash: [u8; 32], agent: AgentPrincipal) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(secret_hash, (agent, Instant::now()));
    }

    /// Forgets every secret (for when an agent is disabled or removed).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
