//! The README's first session, literally: the `ecsp-server` binary on the embedded defaults (in
//! a temporary data directory, on a free port), then the `ecsp` commands the README shows, each
//! checked for its status and what it prints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use ecsp_e2e::{ecsp_binary, run_ecsp};
use serde_json::Value;

/// The `ecsp-server` binary started as the README says, killed on drop.
struct ServerProcess {
    child: Child,
    url: String,
    ca: PathBuf,
    operator_password: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(data_dir: &Path) -> ServerProcess {
    let binary =
        ecsp_binary().with_file_name(format!("ecsp-server{}", std::env::consts::EXE_SUFFIX));
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("build it with `cargo build -p ecsp-server-mock`");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut port, mut password) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ECSP reference server listening on https://") {
            port = rest.rsplit(':').next().map(str::to_owned);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"operator@demo.ecsp.example") {
            password = words.last().map(|s| (*s).to_owned());
        }
        if port.is_some() && password.is_some() {
            break;
        }
    }
    // Keep reading what the server prints, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ServerProcess {
        child,
        url: format!(
            "https://localhost:{}",
            port.expect("the server printed its address")
        ),
        ca: data_dir.join("tls").join("ca.pem"),
        operator_password: password.expect("the server printed the demo passwords"),
    }
}

struct User {
    config: PathBuf,
    data: PathBuf,
}

impl User {
    fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        run_ecsp(&self.config, &self.data, args, stdin)
    }

    /// Runs with `--json` and parses standard output as exactly one JSON document.
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.run(&all, "");
        let doc = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {out}{err}"));
        (code, doc)
    }
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn captured_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("captured "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no capture in: {out}"))
        .to_owned()
}

#[test]
fn the_readme_first_session_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&dir.path().join("ecsp-data"));
    let user = User {
        config: dir.path().join("config"),
        data: dir.path().join("data"),
    };
    let ca = server.ca.to_string_lossy().into_owned();

    // Login without a terminal and without a password source says what to do.
    let (code, _, err) = user.run(
        &[
            "login",
            "--server",
            &server.url,
            "--ca-cert",
            &ca,
            "--email",
            "operator@demo.ecsp.example",
        ],
        "",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("--password-stdin") && err.contains("ECSP_PASSWORD"),
        "{err}"
    );
    let (code, out, err) = user.run(
        &[
            "login",
            "--server",
            &server.url,
            "--ca-cert",
            &ca,
            "--email",
            "operator@demo.ecsp.example",
            "--password-stdin",
        ],
        &format!("{}\n", server.operator_password),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signed in as Demo Print Operator"), "{out}");
    assert!(
        out.contains("ecsp devices"),
        "login points to the next step: {out}"
    );

    // The devices, with the ids uploads need.
    let (code, out, _) = user.run(&["devices"], "");
    assert_eq!(code, 0);
    let (_, devices) = user.json(&["devices"]);
    let devices = devices.as_array().unwrap();
    assert_eq!(
        devices.len(),
        2,
        "the demo operator has rights to two printers"
    );
    let device = devices[0]["device_id"].as_str().unwrap().to_owned();
    for d in devices {
        assert!(out.contains(d["device_id"].as_str().unwrap()));
        assert!(out.contains(d["serial_number"].as_str().unwrap()));
    }

    // Each example file, uploaded as the README shows.
    let (code, out, err) = user.run(
        &[
            "upload",
            "dfe",
            "--device",
            &device,
            "--settings",
            &example("dfe-settings.json"),
            "--job",
            &example("dfe-job.json"),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("left out `job_info`: no consent"),
        "no consent yet: {out}"
    );
    assert!(out.contains("sent 1, rejected 0, waiting 0"), "{out}");
    let dfe_id = captured_id(&out);
    let (code, out, err) = user.run(
        &[
            "upload",
            "measurement",
            "--device",
            &device,
            &example("measurement.json"),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let measurement_id = captured_id(&out);

    // A chart file: what it does not say is asked for, all at once; then one record per patch.
    let chart = example("measurement-chart.cgats");
    let (code, _, err) = user.run(&["upload", "measurement", "--device", &device, &chart], "");
    assert_eq!(code, 1);
    for option in [
        "--instrument-serial",
        "--instrument-firmware",
        "--paper",
        "--printing-condition",
    ] {
        assert!(err.contains(option), "{option} not asked for: {err}");
    }
    assert!(
        !err.contains("--instrument-model"),
        "INSTRUMENTATION is read: {err}"
    );
    let (code, out, err) = user.run(
        &[
            "upload",
            "measurement",
            "--device",
            &device,
            &chart,
            "--per-patch",
            "--instrument-serial",
            "1234567",
            "--instrument-firmware",
            "1.2.3",
            "--paper",
            "Premium Luster 260",
            "--printing-condition",
            "FOGRA51",
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches("captured ").count(), 6, "{out}");
    assert!(out.contains("sent 6, rejected 0, waiting 0"), "{out}");
    let (_, patch) = user.json(&["records", "show", &captured_id(&out)]);
    assert_eq!(patch["record"]["samples"][0]["patch"], "1");
    assert_eq!(
        patch["record"]["samples"][0]["condition"]["illumination"],
        "M1"
    );
    assert_eq!(patch["record"]["software"]["name"], "i1Profiler");
    assert_eq!(patch["record"]["instrument"]["model"], "i1Pro 3");

    // What the server holds for the device, newest first.
    let (code, out, err) = user.run(&["records", "list", "--device", &device], "");
    assert_eq!(code, 0, "{out}{err}");
    let (m, d) = (
        out.find(&measurement_id).expect("measurement listed"),
        out.find(&dfe_id).expect("DFE upload listed"),
    );
    assert!(m < d, "newest first: {out}");
    let (code, record) = user.json(&["records", "show", &dfe_id]);
    assert_eq!(code, 0);
    assert_eq!(record["record"]["software"]["name"], "Fiery XF");
    assert!(
        record["record"].get("job").is_none(),
        "no job without consent"
    );

    // Consent: the notice and where each purpose stands, then grant and withdraw.
    let (code, out, _) = user.run(&["consent", "show"], "");
    assert_eq!(code, 0);
    assert!(out.contains("Consent notice, version 2026-11"), "{out}");
    assert!(out.contains("job_info  never asked"), "{out}");
    assert!(out.contains("Job information"), "{out}");
    let (code, out, err) = user.run(&["consent", "grant", "job_info"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("job_info: granted; recorded here and sent to the server"),
        "{out}"
    );
    let (code, out, err) = user.run(
        &[
            "upload",
            "dfe",
            "--device",
            &device,
            "--settings",
            &example("dfe-settings.json"),
            "--job",
            &example("dfe-job.json"),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("left out"), "{out}");
    let (_, record) = user.json(&["records", "show", &captured_id(&out)]);
    assert_eq!(record["record"]["job"]["job_name"], "brochure.pdf");
    let (code, out, _) = user.run(&["consent", "withdraw", "job_info"], "");
    assert_eq!(code, 0);
    assert!(out.contains("job_info: withdrawn"), "{out}");
    let (_, out, _) = user.run(&["consent", "show"], "");
    assert!(out.contains("job_info  withdrawn on"), "{out}");

    // A record the server refuses: exit 4, kept with the reason, then dropped.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (code, out, _) = user.run(
        &[
            "upload",
            "dfe",
            "--device",
            &unknown,
            "--settings",
            &example("dfe-settings.json"),
        ],
        "",
    );
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("rejected 1"), "{out}");
    let rejected = captured_id(&out);
    let (_, page) = user.json(&["queue", "list", "--state", "rejected"]);
    assert_eq!(page["items"][0]["record_id"], rejected.as_str());
    assert_eq!(page["items"][0]["last_error_code"], "not_found");
    let (code, _, err) = user.run(&["queue", "drop", &rejected], "");
    assert_eq!(code, 1, "no terminal to confirm on");
    assert!(err.contains("--yes"), "{err}");
    let (code, out, _) = user.run(&["queue", "drop", &rejected, "--yes"], "");
    assert_eq!(code, 0);
    assert!(out.contains("1 rejected record(s) dropped"), "{out}");
    let (_, status) = user.json(&["queue", "status"]);
    assert_eq!(
        (status["rejected"].as_u64(), status["queued"].as_u64()),
        (Some(0), Some(0))
    );

    // Usage errors have their own status; colour commands do not offer server options.
    let (code, _, _) = user.run(&["upload"], "");
    assert_eq!(code, 2);
    let (code, out, _) = user.run(&["color", "compare", "--help"], "");
    assert_eq!(code, 0);
    assert!(
        !out.contains("--server") && !out.contains("--ca-cert"),
        "{out}"
    );
    let (code, out, _) = user.run(&["upload", "--help"], "");
    assert_eq!(code, 0);
    assert!(out.contains("examples/"), "{out}");

    // An error with --json is one document with a stable code.
    let (code, doc) = user.json(&["records", "show", &unknown]);
    assert_eq!(code, 1);
    assert_eq!(doc["error"]["code"], "not_found");

    // Offline, a decision is recorded and said to be queued.
    drop(server);
    let (code, out, _) = user.run(&["consent", "refuse", "gps"], "");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("gps: refused; recorded here and queued for the server"),
        "{out}"
    );
    let (_, out, _) = user.run(&["consent", "show"], "");
    assert!(out.contains("(not yet sent to the server)"), "{out}");
}
