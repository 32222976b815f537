//! Each certificate failure gives its own clear error, and plain HTTP is never used.

use std::io::{Read, Write};

use ecsp_client::{ClientConfig, EcspClient, EcspError, ErrorCode};
use ecsp_e2e::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// A CA and a server certificate for `names`, valid over `[from, to]` days from now.
fn certificates(
    dir: &std::path::Path,
    names: &[&str],
    from: i64,
    to: i64,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_before = now - time::Duration::days(400);
    ca.not_after = now + time::Duration::days(400);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    leaf.not_before = now + time::Duration::days(from);
    leaf.not_after = now + time::Duration::days(to);
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let (ca_path, cert_path, key_path) = (
        dir.join("test-ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

async fn login_error(
    server: &str,
    ca: Option<&std::path::Path>,
    data: &std::path::Path,
) -> EcspError {
    let client = EcspClient::open(
        &ClientConfig {
            server: server.to_owned(),
            ca_file: ca.map(ToOwned::to_owned),
            data_dir: data.to_owned(),
            ..ClientConfig::default()
        },
        os_keyring(),
    )
    .unwrap();
    client
        .login("operator@demo.ecsp.example", "irrelevant")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn an_unknown_ca_is_refused() {
    let h = Harness::start().await;
    let err = login_error(&h.url(), None, &h.dir.path().join("c")).await;
    assert!(err.code == ErrorCode::TlsUntrusted, "{err:?}");
    assert!(err.to_string().contains("--ca-cert"), "{err}");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), &["other.example"], -1, 30);
    let h = Harness::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    let err = login_error(&h.url(), Some(&ca), &dir.path().join("c")).await;
    assert!(
        err.code == ErrorCode::TlsFailed && err.message.contains("not valid for this host name"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), &["localhost"], -60, -1);
    let h = Harness::start_with(|c| {
        c.tls_cert = Some(cert);
        c.tls_key = Some(key);
    })
    .await;
    let err = login_error(&h.url(), Some(&ca), &dir.path().join("c")).await;
    assert!(
        err.code == ErrorCode::TlsFailed && err.message.contains("expired"),
        "{err:?}"
    );
}

/// A server that answers any ClientHello with a TLS 1.1 ServerHello, as an old server would.
fn tls11_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let mut body = vec![0x03, 0x02];
            body.extend([7u8; 32]);
            body.push(0);
            body.extend([0xc0, 0x13, 0x00]);
            let mut hs = vec![0x02, 0, 0, body.len() as u8];
            hs.extend(body);
            let mut record = vec![0x16, 0x03, 0x02, 0, hs.len() as u8];
            record.extend(hs);
            let _ = s.write_all(&record);
            let _ = s.read(&mut buf);
        }
    });
    port
}

#[tokio::test]
async fn a_server_below_tls_1_2_is_refused() {
    let port = tls11_server();
    let dir = tempfile::tempdir().unwrap();
    let err = login_error(&format!("https://localhost:{port}"), None, dir.path()).await;
    assert!(
        err.code == ErrorCode::TlsFailed && err.message.contains("older protocol"),
        "{err:?}"
    );
    assert!(err.to_string().contains("TLS 1.2"), "{err}");
}

#[tokio::test]
async fn plain_http_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let err = EcspClient::open(
        &ClientConfig {
            server: "http://localhost:8443".into(),
            ca_file: None,
            data_dir: dir.path().to_owned(),
            ..ClientConfig::default()
        },
        os_keyring(),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::Configuration, "{err:?}");
    assert!(err.to_string().contains("https://"));
}
