//! Bounds what callers who have not proved who they are can make the server write to the audit
//! log, without leaving any decision unrecorded.
//!
//! Every refusal of an anonymous caller (a bad token or agent secret, a sign-in for an unknown
//! account), every refusal of an agent over MQTT (an agent, or whoever holds its secret, could
//! otherwise send thousands in one packet) and every sign-in refused with 429 is still counted, but identical events (same
//! organisation, actor, action and outcome) within [`WINDOW`] share rows: the first is written at
//! once, the rest are counted and written as one row whose object is `repeated:<n>` when the
//! window closes (a background task, and shutdown, flush closed windows). A flood therefore costs
//! at most two rows per kind of event per window, instead of one row per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ecsp_protocol::admin::{Actor, Outcome};

use crate::store::audit::Event;

/// How long identical events are folded into one summary row.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most distinct kinds of event tracked at once; beyond it events are written as they come.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    org_id: Option<i64>,
    actor: String,
    action: &'static str,
    outcome: &'static str,
}

impl Key {
    fn of(e: &Event) -> Self {
        let actor = match &e.actor {
            Actor::User(id) => format!("user:{id}"),
            Actor::Agent(id) => format!("agent:{id}"),
            Actor::Anonymous => "anonymous".into(),
            Actor::System => "system".into(),
        };
        let outcome = match e.outcome {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        };
        Self {
            org_id: e.org_id,
            actor,
            action: e.action,
            outcome,
        }
    }
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    /// Events folded into this window after its first row.
    repeated: u64,
    /// The event written first, kept to describe the summary row.
    first: Event,
}

/// The folding state; cheap to share.
#[derive(Debug, Default)]
pub struct AuditThrottle {
    windows: Mutex<HashMap<Key, Window>>,
}

fn summary(w: &Window) -> Event {
    let mut e = w.first.clone();
    e.object = format!("repeated:{}", w.repeated);
    e
}

impl AuditThrottle {
    /// The rows to write now for `event`: the event itself when it opens a window (preceded by
    /// the summary of the window it replaces), nothing when it is folded into an open one.
    pub fn admit(&self, event: Event) -> Vec<Event> {
        self.admit_at(event, Instant::now())
    }

    fn admit_at(&self, event: Event, now: Instant) -> Vec<Event> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let key = Key::of(&event);
        if let Some(w) = windows.get_mut(&key) {
            if now.duration_since(w.opened) < WINDOW {
                w.repeated += 1;
                return Vec::new();
            }
            let mut rows = Vec::with_capacity(2);
            if w.repeated > 0 {
                rows.push(summary(w));
            }
            *w = Window {
                opened: now,
                repeated: 0,
                first: event.clone(),
            };
            rows.push(event);
            return rows;
        }
        if windows.len() < MAX_KEYS {
            windows.insert(
                key,
                Window {
                    opened: now,
                    repeated: 0,
                    first: event.clone(),
                },
            );
        }
        vec![event]
    }

    /// Summary rows of the windows that have closed by now (all of them if `everything`), which
    /// are forgotten.
    pub fn drain(&self, everything: bool) -> Vec<Event> {
        self.drain_at(Instant::now(), everything)
    }

    fn drain_at(&self, now: Instant, everything: bool) -> Vec<Event> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows = Vec::new();
        windows.retain(|_, w| {
            let closed = everything || now.duration_since(w.opened) >= WINDOW;
            if closed && w.repeated > 0 {
                rows.push(summary(w));
            }
            !closed
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_token() -> Event {
        Event::new(
            None,
            Actor::Anonymous,
            "auth.token",
            String::new(),
            Outcome::Failed,
        )
    }

    #[test]
    fn a_flood_is_one_row_then_one_summary_per_window() {
        let throttle = AuditThrottle::default();
        let start = Instant::now();
        assert_eq!(throttle.admit_at(bad_token(), start).len(), 1);
        for i in 1..300 {
            let at = start + Duration::from_millis(i);
            assert!(throttle.admit_at(bad_token(), at).is_empty());
        }
        // A different kind of event is not folded into the first.
        let other = Event::new(
            None,
            Actor::Anonymous,
            "auth.agent",
            String::new(),
            Outcome::Failed,
        );
        assert_eq!(throttle.admit_at(other, start).len(), 1);
        assert!(
            throttle
                .drain_at(start + Duration::from_secs(1), false)
                .is_empty()
        );
        let closed = throttle.drain_at(start + WINDOW, false);
        assert_eq!(
            closed.len(),
            1,
            "only the window with repeats has a summary"
        );
        assert_eq!(closed[0].object, "repeated:299");
        assert_eq!(closed[0].action, "auth.token");
        // After the window, the next event is written at once again.
        assert_eq!(throttle.admit_at(bad_token(), start + WINDOW).len(), 1);
    }

    #[test]
    fn an_event_after_a_closed_window_brings_its_summary() {
        let throttle = AuditThrottle::default();
        let start = Instant::now();
        throttle.admit_at(bad_token(), start);
        throttle.admit_at(bad_token(), start + Duration::from_secs(1));
        let rows = throttle.admit_at(bad_token(), start + WINDOW + Duration::from_secs(1));
        let objects: Vec<&str> = rows.iter().map(|e| e.object.as_str()).collect();
        assert_eq!(objects, vec!["repeated:1", ""]);
        assert!(throttle.drain_at(start, true).is_empty());
    }
}
