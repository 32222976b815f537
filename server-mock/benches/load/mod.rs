//! The upload load the ingest and cluster benches drive: device-data bodies with fresh record
//! ids, concurrent keep-alive clients for a while, and what a phase cost the process and the
//! machine.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

/// The record id every request body starts with; [`UploadBodies::next`] overwrites it.
const PLACEHOLDER_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Upload bodies, one per device, serialised once: each request copies one and writes a fresh
/// record id over the placeholder. Building the JSON anew per request cost the load generator,
/// which shares the two cores with the server, about as much CPU as the server's own parsing.
pub struct UploadBodies {
    templates: Vec<(Vec<u8>, usize)>,
}

impl UploadBodies {
    pub fn new(agent: Uuid, devices: &[(String, String)]) -> Self {
        let templates = devices
            .iter()
            .map(|(model, serial)| {
                let body = serde_json::to_vec(&json!({
                    "schema_version": 1,
                    "agent": {"agent_id": agent, "agent_type": "dc_agent", "agent_version": "5.2.0", "collection_type": "scheduled",
                              "sent_at": chrono::Utc::now(), "pc_hostname": "PRINTROOM-PC", "os": "Windows", "os_version": "11"},
                    "records": [{
                        "record_id": PLACEHOLDER_ID,
                        "captured_at": chrono::Utc::now(),
                        "device": {
                            "manufacturer": "Epson", "model": model, "serial_number": serial,
                            "firmware_version": "AB12C3", "printer_status": "printing", "country_code": "JP",
                            "consumables": [
                                {"kind": "ink_cartridge", "color": "cyan", "remaining_percent": 62.0},
                                {"kind": "ink_cartridge", "color": "magenta", "remaining_percent": 48.5},
                                {"kind": "maintenance_box", "remaining_percent": 80.0}
                            ],
                            "cumulative_ink_usage": [{"color": "cyan", "millilitres": 1520.5}, {"color": "magenta", "millilitres": 1730.2}],
                            "cumulative_printing_time_s": 8_640_000u64,
                            "cumulative_printing_area_m2": 12_345.6,
                            "printer_settings": {"print_quality": "high", "bidirectional": true}
                        }
                    }]
                }))
                .unwrap();
                let at = body
                    .windows(PLACEHOLDER_ID.len())
                    .position(|w| w == PLACEHOLDER_ID.as_bytes())
                    .unwrap();
                (body, at)
            })
            .collect();
        Self { templates }
    }

    /// Body `n` (cycling through the devices) with a new record id.
    pub fn next(&self, n: usize, ids: RecordIds) -> Vec<u8> {
        let (template, at) = &self.templates[n % self.templates.len()];
        let mut body = template.clone();
        let id = match ids {
            RecordIds::TimeOrdered => Uuid::now_v7(),
            RecordIds::Random => {
                uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid()
            }
        };
        id.hyphenated()
            .encode_lower(&mut body[*at..*at + PLACEHOLDER_ID.len()]);
        body
    }
}

/// How the load generator makes record ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordIds {
    /// UUIDv7, as `ecsp-client` makes them: the server's idempotency index grows at its end.
    TimeOrdered,
    /// UUIDv4, as a client of another make may send: every insert lands on a random index page.
    Random,
}

impl RecordIds {
    pub fn describe(self) -> &'static str {
        match self {
            RecordIds::TimeOrdered => "time-ordered (v7)",
            RecordIds::Random => "random (v4)",
        }
    }
}

/// What [`drive`] measured: successful requests per second, the successes and failures, and
/// what the phase cost the machine.
pub struct Run {
    pub rate: f64,
    pub ok: u64,
    pub failed: u64,
    pub cost: Cost,
}

/// The programs whose CPU time [`CpuTicks`] adds up apart, as their process names begin.
pub const PROGRAMS: [&str; 3] = ["ecsp-server", "postgres", "haproxy"];

/// CPU time so far: this process's (server and load generator together), that of every running
/// process of each of [`PROGRAMS`], and the machine's busy and idle time, all in clock ticks
/// (`/proc/*/stat`, `/proc/stat`; USER_HZ is 100).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTicks {
    pub process: u64,
    pub programs: [u64; PROGRAMS.len()],
    pub machine_busy: u64,
    pub machine_idle: u64,
}

/// A process's name and its user plus system CPU ticks, from its `/proc/PID/stat`.
fn process_ticks(stat_path: &std::path::Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    // Fields after the command name's closing parenthesis: utime and stime are the 12th and
    // 13th of them.
    let ticks = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Some((name, ticks))
}

impl CpuTicks {
    pub fn now() -> Self {
        let process = process_ticks("/proc/self/stat".as_ref()).map_or(0, |(_, t)| t);
        let mut programs = [0; PROGRAMS.len()];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            if let Some((name, ticks)) = process_ticks(&entry.path().join("stat")) {
                // The kernel keeps 15 bytes of a name: "ecsp-server" fits whole.
                if let Some(i) = PROGRAMS.iter().position(|p| name.starts_with(p)) {
                    programs[i] += ticks;
                }
            }
        }
        let (machine_busy, machine_idle) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal
                let idle = v.get(3)? + v.get(4)?;
                Some((v.iter().take(8).sum::<u64>() - idle, idle))
            })
            .unwrap_or((0, 0));
        Self {
            process,
            programs,
            machine_busy,
            machine_idle,
        }
    }
}

/// What one phase cost the machine.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// CPU time of the whole process (server and load generator) per successful request, in µs.
    pub cpu_us_per_request: f64,
    /// Share of the machine's CPU time left idle (or waiting for the disk) during the phase.
    pub idle: f64,
    /// CPU time of the whole machine (every process: servers, database, proxy, load generator)
    /// per successful request, in µs.
    pub machine_us_per_request: f64,
    /// The part of it spent by each of [`PROGRAMS`] (processes that ran through the phase), µs.
    pub program_us_per_request: [f64; PROGRAMS.len()],
}

impl Cost {
    pub fn between(before: CpuTicks, after: CpuTicks, requests: u64) -> Self {
        let process_us = after.process.saturating_sub(before.process) as f64 * 10_000.0;
        let busy = after.machine_busy.saturating_sub(before.machine_busy) as f64;
        let idle = after.machine_idle.saturating_sub(before.machine_idle) as f64;
        let per_request = |ticks: u64| ticks as f64 * 10_000.0 / requests.max(1) as f64;
        let mut program_us_per_request = [0.0; PROGRAMS.len()];
        for (i, us) in program_us_per_request.iter_mut().enumerate() {
            *us = per_request(after.programs[i].saturating_sub(before.programs[i]));
        }
        Self {
            program_us_per_request,
            cpu_us_per_request: process_us / requests.max(1) as f64,
            idle: idle / (busy + idle).max(1.0),
            machine_us_per_request: busy * 10_000.0 / requests.max(1) as f64,
        }
    }
}

/// Runs `clients` loops for `secs` seconds.
pub async fn drive<F, Fut>(clients: Vec<reqwest::Client>, secs: u64, request: F) -> Run
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let ticks = CpuTicks::now();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in clients {
        let (request, ok, failed) = (request.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if request(c.clone()).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    Run {
        rate: ok as f64 / elapsed,
        ok,
        failed: failed.load(Ordering::Relaxed),
        cost: Cost::between(ticks, CpuTicks::now(), ok),
    }
}

/// `GET url` answered with a success (the baseline's request, and a warm-up).
pub async fn get_ok(c: reqwest::Client, url: String) -> bool {
    c.get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// An agent's upload `body` posted to `url` with `secret`, answered `201 Created`; a failure is
/// said on standard error.
pub async fn post_upload(c: reqwest::Client, url: String, secret: String, body: Vec<u8>) -> bool {
    c.post(url)
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| eprintln!("upload failed: {e}"))
        .is_ok_and(|r| {
            let created = r.status() == reqwest::StatusCode::CREATED;
            if !created {
                eprintln!("upload answered {}", r.status());
            }
            created
        })
}
