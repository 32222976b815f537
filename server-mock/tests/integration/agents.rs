//! Agent credentials after enrolment: admins list agents (with last-seen time), disable,
//! enable and delete them and give them a new secret, through the API and the server's
//! `agents` command; each change holds at once on HTTPS and MQTT.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use rumqttc::ConnectReturnCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestServer, expect_problem};
use crate::remote::{agent_client, audit_rows, until_closed};

/// What the server answers an agent upload with this secret: 401 if the secret is refused
/// (the body is deliberately invalid, so an accepted secret gets 422 and nothing is stored).
pub(crate) async fn https_status(ts: &TestServer, secret: &str) -> StatusCode {
    ts.client
        .post(ts.url("/api/v1/agent/device-data"))
        .bearer_auth(secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

/// An MQTT connection of `agent` with `secret`: `Ok` with its event loop once connected, or
/// the CONNACK code it was refused with.
async fn mqtt(
    ts: &TestServer,
    agent: Uuid,
    secret: &str,
) -> Result<(rumqttc::AsyncClient, rumqttc::EventLoop), ConnectReturnCode> {
    let id = agent.to_string();
    let (client, mut events) =
        agent_client(&ts.ca_pem, ts.server().addr.port(), true, &id, &id, secret);
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => return Ok(a.code),
                Ok(_) => {}
                Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(e) => panic!("MQTT: {e}"),
            }
        }
    })
    .await
    .expect("no CONNACK within 10 s");
    match first {
        Ok(ConnectReturnCode::Success) => Ok((client, events)),
        Ok(code) | Err(code) => Err(code),
    }
}

async fn list(ts: &TestServer, admin: &str) -> Vec<Value> {
    let res = ts.get(admin, "/api/v1/admin/agents").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn find(agents: &[Value], id: Uuid) -> Option<Value> {
    agents
        .iter()
        .find(|a| a["agent_id"] == id.to_string())
        .cloned()
}

async fn patch(ts: &TestServer, token: &str, agent: Uuid, disabled: bool) -> reqwest::Response {
    ts.call(
        Method::PATCH,
        Some(token),
        &format!("/api/v1/admin/agents/{agent}"),
        Some(&json!({ "disabled": disabled })),
    )
    .await
}

#[tokio::test]
async fn disabling_rotating_and_deleting_an_agent_hold_at_once_on_https_and_mqtt() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;
    let agent = ts.demo.agent.agent_id;
    let old = ts.demo.agent.secret.clone();

    // Never seen yet; then seen over HTTPS (which also puts the secret in the agent cache).
    let listed = find(&list(&ts, &admin).await, agent).expect("the demo agent is listed");
    assert_eq!(listed["last_seen_at"], Value::Null);
    assert_eq!(listed["disabled"], false);
    assert_eq!(
        https_status(&ts, &old).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_client, mut events) = mqtt(&ts, agent, &old).await.expect("connects");
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = find(&list(&ts, &admin).await, agent).unwrap();
        if seen["last_seen_at"] != Value::Null && seen["connected"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["connected"], true, "{seen}");
    assert_ne!(seen["last_seen_at"], Value::Null, "{seen}");

    // Disabled: the open MQTT session ends, the cached secret is refused on the next request.
    let res = patch(&ts, &admin, agent, true).await;
    assert_eq!(res.status(), StatusCode::OK);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["disabled"], true);
    until_closed(&mut events).await;
    assert_eq!(https_status(&ts, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        mqtt(&ts, agent, &old).await.err(),
        Some(ConnectReturnCode::BadUserNamePassword)
    );

    // Enabled again: the same secret works.
    assert_eq!(
        patch(&ts, &admin, agent, false).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        https_status(&ts, &old).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_client, mut events) = mqtt(&ts, agent, &old).await.expect("connects again");

    // A new secret: the old one is refused at once, its MQTT session closed; the new one works.
    let res = ts
        .post(
            &admin,
            &format!("/api/v1/admin/agents/{agent}/secret"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let creds: Value = res.json().await.unwrap();
    let new = creds["secret"].as_str().unwrap().to_owned();
    assert_eq!(creds["agent_id"], agent.to_string());
    assert_ne!(new, old);
    until_closed(&mut events).await;
    assert_eq!(https_status(&ts, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        mqtt(&ts, agent, &old).await.err(),
        Some(ConnectReturnCode::BadUserNamePassword)
    );
    assert_eq!(
        https_status(&ts, &new).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_client, mut events) = mqtt(&ts, agent, &new).await.expect("the new secret");

    // Deleted: refused everywhere, no longer listed, its devices designated to no agent.
    let res = ts
        .call(
            Method::DELETE,
            Some(&admin),
            &format!("/api/v1/admin/agents/{agent}"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    until_closed(&mut events).await;
    assert_eq!(https_status(&ts, &new).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        mqtt(&ts, agent, &new).await.err(),
        Some(ConnectReturnCode::BadUserNamePassword)
    );
    assert!(find(&list(&ts, &admin).await, agent).is_none());
    let device: Value = ts
        .get(&admin, &format!("/api/v1/devices/{}", ts.device(0)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(device["agent_id"], Value::Null, "{device}");
    expect_problem(
        patch(&ts, &admin, agent, false).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Every change is in the audit log, by the admin.
    for action in [
        "admin.agent.disable",
        "admin.agent.enable",
        "admin.agent.rotate",
        "admin.agent.delete",
    ] {
        assert_eq!(
            audit_rows(&ts, action, "success").await,
            [format!("agent:{agent}")],
            "{action}"
        );
    }
}

#[tokio::test]
async fn only_admins_of_the_agents_organisation_manage_it() {
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;
    let support = ts.token("support").await;
    for res in [
        ts.get(&support, "/api/v1/admin/agents").await,
        patch(&ts, &support, agent, true).await,
        ts.post(
            &support,
            &format!("/api/v1/admin/agents/{agent}/secret"),
            &json!({}),
        )
        .await,
    ] {
        expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Another organisation's admin: not found, and not listed.
    let foreign = ts.foreign_org().await;
    assert!(find(&list(&ts, &foreign.token).await, agent).is_none());
    for res in [
        patch(&ts, &foreign.token, agent, true).await,
        ts.post(
            &foreign.token,
            &format!("/api/v1/admin/agents/{agent}/secret"),
            &json!({}),
        )
        .await,
        ts.call(
            Method::DELETE,
            Some(&foreign.token),
            &format!("/api/v1/admin/agents/{agent}"),
            None,
        )
        .await,
    ] {
        expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // The agent is untouched.
    assert_eq!(
        https_status(&ts, &ts.demo.agent.secret).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // The refusals are audited.
    assert!(
        !audit_rows(&ts, "admin.agent.list", "denied")
            .await
            .is_empty()
    );
    assert_eq!(
        audit_rows(&ts, "admin.agent.delete", "denied").await.len(),
        1
    );
}

/// `ecsp-server agents …` against the data directory of a server that is running.
#[tokio::test]
async fn the_server_command_lists_disables_and_rotates_agents() {
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;
    let data_dir = ts.data_dir();
    let database = ts.database_url().map(|url| ("ECSP_DATABASE_URL", url));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecsp-server"))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("agents")
            .args(args)
            .envs(database.clone())
            .env_remove("ECSP_DATA_KEY")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, listed, err) = run(&["list"]);
    assert!(ok, "{err}");
    let line = listed
        .lines()
        .find(|l| l.starts_with(&agent.to_string()))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("\tenabled\t"), "{line}");

    let (ok, out, err) = run(&["rotate", &agent.to_string()]);
    assert!(ok, "{err}");
    let new = out
        .lines()
        .find(|l| l.starts_with("ecsp_ag_"))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    // MQTT checks every CONNECT against the database: the change holds there at once.
    assert_eq!(
        mqtt(&ts, agent, &ts.demo.agent.secret).await.err(),
        Some(ConnectReturnCode::BadUserNamePassword)
    );
    let (_client, _events) = mqtt(&ts, agent, &new).await.expect("the new secret");

    let (ok, _, err) = run(&["disable", &agent.to_string()]);
    assert!(ok, "{err}");
    let (ok, listed, _) = run(&["list"]);
    assert!(ok);
    assert!(listed.contains("\tdisabled\t"), "{listed}");
    assert_eq!(
        mqtt(&ts, agent, &new).await.err(),
        Some(ConnectReturnCode::BadUserNamePassword)
    );
    let (ok, _, err) = run(&["delete", &Uuid::new_v4().to_string()]);
    assert!(!ok);
    assert!(err.contains("no agent"), "{err}");
    assert_eq!(
        audit_rows(&ts, "admin.agent.rotate", "success").await,
        [format!("agent:{agent}")]
    );
}
