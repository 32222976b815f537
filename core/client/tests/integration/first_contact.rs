//! A desktop app's first contact with a server (its CA fetched and compared by fingerprint) and
//! the preview of what leaves the machine.

use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::server_ca::{fetch_server_ca, fingerprints_match};
use ecsp_client::{ClientConfig, EcspClient, ErrorCode};
use ecsp_protocol::consent::Purpose;
use std::sync::Arc;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fetched_ca_has_the_fingerprint_the_server_printed_and_lets_a_client_sign_in() {
    let s = TestServer::start().await;
    let printed = s.server().ca_fingerprint.clone().unwrap();
    let offered = fetch_server_ca(&s.url()).await.unwrap();
    assert_eq!(offered.sha256, printed);
    assert!(fingerprints_match(
        &offered.sha256,
        &printed.to_lowercase().replace(':', " ")
    ));

    // Without the CA the server is untrusted; with the fetched one, signing in works.
    let user = s.user("operator");
    let untrusted = EcspClient::open(
        &ClientConfig {
            ca_pem: None,
            ..s.config("untrusted")
        },
        Arc::new(MemorySecretStore::default()),
    )
    .unwrap();
    let e = untrusted
        .login(&user.email, &user.password)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TlsUntrusted);
    let trusted = EcspClient::open(
        &ClientConfig {
            ca_pem: Some(offered.pem.into_bytes()),
            ..s.config("trusted")
        },
        Arc::new(MemorySecretStore::default()),
    )
    .unwrap();
    trusted.login(&user.email, &user.password).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetching_the_ca_of_a_server_that_is_not_there_says_offline() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = fetch_server_ca(&format!("https://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Offline);
    let e = fetch_server_ca("http://127.0.0.1:1").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Configuration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_marks_the_job_part_and_drops_it_after_a_refusal() {
    let s = TestServer::start().await;
    let (client, _) = s.signed_in("operator").await;
    client.grant(Purpose::JobInfo).await.unwrap();
    let mut capture = dfe(s.device(0));
    capture.job = Some(
        serde_json::from_value(serde_json::json!({
            "job_id": "J-1", "document_name": "brochure.pdf"
        }))
        .unwrap(),
    );
    let captured = client.capture_dfe(capture).await.unwrap();

    let preview = client.preview(100).await.unwrap();
    let record = preview
        .iter()
        .find(|r| r.record_id == captured.record_id)
        .unwrap();
    assert!(
        record.body.get("job").is_none(),
        "gated parts are listed apart from the body"
    );
    assert_eq!(record.gated.len(), 1);
    assert_eq!(record.gated[0].purpose, Purpose::JobInfo);
    assert_eq!(record.gated[0].field, "job");
    assert!(record.gated[0].will_send);
    assert_eq!(
        record.gated[0].value.as_ref().unwrap()["document_name"],
        "brochure.pdf"
    );

    client.refuse(Purpose::JobInfo).await.unwrap();
    let preview = client.preview(100).await.unwrap();
    let record = preview
        .iter()
        .find(|r| r.record_id == captured.record_id)
        .unwrap();
    assert!(
        record.gated.is_empty(),
        "a refusal deletes the queued job part"
    );
}
