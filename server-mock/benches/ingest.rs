//! Durable ingestion throughput over HTTPS.
//!
//! Starts the reference server (its own runtime) on loopback with a fresh data directory, then
//! drives it from 64 (and again from 256, see [`Round`]) concurrent keep-alive clients (each
//! its own connection): first the health
//! endpoint (the baseline: TLS + HTTP + routing, no storage), then agent device-data uploads
//! (validation, idempotency check, sealed body, audit row, durable group commit), twice: with
//! time-ordered record ids (UUIDv7, what `ecsp-client` makes) and with random ones (UUIDv4, what
//! another client may send), because a random key lands every insert on its own page of the
//! idempotency index, which nearly doubles what each commit writes. Prints the rates, their
//! ratio to the health baseline and the bytes written to disk per upload (`/proc/self/io`, which
//! unlike the rates does not depend on what else the machine is doing), the CPU time each
//! request cost the process (server and load generator) and the share of the machine left idle
//! in each phase (the upload phase waits on the disk and on the single writer, the baseline on
//! nothing), and checks every acknowledged upload is in the database with its audit row.
//!
//! The health and time-ordered upload phases alternate for `ECSP_BENCH_ROUNDS` rounds (default
//! 5: the baseline alone moves by half between two phases on a shared machine), each ratio
//! taken against the baseline measured just before it, and the median printed.
//! `cargo bench -p ecsp-server-mock --bench ingest`; `ECSP_BENCH_SECS` (default 3 per phase) and
//! `ECSP_BENCH_CLIENTS` (default 64) adjust it. `ECSP_BENCH_PROFILE=1` samples the upload phase
//! (pprof, 997 Hz, CPU time) and prints where the server's threads spent it: the functions
//! most often on top of the stack (self) and most often on it (total).
//!
//! `-- --database postgres://USER@HOST:PORT/DB` (or `ECSP_BENCH_DATABASE`) runs it all again on
//! PostgreSQL, in a database the benchmark creates on that server, and prints both engines side
//! by side (`scripts/bench-postgres.sh` starts a durable throwaway cluster for it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ecsp_server_mock::db::PostgresTarget;
use load::{RecordIds, Run, UploadBodies, drive, get_ok, post_upload};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use uuid::Uuid;

/// The allocator the `ecsp-server` binary uses (see its `main.rs`), so that the server measured
/// here is the one deployed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn client(ca_pem: &str) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

/// One upload phase's outcome.
struct Phase {
    ids: RecordIds,
    run: Run,
    written: u64,
}

/// One round: the health baseline and the uploads at the usual concurrency, then both again at
/// a saturating one.
///
/// With 64 clients the upload phase leaves 15–19 % of the machine idle (the health phase
/// 5–7 %): each upload waits about 2 ms for its group's commit and `fdatasync`, and with 64
/// requests in flight too few are being parsed and answered meanwhile to keep two cores busy.
/// That measures the clients' concurrency as much as the server. With more clients the idle
/// time goes (3–7 % at 256) while the health rate stays put, so the capacity ratio compares what
/// each endpoint serves at its best concurrency of the round.
struct Round {
    baseline: Run,
    phase: Phase,
    saturated_baseline: Run,
    saturated: Phase,
}

impl Round {
    /// Best upload rate of the round over best health rate of the round.
    fn capacity_ratio(&self) -> f64 {
        self.phase.run.rate.max(self.saturated.run.rate)
            / self.baseline.rate.max(self.saturated_baseline.rate)
    }
}

/// Bytes this process has caused to be written to storage so far (`/proc/self/io`).
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: ").map(str::to_owned))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The `--database URL` argument (or `ECSP_BENCH_DATABASE`): a PostgreSQL server on which the
/// benchmark may create a database of its own.
fn postgres_argument() -> Option<PostgresTarget> {
    let mut args = std::env::args().skip_while(|a| a != "--database").skip(1);
    let url = args
        .next()
        .or_else(|| std::env::var("ECSP_BENCH_DATABASE").ok())?;
    let pool = env_or(
        "ECSP_BENCH_POOL_SIZE",
        u64::from(ecsp_server_mock::db::postgres::DEFAULT_POOL_SIZE),
    );
    Some(
        PostgresTarget::parse(&url, None, None)
            .expect("--database takes a postgres:// URL")
            .with_pool_size(pool as u32),
    )
}

/// Each engine's medians, for the comparison at the end.
struct Figures {
    engine: &'static str,
    /// Uploads / health at the usual and the saturating concurrency (medians of the rounds).
    ratio: f64,
    saturated_ratio: f64,
    /// Uploads per second at both (medians).
    rate: f64,
    saturated_rate: f64,
}

fn main() {
    // `ECSP_BENCH_ENGINES=postgres` skips SQLite (quick runs while tuning PostgreSQL).
    let only_postgres = std::env::var("ECSP_BENCH_ENGINES").is_ok_and(|e| e == "postgres");
    let mut figures = Vec::new();
    if !only_postgres {
        figures.push(measure(None));
    }
    if let Some(server) = postgres_argument() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = format!("ecsp_bench_{}", Uuid::new_v4().simple());
        let target = rt
            .block_on(ecsp_server_mock::db::postgres::create_database(
                &server, &name,
            ))
            .unwrap();
        drop(rt);
        figures.push(measure(Some(target)));
    }
    let n_clients = env_or("ECSP_BENCH_CLIENTS", 64);
    let n_saturating = env_or("ECSP_BENCH_SATURATING_CLIENTS", 256);
    println!("engines side by side (medians; each ratio against /health measured just before it):");
    for f in &figures {
        println!(
            "  {:<10} {n_clients:>3} clients {:>6.0} uploads/s, ratio {:.2}; {n_saturating:>3} clients {:>6.0} uploads/s, ratio {:.2}",
            f.engine, f.rate, f.ratio, f.saturated_rate, f.saturated_ratio
        );
    }
    if let [sqlite, postgres] = &figures[..] {
        println!(
            "  PostgreSQL / SQLite uploads per second: {:.2} at {n_clients} clients, {:.2} at {n_saturating}",
            postgres.rate / sqlite.rate,
            postgres.saturated_rate / sqlite.saturated_rate
        );
    }
}

/// The whole benchmark on one engine: SQLite in a fresh data directory, or `database`.
fn measure(database: Option<PostgresTarget>) -> Figures {
    let engine = if database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("== {engine}");
    let secs = env_or("ECSP_BENCH_SECS", 3);
    let rounds_wanted = env_or("ECSP_BENCH_ROUNDS", 5).max(1);
    let n_clients = env_or("ECSP_BENCH_CLIENTS", 64) as usize;
    let n_saturating = env_or("ECSP_BENCH_SATURATING_CLIENTS", 256) as usize;
    let dir = tempfile::tempdir().unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let mut config = ecsp_server_mock::Config::with_defaults(dir.path().join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.database = database;
    let server = server_rt.block_on(ecsp_server_mock::start(config)).unwrap();
    let demo = server.demo.clone().unwrap();
    let ca = server.ca_pem.clone().unwrap();
    let base = format!("https://localhost:{}", server.addr.port());
    let db = server.db.clone();

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("client")
        .enable_all()
        .build()
        .unwrap();
    let profile = std::env::var_os("ECSP_BENCH_PROFILE").is_some();
    let clients: Vec<_> = (0..n_clients.max(n_saturating))
        .map(|_| client(&ca))
        .collect();
    let health_url = format!("{base}/health");
    let health = |secs: u64, n: usize| {
        let url = health_url.clone();
        let run = client_rt.block_on(drive(clients[..n].to_vec(), secs, move |c| {
            get_ok(c, url.clone())
        }));
        assert_eq!(run.failed, 0, "health requests failed");
        run
    };
    // Warm up every connection (TLS handshakes are not what is measured).
    health(1, clients.len());

    let upload_url = format!("{base}/api/v1/agent/device-data");
    let secret = demo.agent.secret.clone();
    let agent = demo.agent.agent_id;
    let devices: Vec<(String, String)> = demo
        .devices
        .iter()
        .map(|d| (d.model.clone(), d.serial_number.clone()))
        .collect();
    let bodies = Arc::new(UploadBodies::new(agent, &devices));
    let counter = Arc::new(AtomicU64::new(0));
    let upload = |ids: RecordIds, n: usize, profiled: bool| {
        let writer_before = writer_snapshot(&db);
        let written_before = bytes_written();
        let profiler = profiled.then(|| {
            pprof::ProfilerGuardBuilder::default()
                .frequency(997)
                .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                .build()
                .unwrap()
        });
        let (url, secret, bodies, counter) = (
            upload_url.clone(),
            secret.clone(),
            bodies.clone(),
            counter.clone(),
        );
        let run = client_rt.block_on(drive(clients[..n].to_vec(), secs, move |c| {
            let (url, secret) = (url.clone(), secret.clone());
            let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
            let body = bodies.next(n, ids);
            post_upload(c, url, secret, body)
        }));
        assert_eq!(run.failed, 0, "uploads failed");
        let written = bytes_written().saturating_sub(written_before);
        if let Some(guard) = profiler {
            print_profile(&guard.report().build().unwrap());
        }
        println!("upload phase, {n} clients, {} record ids:", ids.describe());
        print_writer(writer_before, writer_snapshot(&db), secs);
        Phase { ids, run, written }
    };

    // The health baseline and the uploads alternate, round after round: what else the machine
    // runs drifts over seconds (the baseline was seen anywhere from 33,000 to 53,000 req/s from
    // one run to the next), and a ratio of two phases far apart measured that drift. Each round
    // measures both at the usual concurrency and at a saturating one (see `Round`).
    let mut rounds = Vec::new();
    for round in 0..rounds_wanted {
        let baseline = health(secs, n_clients);
        let phase = upload(RecordIds::TimeOrdered, n_clients, profile && round == 0);
        let saturated_baseline = health(secs, n_saturating);
        let saturated = upload(RecordIds::TimeOrdered, n_saturating, false);
        rounds.push(Round {
            baseline,
            phase,
            saturated_baseline,
            saturated,
        });
    }
    let baseline = health(secs, n_clients);
    let random = upload(RecordIds::Random, n_clients, false);

    let (stored, audited): (i64, i64) = server_rt
        .block_on(db.read(|c| {
            let stored = c.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?;
            let audited = c.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'upload.device_data' AND outcome = 'success'",
                [],
                |r| r.get(0),
            )?;
            Ok::<_, ecsp_server_mock::db::StoreError>((stored, audited))
        }))
        .unwrap();
    let acknowledged: u64 = rounds
        .iter()
        .map(|r| r.phase.run.ok + r.saturated.run.ok)
        .sum::<u64>()
        + random.run.ok;
    assert_eq!(
        stored as u64, acknowledged,
        "every acknowledged upload is stored"
    );
    assert_eq!(
        audited as u64, acknowledged,
        "every acknowledged upload is audited"
    );

    println!(
        "ingest benchmark: {n_clients} and {n_saturating} concurrent HTTPS keep-alive clients, \
         {secs} s each phase, each upload phase after a baseline phase of its own"
    );
    let line = |label: &str, b: &Run, p: &Phase| {
        println!(
            "  {label:<13} GET /health {:>7.0} req/s, durable POST /api/v1/agent/device-data {:>6.0} uploads/s: ratio {:.2}  ({} stored, {} record ids, {:.1} KiB written to disk per upload)",
            b.rate,
            p.run.rate,
            p.run.rate / b.rate,
            p.run.ok,
            p.ids.describe(),
            p.written as f64 / p.run.ok.max(1) as f64 / 1024.0
        );
        println!(
            "                CPU per request (server and load generator): health {:.0} µs, upload {:.0} µs; machine idle: {:.0} % / {:.0} %",
            b.cost.cpu_us_per_request,
            p.run.cost.cpu_us_per_request,
            b.cost.idle * 100.0,
            p.run.cost.idle * 100.0
        );
    };
    for (i, r) in rounds.iter().enumerate() {
        line(
            &format!("round {} {n_clients:>3}", i + 1),
            &r.baseline,
            &r.phase,
        );
        line(
            &format!("round {} {n_saturating:>3}", i + 1),
            &r.saturated_baseline,
            &r.saturated,
        );
    }
    line(&format!("random  {n_clients:>3}"), &baseline, &random);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        ((v[(n - 1) / 2] + v[n / 2]) / 2.0, v[0], v[n - 1])
    };
    let report = |what: &str, ratios: Vec<f64>| {
        let (ratio, lowest, highest) = median(ratios);
        println!(
            "  {what}: median {ratio:.2} of {} rounds (lowest {lowest:.2}, highest {highest:.2})",
            rounds.len()
        );
    };
    report(
        &format!("uploads (time-ordered ids) / health, {n_clients} clients each"),
        rounds
            .iter()
            .map(|r| r.phase.run.rate / r.baseline.rate)
            .collect(),
    );
    report(
        &format!("uploads / health, {n_saturating} clients each"),
        rounds
            .iter()
            .map(|r| r.saturated.run.rate / r.saturated_baseline.rate)
            .collect(),
    );
    report(
        "capacity: each endpoint's best rate of the round, uploads / health",
        rounds.iter().map(Round::capacity_ratio).collect(),
    );
    // The ratio if both phases kept the machine equally busy (CPU of the whole process, load
    // generator included): it differs from the throughput ratio by the upload phase's idle time.
    report(
        &format!("CPU per health request / CPU per upload, {n_clients} clients"),
        rounds
            .iter()
            .map(|r| r.baseline.cost.cpu_us_per_request / r.phase.run.cost.cpu_us_per_request)
            .collect(),
    );
    println!(
        "  every answer waited for a durable commit ({}); time-ordered ids are what this project's clients send",
        match engine {
            "SQLite" => "the WAL's fdatasync",
            _ => "PostgreSQL's COMMIT with synchronous_commit",
        }
    );
    server_rt.block_on(server.shutdown()).unwrap();
    let medians = |v: Vec<f64>| median(v).0;
    Figures {
        engine,
        ratio: medians(
            rounds
                .iter()
                .map(|r| r.phase.run.rate / r.baseline.rate)
                .collect(),
        ),
        saturated_ratio: medians(
            rounds
                .iter()
                .map(|r| r.saturated.run.rate / r.saturated_baseline.rate)
                .collect(),
        ),
        rate: medians(rounds.iter().map(|r| r.phase.run.rate).collect()),
        saturated_rate: medians(rounds.iter().map(|r| r.saturated.run.rate).collect()),
    }
}

/// The writer's counters: groups, requests, ns running requests, ns committing, syncs,
/// ns syncing, checkpoints, ns checkpointing, checkpoints the writer finished, ns finishing,
/// writes answered, ns until answered, ns until begun, ns until durable.
fn writer_snapshot(db: &ecsp_server_mock::db::Database) -> [u64; 14] {
    let Some(s) = db.writer_stats() else {
        return [0; 14];
    };
    [
        &s.groups,
        &s.jobs,
        &s.jobs_ns,
        &s.commit_ns,
        &s.syncs,
        &s.sync_ns,
        &s.checkpoints,
        &s.checkpoint_ns,
        &s.finished_checkpoints,
        &s.finish_ns,
        &s.answered,
        &s.answer_ns,
        &s.queued_ns,
        &s.durable_ns,
    ]
    .map(|c| c.load(Ordering::Relaxed))
}

/// Prints where the writer thread's wall-clock time went during the upload phase.
fn print_writer(before: [u64; 14], after: [u64; 14], secs: u64) {
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(b) as f64)
        .collect();
    let (groups, jobs, jobs_ns, commit_ns) = (d[0], d[1], d[2], d[3]);
    let (syncs, sync_ns, checkpoints, checkpoint_ns) = (d[4], d[5], d[6], d[7]);
    let (finished, finish_ns) = (d[8], d[9]);
    let (answered, answer_ns, queued_ns, durable_ns) = (d[10], d[11], d[12], d[13]);
    let wall = secs as f64 * 1e9;
    println!(
        "writer thread (wall clock): {groups:.0} commits of {:.1} requests on average",
        jobs / groups.max(1.0)
    );
    println!(
        "  running requests {:>5.1}% of the phase, {:.3} ms per commit",
        100.0 * jobs_ns / wall,
        jobs_ns / groups.max(1.0) / 1e6
    );
    println!(
        "  BEGIN + COMMIT   {:>5.1}% of the phase, {:.3} ms per commit (appending to the WAL)",
        100.0 * commit_ns / wall,
        commit_ns / groups.max(1.0) / 1e6
    );
    println!(
        "  sync thread: {syncs:.0} fdatasyncs ({:.1} commits each), {:.1}% of the phase, {:.3} ms each",
        groups / syncs.max(1.0),
        100.0 * sync_ns / wall,
        sync_ns / syncs.max(1.0) / 1e6
    );
    println!(
        "  finishing checkpoints {:>5.1}% of the phase, {finished:.0} times, {:.3} ms each (the log's last frames, between two commits)",
        100.0 * finish_ns / wall,
        finish_ns / finished.max(1.0) / 1e6
    );
    println!(
        "  checkpoint thread: {checkpoints:.0} checkpoints, {:.1}% of the phase",
        100.0 * checkpoint_ns / wall
    );
    let per_write = |ns: f64| ns / answered.max(1.0) / 1e6;
    println!(
        "  a write waited {:.3} ms on average for its durable answer: {:.3} ms until its statements began, {:.3} ms until durable, {:.3} ms until its task resumed",
        per_write(answer_ns),
        per_write(queued_ns),
        per_write(durable_ns),
        per_write(answer_ns),
    );
}

/// Prints where the server's threads spent their samples: by thread, by crate (the first crate
/// other than the standard library from the top of the stack, so a `memcpy` counts for whoever
/// called it), and by this project's own functions (share of samples they are on the stack in).
fn print_profile(report: &pprof::Report) {
    use std::collections::{HashMap, HashSet};
    let mut by_thread: HashMap<String, isize> = HashMap::new();
    let mut by_crate: HashMap<String, isize> = HashMap::new();
    let mut by_own_fn: HashMap<String, isize> = HashMap::new();
    let mut server_total = 0isize;
    for (frames, &count) in &report.data {
        *by_thread.entry(frames.thread_name.clone()).or_default() += count;
        if frames.thread_name.starts_with("client") {
            continue;
        }
        server_total += count;
        let symbols: Vec<(String, String)> = frames
            .frames
            .iter()
            .flatten()
            .map(|s| {
                let file = s
                    .filename
                    .as_ref()
                    .map(|f| f.display().to_string())
                    .unwrap_or_default();
                (
                    crate_of(&file),
                    format!("{} ({})", s.name(), short_file(&file)),
                )
            })
            .collect();
        let leaf_crate = symbols
            .iter()
            .map(|(c, _)| c.as_str())
            .find(|c| *c != "std" && *c != "?")
            .unwrap_or("?");
        *by_crate.entry(leaf_crate.to_owned()).or_default() += count;
        let mut seen = HashSet::new();
        for (krate, name) in &symbols {
            if krate.starts_with("ecsp") && seen.insert(name.clone()) {
                *by_own_fn.entry(name.clone()).or_default() += count;
            }
        }
    }
    let pct = |n: isize| 100.0 * n as f64 / server_total.max(1) as f64;
    let all: isize = by_thread.values().sum();
    println!("profile of the upload phase: {all} samples, {server_total} on server threads");
    for (title, table, rows) in [
        ("thread (share of all samples)", by_thread, 6usize),
        ("crate on top of the stack", by_crate, 14),
        ("own function on the stack", by_own_fn, 30),
    ] {
        let mut sorted: Vec<_> = table.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        println!("  by {title}:");
        for (name, n) in sorted.into_iter().take(rows) {
            let share = if title.starts_with("thread") {
                100.0 * n as f64 / all.max(1) as f64
            } else {
                pct(n)
            };
            println!("    {share:>5.1}%  {name}");
        }
    }
}

/// The crate a source file belongs to: a registry crate by its directory, the standard library,
/// or this workspace's crates.
fn crate_of(file: &str) -> String {
    if let Some((_, rest)) = file.split_once("/index.crates.io-") {
        let dir = rest.split('/').nth(1).unwrap_or_default();
        let name = dir
            .rsplit_once('-')
            .filter(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()))
            .map_or(dir, |(n, _)| n);
        return name.to_owned();
    }
    if file.starts_with("/rustc/") || file.contains("/library/") {
        return "std".into();
    }
    for (dir, name) in [
        ("server-mock/", "ecsp-server-mock"),
        ("core/protocol/", "ecsp-protocol"),
    ] {
        if file.contains(dir) {
            return name.into();
        }
    }
    "?".into()
}

fn short_file(file: &str) -> String {
    let parts: Vec<&str> = file.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
