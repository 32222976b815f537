//! The clustered broker: three NATS broker nodes (Debian's nats-server; each a routing process
//! and an MQTT process over TLS with a JetStream of its own, `cluster::BrokerNode`),
//! two server nodes on PostgreSQL, HAProxy in front routing ALPN `mqtt` to the brokers, and ES
//! simulator agents that sign in with the credential the server signs for them.
//!
//! Needs `ECSP_TEST_POSTGRES` (scripts/test.sh starts a PostgreSQL and sets it), `haproxy` and
//! `nats-server` (scripts/setup-debian.sh installs both).
// A failed unwrap here is the test failing, at its line.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ecsp_agent::session::{self, MqttSettings, SessionHandle};
use ecsp_agent::sim::Fleet;
use ecsp_agent::store::AgentStore;
use ecsp_agent::upload::Uploader;
use ecsp_client::Secret;
use ecsp_protocol::agent::AgentType;
use ecsp_protocol::remote_ops::topic;
use ecsp_server_mock::testing::{ProcessCluster, access_token, server_binary};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::Counting;

/// One cluster at a time: each is twelve processes, and the failover test's 10 s bound is about
/// the brokers, not about two clusters sharing two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cluster, or `None` (said on stderr) without the PostgreSQL the cluster needs.
async fn cluster(test: &str, brokers: usize) -> Option<ProcessCluster> {
    if std::env::var_os("ECSP_TEST_POSTGRES").is_none() {
        eprintln!(
            "{test}: SKIPPED, needs ECSP_TEST_POSTGRES (scripts/test.sh starts a PostgreSQL and sets it)"
        );
        return None;
    }
    Some(ProcessCluster::start_with_brokers(server_binary(), 2, brokers).await)
}

/// A cluster with `agents` agents enrolled through it, and an admin's token.
struct Rig {
    _one: tokio::sync::MutexGuard<'static, ()>,
    cluster: ProcessCluster,
    http: reqwest::Client,
    base: String,
    admin: String,
    enrolled: Vec<Enrolled>,
}

async fn rig(test: &str, agents: usize) -> Option<Rig> {
    let one = ONE_AT_A_TIME.lock().await;
    let cluster = cluster(test, 3).await?;
    let http = http_client(&cluster.seed.ca_pem);
    let base = cluster.url();
    let admin = admin_token(&cluster, &http).await;
    let enrolled = enrol(&base, &http, &admin, agents).await;
    Some(Rig {
        _one: one,
        cluster,
        http,
        base,
        admin,
        enrolled,
    })
}

fn http_client(ca_pem: &str) -> reqwest::Client {
    let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

async fn admin_token(cluster: &ProcessCluster, http: &reqwest::Client) -> String {
    let (email, password) = cluster.seed.password("admin");
    access_token(http, &cluster.url(), &email, &password).await
}

/// An agent with one printer of its own.
struct Enrolled {
    agent: Uuid,
    secret: String,
    device: Uuid,
    serial: String,
}

async fn enrol(base: &str, http: &reqwest::Client, admin: &str, n: usize) -> Vec<Enrolled> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let a: Value = http
            .post(format!("{base}/api/v1/admin/agents"))
            .bearer_auth(admin)
            .json(&json!({"label": format!("cluster agent {i}"), "agent_type": "es_agent"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let agent: Uuid = a["agent_id"].as_str().unwrap().parse().unwrap();
        let serial = format!("NATS{i:05}");
        let d: Value = http
            .post(format!("{base}/api/v1/admin/devices"))
            .bearer_auth(admin)
            .json(
                &json!({"manufacturer": "Epson", "model": "SureColor SC-F10000",
                          "serial_number": serial, "agent_id": agent}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push(Enrolled {
            agent,
            secret: a["secret"].as_str().unwrap().to_owned(),
            device: d["device_id"].as_str().unwrap().parse().unwrap(),
            serial,
        });
    }
    out
}

fn spawn_agent(
    cluster: &ProcessCluster,
    e: &Enrolled,
    i: usize,
    stores: &std::path::Path,
    runs: &Arc<Mutex<HashMap<Uuid, u32>>>,
) -> SessionHandle {
    let ca = &cluster.seed.ca_pem;
    let uploader = Uploader::new(
        &cluster.url(),
        ca,
        e.agent,
        Secret::new(e.secret.clone()),
        AgentType::EsAgent,
    )
    .unwrap();
    let fleet = Fleet::from_devices(
        [("Epson", "SureColor SC-F10000", e.serial.as_str())],
        i as u64,
        Utc::now(),
    );
    session::spawn(
        MqttSettings {
            host: "localhost".into(),
            port: cluster.addr.port(),
            tls: ecsp_client::transport::tls_config(None, Some(ca.as_bytes())).unwrap(),
            agent_id: e.agent,
            secret: Secret::new(e.secret.clone()),
            // Short, so that a connection to a dead broker node is noticed soon.
            keep_alive: Duration::from_secs(5),
            credentials: Some(Arc::new(uploader)),
        },
        AgentStore::open(&stores.join(format!("{i}.db"))).unwrap(),
        Arc::new(Counting {
            fleet,
            runs: runs.clone(),
        }),
    )
}

async fn request_status(
    base: &str,
    http: &reqwest::Client,
    token: &str,
    device: Uuid,
) -> Option<Uuid> {
    let res = http
        .post(format!("{base}/api/v1/operations"))
        .bearer_auth(token)
        .json(&json!({"device_id": device, "kind": "status", "ttl_secs": 20}))
        .send()
        .await
        .ok()?;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::CREATED,
        "status requested"
    );
    let v: Value = res.json().await.ok()?;
    v["operation_id"].as_str()?.parse().ok()
}

async fn state_of(base: &str, http: &reqwest::Client, token: &str, op: Uuid) -> String {
    let v: Value = http
        .get(format!("{base}/api/v1/operations/{op}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["state"].as_str().unwrap_or("?").to_owned()
}

/// How long the agents of a killed broker node may take to be subscribed again (the issue's
/// aim).
const RECONNECT_BOUND: Duration = Duration::from_secs(10);

const FINAL: [&str; 6] = [
    "succeeded",
    "failed",
    "rejected",
    "timed_out",
    "expired",
    "cancelled",
];

/// 100 agents on a three-node broker cluster: the broker node holding the most of them is
/// killed; they reconnect through HAProxy to the others, and each status requested before,
/// during and after ends once (or visibly expires), never run twice.
///
/// The bound is [`RECONNECT_BOUND`]; the time taken is printed. (With the brokers' MQTT
/// sessions in one JetStream clustered across the nodes, runs whose killed node led the
/// sessions' stream took 9.5 s and, once in six, over 10 s: each CONNECT waited for a new leader;
/// `cluster::BrokerNode` says how the nodes avoid that now.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_survive_a_broker_node_killed_and_every_operation_ends_once() {
    const AGENTS: usize = 100;
    let Some(Rig {
        _one,
        mut cluster,
        http,
        base,
        admin,
        enrolled,
    }) = rig(
        "agents_survive_a_broker_node_killed_and_every_operation_ends_once",
        AGENTS,
    )
    .await
    else {
        return;
    };
    let stores = tempfile::tempdir().unwrap();
    let runs = Arc::new(Mutex::new(HashMap::new()));
    let sessions: Vec<SessionHandle> = enrolled
        .iter()
        .enumerate()
        .map(|(i, e)| spawn_agent(&cluster, e, i, stores.path(), &runs))
        .collect();
    let up = |sessions: &[SessionHandle]| sessions.iter().filter(|s| s.is_subscribed()).count();
    let started = Instant::now();
    while up(&sessions) < AGENTS {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} of {AGENTS} agents subscribed within 90 s",
            up(&sessions)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut ops = Vec::new();
    for e in enrolled.iter().step_by(5) {
        ops.push(
            request_status(&base, &http, &admin, e.device)
                .await
                .unwrap(),
        );
    }
    // The node HAProxy gave the most agents (leastconn spreads them) is the one killed.
    let victim = cluster.brokers().busiest();
    let before: Vec<u32> = sessions.iter().map(SessionHandle::connections).collect();
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| cluster.brokers().kill(victim));
    for e in enrolled.iter().skip(2).step_by(5) {
        ops.push(
            request_status(&base, &http, &admin, e.device)
                .await
                .unwrap(),
        );
    }
    // Each agent whose connection died reconnects; all are subscribed again within 10 s.
    let moved = loop {
        let moved: Vec<usize> = (0..AGENTS)
            .filter(|&i| sessions[i].connections() > before[i])
            .collect();
        let down = AGENTS - up(&sessions);
        if down == 0 && !moved.is_empty() && killed_at.elapsed() > Duration::from_secs(1) {
            break moved;
        }
        if killed_at.elapsed() >= RECONNECT_BOUND {
            // What the brokers left say of it (errors and warnings since the kill).
            let logs: String = (0..3)
                .filter(|&i| i != victim)
                .map(|i| {
                    let log = cluster.brokers_ref().log(i);
                    let notable: Vec<&str> = log
                        .lines()
                        .filter(|l| l.contains("[ERR]") || l.contains("[WRN]"))
                        .collect();
                    format!(
                        "broker node {}:\n{}\n",
                        i + 1,
                        notable[notable.len().saturating_sub(15)..].join("\n")
                    )
                })
                .collect();
            panic!(
                "{down} agents not subscribed again {} s after broker node {} was killed ({} reconnected)\n{logs}",
                RECONNECT_BOUND.as_secs(),
                victim + 1,
                moved.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reconnected_in = killed_at.elapsed();
    for e in enrolled.iter().skip(4).step_by(5) {
        ops.push(
            request_status(&base, &http, &admin, e.device)
                .await
                .unwrap(),
        );
    }

    // Every operation ends: the deadlines (20 s to be delivered) bound the wait.
    let mut states = HashMap::new();
    let waited = Instant::now();
    loop {
        states.clear();
        for &op in &ops {
            states.insert(op, state_of(&base, &http, &admin, op).await);
        }
        if states.values().all(|s| FINAL.contains(&s.as_str())) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "operations still open after 120 s: {:?}",
            states
                .iter()
                .filter(|(_, s)| !FINAL.contains(&s.as_str()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let runs = runs.lock().unwrap().clone();
    for (op, state) in &states {
        let ran = runs.get(op).copied().unwrap_or(0);
        assert!(ran <= 1, "operation {op} ran {ran} times");
        if state == "succeeded" {
            assert_eq!(ran, 1, "operation {op} succeeded without running");
        }
    }
    let succeeded = states.values().filter(|s| *s == "succeeded").count();
    eprintln!(
        "broker node {} killed: {} agents reconnected, all subscribed again after {:.1} s; \
         {succeeded} of {} operations succeeded, the rest ended visibly: {:?}",
        victim + 1,
        moved.len(),
        reconnected_in.as_secs_f64(),
        ops.len(),
        states
            .values()
            .filter(|s| *s != "succeeded")
            .collect::<Vec<_>>()
    );
    // Those requested once the agents were back (the last third) all ran.
    let last: Vec<&Uuid> = ops[ops.len() - AGENTS / 5..].iter().collect();
    for op in last {
        assert_eq!(
            states[op], "succeeded",
            "operation {op} requested after the failover"
        );
    }
    for s in sessions {
        s.stop().await;
    }
}

/// A raw MQTT client through HAProxy with `password`; returns its client and event loop.
fn raw_client(
    cluster: &ProcessCluster,
    client_id: &str,
    password: &str,
) -> (AsyncClient, rumqttc::EventLoop) {
    let mut tls =
        ecsp_client::transport::tls_config(None, Some(cluster.seed.ca_pem.as_bytes())).unwrap();
    tls.alpn_protocols = vec![b"mqtt".to_vec()];
    let mut options = MqttOptions::new(client_id, "localhost", cluster.addr.port());
    options
        .set_credentials(client_id, password)
        .set_keep_alive(Duration::from_secs(5))
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    AsyncClient::new(options, 16)
}

/// The first connection outcome: `Ok` on CONNACK accepted, `Err` with why otherwise.
async fn connect_outcome(events: &mut rumqttc::EventLoop) -> Result<(), String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer within 10 s".into()),
        }
    }
}

async fn broker_credential(
    cluster: &ProcessCluster,
    http: &reqwest::Client,
    secret: &str,
) -> String {
    let res = http
        .post(format!("{}/api/v1/agent/broker-credential", cluster.url()))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["password"].as_str().unwrap().to_owned()
}

/// An agent's credential names its own topics only: another agent's command topic, wildcards
/// and NATS's own delivery subjects are refused by the broker, a report published on another
/// agent's topic reaches no one; an expired credential, and one whose agent was disabled, no
/// longer connect, and the disabled agent's live connection is closed within a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_holds_each_agent_to_its_own_topics_and_cuts_off_revoked_ones() {
    let Some(Rig {
        _one,
        mut cluster,
        http,
        base,
        admin,
        enrolled: agents,
    }) = rig(
        "the_broker_holds_each_agent_to_its_own_topics_and_cuts_off_revoked_ones",
        2,
    )
    .await
    else {
        return;
    };
    let (a, b) = (&agents[0], &agents[1]);
    let password_a = broker_credential(&cluster, &http, &a.secret).await;
    let password_b = broker_credential(&cluster, &http, &b.secret).await;

    // A listener with the server's own rights sees what reaches A's report topics.
    let keys = cluster.brokers().keys();
    let server_password = keys.server_credential(Utc::now()).unwrap();
    let (spy, mut spy_events) = raw_client(&cluster, "test-spy", &server_password);
    connect_outcome(&mut spy_events).await.unwrap();
    spy.subscribe(topic::results(a.agent), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Ok(e) = spy_events.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = e {
                let _ = seen_tx.send(p.payload.to_vec());
            }
        }
    });

    // B: each foreign filter is refused in its SUBACK.
    let (client_b, mut events_b) = raw_client(&cluster, &b.agent.to_string(), &password_b);
    connect_outcome(&mut events_b).await.unwrap();
    for filter in [
        topic::commands(a.agent),
        format!("{}/+/commands", topic::ROOT),
        format!("{}/#", topic::ROOT),
        "#".to_owned(),
        "$MQTT/sub/#".to_owned(),
    ] {
        client_b
            .subscribe(filter.clone(), QoS::AtLeastOnce)
            .await
            .unwrap();
        let codes = loop {
            match tokio::time::timeout(Duration::from_secs(10), events_b.poll())
                .await
                .expect("a SUBACK within 10 s")
            {
                Ok(Event::Incoming(Packet::SubAck(ack))) => break ack.return_codes,
                Ok(_) => {}
                Err(e) => panic!("B's connection ended on `{filter}`: {e}"),
            }
        };
        assert_eq!(
            codes,
            vec![rumqttc::SubscribeReasonCode::Failure],
            "B subscribing to `{filter}`"
        );
    }
    // B's own command topic is granted.
    client_b
        .subscribe(topic::commands(b.agent), QoS::AtLeastOnce)
        .await
        .unwrap();
    let granted = loop {
        if let Event::Incoming(Packet::SubAck(ack)) = events_b.poll().await.unwrap() {
            break ack.return_codes;
        }
    };
    assert_eq!(
        granted,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    // A report forged by B on A's topic reaches no one; A's own does.
    client_b
        .publish(topic::results(a.agent), QoS::AtLeastOnce, false, "forged")
        .await
        .unwrap();
    tokio::spawn(async move { while events_b.poll().await.is_ok() {} });
    let (client_a, mut events_a) = raw_client(&cluster, &a.agent.to_string(), &password_a);
    connect_outcome(&mut events_a).await.unwrap();
    client_a
        .publish(topic::results(a.agent), QoS::AtLeastOnce, false, "genuine")
        .await
        .unwrap();
    let a_task = tokio::spawn(async move {
        let mut closed = None;
        loop {
            if let Err(e) = events_a.poll().await {
                closed = closed.or(Some((Instant::now(), e.to_string())));
                return closed;
            }
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("A's own report arrives")
        .unwrap();
    assert_eq!(first, b"genuine", "only A's own report reached A's topic");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), seen.recv())
            .await
            .is_err(),
        "nothing else reached A's topic"
    );

    // An expired credential (issued 13 hours ago for 12) does not connect.
    let expired = keys
        .agent_credential(b.agent, Utc::now() - chrono::Duration::hours(13))
        .unwrap();
    let (_c, mut ev) = raw_client(&cluster, &format!("{}-old", b.agent), &expired);
    assert!(
        connect_outcome(&mut ev).await.is_err(),
        "an expired credential was accepted"
    );

    // A is disabled through the service: its live connection is closed within a minute and
    // its credential, not expired, no longer connects.
    assert!(
        !a_task.is_finished(),
        "A's connection is open before A is disabled"
    );
    let disabled_at = Instant::now();
    let res = http
        .patch(format!("{base}/api/v1/admin/agents/{}", a.agent))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "disable: {}", res.status());
    let (closed_at, why) = tokio::time::timeout(Duration::from_secs(60), a_task)
        .await
        .expect("the disabled agent's connection closed within a minute")
        .unwrap()
        .unwrap();
    let after = closed_at
        .checked_duration_since(disabled_at)
        .expect("closed after the agent was disabled");
    eprintln!(
        "disabled agent cut off after {:.2} s ({why})",
        after.as_secs_f64()
    );
    let (_c, mut ev) = raw_client(&cluster, &a.agent.to_string(), &password_a);
    assert!(
        connect_outcome(&mut ev).await.is_err(),
        "a revoked credential was accepted"
    );
    // And the service gives it no new one.
    let res = http
        .post(format!("{base}/api/v1/agent/broker-credential"))
        .bearer_auth(&a.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    drop(client_a);
    drop(spy);
}
