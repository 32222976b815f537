//! A reference server in a temporary directory, and clients of it with in-memory secrets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ecsp_client::capture::DfeCapture;
use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::{ClientConfig, ClientEvent, EcspClient};
use ecsp_server_mock::seed::DemoAccounts;
use ecsp_server_mock::{Config, Server};
use serde_json::json;
use uuid::Uuid;

pub struct TestServer {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub demo: DemoAccounts,
    pub ca_pem: String,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let server = ecsp_server_mock::start(config).await.unwrap();
        Self {
            addr: server.addr,
            demo: server.demo.clone().unwrap(),
            ca_pem: server.ca_pem.clone().unwrap(),
            server: Some(server),
            dir,
        }
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }

    /// Starts the server again on the same address and data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let mut config = Config::with_defaults(self.dir.path().join("server"));
        config.listen = self.addr;
        self.server = Some(ecsp_server_mock::start(config).await.unwrap());
    }

    pub fn device(&self, i: usize) -> Uuid {
        self.demo.devices[i].device_id
    }

    pub fn config(&self, name: &str) -> ClientConfig {
        ClientConfig {
            server: self.url(),
            ca_pem: Some(self.ca_pem.clone().into_bytes()),
            data_dir: self.dir.path().join("clients").join(name),
            ..ClientConfig::default()
        }
    }

    /// A client with its own data directory and in-memory secrets.
    pub fn client(&self, name: &str) -> (EcspClient, Arc<MemorySecretStore>) {
        let secrets = Arc::new(MemorySecretStore::default());
        let client = EcspClient::open(&self.config(name), secrets.clone()).unwrap();
        (client, secrets)
    }

    /// The demo user whose e-mail starts with `who`.
    pub fn user(&self, who: &str) -> &ecsp_server_mock::seed::DemoUser {
        self.demo
            .users
            .iter()
            .find(|u| u.email.starts_with(who))
            .unwrap()
    }

    /// A client signed in as the demo user whose e-mail starts with `who`.
    pub async fn signed_in(&self, who: &str) -> (EcspClient, Arc<MemorySecretStore>) {
        let (client, secrets) = self.client(who);
        let user = self.user(who);
        client.login(&user.email, &user.password).await.unwrap();
        (client, secrets)
    }

    /// Record ids stored on the server.
    pub fn stored(&self) -> Vec<String> {
        let db = rusqlite::Connection::open(
            self.dir
                .path()
                .join("server")
                .join(ecsp_server_mock::DATABASE_FILE),
        )
        .unwrap();
        let mut stmt = db.prepare("SELECT record_id FROM records").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }
}

pub fn dfe(device: Uuid) -> DfeCapture {
    serde_json::from_value(json!({
        "device_id": device,
        "software": {"name": "Fiery XF", "version": "7.3.2"},
        "print_settings": {"preset_name": "Proof", "values": {"ink_limit": 280}}
    }))
    .unwrap()
}

/// Waits (at most 20 s) for an event matching `f`, returning it.
pub async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<ClientEvent>,
    f: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .expect("the event came within 20 s")
}
