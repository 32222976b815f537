//! The reference server in a temporary directory and a signed-in client with in-memory secrets
//! (as in the client core's integration tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, EcspClient};
use ecsp_server_mock::testing;
use uuid::Uuid;

/// The workspace's test server (either engine).
pub struct TestServer {
    pub harness: testing::TestServer,
}

impl std::ops::Deref for TestServer {
    type Target = testing::TestServer;

    fn deref(&self) -> &testing::TestServer {
        &self.harness
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self {
            harness: testing::TestServer::start().await,
        }
    }

    /// The demo printer the operator may upload for.
    pub fn device(&self) -> Uuid {
        self.harness.device(0)
    }

    /// A client signed in as the demo print operator.
    pub async fn operator(&self) -> EcspClient {
        let user = self.user("operator");
        let config = ClientConfig {
            server: self.url(),
            ca_pem: Some(self.ca_pem.clone().into_bytes()),
            data_dir: self.dir.path().join("client"),
            ..ClientConfig::default()
        };
        let client = EcspClient::open(&config, Arc::new(MemorySecretStore::default())).unwrap();
        client.login(&user.email, &user.password).await.unwrap();
        client
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

/// A file of the crate, by its path from the crate's folder.
fn crate_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// A look-alike file of `data/` (see its SOURCES.md).
pub fn data(name: &str) -> Vec<u8> {
    crate_file(&format!("data/{name}"))
}

/// A real CIP4 file (`tests/fixtures/cip4`, see its SOURCES.md).
pub fn cip4(name: &str) -> Vec<u8> {
    crate_file(&format!("tests/fixtures/cip4/{name}"))
}

/// Every real CIP4 JDF ticket and JMF message there, `(name, bytes)`, by name.
pub fn cip4_files() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cip4");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jdf") || n.ends_with(".jmf"))
        .collect();
    names.sort();
    names.into_iter().map(|n| (n.clone(), cip4(&n))).collect()
}

pub fn temp_dir_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}
