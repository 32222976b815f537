//! `ecsp`: the headless face of the PC application. Each subcommand is a few lines over
//! `ecsp-client`; what it prints is for people, or JSON with `--json`.

/// Writes a line to standard output, ignoring a closed pipe (`ecsp … | head` must not panic).
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// As [`emit!`], without the newline.
macro_rules! emit_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod color;
mod config;
mod files;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use ecsp_client::capture::{DfeCapture, MeasurementCapture};
use ecsp_client::outbox::QueueState;
use ecsp_client::sync::FlushOptions;
use ecsp_client::{ClientConfig, ClientError, EcspClient};
use ecsp_protocol::consent::Purpose;
use serde::Serialize;

use crate::config::Dirs;

#[derive(Debug, Parser)]
#[command(
    name = "ecsp",
    version,
    about = "Upload DFE settings and measurements to an ECSP server"
)]
struct Cli {
    /// Server URL (https:// only); saved by a successful `login`.
    #[arg(long, global = true, env = "ECSP_SERVER")]
    server: Option<String>,
    /// Extra CA certificate (PEM) to trust, e.g. the reference server's; saved by `login`.
    #[arg(long, global = true, env = "ECSP_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Configuration directory (default: the platform's).
    #[arg(long, global = true, env = "ECSP_CONFIG_DIR", hide = true)]
    config_dir: Option<PathBuf>,
    /// Data directory holding the outbox (default: the platform's).
    #[arg(long, global = true, env = "ECSP_DATA_DIR", hide = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Online(OnlineCommand),
    /// Colorimetry on CGATS and CxF files (works offline).
    Color {
        #[command(subcommand)]
        command: color::ColorCommand,
    },
}

/// The commands that talk to the server (or its outbox).
#[derive(Debug, Subcommand)]
enum OnlineCommand {
    /// Sign in; the tokens are kept in the OS keyring.
    Login {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line) instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign out here and on the server.
    Logout,
    /// Who is signed in.
    Whoami,
    /// Show or change consent for job information, GPS and photos.
    Consent {
        #[command(subcommand)]
        action: ConsentAction,
    },
    /// Capture a record into the outbox, then try to send it.
    Upload {
        #[command(subcommand)]
        what: UploadWhat,
    },
    /// The outbox of records waiting to be sent.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConsentAction {
    Show,
    Grant { purpose: PurposeArg },
    Refuse { purpose: PurposeArg },
    Withdraw { purpose: PurposeArg },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PurposeArg {
    #[value(name = "job_info")]
    JobInfo,
    Gps,
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
enum UploadWhat {
    /// A DFE's software, environment and print settings (JSON), and job information if allowed.
    Dfe {
        #[arg(long)]
        settings: PathBuf,
        #[arg(long)]
        job: Option<PathBuf>,
        /// Only queue it; send later with `queue flush`.
        #[arg(long)]
        queue_only: bool,
    },
    /// A spectrometer measurement (JSON).
    Measurement {
        file: PathBuf,
        #[arg(long)]
        queue_only: bool,
    },
}

#[derive(Debug, Subcommand)]
enum QueueAction {
    Status,
    List {
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Send everything waiting now, ignoring backoff.
    Flush {
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Put rejected records back in the queue.
    Retry {
        record_id: Option<uuid::Uuid>,
        #[arg(long, conflicts_with = "record_id")]
        all: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StateArg {
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

/// Prints `value` as JSON, or `text` for people.
fn out<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) {
    if json {
        emit!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        emit!("{}", text());
    }
}

fn secret_store() -> Result<Arc<dyn ecsp_client::SecretStore>, ClientError> {
    Ok(Arc::new(ecsp_client::secrets::KeyringSecretStore::new(
        ecsp_client::KEYRING_SERVICE,
    )?))
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(rpassword::prompt_password("Password: ")?)
}

async fn flush(
    client: &EcspClient,
    json: bool,
    batch_size: usize,
    ignore_backoff: bool,
) -> Result<bool, ClientError> {
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
    let progress = |p: ecsp_client::sync::FlushProgress| {
        if let Some(bar) = &bar {
            bar.set_length(p.total);
            bar.set_position(p.sent + p.rejected);
            if p.rejected > 0 {
                bar.set_message(format!("{} rejected", p.rejected));
            }
        }
    };
    let report = client
        .flush(
            FlushOptions {
                batch_size,
                ignore_backoff,
            },
            &progress,
        )
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out(json, &report, || {
        let mut s = format!(
            "sent {}, rejected {}, waiting {}",
            report.sent, report.rejected, report.remaining
        );
        if let Some(why) = &report.stopped {
            s.push_str(&format!("\nstopped: {why}"));
        }
        if report.rejected > 0 {
            s.push_str("\nsee `ecsp queue list --state rejected` for the server's reasons");
        }
        s
    });
    Ok(report.stop_error.is_none())
}

/// Runs the command; the exit status is 0 when done, 1 when a colour comparison fails a
/// normative criterion, 3 when a flush stopped early.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = match cli.command {
        Command::Color { command } => {
            let passed = color::run(command, cli.json)?;
            return Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Online(command) => command,
    };
    let dirs = Dirs::resolve(cli.config_dir.clone(), cli.data_dir.clone())?;
    let mut settings = dirs.load()?;
    let server = cli
        .server
        .clone()
        .or_else(|| settings.server.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no server configured: pass --server https://HOST:PORT (saved at login)"
            )
        })?;
    let ca_cert = cli
        .ca_cert
        .as_deref()
        .map(config::absolute)
        .or_else(|| settings.ca_cert.clone());
    let client = EcspClient::open(
        &ClientConfig {
            server: server.clone(),
            ca_file: ca_cert.clone(),
            data_dir: dirs.data.clone(),
        },
        secret_store()?,
    )?;
    let json = cli.json;
    match command {
        OnlineCommand::Login {
            email,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let me = client.login(&email, &password).await?;
            settings.server = Some(server);
            settings.ca_cert = ca_cert;
            dirs.save(&settings)?;
            out(json, &me, || {
                format!(
                    "signed in as {} ({}) of {}",
                    me.name,
                    me.role.as_str(),
                    me.organization_name
                )
            });
        }
        OnlineCommand::Logout => {
            let outcome = client.logout().await?;
            let text = match outcome {
                ecsp_client::session::SignedOut::Revoked => "signed out",
                ecsp_client::session::SignedOut::LocalOnly => {
                    "signed out here; the server could not be reached, its session will lapse"
                }
                ecsp_client::session::SignedOut::NotSignedIn => "not signed in",
            };
            out(json, &serde_json::json!({ "result": text }), || {
                text.to_owned()
            });
        }
        OnlineCommand::Whoami => {
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
        OnlineCommand::Consent { action } => {
            let decision = match action {
                ConsentAction::Show => None,
                ConsentAction::Grant { purpose } => Some(client.grant(purpose.into())?),
                ConsentAction::Refuse { purpose } => Some(client.refuse(purpose.into())?),
                ConsentAction::Withdraw { purpose } => Some(client.withdraw(purpose.into())?),
            };
            if decision.is_some() {
                // Best effort: the decision is already recorded and queued.
                let _ = client.flush(FlushOptions::default(), &|_| {}).await;
            }
            let status = client.consent_status()?;
            out(json, &status, || {
                status
                    .iter()
                    .map(|s| {
                        let state = if s.granted {
                            "granted"
                        } else if s.needs_asking {
                            "not asked under the current notice"
                        } else {
                            "not granted"
                        };
                        format!("{:<9} {state}", s.purpose.as_str())
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        OnlineCommand::Upload { what } => {
            let (captured, queue_only) = match what {
                UploadWhat::Dfe {
                    settings: file,
                    job,
                    queue_only,
                } => {
                    let mut input: DfeCapture = files::read_json(&file)?;
                    if let Some(job_file) = job {
                        input.job = Some(files::read_json(&job_file)?);
                    }
                    (
                        client
                            .capture_dfe(input)
                            .map_err(|e| files::in_file(&file, e))?,
                        queue_only,
                    )
                }
                UploadWhat::Measurement { file, queue_only } => {
                    let input: MeasurementCapture = files::read_json(&file)?;
                    (
                        client
                            .capture_measurement(input)
                            .map_err(|e| files::in_file(&file, e))?,
                        queue_only,
                    )
                }
            };
            out(json, &captured, || {
                let mut s = format!("captured {} into the outbox", captured.record_id);
                for p in &captured.withheld {
                    s.push_str(&format!(
                        "\nleft out `{p}`: no consent (ecsp consent grant {p})"
                    ));
                }
                s
            });
            if !queue_only {
                return Ok(flush_exit(flush(&client, json, 500, false).await?));
            }
        }
        OnlineCommand::Queue { action } => match action {
            QueueAction::Status => {
                let s = client.queue_status()?;
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
                let items = client.queue_list(state.map(Into::into), limit)?;
                out(json, &items, || {
                    items
                        .iter()
                        .map(|i| {
                            let mut line = format!(
                                "{} {:<11} {:<10} {}",
                                i.record_id,
                                i.kind,
                                i.state.as_str(),
                                i.captured_at
                            );
                            if let Some(e) = &i.last_error {
                                line.push_str(&format!("\n    {e}"));
                            }
                            line
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            QueueAction::Flush { batch_size } => {
                return Ok(flush_exit(flush(&client, json, batch_size, true).await?));
            }
            QueueAction::Retry { record_id, all } => {
                if record_id.is_none() && !all {
                    anyhow::bail!("give a record id, or --all");
                }
                let n = client.retry_rejected(record_id)?;
                out(json, &serde_json::json!({ "requeued": n }), || {
                    format!("{n} record(s) back in the queue")
                });
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn flush_exit(completed: bool) -> ExitCode {
    if completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECSP_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            let code = e
                .downcast_ref::<ClientError>()
                .map_or("error", ClientError::code)
                .to_owned();
            if json {
                emit!(
                    "{}",
                    serde_json::json!({ "error": { "code": code, "message": format!("{e:#}") } })
                );
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
