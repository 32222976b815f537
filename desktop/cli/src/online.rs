//! The commands that talk to the server or its outbox: each a few lines over `ecsp-client`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use ecsp_client::capture::{Captured, DfeCapture, MeasurementCapture};
use ecsp_client::consent::{ConsentState, ConsentStatus, NoticeLanguage};
use ecsp_client::outbox::QueueState;
use ecsp_client::remote::RecordQuery;
use ecsp_client::sync::{FlushOptions, FlushReport};
use ecsp_client::{ClientConfig, ClientEvent, EcspClient, EcspError};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::upload::RecordKind;
use serde::Serialize;
use uuid::Uuid;

use crate::config::{self, Dirs};
use crate::{exit, files, out};

/// Where the server is. Saved by a successful `login`, so later commands need neither.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Server URL (https:// only); saved by a successful `login`.
    #[arg(long, global = true, env = "ECSP_SERVER")]
    server: Option<String>,
    /// Extra CA certificate (PEM) to trust, e.g. the reference server's; saved by `login`.
    #[arg(long, global = true, env = "ECSP_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum OnlineCommand {
    /// Sign in; the tokens are kept in the OS keyring.
    Login {
        #[command(flatten)]
        server: ServerArgs,
        /// The account's e-mail address.
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line). Without a terminal, give this or
        /// set ECSP_PASSWORD.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign out here and on the server.
    Logout {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Who is signed in.
    Whoami {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The devices (printers) I may upload for, with their ids.
    Devices {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What the server holds for a device.
    Records {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        action: RecordsAction,
    },
    /// Show or change consent for job information, GPS and photos.
    Consent {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        action: ConsentAction,
    },
    /// Capture a record into the outbox, then send it.
    #[command(
        after_help = "Example files for each kind: examples/ in the source tree \
        (dfe-settings.json, dfe-job.json, measurement.json)."
    )]
    Upload {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        what: UploadWhat,
    },
    /// The outbox of records waiting to be sent.
    Queue {
        #[command(flatten)]
        server: ServerArgs,
        #[command(subcommand)]
        action: QueueAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum RecordsAction {
    /// A device's stored records, newest first.
    List {
        /// The device: its serial number or id (see `ecsp devices`).
        #[arg(long, value_name = "SERIAL|ID")]
        device: String,
        /// Only records of this kind.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// The next page: the previous page's last capture time (RFC 3339), with its record id
        /// as `--before-id` (the command prints both when more may follow). Alone, the records
        /// captured before this time.
        #[arg(long)]
        before: Option<DateTime<Utc>>,
        /// The previous page's last record id (see `--before`).
        #[arg(long)]
        before_id: Option<Uuid>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One stored record in full.
    Show {
        /// The record's id (from `records list` or `queue list`).
        record_id: Uuid,
    },
}

/// Record kinds as the API spells them (`device_data`); `device-data`, the spelling of earlier
/// versions of this command, is still accepted.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    Dfe,
    Measurement,
    #[value(name = "device_data", alias = "device-data")]
    DeviceData,
}

impl From<KindArg> for RecordKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Dfe => RecordKind::Dfe,
            KindArg::Measurement => RecordKind::Measurement,
            KindArg::DeviceData => RecordKind::DeviceData,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConsentAction {
    /// The notice, its version, and where each purpose stands.
    Show,
    /// Every decision made on this computer, newest first.
    History,
    /// Allow sending this kind of information.
    Grant {
        /// job_info, gps or photos.
        purpose: PurposeArg,
    },
    /// Do not allow it.
    Refuse {
        /// job_info, gps or photos.
        purpose: PurposeArg,
    },
    /// Take back an earlier grant; what has not been sent yet is deleted here.
    Withdraw {
        /// job_info, gps or photos.
        purpose: PurposeArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PurposeArg {
    /// Job information sent with DFE settings.
    #[value(name = "job_info")]
    JobInfo,
    /// The position where a measurement was taken.
    Gps,
    /// Photos attached to a measurement.
    Photos,
}

impl From<PurposeArg> for Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::JobInfo => Purpose::JobInfo,
            PurposeArg::Gps => Purpose::Gps,
            PurposeArg::Photos => Purpose::Photos,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UploadWhat {
    /// A DFE's software, environment and print settings (JSON; examples/dfe-settings.json), and
    /// job information (examples/dfe-job.json) if `job_info` is granted.
    Dfe {
        /// The device the settings are for: its serial number or id (see `ecsp devices`);
        /// overrides the file's.
        #[arg(long, value_name = "SERIAL|ID")]
        device: Option<String>,
        /// The DFE's state as JSON.
        #[arg(long)]
        settings: PathBuf,
        /// A job's information as JSON.
        #[arg(long)]
        job: Option<PathBuf>,
        /// Only queue it; send later with `queue flush`.
        #[arg(long)]
        queue_only: bool,
    },
    /// A spectrometer measurement: JSON (examples/measurement.json), or a chart as CGATS or CxF
    /// (examples/measurement-chart.cgats) with what the file does not say given as options.
    Measurement {
        /// The measurement file.
        file: PathBuf,
        /// The device that printed the measured chart: its serial number or id (see
        /// `ecsp devices`); overrides the file's.
        #[arg(long, value_name = "SERIAL|ID")]
        device: Option<String>,
        #[command(flatten)]
        chart: crate::chart::ChartArgs,
        /// Only queue it; send later with `queue flush`.
        #[arg(long)]
        queue_only: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Counts by state, and the next retry.
    Status,
    /// Entries, newest first, with the server's reason for rejected ones.
    List {
        /// Only entries in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send everything waiting now, ignoring backoff.
    Flush {
        /// Most records per request.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Put rejected records back in the queue (after the cause was fixed on the server).
    Retry {
        /// One rejected record.
        record_id: Option<Uuid>,
        /// Every rejected record.
        #[arg(long, conflicts_with = "record_id")]
        all: bool,
    },
    /// Delete rejected records from the outbox for good.
    Drop {
        /// One rejected record.
        record_id: Option<Uuid>,
        /// Every rejected record.
        #[arg(long, conflicts_with = "record_id")]
        rejected: bool,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Queued,
    InFlight,
    Rejected,
    Sent,
}

impl From<StateArg> for QueueState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Queued => QueueState::Queued,
            StateArg::InFlight => QueueState::InFlight,
            StateArg::Rejected => QueueState::Rejected,
            StateArg::Sent => QueueState::Sent,
        }
    }
}

impl OnlineCommand {
    fn server(&self) -> &ServerArgs {
        match self {
            OnlineCommand::Login { server, .. }
            | OnlineCommand::Logout { server }
            | OnlineCommand::Whoami { server }
            | OnlineCommand::Devices { server }
            | OnlineCommand::Records { server, .. }
            | OnlineCommand::Consent { server, .. }
            | OnlineCommand::Upload { server, .. }
            | OnlineCommand::Queue { server, .. } => server,
        }
    }
}

pub(crate) fn open_client(
    server_args: &ServerArgs,
    dirs: &Dirs,
) -> Result<(EcspClient, config::Settings, String, Option<PathBuf>), EcspError> {
    let settings = dirs.load()?;
    let server = server_args
        .server
        .clone()
        .or_else(|| settings.server.clone())
        .ok_or_else(|| {
            EcspError::configuration(
                "no server configured: pass --server https://HOST:PORT (saved at login)",
            )
        })?;
    let ca_cert = server_args
        .ca_cert
        .as_deref()
        .map(config::absolute)
        .or_else(|| settings.ca_cert.clone());
    let secrets: Arc<dyn ecsp_client::SecretStore> = Arc::new(
        ecsp_client::secrets::KeyringSecretStore::new(ecsp_client::KEYRING_SERVICE)?,
    );
    let client = EcspClient::open(
        &ClientConfig {
            server: server.clone(),
            ca_file: ca_cert.clone(),
            data_dir: dirs.data.clone(),
            ..ClientConfig::default()
        },
        secrets,
    )?;
    Ok((client, settings, server, ca_cert))
}

fn read_password(from_stdin: bool) -> Result<String, EcspError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| EcspError::invalid_input(format!("reading the password: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(password) = std::env::var("ECSP_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(EcspError::invalid_input(
            "no terminal to ask for the password: pipe it in with --password-stdin, or set ECSP_PASSWORD",
        ));
    }
    rpassword::prompt_password("Password: ")
        .map_err(|e| EcspError::invalid_input(format!("reading the password: {e}")))
}

/// Flushes with a progress bar on a terminal; a flush that cannot start is reported as stopped.
pub(crate) async fn flush(client: &EcspClient, json: bool, options: FlushOptions) -> FlushReport {
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} sent {msg} ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut events = client.subscribe();
    let progress_bar = bar.clone();
    let watcher = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let (ClientEvent::FlushProgress { progress: p }, Some(bar)) = (event, &progress_bar)
            {
                bar.set_length(p.total);
                bar.set_position(p.sent + p.rejected);
                if p.rejected > 0 {
                    bar.set_message(format!("{} rejected", p.rejected));
                }
            }
        }
    });
    let report = client.flush(options).await.unwrap_or_else(|e| FlushReport {
        stopped: Some(e),
        ..FlushReport::default()
    });
    watcher.abort();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    report
}

pub(crate) fn flush_text(report: &FlushReport) -> String {
    let mut s = format!(
        "sent {}, rejected {}, waiting {}",
        report.sent, report.rejected, report.remaining
    );
    if let Some(why) = &report.stopped {
        s.push_str(&format!("\nstopped: {why} ({})", why.code));
    }
    if report.rejected > 0 {
        s.push_str("\nsee `ecsp queue list --state rejected` for the server's reasons");
    }
    s
}

pub(crate) fn flush_status(report: &FlushReport) -> u8 {
    if report.rejected > 0 {
        exit::REJECTED
    } else if report.stopped.is_some() {
        exit::INCOMPLETE
    } else {
        exit::OK
    }
}

fn captured_text(captured: &Captured) -> String {
    let mut s = format!("captured {} into the outbox", captured.record_id);
    for p in &captured.withheld {
        s.push_str(&format!(
            "\nleft out `{p}`: no consent (ecsp consent grant {p})"
        ));
    }
    s
}

fn consent_line(s: &ConsentStatus) -> String {
    let when = s
        .decided_at
        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let state = match s.state {
        ConsentState::Granted => format!("granted{when}"),
        ConsentState::Refused => format!("refused{when}"),
        ConsentState::Withdrawn => format!("withdrawn{when}"),
        ConsentState::NeverAsked => "never asked".to_owned(),
        ConsentState::AskAgain => format!(
            "to be asked again: decided under notice {}",
            s.notice_version.as_deref().unwrap_or("?")
        ),
    };
    let pending = if s.pending_upload {
        " (not yet sent to the server)"
    } else {
        ""
    };
    format!("{:<9} {state}{pending}", s.purpose.as_str())
}

/// Reads the person's decisions from the server's ledger (their other apps decide too); when
/// that fails, says so and what is shown instead.
async fn read_ledger(client: &EcspClient) -> Option<String> {
    match client.refresh_consents().await {
        Ok(_) => None,
        Err(e) => Some(format!(
            "could not read your decisions from the server ({}): shown as this computer last knew them",
            e.message
        )),
    }
}

fn notice_language() -> NoticeLanguage {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .map_or(NoticeLanguage::En, |l| NoticeLanguage::from_locale(&l))
}

fn confirm(question: &str) -> Result<bool, EcspError> {
    if !std::io::stdin().is_terminal() {
        return Err(EcspError::invalid_input(
            "no terminal to confirm on: add --yes to drop without asking",
        ));
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| EcspError::invalid_input(e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

#[derive(Serialize)]
struct UploadDocument {
    /// One record, or one per record of a chart file.
    captured: Vec<Captured>,
    /// `null` with `--queue-only`.
    delivery: Option<FlushReport>,
}

#[derive(Serialize)]
struct DecisionDocument {
    decision: ecsp_protocol::consent::ConsentDecision,
    /// Whether the server has the decision now (else it is queued).
    delivered: bool,
    /// Records still waiting in the outbox, not sent by this command.
    records_waiting: u64,
    status: Vec<ConsentStatus>,
}

pub async fn run(command: OnlineCommand, dirs: &Dirs, json: bool) -> Result<u8, EcspError> {
    let (client, mut settings, server, ca_cert) = open_client(command.server(), dirs)?;
    match command {
        OnlineCommand::Login {
            email,
            password_stdin,
            ..
        } => {
            let password = read_password(password_stdin)?;
            let me = client.login(&email, &password).await?;
            settings.server = Some(server);
            settings.ca_cert = ca_cert;
            dirs.save(&settings)?;
            out(json, &me, || {
                format!(
                    "signed in as {} ({}) of {}\nnext: `ecsp devices` lists the devices you may upload for",
                    me.name,
                    me.role.as_str(),
                    me.organization_name
                )
            });
        }
        OnlineCommand::Logout { .. } => {
            let outcome = client.logout().await?;
            let text = match outcome {
                ecsp_client::session::SignedOut::Revoked => "signed out",
                ecsp_client::session::SignedOut::LocalOnly => {
                    "signed out here; the server could not be reached, its session will lapse"
                }
                ecsp_client::session::SignedOut::NotSignedIn => "not signed in",
            };
            out(json, &serde_json::json!({ "result": outcome }), || {
                text.to_owned()
            });
        }
        OnlineCommand::Whoami { .. } => {
            let me = client.whoami().await?;
            out(json, &me, || {
                format!(
                    "{} <{}>, {} of {}",
                    me.name,
                    me.email,
                    me.role.as_str(),
                    me.organization_name
                )
            });
        }
        OnlineCommand::Devices { .. } => {
            let devices = client.devices().await?;
            out(json, &devices, || {
                if devices.is_empty() {
                    return "no devices: ask your organisation's admin for a right to one".into();
                }
                let mut s = format!("{:<36}  {:<12} {:<24} serial", "id", "maker", "model");
                for d in &devices {
                    s.push_str(&format!(
                        "\n{}  {:<12} {:<24} {}",
                        d.device_id, d.manufacturer, d.model, d.serial_number
                    ));
                }
                s
            });
        }
        OnlineCommand::Records { action, .. } => match action {
            RecordsAction::List {
                device,
                kind,
                before,
                before_id,
                limit,
            } => {
                let device = client.find_device(&device).await?;
                let records = client
                    .records(
                        device,
                        RecordQuery {
                            kind: kind.map(Into::into),
                            before,
                            before_id,
                            limit: Some(limit),
                        },
                    )
                    .await?;
                out(json, &records, || {
                    if records.is_empty() {
                        return "no records".into();
                    }
                    let mut s =
                        format!("{:<36}  {:<12} {:<30} stored", "record", "kind", "captured");
                    for r in &records {
                        s.push_str(&format!(
                            "\n{}  {:<12} {:<30} {}",
                            r.record_id,
                            r.kind.as_str(),
                            r.captured_at.to_rfc3339(),
                            r.stored_at.to_rfc3339()
                        ));
                    }
                    if records.len() as u32 == limit
                        && let Some(last) = records.last()
                    {
                        s.push_str(&format!(
                            "\nmore may follow: --before {} --before-id {}",
                            last.captured_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            last.record_id
                        ));
                    }
                    s
                });
            }
            RecordsAction::Show { record_id } => {
                let record = client.record(record_id).await?;
                out(json, &record, || {
                    serde_json::to_string_pretty(&record).unwrap_or_default()
                });
            }
        },
        OnlineCommand::Consent { action, .. } => {
            let (purpose, decision) = match action {
                ConsentAction::Show => {
                    let notice = ecsp_client::consent::notice(notice_language());
                    let unread = read_ledger(&client).await;
                    let status = client.consent_status().await?;
                    out(
                        json,
                        &serde_json::json!({
                            "notice": notice,
                            "status": status,
                            "server_unreachable": unread.is_some(),
                        }),
                        || {
                            let mut s = format!(
                                "Consent notice, version {}\n{}\n",
                                notice.version,
                                textwrap::fill(notice.introduction, 96)
                            );
                            for (item, st) in notice.items.iter().zip(&status) {
                                let text = format!("{}: {}", item.title, item.text);
                                s.push_str(&format!(
                                    "\n{}\n{}\n",
                                    consent_line(st),
                                    textwrap::indent(&textwrap::fill(&text, 94), "  ")
                                ));
                            }
                            s.push_str("\nchange with: ecsp consent grant|refuse|withdraw job_info|gps|photos");
                            if let Some(why) = &unread {
                                s.push_str(&format!("\n{why}"));
                            }
                            s
                        },
                    );
                    return Ok(exit::OK);
                }
                ConsentAction::History => {
                    let unread = read_ledger(&client).await;
                    let history = client.consent_history().await?;
                    out(json, &history, || {
                        if history.is_empty() {
                            return "no decisions yet".into();
                        }
                        let mut lines = history
                            .iter()
                            .map(|h| {
                                format!(
                                    "{}  {:<9} {:<9} notice {}{}",
                                    h.decided_at.format("%Y-%m-%d %H:%M:%S UTC"),
                                    h.purpose.as_str(),
                                    format!("{:?}", h.decision).to_lowercase(),
                                    h.notice_version,
                                    match (h.delivered, h.decision_id) {
                                        (false, _) => "  (queued)",
                                        (true, None) => "  (decided in another app)",
                                        (true, Some(_)) => "",
                                    }
                                )
                            })
                            .collect::<Vec<_>>();
                        lines.extend(unread.clone());
                        lines.join("\n")
                    });
                    return Ok(exit::OK);
                }
                ConsentAction::Grant { purpose } => {
                    (purpose, ecsp_protocol::consent::Decision::Granted)
                }
                ConsentAction::Refuse { purpose } => {
                    (purpose, ecsp_protocol::consent::Decision::Refused)
                }
                ConsentAction::Withdraw { purpose } => {
                    (purpose, ecsp_protocol::consent::Decision::Withdrawn)
                }
            };
            let decided = client.decide(purpose.into(), decision).await?;
            // Only the decision itself is sent now: other queued records are not sent as a
            // side effect of deciding.
            let report = flush(
                &client,
                json,
                FlushOptions {
                    consents_only: true,
                    ignore_backoff: true,
                    ..FlushOptions::default()
                },
            )
            .await;
            let delivered = report.stopped.is_none() && report.rejected == 0;
            let queue = client.queue_status().await?;
            let document = DecisionDocument {
                decision: decided,
                delivered,
                records_waiting: queue.queued + queue.in_flight,
                status: client.consent_status().await?,
            };
            out(json, &document, || {
                let p = document.decision.purpose;
                let what = format!("{:?}", document.decision.decision).to_lowercase();
                let mut s = if delivered {
                    format!("{p}: {what}; recorded here and sent to the server")
                } else {
                    format!(
                        "{p}: {what}; recorded here and queued for the server ({})",
                        report.stopped.as_ref().map_or_else(
                            || "it refused the decision".to_owned(),
                            |e| e.message.clone()
                        )
                    )
                };
                if decision != ecsp_protocol::consent::Decision::Granted {
                    s.push_str(&format!(
                        "\nqueued records no longer carry their `{p}` part"
                    ));
                }
                if document.records_waiting > 0 {
                    s.push_str(&format!(
                        "\n{} record(s) still wait in the outbox (not sent by this command; `ecsp queue flush` sends them)",
                        document.records_waiting
                    ));
                }
                s
            });
            return Ok(if delivered {
                exit::OK
            } else {
                flush_status(&report)
            });
        }
        OnlineCommand::Upload { what, .. } => {
            let (captured, queue_only) = match what {
                UploadWhat::Dfe {
                    device,
                    settings: file,
                    job,
                    queue_only,
                } => {
                    let device = find_device(&client, device.as_deref()).await?;
                    let mut input: DfeCapture = files::read_json_for_device(&file, device)?;
                    if let Some(job_file) = job {
                        input.job = Some(files::read_json(&job_file)?);
                    }
                    let captured = client
                        .capture_dfe(input)
                        .await
                        .map_err(|e| files::in_file(&file, e))?;
                    (vec![captured], queue_only)
                }
                UploadWhat::Measurement {
                    file,
                    device,
                    chart,
                    queue_only,
                } => {
                    let device = find_device(&client, device.as_deref()).await?;
                    let bytes = std::fs::read(&file).map_err(|e| {
                        EcspError::bad_file(&file, None, None, &format!("cannot read: {e}"))
                    })?;
                    let inputs: Vec<MeasurementCapture> = if crate::chart::is_chart(&file, &bytes) {
                        let device = device.ok_or_else(|| {
                            EcspError::invalid_input(
                                "a chart file names no device: give --device SERIAL (`ecsp devices` lists them)",
                            )
                        })?;
                        crate::chart::captures(&file, &bytes, device, &chart)?
                    } else {
                        vec![files::read_json_for_device(&file, device)?]
                    };
                    // All or none: a bad patch queues nothing of the chart.
                    let captured = client
                        .capture_measurements(inputs)
                        .await
                        .map_err(|e| files::in_file(&file, e))?;
                    (captured, queue_only)
                }
            };
            let delivery = if queue_only {
                None
            } else {
                Some(flush(&client, json, FlushOptions::default()).await)
            };
            let status = delivery.as_ref().map_or(exit::OK, flush_status);
            let document = UploadDocument { captured, delivery };
            out(json, &document, || {
                let mut s = document
                    .captured
                    .iter()
                    .map(captured_text)
                    .collect::<Vec<_>>()
                    .join("\n");
                match &document.delivery {
                    Some(report) => {
                        s.push('\n');
                        s.push_str(&flush_text(report));
                    }
                    None => s.push_str("\nqueued only; `ecsp queue flush` sends it"),
                }
                s
            });
            return Ok(status);
        }
        OnlineCommand::Queue { action, .. } => match action {
            QueueAction::Status => {
                let s = client.queue_status().await?;
                out(json, &s, || {
                    let mut t = format!(
                        "queued {}, in flight {}, rejected {}, sent {}",
                        s.queued, s.in_flight, s.rejected, s.sent
                    );
                    if let Some(next) = s.next_attempt_at {
                        t.push_str(&format!("\nnext retry at {next}"));
                    }
                    t
                });
            }
            QueueAction::List { state, limit } => {
                let page = client.queue_list(state.map(Into::into), limit).await?;
                out(json, &page, || {
                    if page.items.is_empty() {
                        return "the outbox is empty".into();
                    }
                    let mut s = page
                        .items
                        .iter()
                        .map(|i| {
                            let mut line = format!(
                                "{} {:<11} {:<10} {}",
                                i.record_id,
                                i.kind.as_str(),
                                i.state.as_str(),
                                i.captured_at
                            );
                            if let Some(e) = &i.last_error {
                                line.push_str(&format!("\n    {e}"));
                            }
                            line
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    if page.truncated {
                        s.push_str(&format!(
                            "\n… showing the newest {} of {}; use --limit for more",
                            page.items.len(),
                            page.total
                        ));
                    }
                    s
                });
            }
            QueueAction::Flush { batch_size } => {
                let report = flush(
                    &client,
                    json,
                    FlushOptions {
                        batch_size,
                        ignore_backoff: true,
                        consents_only: false,
                    },
                )
                .await;
                out(json, &report, || flush_text(&report));
                return Ok(flush_status(&report));
            }
            QueueAction::Retry { record_id, all } => {
                if record_id.is_none() && !all {
                    return Err(EcspError::invalid_input("give a record id, or --all"));
                }
                let n = client.retry_rejected(record_id).await?;
                out(json, &serde_json::json!({ "requeued": n }), || {
                    format!("{n} record(s) back in the queue; `ecsp queue flush` sends them")
                });
            }
            QueueAction::Drop {
                record_id,
                rejected,
                yes,
            } => {
                if record_id.is_none() && !rejected {
                    return Err(EcspError::invalid_input(
                        "give a rejected record's id, or --rejected for all of them",
                    ));
                }
                let what = record_id.map_or_else(
                    || "every rejected record".to_owned(),
                    |id| format!("rejected record {id}"),
                );
                if !yes && !confirm(&format!("Delete {what} from the outbox for good?"))? {
                    out(json, &serde_json::json!({ "dropped": 0 }), || {
                        "nothing dropped".into()
                    });
                    return Ok(exit::OK);
                }
                let n = client.drop_rejected(record_id).await?;
                if n == 0 && record_id.is_some() {
                    return Err(EcspError::new(
                        ecsp_client::ErrorCode::NotFound,
                        format!(
                            "{what} is not in the outbox (only rejected records can be dropped)"
                        ),
                    ));
                }
                out(json, &serde_json::json!({ "dropped": n }), || {
                    format!("{n} rejected record(s) dropped")
                });
            }
        },
    }
    Ok(exit::OK)
}

/// `--device`, when given, as the device's id (a serial number is looked up on the server).
pub(crate) async fn find_device(
    client: &EcspClient,
    device: Option<&str>,
) -> Result<Option<Uuid>, EcspError> {
    match device {
        Some(d) => Ok(Some(client.find_device(d).await?)),
        None => Ok(None),
    }
}
