//! Uploads through HAProxy to 1, 2 and 3 server nodes, beside one node reached directly, in one
//! run: what the extra hop and the state the nodes share cost.
//!
//! Each setup is `ecsp-server` processes on one new database of the PostgreSQL server given by
//! `-- --database postgres://…` (or `ECSP_BENCH_DATABASE`; `scripts/bench-cluster.sh` starts a
//! durable throwaway cluster for it), and for the HAProxy setups Debian's HAProxy in front, as
//! `scripts/run-cluster.sh` lays them out (TLS passed through, PROXY protocol to the nodes).
//! 64 keep-alive clients (`ECSP_BENCH_CLIENTS`) post agent device data, each on a printer of its
//! own (`ECSP_BENCH_PRINTERS` in all), for `ECSP_BENCH_SECS` (default 5) per setup after a warm-up
//! of the same load, `ECSP_BENCH_ROUNDS` (default 3) times; the medians are printed: uploads
//! per second and the machine's CPU time per upload (every process: nodes, PostgreSQL, HAProxy
//! and the load generator, from `/proc/stat`). On this 2-core machine the rate cannot grow with
//! nodes; the CPU per upload against the direct node's is the figure (aim: at most 1.25).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::env_or;
use ecsp_server_mock::testing::ProcessCluster;
use load::{PROGRAMS, RecordIds, UploadBodies, drive, post_upload};

#[derive(Clone, Copy)]
enum Setup {
    Direct,
    Behind(usize),
}

impl Setup {
    fn describe(self) -> String {
        match self {
            Setup::Direct => "one node, direct".into(),
            Setup::Behind(n) => format!("HAProxy, {n} node{}", if n == 1 { "" } else { "s" }),
        }
    }
}

/// Seconds of load before each setup is measured.
const WARM_UP_SECS: u64 = 2;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The printers the uploads report on: the demo's three, and more registered through the API
/// (by the demo admin) up to `n` in all, each reported on by the uploads in turn.
async fn printers(
    http: &reqwest::Client,
    base: &str,
    seed: &ecsp_server_mock::testing::TestServer,
    n: usize,
) -> Vec<(String, String)> {
    let mut devices: Vec<(String, String)> = seed
        .demo
        .devices
        .iter()
        .map(|d| (d.model.clone(), d.serial_number.clone()))
        .collect();
    if devices.len() >= n {
        devices.truncate(n.max(1));
        return devices;
    }
    let (email, password) = seed.password("admin");
    let bearer = format!(
        "Bearer {}",
        ecsp_server_mock::testing::access_token(http, base, &email, &password).await
    );
    for i in devices.len()..n {
        let (model, serial) = ("SureColor SC-F10000".to_owned(), format!("BENCH{i:05}"));
        let answer = http
            .post(format!("{base}/api/v1/admin/devices"))
            .header("authorization", &bearer)
            .json(&serde_json::json!({"manufacturer": "Epson", "model": model,
                "serial_number": serial, "agent_id": seed.demo.agent.agent_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            reqwest::StatusCode::CREATED,
            "registering a printer"
        );
        devices.push((model, serial));
    }
    devices
}

fn main() {
    let url = std::env::args()
        .skip_while(|a| a != "--database")
        .nth(1)
        .or_else(|| std::env::var("ECSP_BENCH_DATABASE").ok())
        .expect("-- --database postgres://… (scripts/bench-cluster.sh starts one)");
    let secs = env_or("ECSP_BENCH_SECS", 5) as u64;
    let rounds = env_or("ECSP_BENCH_ROUNDS", 3).max(1);
    let n_clients = env_or("ECSP_BENCH_CLIENTS", 64);
    let n_printers = env_or("ECSP_BENCH_PRINTERS", n_clients);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let binary: std::path::PathBuf = env!("CARGO_BIN_EXE_ecsp-server").into();
    let setups = [
        Setup::Direct,
        Setup::Behind(1),
        Setup::Behind(2),
        Setup::Behind(3),
    ];
    println!(
        "cluster benchmark: {n_clients} HTTPS keep-alive clients posting agent device data, {secs} s per setup, {rounds} rounds"
    );
    let mut figures: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); setups.len()];
    for round in 1..=rounds {
        for (i, setup) in setups.iter().enumerate() {
            let binary = binary.clone();
            let setup = *setup;
            let url = url.clone();
            let cluster = rt
                .block_on(rt.spawn(async move {
                    match setup {
                        Setup::Direct => ProcessCluster::start_on(&url, binary, 1, false).await,
                        Setup::Behind(n) => ProcessCluster::start_on(&url, binary, n, true).await,
                    }
                }))
                .unwrap();
            let seed = &cluster.seed;
            let clients: Vec<_> = (0..n_clients)
                .map(|_| common::client(&seed.ca_pem))
                .collect();
            let base = format!("https://localhost:{}", cluster.addr.port());
            let devices = rt.block_on(printers(&clients[0], &base, seed, n_printers));
            let bodies = Arc::new(UploadBodies::new(seed.demo.agent.agent_id, &devices));
            let url = format!("{base}/api/v1/agent/device-data");
            let secret = seed.demo.agent.secret.clone();
            let counter = Arc::new(AtomicU64::new(0));
            let upload = move |c: reqwest::Client| {
                let (url, secret) = (url.clone(), secret.clone());
                let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
                let body = bodies.next(n, RecordIds::TimeOrdered);
                post_upload(c, url, secret, body)
            };
            // Steady state is measured: the connections made, each printer named to its node's
            // cache, each node's database sessions opened and their statements prepared, by
            // WARM_UP_SECS of the same load first (in one-round runs without it, whichever setup
            // came first cost up to 1.5 times its later rounds).
            let warm = rt.block_on(drive(clients.clone(), WARM_UP_SECS, upload.clone()));
            assert_eq!(
                warm.failed,
                0,
                "uploads failed warming up {}",
                setup.describe()
            );
            cluster.as_admin("CHECKPOINT".into()).unwrap();
            let run = rt.block_on(drive(clients, secs, upload));
            assert_eq!(run.failed, 0, "uploads failed in {}", setup.describe());
            let parts: Vec<String> = PROGRAMS
                .iter()
                .zip(run.cost.program_us_per_request)
                .map(|(p, us)| format!("{p} {us:.0}"))
                .collect();
            println!(
                "  round {round} {:<18} {:>6.0} uploads/s, machine CPU {:>5.0} µs per upload ({}, load generator {:.0}), idle {:>3.0} %",
                setup.describe(),
                run.rate,
                run.cost.machine_us_per_request,
                parts.join(", "),
                run.cost.cpu_us_per_request,
                run.cost.idle * 100.0
            );
            figures[i].0.push(run.rate);
            figures[i].1.push(run.cost.machine_us_per_request);
            drop(cluster);
        }
    }
    let direct_cpu = median(figures[0].1.clone());
    println!("medians of {rounds} rounds:");
    for (setup, (rates, cpu)) in setups.iter().zip(figures) {
        let cpu = median(cpu);
        println!(
            "  {:<18} {:>6.0} uploads/s, {:>5.0} µs CPU per upload, {:.2} × the direct node's",
            setup.describe(),
            median(rates),
            cpu,
            cpu / direct_cpu
        );
    }
    println!("  aim: at most 1.25 × the direct node's CPU per upload through HAProxy");
}
