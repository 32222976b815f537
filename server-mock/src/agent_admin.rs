//! Agent credentials after enrolment: listing, disabling, enabling, deleting and new secrets,
//! for the admin API, the portal and the `ecsp-server agents` command alike.
//!
//! A change is committed with its audit row, then takes effect at once in this process: the
//! agent cache forgets the agent's secrets (so HTTPS refuses the old one from the next request),
//! its MQTT session is closed, and the external broker's password file is written again. On
//! PostgreSQL the other server nodes are told, and do the same (`remote::peers`); so are they by
//! the `ecsp-server agents` command, which changes the database from a process of its own. On
//! SQLite that command cannot tell the running server: there the cache forgets within
//! `agent_cache::TTL`, and each MQTT session checks its agent again as often (see the broker),
//! so the change reaches it within a minute.

use std::io::Write;

use ecsp_protocol::admin::{Actor, AgentCredentials, AgentView, Outcome};
use uuid::Uuid;

use crate::api::AppState;
use crate::crypto::DataKey;
use crate::db::Database;
use crate::error::ApiError;
use crate::remote::peers;
use crate::store::audit::{self, Event};
use crate::store::devices::{self, AgentSummary};
use crate::store::from_ms;

/// A change to an agent's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Disable,
    Enable,
    Delete,
    /// A new secret; the old one stops working.
    Rotate,
}

impl Change {
    /// The audit log's name for it.
    pub fn action(self) -> &'static str {
        match self {
            Change::Disable => "admin.agent.disable",
            Change::Enable => "admin.agent.enable",
            Change::Delete => "admin.agent.delete",
            Change::Rotate => "admin.agent.rotate",
        }
    }
}

/// What a change leaves.
#[derive(Debug)]
pub enum Changed {
    Agent(AgentSummary),
    Deleted,
    /// The new secret, to be shown once.
    Secret(AgentCredentials),
}

/// Applies a change in the database (of one organisation, or any with `None`).
fn apply(
    c: &crate::sql::Connection,
    key: &DataKey,
    org_id: Option<i64>,
    agent: Uuid,
    change: Change,
) -> Result<Changed, ApiError> {
    Ok(match change {
        Change::Disable | Change::Enable => Changed::Agent(devices::set_agent_disabled(
            c,
            key,
            org_id,
            agent,
            change == Change::Disable,
        )?),
        Change::Delete => {
            devices::delete_agent(c, org_id, agent)?;
            Changed::Deleted
        }
        Change::Rotate => Changed::Secret(devices::rotate_agent_secret(c, org_id, agent)?),
    })
}

/// The organisation's agents, with whether each is connected now; audited.
pub async fn list(state: &AppState, org_id: i64, actor: Actor) -> Result<Vec<AgentView>, ApiError> {
    let key = state.key.clone();
    let agents = state
        .audited_read(
            Some(org_id),
            actor,
            "admin.agent.list",
            String::new(),
            move |c| devices::list_agents(c, &key, Some(org_id)),
        )
        .await?;
    Ok(agents
        .into_iter()
        .map(|a| {
            let connected = state.remote.is_connected(a.agent_id);
            a.view(connected)
        })
        .collect())
}

/// Disables or enables an agent of the organisation (`agent` is the path's id, `Err` if it was
/// no UUID); audited, and in effect at once.
pub async fn set_disabled(
    state: &AppState,
    org_id: i64,
    actor: Actor,
    agent: Result<Uuid, ApiError>,
    disabled: bool,
) -> Result<AgentView, ApiError> {
    let change = if disabled {
        Change::Disable
    } else {
        Change::Enable
    };
    let key = state.key.clone();
    let summary = change_with(state, org_id, actor, agent, change, move |c, org, id| {
        devices::set_agent_disabled(c, &key, org, id, disabled)
    })
    .await?;
    let connected = state.remote.is_connected(summary.agent_id);
    Ok(summary.view(connected))
}

/// Deletes an agent of the organisation; audited, and in effect at once.
pub async fn delete(
    state: &AppState,
    org_id: i64,
    actor: Actor,
    agent: Result<Uuid, ApiError>,
) -> Result<(), ApiError> {
    change_with(
        state,
        org_id,
        actor,
        agent,
        Change::Delete,
        devices::delete_agent,
    )
    .await
}

/// Gives an agent of the organisation a new secret (returned, to be shown once); audited, and
/// the old secret is refused at once.
pub async fn rotate(
    state: &AppState,
    org_id: i64,
    actor: Actor,
    agent: Result<Uuid, ApiError>,
) -> Result<AgentCredentials, ApiError> {
    change_with(
        state,
        org_id,
        actor,
        agent,
        Change::Rotate,
        devices::rotate_agent_secret,
    )
    .await
}

async fn change_with<T: Send + 'static>(
    state: &AppState,
    org_id: i64,
    actor: Actor,
    agent: Result<Uuid, ApiError>,
    change: Change,
    f: impl FnOnce(&crate::sql::Connection, Option<i64>, Uuid) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (object, id) = match &agent {
        Ok(id) => (format!("agent:{id}"), Some(*id)),
        Err(_) => ("agent:invalid".to_owned(), None),
    };
    let value = state
        .audited_write(Some(org_id), actor, change.action(), object, move |c| {
            f(c, Some(org_id), agent?)
        })
        .await?;
    // The write succeeded, so the id was one.
    if let Some(id) = id {
        take_effect(state, id, change);
    }
    Ok(value)
}

/// Makes a committed change felt by this process at once, and by the other server nodes as
/// soon as they hear of it.
fn take_effect(state: &AppState, agent: Uuid, change: Change) {
    state.agents.forget(agent);
    if change != Change::Enable {
        state.remote.disconnect(agent);
    }
    state.remote.accounts_changed();
    let db = state.db.clone();
    tokio::spawn(async move { peers::tell(&db, changed_message(agent, change)).await });
}

/// What the server nodes are told of `change`.
fn changed_message(agent: Uuid, change: Change) -> peers::NodeMessage {
    peers::NodeMessage::AgentChanged {
        agent,
        disconnect: change != Change::Enable,
    }
}

/// Notes that an agent authenticated: its last-seen time is written (in the background, off
/// the request's path) when the last write is a minute old.
pub fn seen(state: &AppState, agent: &devices::AgentPrincipal) {
    if !state.agents.seen_due(agent.id) {
        return;
    }
    let (db, id, at) = (state.db.clone(), agent.id, crate::store::now_ms());
    tokio::spawn(async move {
        if let Err(e) = db.write(move |c| devices::agent_seen(c, id, at)).await {
            tracing::warn!(error = %e, "could not write an agent's last-seen time");
        }
    });
}

/// `ecsp-server agents …`: the server's operator manages agents of every organisation.
#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// List the agents of every organisation (deleted ones are not listed).
    List,
    /// Refuse an agent's secret (HTTPS and MQTT) until it is enabled again.
    Disable { agent_id: Uuid },
    /// Accept a disabled agent's secret again.
    Enable { agent_id: Uuid },
    /// Delete an agent for good: its secret is refused, its devices lose their agent.
    Delete { agent_id: Uuid },
    /// Give an agent a new secret (printed once); the old one stops working.
    Rotate { agent_id: Uuid },
}

/// Runs an `ecsp-server agents` command against the data directory's database, writing to
/// `out`. Changes are audited as done by the server (`system`).
pub async fn run_command(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
    command: AgentsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (agent, change) = match command {
        AgentsCommand::List => {
            let key = key.clone();
            let agents = db
                .read(move |c| devices::list_agents(c, &key, None))
                .await?;
            writeln!(
                out,
                "agent_id\torganisation\ttype\tstate\tcreated\tlast_seen\tlabel"
            )?;
            for a in agents {
                let seen = a
                    .last_seen_at
                    .map_or_else(|| "never".to_owned(), |t| from_ms(t).to_rfc3339());
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    a.agent_id,
                    a.org_id,
                    a.agent_type,
                    if a.disabled { "disabled" } else { "enabled" },
                    from_ms(a.created_at).to_rfc3339(),
                    seen,
                    a.label.replace(['\t', '\n', '\r'], " "),
                )?;
            }
            return Ok(());
        }
        AgentsCommand::Disable { agent_id } => (agent_id, Change::Disable),
        AgentsCommand::Enable { agent_id } => (agent_id, Change::Enable),
        AgentsCommand::Delete { agent_id } => (agent_id, Change::Delete),
        AgentsCommand::Rotate { agent_id } => (agent_id, Change::Rotate),
    };
    let key = key.clone();
    let changed = db
        .write(move |c| {
            let org_id = devices::get_agent(c, &key, None, agent)?.org_id;
            let changed = apply(c, &key, None, agent, change)?;
            audit::append(
                c,
                &Event::new(
                    Some(org_id),
                    Actor::System,
                    change.action(),
                    format!("agent:{agent}"),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(changed)
        })
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => anyhow::anyhow!("no agent {agent} (or it was deleted)"),
            e => anyhow::anyhow!(e),
        })?;
    match changed {
        Changed::Agent(a) if a.disabled => writeln!(out, "agent {agent} disabled")?,
        Changed::Agent(_) => writeln!(out, "agent {agent} enabled")?,
        Changed::Deleted => writeln!(out, "agent {agent} deleted")?,
        Changed::Secret(s) => {
            writeln!(out, "agent {agent} has a new secret (shown once):")?;
            writeln!(out, "{}", s.secret)?;
        }
    }
    if matches!(db, Database::Postgres(_)) {
        peers::tell(db, changed_message(agent, change)).await;
        writeln!(out, "Running server nodes are told at once.")?;
    } else {
        writeln!(
            out,
            "A running server refuses the old credentials within {} s.",
            crate::agent_cache::TTL.as_secs()
        )?;
    }
    Ok(())
}
