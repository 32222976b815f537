//! The alert worker: turns stored events into messages and sends them, by e-mail (SMTP through
//! `lettre`, STARTTLS or TLS) and by webhook (an HTTPS POST signed with HMAC-SHA256 as Stripe and
//! GitHub sign theirs). What is stored and how one node claims a message is in
//! [`crate::store::alerts`]; this module decides when, composes the words and talks to the
//! outside.
//!
//! Every node runs the worker; each message is leased to one node at a time, so a service of
//! several nodes sends it once (at least once if a node dies between sending and recording: the
//! delivery id lets a receiver drop the repeat). Nothing here logs an address, a URL or a
//! secret: a delivery is named by its id.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ecsp_protocol::alerts::{
    AlertChannel, AlertCondition, AlertDevice, AlertEvent, AlertWebhook, WEBHOOK_DELIVERY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::api::AppState;
use crate::store::alerts::{self, Due, EventDetail, Outcome};
use crate::store::now_ms;

/// How the server sends alerts.
#[derive(Clone)]
pub struct AlertSettings {
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS), with
    /// `user:password@` if the server asks; a secret, never logged.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `ECSP <alerts@example.com>`.
    pub smtp_from: Option<String>,
    /// A CA to trust for the SMTP server, besides the system's.
    pub smtp_ca_file: Option<PathBuf>,
    /// A CA to trust for webhook receivers, besides the system's.
    pub webhook_ca_file: Option<PathBuf>,
    /// Whether webhooks may go to private networks (on premises); by default only to public
    /// addresses (see [`crate::webhook_guard`]).
    pub webhook_private_networks: bool,
    /// The portal's address as recipients reach it, for the links in messages.
    pub public_url: Option<String>,
    /// The first retry's wait; each next one doubles, up to an hour.
    pub retry_base: Duration,
    /// How often the worker looks for work.
    pub poll: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_from: None,
            smtp_ca_file: None,
            webhook_ca_file: None,
            webhook_private_networks: false,
            public_url: None,
            retry_base: Duration::from_secs(30),
            poll: Duration::from_secs(2),
        }
    }
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field("smtp", &self.smtp_url.as_ref().map(|_| "(set)"))
            .field("public_url", &self.public_url)
            .field("retry_base", &self.retry_base)
            .finish_non_exhaustive()
    }
}

/// What the worker sends with, made once at start.
struct Senders {
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    http: reqwest::Client,
    /// Whether webhooks may go to private networks.
    private_networks: bool,
    base_url: String,
    retry_base: Duration,
}

/// The TLS roots: the system's and, if given, one more CA file.
fn extra_roots(ca_file: Option<&std::path::Path>) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate file: {e}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{}: holds no PEM certificate",
        path.display()
    );
    Ok(certs.into_iter().map(|c| c.to_vec()).collect())
}

fn http_client(
    ca_file: Option<&std::path::Path>,
    private_networks: bool,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for der in extra_roots(ca_file)? {
        roots.add(der.into())?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let builder = if private_networks {
        reqwest::Client::builder()
    } else {
        reqwest::Client::builder().dns_resolver(Arc::new(crate::webhook_guard::PublicOnly))
    };
    Ok(builder
        .use_preconfigured_tls(tls)
        .https_only(true)
        // A receiver's redirect is not followed: the rule names where alerts go.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("ecsp-server/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn mailer(
    settings: &AlertSettings,
    host: &str,
) -> anyhow::Result<Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>> {
    let Some(url) = &settings.smtp_url else {
        return Ok(None);
    };
    // lettre's errors do not repeat the URL; the URL (with a password) is not repeated here.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map_err(|e| anyhow::anyhow!("--smtp-url is not an SMTP address: {e}"))?;
    if settings.smtp_ca_file.is_some() {
        let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
        let domain = parsed.host_str().unwrap_or_default().to_owned();
        let mut tls = TlsParameters::builder(domain);
        for der in extra_roots(settings.smtp_ca_file.as_deref())? {
            let pem = pem_of(&der);
            tls = tls.add_root_certificate(Certificate::from_pem(pem.as_bytes())?);
        }
        let tls = tls.build_rustls()?;
        builder = builder.tls(if parsed.scheme() == "smtps" {
            Tls::Wrapper(tls)
        } else {
            Tls::Required(tls)
        });
    }
    let from = settings
        .smtp_from
        .clone()
        .unwrap_or_else(|| format!("ECSP <ecsp@{host}>"));
    let from: Mailbox = from
        .parse()
        .map_err(|e| anyhow::anyhow!("--smtp-from `{from}` is not an address: {e}"))?;
    Ok(Some((builder.build(), from)))
}

fn pem_of(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Checks the settings and starts the worker; a bad setting fails the start.
pub fn start(
    state: AppState,
    settings: &AlertSettings,
    default_url: String,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let base_url = settings
        .public_url
        .clone()
        .unwrap_or(default_url)
        .trim_end_matches('/')
        .to_owned();
    let host = url::Url::parse(&base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let senders = Arc::new(Senders {
        mailer: mailer(settings, &host)?,
        http: http_client(
            settings.webhook_ca_file.as_deref(),
            settings.webhook_private_networks,
        )?,
        private_networks: settings.webhook_private_networks,
        base_url,
        retry_base: settings.retry_base,
    });
    Ok(tokio::spawn(run(state, senders, settings.poll)))
}

/// A lease long enough for one attempt (the webhook's timeout, SMTP's).
const LEASE_MS: i64 = 120_000;
/// Messages one node sends at once.
const SEND_BATCH: i64 = 20;

/// How often old events and finished messages are deleted.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

async fn run(state: AppState, senders: Arc<Senders>, poll: Duration) {
    let mut every = tokio::time::interval(poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expired_at: Option<tokio::time::Instant> = None;
    loop {
        every.tick().await;
        if let Err(e) = round(&state, &senders).await {
            tracing::warn!(error = %e, "alert worker: a round failed; trying again");
        }
        if expired_at.is_none_or(|at| at.elapsed() >= EXPIRE_EVERY) {
            expired_at = Some(tokio::time::Instant::now());
            match state.db.write(|c| alerts::expire_old(c, now_ms())).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "alert worker: old events and messages deleted"),
                Err(e) => tracing::warn!(error = %e, "alert worker: old rows not deleted"),
            }
        }
    }
}

/// One round: silent agents, events to messages, due messages sent; each step that would find
/// nothing is skipped after one read.
async fn round(state: &AppState, senders: &Arc<Senders>) -> Result<(), crate::error::ApiError> {
    let waiting = state.db.read(|c| alerts::waiting(c, now_ms())).await?;
    if waiting.silence_rules {
        state
            .db
            .write(|c| alerts::sweep_silent(c, now_ms()))
            .await?;
    }
    // The sweep may have made events.
    if waiting.events || waiting.silence_rules {
        loop {
            let n = state.db.write(|c| alerts::dispatch(c, now_ms())).await?;
            if n == 0 {
                break;
            }
        }
    }
    // Dispatching may have made messages due at once.
    if !(waiting.due || waiting.events || waiting.silence_rules) {
        return Ok(());
    }
    loop {
        let key = state.key.clone();
        let due = state
            .db
            .write(move |c| alerts::claim_due(c, &key, now_ms(), LEASE_MS, SEND_BATCH))
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let sends = due.into_iter().map(|d| {
            let senders = senders.clone();
            async move {
                let outcome = senders.send(&d).await;
                (d, outcome)
            }
        });
        for (due, outcome) in futures_util::future::join_all(sends).await {
            let channel = due.channel.as_str();
            match &outcome {
                Outcome::Sent(_) => {
                    tracing::info!(delivery = %due.public_id, rule = %due.rule_public_id, channel, "alert sent")
                }
                Outcome::Failed { status, .. } => {
                    tracing::warn!(delivery = %due.public_id, rule = %due.rule_public_id, channel, attempt = due.attempts, status, "alert not delivered; will retry")
                }
                Outcome::Dropped(reason) => {
                    tracing::info!(delivery = %due.public_id, rule = %due.rule_public_id, reason, "alert dropped")
                }
            }
            metrics::counter!("ecsp_alert_deliveries_total", "channel" => channel, "outcome" => match &outcome {
                Outcome::Sent(_) => "sent",
                Outcome::Failed { .. } => "failed",
                Outcome::Dropped(_) => "dropped",
            })
            .increment(1);
            state
                .db
                .write(move |c| alerts::finish(c, &due, &outcome, now_ms()))
                .await?;
        }
    }
}

impl Senders {
    async fn send(&self, due: &Due) -> Outcome {
        if let Some(reason) = due.drop_reason {
            return Outcome::Dropped(reason);
        }
        if let (false, Some((url, _))) = (self.private_networks, &due.webhook)
            && let Some(reason) = crate::webhook_guard::literal_refusal(url)
        {
            return Outcome::Dropped(reason);
        }
        let words = compose(due, &self.base_url);
        let result = match due.channel {
            AlertChannel::Email => self.email(due, &words).await,
            AlertChannel::Webhook => self.webhook(due, &words).await,
        };
        match result {
            Ok(status) => Outcome::Sent(status),
            Err(status) => Outcome::Failed {
                status,
                retry_at: now_ms() + self.backoff(due.attempts).as_millis() as i64,
            },
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let doubling = 2_u32.saturating_pow((attempts.max(1) - 1).min(16) as u32);
        (self.retry_base * doubling).min(Duration::from_secs(3600))
    }

    async fn email(&self, due: &Due, words: &Words) -> Result<String, String> {
        let Some((mailer, from)) = &self.mailer else {
            return Err("no SMTP server is set (--smtp-url)".into());
        };
        let to: Mailbox = due
            .email
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|_| "the recipient's address is not one SMTP accepts".to_owned())?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&words.subject)
            // The same id on every retry, for a mail system to drop a repeat.
            .message_id(Some(format!("<{}@{}>", due.public_id, from.email.domain())))
            .header(ContentType::TEXT_PLAIN)
            .body(words.text.clone())
            .map_err(|e| format!("the message could not be made: {e}"))?;
        match mailer.send(message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().next().unwrap_or_default()
            )),
            Err(e) => Err(format!("SMTP: {e}")),
        }
    }

    async fn webhook(&self, due: &Due, words: &Words) -> Result<String, String> {
        let Some((url, secret)) = &due.webhook else {
            return Err("the rule has no webhook address".into());
        };
        let body = AlertWebhook {
            delivery_id: due.public_id,
            rule_id: due.rule_public_id,
            sent_at: chrono::Utc::now(),
            device: due.device.as_ref().map(|d| AlertDevice {
                device_id: d.public_id,
                manufacturer: d.manufacturer.clone(),
                model: d.model.clone(),
                serial_number: d.serial_number.clone(),
                url: format!("{}/portal/devices/{}", self.base_url, d.public_id),
            }),
            events: due.events.iter().map(to_wire).collect(),
            text: format!("{}\n\n{}", words.subject, words.text),
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let timestamp = chrono::Utc::now().timestamp();
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                WEBHOOK_SIGNATURE_HEADER,
                signature(secret, timestamp, &body),
            )
            .header(WEBHOOK_DELIVERY_HEADER, due.public_id.to_string())
            .body(body)
            .send()
            .await
            // The URL may carry a token of the receiver's: not repeated in the status. The
            // causes are (a refused name says why there).
            .map_err(|e| {
                let e = e.without_url();
                let mut said = format!("could not deliver: {e}");
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    said.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                said
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(format!("HTTP {}", status.as_u16()))
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn to_wire(e: &EventDetail) -> AlertEvent {
    AlertEvent {
        condition: e.condition,
        at: crate::store::from_ms(e.at),
        subject: e.subject.clone(),
        detail: e.detail.clone(),
        value: e.value,
    }
}

/// A message's subject and text.
#[derive(Debug, Clone, PartialEq)]
pub struct Words {
    pub subject: String,
    pub text: String,
}

/// The message for `due` in its rule's language and time zone: the device, what happened and
/// when, and links to the device's page and to the rules. No person's data.
pub fn compose(due: &Due, base_url: &str) -> Words {
    let ja = due.language == "ja";
    let device = due.device.as_ref().map(|d| {
        if ja {
            format!(
                "{} {}（シリアル番号 {}）",
                d.manufacturer, d.model, d.serial_number
            )
        } else {
            format!(
                "{} {} (serial number {})",
                d.manufacturer, d.model, d.serial_number
            )
        }
    });
    let lines: Vec<String> = due
        .events
        .iter()
        .map(|e| {
            let at = alerts::local_time(e.at, &due.time_zone).format("%Y-%m-%d %H:%M %Z");
            format!("{at}  {}", event_words(e, ja))
        })
        .collect();
    let what = match due.events.as_slice() {
        [one] => event_words(one, ja),
        many if ja => format!("{}件の通知", many.len()),
        many => format!("{} alerts", many.len()),
    };
    let subject = match &device {
        Some(d) => format!("[ECSP] {d}: {what}"),
        None => format!("[ECSP] {what}"),
    };
    let mut text = String::new();
    if let Some(d) = &device {
        text.push_str(d);
        text.push_str("\n\n");
    }
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push('\n');
    if let Some(d) = &due.device {
        let link = format!("{base_url}/portal/devices/{}", d.public_id);
        text.push_str(&if ja {
            format!("デバイスのページ: {link}\n")
        } else {
            format!("The device's page: {link}\n")
        });
    }
    let rules = format!("{base_url}/portal/alerts");
    text.push_str(&if ja {
        format!("\nこのメッセージはECSPの通知ルールにより送信されています。変更・削除: {rules}\n")
    } else {
        format!(
            "\nYou receive this because of an alert rule in ECSP. To change or delete it: {rules}\n"
        )
    });
    Words { subject, text }
}

/// One event in words: consumables and operations in the portal's words for them.
fn event_words(e: &EventDetail, ja: bool) -> String {
    use crate::portal::words;
    let language = if ja { "ja" } else { "en" };
    let subject = e.subject.as_deref().unwrap_or_default();
    let detail = e
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    match (e.condition, ja) {
        (AlertCondition::Error, false) => format!("error {subject}{detail}"),
        (AlertCondition::Error, true) => format!("エラー {subject}{detail}"),
        (AlertCondition::Warning, false) => format!("warning {subject}{detail}"),
        (AlertCondition::Warning, true) => format!("警告 {subject}{detail}"),
        (AlertCondition::ConsumableLow, false) => format!(
            "{} is at {:.0} %",
            words::consumable(language, subject),
            e.value.unwrap_or_default()
        ),
        (AlertCondition::ConsumableLow, true) => format!(
            "{} の残量が {:.0}% です",
            words::consumable(language, subject),
            e.value.unwrap_or_default()
        ),
        (AlertCondition::AgentSilent, false) => format!(
            "not heard from for {:.0} minutes (its agent last reported at {})",
            e.value.unwrap_or_default(),
            e.detail.as_deref().unwrap_or("?")
        ),
        (AlertCondition::AgentSilent, true) => format!(
            "{:.0}分間応答がありません（エージェントの最終報告: {}）",
            e.value.unwrap_or_default(),
            e.detail.as_deref().unwrap_or("?")
        ),
        (AlertCondition::OperationFailed, false) => format!(
            "remote operation \"{}\" ended: {}",
            words::operation_kind(language, subject),
            words::operation_state(language, e.detail.as_deref().unwrap_or_default())
        ),
        (AlertCondition::OperationFailed, true) => format!(
            "リモート操作「{}」が完了しませんでした（{}）",
            words::operation_kind(language, subject),
            words::operation_state(language, e.detail.as_deref().unwrap_or_default())
        ),
        (AlertCondition::UploadRejected, false) => {
            format!("an upload of yours was refused ({subject})")
        }
        (AlertCondition::UploadRejected, true) => {
            format!("あなたのアップロードが拒否されました（{subject}）")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::alerts::DueDevice;

    fn due(language: &str, events: Vec<EventDetail>) -> Due {
        Due {
            id: 1,
            public_id: uuid::Uuid::nil(),
            rule_public_id: uuid::Uuid::nil(),
            created_at: 0,
            attempts: 1,
            events,
            channel: AlertChannel::Email,
            language: language.into(),
            time_zone: "Asia/Tokyo".into(),
            email: Some("someone@example.com".into()),
            webhook: None,
            device: Some(DueDevice {
                public_id: uuid::Uuid::nil(),
                manufacturer: "Epson".into(),
                model: "SC-P9500".into(),
                serial_number: "X123".into(),
            }),
            drop_reason: None,
        }
    }

    fn error(code: &str, at: i64) -> EventDetail {
        EventDetail {
            condition: AlertCondition::Error,
            at,
            subject: Some(code.into()),
            detail: Some("Paper jam".into()),
            value: None,
            before: None,
        }
    }

    #[test]
    fn a_message_names_the_device_the_event_and_its_local_time_in_the_rules_language() {
        let words = compose(&due("ja", vec![error("E-1", 0)]), "https://ecsp.example");
        assert_eq!(
            words.subject,
            "[ECSP] Epson SC-P9500（シリアル番号 X123）: エラー E-1: Paper jam"
        );
        assert!(
            words.text.contains("1970-01-01 09:00 JST  エラー E-1"),
            "{}",
            words.text
        );
        assert!(
            words.text.contains(
                "https://ecsp.example/portal/devices/00000000-0000-0000-0000-000000000000"
            )
        );
        assert!(!words.text.contains("someone@"), "no person's data");

        let digest = compose(
            &due("en", vec![error("E-1", 0), error("E-2", 60_000)]),
            "https://x",
        );
        assert_eq!(
            digest.subject,
            "[ECSP] Epson SC-P9500 (serial number X123): 2 alerts"
        );
        assert_eq!(digest.text.matches("  error E-").count(), 2);
    }

    #[test]
    fn consumables_and_operations_are_said_in_words_not_keys() {
        let event = |condition, subject: &str, detail: Option<&str>, value| EventDetail {
            condition,
            at: 0,
            subject: Some(subject.into()),
            detail: detail.map(Into::into),
            value,
            before: None,
        };
        let low = event(
            AlertCondition::ConsumableLow,
            "ink_cartridge cyan",
            None,
            Some(4.0),
        );
        let failed = event(
            AlertCondition::OperationFailed,
            "head_cleaning",
            Some("timed_out"),
            None,
        );
        for (language, ink, operation) in [
            ("en", "Ink cartridge — Cyan is at 4 %", "Head cleaning"),
            (
                "ja",
                "インクカートリッジ — シアン の残量が 4% です",
                "ヘッドクリーニング",
            ),
        ] {
            let words = compose(
                &due(language, vec![low.clone(), failed.clone()]),
                "https://x",
            );
            assert!(words.text.contains(ink), "{language}: {}", words.text);
            assert!(words.text.contains(operation), "{language}: {}", words.text);
            for key in ["ink_cartridge", "head_cleaning", "timed_out"] {
                assert!(
                    !words.text.contains(key),
                    "{language}: {key} in {}",
                    words.text
                );
            }
        }
    }

    #[test]
    fn a_signature_is_stripes_scheme() {
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            signature("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn retries_double_up_to_an_hour() {
        let s = Senders {
            mailer: None,
            http: http_client(None, false).unwrap(),
            private_networks: false,
            base_url: String::new(),
            retry_base: Duration::from_secs(30),
        };
        assert_eq!(s.backoff(1), Duration::from_secs(30));
        assert_eq!(s.backoff(3), Duration::from_secs(120));
        assert_eq!(s.backoff(40), Duration::from_secs(3600));
    }
}
