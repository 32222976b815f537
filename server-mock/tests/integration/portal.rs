//! The user portal over real HTTPS: browser sessions, CSRF, the CSP, and the API's own
//! authorisation rules seen through the pages.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestServer, expect_created, rustls_client_config};

/// A browser: keeps cookies by hand (to check each one's attributes) and never follows
/// redirects (to check where each answer sends it).
pub(crate) struct Browser<'a> {
    ts: &'a TestServer,
    pub(crate) http: reqwest::Client,
    cookies: HashMap<String, String>,
    /// Every `Set-Cookie` value received, newest last.
    set_cookies: Vec<String>,
    pub(crate) accept_language: &'static str,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the hidden `csrf` field of the page's first form that has one.
    pub(crate) fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl<'a> Browser<'a> {
    pub(crate) fn new(ts: &'a TestServer) -> Self {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(rustls_client_config(
                ts.server().ca_pem.as_deref().unwrap(),
                rustls::DEFAULT_VERSIONS,
            ))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            ts,
            http,
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
            accept_language: "en-GB,en;q=0.9",
        }
    }

    pub(crate) fn cookie_header(&self) -> HeaderValue {
        let joined = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&joined).unwrap()
    }

    async fn absorb(&mut self, res: reqwest::Response) -> Page {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap().to_owned();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(v);
        }
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(self.ts.url(path))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .send()
            .await
            .unwrap();
        self.absorb(res).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(self.ts.url(path))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .form(form)
            .send()
            .await
            .unwrap();
        self.absorb(res).await
    }

    pub(crate) async fn sign_in(&mut self, who: &str) -> Page {
        let (email, password) = self.ts.password(who);
        let form = self.get("/portal/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/portal/sign-in",
            &[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("csrf", csrf.as_str()),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn sign_in_sets_a_strict_session_cookie_and_pages_forbid_scripts() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    let signed_in = b.sign_in("admin").await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/portal/devices");
    let session = b
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-ecsp_session=ecsp_ws_"))
        .expect("a session cookie")
        .clone();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }

    let page = b.get("/portal/devices").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("script-src"),
        "no script is allowed at all: {csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(!page.body.contains("<script"), "the pages have no script");
    for d in &ts.demo.devices {
        assert!(
            page.body.contains(&d.serial_number),
            "{} listed",
            d.serial_number
        );
    }
}

#[tokio::test]
async fn a_wrong_password_or_a_missing_form_token_makes_no_session() {
    let ts = TestServer::start().await;
    let (email, _) = ts.password("operator");
    let mut b = Browser::new(&ts);
    let form = b.get("/portal/sign-in").await;
    let csrf = form.csrf();
    let wrong = b
        .post(
            "/portal/sign-in",
            &[
                ("email", &email),
                ("password", "not-the-password"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("is not right"), "{}", wrong.body);

    // A sign-in posted from elsewhere carries no double-submit cookie.
    let (email, password) = ts.password("operator");
    let mut forged = Browser::new(&ts);
    let res = forged
        .post(
            "/portal/sign-in",
            &[
                ("email", &email),
                ("password", &password),
                ("csrf", "guess"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    for browser in [&b, &forged] {
        assert!(
            !browser.cookies.contains_key("__Host-ecsp_session"),
            "no session was started"
        );
    }
}

#[tokio::test]
async fn without_a_live_session_every_page_sends_the_browser_to_sign_in() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    for path in [
        "/portal/devices",
        "/portal/consent",
        &format!("/portal/devices/{}", ts.device(0)),
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/portal/sign-in");
    }
    // A made-up session cookie is no better.
    b.cookies
        .insert("__Host-ecsp_session".into(), "ecsp_ws_forged".into());
    let page = b.get("/portal/devices").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);

    // After sign-out the old cookie is dead even if a browser kept it.
    let mut b = Browser::new(&ts);
    b.sign_in("operator").await;
    let kept = b.cookies["__Host-ecsp_session"].clone();
    let page = b.get("/portal/devices").await;
    let csrf = page.csrf();
    let out = b.post("/portal/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    b.cookies.insert("__Host-ecsp_session".into(), kept);
    let page = b.get("/portal/devices").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/portal/sign-in?ended=1");
}

#[tokio::test]
async fn a_foreign_or_malformed_device_is_not_found_in_the_browser_too() {
    let ts = TestServer::start().await;
    let foreign = ts.foreign_org().await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    for path in [
        format!("/portal/devices/{}", foreign.device),
        format!("/portal/devices/{}", Uuid::new_v4()),
        "/portal/devices/not-a-uuid".to_owned(),
        "/portal/no-such-page".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("Not found"), "{path}");
        assert!(!page.body.contains("FOREIGN01"));
    }
    let list = b.get("/portal/devices").await;
    assert!(
        !list.body.contains("FOREIGN01"),
        "another organisation's device is not listed"
    );
}

#[tokio::test]
async fn consent_changes_need_the_session_csrf_token() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("operator").await;
    let token = ts.token("operator").await;
    for csrf in ["", "0000", &"a".repeat(64)] {
        let res = b
            .post(
                "/portal/consent",
                &[("csrf", csrf), ("purpose", "gps"), ("decision", "grant")],
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
    }
    // Another session's token does not work here either.
    let mut other = Browser::new(&ts);
    other.sign_in("operator").await;
    let theirs = other.get("/portal/consent").await.csrf();
    let res = b
        .post(
            "/portal/consent",
            &[("csrf", &theirs), ("purpose", "gps"), ("decision", "grant")],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["history"], json!([]), "nothing was recorded");
}

#[tokio::test]
async fn withdrawing_in_the_portal_is_what_the_api_then_holds() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("technician").await;
    let token = ts.token("technician").await;
    let granted = |overview: &Value| {
        overview["purposes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["purpose"] == "gps" && p["granted"] == true)
    };

    let page = b.get("/portal/consent").await;
    let csrf = page.csrf();
    let res = b
        .post(
            "/portal/consent",
            &[("csrf", &csrf), ("purpose", "gps"), ("decision", "grant")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    assert!(granted(&overview));

    let res = b
        .post(
            "/portal/consent",
            &[
                ("csrf", &csrf),
                ("purpose", "gps"),
                ("decision", "withdraw"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.location(), "/portal/consent?recorded=1");
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    assert!(!granted(&overview), "withdrawn");
    assert_eq!(overview["history"].as_array().unwrap().len(), 2);

    let page = b.get("/portal/consent?recorded=1").await;
    assert!(page.body.contains("Your decision was recorded."));
    assert!(page.body.contains("Withdrawn") && page.body.contains("Granted"));
    // Where each purpose stands now: withdrawn is told apart from never granted.
    let current = |body: &str, purpose: &str| {
        let section = &body[body.find(&format!("id=\"purpose-{purpose}\"")).unwrap()..];
        let strong = &section[section.find("<strong").unwrap()..];
        strong[strong.find('>').unwrap() + 1..strong.find("</strong>").unwrap()].to_owned()
    };
    assert_eq!(current(&page.body, "gps"), "Withdrawn");
    assert_eq!(current(&page.body, "photos"), "Not granted");
    b.accept_language = "ja-JP,ja;q=0.9";
    let ja = b.get("/portal/consent").await;
    assert_eq!(current(&ja.body, "gps"), "撤回");
    assert_eq!(current(&ja.body, "photos"), "未同意");
    b.accept_language = "en-GB,en;q=0.9";

    // An unknown purpose or decision is refused and records nothing.
    let res = b
        .post(
            "/portal/consent",
            &[
                ("csrf", &csrf),
                ("purpose", "location"),
                ("decision", "grant"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let overview: Value = ts
        .get(&token, "/api/v1/consents")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["history"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn sign_out_everywhere_also_ends_the_applications_tokens() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let mut b = Browser::new(&ts);
    b.sign_in("operator").await;
    let mut elsewhere = Browser::new(&ts);
    elsewhere.sign_in("operator").await;
    let csrf = b.get("/portal/devices").await.csrf();
    let res = b
        .post("/portal/sign-out-everywhere", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        ts.get(&token, "/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = elsewhere.get("/portal/devices").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the other browser is signed out"
    );
}

#[tokio::test]
async fn pages_speak_japanese_when_the_browser_asks() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.accept_language = "ja-JP,ja;q=0.9";
    let form = b.get("/portal/sign-in").await;
    assert!(form.body.contains("<html lang=\"ja\">"));
    assert!(form.body.contains("サインイン"));
    b.sign_in("admin").await;
    let page = b.get("/portal/consent").await;
    assert!(page.body.contains("ジョブ情報"), "the notice's own titles");
    // The switch is a cookie; it wins over the header.
    let res = b
        .post(
            "/portal/language",
            &[("lang", "en"), ("back", "/portal/consent")],
        )
        .await;
    assert_eq!(res.location(), "/portal/consent");
    let page = b.get("/portal/consent").await;
    assert!(page.body.contains("Job information"));
    // Never a redirect to another site.
    let res = b
        .post(
            "/portal/language",
            &[("lang", "ja"), ("back", "//evil.example/")],
        )
        .await;
    assert_eq!(res.location(), "/portal/devices");
}

/// Uploads device-data `records` as the demo agent, expecting them stored.
async fn report_device_data(ts: &TestServer, records: Value) {
    let res = ts
        .client
        .post(ts.url("/api/v1/agent/device-data"))
        .bearer_auth(&ts.demo.agent.secret)
        .json(&json!({
            "schema_version": 1,
            "agent": {"agent_id": ts.demo.agent.agent_id, "agent_type": "dc_agent", "agent_version": "5.2.0",
                      "collection_type": "scheduled", "sent_at": chrono::Utc::now()},
            "records": records
        }))
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(status, StatusCode::CREATED, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_device_page_shows_the_latest_report_and_pages_its_uploads() {
    let ts = TestServer::start().await;
    let device = &ts.demo.devices[0];
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    let records: Vec<Value> = (0..25)
        .map(|i| {
            let error = i == 24;
            json!({
                "record_id": Uuid::new_v4(),
                "captured_at": base + chrono::Duration::minutes(i),
                "device": {
                    "manufacturer": device.manufacturer, "model": device.model,
                    "serial_number": device.serial_number, "firmware_version": "AB12C3",
                    "printer_status": if error { "error" } else { "printing" },
                    "error_codes": if error { json!([{"code": "W-1301", "description": "Maintenance box nearly full"}]) } else { json!([]) },
                    "consumables": [{"kind": "ink_cartridge", "color": "cyan", "remaining_percent": 62.0 - f64::from(i as u8)}],
                    "cumulative_printing_time_s": 36_000 + i * 60
                }
            })
        })
        .collect();
    report_device_data(&ts, json!(records)).await;

    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let list = b.get("/portal/devices?state=error").await;
    assert!(
        list.body.contains(&device.serial_number),
        "listed under Error"
    );
    assert!(!list.body.contains(&ts.demo.devices[1].serial_number));

    let page = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("W-1301") && page.body.contains("Maintenance box nearly full"));
    assert!(page.body.contains("38%"), "the newest cyan level");
    assert_eq!(
        page.body.matches("<code>").count(),
        20,
        "one page of uploads"
    );
    let at = page.body.find("?before=").expect("a link to older uploads");
    let href = &page.body[page.body[..at].rfind('"').unwrap() + 1..];
    let href = &unescape(&href[..href.find('"').unwrap()]);
    let older = b.get(href.split('#').next().unwrap()).await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(older.body.matches("<code>").count(), 5, "the rest");
    assert!(
        !older.body.contains("?before="),
        "no older page after the last"
    );
}

/// The record ids a portal page links to, in order.
fn linked_records(body: &str) -> Vec<String> {
    body.match_indices("href=\"/portal/records/")
        .map(|(at, m)| body[at + m.len()..at + m.len() + 36].to_owned())
        .collect()
}

/// An attribute's value as the browser reads it (askama writes `&` as `&#38;`).
fn unescape(attribute: &str) -> String {
    attribute.replace("&#38;", "&").replace("&amp;", "&")
}

/// The "Older" link of a page, unescaped, without its fragment.
fn older_link(body: &str) -> Option<String> {
    let at = body.find("?before=")?;
    let start = body[..at].rfind('"').unwrap() + 1;
    let href = &body[start..start + body[start..].find('"').unwrap()];
    Some(unescape(href).split('#').next().unwrap().to_owned())
}

#[tokio::test]
async fn older_pages_show_every_upload_when_many_share_a_capture_time() {
    let ts = TestServer::start().await;
    let device = &ts.demo.devices[0];
    // 45 reports captured together (an agent's batch), as in the report that found 44 of 45.
    let at = chrono::Utc::now() - chrono::Duration::minutes(10);
    let records: Vec<Value> = (0..45)
        .map(|_| {
            json!({
                "record_id": Uuid::new_v4(),
                "captured_at": at,
                "device": {
                    "manufacturer": device.manufacturer, "model": device.model,
                    "serial_number": device.serial_number, "firmware_version": "AB12C3",
                    "printer_status": "idle", "error_codes": [], "consumables": []
                }
            })
        })
        .collect();
    report_device_data(&ts, json!(records)).await;
    let mut expected: Vec<String> = records
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort_by(|a, b| b.cmp(a));

    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let mut path = format!("/portal/devices/{}", device.device_id);
    let mut shown = Vec::new();
    for _ in 0..10 {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        shown.extend(linked_records(&page.body));
        match older_link(&page.body) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(shown, expected, "all 45, each once, by record id");
}

/// Reads server-sent events from `res` until one says the operation ended; returns the states
/// seen, in order.
pub(crate) async fn states_until_final(mut res: reqwest::Response) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buffer = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(chunk) = res.chunk().await.unwrap() {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let v: Value = serde_json::from_str(data).unwrap();
                    seen.push(v["state"].as_str().unwrap().to_owned());
                    if v["final"] == true {
                        return;
                    }
                }
            }
        }
    })
    .await
    .expect("the event stream ended the operation within 20 s");
    seen
}

#[tokio::test]
async fn service_support_runs_head_cleaning_and_watches_it_succeed() {
    use crate::remote::{
        agent_report, connected, demo_agent, next_command, report, subscribe_commands,
    };
    let ts = TestServer::start().await;
    let device = ts.device(0);

    // A print operator sees no operations and cannot ask for one.
    let mut operator = Browser::new(&ts);
    operator.sign_in("operator").await;
    let page = operator.get("/portal/devices").await;
    let csrf = page.csrf();
    for d in &ts.demo.devices {
        let page = operator
            .get(&format!("/portal/devices/{}", d.device_id))
            .await;
        assert!(!page.body.contains("id=\"operations\""));
    }
    let refused = operator
        .post(
            &format!("/portal/devices/{device}/operations"),
            &[("csrf", &csrf), ("kind", "head_cleaning")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let mut support = Browser::new(&ts);
    support.sign_in("support").await;
    let page = support.get(&format!("/portal/devices/{device}")).await;
    assert!(page.body.contains("id=\"operations\""), "{}", page.body);
    assert!(page.body.contains("Head cleaning"));
    let csrf = page.csrf();
    // A strong cleaning uses ink: the page asks first, naming the printer (issue 26 item 9).
    let asked = support
        .post(
            &format!("/portal/devices/{device}/operations"),
            &[
                ("csrf", &csrf),
                ("kind", "head_cleaning"),
                ("level", "strong"),
            ],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    let printer = &ts.demo.devices[0];
    assert!(
        asked.body.contains(&format!(
            "A strong cleaning of {} {} uses much more ink",
            printer.model, printer.serial_number
        )),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("name=\"confirmed\" value=\"1\""));
    let requested = support
        .post(
            &format!("/portal/devices/{device}/operations"),
            &[
                ("csrf", &csrf),
                ("kind", "head_cleaning"),
                ("level", "strong"),
                ("confirmed", "1"),
            ],
        )
        .await;
    assert_eq!(
        requested.status,
        StatusCode::SEE_OTHER,
        "{}",
        requested.body
    );
    let op_path = requested.location().to_owned();
    let op: Uuid = op_path.rsplit('/').next().unwrap().parse().unwrap();

    let page = support.get(&op_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Queued"), "{}", page.body);
    assert!(
        page.body.contains(&format!(
            "<h1>Head cleaning <span class=\"serial\">{} {}</span></h1>",
            printer.model, printer.serial_number
        )),
        "the operation page names the printer: {}",
        page.body
    );
    assert!(page.body.contains("data-operation-events"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'"),
        "the live page may run its own script: {csp}"
    );
    assert!(!csp.contains("unsafe-inline"));
    let script = support.get("/portal/static/operation.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.body.contains("EventSource"));

    // Watch it live while the agent runs it.
    let stream = support
        .http
        .get(ts.url(&format!("{op_path}/events")))
        .header("cookie", support.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let watcher = tokio::spawn(states_until_final(stream));

    let agent = ts.demo.agent.agent_id;
    let (client, mut events) = demo_agent(&ts);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let cmd = next_command(&mut events).await;
    assert_eq!(cmd.operation_id, op);
    for (state, extra) in [
        ("delivered", json!({})),
        ("in_progress", json!({"progress_percent": 40})),
        (
            "succeeded",
            json!({"result": {"kind": "head_cleaning", "level": "strong", "nozzles_ok": true,
                              "duration_s": 95, "ink_used": [{"color": "cyan", "millilitres": 0.8}]}}),
        ),
    ] {
        report(&client, &mut events, agent, agent_report(op, state, extra)).await;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    }
    let seen = watcher.await.unwrap();
    assert_eq!(seen.first().map(String::as_str), Some("queued"), "{seen:?}");
    assert!(seen.contains(&"in_progress".to_owned()), "{seen:?}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("succeeded"),
        "{seen:?}"
    );

    let page = support.get(&op_path).await;
    assert!(page.body.contains("Succeeded"));
    assert!(
        page.body.contains("All nozzles firing</th><td>Yes")
            && page.body.contains("95 s")
            && page.body.contains("Strong")
            && !page.body.contains("nozzles_ok")
            && !page.body.contains("head_cleaning</td>"),
        "the result in words: {}",
        page.body
    );
    support.accept_language = "ja-JP,ja;q=0.9";
    let ja = support.get(&op_path).await;
    assert!(
        ja.body.contains("全ノズル正常</th><td>はい") && ja.body.contains("95 秒"),
        "{}",
        ja.body
    );
    support.accept_language = "en-GB,en;q=0.9";
    assert!(
        !page.body.contains("<script"),
        "an ended operation needs no script"
    );
    let device_page = support.get(&format!("/portal/devices/{device}")).await;
    assert!(
        device_page.body.contains(&op.to_string()),
        "listed on the device page"
    );
}

#[tokio::test]
async fn a_queued_operation_can_be_cancelled_from_its_page() {
    let ts = TestServer::start().await;
    let device = ts.device(1);
    let mut support = Browser::new(&ts);
    support.sign_in("support").await;
    let csrf = support
        .get(&format!("/portal/devices/{device}"))
        .await
        .csrf();
    let requested = support
        .post(
            &format!("/portal/devices/{device}/operations"),
            &[("csrf", &csrf), ("kind", "status")],
        )
        .await;
    assert_eq!(
        requested.status,
        StatusCode::SEE_OTHER,
        "{}",
        requested.body
    );
    let op_path = requested.location().to_owned();
    let page = support.get(&op_path).await;
    let csrf = page.csrf();
    let bad = support
        .post(&format!("{op_path}/cancel"), &[("csrf", "forged")])
        .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    let cancelled = support
        .post(&format!("{op_path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    let page = support.get(&op_path).await;
    assert!(page.body.contains("Cancelled"), "{}", page.body);
    let again = support
        .post(&format!("{op_path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "cancelled once only");
}

#[tokio::test]
async fn administration_is_for_administrators_only() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("support").await;
    let devices = b.get("/portal/devices").await;
    assert!(
        !devices.body.contains("/portal/admin/"),
        "no administration link"
    );
    for path in [
        "/portal/admin/users",
        "/portal/admin/rights",
        "/portal/admin/agents",
        "/portal/admin/groups",
        "/portal/admin/audit",
        "/portal/admin/audit.csv",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    let csrf = b.get("/portal/devices").await.csrf();
    let res = b
        .post(
            "/portal/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "x@demo.ecsp.example"),
                ("name", "X"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let admins: Value = ts
        .get(&ts.token("admin").await, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !admins.to_string().contains("x@demo.ecsp.example"),
        "no user was made"
    );
}

#[tokio::test]
async fn an_administrator_adds_a_user_grants_a_device_and_reads_the_audit_log() {
    let ts = TestServer::start().await;
    let mut admin = Browser::new(&ts);
    admin.sign_in("admin").await;
    let devices = admin.get("/portal/devices").await;
    assert!(
        devices.body.contains("href=\"/portal/admin/users\""),
        "administrators find the administration from every page"
    );
    let page = admin.get("/portal/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("aria-current=\"page\">Administration"));
    let csrf = page.csrf();
    let created = admin
        .post(
            "/portal/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "new.operator@demo.ecsp.example"),
                ("name", "New Operator"),
                ("role", "user"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    // The same address again, and an address the server's rules refuse: the form comes back
    // with the reason and what was typed, and no user is made.
    for (email, status, reason) in [
        (
            "new.operator@demo.ecsp.example",
            StatusCode::CONFLICT,
            "already exists in your organisation",
        ),
        (
            "second@localhost",
            StatusCode::UNPROCESSABLE_ENTITY,
            "E-mail address: must be an e-mail address such as name@example.com",
        ),
    ] {
        let refused = admin
            .post(
                "/portal/admin/users",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("name", "Second <Operator>"),
                    ("role", "service_support"),
                ],
            )
            .await;
        assert_eq!(refused.status, status, "{}", refused.body);
        assert!(refused.body.contains(reason), "{}", refused.body);
        assert!(
            refused.body.contains(&format!("value=\"{email}\""))
                && refused.body.contains("value=\"Second &#60;Operator&#62;\"")
                && refused.body.contains("value=\"service_support\" selected"),
            "what was typed is kept (escaped): {}",
            refused.body
        );
    }
    let at = created.body.rfind("<code>").unwrap() + "<code>".len();
    let password = created.body[at..created.body[at..].find("</code>").unwrap() + at].to_owned();
    assert!(password.len() >= 16, "a generated password is shown once");

    // The new user signs in with it and, without rights, sees no device.
    let mut newcomer = Browser::new(&ts);
    let form = newcomer.get("/portal/sign-in").await;
    let csrf_in = form.csrf();
    let res = newcomer
        .post(
            "/portal/sign-in",
            &[
                ("email", "new.operator@demo.ecsp.example"),
                ("password", &password),
                ("csrf", &csrf_in),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let list = newcomer.get("/portal/devices").await;
    assert!(!list.body.contains(&ts.demo.devices[0].serial_number));

    // A right to one device, given on the rights page.
    let users: Value = ts
        .get(&ts.token("admin").await, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    let user_id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "new.operator@demo.ecsp.example")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rights = admin.get("/portal/admin/rights").await;
    let device = ts.demo.devices[0].device_id.to_string();
    let res = admin
        .post(
            "/portal/admin/rights",
            &[
                ("csrf", &rights.csrf()),
                ("action", "grant"),
                ("user", &user_id),
                ("device", &device),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let list = newcomer.get("/portal/devices").await;
    assert!(list.body.contains(&ts.demo.devices[0].serial_number));
    assert!(!list.body.contains(&ts.demo.devices[1].serial_number));

    // The audit log shows it, filtered, paged and exported.
    let log = admin
        .get("/portal/admin/audit?action=admin.device&outcome=success")
        .await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(log.body.contains("admin.device.grant"), "{}", log.body);
    assert!(
        log.body.contains("Granted a device right"),
        "the action in words: {}",
        log.body
    );
    assert!(!log.body.contains("portal.sign_in"), "filtered by action");
    let csv = admin
        .get("/portal/admin/audit.csv?action=portal.sign_in")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv
        .body
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark, for spreadsheet programs");
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("seq,at,actor,action,object,outcome"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 2, "two sign-ins: {rows:?}");
    assert!(rows.iter().all(|r| r.contains(",portal.sign_in,")));
    assert!(
        !csv.body.contains("new.operator@"),
        "ids only, no e-mail addresses"
    );

    // An agent enrolled here shows its secret once and is listed by its label.
    let agents = admin.get("/portal/admin/agents").await;
    let res = admin
        .post(
            "/portal/admin/agents",
            &[
                ("csrf", &agents.csrf()),
                ("label", "Print room PC"),
                ("agent_type", "dc_agent"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert!(res.body.contains("ecsp_ag_"), "the secret, once");
    let agents = admin.get("/portal/admin/agents").await;
    assert!(agents.body.contains("Print room PC"));
    assert!(!agents.body.contains("ecsp_ag_"), "never again");
}

#[tokio::test]
async fn dfe_uploads_show_job_information_only_where_given_and_export_it() {
    use crate::common::{dfe_record, dfe_upload, grant_consent};
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let without = dfe_record(device, None);
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![without.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    grant_consent(&ts, &token, "job_info", "granted").await;
    let job = json!({"job_id": "J-1001", "job_name": "=cmd|' /C calc'!A0", "user_name": "yamada",
                     "document_name": "poster.pdf", "copies": 2, "pages": 4});
    let with = dfe_record(device, Some(job));
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![with.clone()]),
        )
        .await;
    expect_created(res).await;

    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let page = b
        .get(&format!(
            "/portal/records/{}",
            with["record_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Job information (given with consent)"));
    assert!(page.body.contains("poster.pdf") && page.body.contains("Fiery XF"));
    let page = b
        .get(&format!(
            "/portal/records/{}",
            without["record_id"].as_str().unwrap()
        ))
        .await;
    assert!(page.body.contains("No job information"));
    assert!(page.body.contains("Proof 720"), "the print settings");
    let foreign = b.get(&format!("/portal/records/{}", Uuid::new_v4())).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);

    let csv = b.get(&format!("/portal/devices/{device}/jobs.csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "a header and the one record with a job: {lines:?}"
    );
    assert!(lines[1].contains("J-1001") && lines[1].contains("yamada"));
    assert!(
        lines[1].contains("'=cmd"),
        "a formula is defused: {}",
        lines[1]
    );
}

#[tokio::test]
async fn a_user_downloads_the_personal_data_the_server_holds() {
    let ts = TestServer::start().await;
    let mut b = Browser::new(&ts);
    b.sign_in("technician").await;
    let csrf = b.get("/portal/consent").await.csrf();
    b.post(
        "/portal/consent",
        &[
            ("csrf", &csrf),
            ("purpose", "photos"),
            ("decision", "refuse"),
        ],
    )
    .await;
    let res = b.get("/portal/me/data.json").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(
        res.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let data: Value = serde_json::from_str(&res.body).unwrap();
    let (email, _) = ts.password("technician");
    assert_eq!(data["account"]["email"], email.as_str());
    assert_eq!(data["consent"]["history"][0]["purpose"], "photos");
    assert_eq!(data["consent"]["history"][0]["decision"], "refused");
    let anonymous = Browser::new(&ts).get("/portal/me/data.json").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
}

/// Reads a response as JSON after checking its status (with the body in the message if not).
async fn json_with(res: reqwest::Response, status: StatusCode) -> Value {
    let got = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn put_group(ts: &TestServer, token: &str, device: Uuid, body: Value) -> reqwest::Response {
    let path = format!("/api/v1/admin/devices/{device}/group");
    ts.call(reqwest::Method::PUT, Some(token), &path, Some(&body))
        .await
}

#[tokio::test]
async fn device_groups_filter_the_fleet_and_only_administrators_change_them() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;

    // The API: an admin makes groups; names are unique ignoring case; others may not.
    let osaka = json_with(
        ts.post(
            &admin,
            "/api/v1/admin/groups",
            &json!({"name": "Osaka plant"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let osaka_id = Uuid::parse_str(osaka["group_id"].as_str().unwrap()).unwrap();
    crate::common::expect_problem(
        ts.post(
            &admin,
            "/api/v1/admin/groups",
            &json!({"name": "  osaka PLANT "}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let operator = ts.token("operator").await;
    let refused = ts
        .post(&operator, "/api/v1/admin/groups", &json!({"name": "Mine"}))
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let view = json_with(
        put_group(&ts, &admin, ts.device(0), json!({"group_id": osaka_id})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["group_id"], json!(osaka_id));

    // Another organisation's device is unknown; its group cannot be used here.
    let foreign = ts.foreign_org().await;
    let res = put_group(&ts, &admin, foreign.device, json!({"group_id": osaka_id})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let theirs = json_with(
        ts.post(
            &foreign.token,
            "/api/v1/admin/groups",
            &json!({"name": "Osaka plant"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let res = put_group(
        &ts,
        &admin,
        ts.device(1),
        json!({"group_id": theirs["group_id"]}),
    )
    .await;
    // Another organisation's group names nothing here: not found, like an unknown id.
    let problem = crate::common::expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(problem["errors"][0]["field"], "group_id", "{problem}");
    let listed = json_with(
        ts.get(&foreign.token, "/api/v1/groups").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed[0]["devices"],
        json!(0),
        "their group holds none of ours"
    );

    // A user sees the group with the count of the devices they may see in it.
    let technician = ts.token("technician").await;
    let listed = json_with(ts.get(&technician, "/api/v1/groups").await, StatusCode::OK).await;
    assert_eq!(
        listed,
        json!([{"group_id": osaka_id, "name": "Osaka plant", "devices": 1}])
    );

    // The portal filters by it; a stale group id shows nothing rather than everything.
    let mut b = Browser::new(&ts);
    b.sign_in("technician").await;
    let page = b.get(&format!("/portal/devices?group={osaka_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&ts.demo.devices[0].serial_number));
    assert!(!page.body.contains(&ts.demo.devices[2].serial_number));
    assert!(page.body.contains("Osaka plant"));
    let stale = b
        .get(&format!("/portal/devices?group={}", Uuid::new_v4()))
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert!(!stale.body.contains(&ts.demo.devices[0].serial_number));

    // The administration page: create, file a device, delete (its devices stay, ungrouped).
    let mut a = Browser::new(&ts);
    a.sign_in("admin").await;
    let page = a.get("/portal/admin/groups").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let made = a
        .post(
            "/portal/admin/groups",
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("name", "Kyoto <shop>"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER);
    let groups = json_with(ts.get(&admin, "/api/v1/groups").await, StatusCode::OK).await;
    let kyoto = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Kyoto <shop>")
        .expect("made through the page")["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same name again, from a Japanese browser: refused, and said in Japanese.
    a.accept_language = "ja,en;q=0.5";
    let again = a
        .post(
            "/portal/admin/groups",
            &[
                ("csrf", &csrf),
                ("action", "create"),
                ("name", "KYOTO <SHOP>"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again
            .body
            .contains("この名前のデバイスグループは既にあります"),
        "{}",
        again.body
    );
    a.accept_language = "en-GB,en;q=0.9";
    let page = a.get("/portal/admin/groups").await;
    assert!(
        page.body.contains("Kyoto &#60;shop&#62;") && !page.body.contains("<shop>"),
        "names are escaped"
    );
    let device2 = ts.device(2).to_string();
    let filed = a
        .post(
            "/portal/admin/groups/assign",
            &[("csrf", &csrf), ("device", &device2), ("group", &kyoto)],
        )
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER);
    let view = json_with(
        ts.get(&admin, &format!("/api/v1/devices/{device2}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(view["group_id"].as_str(), Some(kyoto.as_str()));
    let forged = a
        .post(
            "/portal/admin/groups",
            &[("csrf", "forged"), ("action", "delete"), ("group", &kyoto)],
        )
        .await;
    assert_ne!(
        forged.status,
        StatusCode::SEE_OTHER,
        "no change without the form token"
    );
    // Deleting asks first (issue 26 item 9), naming the group, and changes nothing until then.
    let asked = a
        .post(
            "/portal/admin/groups",
            &[("csrf", &csrf), ("action", "delete"), ("group", &kyoto)],
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked
            .body
            .contains("Delete the group “Kyoto &#60;shop&#62;”?"),
        "{}",
        asked.body
    );
    assert!(asked.body.contains("name=\"confirmed\" value=\"1\""));
    a.accept_language = "ja-JP,ja;q=0.9";
    let asked_ja = a
        .post(
            "/portal/admin/groups",
            &[("csrf", &csrf), ("action", "delete"), ("group", &kyoto)],
        )
        .await;
    assert!(
        asked_ja
            .body
            .contains("グループ「Kyoto &#60;shop&#62;」を削除しますか？")
    );
    a.accept_language = "en-GB,en;q=0.9";
    let still = json_with(
        ts.get(&admin, &format!("/api/v1/devices/{device2}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        still["group_id"].as_str(),
        Some(kyoto.as_str()),
        "not yet deleted"
    );
    let deleted = a
        .post(
            "/portal/admin/groups",
            &[
                ("csrf", &csrf),
                ("action", "delete"),
                ("group", &kyoto),
                ("confirmed", "1"),
            ],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let view = json_with(
        ts.get(&admin, &format!("/api/v1/devices/{device2}")).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        view.get("group_id").is_none(),
        "ungrouped, still there: {view}"
    );
    let res = ts
        .call(
            reqwest::Method::DELETE,
            Some(&admin),
            &format!("/api/v1/admin/groups/{kyoto}"),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "gone");
}

#[tokio::test]
async fn a_device_page_shows_errors_and_warnings_with_their_history() {
    let ts = TestServer::start().await;
    let device = &ts.demo.devices[0];
    let base = chrono::Utc::now() - chrono::Duration::hours(2);
    let at = |m: i64| base + chrono::Duration::minutes(m);
    // Three reports: a jam (untimed) active in the first two, cleared in the third; the device's
    // own log, repeated in each report, with an ink warning and a cover error that is active at
    // the end.
    let report = |m: i64, jam: bool, cover: bool| {
        let mut errors = Vec::new();
        if jam {
            errors.push(json!({"code": "paper_jam", "description": "Paper jam in tray 2"}));
        }
        if cover {
            errors.push(json!({"code": "error.cover_open", "description": "Cover open", "occurred_at": at(30)}));
        }
        json!({
            "record_id": Uuid::new_v4(),
            "captured_at": at(m),
            "device": {
                "manufacturer": device.manufacturer, "model": device.model,
                "serial_number": device.serial_number, "firmware_version": "AB12C3",
                "printer_status": if cover { "error" } else { "idle" },
                "error_codes": errors,
                "status_history": [
                    {"code": "warning.ink_low.cyan", "description": "Ink level below 10 %", "occurred_at": at(5)},
                    {"code": "error.cover_open", "description": "Cover open", "occurred_at": at(30)}
                ]
            }
        })
    };
    report_device_data(
        &ts,
        json!([
            report(10, true, false),
            report(20, true, false),
            report(40, false, true)
        ]),
    )
    .await;

    let mut b = Browser::new(&ts);
    b.sign_in("operator").await;
    let page = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let history = &page.body[page.body.find("Event history").expect("a history section")..];
    let history = &history[..history.find("</table>").expect("a history table")];
    let rows: Vec<&str> = history.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 3, "jam once, cover once, ink once: {history}");
    assert!(rows[0].contains("error.cover_open") && rows[0].contains("Active now"));
    assert!(
        rows[1].contains("paper_jam") && !rows[1].contains("Active now"),
        "cleared"
    );
    assert!(rows[2].contains("warning.ink_low.cyan") && rows[2].contains("severity-warning"));
}

/// Device data from the PC application (a DFE's report of a press down with a paper jam) is
/// the device's state on its page like an agent's report, without a firmware it does not name.
#[tokio::test]
async fn a_device_page_shows_the_state_a_dfe_reported() {
    let ts = TestServer::start().await;
    let device = ts.device(0);
    let token = ts.token("operator").await;
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/device-data",
            &json!({"schema_version": 1, "records": [{
                "record_id": Uuid::new_v4(),
                "captured_at": chrono::Utc::now() - chrono::Duration::minutes(5),
                "device_id": device,
                "software": {"name": "CDMService", "version": "2.0.0"},
                "printer_status": "down",
                "error_codes": [{"code": "PaperJam", "description": "Error"}]
            }]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let mut b = Browser::new(&ts);
    b.sign_in("operator").await;
    let page = b.get(&format!("/portal/devices/{device}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<dd>down</dd>"), "{}", page.body);
    let history = &page.body[page.body.find("Event history").expect("a history section")..];
    assert!(history.contains("PaperJam"), "{history}");
    assert!(!page.body.contains("<dd></dd>"), "no empty firmware");
}

/// A measurement of a three-patch strip on `device`, `minutes_ago` minutes back, its spectra
/// scaled by `scale` (a printer drifting lighter or darker); one patch is named as markup.
fn strip_measurement(device: Uuid, minutes_ago: i64, scale: f64) -> Value {
    let mut r = crate::common::measurement_record(device, false, false);
    r["captured_at"] = json!(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago));
    let condition = r["samples"][0]["condition"].clone();
    let spectrum = |f: &dyn Fn(f64) -> f64| {
        let values: Vec<f64> = (0..36)
            .map(|i| (f(380.0 + 10.0 * f64::from(i)) * scale).clamp(0.01, 1.0))
            .collect();
        json!({"start_nm": 380, "interval_nm": 10, "values": values})
    };
    r["samples"] = json!([
        {"patch": "Cyan 100", "condition": condition,
         "spectrum": spectrum(&|nm| if nm < 520.0 { 0.55 } else { 0.06 })},
        {"patch": "Magenta 100", "condition": condition,
         "spectrum": spectrum(&|nm| if (480.0..600.0).contains(&nm) { 0.05 } else { 0.7 })},
        {"patch": "<script>alert(1)</script>", "condition": condition,
         "spectrum": spectrum(&|nm| 0.85 - (nm - 380.0) / 3000.0)},
    ]);
    r
}

/// Mean ΔE00 of `sample` against `reference`, patches paired by name, as the page states it.
fn mean_delta_e00(reference: &Value, sample: &Value) -> String {
    use ecsp_color::tolerance::{CompareOptions, Matching, ToleranceSet, compare};
    let chart = |v: &Value| {
        ecsp_color::samples::dataset_of(&serde_json::from_value(v.clone()).unwrap()).unwrap()
    };
    let report = compare(
        &chart(reference),
        &chart(sample),
        &ToleranceSet::default_for(ecsp_color::delta_e::DeltaE::DE2000),
        CompareOptions {
            matching: Matching::Id,
            ..CompareOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.patches.len(), 3);
    format!("{:.2}", report.mean)
}

/// A 1,617-patch chart (an IT8.7/4-sized one) measured on `device`, `minutes_ago` minutes back,
/// its inks `drift` lighter.
fn large_chart(device: Uuid, minutes_ago: i64, drift: f64) -> Value {
    let mut r = crate::common::measurement_record(device, false, false);
    r["captured_at"] = json!(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago));
    let condition = r["samples"][0]["condition"].clone();
    r["samples"] = (0..1617)
        .map(|p| {
            let centre = 420.0 + f64::from(p * 37 % 300);
            let depth = 0.2 + f64::from(p * 13 % 70) / 100.0;
            let values: Vec<f64> = (0..36)
                .map(|i| {
                    let nm = 380.0 + 10.0 * f64::from(i);
                    let ink = depth / (1.0 + ((nm - centre) / 25.0).powi(2));
                    ((0.9 - ink) * (1.0 - drift * f64::from(p % 7)) + drift * 0.5).clamp(0.02, 1.0)
                })
                .collect();
            json!({"patch": format!("P{p:04}"), "condition": condition,
                   "spectrum": {"start_nm": 380, "interval_nm": 10, "values": values}})
        })
        .collect();
    r
}

#[tokio::test]
async fn a_large_chart_page_draws_the_worst_patches_lists_every_sample_and_stays_small() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let (first, newest) = (large_chart(device, 600, 0.0), large_chart(device, 60, 0.01));
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(vec![first, newest.clone()]),
        )
        .await;
    expect_created(res).await;
    let path = format!("/portal/records/{}", newest["record_id"].as_str().unwrap());
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    for (lang, band) in [
        ("en-GB,en;q=0.9", "range of all patches (1617)"),
        ("ja", "全パッチの範囲 (1617)"),
    ] {
        b.accept_language = lang;
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.len() < 200_000,
            "{lang}: {} bytes",
            page.body.len()
        );
        // Every sample is listed: 1,617 rows of the samples table.
        let first_row = page
            .body
            .find("<tr><td>P0000<td>")
            .expect("the samples table");
        let samples = &page.body[page.body[..first_row].rfind("<tbody>").unwrap()..];
        let samples = &samples[..samples.find("</tbody>").unwrap()];
        assert_eq!(samples.matches("<tr>").count(), 1617, "{lang}");
        assert!(samples.contains("<td>P1616<td>"), "{lang}");
        // The spectra of the worst 16 patches, in front of the band of all of them.
        let spectra = &page.body[page
            .body
            .find("aria-labelledby=\"spectra-caption\"")
            .unwrap()..];
        let spectra = &spectra[..spectra.find("</svg>").unwrap()];
        assert!(spectra.contains(band), "{lang}: the band is in the legend");
        assert!(spectra.contains("<polygon"), "{lang}: the band is drawn");
        assert!(
            !spectra.contains("opacity=\"1\""),
            "{lang}: SVG defaults left out"
        );
        assert!(
            page.body.contains(" 16 / 1617"),
            "{lang}: the spectra caption says how many"
        );
        // The a*b* diagram draws the 48 worst, and says so.
        assert!(
            page.body.contains(" 48 / 1617"),
            "{lang}: the a*b* caption says how many"
        );
    }
}

#[tokio::test]
async fn a_measurement_page_plots_it_against_the_newest_earlier_comparable_measurement() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let first = strip_measurement(device, 300, 1.0);
    let middle = strip_measurement(device, 200, 0.97);
    let newest = strip_measurement(device, 100, 0.92);
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(vec![newest.clone(), first.clone(), middle.clone()]),
        )
        .await;
    expect_created(res).await;
    let id = |r: &Value| r["record_id"].as_str().unwrap().to_owned();

    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let page = b.get(&format!("/portal/records/{}", id(&newest))).await;
    assert_eq!(page.status, StatusCode::OK);
    for caption in [
        "spectra-caption",
        "bars-caption",
        "ab-caption",
        "trend-caption",
    ] {
        assert!(
            page.body.contains(&format!(
                "<svg class=\"plot\" role=\"img\" aria-labelledby=\"{caption}\""
            )),
            "the {caption} plot is inline SVG named by its caption"
        );
        assert!(page.body.contains(&format!("id=\"{caption}\"")));
    }
    assert_eq!(page.body.matches("</svg>").count(), 4);
    // The patch named as markup is text in the plots and tables, never an element.
    assert!(!page.body.contains("<script"), "markup from a patch name");
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        page.body.contains("Wavelength (nm)")
            && page.body.contains("Reflectance factor")
            && page.body.contains("a* (CIELAB)"),
        "axes with quantities and units"
    );
    // Against the device's newest earlier comparable measurement by default (issue 26 item 8),
    // with the statistics the plots show.
    assert!(
        page.body
            .contains(&format!("<dd><a href=\"/portal/records/{}\">", id(&middle)))
            && page
                .body
                .contains("(the device&#39;s newest earlier comparable measurement)"),
        "the default reference is named"
    );
    let expected = mean_delta_e00(&middle, &newest);
    assert!(
        page.body
            .contains(&format!("<dt>Mean ΔE00</dt><dd>{expected}</dd>")),
        "mean ΔE00 {expected} against the measurement before"
    );
    assert!(expected.parse::<f64>().unwrap() > 1.0, "a visible drift");
    // The trend has a row for each of the three measurements, this one marked.
    for r in [&first, &middle, &newest] {
        assert!(
            page.body.contains(&format!(
                "/portal/records/{}?reference={}",
                id(r),
                id(&middle)
            )),
            "trend row for {}",
            id(r)
        );
    }
    assert!(page.body.contains("aria-current=\"page\"><time"));

    // Another reference, chosen on the page.
    let against_middle = b
        .get(&format!(
            "/portal/records/{}?reference={}",
            id(&newest),
            id(&first)
        ))
        .await;
    assert_eq!(against_middle.status, StatusCode::OK);
    let expected = mean_delta_e00(&first, &newest);
    assert!(
        against_middle
            .body
            .contains(&format!("<dt>Mean ΔE00</dt><dd>{expected}</dd>")),
        "mean ΔE00 {expected} against the chosen reference"
    );
    assert!(
        against_middle
            .body
            .contains(&format!("<option value=\"{}\" selected>", id(&first)))
    );

    // The reference's own page says so instead of drawing zeros.
    let own = b.get(&format!("/portal/records/{}", id(&first))).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body.contains("This measurement is the reference"));
    assert!(!own.body.contains("aria-labelledby=\"bars-caption\""));
    assert!(own.body.contains("aria-labelledby=\"trend-caption\""));

    // Japanese captions and tables; the same plots.
    b.accept_language = "ja";
    let ja = b.get(&format!("/portal/records/{}", id(&newest))).await;
    assert!(ja.body.contains("基準との色差") && ja.body.contains("分光反射率"));
    assert!(
        ja.body.contains("波長 (nm)") && ja.body.contains("測定日時 (UTC)"),
        "the plots' axes in Japanese"
    );
    assert_eq!(ja.body.matches("</svg>").count(), 4);
    b.accept_language = "en-GB,en;q=0.9";

    // The samples carry spectra only: their CIELAB is computed, and the page says for what.
    assert!(
        page.body
            .contains("L*a*b* computed from the spectrum (D50, 2° observer)")
    );

    // A measurement under another condition (M2) cannot be compared: its page says why, and
    // the trend leaves it out and says so.
    let mut other = strip_measurement(device, 50, 1.0);
    for s in other["samples"].as_array_mut().unwrap() {
        s["condition"]["illumination"] = json!("M2");
    }
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(vec![other.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m2 = b.get(&format!("/portal/records/{}", id(&other))).await;
    assert_eq!(m2.status, StatusCode::OK);
    assert!(
        m2.body
            .contains("This measurement cannot be compared with the reference:")
            && m2.body.contains("measurement condition"),
        "the reason is given"
    );
    assert!(!m2.body.contains("aria-labelledby=\"bars-caption\""));
    assert!(m2.body.contains("aria-labelledby=\"spectra-caption\""));
    let trend = b.get(&format!("/portal/records/{}", id(&newest))).await;
    assert!(
        trend
            .body
            .contains("no patch in common with the reference): 1</p>"),
        "one measurement left out of the trend"
    );

    // What the user may not see, or what is not a measurement, is not found as a reference.
    let foreign = ts.foreign_org().await;
    let theirs = crate::common::measurement_record(foreign.device, false, false);
    let res = ts
        .post(
            &foreign.token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(vec![theirs.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dfe = crate::common::dfe_record(device, None);
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/dfe",
            &crate::common::dfe_upload(vec![dfe.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for path in [
        format!("/portal/records/{}", id(&theirs)),
        format!("/portal/records/{}?reference={}", id(&newest), id(&theirs)),
        format!("/portal/records/{}?reference={}", id(&newest), id(&dfe)),
        format!(
            "/portal/records/{}?reference={}",
            id(&newest),
            Uuid::new_v4()
        ),
        format!("/portal/records/{}?reference=not-a-uuid", id(&newest)),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("</svg>"), "{path}");
    }
}

#[tokio::test]
async fn a_devices_measurements_are_listed_newest_first_a_page_at_a_time() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let records: Vec<Value> = (0..25)
        .map(|i| strip_measurement(device, 10 * (25 - i), 1.0))
        .collect();
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(records.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let device_page = b.get(&format!("/portal/devices/{device}")).await;
    assert!(
        device_page
            .body
            .contains(&format!("href=\"/portal/devices/{device}/measurements\"")),
        "the device page links to its measurements"
    );
    let list = b
        .get(&format!("/portal/devices/{device}/measurements"))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let shown = |body: &str| -> Vec<String> {
        body.match_indices("href=\"/portal/records/")
            .map(|(at, m)| body[at + m.len()..at + m.len() + 36].to_owned())
            .collect()
    };
    let newest_first: Vec<String> = records
        .iter()
        .rev()
        .map(|r| r["record_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shown(&list.body),
        newest_first[..20],
        "one page, newest first"
    );
    assert!(list.body.contains("FOGRA51") && list.body.contains("i1Pro3 1234567"));
    let at = list
        .body
        .find("?before=")
        .expect("a link to older measurements");
    let start = list.body[..at].rfind('"').unwrap() + 1;
    let href = &list.body[start..start + list.body[start..].find('"').unwrap()];
    let older = b.get(&unescape(href)).await;
    assert_eq!(older.status, StatusCode::OK);
    assert_eq!(shown(&older.body), newest_first[20..], "the rest");
    assert!(!older.body.contains("?before="), "no page after the last");

    let foreign = ts.foreign_org().await;
    for path in [
        format!("/portal/devices/{}/measurements", foreign.device),
        format!("/portal/devices/{}/measurements", Uuid::new_v4()),
        "/portal/devices/not-a-uuid/measurements".to_owned(),
    ] {
        assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// Item 6 of issue 26: what a device reports is named in words with its unit, in both
/// languages; a vendor's own key is shown as reported and marked so.
#[tokio::test]
async fn reported_fields_consumables_and_counters_are_words_with_units() {
    let ts = TestServer::start().await;
    let device = &ts.demo.devices[0];
    let record_id = Uuid::new_v4();
    report_device_data(
        &ts,
        json!([{
            "record_id": record_id,
            "captured_at": chrono::Utc::now() - chrono::Duration::minutes(5),
            "device": {
                "manufacturer": device.manufacturer, "model": device.model,
                "serial_number": device.serial_number, "firmware_version": "AB12C3",
                "printer_status": "printing",
                "consumables": [{"kind": "ink_cartridge", "color": "vivid_light_magenta", "remaining_percent": 40.0},
                                {"kind": "ink_cartridge", "color": "neon_pink", "remaining_percent": 70.0}],
                "cumulative_ink_usage": [{"color": "cyan", "millilitres": 1234.5}],
                "cumulative_printing_time_s": 277_929,
                "printer_settings": {"heater_temp_c": 40}
            }
        }]),
    )
    .await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let page = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    assert!(page.body.contains("Ink cartridge"), "{}", page.body);
    assert!(page.body.contains("Vivid light magenta"));
    assert!(!page.body.contains("vivid_light_magenta") && !page.body.contains("ink_cartridge"));
    assert!(
        page.body.contains("neon_pink (as reported)"),
        "an unknown colour kept, marked"
    );
    assert!(page.body.contains("Ink used (ml) — Cyan"));
    assert!(
        page.body.contains("<dd>Printing</dd>"),
        "the printer's status in words"
    );

    let record = b.get(&format!("/portal/records/{record_id}")).await;
    assert_eq!(record.status, StatusCode::OK);
    assert!(
        record
            .body
            .contains("Printing time since manufacture</th><td>77.2 h"),
        "{}",
        record.body
    );
    assert!(
        record
            .body
            .contains("Consumables › Ink cartridge — Vivid light magenta</th><td>40 %")
    );
    assert!(record.body.contains("Printer status</th><td>Printing"));
    assert!(
        record.body.contains(
            "Printer settings › heater_temp_c <span class=\"vendor-field\">(vendor field)</span>"
        ),
        "a vendor key as reported, marked: {}",
        record.body
    );
    assert!(
        !record.body.contains("cumulative_printing_time_s") && !record.body.contains("device.")
    );

    b.accept_language = "ja-JP,ja;q=0.9";
    let page = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    assert!(
        page.body.contains("インクカートリッジ") && page.body.contains("ビビッドライトマゼンタ")
    );
    assert!(page.body.contains("<dd>印刷中</dd>"));
    assert!(
        page.body.contains("neon_pink（報告どおり）")
            || page.body.contains("neon_pink (報告どおり)")
    );
    let record = b.get(&format!("/portal/records/{record_id}")).await;
    assert!(
        record.body.contains("累計印刷時間</th><td>77.2 時間"),
        "{}",
        record.body
    );
    assert!(record.body.contains("(ベンダー固有の項目)"));
}

/// Item 7 of issue 26: the audit log names who acted, hides page views until asked, and keeps
/// the outcome on one line in Japanese.
#[tokio::test]
async fn the_audit_log_names_actors_and_hides_page_views_by_default() {
    let ts = TestServer::start().await;
    let mut admin = Browser::new(&ts);
    admin.sign_in("admin").await;
    admin.get("/portal/devices").await;
    admin.get("/portal/admin/audit").await;

    let log = admin.get("/portal/admin/audit").await;
    assert_eq!(log.status, StatusCode::OK);
    assert!(
        log.body
            .contains("<td class=\"actor\">Demo Admin &#60;admin@demo.ecsp.example&#62;</td>"),
        "the actor by name and e-mail: {}",
        log.body
    );
    assert!(
        !log.body.contains("user:"),
        "no user:UUID, as actor or object"
    );
    assert!(log.body.contains("Signed in to the portal"));
    assert!(
        !log.body.contains("portal.devices.read"),
        "page views hidden by default: {}",
        log.body
    );
    let all = admin.get("/portal/admin/audit?reads=1").await;
    assert!(
        all.body.contains("Viewed the device list") && all.body.contains("portal.devices.read")
    );
    assert!(all.body.contains("name=\"reads\" value=\"1\" checked"));
    assert!(
        all.body.contains("reads=1"),
        "kept across pages and the export"
    );

    // Agents by their label and printers by model and serial number, not by id.
    let d = ts.demo.devices[0].clone();
    let report = json!({
        "schema_version": 1,
        "agent": {"agent_id": ts.demo.agent.agent_id, "agent_type": "dc_agent", "agent_version": "5.2",
                  "collection_type": "scheduled", "sent_at": chrono::Utc::now(), "pc_hostname": "PRINTROOM-PC",
                  "os": "Windows", "os_version": "11"},
        "records": [{"record_id": uuid::Uuid::new_v4(), "captured_at": chrono::Utc::now(),
                     "device": {"manufacturer": d.manufacturer, "model": d.model, "serial_number": d.serial_number,
                                "firmware_version": "AB12", "printer_status": "idle"}}]
    });
    let res = ts
        .post(&ts.demo.agent.secret, "/api/v1/agent/device-data", &report)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    admin.get(&format!("/portal/devices/{}", d.device_id)).await;
    let named = admin.get("/portal/admin/audit?reads=1").await;
    assert!(
        named.body.contains("Agent Demo DC Agent"),
        "the agent by its label: {}",
        named.body
    );
    assert!(
        named.body.contains(&format!(
            "{} {} ({})",
            d.manufacturer, d.model, d.serial_number
        )),
        "the printer by model and serial number: {}",
        named.body
    );
    assert!(
        !named
            .body
            .contains(&format!("agent:{}", ts.demo.agent.agent_id))
            && !named.body.contains(&format!("device:{}", d.device_id)),
        "no agent or printer by id"
    );
    // Records and operations by their kind and printer; nothing in the object and actor
    // columns by id, also what is gone (a user deleted after acting).
    let support = ts.token("support").await;
    let res = ts
        .post(
            &support,
            "/api/v1/operations",
            &json!({"device_id": d.device_id, "kind": "status"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let objects = admin.get("/portal/admin/audit?reads=1").await;
    let cells: Vec<&str> = ["<td class=\"object\">", "<td class=\"actor\">"]
        .iter()
        .flat_map(|open| objects.body.split(open).skip(1))
        .map(|rest| rest.split("</td>").next().unwrap())
        .collect();
    assert!(cells.len() > 10, "{}", objects.body);
    for cell in &cells {
        let has_uuid = (0..cell.len().saturating_sub(35)).any(|i| {
            cell.get(i..i + 36)
                .is_some_and(|w| uuid::Uuid::parse_str(w).is_ok())
        });
        assert!(!has_uuid, "an id shown: {cell}");
    }
    let printer = format!("{} {} ({})", d.manufacturer, d.model, d.serial_number);
    assert!(
        cells
            .iter()
            .any(|c| c.starts_with("Device data: ") && c.contains(&printer)),
        "the record by kind and printer: {cells:?}"
    );
    assert!(
        cells.contains(&format!("{printer} (Status and counters)").as_str()),
        "the operation requested, by printer and kind: {cells:?}"
    );

    // Times in UTC until the viewer chooses a zone in their settings; then in that zone.
    assert!(log.body.contains(" UTC</time>"), "{}", log.body);
    let settings = admin.get("/portal/settings").await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("<option value=\"UTC\" selected>"));
    assert!(settings.body.contains("<option value=\"Asia/Tokyo\">"));
    let refused = admin
        .post(
            "/portal/settings",
            &[("csrf", &settings.csrf()), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_ne!(refused.status, StatusCode::SEE_OTHER, "only real zones");
    let saved = admin
        .post(
            "/portal/settings",
            &[("csrf", &settings.csrf()), ("time_zone", "Asia/Tokyo")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let tokyo = admin.get("/portal/admin/audit").await;
    assert!(
        tokyo.body.contains(" JST</time>") && !tokyo.body.contains(" UTC</time>"),
        "{}",
        tokyo.body
    );
    // Every page's times, not the audit log's only (issue 26, item 7): the agents' too.
    let agents = admin.get("/portal/admin/agents").await;
    assert!(
        agents.body.contains(" JST") && !agents.body.contains(" UTC"),
        "{}",
        agents.body
    );

    admin.accept_language = "ja-JP,ja;q=0.9";
    let ja = admin.get("/portal/admin/audit").await;
    assert!(
        ja.body.contains("ポータルへのサインイン")
            && ja.body.contains("ページの表示と一覧の閲覧も表示")
    );
    assert!(
        ja.body
            .contains("<td class=\"outcome outcome-success\">成功</td>")
    );
    let css = admin.get("/portal/static/portal.css").await;
    assert!(
        css.body.contains("table.audit td.outcome") && css.body.contains("white-space: nowrap"),
        "the outcome column never wraps a character per line"
    );
}

/// Item 8 of issue 26: where two charts name their patches differently the page offers to pair
/// them by position, says why it cannot compare in the page's language, and draws no trend of
/// one point.
#[tokio::test]
async fn a_measurement_with_other_patch_ids_is_offered_pairing_by_position() {
    let ts = TestServer::start().await;
    let token = ts.token("admin").await;
    let device = ts.device(0);
    let before = strip_measurement(device, 200, 1.0);
    let mut renamed = strip_measurement(device, 100, 0.95);
    for (i, s) in renamed["samples"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        s["patch"] = json!(format!("P{}", i + 1));
    }
    let res = ts
        .post(
            &token,
            "/api/v1/uploads/measurements",
            &crate::common::measurement_upload(vec![before.clone(), renamed.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = |r: &Value| r["record_id"].as_str().unwrap().to_owned();
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;

    let page = b.get(&format!("/portal/records/{}", id(&renamed))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("No patch id is in both measurements"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("name=\"match\" value=\"position\""),
        "pairing by position offered"
    );
    assert!(!page.body.contains("aria-labelledby=\"bars-caption\""));
    // Only the reference itself compares with the reference: one point is no trend.
    assert!(!page.body.contains("aria-labelledby=\"trend-caption\""));
    assert!(page.body.contains("a trend is drawn from two"));

    b.accept_language = "ja-JP,ja;q=0.9";
    let ja = b.get(&format!("/portal/records/{}", id(&renamed))).await;
    assert!(
        ja.body
            .contains("両方の測定に共通するパッチ ID がありません"),
        "{}",
        ja.body
    );
    assert!(ja.body.contains("位置でパッチを対応付ける"));
    assert!(
        !ja.body.contains("no patch of the sample matches"),
        "the refusal in Japanese"
    );

    let paired = b
        .get(&format!("/portal/records/{}?match=position", id(&renamed)))
        .await;
    assert!(paired.body.contains("パッチは位置で対応付けています。"));
    assert!(
        paired.body.contains("aria-labelledby=\"bars-caption\""),
        "compared"
    );
    assert!(paired.body.contains("value=\"position\" checked"));
    assert!(
        paired.body.contains("aria-labelledby=\"trend-caption\""),
        "two points, a trend"
    );
}

/// Item 9 of issue 26: the job history agents report is shown on the device page and exported
/// (with the DFE jobs, a byte-order mark and a file name saying the device and the day), and
/// the uploads can be filtered by kind.
#[tokio::test]
async fn a_device_page_shows_and_exports_the_job_history_agents_report() {
    let ts = TestServer::start().await;
    let device = &ts.demo.devices[0];
    let now = chrono::Utc::now();
    let job = |minutes_ago: i64, pages: u32, media: &str| {
        json!({"started_at": now - chrono::Duration::minutes(minutes_ago),
               "finished_at": now - chrono::Duration::minutes(minutes_ago - 1),
               "result": "completed", "pages": pages, "printed_area_m2": 1.25, "media": media})
    };
    let report = |minutes_ago: i64, jobs: Value| {
        json!({
            "record_id": Uuid::new_v4(),
            "captured_at": now - chrono::Duration::minutes(minutes_ago),
            "device": {"manufacturer": device.manufacturer, "model": device.model,
                       "serial_number": device.serial_number, "firmware_version": "AB12C3",
                       "job_history": jobs}
        })
    };
    // Two reports repeating one job: it is listed once.
    report_device_data(
        &ts,
        json!([
            report(20, json!([job(40, 12, "Glossy Photo Paper 260")])),
            report(
                10,
                json!([job(40, 12, "Glossy Photo Paper 260"), job(15, 3, "光沢紙")])
            ),
        ]),
    )
    .await;
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let page = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    let jobs = &page.body[page
        .body
        .find("id=\"jobs\"")
        .expect("a job history section")..];
    let jobs = &jobs[..jobs.find("</table>").expect("a job table")];
    assert_eq!(jobs.matches("<tr><td>").count(), 2, "each job once: {jobs}");
    assert!(
        jobs.contains("<td>Completed</td><td>3</td><td>1.25 m²</td><td>光沢紙</td>"),
        "{jobs}"
    );
    assert!(
        jobs.find("光沢紙").unwrap() < jobs.find("Glossy").unwrap(),
        "newest first"
    );

    let res = b
        .http
        .get(ts.url(&format!("/portal/devices/{}/jobs.csv", device.device_id)))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .unwrap();
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        disposition.contains(&device.serial_number.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
            "_"
        )) && disposition.contains(&today)
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a byte-order mark");
    let body = std::str::from_utf8(&bytes[3..]).unwrap();
    let rows: Vec<&str> = body.lines().collect();
    assert!(rows[0].starts_with("source,") && rows[0].contains("printed_area_m2"));
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("device,")).count(),
        2,
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("光沢紙") && r.contains(",3,"))
    );

    b.accept_language = "ja-JP,ja;q=0.9";
    let ja = b
        .get(&format!("/portal/devices/{}", device.device_id))
        .await;
    assert!(ja.body.contains("ジョブ履歴") && ja.body.contains("<td>完了</td>"));

    // Uploads filtered by kind: no DFE upload, so no device data either.
    let dfe_only = b
        .get(&format!("/portal/devices/{}?kind=dfe", device.device_id))
        .await;
    assert_eq!(dfe_only.status, StatusCode::OK);
    assert_eq!(
        dfe_only.body.matches("<code>").count(),
        0,
        "{}",
        dfe_only.body
    );
    assert!(dfe_only.body.contains("<option value=\"dfe\" selected>"));
    let data_only = b
        .get(&format!(
            "/portal/devices/{}?kind=device_data",
            device.device_id
        ))
        .await;
    assert_eq!(data_only.body.matches("<code>").count(), 2);
}

#[tokio::test]
async fn an_administrator_disables_rotates_and_deletes_an_agent_in_the_portal() {
    use crate::agents::https_status;
    let ts = TestServer::start().await;
    let agent = ts.demo.agent.agent_id;
    let path = format!("/portal/admin/agents/{agent}");
    let mut b = Browser::new(&ts);
    b.sign_in("admin").await;
    let page = b.get("/portal/admin/agents").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Last seen") && page.body.contains("Never"));
    let csrf = page.csrf();

    // A forged form changes nothing.
    let forged = b
        .post(&path, &[("csrf", "forged"), ("change", "disable")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let secret = ts.demo.agent.secret.clone();
    assert_eq!(
        https_status(&ts, &secret).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let done = b
        .post(&path, &[("csrf", csrf.as_str()), ("change", "disable")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location(), "/portal/admin/agents");
    assert_eq!(https_status(&ts, &secret).await, StatusCode::UNAUTHORIZED);
    let page = b.get("/portal/admin/agents").await;
    assert!(page.body.contains("value=\"enable\""), "offers to enable");

    // A new secret, shown once; the old one stays refused, the new one works once enabled.
    let shown = b
        .post(&path, &[("csrf", csrf.as_str()), ("change", "rotate")])
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body.contains("New agent secret"));
    let at = shown
        .body
        .find("ecsp_ag_")
        .expect("the new secret is shown");
    let new: String = shown.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_ne!(new, secret);
    b.post(&path, &[("csrf", csrf.as_str()), ("change", "enable")])
        .await;
    assert_eq!(https_status(&ts, &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        https_status(&ts, &new).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Deleting needs the box ticked.
    let unticked = b
        .post(&path, &[("csrf", csrf.as_str()), ("change", "delete")])
        .await;
    assert_eq!(unticked.status, StatusCode::CONFLICT);
    assert_eq!(
        https_status(&ts, &new).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let deleted = b
        .post(
            &path,
            &[
                ("csrf", csrf.as_str()),
                ("change", "delete"),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(https_status(&ts, &new).await, StatusCode::UNAUTHORIZED);
    let page = b.get("/portal/admin/agents").await;
    assert!(!page.body.contains(&agent.to_string()));

    // In Japanese too.
    b.accept_language = "ja-JP,ja;q=0.9";
    let page = b.get("/portal/admin/agents").await;
    assert!(page.body.contains("最終接続"), "{}", page.body);
}
