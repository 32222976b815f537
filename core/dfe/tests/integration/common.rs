//! The reference server in a temporary directory and a signed-in client with in-memory secrets
//! (as in the client core's integration tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, EcspClient};
use ecsp_server_mock::Config;
use uuid::Uuid;

pub struct TestServer {
    pub server: ecsp_server_mock::Server,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_defaults(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let server = ecsp_server_mock::start(config).await.unwrap();
        Self {
            addr: server.addr,
            server,
            dir,
        }
    }

    pub fn device(&self) -> Uuid {
        self.server.demo.as_ref().unwrap().devices[0].device_id
    }

    /// A client signed in as the demo print operator.
    pub async fn operator(&self) -> EcspClient {
        let demo = self.server.demo.as_ref().unwrap();
        let user = demo
            .users
            .iter()
            .find(|u| u.email.starts_with("operator"))
            .unwrap();
        let config = ClientConfig {
            server: format!("https://localhost:{}", self.addr.port()),
            ca_pem: Some(self.server.ca_pem.clone().unwrap().into_bytes()),
            data_dir: self.dir.path().join("client"),
            ..ClientConfig::default()
        };
        let client = EcspClient::open(&config, Arc::new(MemorySecretStore::default())).unwrap();
        client.login(&user.email, &user.password).await.unwrap();
        client
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

/// Sends everything queued and checks nothing was refused.
pub async fn flush(client: &EcspClient) {
    let report = client
        .flush(FlushOptions {
            ignore_backoff: true,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(report.rejected, 0, "{report:?}");
    assert!(report.stopped.is_none(), "{report:?}");
}

pub fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(name),
    )
    .unwrap()
}

pub fn temp_dir_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}
