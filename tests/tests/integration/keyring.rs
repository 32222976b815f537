//! The OS keyring store against a real Secret Service (GNOME Keyring in a private D-Bus session,
//! started by scripts/test.sh), checked from outside this process with `secret-tool`.

use ecsp_client::Secret;
use ecsp_client::SecretStore;
use ecsp_client::secrets::KeyringSecretStore;

fn secret_tool(args: &[&str]) -> std::process::Output {
    std::process::Command::new("secret-tool")
        .args(args)
        .output()
        .expect("secret-tool (Debian libsecret-tools, installed by scripts/setup-debian.sh)")
}

#[test]
fn secrets_round_trip_through_the_secret_service() {
    let store = KeyringSecretStore::new("ecsp-e2e-keyring").unwrap();
    assert!(
        store.backend().contains("Secret Service") || store.backend().contains("secret"),
        "expected the Secret Service, got {}",
        store.backend()
    );
    let key = format!("test-key-{}", uuid::Uuid::new_v4());
    assert!(store.get(&key).unwrap().is_none());
    store.set(&key, &Secret::new("ecsp_rt_s3cr3t")).unwrap();
    assert_eq!(store.get(&key).unwrap().unwrap().expose(), "ecsp_rt_s3cr3t");

    // Another process sees it in the Secret Service.
    let out = secret_tool(&["lookup", "service", "ecsp-e2e-keyring", "username", &key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ecsp_rt_s3cr3t"
    );

    store.set(&key, &Secret::new("replaced")).unwrap();
    assert_eq!(store.get(&key).unwrap().unwrap().expose(), "replaced");
    store.delete(&key).unwrap();
    store.delete(&key).unwrap();
    assert!(store.get(&key).unwrap().is_none());
    let out = secret_tool(&["lookup", "service", "ecsp-e2e-keyring", "username", &key]);
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "deleted from the Secret Service too"
    );
    assert!(!format!("{store:?}").contains("s3cr3t"));
}
