//! The `ecsp-agent` binary itself, enrolled with the reference server the way an operator does
//! it (secrets in the OS keyring: kernel keyutils here), run as the DC agent.

use std::net::UdpSocket;
use std::process::Command;

use ecsp_client::secrets::KeyringSecretStore;
use ecsp_client::{Secret, SecretStore};
use serde_json::json;

use crate::common::{Rig, base};

fn agent(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ecsp-agent"));
    c.env("ECSP_AGENT_DIR", data_dir).env("RUST_LOG", "warn");
    c
}

// Several threads: the server answers on them while this one waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dc_once_fails_when_no_designated_printer_could_be_read_and_status_says_why() {
    let rig = Rig::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let enrol = agent(dir.path())
        .args([
            "enrol",
            "--server",
            &base(&rig.server),
            "--ca-fingerprint",
            rig.server.ca_fingerprint.as_deref().expect("fingerprint"),
            "--agent-id",
            &rig.agent_id().to_string(),
            "--kind",
            "dc",
        ])
        .env("ECSP_AGENT_SECRET", rig.secret().expose())
        .output()
        .expect("enrol");
    assert!(
        enrol.status.success(),
        "{}",
        String::from_utf8_lossy(&enrol.stderr)
    );
    // The printer's community, by name, in the keyring the binary reads.
    KeyringSecretStore::new("ecsp-agent")
        .expect("keyring")
        .set("community/cli-test", &Secret::new("public"))
        .expect("set");
    // Designated, but nothing listens there: the kernel answers "port unreachable".
    let closed = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port");
    let config_path = dir.path().join("agent.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).expect("config"))
            .expect("json");
    config["printers"] = json!([{
        "address": closed.to_string(),
        "manufacturer": "Epson",
        "model": "SC-P8500D",
        "serial_number": "X7PZ012345",
        "snmp": {"version": "v2c", "community_secret": "community/cli-test"},
        "timing": {"timeout": 300, "retries": 0}
    }]);
    std::fs::write(&config_path, config.to_string()).expect("write config");

    let dc = agent(dir.path())
        .args(["dc", "--once"])
        .output()
        .expect("dc");
    let stderr = String::from_utf8_lossy(&dc.stderr);
    assert!(
        !dc.status.success(),
        "exit status {:?}: {stderr}",
        dc.status
    );
    assert!(
        stderr.contains("none of the 1 designated printer(s) could be read"),
        "{stderr}"
    );

    let status = agent(dir.path()).arg("status").output().expect("status");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "printer {closed} (designated serial X7PZ012345): NOT READ"
        )) && stdout.contains("refused SNMP"),
        "{stdout}"
    );
}

// Several threads: the server answers on them while this one waits for the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_checks_the_id_secret_and_kind_with_the_server_before_keeping_anything() {
    let rig = Rig::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &rig.ca_pem).expect("ca");
    let data = dir.path().join("agent");
    let enrol = |kind: Option<&str>, secret: &str| {
        let mut c = agent(&data);
        c.args(["enrol", "--server", &base(&rig.server), "--ca-cert"])
            .arg(&ca)
            .env("ECSP_AGENT_ID", rig.agent_id().to_string())
            .env("ECSP_AGENT_SECRET", secret);
        if let Some(kind) = kind {
            c.args(["--kind", kind]);
        }
        c.output().expect("enrol")
    };
    // The demo agent is a DC agent: enrolling it as an ES agent is refused, with the remedy.
    let wrong_kind = enrol(Some("es"), rig.secret().expose());
    let stderr = String::from_utf8_lossy(&wrong_kind.stderr);
    assert!(!wrong_kind.status.success());
    assert!(
        stderr.contains("registered as a DC agent on the server, not as an ES agent")
            && stderr.contains("--kind dc"),
        "{stderr}"
    );
    assert!(!data.join("agent.json").exists(), "nothing kept");
    let wrong_secret = enrol(None, "ecsp_ag_not-the-secret");
    let stderr = String::from_utf8_lossy(&wrong_secret.stderr);
    assert!(!wrong_secret.status.success());
    assert!(
        stderr.contains("does not accept agent") && !stderr.contains("not-the-secret"),
        "{stderr}"
    );
    assert!(!data.join("agent.json").exists(), "nothing kept");
    // Without --kind the server's answer decides, and the simulator reports as that kind.
    let ok = enrol(None, rig.secret().expose());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("(a DC agent, 3 printer(s) designated)"),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let once = agent(&data)
        .args(["simulate", "--once"])
        .output()
        .expect("simulate");
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    assert!(
        String::from_utf8_lossy(&once.stdout).contains("sent 3 reading(s); 0 refused"),
        "{}",
        String::from_utf8_lossy(&once.stdout)
    );
}
