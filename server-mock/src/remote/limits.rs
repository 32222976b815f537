//! What one network address may cost the broker: open MQTT connections, and CONNECTs with
//! wrong credentials.
//!
//! Policy (documented in the README):
//! * at most [`MAX_CONNECTIONS_PER_ADDRESS`] MQTT connections from one address at once; one more
//!   is closed right after its TLS handshake. Agents of one site behind a NAT share an address,
//!   and each agent holds one connection, so the limit is well above a site's agent count.
//! * each address has a budget of [`FAILED_CONNECT_BURST`] failed CONNECTs, refilled by one
//!   every [`FAILED_CONNECT_REFILL`]. With the budget spent, every CONNECT from that address is
//!   answered CONNACK 3 ("server unavailable", so agents retry later rather than think their
//!   secret wrong) without its credentials being checked: guessing is bounded to one try per
//!   refill. A correct secret does not refill it (an agent on the same NAT as a guesser must not
//!   reopen the guesser's budget).
//!
//! Not `ratelimit::LoginLimiter`: it takes a token before the check (so a burst of good agents
//! reconnecting after a restart would be refused) and is tuned for sign-in. The state is in
//! memory and bounded; a restart forgets it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;
pub const FAILED_CONNECT_BURST: f64 = 10.0;
pub const FAILED_CONNECT_REFILL: Duration = Duration::from_secs(30);
/// Most addresses whose failures are remembered; past it, those with a full budget go first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Budget {
    left: f64,
    updated: Instant,
}

impl Budget {
    fn refilled(self, now: Instant) -> Self {
        let gained =
            now.duration_since(self.updated).as_secs_f64() / FAILED_CONNECT_REFILL.as_secs_f64();
        Self {
            left: (self.left + gained).min(FAILED_CONNECT_BURST),
            updated: now,
        }
    }
}

#[derive(Debug)]
pub struct AddressLimits {
    /// Most connections one address may hold open (`Config::mqtt_connections_per_address`).
    max_open: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    failures: Mutex<HashMap<IpAddr, Budget>>,
}

impl Default for AddressLimits {
    fn default() -> Self {
        Self::new(MAX_CONNECTIONS_PER_ADDRESS)
    }
}

/// One open connection of an address; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<AddressLimits>,
    addr: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.addr) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

impl AddressLimits {
    /// At most `max_open` connections per address.
    pub fn new(max_open: usize) -> Self {
        Self {
            max_open,
            open: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// A place for one more connection from `addr`, if it has fewer than the limit open.
    pub fn connection(self: &Arc<Self>, addr: IpAddr) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(addr).or_insert(0);
        if *n >= self.max_open {
            return None;
        }
        *n += 1;
        Some(Slot {
            limits: self.clone(),
            addr,
        })
    }

    /// Whether `addr` may still try credentials.
    pub fn may_try(&self, addr: IpAddr) -> bool {
        self.may_try_at(addr, Instant::now())
    }

    fn may_try_at(&self, addr: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures
            .get(&addr)
            .is_none_or(|b| b.refilled(now).left >= 1.0)
    }

    /// A CONNECT from `addr` had wrong credentials.
    pub fn failed(&self, addr: IpAddr) {
        self.failed_at(addr, Instant::now());
    }

    fn failed_at(&self, addr: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&addr) {
            failures.retain(|_, b| b.refilled(now).left < FAILED_CONNECT_BURST);
            if failures.len() >= MAX_TRACKED {
                return;
            }
        }
        let budget = failures.entry(addr).or_insert(Budget {
            left: FAILED_CONNECT_BURST,
            updated: now,
        });
        *budget = budget.refilled(now);
        budget.left = (budget.left - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_counted_per_address_and_freed_on_drop() {
        let limits = Arc::new(AddressLimits::default());
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let mut held: Vec<Slot> = (0..MAX_CONNECTIONS_PER_ADDRESS)
            .map(|_| limits.connection(a).unwrap())
            .collect();
        assert!(limits.connection(a).is_none());
        assert!(limits.connection(b).is_some());
        held.pop();
        assert!(limits.connection(a).is_some());
    }

    #[test]
    fn failed_connects_spend_a_budget_that_refills_slowly() {
        let limits = AddressLimits::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let start = Instant::now();
        for _ in 0..FAILED_CONNECT_BURST as usize {
            assert!(limits.may_try_at(a, start));
            limits.failed_at(a, start);
        }
        assert!(!limits.may_try_at(a, start));
        assert!(limits.may_try_at([192, 0, 2, 9].into(), start));
        let later = start + FAILED_CONNECT_REFILL;
        assert!(limits.may_try_at(a, later));
        limits.failed_at(a, later);
        assert!(!limits.may_try_at(a, later));
    }
}
