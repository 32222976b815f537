//! Alerts end to end: a printer's report enters error, and the rule's recipient is told through
//! a real SMTP server (aiosmtpd from PyPI, with STARTTLS) and a real HTTPS webhook receiver
//! (rustls). Messages retry, are sent once, survive a restart, and never reach someone who may no
//! longer see the device.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// aiosmtpd's interpreter: `ECSP_PYTHON_SMTP` (scripts/test.sh), else set up here, once per
/// run (tests running at once must not each rebuild the virtualenv).
fn smtp_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("ECSP_PYTHON_SMTP") {
                return p.into();
            }
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let out = std::process::Command::new(root.join("scripts/setup-python.sh"))
                .arg("smtp")
                .output()
                .expect("scripts/setup-python.sh smtp");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        })
        .clone()
}

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM, file of the PEM).
fn certificate(dir: &Path) -> (String, String, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (made.cert.pem(), made.key_pair.serialize_pem());
    let file = dir.join(format!("cert-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&file, &cert).unwrap();
    (cert, key, file)
}

/// aiosmtpd on loopback, STARTTLS required, storing each message in a Maildir.
struct Smtp {
    child: Option<tokio::process::Child>,
    port: u16,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
}

impl Smtp {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca_file) = certificate(dir.path());
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            child: None,
            port,
            dir,
            ca_file,
        }
    }

    async fn start(&mut self) {
        let d = self.dir.path();
        let child = tokio::process::Command::new(smtp_python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--tlscert")
            .arg(d.join("cert.pem"))
            .arg("--tlskey")
            .arg(d.join("key.pem"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(d.join("mail"))
            .kill_on_drop(true)
            .spawn()
            .expect("aiosmtpd");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("aiosmtpd did not listen on {}", self.port);
    }

    fn url(&self) -> String {
        format!("smtp://localhost:{}?tls=required", self.port)
    }

    /// Each stored message as Python's e-mail parser reads it: (To, Subject, text).
    fn messages(&self) -> Vec<(String, String, String)> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.unwrap().path();
            let parsed = std::process::Command::new(smtp_python())
                .args([
                    "-c",
                    "import email, json, sys\n\
                     from email import policy\n\
                     m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)\n\
                     print(json.dumps([m['to'], m['subject'], m.get_content()]))",
                ])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                parsed.status.success(),
                "{}",
                String::from_utf8_lossy(&parsed.stderr)
            );
            let [to, subject, text]: [String; 3] = serde_json::from_slice(&parsed.stdout).unwrap();
            out.push((to, subject, text));
        }
        out
    }
}

/// One request the webhook receiver got: its signature and delivery headers and its body.
#[derive(Debug, Clone)]
struct Hook {
    signature: String,
    delivery: String,
    body: Vec<u8>,
}

/// An HTTPS receiver answering each request with the next status of `answers` (then 200).
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Hook>>>,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    async fn start(answers: Vec<u16>) -> Self {
        use axum::http::HeaderMap;
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, ca_file) = certificate(dir.path());
        let got: Arc<Mutex<Vec<Hook>>> = Arc::default();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (seen, answers) = (seen.clone(), answers.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    seen.lock().unwrap().push(Hook {
                        signature: header("ecsp-signature"),
                        delivery: header("ecsp-delivery"),
                        body: body.to_vec(),
                    });
                    let status = answers.lock().unwrap().next().unwrap_or(200);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        use rustls::pki_types::pem::PemObject as _;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        tokio::spawn(
            axum_server::from_tcp_rustls(listener, tls)
                .unwrap()
                .serve(app.into_make_service()),
        );
        Self {
            addr,
            got,
            ca_file,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/hook", self.addr.port())
    }

    fn hooks(&self) -> Vec<Hook> {
        self.got.lock().unwrap().clone()
    }
}

/// A server that sends alerts through `smtp` and trusts `receiver`, looking for work often.
async fn server(smtp: &Smtp, receiver: Option<&Receiver>) -> TestServer {
    let (url, ca) = (smtp.url(), smtp.ca_file.clone());
    let hook_ca = receiver.map(|r| r.ca_file.clone());
    TestServer::start_with(move |c| alerting(c, url, ca, hook_ca)).await
}

fn alerting(c: &mut ecsp_server_mock::Config, smtp: String, ca: PathBuf, hook_ca: Option<PathBuf>) {
    c.alerts.smtp_url = Some(smtp);
    c.alerts.smtp_ca_file = Some(ca);
    c.alerts.smtp_from = Some("ECSP <alerts@ecsp.example>".into());
    c.alerts.webhook_ca_file = hook_ca;
    // The test's receiver listens on loopback.
    c.alerts.webhook_private_networks = true;
    c.alerts.public_url = Some("https://ecsp.example".into());
    c.alerts.retry_base = Duration::from_millis(200);
    c.alerts.poll = Duration::from_millis(100);
}

/// The demo agent reports the first demo printer with these active error codes.
async fn report(ts: &TestServer, codes: &[&str]) {
    let mut body = device_data_upload(ts.demo.agent.agent_id, uuid::Uuid::now_v7(), "error");
    let record = &mut body["records"][0];
    record["captured_at"] = json!(chrono::Utc::now() - chrono::Duration::seconds(1));
    record["device"]["error_codes"] = codes
        .iter()
        .map(|c| json!({"code": c, "description": "Paper jam in the rear unit"}))
        .collect();
    let res = ts
        .post(&ts.demo.agent.secret, "/api/v1/agent/device-data", &body)
        .await;
    expect_created(res).await;
}

/// A rule for the operator (who may see the first demo printer); returns (rule id, secret).
async fn rule(ts: &TestServer, body: Value) -> (String, Option<String>) {
    let token = ts.token("operator").await;
    let res = ts.post(&token, "/api/v1/alert-rules", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let made: Value = res.json().await.unwrap();
    (
        made["rule"]["rule_id"].as_str().unwrap().to_owned(),
        made["webhook_secret"].as_str().map(str::to_owned),
    )
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 20 s for {what}");
}

async fn deliveries(ts: &TestServer, rule: &str) -> Vec<Value> {
    let token = ts.token("operator").await;
    let res = ts
        .get(&token, &format!("/api/v1/alert-rules/{rule}/deliveries"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn verify(secret: &str, hook: &Hook) {
    use hmac::{Hmac, Mac};
    let (t, v1) = hook
        .signature
        .split_once(",v1=")
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v)))
        .unwrap_or_else(|| panic!("signature header `{}`", hook.signature));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "signed {age} s ago");
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&hook.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature verifies with the rule's secret");
}

#[tokio::test]
async fn a_printer_entering_error_is_one_japanese_email_and_one_signed_webhook() {
    let mut smtp = Smtp::new();
    smtp.start().await;
    let receiver = Receiver::start(Vec::new()).await;
    let ts = server(&smtp, Some(&receiver)).await;
    let (mail_rule, _) = rule(
        &ts,
        json!({"condition": "error", "channel": "email", "language": "ja",
               "time_zone": "Asia/Tokyo", "quiet_minutes": 10}),
    )
    .await;
    let (_, secret) = rule(
        &ts,
        json!({"condition": "error", "channel": "webhook", "webhook_url": receiver.url(),
               "device_id": ts.device(0), "language": "en", "time_zone": "UTC",
               "quiet_minutes": 0}),
    )
    .await;
    let secret = secret.expect("a webhook rule's secret is shown when it is made");
    assert!(secret.starts_with("whsec_"));

    report(&ts, &["error.prt.jam"]).await;
    wait_for("one e-mail and one webhook", || {
        smtp.messages().len() == 1 && receiver.hooks().len() == 1
    })
    .await;

    let (to, subject, text) = smtp.messages().remove(0);
    assert_eq!(to, ts.user("operator").email);
    assert_eq!(
        subject,
        "[ECSP] Epson SureColor SC-P9500（シリアル番号 X4DEMO0001）: エラー error.prt.jam: Paper jam in the rear unit"
    );
    assert!(text.contains("JST  エラー error.prt.jam"), "{text}");
    assert!(
        text.contains(&format!(
            "https://ecsp.example/portal/devices/{}",
            ts.device(0)
        )),
        "{text}"
    );
    assert!(
        !text.contains(&ts.user("operator").email),
        "no person's data in the text"
    );

    let hook = receiver.hooks().remove(0);
    verify(&secret, &hook);
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body["delivery_id"], hook.delivery.as_str());
    assert_eq!(body["device"]["serial_number"], "X4DEMO0001");
    assert_eq!(body["events"][0]["condition"], "error");
    assert_eq!(body["events"][0]["subject"], "error.prt.jam");

    // The same error still active, and a report of another: nothing for the first; the e-mail
    // rule's quiet period holds the second for a digest.
    report(&ts, &["error.prt.jam"]).await;
    report(&ts, &["error.prt.jam", "error.ink.out"]).await;
    wait_for("the webhook of the second error", || {
        receiver.hooks().len() == 2
    })
    .await;
    let second: Value = serde_json::from_slice(&receiver.hooks()[1].body).unwrap();
    assert_eq!(second["events"][0]["subject"], "error.ink.out");
    assert_eq!(
        smtp.messages().len(),
        1,
        "the quiet period holds the e-mail"
    );
    let log = deliveries(&ts, &mail_rule).await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[1]["state"], "sent");
    assert!(
        log[1]["last_status"].as_str().unwrap().starts_with("250"),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_message_once() {
    let mut smtp = Smtp::new();
    smtp.start().await;
    let receiver = Receiver::start(vec![500, 500, 500]).await;
    let ts = server(&smtp, Some(&receiver)).await;
    let (rule_id, secret) = rule(
        &ts,
        json!({"condition": "error", "channel": "webhook", "webhook_url": receiver.url(),
               "language": "en", "time_zone": "UTC", "quiet_minutes": 0}),
    )
    .await;
    report(&ts, &["error.prt.jam"]).await;
    wait_for("four attempts", || receiver.hooks().len() == 4).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), 4, "no attempt after the 200");
    assert!(
        hooks.iter().all(|h| h.delivery == hooks[0].delivery),
        "one delivery, retried"
    );
    verify(&secret.unwrap(), &hooks[3]);
    let log = deliveries(&ts, &rule_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "sent");
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["last_status"], "HTTP 200");
}

#[tokio::test]
async fn a_users_refused_upload_reaches_their_rule_and_no_one_elses() {
    let mut smtp = Smtp::new();
    smtp.start().await;
    let receiver = Receiver::start(vec![]).await;
    let ts = server(&smtp, Some(&receiver)).await;
    let (rule_id, _) = rule(
        &ts,
        json!({"condition": "upload_rejected", "channel": "webhook", "webhook_url": receiver.url(),
               "language": "en", "time_zone": "UTC", "quiet_minutes": 0}),
    )
    .await;
    // A measurement of a device nobody has: refused, for the operator (the rule's owner) and
    // for the technician (who has no rule).
    let mut bad = crate::common::measurement_record(uuid::Uuid::new_v4(), false, false);
    bad["captured_at"] = json!(chrono::Utc::now());
    for who in ["technician", "operator"] {
        let token = ts.token(who).await;
        let res = ts
            .post(
                &token,
                "/api/v1/uploads/measurements",
                &crate::common::measurement_upload(vec![bad.clone()]),
            )
            .await;
        assert!(res.status().is_client_error(), "{who}: {}", res.status());
    }
    wait_for("the operator's refusal as a webhook", || {
        receiver.hooks().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), 1, "the technician's refusal is nobody's alert");
    let body: Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 1, "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("an upload of yours was refused"),
        "{body}"
    );
    assert_eq!(deliveries(&ts, &rule_id).await[0]["state"], "sent");
}

#[tokio::test]
async fn webhooks_to_private_networks_are_not_sent_unless_allowed() {
    let mut smtp = Smtp::new();
    smtp.start().await;
    let receiver = Receiver::start(vec![]).await;
    let (url, ca) = (smtp.url(), smtp.ca_file.clone());
    let hook_ca = receiver.ca_file.clone();
    let ts = TestServer::start_with(move |c| {
        alerting(c, url, ca, Some(hook_ca));
        c.alerts.webhook_private_networks = false;
    })
    .await;
    let port = receiver.addr.port();
    let hook = |url: String| {
        json!({"condition": "error", "channel": "webhook", "webhook_url": url,
               "language": "en", "time_zone": "UTC", "quiet_minutes": 0})
    };
    let (literal, _) = rule(&ts, hook(format!("https://127.0.0.1:{port}/hook"))).await;
    let (name, _) = rule(&ts, hook(receiver.url())).await;
    report(&ts, &["error.prt.jam"]).await;
    let mut logs = (Vec::new(), Vec::new());
    for _ in 0..100 {
        logs = (
            deliveries(&ts, &literal).await,
            deliveries(&ts, &name).await,
        );
        if logs.0.first().is_some_and(|d| d["state"] == "dropped")
            && logs
                .1
                .first()
                .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // An address written as a private IP: dropped at once, saying why.
    assert_eq!(logs.0.len(), 1, "{logs:?}");
    assert_eq!(logs.0[0]["state"], "dropped", "{logs:?}");
    let said = logs.0[0].to_string();
    assert!(said.contains("private network"), "{said}");
    // A name that resolves to loopback alone: not connected to, and the status says why.
    assert_eq!(logs.1.len(), 1, "{logs:?}");
    assert_ne!(logs.1[0]["state"], "sent", "{logs:?}");
    let said = logs.1[0]["last_status"].to_string();
    assert!(said.contains("private networks"), "{said}");
    assert!(receiver.hooks().is_empty(), "nothing reached the receiver");
}

#[tokio::test]
async fn a_recipient_who_lost_the_devices_right_is_told_nothing() {
    let mut smtp = Smtp::new();
    smtp.start().await;
    let receiver = Receiver::start(Vec::new()).await;
    let ts = server(&smtp, Some(&receiver)).await;
    let (rule_id, _) = rule(
        &ts,
        json!({"condition": "error", "channel": "webhook", "webhook_url": receiver.url(),
               "language": "en", "time_zone": "UTC", "quiet_minutes": 0}),
    )
    .await;
    let operator = ts.token("operator").await;
    let me: Value = ts.get(&operator, "/api/v1/me").await.json().await.unwrap();
    let admin = ts.token("admin").await;
    let res = ts
        .call(
            Method::DELETE,
            Some(&admin),
            &format!(
                "/api/v1/admin/users/{}/devices/{}",
                me["user_id"].as_str().unwrap(),
                ts.device(0)
            ),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    report(&ts, &["error.prt.jam"]).await;
    let mut log = Vec::new();
    for _ in 0..200 {
        log = deliveries(&ts, &rule_id).await;
        if log.first().is_some_and(|d| d["state"] != "pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["state"], "dropped");
    assert!(receiver.hooks().is_empty());
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn a_message_outlives_a_server_stopped_before_sending_it() {
    let mut smtp = Smtp::new();
    // The SMTP server is not there yet: the first attempts fail.
    let mut ts = server(&smtp, None).await;
    let (rule_id, _) = rule(
        &ts,
        json!({"condition": "error", "channel": "email", "language": "en",
               "time_zone": "UTC", "quiet_minutes": 0}),
    )
    .await;
    report(&ts, &["error.prt.jam"]).await;
    let mut log = Vec::new();
    for _ in 0..200 {
        log = deliveries(&ts, &rule_id).await;
        // An attempt is counted when the message is leased and its status written when the
        // attempt ends: wait for both.
        if log
            .first()
            .is_some_and(|d| d["attempts"].as_u64() >= Some(1) && d["last_status"].is_string())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(log[0]["state"], "pending", "{log:?}");
    assert!(
        log[0]["last_status"].as_str().unwrap().starts_with("SMTP"),
        "{log:?}"
    );
    ts.stop().await;

    smtp.start().await;
    let (url, ca) = (smtp.url(), smtp.ca_file.clone());
    ts.restart_with(move |c| alerting(c, url, ca, None)).await;
    wait_for("the e-mail after the restart", || {
        smtp.messages().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(smtp.messages().len(), 1, "sent once");
    let log = deliveries(&ts, &rule_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "sent");
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_field() {
    let smtp = Smtp::new();
    let ts = server(&smtp, None).await;
    let token = ts.token("operator").await;
    for (body, field) in [
        (
            json!({"condition": "consumable_low", "channel": "email", "language": "en",
                   "time_zone": "UTC", "quiet_minutes": 0}),
            "threshold",
        ),
        (
            json!({"condition": "error", "channel": "webhook", "webhook_url": "http://example.com/hook",
                   "language": "en", "time_zone": "UTC", "quiet_minutes": 0}),
            "webhook_url",
        ),
        (
            json!({"condition": "error", "channel": "email", "language": "fr",
                   "time_zone": "UTC", "quiet_minutes": 0}),
            "language",
        ),
        (
            json!({"condition": "error", "channel": "email", "language": "en",
                   "time_zone": "Mars/Olympus", "quiet_minutes": 0}),
            "time_zone",
        ),
    ] {
        let res = ts.post(&token, "/api/v1/alert-rules", &body).await;
        let problem =
            expect_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            problem.to_string().contains(field),
            "{field} is named: {problem}"
        );
    }
    // A user may not set rules for another member.
    let admin: Value = ts
        .get(&ts.token("admin").await, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    let res = ts
        .post(
            &token,
            "/api/v1/alert-rules",
            &json!({"condition": "error", "channel": "email", "language": "en", "time_zone": "UTC",
                    "quiet_minutes": 0, "recipient_id": admin["user_id"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let rules: Value = ts
        .get(&token, "/api/v1/alert-rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rules, json!([]), "nothing refused was kept");
}

/// The portal's alert page: a rule made in Japanese shows its secret once, is listed in words
/// (never an id), refuses a bad field in the page's language, and is deleted.
#[tokio::test]
async fn the_portal_makes_lists_and_deletes_rules_in_the_viewers_language() {
    use crate::portal::Browser;
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.accept_language = "ja-JP,ja;q=0.9";
    b.sign_in("operator").await;
    let page = b.get("/portal/alerts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("通知ルールはまだありません"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let made = b
        .post(
            "/portal/alerts",
            &[
                ("csrf", csrf.as_str()),
                ("action", "create"),
                ("condition", "consumable_low"),
                ("threshold", "15"),
                ("scope", &format!("device:{}", ts.device(0))),
                ("channel", "webhook"),
                ("webhook_url", "https://hooks.example.com/ecsp/T0KEN"),
                ("language", "ja"),
                ("time_zone", "Asia/Tokyo"),
                ("quiet_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(made.body.contains("whsec_"), "the secret, this once");
    assert!(made.body.contains("消耗品の残量がしきい値"));
    let listed = b.get("/portal/alerts").await;
    assert!(!listed.body.contains("whsec_"), "never again");
    assert!(
        listed.body.contains("SC-P9500 X4DEMO0001"),
        "the device by name"
    );
    assert!(listed.body.contains("hooks.example.com"));
    assert!(
        !listed.body.contains("T0KEN"),
        "the webhook's path is not shown"
    );

    let refused = b
        .post(
            "/portal/alerts",
            &[
                ("csrf", csrf.as_str()),
                ("action", "create"),
                ("condition", "agent_silent"),
                ("threshold", "1"),
                ("channel", "email"),
                ("language", "ja"),
                ("time_zone", "Asia/Tokyo"),
                ("quiet_minutes", "0"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("しきい値: 5〜10080 の整数を入力してください"),
        "the field and the rule in Japanese: {}",
        refused.body
    );

    let token = ts.token("operator").await;
    let rules: Value = ts
        .get(&token, "/api/v1/alert-rules")
        .await
        .json()
        .await
        .unwrap();
    let id = rules[0]["rule_id"].as_str().unwrap();
    let gone = b
        .post(
            "/portal/alerts",
            &[("csrf", csrf.as_str()), ("action", "delete"), ("rule", id)],
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let rules: Value = ts
        .get(&token, "/api/v1/alert-rules")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rules, json!([]));
}

/// Three nodes of one service on PostgreSQL, each running the alert worker: an error reported
/// through one is one e-mail, sent by one of them.
#[tokio::test]
async fn three_nodes_send_each_message_once() {
    if postgres_only("three_nodes_send_each_message_once").is_none() {
        return;
    }
    let mut smtp = Smtp::new();
    smtp.start().await;
    let first = server(&smtp, None).await;
    let (url, ca) = (smtp.url(), smtp.ca_file.clone());
    let second = first
        .start_node_with(|c| alerting(c, url.clone(), ca.clone(), None))
        .await;
    let (url, ca) = (smtp.url(), smtp.ca_file.clone());
    let _third = first.start_node_with(|c| alerting(c, url, ca, None)).await;
    // Five rules, each for one code: five messages, each to be sent by one node once.
    let codes: Vec<String> = (0..5).map(|i| format!("error.c{i}")).collect();
    for code in &codes {
        rule(
            &second,
            json!({"condition": "error", "codes": [code], "channel": "email", "language": "en",
                   "time_zone": "UTC", "quiet_minutes": 0}),
        )
        .await;
    }
    let reported: Vec<&str> = codes.iter().map(String::as_str).collect();
    report(&first, &reported).await;
    wait_for("five messages", || smtp.messages().len() >= 5).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut subjects: Vec<String> = smtp.messages().into_iter().map(|(_, s, _)| s).collect();
    subjects.sort();
    let mut unique = subjects.clone();
    unique.dedup();
    assert_eq!(unique, subjects, "each message once");
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    for code in &codes {
        assert!(
            subjects.iter().any(|s| s.contains(code.as_str())),
            "{code}: {subjects:?}"
        );
    }
}

/// An agent not heard from for the rule's minutes is told of once per silence, for each of its
/// printers the recipient may see.
#[tokio::test]
async fn a_silent_agent_is_told_of_once() {
    let smtp = Smtp::new();
    let receiver = Receiver::start(Vec::new()).await;
    let ts = server(&smtp, Some(&receiver)).await;
    rule(
        &ts,
        json!({"condition": "agent_silent", "threshold": 15, "channel": "webhook",
               "webhook_url": receiver.url(), "language": "en", "time_zone": "UTC",
               "quiet_minutes": 0}),
    )
    .await;
    let agent = ts.demo.agent.agent_id.to_string();
    let seen = chrono::Utc::now().timestamp_millis() - 20 * 60_000;
    ts.db()
        .write(move |c| {
            c.execute(
                "UPDATE agents SET last_seen_at = ?1 WHERE public_id = ?2",
                ecsp_server_mock::params![seen, agent],
            )
            .map_err(ecsp_server_mock::db::StoreError::from)
        })
        .await
        .unwrap();
    // The operator may see two of the agent's three printers.
    wait_for("two webhooks", || receiver.hooks().len() == 2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hooks = receiver.hooks();
    assert_eq!(hooks.len(), 2, "once per silence");
    let body: Value = serde_json::from_slice(&hooks[0].body).unwrap();
    assert_eq!(body["events"][0]["condition"], "agent_silent");
    assert!(
        body["events"][0]["value"].as_f64().unwrap() >= 20.0,
        "{body}"
    );
}

/// Dispatched events are kept a week and finished messages 90 days; a message still waiting is
/// never deleted, however old.
#[tokio::test]
async fn old_events_and_finished_messages_expire() {
    use ecsp_server_mock::store::alerts;
    let smtp = Smtp::new();
    let ts = server(&smtp, None).await;
    let (rule_id, _) = rule(
        &ts,
        json!({"condition": "error", "channel": "email", "language": "en",
               "time_zone": "UTC", "quiet_minutes": 0}),
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    let old = now - alerts::DELIVERIES_KEPT_MS - 1;
    let rows = ts
        .db()
        .write(move |c| {
            let (org, rule): (i64, i64) = c.query_row(
                "SELECT org_id, id FROM alert_rules WHERE public_id = ?1",
                [&rule_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (dispatched, at) in [(1, old), (1, now), (0, old)] {
                c.execute(
                    "INSERT INTO alert_events (org_id, kind, detail, at, dispatched)
                     VALUES (?1, 'error', '{\"condition\":\"error\",\"at\":0}', ?2, ?3)",
                    ecsp_server_mock::params![org, at, dispatched],
                )?;
            }
            for (state, at) in [("sent", old), ("dropped", old), ("sent", now), ("pending", old)] {
                c.execute(
                    "INSERT INTO alert_deliveries (public_id, rule_id, events, state, created_at,
                                                   due_at)
                     VALUES (?1, ?2, '[]', ?3, ?4, ?5)",
                    ecsp_server_mock::params![
                        uuid::Uuid::new_v4().to_string(),
                        rule,
                        state,
                        at,
                        now + 86_400_000
                    ],
                )?;
            }
            let gone = alerts::expire_old(c, now).map_err(|e| {
                ecsp_server_mock::db::StoreError::Task(e.to_string())
            })?;
            let left: (i64, i64) = c.query_row(
                "SELECT (SELECT COUNT(*) FROM alert_events), (SELECT COUNT(*) FROM alert_deliveries)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok::<_, ecsp_server_mock::db::StoreError>((gone, left))
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        (3, (2, 2)),
        "an old dispatched event and two old finished messages go"
    );
}
