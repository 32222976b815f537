//! Remote operations end to end inside the server: REST requests, the server's MQTT broker on
//! the HTTPS port (ALPN `mqtt`) and on its own port, with rumqttc and Debian's
//! mosquitto-clients as the agents' side, refusals and their audit rows.

use std::sync::Arc;
use std::time::Duration;

use ecsp_protocol::remote_ops::{self, topic};
use reqwest::StatusCode;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration,
    Transport,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::common::{TestServer, rustls_client_config};

fn mqtt_tls(ca_pem: &str, alpn: bool) -> Arc<rustls::ClientConfig> {
    let mut config = rustls_client_config(ca_pem, rustls::DEFAULT_VERSIONS);
    if alpn {
        config.alpn_protocols = vec![b"mqtt".to_vec()];
    }
    Arc::new(config)
}

/// An MQTT client for `agent` with `secret`, over TLS to `port` (ALPN `mqtt` if `alpn`)
/// trusting `ca_pem`.
pub(crate) fn agent_client(
    ca_pem: &str,
    port: u16,
    alpn: bool,
    client_id: &str,
    user: &str,
    secret: &str,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, "localhost", port);
    options
        .set_credentials(user, secret)
        .set_keep_alive(Duration::from_secs(30))
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            mqtt_tls(ca_pem, alpn),
        )));
    AsyncClient::new(options, 16)
}

pub(crate) fn demo_agent(ts: &TestServer) -> (AsyncClient, EventLoop) {
    let id = ts.demo.agent.agent_id.to_string();
    agent_client(
        &ts.ca_pem,
        ts.server().addr.port(),
        true,
        &id,
        &id,
        &ts.demo.agent.secret,
    )
}

/// Polls the event loop until `want` matches an incoming packet (or fails after 10 s).
async fn until<T>(events: &mut EventLoop, mut want: impl FnMut(&Packet) -> Option<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(p)) => {
                    if let Some(t) = want(&p) {
                        return t;
                    }
                }
                Ok(Event::Outgoing(_)) => {}
                Err(e) => panic!("MQTT connection failed: {e}"),
            }
        }
    })
    .await
    .expect("the expected MQTT packet did not arrive within 10 s")
}

/// Drives the event loop until it fails (the server closed the connection); returns the error.
pub(crate) async fn until_closed(events: &mut EventLoop) -> rumqttc::ConnectionError {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Err(e) = events.poll().await {
                return e;
            }
        }
    })
    .await
    .expect("the server did not close the connection")
}

pub(crate) async fn connected(events: &mut EventLoop) {
    until(events, |p| match p {
        Packet::ConnAck(a) => {
            assert_eq!(a.code, ConnectReturnCode::Success);
            Some(())
        }
        _ => None,
    })
    .await
}

pub(crate) async fn subscribe_commands(client: &AsyncClient, events: &mut EventLoop, agent: Uuid) {
    client
        .subscribe(topic::commands(agent), QoS::AtLeastOnce)
        .await
        .unwrap();
    until(events, |p| match p {
        Packet::SubAck(s) => {
            assert_eq!(
                s.return_codes,
                [rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
            );
            Some(())
        }
        _ => None,
    })
    .await
}

pub(crate) async fn next_command(events: &mut EventLoop) -> remote_ops::Command {
    until(events, |p| match p {
        Packet::Publish(p) => Some(serde_json::from_slice(&p.payload).unwrap()),
        _ => None,
    })
    .await
}

/// Publishes a report and waits for the server's PUBACK (the report is then stored).
pub(crate) async fn report(client: &AsyncClient, events: &mut EventLoop, agent: Uuid, body: Value) {
    let state = body["state"].as_str().unwrap();
    let topic = match state {
        "delivered" | "in_progress" => topic::acks(agent),
        _ => topic::results(agent),
    };
    client
        .publish(
            topic,
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    until(events, |p| matches!(p, Packet::PubAck(_)).then_some(())).await;
}

/// The extra fields of a `status` operation's `succeeded` report.
pub(crate) fn status_succeeded() -> Value {
    json!({"result": {"kind": "status", "printer_status": "idle",
                      "counters": {"total_pages": 120345, "printed_area_m2": 5120.5,
                                   "ink_usage": [{"color": "black", "millilitres": 2210.0}]}}})
}

pub(crate) fn agent_report(op: Uuid, state: &str, extra: Value) -> Value {
    let mut body = json!({"schema_version": 1, "operation_id": op, "state": state,
                          "at": chrono::Utc::now()});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

pub(crate) async fn request(ts: &TestServer, token: &str, body: Value) -> reqwest::Response {
    ts.post(token, "/api/v1/operations", &body).await
}

pub(crate) async fn operation(ts: &TestServer, token: &str, op: Uuid) -> Value {
    let res = ts.get(token, &format!("/api/v1/operations/{op}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

pub(crate) async fn wait_state(ts: &TestServer, token: &str, op: Uuid, state: &str) -> Value {
    for _ in 0..200 {
        let v = operation(ts, token, op).await;
        if v["state"] == state {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "operation {op} never reached {state}: {}",
        operation(ts, token, op).await
    );
}

pub(crate) fn op_id(v: &Value) -> Uuid {
    Uuid::parse_str(v["operation_id"].as_str().unwrap()).unwrap()
}

/// Audit rows with this action and outcome, read from the database file.
pub(crate) async fn audit_rows(
    ts: &TestServer,
    action: &'static str,
    outcome: &'static str,
) -> Vec<String> {
    ts.read_sql(move |c| {
        c.prepare("SELECT object FROM audit_log WHERE action = ?1 AND outcome = ?2 ORDER BY seq")?
            .query_map([action, outcome], |r| r.get(0))?
            .collect()
    })
    .await
}

#[tokio::test]
async fn head_cleaning_reaches_an_agent_that_connects_later_and_ends_succeeded_once() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let device = ts.device(0);

    // The agent is offline: the operation waits, queued.
    let res = request(
        &ts,
        &support,
        json!({"device_id": device, "kind": "head_cleaning", "head_cleaning": {"level": "strong"}}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["state"], "queued");
    let op = op_id(&created);

    // The agent connects over the HTTPS port (ALPN `mqtt`) and gets the command.
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let cmd = next_command(&mut events).await;
    assert_eq!(cmd.operation_id, op);
    assert_eq!(cmd.device_id, device);
    assert_eq!(cmd.serial_number, ts.demo.devices[0].serial_number);
    assert_eq!(cmd.kind, remote_ops::OperationKind::HeadCleaning);
    assert_eq!(
        cmd.head_cleaning.unwrap().level,
        remote_ops::CleaningLevel::Strong
    );
    wait_state(&ts, &support, op, "sent").await;

    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "delivered", json!({})),
    )
    .await;
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "in_progress", json!({"progress_percent": 40})),
    )
    .await;
    let v = operation(&ts, &support, op).await;
    assert_eq!(v["state"], "in_progress");
    assert_eq!(v["progress_percent"], 40);
    assert!(v["deadline"].is_string(), "in_progress has a timeout: {v}");
    let done = agent_report(
        op,
        "succeeded",
        json!({"result": {"kind": "head_cleaning", "level": "strong", "nozzles_ok": true,
                          "duration_s": 95, "ink_used": [{"color": "cyan", "millilitres": 0.8}]}}),
    );
    report(&client, &mut events, agent, done.clone()).await;
    // The broker redelivers (QoS 1): the same result again changes nothing.
    report(&client, &mut events, agent, done).await;
    // A late `in_progress` cannot move it back.
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "in_progress", json!({})),
    )
    .await;

    let v = operation(&ts, &support, op).await;
    assert_eq!(v["state"], "succeeded");
    assert_eq!(v["result"]["kind"], "head_cleaning");
    assert_eq!(v["result"]["duration_s"], 95);
    assert!(v.get("deadline").is_none());
    let states: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["queued", "sent", "delivered", "in_progress", "succeeded"]
    );

    // Requested, sent, each state change and the result are in the audit log.
    assert_eq!(
        audit_rows(&ts, "operation.request", "success").await.len(),
        1
    );
    assert_eq!(audit_rows(&ts, "operation.sent", "success").await.len(), 1);
    assert_eq!(audit_rows(&ts, "operation.state", "success").await.len(), 2);
    let results = audit_rows(&ts, "operation.result", "success").await;
    assert_eq!(results, [format!("operation:{op}:succeeded")]);

    // Listed, newest first, filtered by device and state.
    let page: Value = ts
        .get(
            &support,
            &format!("/api/v1/operations?device_id={device}&state=succeeded"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["operation_id"], op.to_string());
}

#[tokio::test]
async fn an_online_agent_gets_commands_at_once_and_again_after_a_reconnect_until_it_acknowledges() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;

    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(1), "kind": "status"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let op = op_id(&res.json().await.unwrap());
    let cmd = next_command(&mut events).await;
    assert_eq!(cmd.operation_id, op);
    wait_state(&ts, &support, op, "sent").await;
    // Sent but no `delivered`: the agent drops; on reconnect the command comes again.
    client.disconnect().await.unwrap();
    drop(events);

    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let again = next_command(&mut events).await;
    assert_eq!(again.operation_id, op);
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "delivered", json!({})),
    )
    .await;
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "succeeded", status_succeeded()),
    )
    .await;
    let v = wait_state(&ts, &support, op, "succeeded").await;
    assert_eq!(v["result"]["counters"]["total_pages"], 120345);

    // A result of the wrong kind is refused and audited; the operation keeps its result.
    report(
        &client,
        &mut events,
        agent,
        agent_report(
            op,
            "succeeded",
            json!({"result": {"kind": "diagnosis", "verdict": "pass",
                              "checks": [{"code": "x", "verdict": "pass"}]}}),
        ),
    )
    .await;
    let refused = audit_rows(&ts, "operation.report", "denied").await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        operation(&ts, &support, op).await["result"]["kind"],
        "status"
    );

    // A third connection after the operation ended gets nothing.
    client.disconnect().await.unwrap();
    drop(events);
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    client
        .publish(topic::acks(agent), QoS::AtLeastOnce, false, b"{}".to_vec())
        .await
        .unwrap();
    // The PUBACK of this (refused) report arrives before any command could.
    let first = until(&mut events, |p| match p {
        Packet::Publish(_) => Some("publish"),
        Packet::PubAck(_) => Some("puback"),
        _ => None,
    })
    .await;
    assert_eq!(first, "puback");
}

#[tokio::test]
async fn who_may_ask_for_what() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let operator = ts.token("operator").await;
    let admin = ts.token("admin").await;
    let foreign = ts.foreign_org().await;

    // A plain user: 403, whatever the device.
    let res = request(
        &ts,
        &operator,
        json!({"device_id": ts.device(0), "kind": "status"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = ts.get(&operator, "/api/v1/operations").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Another organisation's device: 404, for support and admin alike.
    for token in [&support, &admin] {
        let res = request(
            &ts,
            token,
            json!({"device_id": foreign.device, "kind": "status"}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    // The foreign admin's device has no agent: 409.
    let res = request(
        &ts,
        &foreign.token,
        json!({"device_id": foreign.device, "kind": "status"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Diagnosis on a device that never reported the capability: 409.
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "diagnosis"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("diagnosis"));
    // Parameters for another kind and an out-of-range TTL: 422 with both fields.
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status", "head_cleaning": {}, "ttl_secs": 1}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The agent reports diagnosis for device 0 only; then it may be asked for there.
    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    let d = &ts.demo.devices[0];
    let caps = json!({"schema_version": 1, "sent_at": chrono::Utc::now(), "devices": [
        {"manufacturer": d.manufacturer, "model": d.model, "serial_number": d.serial_number,
         "operations": ["status", "head_cleaning", "diagnosis"]},
        {"manufacturer": "Nobody", "model": "X", "serial_number": "NOT-DESIGNATED",
         "operations": ["diagnosis"]}]});
    client
        .publish(
            topic::capabilities(agent),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&caps).unwrap(),
        )
        .await
        .unwrap();
    until(&mut events, |p| {
        matches!(p, Packet::PubAck(_)).then_some(())
    })
    .await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "diagnosis"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(1), "kind": "diagnosis"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // Cancel while queued (the agent did not subscribe); not twice.
    let res = request(
        &ts,
        &admin,
        json!({"device_id": ts.device(2), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    let path = format!("/api/v1/operations/{op}/cancel");
    let res = ts.post(&support, &path, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "cancelled");
    let res = ts.post(&support, &path, &json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Another organisation cannot see it at all.
    let res = ts
        .get(&foreign.token, &format!("/api/v1/operations/{op}"))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = ts.post(&foreign.token, &path, &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A cancelled command never reaches the agent.
    subscribe_commands(&client, &mut events, agent).await;
    let cmd = next_command(&mut events).await;
    assert_eq!(cmd.kind, remote_ops::OperationKind::Diagnosis);

    // Paging: three operations, one per page.
    let page: Value = ts
        .get(&admin, "/api/v1/operations?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let mut seen = vec![page["items"][0]["operation_id"].clone()];
    let mut before = page["next_before"].as_str().map(str::to_owned);
    while let Some(b) = before {
        let page: Value = ts
            .get(&admin, &format!("/api/v1/operations?limit=1&before={b}"))
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["operation_id"].clone()),
        );
        before = page["next_before"].as_str().map(str::to_owned);
    }
    assert_eq!(
        seen.len(),
        2,
        "the diagnosis and the cancelled status: {seen:?}"
    );
    // Refusals are audited.
    assert_eq!(
        audit_rows(&ts, "operation.request", "denied").await.len(),
        3
    );
}

#[tokio::test]
async fn agents_are_held_to_their_own_identity_and_topics() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;
    let support = ts.token("support").await;
    let port = ts.server().addr.port();
    let agent = ts.demo.agent.agent_id;
    let id = agent.to_string();
    let res = ts
        .post(
            &admin,
            "/api/v1/admin/agents",
            &json!({"label": "Second PC", "agent_type": "dc_agent"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let other: Value = res.json().await.unwrap();
    let other_id = other["agent_id"].as_str().unwrap().to_owned();
    let other_secret = other["secret"].as_str().unwrap().to_owned();

    // A wrong secret; another agent's secret under this id; a user name that is not the id.
    for (client_id, user, secret) in [
        (id.as_str(), id.as_str(), "ecsp_ag_wrong"),
        (id.as_str(), id.as_str(), other_secret.as_str()),
        (
            id.as_str(),
            other_id.as_str(),
            ts.demo.agent.secret.as_str(),
        ),
        ("not-a-uuid", "not-a-uuid", ts.demo.agent.secret.as_str()),
    ] {
        let (_c, mut events) = agent_client(&ts.ca_pem, port, true, client_id, user, secret);
        match until_closed(&mut events).await {
            rumqttc::ConnectionError::ConnectionRefused(code) => {
                assert_eq!(code, ConnectReturnCode::BadUserNamePassword)
            }
            e => panic!("expected a refused CONNECT, got {e}"),
        }
    }

    // The second agent subscribes to the demo agent's commands and to a wildcard: both fail.
    let other_uuid = Uuid::parse_str(&other_id).unwrap();
    let (client, mut events) =
        agent_client(&ts.ca_pem, port, true, &other_id, &other_id, &other_secret);
    connected(&mut events).await;
    client
        .subscribe_many([
            rumqttc::SubscribeFilter::new(topic::commands(agent), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new("ecsp/v1/agents/#".into(), QoS::AtLeastOnce),
            rumqttc::SubscribeFilter::new(topic::commands(other_uuid), QoS::AtLeastOnce),
        ])
        .await
        .unwrap();
    let codes = until(&mut events, |p| match p {
        Packet::SubAck(s) => Some(s.return_codes.clone()),
        _ => None,
    })
    .await;
    use rumqttc::SubscribeReasonCode as C;
    assert_eq!(
        codes,
        [C::Failure, C::Failure, C::Success(QoS::AtLeastOnce)]
    );

    // A demo-agent operation, then the second agent reports on it from its own topic: refused.
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    report(
        &client,
        &mut events,
        other_uuid,
        agent_report(op, "rejected", json!({"reason": {"code": "device_busy"}})),
    )
    .await;
    assert_eq!(operation(&ts, &support, op).await["state"], "queued");
    let refused = audit_rows(&ts, "operation.report", "denied").await;
    assert_eq!(refused, [format!("operation:{op}: not this agent's")]);

    // ... and publishing on the demo agent's result topic ends its connection.
    client
        .publish(
            topic::results(agent),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&agent_report(
                op,
                "rejected",
                json!({"reason": {"code": "other"}}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    until_closed(&mut events).await;
    assert_eq!(operation(&ts, &support, op).await["state"], "queued");

    // One row for the packet, however many of its filters were refused.
    let subs = audit_rows(&ts, "mqtt.subscribe", "denied").await;
    assert_eq!(
        subs,
        [format!("topics:2 first:{}", topic::commands(agent))],
        "{subs:?}"
    );
    let pubs = audit_rows(&ts, "mqtt.publish", "denied").await;
    assert_eq!(pubs, [format!("topic:{}", topic::results(agent))]);
    assert!(!audit_rows(&ts, "mqtt.connect", "denied").await.is_empty());
}

/// A raw TLS connection with ALPN `mqtt`, for bytes no MQTT client would send.
async fn raw_mqtt(ts: &TestServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(ts.server().addr)
        .await
        .unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(mqtt_tls(ts.server().ca_pem.as_deref().unwrap(), true));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"mqtt"[..]));
    tls
}

/// Reads until the server closes; returns what it sent.
async fn read_to_close(mut s: impl AsyncReadExt + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server kept the connection open");
    out
}

#[tokio::test]
async fn malformed_and_oversized_packets_close_only_their_own_connection() {
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;

    // Garbage instead of a CONNECT.
    let mut s = raw_mqtt(&ts).await;
    s.write_all(b"\x10\x05garbagegarbage").await.unwrap();
    assert!(read_to_close(s).await.is_empty());
    // An MQTT 5 CONNECT: CONNACK "unacceptable protocol version".
    let mut s = raw_mqtt(&ts).await;
    s.write_all(b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x03\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    assert_eq!(read_to_close(s).await, b"\x20\x02\x00\x01");
    // A packet announcing 1 MiB after a good CONNECT.
    let mut s = raw_mqtt(&ts).await;
    let id = agent.to_string();
    let mut buf = bytes::BytesMut::new();
    let mut connect = rumqttc::mqttbytes::v4::Connect::new(id.clone());
    connect.set_login(id.clone(), ts.demo.agent.secret.clone());
    rumqttc::mqttbytes::v4::Packet::Connect(connect)
        .write(&mut buf, 4096)
        .unwrap();
    s.write_all(&buf).await.unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    s.write_all(&[0x30, 0x80, 0x80, 0x40]).await.unwrap();
    assert!(read_to_close(s).await.is_empty());

    // The agent's own connection (it was replaced by the raw one with its id) and the server
    // go on: a new connection works, HTTPS too.
    drop(client);
    drop(events);
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let res = ts.client.get(ts.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let rows = audit_rows(&ts, "mqtt.packet", "failed").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("larger than"), "{rows:?}");
}

#[tokio::test]
async fn a_command_past_its_time_to_live_expires_and_is_never_sent() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status", "ttl_secs": 10}),
    )
    .await;
    let created: Value = res.json().await.unwrap();
    let op = op_id(&created);
    assert_eq!(created["deadline"], created["expires_at"]);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let v = wait_state(&ts, &support, op, "expired").await;
    assert!(v.get("deadline").is_none());
    // It cannot be cancelled any more, and a connecting agent does not get it.
    let res = ts
        .post(
            &support,
            &format!("/api/v1/operations/{op}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    client
        .publish(topic::acks(agent), QoS::AtLeastOnce, false, b"{}".to_vec())
        .await
        .unwrap();
    let first = until(&mut events, |p| match p {
        Packet::Publish(_) => Some("publish"),
        Packet::PubAck(_) => Some("puback"),
        _ => None,
    })
    .await;
    assert_eq!(first, "puback");
    assert_eq!(
        audit_rows(&ts, "operation.state", "success").await,
        [format!("operation:{op}:expired")]
    );
}

/// Behind HAProxy (`--proxy-protocol`) the MQTT port too takes the client's address from the
/// PROXY protocol header first, and refuses a connection that sends none.
#[tokio::test]
async fn mqtt_on_its_own_port_behind_haproxy_reads_the_proxy_header() {
    let ts = TestServer::start_with(|c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.proxy_protocol = true;
    })
    .await;
    let mqtt = ts.server().mqtt_addr.unwrap();
    let id = ts.demo.agent.agent_id.to_string();
    let secret = ts.demo.agent.secret.clone();
    let (_direct, mut events) = agent_client(&ts.ca_pem, mqtt.port(), false, &id, &id, &secret);
    until_closed(&mut events).await;
    let (relay, relaying) = ecsp_server_mock::testing::relay_to(mqtt).await;
    let (_proxied, mut events) = agent_client(&ts.ca_pem, relay.port(), false, &id, &id, &secret);
    connected(&mut events).await;
    relaying.abort();
}

#[tokio::test]
async fn mqtt_on_its_own_port_without_alpn() {
    let ts = TestServer::start_with(|c| c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let id = agent.to_string();
    let port = ts.server().mqtt_addr.unwrap().port();
    let (client, mut events) =
        agent_client(&ts.ca_pem, port, false, &id, &id, &ts.demo.agent.secret);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut events).await.operation_id, op);
    report(
        &client,
        &mut events,
        agent,
        agent_report(
            op,
            "rejected",
            json!({"reason": {"code": "device_busy", "message": "printing"}}),
        ),
    )
    .await;
    let v = wait_state(&ts, &support, op, "rejected").await;
    assert_eq!(v["reason"]["code"], "device_busy");
}

/// Debian's mosquitto-clients, as a third-party MQTT stack: `mosquitto_sub`/`mosquitto_pub`
/// with `--tls-alpn mqtt` on the HTTPS port.
#[tokio::test]
async fn mosquitto_clients_reach_the_broker_by_alpn() {
    for tool in ["mosquitto_sub", "mosquitto_pub"] {
        assert!(
            std::process::Command::new(tool)
                .arg("--help")
                .output()
                .is_ok(),
            "{tool} is missing: install Debian's mosquitto-clients (scripts/setup-debian.sh does)"
        );
    }
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let id = agent.to_string();
    let ca = ts.dir.path().join("ca.pem");
    std::fs::write(&ca, ts.server().ca_pem.as_deref().unwrap()).unwrap();
    let port = ts.server().addr.port().to_string();
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(2), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());

    let common = |cmd: &mut tokio::process::Command| {
        cmd.args(["-h", "localhost", "-p", &port, "--cafile"])
            .arg(&ca)
            .args([
                "--tls-alpn",
                "mqtt",
                "-i",
                &id,
                "-u",
                &id,
                "-P",
                &ts.demo.agent.secret,
                "-q",
                "1",
            ]);
    };
    let mut sub = tokio::process::Command::new("mosquitto_sub");
    common(&mut sub);
    sub.args(["-t", &topic::commands(agent), "-C", "1", "-W", "10"]);
    let out = sub.output().await.unwrap();
    assert!(
        out.status.success(),
        "mosquitto_sub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cmd: remote_ops::Command = serde_json::from_slice(out.stdout.trim_ascii()).unwrap();
    assert_eq!(cmd.operation_id, op);

    let body = agent_report(
        op,
        "succeeded",
        json!({"result": {"kind": "status", "printer_status": "printing", "counters": {"total_pages": 7}}}),
    );
    let mut publish = tokio::process::Command::new("mosquitto_pub");
    common(&mut publish);
    publish.args(["-t", &topic::results(agent), "-m", &body.to_string()]);
    let out = publish.output().await.unwrap();
    assert!(
        out.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = wait_state(&ts, &support, op, "succeeded").await;
    assert_eq!(v["result"]["printer_status"], "printing");

    // mosquitto_sub on another agent's topic: the SUBACK refuses it (mosquitto_sub says so).
    let mut sub = tokio::process::Command::new("mosquitto_sub");
    common(&mut sub);
    sub.args(["-t", &topic::commands(Uuid::new_v4()), "-C", "1", "-W", "3"]);
    let out = sub.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("subscription requests were denied"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(audit_rows(&ts, "mqtt.subscribe", "denied").await.len(), 1);
}

/// mosquitto started by `scripts/mosquitto-external-broker.sh`, stopped (by its pid) on drop.
struct Mosquitto {
    child: std::process::Child,
    port: u16,
}

impl Mosquitto {
    fn start_on(ts: &TestServer, files: &std::path::Path, port: u16) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts/mosquitto-external-broker.sh");
        let tls = ts.data_dir().join("tls");
        let child = std::process::Command::new(script)
            .arg(port.to_string())
            .arg(files)
            .arg(tls.join("server.pem"))
            .arg(tls.join("server.key"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("scripts/mosquitto-external-broker.sh did not start");
        Self { child, port }
    }

    async fn ready(&mut self) {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "mosquitto exited ({status}); is Debian's mosquitto installed? (scripts/setup-debian.sh)"
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mosquitto did not listen on {}", self.port);
    }

    /// Makes mosquitto read the password and ACL files again.
    fn reload(&self) {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker_client(ts: &TestServer, port: u16, id: &str, secret: &str) -> (AsyncClient, EventLoop) {
    agent_client(&ts.ca_pem, port, false, id, id, secret)
}

#[tokio::test]
async fn through_an_external_mosquitto_with_per_agent_acls() {
    let files = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let files_dir = files.path().to_path_buf();
    let ts = TestServer::start_with(|c| {
        c.external_broker = Some(ecsp_server_mock::remote::external::ExternalBroker {
            host: "localhost".into(),
            port,
            tls: true,
            ca_pem: None,
            files_dir,
            nats: None,
        })
    })
    .await;
    // The server wrote the broker's files: itself and the demo agent, hashes only.
    let passwords = std::fs::read_to_string(files.path().join("password_file")).unwrap();
    let agent = ts.demo.agent.agent_id;
    let id = agent.to_string();
    assert!(passwords.contains(&format!("{id}:$6$")));
    assert!(!passwords.contains(&ts.demo.agent.secret));
    // Not ready while the broker it needs is not there (a load balancer keeps users away).
    let http = crate::common::https_client(&ts.ca_pem);
    let ready = ts.url("/ready");
    let res = http.get(&ready).send().await.unwrap();
    let problem =
        crate::common::expect_problem(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("external MQTT broker is not connected"),
        "{problem}"
    );
    let mut broker = Mosquitto::start_on(&ts, files.path(), port);
    broker.ready().await;
    // The server retries its broker connection every second.
    for _ in 0..100 {
        if ts.server().remote.external_connected() == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ts.server().remote.external_connected(), Some(true));
    let res = http.get(&ready).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "ready once the broker is connected"
    );
    let support = ts.token("support").await;
    let admin = ts.token("admin").await;

    // Requested before the agent is there: published to the broker, which drops it (nobody
    // subscribed); the agent's announcement after it subscribes brings it again.
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "head_cleaning"}),
    )
    .await;
    let first = op_id(&res.json().await.unwrap());

    let (client, mut events) = broker_client(&ts, broker.port, &id, &ts.demo.agent.secret);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let d = &ts.demo.devices[0];
    let caps = json!({"schema_version": 1, "sent_at": chrono::Utc::now(), "devices": [
        {"manufacturer": d.manufacturer, "model": d.model, "serial_number": d.serial_number,
         "operations": ["status", "head_cleaning", "diagnosis"]}]});
    client
        .publish(
            topic::capabilities(agent),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&caps).unwrap(),
        )
        .await
        .unwrap();
    let cmd = next_command(&mut events).await;
    assert_eq!(cmd.operation_id, first);
    report(
        &client,
        &mut events,
        agent,
        agent_report(first, "delivered", json!({})),
    )
    .await;
    report(
        &client,
        &mut events,
        agent,
        agent_report(
            first,
            "succeeded",
            json!({"result": {"kind": "head_cleaning", "level": "normal", "nozzles_ok": false,
                          "missing_nozzles": 3, "duration_s": 60}}),
        ),
    )
    .await;
    let v = wait_state(&ts, &support, first, "succeeded").await;
    assert_eq!(v["result"]["missing_nozzles"], 3);

    // The capability came through the broker too: diagnosis may now be asked for, and an online
    // agent gets it at once.
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "diagnosis"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let diag = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut events).await.operation_id, diag);

    // A second agent, added now: the server rewrites the password file, mosquitto reloads it.
    let res = ts
        .post(
            &admin,
            "/api/v1/admin/agents",
            &json!({"label": "Second PC", "agent_type": "dc_agent"}),
        )
        .await;
    let other: Value = res.json().await.unwrap();
    let other_id = other["agent_id"].as_str().unwrap().to_owned();
    let other_secret = other["secret"].as_str().unwrap().to_owned();
    for _ in 0..100 {
        if std::fs::read_to_string(files.path().join("password_file"))
            .unwrap()
            .contains(&other_id)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.reload();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (intruder, mut intruder_events) = broker_client(&ts, broker.port, &other_id, &other_secret);
    connected(&mut intruder_events).await;
    // mosquitto's acl_file is enforced on delivery: the subscription to the demo agent's
    // command topic is taken, but nothing published there reaches the intruder.
    intruder
        .subscribe(topic::commands(agent), QoS::AtLeastOnce)
        .await
        .unwrap();
    until(&mut intruder_events, |p| {
        matches!(p, Packet::SubAck(_)).then_some(())
    })
    .await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(1), "kind": "status"}),
    )
    .await;
    let status = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut events).await.operation_id, status);
    let leaked = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Ok(Event::Incoming(Packet::Publish(p))) = intruder_events.poll().await {
                return p.topic;
            }
        }
    })
    .await;
    assert!(leaked.is_err(), "the intruder got a command: {leaked:?}");
    // ... and drops what it publishes on the demo agent's result topic.
    intruder
        .publish(
            topic::results(agent),
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&agent_report(
                diag,
                "rejected",
                json!({"reason": {"code": "other"}}),
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    until(&mut intruder_events, |p| {
        matches!(p, Packet::PubAck(_)).then_some(())
    })
    .await;
    // The genuine agent's report, published after it, is what the server stores.
    report(
        &client,
        &mut events,
        agent,
        agent_report(diag, "delivered", json!({})),
    )
    .await;
    let v = wait_state(&ts, &support, diag, "delivered").await;
    let states: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued", "sent", "delivered"]);

    // A wrong secret, and another agent's secret under the demo agent's id: refused by mosquitto.
    for secret in ["ecsp_ag_wrong", other_secret.as_str()] {
        let (_c, mut e) = broker_client(&ts, broker.port, &id, secret);
        match until_closed(&mut e).await {
            rumqttc::ConnectionError::ConnectionRefused(code) => assert!(
                matches!(
                    code,
                    ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword
                ),
                "{code:?}"
            ),
            e => panic!("expected a refused CONNECT, got {e}"),
        }
    }
}

#[tokio::test]
async fn an_agent_that_goes_quiet_after_delivery_times_the_operation_out() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "head_cleaning"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut events).await.operation_id, op);
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "delivered", json!({})),
    )
    .await;
    let v = operation(&ts, &support, op).await;
    let deadline: chrono::DateTime<chrono::Utc> = v["deadline"].as_str().unwrap().parse().unwrap();
    let left = deadline - chrono::Utc::now();
    assert!(
        left > chrono::Duration::seconds(100) && left <= chrono::Duration::seconds(120),
        "delivered times out 120 s after: {left}"
    );
    // Two minutes pass: the deadline is moved to now in the database file.
    let op_text = op.to_string();
    let n = ts
        .write_sql(move |c| {
            c.execute(
                "UPDATE operations SET deadline = ?2 WHERE public_id = ?1",
                ecsp_server_mock::params![op_text, chrono::Utc::now().timestamp_millis()],
            )
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    let v = wait_state(&ts, &support, op, "timed_out").await;
    assert!(v.get("deadline").is_none());
    // A report arriving after that changes nothing.
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "in_progress", json!({})),
    )
    .await;
    assert_eq!(operation(&ts, &support, op).await["state"], "timed_out");
    assert_eq!(
        audit_rows(&ts, "operation.state", "success").await,
        [
            format!("operation:{op}:delivered"),
            format!("operation:{op}:timed_out")
        ]
    );
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_replaces_the_first() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let agent = ts.demo.agent.agent_id;
    let (first, mut first_events) = demo_agent(&ts);
    connected(&mut first_events).await;
    subscribe_commands(&first, &mut first_events, agent).await;
    let (second, mut second_events) = demo_agent(&ts);
    connected(&mut second_events).await;
    until_closed(&mut first_events).await;
    assert_eq!(ts.server().remote.connected(), 1);
    // Commands go to the connection that is left.
    subscribe_commands(&second, &mut second_events, agent).await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut second_events).await.operation_id, op);
}

#[tokio::test]
async fn a_queued_command_survives_a_server_restart() {
    let ts = TestServer::start().await;
    let support = ts.token("support").await;
    let res = request(
        &ts,
        &support,
        json!({"device_id": ts.device(0), "kind": "status"}),
    )
    .await;
    let op = op_id(&res.json().await.unwrap());
    let mut ts = ts;
    ts.restart_with(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .await;
    let support = ts.token("support").await;
    assert_eq!(operation(&ts, &support, op).await["state"], "queued");
    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    assert_eq!(next_command(&mut events).await.operation_id, op);
    wait_state(&ts, &support, op, "sent").await;
}

/// The demo agent's CONNECT, as bytes.
fn demo_connect(ts: &TestServer) -> Vec<u8> {
    let id = ts.demo.agent.agent_id.to_string();
    let mut buf = bytes::BytesMut::new();
    let mut connect = rumqttc::mqttbytes::v4::Connect::new(id.clone());
    connect.set_login(id, ts.demo.agent.secret.clone());
    rumqttc::mqttbytes::v4::Packet::Connect(connect)
        .write(&mut buf, 4096)
        .unwrap();
    buf.to_vec()
}

/// A raw connection of the demo agent, past its CONNACK.
async fn raw_connected(ts: &TestServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut s = raw_mqtt(ts).await;
    s.write_all(&demo_connect(ts)).await.unwrap();
    let mut connack = [0u8; 4];
    s.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    s
}

/// An MQTT string: two-byte length, then the bytes.
fn mqtt_str(s: &[u8]) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A packet from its first byte and its body (remaining length encoded here).
fn frame(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte1];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// Waits (at most 5 s) for the server to close; what it sent before, or `None` if it did not.
async fn closed_after(
    mut s: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .ok()
        .map(|_| out)
}

/// MQTT 3.1.1's MUSTs for the packets the broker takes: each malformed packet, written raw,
/// ends its connection with nothing sent back (for CONNECT, no CONNACK).
#[tokio::test]
async fn every_malformed_packet_closes_the_connection() {
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;
    let id = agent.to_string();
    let good = demo_connect(&ts);
    // Offsets in the good CONNECT: the fixed header, then the protocol name (6), the level (1)
    // and the flags.
    let header = 2 + good[1..].iter().position(|b| b & 0x80 == 0).unwrap();
    let flags_at = header + 6 + 1;
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let own_acks = topic::acks(agent);
    let own_commands = topic::commands(agent);
    let mut publish_body = mqtt_str(own_acks.as_bytes());
    publish_body.extend_from_slice(b"{}");
    let subscribe = |pkid: u16, filter: &[u8], options: u8| {
        let mut body = pkid.to_be_bytes().to_vec();
        body.extend(mqtt_str(filter));
        body.push(options);
        body
    };

    // (what is wrong, the bytes, whether they follow a good CONNECT)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        // CONNECT
        (
            "CONNECT reserved flag set (MQTT-3.1.2-3)",
            with(&|c| c[flags_at] |= 0x01),
            false,
        ),
        (
            "CONNECT header flags not 0 (MQTT-2.2.2-2)",
            with(&|c| c[0] = 0x12),
            false,
        ),
        (
            "CONNECT bytes after the last field (MQTT-3.1.3-1)",
            frame(0x10, &[&good[header..], b"\x00\x00"].concat()),
            false,
        ),
        (
            "CONNECT password flag without user name flag (MQTT-3.1.2-22)",
            {
                let mut body = mqtt_str(b"MQTT");
                body.extend_from_slice(&[4, 0x40 | 0x02, 0, 60]);
                body.extend(mqtt_str(id.as_bytes()));
                body.extend(mqtt_str(ts.demo.agent.secret.as_bytes()));
                frame(0x10, &body)
            },
            false,
        ),
        (
            "CONNECT will QoS without will flag (MQTT-3.1.2-13)",
            with(&|c| c[flags_at] |= 0x08),
            false,
        ),
        (
            "CONNECT protocol name not MQTT (MQTT-3.1.2-1)",
            {
                let mut body = mqtt_str(b"MQIsdp");
                body.extend_from_slice(&[4, 0x02, 0, 60]);
                body.extend(mqtt_str(b"x"));
                frame(0x10, &body)
            },
            false,
        ),
        (
            "a first packet that is not CONNECT (MQTT-3.1.0-1)",
            frame(0xC0, &[]),
            false,
        ),
        ("a second CONNECT (MQTT-3.1.0-2)", good.clone(), true),
        // PUBLISH
        (
            "PUBLISH QoS 3 (MQTT-3.3.1-4)",
            frame(0x36, &[mqtt_str(own_acks.as_bytes()), vec![0, 1]].concat()),
            true,
        ),
        (
            "PUBLISH DUP on QoS 0 (MQTT-3.3.1-2)",
            frame(0x38, &publish_body),
            true,
        ),
        (
            "PUBLISH QoS 1 packet id 0 (MQTT-2.3.1-1)",
            frame(0x32, &[mqtt_str(own_acks.as_bytes()), vec![0, 0]].concat()),
            true,
        ),
        (
            "PUBLISH wildcard in the topic (MQTT-3.3.2-2)",
            frame(0x30, &[mqtt_str(b"ecsp/+"), b"{}".to_vec()].concat()),
            true,
        ),
        (
            "PUBLISH topic not UTF-8 (MQTT-1.5.3-1)",
            frame(0x30, &[mqtt_str(b"\xff\xfe"), b"{}".to_vec()].concat()),
            true,
        ),
        // PUBACK
        (
            "PUBACK header flags not 0 (MQTT-2.2.2-2)",
            frame(0x42, &[0, 1]),
            true,
        ),
        (
            "PUBACK remaining length not 2 (MQTT-3.4.1)",
            frame(0x40, &[0, 1, 0]),
            true,
        ),
        // SUBSCRIBE
        (
            "SUBSCRIBE header flags 0000 (MQTT-3.8.1-1)",
            frame(0x80, &subscribe(1, own_commands.as_bytes(), 1)),
            true,
        ),
        (
            "SUBSCRIBE packet id 0 (MQTT-2.3.1-1)",
            frame(0x82, &subscribe(0, own_commands.as_bytes(), 1)),
            true,
        ),
        (
            "SUBSCRIBE without a filter (MQTT-3.8.3-3)",
            frame(0x82, &[0, 1]),
            true,
        ),
        (
            "SUBSCRIBE reserved bits in the QoS byte (MQTT-3-8.3-4)",
            frame(0x82, &subscribe(1, own_commands.as_bytes(), 0x41)),
            true,
        ),
        (
            "SUBSCRIBE QoS 3 (MQTT-3-8.3-4)",
            frame(0x82, &subscribe(1, own_commands.as_bytes(), 3)),
            true,
        ),
        (
            "SUBSCRIBE '#' not last (MQTT-4.7.1-2)",
            frame(0x82, &subscribe(1, b"ecsp/#/x", 1)),
            true,
        ),
        (
            "SUBSCRIBE U+0000 in a filter (MQTT-1.5.3-2)",
            frame(0x82, &subscribe(1, b"ecsp/\x00", 1)),
            true,
        ),
        (
            "SUBSCRIBE empty filter (MQTT-4.7.3-1)",
            frame(0x82, &subscribe(1, b"", 1)),
            true,
        ),
        // UNSUBSCRIBE
        (
            "UNSUBSCRIBE header flags 0000 (MQTT-3.10.1-1)",
            frame(
                0xA0,
                &[vec![0, 1], mqtt_str(own_commands.as_bytes())].concat(),
            ),
            true,
        ),
        (
            "UNSUBSCRIBE packet id 0 (MQTT-2.3.1-1)",
            frame(
                0xA2,
                &[vec![0, 0], mqtt_str(own_commands.as_bytes())].concat(),
            ),
            true,
        ),
        (
            "UNSUBSCRIBE without a topic (MQTT-3.10.3-2)",
            frame(0xA2, &[0, 1]),
            true,
        ),
        // PINGREQ, DISCONNECT
        (
            "PINGREQ with a payload (MQTT-3.12)",
            frame(0xC0, &[0]),
            true,
        ),
        (
            "PINGREQ header flags not 0 (MQTT-2.2.2-2)",
            frame(0xC1, &[]),
            true,
        ),
        (
            "DISCONNECT header flags not 0 (MQTT-3.14.1-1)",
            frame(0xE1, &[]),
            true,
        ),
        // Packets a server does not take, and reserved types.
        ("PUBREL (QoS 2 is not offered)", frame(0x62, &[0, 1]), true),
        ("SUBACK from a client", frame(0x90, &[0, 1, 0]), true),
        (
            "reserved packet type 0 (MQTT-2.2.1)",
            frame(0x00, &[]),
            true,
        ),
        (
            "reserved packet type 15 (MQTT-2.2.1)",
            frame(0xF0, &[]),
            true,
        ),
        (
            "remaining length of 5 bytes (MQTT-2.2.3)",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            true,
        ),
    ];
    let mut kept_open = Vec::new();
    for (what, bytes, after_connect) in &cases {
        let mut s = if *after_connect {
            raw_connected(&ts).await
        } else {
            raw_mqtt(&ts).await
        };
        s.write_all(bytes).await.unwrap();
        match closed_after(s).await {
            Some(sent) if sent.is_empty() => {}
            Some(sent) => kept_open.push(format!("{what}: answered {sent:02x?} then closed")),
            None => kept_open.push(format!("{what}: connection left open")),
        }
    }
    assert!(
        kept_open.is_empty(),
        "not closed at once:\n{}",
        kept_open.join("\n")
    );

    // The same connection answers well-formed packets and stays open.
    let mut s = raw_connected(&ts).await;
    s.write_all(&frame(0xC0, &[])).await.unwrap();
    let mut pong = [0u8; 2];
    s.read_exact(&mut pong).await.unwrap();
    assert_eq!(pong, [0xD0, 0x00]);
    s.write_all(&frame(0x82, &subscribe(9, own_commands.as_bytes(), 1)))
        .await
        .unwrap();
    let mut suback = [0u8; 5];
    s.read_exact(&mut suback).await.unwrap();
    assert_eq!(suback, [0x90, 0x03, 0x00, 0x09, 0x01]);
    s.write_all(&frame(
        0xA2,
        &[vec![0, 10], mqtt_str(own_commands.as_bytes())].concat(),
    ))
    .await
    .unwrap();
    let mut unsuback = [0u8; 4];
    s.read_exact(&mut unsuback).await.unwrap();
    assert_eq!(unsuback, [0xB0, 0x02, 0x00, 0x0A]);
    s.write_all(&frame(0xE0, &[])).await.unwrap();
    assert_eq!(closed_after(s).await, Some(Vec::new()));

    // Violations are audited (folded): the first row names the rule.
    let rows = audit_rows(&ts, "mqtt.packet", "failed").await;
    assert!(
        rows.first().is_some_and(|r| r.contains("MQTT-")),
        "{rows:?}"
    );
}

/// One SUBSCRIBE with thousands of forbidden filters is one audit row and ends the connection;
/// so do forbidden filters sent one packet at a time, past the limit.
#[tokio::test]
async fn an_agent_asking_for_what_it_may_not_have_is_audited_once_per_packet_and_closed() {
    use ecsp_server_mock::remote::broker::MAX_REFUSALS_PER_CONNECTION;
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;

    // 4,000 other agents' command topics in one packet (~250 kB, under the packet limit).
    let mut s = raw_connected(&ts).await;
    let mut sub = rumqttc::mqttbytes::v4::Subscribe::new_many((0..4000).map(|_| {
        rumqttc::mqttbytes::v4::SubscribeFilter::new(
            topic::commands(Uuid::new_v4()),
            rumqttc::mqttbytes::QoS::AtLeastOnce,
        )
    }));
    sub.pkid = 1;
    let mut buf = bytes::BytesMut::new();
    rumqttc::mqttbytes::v4::Packet::Subscribe(sub)
        .write(&mut buf, 1 << 20)
        .unwrap();
    assert!(buf.len() > 200_000 && buf.len() < remote_ops::MAX_PACKET_BYTES);
    s.write_all(&buf).await.unwrap();
    assert_eq!(closed_after(s).await, Some(Vec::new()), "no SUBACK, closed");
    let rows = audit_rows(&ts, "mqtt.subscribe", "denied").await;
    assert_eq!(rows.len(), 1, "{} rows", rows.len());
    assert!(rows[0].starts_with("topics:4000 first:"), "{rows:?}");
    assert!(rows[0].ends_with("connection closed)"), "{rows:?}");

    // One forbidden filter per packet: each answered with a failure until the limit, then
    // closed; the rows are folded by the audit throttle (one written now, the rest counted).
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    for _ in 0..MAX_REFUSALS_PER_CONNECTION {
        client
            .subscribe(topic::commands(Uuid::new_v4()), QoS::AtLeastOnce)
            .await
            .unwrap();
        let codes = until(&mut events, |p| match p {
            Packet::SubAck(s) => Some(s.return_codes.clone()),
            _ => None,
        })
        .await;
        assert_eq!(codes, [rumqttc::SubscribeReasonCode::Failure]);
    }
    client
        .subscribe(topic::commands(Uuid::new_v4()), QoS::AtLeastOnce)
        .await
        .unwrap();
    until_closed(&mut events).await;
    assert_eq!(audit_rows(&ts, "mqtt.subscribe", "denied").await.len(), 1);

    // The agent itself is not shut out: a new connection subscribes to its commands.
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
}

/// At most `MAX_CONNECTIONS_PER_ADDRESS` MQTT connections per address; past
/// `FAILED_CONNECT_BURST` wrong secrets, an address is answered "server unavailable" without
/// its credentials being checked.
#[tokio::test]
async fn connections_and_failed_connects_are_limited_per_address() {
    use ecsp_server_mock::remote::limits::{FAILED_CONNECT_BURST, MAX_CONNECTIONS_PER_ADDRESS};
    let ts = TestServer::start().await;
    let id = ts.demo.agent.agent_id.to_string();
    let port = ts.server().addr.port();

    // Connections that have not sent their CONNECT yet hold their place.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
        held.push(raw_mqtt(&ts).await);
    }
    let mut s = raw_mqtt(&ts).await;
    s.write_all(&demo_connect(&ts)).await.unwrap();
    assert_eq!(
        closed_after(s).await,
        Some(Vec::new()),
        "one too many: closed"
    );
    drop(held);
    // Places are freed as the server sees the connections close.
    let mut freed = false;
    for _ in 0..50 {
        let mut s = raw_mqtt(&ts).await;
        s.write_all(&demo_connect(&ts)).await.unwrap();
        let mut connack = [0u8; 4];
        if s.read_exact(&mut connack).await.is_ok() {
            assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed, "places were not freed");

    for _ in 0..FAILED_CONNECT_BURST as usize {
        let (_c, mut events) = agent_client(&ts.ca_pem, port, true, &id, &id, "ecsp_ag_wrong");
        match until_closed(&mut events).await {
            rumqttc::ConnectionError::ConnectionRefused(code) => {
                assert_eq!(code, ConnectReturnCode::BadUserNamePassword)
            }
            e => panic!("expected a refused CONNECT, got {e}"),
        }
    }
    // The budget is spent: even the right secret is not checked now.
    let (_c, mut events) = demo_agent(&ts);
    match until_closed(&mut events).await {
        rumqttc::ConnectionError::ConnectionRefused(code) => {
            assert_eq!(code, ConnectReturnCode::ServiceUnavailable)
        }
        e => panic!("expected CONNACK 3, got {e}"),
    }
    // All of these are folded into one row (and a summary when the window closes).
    let rows = audit_rows(&ts, "mqtt.connect", "denied").await;
    assert_eq!(rows, ["too many connections from this address"]);
    // HTTPS is not affected.
    let res = ts.client.get(ts.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
