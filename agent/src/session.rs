//! The agent's MQTT session (contract: `docs/remote-operations.md`): connect over TLS with the
//! agent id and secret, subscribe to the agent's own command topic, publish capabilities, and
//! run each command at most once — recorded in the ledger *before* it runs and before the
//! broker's delivery is acknowledged, so a redelivery (broker retry, server re-send, agent
//! restart) is answered with the operation's latest report instead of running it again.
//! Reconnects with exponential backoff and jitter when the connection drops.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use ecsp_client::Secret;
use ecsp_protocol::Validate;
use ecsp_protocol::agent::BrokerCredential;
use ecsp_protocol::remote_ops::{
    self, AgentReport, CapabilityReport, Command, DeviceCapabilities, OperationResult, Reason,
    ReasonCode, ReportedState, topic,
};
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport,
};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::sim::Fleet;
use crate::store::{AgentStore, Begin};

/// What runs operations on the devices behind an agent (the simulator, or a DC agent's printers).
pub trait Executor: Send + Sync + 'static {
    fn capabilities(&self) -> Vec<DeviceCapabilities>;
    /// Whether the command can start now (known device, supported, not busy): a refusal here
    /// is reported `rejected`, before `in_progress`.
    fn check(&self, command: &Command) -> Result<(), Reason>;
    fn execute<'a>(
        &'a self,
        command: &'a Command,
    ) -> Pin<Box<dyn Future<Output = Result<OperationResult, Reason>> + Send + 'a>>;
}

impl Executor for Fleet {
    fn capabilities(&self) -> Vec<DeviceCapabilities> {
        Fleet::capabilities(self)
    }

    fn check(&self, command: &Command) -> Result<(), Reason> {
        Fleet::check(self, command)
    }

    fn execute<'a>(
        &'a self,
        command: &'a Command,
    ) -> Pin<Box<dyn Future<Output = Result<OperationResult, Reason>> + Send + 'a>> {
        Box::pin(Fleet::execute(self, command))
    }
}

/// Where the MQTT password comes from when the service's broker is a cluster that trusts
/// credentials the server signs (`POST /api/v1/agent/broker-credential`).
pub trait CredentialSource: Send + Sync + 'static {
    /// A fresh credential; `Ok(None)`: the broker takes the agent's secret.
    fn fetch(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Option<BrokerCredential>, String>> + Send + '_>>;
}

impl CredentialSource for crate::upload::Uploader {
    fn fetch(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Option<BrokerCredential>, String>> + Send + '_>> {
        Box::pin(async move { self.broker_credential().await.map_err(|e| e.to_string()) })
    }
}

/// Where and who to connect as.
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    /// Trusts the server's CA; ALPN `mqtt` is added here.
    pub tls: rustls::ClientConfig,
    pub agent_id: Uuid,
    pub secret: Secret,
    pub keep_alive: Duration,
    /// Asked before each connection; without it (or when it answers `None`) the password is
    /// the agent's secret.
    pub credentials: Option<Arc<dyn CredentialSource>>,
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

/// A running session; dropping it does not stop it, [`SessionHandle::stop`] does.
#[derive(Debug)]
pub struct SessionHandle {
    client: AsyncClient,
    task: JoinHandle<()>,
    subscribed: Arc<AtomicBool>,
    connections: Arc<AtomicU32>,
}

impl SessionHandle {
    /// Whether the session is connected and subscribed to its command topic now.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// How many connections the broker accepted so far (the first, and each reconnection).
    pub fn connections(&self) -> u32 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Disconnects and stops the session (the ledger keeps what it recorded).
    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
        let _ = self.task.await;
    }
}

/// How long a connection attempt (TCP, TLS, CONNECT to CONNACK) may take at first: rumqttc's
/// default.
const CONNECT_TIMEOUT_S: u64 = 5;
/// The same on the clustered broker, where a node waiting for a new JetStream leader holds a
/// CONNECT for 4 s and then fails it; a fresh attempt after the election is answered at once.
const CLUSTERED_CONNECT_TIMEOUT_S: u64 = 2;
/// The longest connect timeout, reached after attempts timed out in a row.
const MAX_CONNECT_TIMEOUT_S: u64 = 30;

/// The connect timeout for the broker the credential is for (it may change at a renewal), after
/// `timeouts_in_a_row` attempts that timed out: doubled every second one, so a link slower than
/// the first timeout (a satellite link, a congested VPN) still gets through, while the first two
/// attempts stay short for a cluster's election.
fn connect_timeout_s(clustered: bool, timeouts_in_a_row: u32) -> u64 {
    let first = if clustered {
        CLUSTERED_CONNECT_TIMEOUT_S
    } else {
        CONNECT_TIMEOUT_S
    };
    (first << (timeouts_in_a_row / 2).min(5)).min(MAX_CONNECT_TIMEOUT_S)
}

fn set_connect_timeout(events: &mut EventLoop, clustered: bool, timeouts_in_a_row: u32) {
    let mut network = events.network_options();
    network.set_connection_timeout(connect_timeout_s(clustered, timeouts_in_a_row));
    events.set_network_options(network);
}

/// The delay before reconnect attempt `n`: 0.5 s doubling to 30 s, with jitter in [½, 1].
pub fn reconnect_backoff(attempt: u32) -> Duration {
    let ms = (500u64 << attempt.min(6)).min(30_000);
    Duration::from_millis(ms / 2 + fastrand::u64(0..=ms / 2))
}

struct Runner {
    /// Set while the broker is a cluster that took a signed credential: commands are then
    /// subscribed at QoS 0 (see [`Runner::on_connect`]).
    clustered: Arc<AtomicBool>,
    agent_id: Uuid,
    client: AsyncClient,
    store: AgentStore,
    executor: Arc<dyn Executor>,
}

/// Starts the session in the background.
pub fn spawn(
    settings: MqttSettings,
    store: AgentStore,
    executor: Arc<dyn Executor>,
) -> SessionHandle {
    let mut tls = settings.tls;
    tls.alpn_protocols = vec![remote_ops::MQTT_ALPN.as_bytes().to_vec()];
    let id = settings.agent_id.to_string();
    let mut options = MqttOptions::new(&id, settings.host, settings.port);
    options
        .set_credentials(&id, settings.secret.expose())
        .set_keep_alive(settings.keep_alive)
        .set_clean_session(true)
        .set_manual_acks(true)
        .set_max_packet_size(remote_ops::MAX_PACKET_BYTES, remote_ops::MAX_PACKET_BYTES)
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    let (client, mut events) = AsyncClient::new(options, 64);
    // Commands and reports are small and latency-bound: no Nagle delay.
    let mut network = events.network_options();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    let clustered = Arc::new(AtomicBool::new(false));
    let runner = Arc::new(Runner {
        clustered: clustered.clone(),
        agent_id: settings.agent_id,
        client: client.clone(),
        store,
        executor,
    });
    let subscribed = Arc::new(AtomicBool::new(false));
    let password = Password {
        source: settings.credentials,
        user: id,
        held: None,
        clustered,
    };
    let connections = Arc::new(AtomicU32::new(0));
    let task = tokio::spawn(run(
        runner,
        events,
        Flags {
            subscribed: subscribed.clone(),
            connections: connections.clone(),
        },
        password,
    ));
    SessionHandle {
        client,
        task,
        subscribed,
        connections,
    }
}

/// The credential the next connection presents, when the broker takes signed ones.
struct Password {
    source: Option<Arc<dyn CredentialSource>>,
    user: String,
    held: Option<BrokerCredential>,
    /// Shared with the runner: whether a signed credential is in use.
    clustered: Arc<AtomicBool>,
}

impl Password {
    /// How long before its expiry a held credential is replaced.
    const MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

    /// Puts a credential valid for a while into `options`: the one held, or a fresh one. When
    /// the server cannot be asked, the one held is tried anyway (the broker decides).
    async fn prepare(&mut self, options: &mut MqttOptions) {
        let Some(source) = &self.source else { return };
        let fresh_enough = self
            .held
            .as_ref()
            .is_some_and(|c| c.expires_at - Utc::now() > Self::MARGIN);
        if !fresh_enough {
            match source.fetch().await {
                Ok(Some(c)) => self.held = Some(c),
                // The service's own broker: the secret set at the start stays.
                Ok(None) => self.source = None,
                Err(e) => tracing::warn!(error = %e, "no new broker credential"),
            }
        }
        if let Some(c) = &self.held {
            options.set_credentials(&self.user, &c.password);
        }
        self.clustered.store(self.held.is_some(), Ordering::Relaxed);
    }
}

/// What a session shows its handle.
struct Flags {
    subscribed: Arc<AtomicBool>,
    connections: Arc<AtomicU32>,
}

async fn run(runner: Arc<Runner>, mut events: EventLoop, flags: Flags, mut password: Password) {
    let Flags {
        subscribed,
        connections,
    } = flags;
    let mut failures = 0u32;
    let mut timeouts = 0u32;
    password.prepare(&mut events.mqtt_options).await;
    set_connect_timeout(&mut events, password.clustered.load(Ordering::Relaxed), 0);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                timeouts = 0;
                connections.fetch_add(1, Ordering::Relaxed);
                tracing::info!(agent = %runner.agent_id, "connected");
                let r = runner.clone();
                tokio::spawn(async move { r.on_connect().await });
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                subscribed.store(true, Ordering::Relaxed);
                let r = runner.clone();
                tokio::spawn(async move { r.announce().await });
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let r = runner.clone();
                tokio::spawn(async move { r.on_command(p).await });
            }
            Ok(_) => {}
            Err(e) => {
                subscribed.store(false, Ordering::Relaxed);
                // A broker node that answers nothing within the connect timeout is waiting for
                // its cluster (a new stream leader, after a node died), or the link is slow: ask
                // again soon, anew, rather than back off as from a broker that refused, and wait
                // longer every second time (`connect_timeout_s`).
                let timed_out = matches!(e, rumqttc::ConnectionError::NetworkTimeout);
                timeouts = if timed_out {
                    timeouts.saturating_add(1)
                } else {
                    0
                };
                let slow = timed_out && password.clustered.load(Ordering::Relaxed);
                let wait = reconnect_backoff(if slow { 0 } else { failures });
                if !slow {
                    failures = failures.saturating_add(1);
                }
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "MQTT connection lost");
                tokio::time::sleep(wait).await;
                password.prepare(&mut events.mqtt_options).await;
                let clustered = password.clustered.load(Ordering::Relaxed);
                set_connect_timeout(&mut events, clustered, timeouts);
            }
        }
    }
}

impl Runner {
    /// Subscribes to the agent's commands; the capabilities follow the subscription's SUBACK
    /// ([`Runner::announce`]).
    ///
    /// On the clustered broker (NATS) at QoS 0: there each QoS 1 subscription is a JetStream
    /// consumer, one per agent, and one left on a broker node that died holds the agent's
    /// reconnection up for seconds per attempt. Nothing is lost by it: the server publishes a
    /// command again until the agent reports it `delivered`, and the ledger answers a repeat.
    async fn on_connect(&self) {
        let qos = if self.clustered.load(Ordering::Relaxed) {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        if let Err(e) = self
            .client
            .subscribe(topic::commands(self.agent_id), qos)
            .await
        {
            tracing::warn!(error = %e, "subscribe failed");
        }
    }

    /// Says what the devices can do. Sent once subscribed: on an external broker the server
    /// answers it with the agent's pending commands, which a subscription made later would miss.
    async fn announce(&self) {
        let caps = CapabilityReport {
            schema_version: ecsp_protocol::PROTOCOL_VERSION,
            sent_at: Utc::now(),
            devices: self.executor.capabilities(),
        };
        self.publish(&topic::capabilities(self.agent_id), &caps)
            .await;
    }

    async fn publish(&self, topic: &str, body: &impl serde::Serialize) {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                if let Err(e) = self
                    .client
                    .publish(topic, QoS::AtLeastOnce, false, bytes)
                    .await
                {
                    tracing::warn!(error = %e, "publish failed");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot encode a report"),
        }
    }

    async fn report(&self, report: AgentReport) {
        let t = match report.state.topic() {
            topic::AgentTopic::Acks => topic::acks(self.agent_id),
            _ => topic::results(self.agent_id),
        };
        self.publish(&t, &report).await;
    }

    async fn on_command(&self, publish: Publish) {
        let parsed = serde_json::from_slice::<Command>(&publish.payload);
        let command = match parsed {
            Ok(c) => c,
            Err(e) => {
                // Without an operation id nothing can be reported; acknowledge and drop it.
                tracing::warn!(error = %e, "malformed command dropped");
                let _ = self.client.ack(&publish).await;
                return;
            }
        };
        let outcome = handle(&self.store, self.executor.as_ref(), &command, |r| {
            self.report(r)
        });
        // The ledger row is written inside `handle` before its first await on the executor;
        // acknowledging after `handle` finished would hold the broker's retry for a long
        // cleaning, so acknowledge as soon as the operation is recorded.
        let acked = async {
            // `handle` records synchronously at its start, so yielding once is enough.
            tokio::task::yield_now().await;
            let _ = self.client.ack(&publish).await;
        };
        tokio::join!(outcome, acked);
    }
}

/// Tells the store an operation begun here ended, when dropped.
struct Finished<'a>(&'a AgentStore, Uuid);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.finished(self.1);
    }
}

fn report(id: Uuid, state: ReportedState) -> AgentReport {
    AgentReport {
        schema_version: ecsp_protocol::PROTOCOL_VERSION,
        operation_id: id,
        state,
        at: Utc::now(),
        progress_percent: None,
        result: None,
        reason: None,
    }
}

/// Runs one delivered command at most once, sending each report through `publish` after
/// recording it as the operation's latest. Public so the at-most-once rule is testable without
/// a broker.
pub async fn handle<F, Fut>(
    store: &AgentStore,
    executor: &dyn Executor,
    command: &Command,
    publish: F,
) where
    F: Fn(AgentReport) -> Fut,
    Fut: Future<Output = ()>,
{
    let send = |r: AgentReport| {
        if let Err(e) = store.record_report(&r) {
            tracing::error!(error = %e, "cannot record a report");
        }
        publish(r)
    };
    let id = command.operation_id;
    match store.begin(id, Utc::now()) {
        Ok(Begin::New) => {}
        Ok(Begin::Running) => {
            tracing::debug!(operation = %id, "delivered again while running; it reports when done");
            return;
        }
        Ok(Begin::Seen(Some(last))) => {
            tracing::info!(operation = %id, "redelivered; resending the latest report");
            publish(*last).await;
            return;
        }
        Ok(Begin::Seen(None)) => {
            // Started before a crash and never reported: it may have run. Do not run it again.
            let mut r = report(id, ReportedState::Failed);
            r.reason = Some(Reason {
                code: ReasonCode::Other,
                message: Some("the agent restarted while this operation was running".into()),
            });
            send(r).await;
            return;
        }
        Err(e) => {
            // Without the ledger there is no at-most-once: refuse rather than risk a repeat.
            tracing::error!(error = %e, "operation ledger unavailable");
            return;
        }
    }
    // However this run ends (a refusal, a result, a panic), it is no longer this process's.
    let _running = Finished(store, id);
    send(report(id, ReportedState::Delivered)).await;
    if !command.is_live(Utc::now()) {
        let mut r = report(id, ReportedState::Rejected);
        r.reason = Some(Reason {
            code: ReasonCode::Expired,
            message: Some("the command arrived after its expiry".into()),
        });
        send(r).await;
        return;
    }
    if let Err(errors) = command.validate(Utc::now()) {
        let mut r = report(id, ReportedState::Rejected);
        r.reason = Some(Reason {
            code: ReasonCode::InvalidCommand,
            message: Some(errors.to_string().chars().take(256).collect()),
        });
        send(r).await;
        return;
    }
    if let Err(reason) = executor.check(command) {
        let mut r = report(id, ReportedState::Rejected);
        r.reason = Some(reason);
        send(r).await;
        return;
    }
    // A head cleaning takes minutes: say it started. Status and diagnosis answer at once, so an
    // `in_progress` would only cost the server one more stored report before the result.
    if command.kind == ecsp_protocol::remote_ops::OperationKind::HeadCleaning {
        let mut progress = report(id, ReportedState::InProgress);
        progress.progress_percent = Some(0);
        send(progress).await;
    }
    let final_report = match executor.execute(command).await {
        Ok(result) => {
            let mut r = report(id, ReportedState::Succeeded);
            r.result = Some(result);
            r
        }
        Err(reason) => {
            // It was in progress: whatever stopped it, it failed (never `rejected` now).
            let mut r = report(id, ReportedState::Failed);
            r.reason = Some(reason);
            r
        }
    };
    send(final_report).await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn the_connect_timeout_grows_after_timeouts_in_a_row_up_to_a_bound() {
        let clustered: Vec<u64> = (0..12).map(|n| connect_timeout_s(true, n)).collect();
        assert_eq!(clustered, [2, 2, 4, 4, 8, 8, 16, 16, 30, 30, 30, 30]);
        let plain: Vec<u64> = (0..8).map(|n| connect_timeout_s(false, n)).collect();
        assert_eq!(plain, [5, 5, 10, 10, 20, 20, 30, 30]);
        assert_eq!(connect_timeout_s(true, u32::MAX), MAX_CONNECT_TIMEOUT_S);
    }

    /// Answers with `answer` (lifetime in minutes, or none: the service's own broker), counting.
    struct Source {
        answer: Option<i64>,
        asked: AtomicUsize,
    }

    impl CredentialSource for Source {
        fn fetch(
            &self,
        ) -> Pin<Box<dyn Future<Output = Result<Option<BrokerCredential>, String>> + Send + '_>>
        {
            let n = self.asked.fetch_add(1, Ordering::Relaxed);
            let answer = self.answer.map(|minutes| BrokerCredential {
                password: format!("jwt-{n}"),
                expires_at: Utc::now() + chrono::TimeDelta::minutes(minutes),
            });
            Box::pin(async move { Ok(answer) })
        }
    }

    fn password(answer: Option<i64>) -> (Password, Arc<Source>) {
        let source = Arc::new(Source {
            answer,
            asked: AtomicUsize::new(0),
        });
        let password = Password {
            source: Some(source.clone() as Arc<dyn CredentialSource>),
            user: "agent".into(),
            held: None,
            clustered: Arc::new(AtomicBool::new(false)),
        };
        (password, source)
    }

    fn options() -> MqttOptions {
        let mut o = MqttOptions::new("agent", "localhost", 8443);
        o.set_credentials("agent", "the-secret");
        o
    }

    #[tokio::test]
    async fn a_signed_credential_replaces_the_secret_and_is_kept_until_near_its_end() {
        let (mut password, source) = password(Some(60));
        let mut o = options();
        password.prepare(&mut o).await;
        assert_eq!(o.credentials().expect("credentials set").password, "jwt-0");
        assert!(password.clustered.load(Ordering::Relaxed));
        // Fresh enough: a reconnection reuses it without asking.
        password.prepare(&mut o).await;
        assert_eq!(source.asked.load(Ordering::Relaxed), 1);
        assert_eq!(o.credentials().expect("credentials set").password, "jwt-0");
    }

    #[tokio::test]
    async fn a_credential_about_to_end_is_replaced() {
        let (mut password, source) = password(Some(1));
        let mut o = options();
        password.prepare(&mut o).await;
        password.prepare(&mut o).await;
        assert_eq!(source.asked.load(Ordering::Relaxed), 2);
        assert_eq!(o.credentials().expect("credentials set").password, "jwt-1");
    }

    #[tokio::test]
    async fn the_services_own_broker_keeps_the_secret_and_is_not_asked_again() {
        let (mut password, source) = password(None);
        let mut o = options();
        password.prepare(&mut o).await;
        password.prepare(&mut o).await;
        assert_eq!(source.asked.load(Ordering::Relaxed), 1);
        assert_eq!(
            o.credentials().expect("credentials set").password,
            "the-secret"
        );
        assert!(!password.clustered.load(Ordering::Relaxed));
    }
}
