//! The server's own MQTT 3.1.1 broker, for agents only.
//!
//! Written here over rumqttc's `mqttbytes` codec rather than embedding a broker: rumqttd (0.20)
//! has no per-topic ACLs, binds its own listener (so it cannot take a TLS stream the HTTPS port
//! already accepted by ALPN) and pins an older rustls. What agents need is small — one identity
//! per connection, one command topic to subscribe to, three topics to publish on, QoS 0/1 — and
//! routing is not needed at all: the server is the only other party. So a connection is one
//! task that authenticates the CONNECT against the agent table, enforces "own topics only",
//! turns reports into state changes of persisted operations, and publishes the agent's pending
//! commands whenever it subscribes or the [`Hub`] kicks it.
//!
//! Anything malformed, oversized or not allowed ends that connection (or, for a subscription,
//! fails that filter) and is audited; other connections are untouched.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use chrono::Utc;
use ecsp_protocol::Validate;
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::remote_ops::{
    AgentReport, CapabilityReport, MAX_KEEP_ALIVE_SECS, MAX_PACKET_BYTES, topic,
};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, Publish, SubAck, SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{self, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use super::conformance::{self, Violation};
use super::limits::AddressLimits;
use crate::api::AppState;
use crate::error::ApiError;
use crate::store::audit::Event;
use crate::store::devices::{self, AgentPrincipal};
use crate::store::operations::{self, ReportOutcome};

/// How long a new connection may take to send its CONNECT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Refused subscription filters and refused messages one connection may send; the next one
/// closes it. An agent asks for its one command topic and reports on its own operations; a
/// connection past this keeps asking for what it may not have (a bug, or someone probing with
/// a stolen secret) and is closed, with the packet that crossed the line audited.
pub const MAX_REFUSALS_PER_CONNECTION: usize = 16;

/// A request to publish the agent's pending commands (coalesced: one waiting is enough).
#[derive(Debug)]
struct Kick;

#[derive(Debug)]
struct Session {
    conn: u64,
    /// When it opened (Unix ms; see `peers::NodeMessage::AgentConnected`).
    opened_ms: i64,
    tx: mpsc::Sender<Kick>,
    /// Notified when the session must end: another connection took this client id over, or
    /// the agent was disabled, deleted or given a new secret.
    ended: Arc<Notify>,
}

/// The connected agents, by agent id. Shared by every connection and by the REST handlers,
/// which kick an agent's connection when they queue a command for it.
#[derive(Debug)]
pub struct Hub {
    /// This server process among the nodes of a service (new at every start).
    node: Uuid,
    /// The other nodes of the service heard from, and when (see `peers::NodeMessage::Alive`).
    others: Mutex<HashMap<Uuid, std::time::Instant>>,
    sessions: Mutex<HashMap<Uuid, Session>>,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// The external broker, when the server uses one as well.
    external: OnceLock<super::external::Link>,
    /// Connections and failed CONNECTs per address.
    pub(crate) limits: Arc<AddressLimits>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            node: Uuid::new_v4(),
            others: Mutex::default(),
            sessions: Mutex::default(),
            next_conn: AtomicU64::new(1),
            shutdown: watch::channel(false).0,
            external: OnceLock::new(),
            limits: Arc::default(),
        }
    }
}

impl Hub {
    /// A hub whose broker lets one address hold `per_address` connections at once.
    pub fn with_connections_per_address(per_address: usize) -> Self {
        Self {
            limits: Arc::new(AddressLimits::new(per_address)),
            ..Self::default()
        }
    }

    /// Asks the agent's connection, if any, to publish its pending commands. Returns whether
    /// the agent is connected (its commands stay queued otherwise, until it subscribes).
    pub fn kick(&self, agent: Uuid) -> bool {
        if let Some(link) = self.external.get() {
            link.send(super::external::LinkMessage::Agent(agent));
        }
        self.kick_local(agent)
    }

    /// Kicks every agent connected to this node.
    pub fn kick_all(&self) {
        let agents: Vec<Uuid> = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        for agent in agents {
            self.kick_local(agent);
        }
    }

    /// [`kick`](Self::kick) for a connection to this node only.
    pub fn kick_local(&self, agent: Uuid) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&agent) {
            // A full channel means a kick is already waiting: the same work.
            Some(s) => !matches!(
                s.tx.try_send(Kick),
                Err(mpsc::error::TrySendError::Closed(_))
            ),
            None => false,
        }
    }

    /// Routes commands through an external broker too (set once, at start).
    pub(crate) fn set_external(&self, link: super::external::Link) {
        let _ = self.external.set(link);
    }

    /// The keys the clustered broker trusts, when the external broker is one (`remote::nats`).
    pub fn broker_keys(&self) -> Option<Arc<super::nats::NatsKeys>> {
        self.external.get().and_then(|link| link.keys.clone())
    }

    /// Whether the server is connected to its external broker (`None`: it uses none).
    pub fn external_connected(&self) -> Option<bool> {
        self.external.get().map(super::external::Link::connected)
    }

    /// An agent was added: the external broker's password file is written again.
    pub fn accounts_changed(&self) {
        if let Some(link) = self.external.get() {
            link.send(super::external::LinkMessage::Accounts);
        }
    }

    /// Ends the agent's MQTT session, if it has one (it was disabled, deleted or given a new
    /// secret). Returns whether there was one.
    pub fn disconnect(&self, agent: Uuid) -> bool {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&agent) {
            Some(s) => {
                s.ended.notify_one();
                true
            }
            None => false,
        }
    }

    /// Ends the agent's session on this node if it opened before `opened_ms` (Unix ms): the
    /// agent has connected to another node since.
    pub fn end_sessions_opened_before(&self, agent: Uuid, opened_ms: i64) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sessions.get(&agent).filter(|s| s.opened_ms < opened_ms) {
            s.ended.notify_one();
        }
    }

    /// This process's id among the nodes of a service.
    pub fn node(&self) -> Uuid {
        self.node
    }

    /// Another node of the service said it is alive; whether it is new to this one.
    pub fn heard_from(&self, node: Uuid) -> bool {
        if node == self.node {
            return false;
        }
        let mut others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        others.insert(node, std::time::Instant::now()).is_none()
    }

    /// How many other nodes of the service were heard from lately (none on SQLite).
    pub fn other_nodes(&self) -> usize {
        let mut others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        others.retain(|_, at| at.elapsed() < super::peers::FORGOTTEN_AFTER);
        others.len()
    }

    /// Whether the agent holds an MQTT connection to this server now.
    pub fn is_connected(&self, agent: Uuid) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&agent)
    }

    /// Number of agents connected now.
    pub fn connected(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Changes to `true` when the server shuts down.
    pub(crate) fn subscribe_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Closes every MQTT connection (server shutdown).
    pub fn close_all(&self) {
        self.shutdown.send_replace(true);
    }

    /// Registers the agent's new session; its id and when it opened (Unix ms).
    fn register(&self, agent: Uuid, tx: mpsc::Sender<Kick>, ended: Arc<Notify>) -> (u64, i64) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let opened_ms = crate::store::now_ms();
        let session = Session {
            conn,
            opened_ms,
            tx,
            ended,
        };
        let old = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agent, session);
        if let Some(old) = old {
            // MQTT: a second connection with the same client id replaces the first.
            old.ended.notify_one();
        }
        (conn, opened_ms)
    }

    fn unregister(&self, agent: Uuid, conn: u64) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.get(&agent).is_some_and(|s| s.conn == conn) {
            sessions.remove(&agent);
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("connection closed")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed packet: {0}")]
    Malformed(mqttbytes::Error),
    #[error("protocol violation: {0}")]
    Violation(Violation),
    #[error("packet larger than {MAX_PACKET_BYTES} bytes")]
    TooLarge,
    #[error("no packet within the keep-alive period")]
    Idle,
    #[error("{0}")]
    Refused(&'static str),
    /// Refused and already audited with its details.
    #[error("refused")]
    Denied,
    #[error("store: {0}")]
    Store(#[from] ApiError),
}

struct Conn<R, W> {
    reader: R,
    writer: W,
    buf: BytesMut,
    out: BytesMut,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Conn<R, W> {
    /// The next complete packet already buffered, if any.
    fn buffered(&mut self) -> Result<Option<Packet>, End> {
        let frame = match mqttbytes::check(self.buf.iter(), MAX_PACKET_BYTES) {
            Ok(header) => header.frame_length(),
            Err(mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
            Err(mqttbytes::Error::PayloadSizeLimitExceeded(_)) => return Err(End::TooLarge),
            Err(e) => return Err(End::Malformed(e)),
        };
        // The codec is lenient where a server must not be (see `conformance`).
        conformance::check(&self.buf[..frame]).map_err(End::Violation)?;
        Packet::read(&mut self.buf, MAX_PACKET_BYTES)
            .map(Some)
            .map_err(End::Malformed)
    }

    /// Reads more bytes; `Closed` at end of stream.
    async fn fill(&mut self) -> Result<(), End> {
        if self.reader.read_buf(&mut self.buf).await? == 0 {
            return Err(End::Closed);
        }
        Ok(())
    }

    async fn send(&mut self, packet: Packet) -> Result<(), End> {
        self.out.clear();
        packet
            .write(&mut self.out, MAX_PACKET_BYTES)
            .map_err(End::Malformed)?;
        self.writer.write_all(&self.out).await?;
        self.writer.flush().await?;
        Ok(())
    }
}

/// Serves one MQTT connection from `peer` until it ends. Never panics on what the peer sends.
pub async fn serve<S>(state: AppState, stream: S, peer: IpAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(_slot) = state.remote.limits.connection(peer) else {
        // Dropping the stream closes it.
        refuse_anonymous(&state, "too many connections from this address").await;
        return;
    };
    let (reader, writer) = tokio::io::split(stream);
    let mut conn = Conn {
        reader,
        writer,
        buf: BytesMut::with_capacity(4096),
        out: BytesMut::with_capacity(1024),
    };
    let (agent, keep_alive, secret) = match connect(&state, &mut conn, peer).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, "MQTT connection refused");
            return;
        }
    };
    let (tx, rx) = mpsc::channel(1);
    let hub = state.remote.clone();
    let ended = Arc::new(Notify::new());
    let (id, opened_ms) = hub.register(agent.public_id, tx, ended.clone());
    let connected = super::peers::NodeMessage::AgentConnected {
        agent: agent.public_id,
        node: hub.node(),
        opened_ms,
    };
    super::peers::tell(&state.db, connected).await;
    // An agent disabled, deleted or given a new secret while its CONNECT was checked was looked
    // for (by `Hub::disconnect`) before this session was registered: check again now it is.
    let secret_hash = crate::crypto::token_hash(&secret);
    drop(secret);
    let result = match still_current(&state, &agent, secret_hash).await {
        Ok(true) => {
            crate::agent_admin::seen(&state, &agent);
            session(
                &state,
                &mut conn,
                &agent,
                secret_hash,
                keep_alive,
                rx,
                &ended,
            )
            .await
        }
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    hub.unregister(agent.public_id, id);
    let _ = conn.writer.shutdown().await;
    match result {
        Ok(()) | Err(End::Closed) => {}
        Err(e) => {
            tracing::info!(agent = %agent.public_id, error = %e, "MQTT connection ended");
            let action = match e {
                End::Malformed(_) | End::TooLarge | End::Violation(_) => Some("mqtt.packet"),
                End::Refused(_) => Some("mqtt.publish"),
                _ => None,
            };
            if let Some(action) = action {
                audit_refusal(
                    &state,
                    Event::new(
                        Some(agent.org_id),
                        Actor::Agent(agent.public_id),
                        action,
                        e.to_string(),
                        if matches!(e, End::Refused(_)) {
                            Outcome::Denied
                        } else {
                            Outcome::Failed
                        },
                    ),
                )
                .await;
            }
        }
    }
}

async fn audit(state: &AppState, event: Event) {
    if let Err(e) = state.audit(event).await {
        tracing::error!(error = %e, "could not write an MQTT audit row");
    }
}

/// Audits a refusal folded by the audit throttle, as the refusals of anonymous callers are:
/// every one is counted, but an agent (or whoever holds its secret) cannot make the server
/// write a row per packet.
async fn audit_refusal(state: &AppState, event: Event) {
    let rows = state.audit_throttle.admit(event);
    if let Err(e) = state.audit_all(rows).await {
        tracing::error!(error = %e, "could not write an MQTT audit row");
    }
}

/// Audits (folded) a refusal before anyone is authenticated.
async fn refuse_anonymous(state: &AppState, why: &str) {
    let event = Event::new(
        None,
        Actor::Anonymous,
        "mqtt.connect",
        why.to_owned(),
        Outcome::Denied,
    );
    audit_refusal(state, event).await;
}

/// Reads and checks the CONNECT; answers CONNACK. Returns the agent, its keep-alive and the
/// secret it presented.
async fn connect<R, W>(
    state: &AppState,
    conn: &mut Conn<R, W>,
    peer: IpAddr,
) -> Result<(AgentPrincipal, Duration, String), End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let first = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            // MQTT 5 CONNECTs carry properties the 3.1.1 reader would misread: tell them apart
            // by the protocol level byte and refuse them as MQTT asks (CONNACK 1).
            if let Some(level) = protocol_level(&conn.buf) {
                if level != 4 {
                    return Ok(None);
                }
            }
            if let Some(p) = conn.buffered()? {
                return Ok(Some(p));
            }
            conn.fill().await?;
        }
    })
    .await
    .map_err(|_| End::Idle)?;
    let connect = match first {
        Err(e) => {
            refuse_anonymous(state, "malformed or oversized CONNECT").await;
            return Err(e);
        }
        Ok(None) => {
            conn.send(Packet::ConnAck(ConnAck::new(
                ConnectReturnCode::RefusedProtocolVersion,
                false,
            )))
            .await?;
            return Err(End::Refused("only MQTT 3.1.1 is spoken"));
        }
        Ok(Some(Packet::Connect(c))) => c,
        Ok(Some(_)) => return Err(End::Refused("the first packet was not CONNECT")),
    };
    let limits = &state.remote.limits;
    if !limits.may_try(peer) {
        refuse_anonymous(state, "too many failed CONNECTs from this address").await;
        conn.send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::ServiceUnavailable,
            false,
        )))
        .await?;
        return Err(End::Refused("too many failed CONNECTs from this address"));
    }
    let claimed = Uuid::parse_str(&connect.client_id)
        .ok()
        .filter(|id| id.hyphenated().to_string() == connect.client_id);
    let login = connect.login.clone();
    let found = match (claimed, login) {
        (Some(claimed), Some(login)) if login.username == connect.client_id => {
            let secret = login.password;
            let presented = secret.clone();
            state
                .db
                .read(move |c| devices::authenticate_agent(c, &secret))
                .await
                .ok()
                .filter(|a| a.public_id == claimed)
                .map(|a| (a, presented))
        }
        _ => None,
    };
    let Some((agent, secret)) = found else {
        limits.failed(peer);
        // One row per attempt, folded by the throttle like other anonymous refusals.
        refuse_anonymous(state, "bad client id, user name or secret").await;
        conn.send(Packet::ConnAck(ConnAck::new(
            ConnectReturnCode::BadUserNamePassword,
            false,
        )))
        .await?;
        return Err(End::Refused("bad credentials"));
    };
    conn.send(Packet::ConnAck(ConnAck::new(
        ConnectReturnCode::Success,
        false,
    )))
    .await?;
    audit(
        state,
        Event::new(
            Some(agent.org_id),
            Actor::Agent(agent.public_id),
            "mqtt.connect",
            String::new(),
            Outcome::Success,
        ),
    )
    .await;
    let secs = match connect.keep_alive {
        0 => MAX_KEEP_ALIVE_SECS,
        k => k.min(MAX_KEEP_ALIVE_SECS),
    };
    Ok((agent, Duration::from_millis(u64::from(secs) * 1500), secret))
}

/// Whether the agent is still enabled and its secret still the one it connected with.
async fn still_current(
    state: &AppState,
    agent: &AgentPrincipal,
    secret_hash: [u8; 32],
) -> Result<bool, End> {
    let id = agent.id;
    Ok(state
        .db
        .read(move |c| devices::agent_is_current(c, id, &secret_hash))
        .await?)
}

/// The protocol level byte of a buffered CONNECT, once enough of it is there.
fn protocol_level(buf: &[u8]) -> Option<u8> {
    if buf.first().map(|b| b >> 4) != Some(1) {
        return None;
    }
    // Remaining length: 1 to 4 bytes of 7 bits each.
    let mut i = 1;
    while i < buf.len() && i <= 4 && buf[i] & 0x80 != 0 {
        i += 1;
    }
    // Then the protocol name (u16 length + "MQTT") and the level.
    let header = buf.get(i + 1..i + 1 + 7)?;
    (&header[..6] == b"\x00\x04MQTT").then_some(header[6])
}

async fn session<R, W>(
    state: &AppState,
    conn: &mut Conn<R, W>,
    agent: &AgentPrincipal,
    secret_hash: [u8; 32],
    keep_alive: Duration,
    mut kicks: mpsc::Receiver<Kick>,
    ended: &Notify,
) -> Result<(), End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut shutdown = state.remote.shutdown.subscribe();
    let mut subscribed = false;
    let mut next_pkid: u16 = 0;
    // Commands published on this connection, and the packet ids still awaiting PUBACK.
    let mut published: HashSet<Uuid> = HashSet::new();
    let mut inflight: HashMap<u16, Uuid> = HashMap::new();
    let mut idle_until = tokio::time::Instant::now() + keep_alive;
    // Refused filters and messages so far (see `MAX_REFUSALS_PER_CONNECTION`).
    let mut refusals: usize = 0;
    // Changes made by another process (the `ecsp-server agents` command) are not announced
    // through the hub: the agent is checked again as often as the agent cache forgets.
    let mut recheck = tokio::time::interval(crate::agent_cache::TTL);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    loop {
        while let Some(packet) = conn.buffered()? {
            idle_until = tokio::time::Instant::now() + keep_alive;
            crate::agent_admin::seen(state, agent);
            match packet {
                Packet::PingReq => conn.send(Packet::PingResp).await?,
                Packet::Disconnect => return Ok(()),
                Packet::Subscribe(sub) => {
                    let own = topic::commands(agent.public_id);
                    let codes: Vec<SubscribeReasonCode> = sub
                        .filters
                        .iter()
                        .map(|f| {
                            if f.path == own {
                                SubscribeReasonCode::Success(QoS::AtLeastOnce)
                            } else {
                                SubscribeReasonCode::Failure
                            }
                        })
                        .collect();
                    subscribed |= sub.filters.iter().any(|f| f.path == own);
                    let mut refused = sub.filters.iter().filter(|f| f.path != own);
                    if let Some(first) = refused.next() {
                        // One row per packet, however many filters it refuses.
                        let n = 1 + refused.count();
                        refusals = refusals.saturating_add(n);
                        let over = refusals > MAX_REFUSALS_PER_CONNECTION;
                        let mut object = match n {
                            1 => format!("topic:{}", short(&first.path)),
                            n => format!("topics:{n} first:{}", short(&first.path)),
                        };
                        if over {
                            object.push_str(" (too many refusals: connection closed)");
                        }
                        audit_refusal(
                            state,
                            Event::new(
                                Some(agent.org_id),
                                Actor::Agent(agent.public_id),
                                "mqtt.subscribe",
                                object,
                                Outcome::Denied,
                            ),
                        )
                        .await;
                        if over {
                            return Err(End::Denied);
                        }
                    }
                    conn.send(Packet::SubAck(SubAck::new(sub.pkid, codes)))
                        .await?;
                    if subscribed {
                        publish_pending(
                            state,
                            conn,
                            agent,
                            &mut next_pkid,
                            &mut published,
                            &mut inflight,
                        )
                        .await?;
                    }
                }
                Packet::Unsubscribe(u) => {
                    if u.topics.contains(&topic::commands(agent.public_id)) {
                        subscribed = false;
                    }
                    conn.send(Packet::UnsubAck(UnsubAck { pkid: u.pkid }))
                        .await?;
                }
                Packet::Publish(p) => {
                    metrics::counter!(crate::telemetry::MQTT_MESSAGES, "direction" => "from_agent")
                        .increment(1);
                    if !on_publish(state, conn, agent, p).await? {
                        refusals = refusals.saturating_add(1);
                        if refusals > MAX_REFUSALS_PER_CONNECTION {
                            return Err(End::Refused("too many refusals: connection closed"));
                        }
                    }
                }
                Packet::PubAck(ack) => {
                    inflight.remove(&ack.pkid);
                }
                Packet::Connect(_) => return Err(End::Refused("a second CONNECT")),
                // QoS 2 is not offered (SUBACK grants 1; agents publish with 0 or 1).
                _ => return Err(End::Refused("a packet this broker does not take")),
            }
        }
        tokio::select! {
            read = tokio::time::timeout_at(idle_until, conn.fill()) => match read {
                Ok(r) => r?,
                Err(_) => return Err(End::Idle),
            },
            kick = kicks.recv() => match kick {
                Some(Kick) if subscribed => {
                    publish_pending(state, conn, agent, &mut next_pkid, &mut published, &mut inflight).await?;
                }
                Some(Kick) => {}
                None => return Ok(()),
            },
            // MQTT: a second connection with the same client id replaces the first.
            _ = ended.notified() => return Ok(()),
            _ = recheck.tick() => {
                if !still_current(state, agent, secret_hash).await? {
                    return Ok(());
                }
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Publishes (QoS 1) the agent's pending commands not yet published on this connection, then
/// marks them `sent`.
async fn publish_pending<R, W>(
    state: &AppState,
    conn: &mut Conn<R, W>,
    agent: &AgentPrincipal,
    next_pkid: &mut u16,
    published: &mut HashSet<Uuid>,
    inflight: &mut HashMap<u16, Uuid>,
) -> Result<(), End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let id = agent.id;
    let pending = state
        .db
        .read(move |c| operations::pending_for_agent(c, id, Utc::now()))
        .await?;
    let mut sent = Vec::new();
    for cmd in pending {
        if published.contains(&cmd.operation_id) || inflight.len() >= u16::MAX as usize / 2 {
            continue;
        }
        let payload = serde_json::to_vec(&cmd).map_err(|e| {
            ApiError::Store(crate::db::StoreError::Corrupt(format!(
                "command does not serialise: {e}"
            )))
        })?;
        *next_pkid = next_pkid.wrapping_add(1).max(1);
        while inflight.contains_key(next_pkid) {
            *next_pkid = next_pkid.wrapping_add(1).max(1);
        }
        let mut publish = Publish::new(topic::commands(agent.public_id), QoS::AtLeastOnce, payload);
        publish.pkid = *next_pkid;
        conn.send(Packet::Publish(publish)).await?;
        metrics::counter!(crate::telemetry::MQTT_MESSAGES, "direction" => "to_agent").increment(1);
        inflight.insert(*next_pkid, cmd.operation_id);
        published.insert(cmd.operation_id);
        sent.push(cmd.operation_id);
    }
    if !sent.is_empty() {
        let who = agent.clone();
        state
            .db
            .write(move |c| operations::mark_sent(c, &who, &sent))
            .await?;
    }
    Ok(())
}

/// A PUBLISH from the agent: only on its own acks/results/capabilities topics. The PUBACK
/// follows the durable commit, so a report is never acknowledged and then lost. Returns
/// whether the message was taken.
async fn on_publish<R, W>(
    state: &AppState,
    conn: &mut Conn<R, W>,
    agent: &AgentPrincipal,
    p: Publish,
) -> Result<bool, End>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let kind = match topic::parse(&p.topic) {
        Some((owner, kind)) if owner == agent.public_id && kind != topic::AgentTopic::Commands => {
            kind
        }
        _ => {
            audit_refusal(
                state,
                Event::new(
                    Some(agent.org_id),
                    Actor::Agent(agent.public_id),
                    "mqtt.publish",
                    format!("topic:{}", p.topic),
                    Outcome::Denied,
                ),
            )
            .await;
            // MQTT 3.1.1 has no negative PUBACK: the connection ends (as AWS IoT does).
            return Err(End::Denied);
        }
    };
    if p.qos == QoS::ExactlyOnce {
        return Err(End::Refused("QoS 2 is not offered"));
    }
    let taken = handle_agent_message(state, agent, kind, &p.payload).await;
    if p.qos == QoS::AtLeastOnce {
        // A refused message is acknowledged too: sending it again would not make it valid.
        conn.send(Packet::PubAck(PubAck::new(p.pkid))).await?;
    }
    Ok(taken)
}

type Refusal = (&'static str, String);

/// A message an agent published on one of its own topics (by this broker's rule, or by the
/// external broker's ACL): a report or a capability report. A refusal is audited. Returns
/// whether it was taken.
pub(crate) async fn handle_agent_message(
    state: &AppState,
    agent: &AgentPrincipal,
    kind: topic::AgentTopic,
    payload: &[u8],
) -> bool {
    let handled = match kind {
        topic::AgentTopic::Capabilities => on_capabilities(state, agent, payload).await,
        topic::AgentTopic::Commands => Err(("mqtt.publish", "topic:commands".to_owned())),
        _ => on_report(state, agent, kind, payload).await,
    };
    match handled {
        Ok(()) => true,
        Err((action, object)) => {
            audit_refusal(
                state,
                Event::new(
                    Some(agent.org_id),
                    Actor::Agent(agent.public_id),
                    action,
                    object,
                    Outcome::Denied,
                ),
            )
            .await;
            false
        }
    }
}

async fn on_report(
    state: &AppState,
    agent: &AgentPrincipal,
    kind: topic::AgentTopic,
    payload: &[u8],
) -> Result<(), Refusal> {
    let report: AgentReport = serde_json::from_slice(payload).map_err(|e| {
        (
            "operation.report",
            format!("malformed report: {}", short(&e)),
        )
    })?;
    let object = format!("operation:{}", report.operation_id);
    report
        .validate(Utc::now())
        .map_err(|e| ("operation.report", format!("{object}: {}", short(&e))))?;
    if report.state.topic() != kind {
        return Err((
            "operation.report",
            format!("{object}: a {:?} report on the wrong topic", report.state),
        ));
    }
    let who = agent.clone();
    let outcome = state
        .db
        .write(move |c| operations::apply_report(c, &who, &report))
        .await;
    match outcome {
        Ok(ReportOutcome::Applied(s)) => {
            tracing::debug!(%object, state = s.as_str(), "operation state changed");
            Ok(())
        }
        Ok(ReportOutcome::Ignored(s)) => {
            tracing::debug!(%object, state = s.as_str(), "repeated or late report ignored");
            Ok(())
        }
        Err(ApiError::NotFound(_)) => {
            Err(("operation.report", format!("{object}: not this agent's")))
        }
        Err(e @ ApiError::Validation(_)) => Err(("operation.report", format!("{object}: {e}"))),
        Err(e) => {
            tracing::error!(error = %e, "could not store an operation report");
            Err(("operation.report", format!("{object}: not stored")))
        }
    }
}

async fn on_capabilities(
    state: &AppState,
    agent: &AgentPrincipal,
    payload: &[u8],
) -> Result<(), Refusal> {
    let report: CapabilityReport = serde_json::from_slice(payload)
        .map_err(|e| ("agent.capabilities", format!("malformed: {}", short(&e))))?;
    report
        .validate(Utc::now())
        .map_err(|e| ("agent.capabilities", short(&e)))?;
    let who = agent.clone();
    let stored = state
        .db
        .write(move |c| {
            let n = operations::set_capabilities(c, &who, &report)?;
            crate::store::audit::append(
                c,
                &Event::new(
                    Some(who.org_id),
                    Actor::Agent(who.public_id),
                    "agent.capabilities",
                    format!("devices:{n}"),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(())
        })
        .await;
    stored.map_err(|e| ("agent.capabilities", format!("not stored: {e}")))
}

/// An error's text, bounded (audit rows are short).
fn short(e: &impl std::fmt::Display) -> String {
    let mut s = e.to_string();
    if let Some((end, _)) = s.char_indices().nth(100) {
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_level_is_read_from_a_connect() {
        let mut buf = BytesMut::new();
        Packet::Connect(rumqttc::mqttbytes::v4::Connect::new("x"))
            .write(&mut buf, 1024)
            .unwrap();
        assert_eq!(protocol_level(&buf), Some(4));
        assert_eq!(protocol_level(&buf[..5]), None);
        assert_eq!(protocol_level(&[0x30, 0, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(protocol_level(b"\x10\x05garbagegarbage"), None);
        assert_eq!(protocol_level(b"\x10\x10\x00\x04MQTT\x05\x02"), Some(5));
    }
}
