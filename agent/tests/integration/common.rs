//! A reference server (server-mock, with its MQTT broker on the HTTPS port) per test, and an ES
//! agent simulator enrolled with it the way a real one is: CA pinned by fingerprint, the demo
//! agent's id and secret.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ecsp_agent::session::{self, Executor, MqttSettings, SessionHandle};
use ecsp_agent::sim::Fleet;
use ecsp_agent::store::AgentStore;
use ecsp_agent::upload::fetch_ca;
use ecsp_client::Secret;
use ecsp_protocol::remote_ops::{
    Command, DeviceCapabilities, OperationResult, OperationState, OperationView, Reason,
};
use ecsp_server_mock::{Config, Server};
use serde_json::{Value, json};
use uuid::Uuid;

#[allow(missing_debug_implementations)]
pub struct Rig {
    pub server: Server,
    pub _dir: tempfile::TempDir,
    pub ca_pem: String,
    pub http: reqwest::Client,
    pub support_token: String,
    pub fleet: Fleet,
    pub store: AgentStore,
}

pub fn base(server: &Server) -> String {
    format!("https://localhost:{}", server.addr.port())
}

impl Rig {
    pub async fn start() -> Rig {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = Config::with_defaults(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.operation_sweep = Duration::from_millis(200);
        let server = ecsp_server_mock::start(config).await.expect("server");
        let fingerprint = server.ca_fingerprint.clone().expect("fingerprint");
        let ca_pem = fetch_ca(&base(&server), &fingerprint).await.expect("enrol");
        let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client");
        let demo = server.demo.clone().expect("demo");
        let support = demo
            .users
            .iter()
            .find(|u| u.email.starts_with("support"))
            .expect("support user");
        let tokens: Value = http
            .post(format!("{}/api/v1/auth/login", base(&server)))
            .json(&json!({"email": support.email, "password": support.password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("tokens");
        let support_token = tokens["access_token"].as_str().expect("token").to_owned();
        let fleet = Fleet::from_devices(
            demo.devices.iter().map(|d| {
                (
                    d.manufacturer.as_str(),
                    d.model.as_str(),
                    d.serial_number.as_str(),
                )
            }),
            11,
            Utc::now() - chrono::Duration::hours(6),
        );
        fleet.advance(Utc::now());
        // Head cleanings take 1 % of their real time: 0.6 to 1.8 s.
        fleet.set_time_scale(0.01);
        let store = AgentStore::open(&dir.path().join("agent.db")).expect("store");
        Rig {
            server,
            _dir: dir,
            ca_pem,
            http,
            support_token,
            fleet,
            store,
        }
    }

    pub fn agent_id(&self) -> Uuid {
        self.server.demo.as_ref().expect("demo").agent.agent_id
    }

    pub fn secret(&self) -> Secret {
        Secret::new(
            self.server
                .demo
                .as_ref()
                .expect("demo")
                .agent
                .secret
                .clone(),
        )
    }

    pub fn device(&self, i: usize) -> Uuid {
        self.server.demo.as_ref().expect("demo").devices[i].device_id
    }

    /// Connects the simulator's agent over MQTT/TLS (ALPN `mqtt` on the HTTPS port).
    pub fn connect(&self) -> SessionHandle {
        self.connect_through(self.server.addr.port())
    }

    /// As [`Rig::connect`], to a loopback `port` that leads to the server (a proxy).
    pub fn connect_through(&self, port: u16) -> SessionHandle {
        let tls =
            ecsp_client::transport::tls_config(None, Some(self.ca_pem.as_bytes())).expect("tls");
        session::spawn(
            MqttSettings {
                host: "localhost".into(),
                port,
                tls,
                agent_id: self.agent_id(),
                secret: self.secret(),
                keep_alive: Duration::from_secs(30),
                credentials: None,
            },
            self.store.clone(),
            Arc::new(self.fleet.clone()),
        )
    }

    pub async fn request(&self, body: Value) -> OperationView {
        let res = self
            .http
            .post(format!("{}/api/v1/operations", base(&self.server)))
            .bearer_auth(&self.support_token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            reqwest::StatusCode::CREATED,
            "{}",
            res.text().await.unwrap_or_default()
        );
        res.json().await.expect("operation")
    }

    pub async fn operation(&self, id: Uuid) -> OperationView {
        self.http
            .get(format!("{}/api/v1/operations/{id}", base(&self.server)))
            .bearer_auth(&self.support_token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("operation")
    }

    /// Polls until the operation is in a final state (or 20 s pass).
    pub async fn until_final(&self, id: Uuid) -> OperationView {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let op = self.operation(id).await;
            if op.state.is_final() || tokio::time::Instant::now() > deadline {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the operation reaches `state` (or 20 s pass).
    pub async fn until_state(&self, id: Uuid, state: OperationState) -> OperationView {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let op = self.operation(id).await;
            if op.state == state || tokio::time::Instant::now() > deadline {
                return op;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// How often each operation ran, shared by the executors that count into it.
pub type Runs = Arc<std::sync::Mutex<std::collections::HashMap<Uuid, u32>>>;

/// The simulator, counting how often each operation really ran.
#[derive(Debug)]
pub struct Counting {
    pub fleet: Fleet,
    pub runs: Runs,
}

impl Counting {
    pub fn new(fleet: Fleet) -> Self {
        Self {
            fleet,
            runs: Runs::default(),
        }
    }

    /// Runs of every operation, added up.
    pub fn total(&self) -> u32 {
        self.runs.lock().expect("runs").values().sum()
    }
}

impl Executor for Counting {
    fn capabilities(&self) -> Vec<DeviceCapabilities> {
        self.fleet.capabilities()
    }

    fn check(&self, command: &Command) -> Result<(), Reason> {
        self.fleet.check(command)
    }

    fn execute<'a>(
        &'a self,
        command: &'a Command,
    ) -> Pin<Box<dyn Future<Output = Result<OperationResult, Reason>> + Send + 'a>> {
        *self
            .runs
            .lock()
            .expect("runs")
            .entry(command.operation_id)
            .or_default() += 1;
        Box::pin(self.fleet.execute(command))
    }
}

/// A TCP proxy on loopback to `target` that delivers every byte `delay` after it arrived, each
/// way: a link with a round trip of twice `delay` (a satellite link, a congested VPN).
pub async fn slow_link(target: std::net::SocketAddr, delay: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn one_way(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        delay: Duration,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                if tx
                    .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        });
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(one_way(client_read, server_write, delay));
            tokio::spawn(one_way(server_read, client_write, delay));
        }
    });
    port
}
