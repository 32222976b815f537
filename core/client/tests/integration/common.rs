//! A reference server in a temporary directory, and clients of it with in-memory secrets.

use std::sync::Arc;
use std::time::Duration;

use ecsp_client::capture::DfeCapture;
use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::{ClientConfig, ClientEvent, EcspClient};
use ecsp_server_mock::Config;
use ecsp_server_mock::testing;
use serde_json::json;
use uuid::Uuid;

/// The workspace's test server (either engine) and this crate's clients of it.
pub struct TestServer {
    pub harness: testing::TestServer,
}

impl std::ops::Deref for TestServer {
    type Target = testing::TestServer;

    fn deref(&self) -> &testing::TestServer {
        &self.harness
    }
}

impl std::ops::DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut testing::TestServer {
        &mut self.harness
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self {
            harness: testing::TestServer::start_with(tweak).await,
        }
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

    /// A client signed in as the demo user whose e-mail starts with `who`.
    pub async fn signed_in(&self, who: &str) -> (EcspClient, Arc<MemorySecretStore>) {
        let (client, secrets) = self.client(who);
        let user = self.user(who);
        client.login(&user.email, &user.password).await.unwrap();
        (client, secrets)
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
