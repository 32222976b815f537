//! Token expiry and transparent refresh; sign-out revokes on the server; tokens only in the keyring.

use ecsp_client::ErrorCode;
use ecsp_client::session::SignedOut;
use ecsp_e2e::*;

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_transparently() {
    let h = Harness::start_with(|c| c.tokens.access_ttl_secs = 1).await;
    let client = h.client("operator", os_keyring());
    let (email, password) = h.password("operator");
    let me = client.login(&email, &password).await.unwrap();
    assert_eq!(me.email, email);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let again = client.whoami().await.unwrap();
    assert_eq!(again.user_id, me.user_id);
    let refreshes: i64 = h
        .read_sql(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.refresh' AND outcome = 'success'",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(refreshes, 1);
    // Nothing secret was written to the client's files.
    let dir = h.client_config("operator").data_dir;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("ecsp_at_") && !text.contains("ecsp_rt_"),
            "a token in a file"
        );
        assert!(!text.contains(&email), "the e-mail address in a file");
    }
}

#[tokio::test]
async fn a_401_from_the_server_is_answered_by_one_refresh_and_a_retry() {
    let h = Harness::start_with(|c| c.tokens.access_ttl_secs = 1).await;
    let secrets = os_keyring();
    let client = h.client("operator", secrets.clone());
    let (email, password) = h.password("operator");
    client.login(&email, &password).await.unwrap();
    // Make the client believe its access token is still good, so only the server's 401 can
    // tell it otherwise.
    let key = format!("session:{}", client.server_origin());
    let mut session: serde_json::Value =
        serde_json::from_str(secrets.get(&key).unwrap().unwrap().expose()).unwrap();
    session["access_expires_at"] =
        serde_json::json!(chrono::Utc::now().timestamp_millis() + 3_600_000);
    secrets
        .set(&key, &ecsp_client::Secret::new(session.to_string()))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    assert_eq!(client.whoami().await.unwrap().email, email);
    let count = |sql: &'static str| -> i64 {
        h.read_sql_blocking(move |c| c.query_row(sql, [], |r| r.get(0)))
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.token' AND outcome = 'failed'"),
        1,
        "one 401"
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.refresh' AND outcome = 'success'"
        ),
        1,
        "one refresh"
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'account.read' AND outcome = 'success'"
        ),
        2,
        "login's whoami and the retry"
    );
}

#[tokio::test]
async fn logout_revokes_the_session_on_the_server() {
    let h = Harness::start().await;
    let secrets = os_keyring();
    let client = h.client("operator", secrets.clone());
    let (email, password) = h.password("operator");
    client.login(&email, &password).await.unwrap();
    let key = format!("session:{}", client.server_origin());
    let stored = secrets
        .get(&key)
        .unwrap()
        .expect("the session is in the keyring");
    let session: serde_json::Value = serde_json::from_str(stored.expose()).unwrap();
    let access = session["access_token"].as_str().unwrap().to_owned();

    assert_eq!(client.logout().await.unwrap(), SignedOut::Revoked);
    assert!(
        secrets.get(&key).unwrap().is_none(),
        "the keyring entry is gone"
    );
    assert_eq!(
        client.whoami().await.unwrap_err().code,
        ErrorCode::NotSignedIn
    );
    // The old access token no longer works at the server either.
    let res = crate::consent::https(&h)
        .get(format!("{}/api/v1/me", h.url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(client.logout().await.unwrap(), SignedOut::NotSignedIn);
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_and_stores_nothing() {
    let h = Harness::start().await;
    let secrets = os_keyring();
    let client = h.client("operator", secrets.clone());
    let (email, _) = h.password("operator");
    let err = client.login(&email, "not the password").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SignInRefused, "{err}");
    assert_eq!(err.reason_code.as_deref(), Some("invalid_credentials"));
    assert!(!err.to_string().contains("not the password"));
    assert!(
        secrets
            .get(&format!("session:{}", client.server_origin()))
            .unwrap()
            .is_none()
    );
}
