//! The command line and the desktop app of one person on one computer: one OS keyring (the
//! Secret Service in the test run's private D-Bus session, else kernel keyutils), each
//! application under its own service name, so signing out of the app leaves the command line
//! signed in (issue 26).

use std::sync::Arc;

use ecsp_client::secrets::{KeyringSecretStore, SecretStore};
use ecsp_client::session::SignedOut;
use ecsp_client::{DESKTOP_KEYRING_SERVICE, EcspClient, ErrorCode, KEYRING_SERVICE};

use crate::common::TestServer;

#[tokio::test]
async fn signing_out_of_the_desktop_app_leaves_the_cli_signed_in() {
    assert_ne!(KEYRING_SERVICE, DESKTOP_KEYRING_SERVICE);
    let server = TestServer::start().await;
    let user = server.user("operator");
    let open = |name: &str, service: &str| {
        let secrets = Arc::new(KeyringSecretStore::new(service).unwrap());
        let client = EcspClient::open(&server.config(name), secrets.clone()).unwrap();
        (client, secrets)
    };
    let (cli, cli_secrets) = open("cli", KEYRING_SERVICE);
    let (desktop, desktop_secrets) = open("desktop", DESKTOP_KEYRING_SERVICE);
    cli.login(&user.email, &user.password).await.unwrap();
    desktop.login(&user.email, &user.password).await.unwrap();
    // The session's entry (one per server origin; the test server's port makes it unique).
    let key = format!("session:{}", cli.server_origin());
    assert!(cli_secrets.get(&key).unwrap().is_some());
    assert!(desktop_secrets.get(&key).unwrap().is_some());

    assert_eq!(desktop.logout().await.unwrap(), SignedOut::Revoked);
    assert!(
        desktop_secrets.get(&key).unwrap().is_none(),
        "the app signed out"
    );
    let err = desktop.current_user().await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotSignedIn);
    assert!(
        cli_secrets.get(&key).unwrap().is_some(),
        "the command line's token is still in the keyring"
    );
    // And still good on the server: the app's sign-out revoked only its own session.
    assert_eq!(cli.whoami().await.unwrap().email, user.email);
    assert_eq!(cli.logout().await.unwrap(), SignedOut::Revoked);
    assert!(cli_secrets.get(&key).unwrap().is_none());
}
