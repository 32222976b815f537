//! Remote-operation benchmark: N simulated ES agents (default 1,000) connected at once to the
//! reference server's MQTT broker (TLS, ALPN `mqtt`, on the HTTPS port); the round trip of a
//! `status` operation — REST request → command to the agent → agent runs it → result stored —
//! as p50/p99, next to mosquitto's own round trip measured in the same run (request published
//! on one topic, answered on another by a second client: the same two broker hops, no server);
//! and memory per connected agent. Then the same through HAProxy to two server nodes on a
//! PostgreSQL of its own and three NATS broker nodes (agents sign in with the
//! credential the server signs), next to NATS's own MQTT round trip through HAProxy.
//!
//!     cargo build --release -p ecsp-server-mock --bin ecsp-server
//!     cargo bench -p ecsp-agent --bench remote_ops   (ECSP_BENCH_AGENTS, ECSP_BENCH_SAMPLES,
//!                                                      ECSP_BENCH_CLUSTER=0 to leave it out)
//!
//! Memory is this process's resident size before and after the agents connect, divided by the
//! agents: it counts the server's side *and* the 1,000 rumqttc clients living in the same
//! process, so it is an upper bound for the server's cost per agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ecsp_agent::session::{self, MqttSettings, SessionHandle};
use ecsp_agent::sim::Fleet;
use ecsp_agent::store::AgentStore;
use ecsp_agent::upload::Uploader;
use ecsp_client::Secret;
use ecsp_protocol::agent::AgentType;
use ecsp_protocol::remote_ops::{OperationState, OperationView};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use serde_json::{Value, json};
use uuid::Uuid;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&ms, 0.50), percentile(&ms, 0.99));
    println!(
        "{name:<46} n={:<5} p50={p50:>7.2} ms  p99={p99:>7.2} ms  max={:>7.2} ms",
        ms.len(),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    (p50, p99)
}

/// As the agent's session does: no Nagle delay on small MQTT packets.
fn nodelay(events: &mut rumqttc::EventLoop) {
    let mut n = events.network_options();
    n.set_tcp_nodelay(true);
    events.set_network_options(n);
}

async fn mosquitto_round_trip(samples: usize) -> Vec<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"),
    )
    .expect("conf");
    let mut broker = tokio::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto (Debian package mosquitto) must be installed");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The "agent": answers every request on `resp`.
    let (agent, mut agent_loop) = AsyncClient::new(MqttOptions::new("echo", "127.0.0.1", port), 64);
    nodelay(&mut agent_loop);
    agent.subscribe("req", QoS::AtLeastOnce).await.expect("sub");
    let echo = agent.clone();
    tokio::spawn(async move {
        loop {
            match agent_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = echo
                        .publish("resp", QoS::AtLeastOnce, false, p.payload)
                        .await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let (server, mut server_loop) =
        AsyncClient::new(MqttOptions::new("asker", "127.0.0.1", port), 64);
    nodelay(&mut server_loop);
    server
        .subscribe("resp", QoS::AtLeastOnce)
        .await
        .expect("sub");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match server_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    let _ = tx.send(Instant::now());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let t0 = Instant::now();
        server
            .publish("req", QoS::AtLeastOnce, false, format!("{{\"n\":{i}}}"))
            .await
            .expect("publish");
        let t1 = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("mosquitto echo within 5 s")
            .expect("echo");
        if i >= 20 {
            out.push((t1 - t0).as_secs_f64() * 1000.0);
        }
    }
    let _ = broker.kill().await;
    out
}

/// The status round trip, one at a time, each to another agent (all stay connected).
async fn status_round_trips(
    http: &reqwest::Client,
    base: &str,
    requester: &str,
    enrolled: &[Enrolled],
    samples: usize,
) -> Vec<f64> {
    let mut rtt = Vec::with_capacity(samples);
    for n in 0..samples + 10 {
        let (_, _, device_id, _) = &enrolled[(n * 7919) % enrolled.len()];
        let t0 = Instant::now();
        let op: OperationView = http
            .post(format!("{base}/api/v1/operations"))
            .bearer_auth(requester)
            .json(&json!({"device_id": device_id, "kind": "status"}))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("operation");
        loop {
            let v: OperationView = http
                .get(format!("{base}/api/v1/operations/{}", op.operation_id))
                .bearer_auth(requester)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("view");
            if v.state == OperationState::Succeeded {
                break;
            }
            assert!(
                !v.state.is_final(),
                "operation ended {:?}: {:?}",
                v.state,
                v.reason
            );
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no result within 10 s"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        if n >= 10 {
            rtt.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    rtt
}

/// An agent id, its secret, its device, the device's serial.
type Enrolled = (Uuid, String, Uuid, String);

async fn login(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let v: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("tokens");
    v["access_token"].as_str().expect("token").to_owned()
}

async fn enrol(http: &reqwest::Client, base: &str, admin: &str, agents: usize) -> Vec<Enrolled> {
    println!("setting up {agents} agents and their devices …");
    let mut enrolled = Vec::with_capacity(agents);
    for i in 0..agents {
        let a: Value = http
            .post(format!("{base}/api/v1/admin/agents"))
            .bearer_auth(admin)
            .json(&json!({"label": format!("bench {i}"), "agent_type": "es_agent"}))
            .send()
            .await
            .expect("agent")
            .json()
            .await
            .expect("agent json");
        let agent_id: Uuid = a["agent_id"].as_str().expect("id").parse().expect("uuid");
        let secret = a["secret"].as_str().expect("secret").to_owned();
        let serial = format!("BENCH{i:05}");
        let d: Value = http
            .post(format!("{base}/api/v1/admin/devices"))
            .bearer_auth(admin)
            .json(
                &json!({"manufacturer": "Epson", "model": "SureColor SC-F10000",
                          "serial_number": serial, "agent_id": agent_id}),
            )
            .send()
            .await
            .expect("device")
            .json()
            .await
            .expect("device json");
        let device_id: Uuid = d["device_id"]
            .as_str()
            .expect("device id")
            .parse()
            .expect("uuid");
        enrolled.push((agent_id, secret, device_id, serial));
    }
    enrolled
}

/// Connects every agent to `port` on localhost and waits until all are subscribed; with
/// `credentials_from` (the service's URL), each asks the service for its broker credential.
async fn connect_agents(
    port: u16,
    ca_pem: &str,
    enrolled: &[Enrolled],
    credentials_from: Option<&str>,
    stores: &std::path::Path,
) -> (Vec<SessionHandle>, f64) {
    let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
    let started = Instant::now();
    let mut sessions: Vec<SessionHandle> = Vec::with_capacity(enrolled.len());
    for (i, (agent_id, secret, _, serial)) in enrolled.iter().enumerate() {
        let fleet = Fleet::from_devices(
            [("Epson", "SureColor SC-F10000", serial.as_str())],
            i as u64,
            Utc::now(),
        );
        let store = AgentStore::open(&stores.join(format!("{i}.db"))).expect("store");
        let credentials = credentials_from.map(|base| {
            Arc::new(
                Uploader::new(
                    base,
                    ca_pem,
                    *agent_id,
                    Secret::new(secret.clone()),
                    AgentType::EsAgent,
                )
                .expect("uploader"),
            ) as Arc<dyn session::CredentialSource>
        });
        sessions.push(session::spawn(
            MqttSettings {
                host: "localhost".into(),
                port,
                tls: tls.clone(),
                agent_id: *agent_id,
                secret: Secret::new(secret.clone()),
                keep_alive: Duration::from_secs(60),
                credentials,
            },
            store,
            Arc::new(fleet),
        ));
    }
    let agents = enrolled.len();
    loop {
        let up = sessions.iter().filter(|s| s.is_subscribed()).count();
        if up == agents {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            panic!("only {up} of {agents} agents connected within 300 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (sessions, started.elapsed().as_secs_f64())
}

/// The clustered broker's own round trip through HAProxy: a request published at QoS 0 (as
/// commands are) on one agent topic, answered at QoS 1 (as reports are) by a second client on
/// another, both with the server's credential.
async fn nats_round_trip(port: u16, ca_pem: &str, password: &str, samples: usize) -> Vec<f64> {
    let client = |id: &str| {
        let mut tls =
            ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
        tls.alpn_protocols = vec![b"mqtt".to_vec()];
        let mut o = MqttOptions::new(id, "localhost", port);
        o.set_credentials(id, password)
            .set_keep_alive(Duration::from_secs(30))
            .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(tls),
            )));
        let (c, mut events) = AsyncClient::new(o, 64);
        nodelay(&mut events);
        (c, events)
    };
    let (req, resp) = (
        "ecsp/v1/agents/00000000-0000-0000-0000-00000000000a/commands",
        "ecsp/v1/agents/00000000-0000-0000-0000-00000000000a/results",
    );
    let (echo, mut echo_loop) = client("bench-echo");
    echo.subscribe(req, QoS::AtMostOnce).await.expect("sub");
    let echo2 = echo.clone();
    tokio::spawn(async move {
        loop {
            match echo_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = echo2
                        .publish(resp, QoS::AtLeastOnce, false, p.payload)
                        .await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let (asker, mut asker_loop) = client("bench-asker");
    asker.subscribe(resp, QoS::AtMostOnce).await.expect("sub");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match asker_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    let _ = tx.send(Instant::now());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let t0 = Instant::now();
        asker
            .publish(req, QoS::AtMostOnce, false, format!("{{\"n\":{i}}}"))
            .await
            .expect("publish");
        let t1 = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the echo within 5 s")
            .expect("echo");
        if i >= 20 {
            out.push((t1 - t0).as_secs_f64() * 1000.0);
        }
    }
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let agents: usize = std::env::var("ECSP_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let samples: usize = std::env::var("ECSP_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let clustered = std::env::var("ECSP_BENCH_CLUSTER").map_or(true, |v| v != "0");
    let dir = tempfile::tempdir().expect("dir");
    let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    // Every simulated agent connects from 127.0.0.1: one address holds them all.
    config.mqtt_connections_per_address = agents + 10;
    let server = ecsp_server_mock::start(config).await.expect("server");
    let base = format!("https://localhost:{}", server.addr.port());
    let ca_pem = server.ca_pem.clone().expect("ca");
    let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls.clone())
        .build()
        .expect("http");
    let demo = server.demo.clone().expect("demo");
    let admin_user = demo
        .users
        .iter()
        .find(|u| u.email.starts_with("admin"))
        .expect("admin");
    // The admin holds a right to every device of the organisation (the new ones included); a
    // service-support user would need a right granted per device first.
    let admin = login(&http, &base, &admin_user.email, &admin_user.password).await;
    let enrolled = enrol(&http, &base, &admin, agents).await;

    let rss_before = rss_kib();
    let stores = tempfile::tempdir().expect("stores");
    let (sessions, connect_s) =
        connect_agents(server.addr.port(), &ca_pem, &enrolled, None, stores.path()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib();
    println!("{agents} agents connected and subscribed in {connect_s:.1} s");
    let rtt = status_round_trips(&http, &base, &admin, &enrolled, samples).await;
    for s in sessions {
        s.stop().await;
    }
    let baseline = mosquitto_round_trip(samples).await;

    // The same through HAProxy to two server nodes (PostgreSQL) and a three-node NATS cluster.
    let cluster_figures = if clustered {
        Some(cluster_phase(agents, samples).await)
    } else {
        println!("ECSP_BENCH_CLUSTER=0: the clustered broker is left out");
        None
    };

    println!();
    println!("== remote operations, loopback, {agents} agents connected");
    let (_, p99) = summary("status round trip (REST → agent → result stored)", rtt);
    summary(
        "mosquitto 2.0 pub→sub→pub→sub round trip (baseline)",
        baseline,
    );
    let per_agent = (rss_after.saturating_sub(rss_before)) as f64 / agents as f64;
    println!(
        "memory: RSS {rss_before} KiB → {rss_after} KiB, {per_agent:.1} KiB per connected agent (server + client in one process)"
    );
    println!(
        "aim p99 < 20 ms: {}",
        if p99 < 20.0 { "met" } else { "NOT met" }
    );
    if let Some((rtt, nats, connect_s)) = cluster_figures {
        println!();
        println!(
            "== the same through HAProxy, 2 server nodes on PostgreSQL, 3 NATS 2.9 broker nodes ({connect_s:.1} s to connect)"
        );
        let (_, p99) = summary("status round trip (REST → agent → result stored)", rtt);
        summary("NATS MQTT pub→sub→pub→sub round trip (baseline)", nats);
        println!(
            "aim p99 < 50 ms: {}",
            if p99 < 50.0 { "met" } else { "NOT met" }
        );
    }
}

/// Status round trips with every agent on the clustered broker, and the broker's own.
async fn cluster_phase(agents: usize, samples: usize) -> (Vec<f64>, Vec<f64>, f64) {
    use ecsp_server_mock::testing::{OwnCluster, ProcessCluster, server_binary};
    let postgres = OwnCluster::start();
    let admin_url = postgres.url.clone();
    let cluster = ProcessCluster::start_with_brokers_on(&admin_url, server_binary(), 2, 3).await;
    let base = cluster.url();
    let ca_pem = cluster.seed.ca_pem.clone();
    let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .expect("http");
    let (email, password) = cluster.seed.password("admin");
    let admin = login(&http, &base, &email, &password).await;
    let enrolled = enrol(&http, &base, &admin, agents).await;
    let stores = tempfile::tempdir().expect("stores");
    let (sessions, connect_s) = connect_agents(
        cluster.addr.port(),
        &ca_pem,
        &enrolled,
        Some(&base),
        stores.path(),
    )
    .await;
    println!("{agents} agents connected to the broker cluster in {connect_s:.1} s");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rtt = status_round_trips(&http, &base, &admin, &enrolled, samples).await;
    let password = cluster
        .brokers_ref()
        .keys()
        .server_credential(Utc::now())
        .expect("credential");
    let nats = nats_round_trip(cluster.addr.port(), &ca_pem, &password, samples).await;
    for s in sessions {
        s.stop().await;
    }
    (rtt, nats, connect_s)
}
