//! The exported error: a closed set of codes, pinned here and in the README, and what each
//! failure a caller can meet maps to.

use std::collections::BTreeSet;

use ecsp_client::{ClientConfig, EcspClient, EcspError, ErrorCode};
use uuid::Uuid;

use crate::common::*;

/// The codes the README's error table lists, in order.
fn readme_codes() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("### Error codes")
        .nth(1)
        .expect("the README has an `### Error codes` section");
    let section = section.split("\n#").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_codes_are_a_closed_set_and_the_readme_lists_exactly_them() {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        codes,
        [
            "configuration",
            "tls_untrusted",
            "tls_failed",
            "offline",
            "not_signed_in",
            "sign_in_refused",
            "rate_limited",
            "not_found",
            "forbidden",
            "rejected",
            "invalid_input",
            "server_error",
            "keyring_unavailable",
            "local_storage",
        ],
        "changing the set of codes breaks every front end: update them, then this list"
    );
    assert_eq!(
        codes.iter().collect::<BTreeSet<_>>().len(),
        codes.len(),
        "codes are unique"
    );
    for code in ErrorCode::ALL {
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            serde_json::json!(code.as_str())
        );
    }
    assert_eq!(readme_codes(), codes);
}

#[test]
fn an_error_serialises_to_plain_data() {
    let e = EcspError::invalid_input("bad");
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"code": "invalid_input", "message": "bad"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_map_to_the_code_a_caller_acts_on() {
    let mut s = TestServer::start().await;
    let operator = s.user("operator").clone();

    // Configuration.
    let dir = tempfile::tempdir().unwrap();
    let err = EcspClient::open(
        &ClientConfig {
            server: "http://localhost:1".into(),
            data_dir: dir.path().into(),
            ..ClientConfig::default()
        },
        std::sync::Arc::new(ecsp_client::secrets::MemorySecretStore::default()),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::Configuration, "{err}");

    // The server's CA is not trusted.
    let untrusted = EcspClient::open(
        &ClientConfig {
            ca_pem: None,
            ..s.config("untrusted")
        },
        std::sync::Arc::new(ecsp_client::secrets::MemorySecretStore::default()),
    )
    .unwrap();
    let err = untrusted
        .login(&operator.email, &operator.password)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TlsUntrusted, "{err}");

    // Not signed in; wrong password (the server's own code kept beside it).
    let (client, _) = s.client("operator");
    assert_eq!(
        client.whoami().await.unwrap_err().code,
        ErrorCode::NotSignedIn
    );
    let err = client
        .login(&operator.email, "wrong password")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::SignInRefused);
    assert_eq!(err.reason_code.as_deref(), Some("invalid_credentials"));
    assert!(!err.message.contains("wrong password"));

    // Invalid input names the field.
    client
        .login(&operator.email, &operator.password)
        .await
        .unwrap();
    let mut bad = dfe(s.device(0));
    bad.software.name = String::new();
    let err = client.capture_dfe(bad).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(err.fields[0].field, "software.name");

    // Not found: a device the user has no right to.
    let err = client.device(Uuid::new_v4()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err}");

    // Offline.
    s.stop().await;
    let err = client.whoami().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Offline, "{err}");
    assert!(err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_sign_in_attempts_say_when_to_try_again() {
    let s = TestServer::start().await;
    let (client, _) = s.client("attacker");
    let mut last = None;
    for _ in 0..12 {
        let err = client
            .login("operator@demo.ecsp.example", "guess")
            .await
            .unwrap_err();
        last = Some(err);
        if last.as_ref().unwrap().code == ErrorCode::RateLimited {
            break;
        }
    }
    let err = last.unwrap();
    assert_eq!(err.code, ErrorCode::RateLimited, "{err}");
    let after = err.retry_after_secs.expect("Retry-After is passed on");
    assert!((1..=30).contains(&after), "{after}");
}

#[test]
fn a_local_database_from_a_newer_version_is_a_local_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = EcspClient::local_database(dir.path());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 1000).unwrap();
    }
    let err = EcspClient::open(
        &ClientConfig {
            server: "https://localhost:1".into(),
            data_dir: dir.path().into(),
            ..ClientConfig::default()
        },
        std::sync::Arc::new(ecsp_client::secrets::MemorySecretStore::default()),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::LocalStorage);
    assert!(err.message.contains("newer version"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_from_elsewhere_do_not_lock_out_a_known_installation() {
    let s = TestServer::start().await;
    // The owner signed in from this installation before, so the server knows its id.
    let (owner, _) = s.signed_in("operator").await;
    owner.logout().await.unwrap();
    let (attacker, _) = s.client("attacker");
    let mut limited = false;
    for _ in 0..12 {
        let err = attacker
            .login("operator@demo.ecsp.example", "guess")
            .await
            .unwrap_err();
        if err.code == ErrorCode::RateLimited {
            limited = true;
            break;
        }
    }
    assert!(limited, "the attacker's guesses are bounded");
    let user = s.user("operator");
    owner
        .login(&user.email, &user.password)
        .await
        .expect("the owner's known installation signs in at once");
}
