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

/// The `sh` block that follows the README's `<!-- getting-started: NAME` marker.
fn getting_started_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- getting-started: {name}");
    let at = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("the README has no `{marker}` block"));
    let open = at + readme[at..].find("```sh\n").expect("a sh block follows") + "```sh\n".len();
    let close = open + readme[open..].find("```").expect("the block is closed");
    readme[open..close].to_owned()
}

/// The last whitespace-separated word of the first line of `text` starting with `first`, and
/// the word at `index` of it.
fn word_after(text: &str, first: &str, index: usize) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&first))
        .and_then(|w| w.get(index).map(|s| (*s).to_owned()))
        .unwrap_or_else(|| panic!("the server printed no `{first}` line: {text}"))
}

/// A process group killed on drop (the README's block and the server it starts).
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// The README's "Getting started", as a newcomer runs it: the build block (all of it but the
/// `cargo build` line, whose programs this test's own build provides where `--release` would
/// put them) in one shell, and the session block, word for word, in another, in a fresh
/// folder holding the repository's `examples/`. What the README says to type at a prompt (the
/// operator's password, the agent's id and secret) comes from the environment variables each
/// program documents for use without a terminal.
#[cfg(unix)]
#[test]
fn the_readme_getting_started_runs_as_written() {
    use std::os::unix::process::CommandExt;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let build = getting_started_block(&readme, "build");
    let session = getting_started_block(&readme, "session");
    let (cargo, rest): (Vec<&str>, Vec<&str>) =
        build.lines().partition(|l| l.starts_with("cargo build"));
    assert_eq!(cargo.len(), 1, "one build line: {build}");
    for package in ["ecsp-server-mock", "ecsp-cli", "ecsp-agent"] {
        assert!(
            cargo[0].contains(&format!("-p {package}")),
            "the build line builds {package}: {}",
            cargo[0]
        );
    }
    assert!(cargo[0].contains("--release"), "{}", cargo[0]);

    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::os::unix::fs::symlink(repo.join("examples"), dir.path().join("examples")).unwrap();
    std::fs::create_dir(dir.path().join("target")).unwrap();
    let programs = ecsp_binary().parent().unwrap().to_owned();
    for program in ["ecsp-server", "ecsp", "ecsp-agent"] {
        assert!(
            programs.join(program).exists(),
            "{program} is not built: `cargo build --workspace --bins`"
        );
    }
    std::os::unix::fs::symlink(&programs, dir.path().join("target/release")).unwrap();
    // The README's server listens on its default port.
    drop(
        std::net::TcpListener::bind("127.0.0.1:8443").expect(
            "port 8443 is taken: the README's server listens there; stop whatever holds it",
        ),
    );

    let server_env = [
        "ECSP_LISTEN",
        "ECSP_DATA_DIR",
        "ECSP_MQTT_LISTEN",
        "ECSP_DATABASE_URL",
        "ECSP_EXTERNAL_BROKER",
    ];
    let mut server = Command::new("bash");
    server
        .args(["-eu", "-o", "pipefail", "-c", &rest.join("\n")])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    for var in server_env {
        server.env_remove(var);
    }
    let mut server = Group(server.spawn().expect("bash"));
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("ecsp-agent --data-dir agent-data simulate") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert!(
        printed.contains("portal, in a browser:  https://localhost:8443/portal/"),
        "the server's closing lines point to the portal: {printed}"
    );
    assert!(
        printed
            .contains("ecsp login --server https://localhost:8443 --ca-cert ecsp-data/tls/ca.pem"),
        "and to the CLI: {printed}"
    );
    assert!(!printed.contains("/api/v1/auth/login"), "{printed}");

    let output = Command::new("bash")
        .args(["-eu", "-o", "pipefail", "-c", &session])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .env("ECSP_CONFIG_DIR", dir.path().join("cli-config"))
        .env("ECSP_DATA_DIR", dir.path().join("cli-data"))
        .env("LANG", "C.UTF-8")
        .env(
            "ECSP_PASSWORD",
            word_after(&printed, "operator@demo.ecsp.example", 2),
        )
        .env("ECSP_AGENT_ID", word_after(&printed, "agent", 1))
        .env("ECSP_AGENT_SECRET", word_after(&printed, "agent", 3))
        .env("RUST_LOG", "warn")
        .env_remove("ECSP_SERVER")
        .env_remove("ECSP_CA_CERT")
        .env_remove("ECSP_AGENT_DIR")
        .output()
        .expect("bash");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the session block failed:\n{out}\n{err}"
    );
    for expected in [
        "signed in as Demo Print Operator",
        "X4DEMO0001",
        "job_info: granted",
        "examples/dfe/job-ticket.jdf: captured 1 record(s)",
        "examples/dfe/status.jmf: captured 1 record(s)",
        "examples/dfe/job-log.csv: captured 2 record(s)",
        "sent 4, rejected 0, waiting 0",
        "sent 1, rejected 0, waiting 0",
        "a DC agent, 3 printer(s) designated",
        "sent 3 reading(s); 0 refused; 0 to retry",
    ] {
        assert!(out.contains(expected), "`{expected}` not in:\n{out}\n{err}");
    }
    // `records list`: the four DFE records and the measurement, on the server.
    let listed: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|k| k == "dfe" || k == "measurement")
        })
        .collect();
    assert_eq!(listed.len(), 5, "{out}");
    drop(server);
}
