//! The scale-out option: agents connect to an external MQTT broker (mosquitto, or a NATS
//! cluster: `super::nats`) instead of the server's own, and the server is one more client of
//! that broker: it publishes commands and reads acks, results and capabilities.
//!
//! Mosquitto enforces the same rules as the server's broker, from files the server writes
//! (mosquitto's `password_file` and `acl_file`, see [`write_broker_files`]): each agent signs in
//! with its id and secret, its client id is forced to its user name
//! (`use_username_as_clientid`), and `pattern` ACLs on `%u` give it its own command topic to
//! read and its own acks/results/capabilities to write, nothing else. The server's own account
//! may read and write under `ecsp/v1/agents/#`. Because of those ACLs a message on
//! `ecsp/v1/agents/{id}/results` can only come from agent `{id}`.
//!
//! The server cannot see who is connected to the broker, so a command is published when it is
//! requested (`sent` then means "handed to the broker"), again when its agent announces itself
//! (its capability report, which agents send after each connect, once subscribed), and again
//! every [`REPUBLISH`] while it is `sent` ([`REPUBLISH_CLUSTERED`] on NATS, where agents
//! subscribe at QoS 0), and at once when the server's own connection comes back. Agents run an
//! operation id once, so repeats are harmless.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::remote_ops::topic;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use sha2::{Digest, Sha512};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::api::AppState;
use crate::error::ApiError;
use crate::store::audit::Event as AuditEvent;
use crate::store::operations;

/// The server's user name on the broker.
pub const SERVER_USER: &str = "ecsp-server";
/// How often commands still `sent` are published again.
pub const REPUBLISH: Duration = Duration::from_secs(30);
/// The same with the clustered broker, where agents subscribe at QoS 0 (`remote::nats`): a
/// command lost to a broker node's death goes out again this soon.
pub const REPUBLISH_CLUSTERED: Duration = Duration::from_secs(3);

/// Where the external broker is and how the server reaches it.
#[derive(Debug, Clone)]
pub struct ExternalBroker {
    pub host: String,
    pub port: u16,
    /// TLS to the broker (else plain TCP, for a broker on loopback only).
    pub tls: bool,
    /// The CA (PEM) the broker's certificate chains to; `None`: the server's local CA.
    pub ca_pem: Option<String>,
    /// Where the broker's `password_file`, `acl_file` and the server's broker password live.
    pub files_dir: PathBuf,
    /// The broker is a NATS cluster trusting the server's keys (`super::nats`): no files.
    pub nats: Option<super::nats::NatsSettings>,
}

/// A mosquitto `password_file` entry's hash for `secret`: `$6$salt$SHA-512(secret ‖ salt)`,
/// the salted SHA-512 form mosquitto 2.0 reads. Not its PBKDF2 (`$7$`) form: agent secrets are
/// 256-bit random tokens, which a slow hash protects no better (the server itself keeps them
/// as SHA-256), and this needs no further crate.
pub fn mosquitto_hash(secret: &str) -> String {
    let salt: [u8; 12] = rand::random();
    let mut h = Sha512::new();
    h.update(secret.as_bytes());
    h.update(salt);
    format!("$6${}${}", B64.encode(salt), B64.encode(h.finalize()))
}

/// The server's own broker password, created on first use (0600 in `files_dir`).
fn server_password(dir: &Path) -> std::io::Result<String> {
    let path = dir.join("server-password");
    match std::fs::read_to_string(&path) {
        Ok(p) if !p.trim().is_empty() => Ok(p.trim().to_owned()),
        _ => {
            let p = crate::crypto::new_password() + &crate::crypto::new_password();
            crate::fsutil::write_private(&path, p.as_bytes())?;
            Ok(p)
        }
    }
}

/// The ACL every deployment uses; it names no agent, so it never changes.
pub const ACL: &str = "\
# Written by ecsp-server. The server may use every agent topic; an agent (user name = agent id,
# client id forced to it) may read its own command topic and write its own reports.
user ecsp-server
topic readwrite ecsp/v1/agents/#

pattern read ecsp/v1/agents/%u/commands
pattern write ecsp/v1/agents/%u/acks
pattern write ecsp/v1/agents/%u/results
pattern write ecsp/v1/agents/%u/capabilities
";

/// Writes `password_file` (the server and every enabled agent with a broker hash) and
/// `acl_file` into `dir`; returns the server's broker password. Send mosquitto SIGHUP after a
/// change (a new agent) to make it read them again.
pub async fn write_broker_files(state: &AppState, dir: &Path) -> anyhow::Result<String> {
    let password = server_password(dir)?;
    let agents = state.db.read(operations::broker_accounts).await?;
    let mut file = format!("{SERVER_USER}:{}\n", mosquitto_hash(&password));
    for (agent, hash) in agents {
        file.push_str(&format!("{agent}:{hash}\n"));
    }
    crate::fsutil::write_private(&dir.join("password_file"), file.as_bytes())?;
    crate::fsutil::write_private(&dir.join("acl_file"), ACL.as_bytes())?;
    Ok(password)
}

/// What the link's worker is told.
#[derive(Debug)]
pub enum LinkMessage {
    /// Publish this agent's pending commands.
    Agent(Uuid),
    /// An agent was added: write the broker's files again.
    Accounts,
    /// The link (re)connected: publish every pending command now.
    Connected,
}

/// The handle the hub keeps to publish through the external broker.
#[derive(Debug, Clone)]
pub struct Link {
    tx: mpsc::UnboundedSender<LinkMessage>,
    connected: Arc<AtomicBool>,
    /// The keys agents' broker credentials are signed with (NATS only).
    pub(crate) keys: Option<Arc<super::nats::NatsKeys>>,
}

impl Link {
    pub fn send(&self, m: LinkMessage) {
        let _ = self.tx.send(m);
    }

    /// Whether the server is connected to the broker (and subscribed) now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Connects to the external broker and serves it until the server stops.
pub async fn start(
    state: AppState,
    broker: ExternalBroker,
    local_ca: Option<&str>,
) -> anyhow::Result<(Link, Vec<tokio::task::JoinHandle<()>>)> {
    let nats = match &broker.nats {
        Some(settings) => Some(Arc::new(super::nats::NatsKeys::load(&settings.keys_dir)?)),
        None => None,
    };
    let mut options = match &nats {
        // Each node is a client of its own (every node reads every report; each is stored once),
        // under a name kept in its data directory.
        Some(keys) => {
            let mut o = MqttOptions::new(
                format!("{SERVER_USER}-{}", node_name(&broker.files_dir)?),
                &broker.host,
                broker.port,
            );
            o.set_credentials(SERVER_USER, keys.server_credential(Utc::now())?)
                // Reports that arrive while this node is away wait for it (in JetStream,
                // replicated), under a client id that is this node's across restarts.
                .set_clean_session(false);
            o
        }
        None => {
            let password = write_broker_files(&state, &broker.files_dir).await?;
            let mut o = MqttOptions::new(SERVER_USER, &broker.host, broker.port);
            o.set_credentials(SERVER_USER, password)
                // The broker keeps reports that arrive while the server is away.
                .set_clean_session(false);
            o
        }
    };
    options
        .set_keep_alive(Duration::from_secs(30))
        // Acknowledged once stored, not on receipt.
        .set_manual_acks(true)
        .set_max_packet_size(
            ecsp_protocol::remote_ops::MAX_PACKET_BYTES,
            ecsp_protocol::remote_ops::MAX_PACKET_BYTES,
        );
    if broker.tls {
        let ca = broker.ca_pem.as_deref().or(local_ca).ok_or_else(|| {
            anyhow::anyhow!(
                "the external broker needs a CA certificate: the server has no local CA"
            )
        })?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(client_tls(ca)?),
        )));
    }
    let (client, mut events) = AsyncClient::new(options, 256);
    // Commands and PUBACKs are small and latency-bound: no Nagle delay (it met the broker's
    // delayed ACK: 40 ms a round trip).
    let mut network = events.network_options();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (incoming_tx, mut incoming) = mpsc::channel::<rumqttc::Publish>(256);

    // The event loop only moves packets; storing happens in the worker below.
    let subscriber = client.clone();
    let connected = Arc::new(AtomicBool::new(false));
    let up = connected.clone();
    let poller_keys = nats.clone();
    let poller_tx = tx.clone();
    let poller = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    tracing::info!("connected to the external MQTT broker");
                    let filters = ["acks", "results", "capabilities"].map(|leaf| {
                        rumqttc::SubscribeFilter::new(
                            format!("{}/+/{leaf}", topic::ROOT),
                            QoS::AtLeastOnce,
                        )
                    });
                    let _ = subscriber.subscribe_many(filters).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    up.store(true, Ordering::Relaxed);
                    let _ = poller_tx.send(LinkMessage::Connected);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if incoming_tx.send(p).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    up.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "external MQTT broker: connection lost; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Some(keys) = &poller_keys {
                        // A credential of its own lifetime again (the broker ends a connection
                        // whose credential expired).
                        match keys.server_credential(Utc::now()) {
                            Ok(jwt) => {
                                events.mqtt_options.set_credentials(SERVER_USER, jwt);
                            }
                            Err(e) => tracing::error!(error = %e, "no broker credential"),
                        }
                    }
                }
            }
        }
    });

    let mut tasks = vec![poller];
    // With NATS, revoked agents are told to the brokers by account updates.
    let revocations = match (&nats, &broker.nats) {
        (Some(keys), Some(settings)) => {
            let (handle, task) =
                super::nats::Revocations::start(state.clone(), keys.clone(), settings.urls.clone());
            tasks.push(task);
            Some(handle)
        }
        _ => None,
    };
    let worker_state = state.clone();
    let files_dir = broker.files_dir.clone();
    let (every, qos) = if nats.is_some() {
        (REPUBLISH_CLUSTERED, QoS::AtMostOnce)
    } else {
        (REPUBLISH, QoS::AtLeastOnce)
    };
    let worker = tokio::spawn(async move {
        let state = worker_state;
        let publisher = Publisher { client, qos };
        let client = &publisher.client;
        // Commands published per agent since its last announcement, not to repeat them.
        let mut published: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        // The first tick is at once: what waited while the server was down goes out now.
        let mut republish = tokio::time::interval(every);
        loop {
            tokio::select! {
                p = incoming.recv() => {
                    let Some(p) = p else { return };
                    if let Some(agent) = on_incoming(&state, &p).await {
                        // A capability report: the agent (re)connected and subscribed.
                        published.remove(&agent);
                        publish_pending(&state, &publisher, agent, &mut published).await;
                    }
                    if let Err(e) = client.ack(&p).await {
                        tracing::warn!(error = %e, "external MQTT broker: PUBACK not sent");
                    }
                }
                m = rx.recv() => match m {
                    Some(LinkMessage::Agent(agent)) => {
                        publish_pending(&state, &publisher, agent, &mut published).await;
                    }
                    // Published again at once by the tick, which a new connection resets.
                    Some(LinkMessage::Connected) => republish.reset_immediately(),
                    Some(LinkMessage::Accounts) => match &revocations {
                        Some(r) => r.changed(),
                        None => {
                            if let Err(e) = write_broker_files(&state, &files_dir).await {
                                tracing::error!(error = %e, "could not write the broker's password file");
                            }
                        }
                    },
                    None => return,
                },
                _ = republish.tick() => {
                    published.clear();
                    match state.db.read(|c| operations::agents_with_pending(c, Utc::now())).await {
                        Ok(agents) => {
                            for agent in agents {
                                publish_pending(&state, &publisher, agent, &mut published).await;
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "pending commands not read"),
                    }
                }
            }
        }
    });
    tasks.push(worker);
    Ok((
        Link {
            tx,
            connected,
            keys: nats,
        },
        tasks,
    ))
}

fn client_tls(ca_pem: &str) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // Behind HAProxy the broker shares the service's port, told apart by ALPN.
    config.alpn_protocols = vec![ecsp_protocol::remote_ops::MQTT_ALPN.as_bytes().to_vec()];
    Ok(config)
}

/// Handles one message from an agent topic. Returns the agent when it was a capability report.
async fn on_incoming(state: &AppState, p: &rumqttc::Publish) -> Option<Uuid> {
    let Some((agent_id, kind)) = topic::parse(&p.topic) else {
        tracing::warn!("external MQTT broker: a message on an unexpected topic");
        return None;
    };
    let agent = match state
        .db
        .read(move |c| operations::agent_by_public_id(c, agent_id))
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            let event = AuditEvent::new(
                None,
                Actor::Anonymous,
                "mqtt.publish",
                format!("topic:{}", p.topic),
                Outcome::Denied,
            );
            let rows = state.audit_throttle.admit(event);
            let _ = state.audit_all(rows).await;
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "external MQTT broker: agent look-up failed");
            return None;
        }
    };
    match kind {
        topic::AgentTopic::Capabilities => {
            let ok = super::broker::handle_agent_message(state, &agent, kind, &p.payload).await;
            ok.then_some(agent.public_id)
        }
        topic::AgentTopic::Commands => None,
        _ => {
            super::broker::handle_agent_message(state, &agent, kind, &p.payload).await;
            None
        }
    }
}

/// Where commands go, and at which QoS: 1 on mosquitto; 0 on the clustered broker, whose
/// agents subscribe at 0 anyway (QoS 1 would only cost a replicated JetStream write per command).
struct Publisher {
    client: AsyncClient,
    qos: QoS,
}

/// This node's name among the server's clients of the broker: made once, kept in `dir`.
fn node_name(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("node-name");
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => {
            let name = Uuid::new_v4().simple().to_string();
            crate::fsutil::write_private(&path, name.as_bytes())?;
            Ok(name)
        }
    }
}

async fn publish_pending(
    state: &AppState,
    publisher: &Publisher,
    agent_id: Uuid,
    published: &mut HashMap<Uuid, Vec<Uuid>>,
) {
    let agent = match state
        .db
        .read(move |c| operations::agent_by_public_id(c, agent_id))
        .await
    {
        Ok(Some(a)) => a,
        _ => return,
    };
    let id = agent.id;
    let pending = match state
        .db
        .read(move |c| operations::pending_for_agent(c, id, Utc::now()))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "external MQTT broker: pending commands not read");
            return;
        }
    };
    let done = published.entry(agent_id).or_default();
    let mut sent = Vec::new();
    for cmd in pending {
        if done.contains(&cmd.operation_id) {
            continue;
        }
        let Ok(payload) = serde_json::to_vec(&cmd) else {
            continue;
        };
        match publisher
            .client
            .publish(topic::commands(agent_id), publisher.qos, false, payload)
            .await
        {
            Ok(()) => {
                done.push(cmd.operation_id);
                sent.push(cmd.operation_id);
            }
            Err(e) => tracing::warn!(error = %e, "external MQTT broker: command not published"),
        }
    }
    if !sent.is_empty() {
        let result: Result<(), ApiError> = state
            .db
            .write(move |c| operations::mark_sent(c, &agent, &sent))
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "could not mark commands sent");
        }
    }
}
