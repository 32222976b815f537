//! The `ecsp` command line: sign-in, uploads, JSON output, and errors that name the file.

use std::process::Command;

use ecsp_e2e::*;
use serde_json::{Value, json};

pub struct Cli {
    pub config: std::path::PathBuf,
    pub data: std::path::PathBuf,
}

impl Cli {
    pub fn new(h: &Harness, name: &str) -> Self {
        Self {
            config: h.dir.path().join("cli").join(name).join("config"),
            data: h.dir.path().join("cli").join(name).join("data"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = ecsp_command(&self.config, &self.data);
        c.args(args);
        c
    }

    /// Runs the CLI to completion. Blocking, so callers use a multi-threaded runtime, leaving the
    /// in-process server a thread to answer on.
    pub fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        tokio::task::block_in_place(|| run_ecsp(&self.config, &self.data, args, stdin))
    }

    pub fn login(&self, h: &Harness, who: &str) {
        let (email, password) = h.password(who);
        let ca = h.ca_file.to_string_lossy().into_owned();
        let (code, out, err) = self.run(
            &[
                "login",
                "--server",
                &h.url(),
                "--ca-cert",
                &ca,
                "--email",
                &email,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_queue_from_the_command_line() {
    let h = Harness::start().await;
    let cli = Cli::new(&h, "operator");
    cli.login(&h, "operator");
    let dir = h.dir.path();

    let settings = dir.join("settings.json");
    std::fs::write(
        &settings,
        serde_json::to_vec_pretty(&json!({
            "device_id": h.device(0),
            "software": {"name": "Fiery XF", "version": "7.3"},
            "print_settings": {"preset_name": "Proof", "values": {"ink_limit": 280}}
        }))
        .unwrap(),
    )
    .unwrap();
    let job = dir.join("job.json");
    std::fs::write(&job, r#"{"job_id": "J-9", "job_name": "poster.pdf"}"#).unwrap();
    let (code, out, err) = cli.run(
        &[
            "--json",
            "upload",
            "dfe",
            "--settings",
            settings.to_str().unwrap(),
            "--job",
            job.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    // One JSON document: the capture (job withheld: no consent yet) and its delivery.
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["captured"][0]["withheld"], json!(["job_info"]));
    assert_eq!(doc["delivery"]["sent"], 1);

    let (code, out, _) = cli.run(&["--json", "queue", "status"], "");
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (status["queued"].as_u64(), status["sent"].as_u64()),
        (Some(0), Some(1))
    );

    let (code, out, _) = cli.run(&["--json", "consent", "grant", "job_info"], "");
    assert_eq!(code, 0);
    let consent: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(consent["delivered"], true);
    let status = consent["status"].as_array().unwrap();
    assert_eq!(
        status.iter().find(|c| c["purpose"] == "job_info").unwrap()["state"],
        "granted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_name_the_file_the_line_and_the_field() {
    let h = Harness::start().await;
    let cli = Cli::new(&h, "operator");
    cli.login(&h, "operator");
    let dir = h.dir.path();

    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\n  \"device_id\": \"x\",\n  \"software\": {\n").unwrap();
    let (code, _, err) = cli.run(&["upload", "measurement", broken.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(err.contains("broken.json:2:"), "{err}");
    assert!(err.contains("device_id"), "{err}");

    let wrong = dir.join("wrong.json");
    let mut m = serde_json::to_value(measurement_capture(h.device(0), false, false)).unwrap();
    m["samples"][0]["lab"]["L"] = json!(120.0);
    m["samples"][1]["spectrum"]["values"][0] = json!(-1.0);
    std::fs::write(&wrong, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let (code, _, err) = cli.run(&["upload", "measurement", wrong.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(err.contains("wrong.json"), "{err}");
    assert!(
        err.contains("samples[0].lab.L") && err.contains("samples[1].spectrum.values[0]"),
        "{err}"
    );

    let missing = dir.join("missing.json");
    let (code, _, err) = cli.run(&["upload", "measurement", missing.to_str().unwrap()], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("missing.json") && err.contains("cannot read"),
        "{err}"
    );

    // Nothing was queued by any of it, and the queue still works.
    let (_, out, _) = cli.run(&["--json", "queue", "status"], "");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["queued"], 0);
    assert_eq!(status["sent"], 0);
}

/// Reports `n` device-data records for device 0, all captured at `at`, as the demo agent.
async fn report_at(h: &Harness, at: chrono::DateTime<chrono::Utc>, n: usize) -> Vec<String> {
    let device = &h.demo.devices[0];
    let records: Vec<Value> = (0..n)
        .map(|_| {
            json!({
                "record_id": uuid::Uuid::new_v4(),
                "captured_at": at,
                "device": {
                    "manufacturer": device.manufacturer, "model": device.model,
                    "serial_number": device.serial_number, "firmware_version": "AB12C3",
                    "printer_status": "idle", "error_codes": [], "consumables": []
                }
            })
        })
        .collect();
    let res = crate::consent::https(h)
        .post(format!("{}/api/v1/agent/device-data", h.url()))
        .bearer_auth(&h.demo.agent.secret)
        .json(&json!({
            "schema_version": 1,
            "agent": {"agent_id": h.demo.agent.agent_id, "agent_type": "dc_agent", "agent_version": "5.2.0",
                      "collection_type": "scheduled", "sent_at": chrono::Utc::now()},
            "records": records
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    records
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_list_pages_through_records_sharing_a_capture_time() {
    let h = Harness::start().await;
    let at = chrono::Utc::now() - chrono::Duration::minutes(3);
    let mut expected = report_at(&h, at, 45).await;
    expected.sort_by(|a, b| b.cmp(a));
    let older = report_at(&h, at - chrono::Duration::seconds(1), 1).await;
    expected.extend(older);
    let cli = Cli::new(&h, "operator");
    cli.login(&h, "operator");
    let device = h.device(0).to_string();

    // Follow the "more may follow" hint page by page, as a user would.
    let mut args: Vec<String> = [
        "records",
        "list",
        "--device",
        &device,
        "--kind",
        "device_data",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(["--limit".to_owned(), "20".to_owned()]);
    let mut shown = Vec::new();
    let mut next: Vec<String> = Vec::new();
    for _ in 0..10 {
        let mut call = args.clone();
        call.extend(next.iter().cloned());
        let call: Vec<&str> = call.iter().map(String::as_str).collect();
        let (code, out, err) = cli.run(&call, "");
        assert_eq!(code, 0, "{out}{err}");
        shown.extend(
            out.lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter(|w| uuid::Uuid::parse_str(w).is_ok())
                .map(str::to_owned),
        );
        let Some(hint) = out
            .lines()
            .find_map(|l| l.strip_prefix("more may follow: "))
        else {
            break;
        };
        next = hint.split_whitespace().map(str::to_owned).collect();
        assert_eq!(next[0], "--before", "{hint}");
        assert_eq!(next[2], "--before-id", "{hint}");
    }
    assert_eq!(shown, expected, "all 46, each once, newest first");

    // The kind as the API spells it, and as earlier versions of the command did.
    for kind in ["device_data", "device-data"] {
        let (code, out, err) = cli.run(
            &[
                "--json", "records", "list", "--device", &device, "--kind", kind, "--limit", "500",
            ],
            "",
        );
        assert_eq!(code, 0, "{kind}: {out}{err}");
        let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(listed.len(), 46, "{kind}");
        assert!(listed.iter().all(|r| r["kind"] == "device_data"));
    }
    let (code, _, err) = cli.run(
        &["records", "list", "--device", &device, "--kind", "photos"],
        "",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("device_data"), "the accepted spellings: {err}");
}

/// `ecsp --json dfe watch` prints JSON Lines, as the README says: each event one compact object
/// on one line (it pretty-printed each over many lines, which no line reader can take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dfe_watch_json_prints_one_object_per_line() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::Duration;

    let h = Harness::start().await;
    let cli = Cli::new(&h, "operator");
    cli.login(&h, "operator");
    let folder = h.dir.path().join("hot");
    std::fs::create_dir_all(&folder).unwrap();
    let device = h.device(0).to_string();
    let mut child = cli
        .command(&[
            "--json",
            "dfe",
            "watch",
            "--folder",
            folder.to_str().unwrap(),
            "--device",
            &device,
            "--settle-ms",
            "200",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = || {
        tokio::task::block_in_place(|| lines.recv_timeout(Duration::from_secs(60)))
            .expect("a line from `dfe watch --json`")
    };
    let ticket = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/dfe/data/digital-printing-combined.jdf"),
    )
    .unwrap();
    std::fs::write(folder.join("job.jdf"), &ticket).unwrap();
    let captured = next_line();
    std::fs::write(folder.join("cut.jdf"), &ticket[..ticket.len() / 2]).unwrap();
    let quarantined = next_line();
    let _ = child.kill();
    let _ = child.wait();

    let captured: Value = serde_json::from_str(&captured)
        .unwrap_or_else(|e| panic!("one whole object per line: {e}: {captured}"));
    assert_eq!(captured["event"], "captured", "{captured}");
    assert_eq!(captured["file"], "job.jdf");
    assert_eq!(captured["record_ids"].as_array().map(Vec::len), Some(1));
    let quarantined: Value = serde_json::from_str(&quarantined).expect("one whole object per line");
    assert_eq!(quarantined["event"], "quarantined", "{quarantined}");
    assert_eq!(quarantined["file"], "cut.jdf");
    assert_eq!(quarantined["reason"]["kind"], "malformed");
}

/// `ecsp dfe send`: each file captured once, as the hot folder would; a bad file is named with
/// its reason and the good ones are still sent; a printer is named by its serial number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dfe_send_captures_good_files_names_bad_ones_and_takes_a_serial_number() {
    let h = Harness::start().await;
    let cli = Cli::new(&h, "operator");
    cli.login(&h, "operator");
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dfe");
    let ticket = examples.join("job-ticket.jdf");
    let ticket = ticket.to_str().unwrap();
    let bad = h.dir.path().join("truncated.jdf");
    std::fs::write(
        &bad,
        "<?xml version=\"1.0\"?><JDF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\"><Resour",
    )
    .unwrap();
    let serial = h.demo.devices[0].serial_number.to_lowercase();

    let (code, out, err) = cli.run(
        &[
            "dfe",
            "send",
            "--device",
            &serial,
            ticket,
            bad.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(code, 1, "a bad file fails the command: {out}{err}");
    assert!(
        out.contains("job-ticket.jdf: captured 1 record(s)"),
        "{out}"
    );
    assert!(out.contains("truncated.jdf: not captured:"), "{out}");
    assert!(
        out.contains("sent 1, rejected 0, waiting 0"),
        "the good file is sent: {out}"
    );
    let (_, listed, _) = cli.run(&["records", "list", "--device", &serial], "");
    assert_eq!(
        listed.lines().filter(|l| l.contains(" dfe ")).count(),
        1,
        "{listed}"
    );

    // The same bytes again: nothing new.
    let (code, out, err) = cli.run(&["dfe", "send", "--device", &serial, ticket], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("captured before, nothing new"), "{out}");

    // A serial number the user may not see, or none at all, is said so; nothing is captured.
    let (code, _, err) = cli.run(&["dfe", "send", "--device", "NO-SUCH-SERIAL", ticket], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("no device with serial number `NO-SUCH-SERIAL`"),
        "{err}"
    );
    let invisible = h.demo.devices[2].serial_number.clone();
    let (code, _, err) = cli.run(&["records", "list", "--device", &invisible], "");
    assert_eq!(code, 1, "the operator has no right to the third printer");
    assert!(err.contains("no device with serial number"), "{err}");
}
