//! Where the shell's event lists wait for the webview to fetch them (`next_events`), instead of
//! being pushed as Tauri events. A Tauri event is a script the app evaluates in the webview:
//! WebKitGTK compiles each one (the list's data is part of its source) and hands its result
//! back as a JavaScript value, which starts a JavaScriptCore engine in the app's own process
//! too. Fetched, a list is a command's JSON answer over the same channel as every other command.
//! Measured with `scripts/bench-desktop.sh` (idle after 1,000 files captured): see README,
//! "Figures".
//!
//! Each list gets a number; the webview asks for the lists after the last one it has seen, so
//! a list is dropped only once the webview has asked past it (a page reloaded mid-answer loses
//! nothing it was not shown). The box keeps at most [`KEPT`] lists for a webview that does not
//! ask (a hidden window keeps reading; a stuck one must not grow the app).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

/// The most lists kept unfetched; the oldest go first. The state-carrying events (the queue's
/// counts, the sync state) carry all of it, so a later list makes up for a dropped one.
const KEPT: usize = 256;

/// How long a fetch waits for a list before answering with none (the webview then asks again):
/// no request stays open for ever.
pub const WAIT: Duration = Duration::from_secs(25);

/// One list of events of one kind, as the core serialises them.
#[derive(Debug, Clone, Serialize)]
pub struct EventList {
    pub seq: u64,
    pub event: &'static str,
    pub payload: serde_json::Value,
}

/// What a fetch answers: the lists after the one asked for, and the number to ask after next.
#[derive(Debug, Serialize)]
pub struct EventLists {
    pub last: u64,
    pub lists: Vec<EventList>,
}

#[derive(Debug)]
pub struct EventMailbox {
    lists: Mutex<VecDeque<EventList>>,
    /// The number of the newest list posted.
    newest: watch::Sender<u64>,
}

impl Default for EventMailbox {
    fn default() -> Self {
        Self {
            lists: Mutex::new(VecDeque::new()),
            newest: watch::Sender::new(0),
        }
    }
}

impl EventMailbox {
    /// Adds a list of `event`s (a serialisable payload; one that cannot be serialised is dropped
    /// and logged, it is a bug of the shell).
    pub fn post(&self, event: &'static str, payload: &impl Serialize) {
        let payload = match serde_json::to_value(payload) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(%error, event, "event list not serialisable");
                return;
            }
        };
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let seq = *self.newest.borrow() + 1;
        lists.push_back(EventList {
            seq,
            event,
            payload,
        });
        while lists.len() > KEPT {
            lists.pop_front();
        }
        self.newest.send_replace(seq);
    }

    /// The lists after `seen`, waiting up to `wait` for one when there are none. `None` asks
    /// where the box stands without any list (a page starting: what was posted before it is not
    /// its news).
    pub async fn after(&self, seen: Option<u64>, wait: Duration) -> EventLists {
        let Some(seen) = seen else {
            return EventLists {
                last: *self.newest.borrow(),
                lists: Vec::new(),
            };
        };
        let mut newest = self.newest.subscribe();
        // A number past the newest (the app restarted under a reloaded page) starts again at 0.
        let seen = if seen > *newest.borrow() { 0 } else { seen };
        let _ = tokio::time::timeout(wait, newest.wait_for(|&n| n > seen)).await;
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        while lists.front().is_some_and(|l| l.seq <= seen) {
            lists.pop_front();
        }
        EventLists {
            last: lists.back().map_or(seen, |l| l.seq),
            lists: lists.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    fn seqs(answer: &EventLists) -> Vec<u64> {
        answer.lists.iter().map(|l| l.seq).collect()
    }

    #[tokio::test]
    async fn lists_stay_until_the_webview_has_asked_past_them() {
        let mailbox = EventMailbox::default();
        assert_eq!(mailbox.after(None, SHORT).await.last, 0);
        mailbox.post("ecsp://client", &[1]);
        mailbox.post("ecsp://folder", &["a.jdf"]);
        let first = mailbox.after(Some(0), SHORT).await;
        assert_eq!((seqs(&first), first.last), (vec![1, 2], 2));
        assert_eq!(first.lists[1].event, "ecsp://folder");
        assert_eq!(first.lists[1].payload, serde_json::json!(["a.jdf"]));
        // The answer was lost (a reload): asking after 0 again gets both again.
        assert_eq!(seqs(&mailbox.after(Some(0), SHORT).await), vec![1, 2]);
        // Asked past them, they are gone.
        let empty = mailbox.after(Some(2), SHORT).await;
        assert_eq!((seqs(&empty), empty.last), (vec![], 2));
    }

    #[tokio::test]
    async fn a_waiting_fetch_is_answered_when_a_list_comes() {
        let mailbox = std::sync::Arc::new(EventMailbox::default());
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.after(Some(0), Duration::from_secs(10)).await }
        });
        tokio::time::sleep(SHORT).await;
        mailbox.post("ecsp://client", &[7]);
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("answered before the wait ended")
            .expect("the fetch ran");
        assert_eq!(seqs(&answer), vec![1]);
    }

    #[tokio::test]
    async fn a_box_nobody_reads_keeps_the_newest_lists_only() {
        let mailbox = EventMailbox::default();
        for i in 0..(KEPT + 10) {
            mailbox.post("ecsp://client", &[i]);
        }
        let answer = mailbox.after(Some(0), SHORT).await;
        assert_eq!(answer.lists.len(), KEPT);
        assert_eq!(answer.lists.first().map(|l| l.seq), Some(11));
        assert_eq!(answer.last, (KEPT + 10) as u64);
    }

    #[tokio::test]
    async fn a_number_from_before_a_restart_starts_again() {
        let mailbox = EventMailbox::default();
        mailbox.post("ecsp://client", &[1]);
        assert_eq!(seqs(&mailbox.after(Some(40), SHORT).await), vec![1]);
    }
}
