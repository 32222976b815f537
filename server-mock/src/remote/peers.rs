//! What the server nodes of one service tell each other, on one PostgreSQL channel (NOTIFY; on
//! SQLite one process serves and there is no one to tell). Each message lets a node act at once
//! on what another did; each has a slower path that makes up for a message lost (a node's
//! listening session is reopened after PostgreSQL restarts, and NOTIFY is not queued for it):
//!
//! - [`NodeMessage::Commands`]: an agent has commands queued. The node its MQTT session is on
//!   publishes them. Otherwise: when the agent next subscribes, or, for every agent of a node,
//!   when that node's listening session reopens.
//! - [`NodeMessage::AgentChanged`]: an agent was disabled, deleted, given a new secret or
//!   enabled. Every node forgets the secrets it cached and (unless enabled) ends the agent's
//!   session. Otherwise: within `agent_cache::TTL`, when the cache forgets and each session
//!   checks its agent again.
//! - [`NodeMessage::AgentConnected`]: an agent opened a session on a node. A session of that
//!   agent on another node, opened before, ends: MQTT's rule that a client id's new connection
//!   replaces the old one, across nodes. Otherwise the old session lingers until its keep-alive
//!   runs out, with commands published to a connection the agent no longer reads.
//!
//! - [`NodeMessage::Alive`]: at start and every [`ALIVE_EVERY`], each node says it runs, and
//!   answers a node new to it. A node that heard of others keeps fewer upload batches in flight
//!   (`ingest_batch`); one not heard of for [`FORGOTTEN_AFTER`] is no longer counted.
//!
//! The payload is JSON of a few ids (PostgreSQL allows 8,000 bytes), never a secret.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::AppState;

/// The one channel the nodes of a service talk on.
const CHANNEL: &str = "ecsp_nodes";
/// How often a node says it runs.
pub const ALIVE_EVERY: Duration = Duration::from_secs(10);
/// How long a node not heard from is still counted.
pub const FORGOTTEN_AFTER: Duration = Duration::from_secs(35);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeMessage {
    Commands {
        agent: Uuid,
    },
    AgentChanged {
        agent: Uuid,
        /// Whether its session must end (not for an agent enabled again).
        disconnect: bool,
    },
    AgentConnected {
        agent: Uuid,
        /// The node it connected to ([`super::Hub::node`]), which keeps its own session.
        node: Uuid,
        /// When the session opened (Unix ms): sessions on other nodes opened before it end.
        opened_ms: i64,
    },
    Alive {
        node: Uuid,
        /// Asks each node that hears it to say it runs at once (never set on an answer, so
        /// answers are not answered).
        #[serde(default)]
        answer_me: bool,
    },
}

/// Tells the server nodes of `db` `message` (those of another process too, such as the
/// `ecsp-server agents` command); a failure is logged (each message has its slower path).
pub async fn tell(db: &crate::db::Database, message: NodeMessage) {
    let payload = match serde_json::to_string(&message) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "node message not encoded");
            return;
        }
    };
    if let Err(e) = db.notify(CHANNEL, payload).await {
        tracing::warn!(error = %e, ?message, "could not tell the other server nodes");
    }
}

/// Says every [`ALIVE_EVERY`] that this node runs (PostgreSQL only; returns at once on
/// SQLite).
pub async fn announce(state: AppState) {
    if !matches!(state.db, crate::db::Database::Postgres(_)) {
        return;
    }
    // The first announcement is made when the node listens (see `listen`).
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + ALIVE_EVERY, ALIVE_EVERY);
    loop {
        every.tick().await;
        let node = state.remote.node();
        tell(
            &state.db,
            NodeMessage::Alive {
                node,
                answer_me: false,
            },
        )
        .await;
    }
}

/// Hears the other nodes (PostgreSQL only) until the returned listener is dropped. Whenever
/// the listening session is (re)opened, every agent connected here is kicked (commands queued
/// meanwhile were not heard of) and this node says it runs: the others' answers reach it only
/// now that it listens, so an announcement made before would leave it counting too few.
pub fn listen(state: &AppState) -> Option<crate::db::postgres::Listener> {
    let (hub, agents) = (state.remote.clone(), state.agents.clone());
    let (all, db, runtime) = (
        hub.clone(),
        state.db.clone(),
        tokio::runtime::Handle::current(),
    );
    let (opened_db, opened_runtime) = (db.clone(), runtime.clone());
    state.db.listen(
        CHANNEL,
        move || {
            all.kick_all();
            let (db, me) = (opened_db.clone(), all.node());
            opened_runtime.spawn(async move {
                let hello = NodeMessage::Alive {
                    node: me,
                    answer_me: true,
                };
                tell(&db, hello).await
            });
        },
        move |payload| {
            match serde_json::from_str::<NodeMessage>(payload) {
                Ok(NodeMessage::Commands { agent }) => {
                    hub.kick_local(agent);
                }
                Ok(NodeMessage::AgentChanged { agent, disconnect }) => {
                    agents.forget(agent);
                    if disconnect {
                        hub.disconnect(agent);
                    }
                }
                Ok(NodeMessage::AgentConnected {
                    agent,
                    node,
                    opened_ms,
                }) => {
                    if node != hub.node() {
                        hub.end_sessions_opened_before(agent, opened_ms);
                    }
                }
                Ok(NodeMessage::Alive { node, answer_me }) => {
                    hub.heard_from(node);
                    // A node that just began listening is answered, so that it counts this one
                    // now rather than at this one's next announcement.
                    if answer_me && node != hub.node() {
                        let (db, me) = (db.clone(), hub.node());
                        runtime.spawn(async move {
                            let answer = NodeMessage::Alive {
                                node: me,
                                answer_me: false,
                            };
                            tell(&db, answer).await
                        });
                    }
                }
                // A node of a newer build may say more; this one acts on what it knows.
                Err(e) => tracing::debug!(error = %e, "node message not understood"),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_back_as_written() {
        let agent = Uuid::new_v4();
        for message in [
            NodeMessage::Commands { agent },
            NodeMessage::AgentChanged {
                agent,
                disconnect: true,
            },
            NodeMessage::AgentConnected {
                agent,
                node: Uuid::new_v4(),
                opened_ms: 1_765_000_000_000,
            },
            NodeMessage::Alive {
                node: Uuid::new_v4(),
                answer_me: true,
            },
        ] {
            let text = serde_json::to_string(&message).unwrap();
            assert!(text.len() < 8000, "{text}");
            assert_eq!(serde_json::from_str::<NodeMessage>(&text).unwrap(), message);
        }
        assert!(serde_json::from_str::<NodeMessage>(r#"{"kind":"other"}"#).is_err());
    }
}
