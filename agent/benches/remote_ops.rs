//! Remote-operation benchmark: N simulated ES agents (default 1,000) connected at once to the
//! reference server's MQTT broker (TLS, ALPN `mqtt`, on the HTTPS port); the round trip of a
//! `status` operation — REST request → command to the agent → agent runs it → result stored —
//! as p50/p99, next to mosquitto's own round trip measured in the same run (request published
//! on one topic, answered on another by a second client: the same two broker hops, no server);
//! and memory per connected agent.
//!
//!     cargo bench -p ecsp-agent --bench remote_ops            (ECSP_BENCH_AGENTS, ECSP_BENCH_SAMPLES)
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
use ecsp_client::Secret;
use ecsp_protocol::remote_ops::{OperationState, OperationView};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
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
    let dir = tempfile::tempdir().expect("dir");
    let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().expect("addr");
    let server = ecsp_server_mock::start(config).await.expect("server");
    let base = format!("https://localhost:{}", server.addr.port());
    let ca_pem = server.ca_pem.clone().expect("ca");
    let tls = ecsp_client::transport::tls_config(None, Some(ca_pem.as_bytes())).expect("tls");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls.clone())
        .build()
        .expect("http");
    let demo = server.demo.clone().expect("demo");
    let login = |who: &str| {
        let u = demo
            .users
            .iter()
            .find(|u| u.email.starts_with(who))
            .expect("user")
            .clone();
        let http = http.clone();
        let base = base.clone();
        async move {
            let v: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": u.email, "password": u.password}))
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("tokens");
            v["access_token"].as_str().expect("token").to_owned()
        }
    };
    let admin = login("admin").await;
    // The admin holds a right to every device of the organisation (the new ones included); a
    // service-support user would need a right granted per device first.
    let requester = admin.clone();

    println!("setting up {agents} agents and their devices …");
    let mut enrolled = Vec::with_capacity(agents);
    for i in 0..agents {
        let a: Value = http
            .post(format!("{base}/api/v1/admin/agents"))
            .bearer_auth(&admin)
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
            .bearer_auth(&admin)
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

    let rss_before = rss_kib();
    let stores = tempfile::tempdir().expect("stores");
    let started = Instant::now();
    let mut sessions: Vec<SessionHandle> = Vec::with_capacity(agents);
    for (i, (agent_id, secret, _, serial)) in enrolled.iter().enumerate() {
        let fleet = Fleet::from_devices(
            [("Epson", "SureColor SC-F10000", serial.as_str())],
            i as u64,
            Utc::now(),
        );
        let store = AgentStore::open(&stores.path().join(format!("{i}.db"))).expect("store");
        sessions.push(session::spawn(
            MqttSettings {
                host: "localhost".into(),
                port: server.addr.port(),
                tls: tls.clone(),
                agent_id: *agent_id,
                secret: Secret::new(secret.clone()),
                keep_alive: Duration::from_secs(60),
                credentials: None,
            },
            store,
            Arc::new(fleet),
        ));
    }
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
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib();
    println!("{agents} agents connected and subscribed in {connect_s:.1} s");

    // Round trips, one at a time, each to another agent (all stay connected).
    let mut rtt = Vec::with_capacity(samples);
    for n in 0..samples + 10 {
        let (_, _, device_id, _) = &enrolled[(n * 7919) % agents];
        let t0 = Instant::now();
        let op: OperationView = http
            .post(format!("{base}/api/v1/operations"))
            .bearer_auth(&requester)
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
                .bearer_auth(&requester)
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
    let baseline = mosquitto_round_trip(samples).await;

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
    for s in sessions {
        s.stop().await;
    }
}
