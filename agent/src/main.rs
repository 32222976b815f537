//! `ecsp-agent`: a thin command line over the library — enrol, then run as the DC agent (SNMP
//! printers) or as the ES agent simulator (simulated printers).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use ecsp_agent::config::{AgentConfig, ca_path, database_path};
use ecsp_agent::dc::DcAgent;
use ecsp_agent::session::{self, Executor, MqttSettings};
use ecsp_agent::sim::Fleet;
use ecsp_agent::store::AgentStore;
use ecsp_agent::upload::{Uploader, fetch_ca, read_ca_file};
use ecsp_client::secrets::KeyringSecretStore;
use ecsp_client::{Secret, SecretStore};
use ecsp_protocol::agent::{AgentType, CollectionType};
use uuid::Uuid;

const KEYRING_SERVICE: &str = "ecsp-agent";

#[derive(Parser, Debug)]
#[command(
    name = "ecsp-agent",
    version,
    about = "ECSP printer agents: DC agent (SNMP) and ES agent simulator"
)]
struct Cli {
    /// Where the agent keeps its configuration, CA and database.
    #[arg(long, env = "ECSP_AGENT_DIR", default_value = "ecsp-agent-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    Dc,
    Es,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Downloads the server's CA, checks its fingerprint and stores the agent's credentials
    /// (the secret goes to the OS keyring; it is read from ECSP_AGENT_SECRET or asked for).
    Enrol {
        #[arg(long)]
        server: String,
        /// The server's CA fingerprint as the server printed it at start (`AA:BB:…`): the CA is
        /// downloaded from the server and trusted only if it matches.
        #[arg(long, required_unless_present = "ca_cert", conflicts_with = "ca_cert")]
        ca_fingerprint: Option<String>,
        /// Or the server's CA certificate as a file you hold (`ecsp-data/tls/ca.pem` on the
        /// server's machine).
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<PathBuf>,
        /// The id the server printed for the demo agent, or `POST /api/v1/admin/agents`
        /// returned; asked for when not given.
        #[arg(long, env = "ECSP_AGENT_ID")]
        agent_id: Option<Uuid>,
        /// The kind the agent was registered as; read from the server when not given, and
        /// refused if it differs.
        #[arg(long, value_enum)]
        kind: Option<Kind>,
    },
    /// Runs the DC agent: polls the designated printers (`printers` in agent.json) every
    /// `--every` seconds, uploads, and answers status operations.
    Dc {
        #[arg(long, default_value_t = 300)]
        every: u64,
        /// Poll and upload once, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Runs the ES agent simulator: by default it simulates the printers designated to this
    /// agent on the server (the only ones whose reports the server accepts).
    Simulate {
        /// Simulate these printers instead, `manufacturer,model,serial`, repeated.
        #[arg(long = "device", value_name = "MANUFACTURER,MODEL,SERIAL")]
        devices: Vec<String>,
        /// Simulate N generated printers instead (the server refuses their reports unless
        /// printers with those identities are designated to this agent).
        #[arg(long, conflicts_with = "devices")]
        printers: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Upload device data every this many seconds.
        #[arg(long, default_value_t = 300)]
        every: u64,
        /// Upload one reading of each printer, then exit (non-zero if the server refused any).
        #[arg(long)]
        once: bool,
        /// Head cleanings take this share of their real time.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
    },
    /// Shows the outbox and the operations recorded.
    Status,
}

fn secrets() -> Result<Arc<dyn SecretStore>> {
    Ok(Arc::new(
        KeyringSecretStore::new(KEYRING_SERVICE).context("the OS keyring is not available")?,
    ))
}

fn secret_key(agent_id: Uuid) -> String {
    format!("agent-secret/{agent_id}")
}

struct Running {
    config: AgentConfig,
    ca_pem: String,
    secret: Secret,
    store: AgentStore,
}

fn open(data_dir: &std::path::Path, store: &Arc<dyn SecretStore>) -> Result<Running> {
    let config = AgentConfig::load(data_dir).context("run `ecsp-agent enrol` first")?;
    let ca_pem = std::fs::read_to_string(ca_path(data_dir))
        .with_context(|| format!("cannot read {}", ca_path(data_dir).display()))?;
    let secret = store
        .get(&secret_key(config.agent_id))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .context("the agent secret is not in the keyring: run `ecsp-agent enrol` again")?;
    let db = AgentStore::open(&database_path(data_dir))?;
    Ok(Running {
        config,
        ca_pem,
        secret,
        store: db,
    })
}

fn mqtt(r: &Running, agent_type: AgentType) -> Result<MqttSettings> {
    let url = url::Url::parse(&r.config.server)?;
    // Asked for a broker credential before each connection (a clustered broker's); the service's
    // own broker answers 404 and the secret is used.
    let credentials = Uploader::new(
        &r.config.server,
        &r.ca_pem,
        r.config.agent_id,
        r.secret.clone(),
        agent_type,
    )?;
    Ok(MqttSettings {
        host: url
            .host_str()
            .context("the server URL has no host")?
            .to_owned(),
        port: url.port_or_known_default().unwrap_or(443),
        tls: ecsp_client::transport::tls_config(None, Some(r.ca_pem.as_bytes()))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        agent_id: r.config.agent_id,
        secret: r.secret.clone(),
        keep_alive: Duration::from_secs(60),
        credentials: Some(Arc::new(credentials)),
    })
}

async fn upload(r: &Running, uploader: &Uploader) {
    match uploader
        .flush(&r.store, CollectionType::Scheduled, 200)
        .await
    {
        Ok(s) => tracing::info!(
            sent = s.sent,
            rejected = s.rejected,
            retry_later = s.retry_later,
            "upload"
        ),
        Err(e) => tracing::error!(error = %e, "upload failed"),
    }
}

impl Kind {
    fn agent_type(self) -> AgentType {
        match self {
            Kind::Dc => AgentType::DcAgent,
            Kind::Es => AgentType::EsAgent,
        }
    }

    fn of(agent_type: AgentType) -> Self {
        match agent_type {
            AgentType::DcAgent => Kind::Dc,
            AgentType::EsAgent => Kind::Es,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Dc => "dc",
            Kind::Es => "es",
        }
    }
}

fn kind_words(agent_type: AgentType) -> &'static str {
    match agent_type {
        AgentType::DcAgent => "a DC agent",
        AgentType::EsAgent => "an ES agent",
    }
}

/// One line typed at the terminal.
fn prompt(question: &str) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} not given, and there is no terminal to ask at: pass it as an option (see --help) or its environment variable",
            question.trim_end_matches([':', ' '])
        );
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}

/// `manufacturer,model,serial` from `--device`.
fn parse_device(d: &str) -> Result<(String, String, String)> {
    let parts: Vec<&str> = d.splitn(3, ',').map(str::trim).collect();
    match parts.as_slice() {
        [m, model, s] if !m.is_empty() && !model.is_empty() && !s.is_empty() => {
            Ok(((*m).to_owned(), (*model).to_owned(), (*s).to_owned()))
        }
        _ => bail!("--device `{d}` is not MANUFACTURER,MODEL,SERIAL"),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let store = secrets()?;
    match cli.command {
        Cmd::Enrol {
            server,
            ca_fingerprint,
            ca_cert,
            agent_id,
            kind,
        } => {
            let (pem, ca_fingerprint) = match (ca_cert, ca_fingerprint) {
                (Some(path), _) => read_ca_file(&path)?,
                (None, Some(fp)) => (fetch_ca(&server, &fp).await?, fp),
                (None, None) => bail!("give --ca-fingerprint or --ca-cert"),
            };
            let agent_id = match agent_id {
                Some(id) => id,
                None => {
                    let typed = prompt("Agent id: ")?;
                    Uuid::parse_str(typed.trim()).with_context(|| {
                        format!(
                            "`{}` is not an agent id (as the server printed it)",
                            typed.trim()
                        )
                    })?
                }
            };
            let secret = match std::env::var("ECSP_AGENT_SECRET") {
                Ok(s) if !s.trim().is_empty() => s,
                _ => rpassword::prompt_password("Agent secret: ")?,
            };
            if secret.trim().is_empty() {
                bail!("no agent secret given");
            }
            let secret = Secret::new(secret.trim());
            // Asked before anything is kept: a wrong id, secret or kind is told now, not at the
            // first upload.
            let registered = Uploader::new(
                &server,
                &pem,
                agent_id,
                secret.clone(),
                AgentType::DcAgent,
            )?
            .designated()
            .await
            .map_err(|e| match e {
                ecsp_agent::upload::UploadError::Unauthorized => anyhow::anyhow!(
                    "the server does not accept agent {agent_id} with this secret: check both against what the server printed (or rotate the secret)"
                ),
                e => e.into(),
            })?;
            let agent_type = registered.agent_type;
            if let Some(kind) = kind
                && kind.agent_type() != agent_type
            {
                bail!(
                    "agent {agent_id} is registered as {} on the server, not as {}: enrol with --kind {}",
                    kind_words(agent_type),
                    kind_words(kind.agent_type()),
                    Kind::of(agent_type).name()
                );
            }
            // The keyring first: if it is unavailable, nothing is left half-enrolled on disk.
            store
                .set(&secret_key(agent_id), &secret)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::create_dir_all(&cli.data_dir)?;
            std::fs::write(ca_path(&cli.data_dir), &pem)?;
            let previous = AgentConfig::load(&cli.data_dir).ok();
            AgentConfig {
                server,
                agent_id,
                agent_type,
                ca_fingerprint,
                printers: previous.map(|p| p.printers).unwrap_or_default(),
            }
            .save(&cli.data_dir)?;
            println!(
                "enrolled agent {agent_id} ({}, {} printer(s) designated); CA pinned; secret stored in the OS keyring",
                kind_words(agent_type),
                registered.devices.len()
            );
        }
        Cmd::Status => {
            let db = AgentStore::open(&database_path(&cli.data_dir))?;
            print!("{}", ecsp_agent::store::status_text(&db)?);
        }
        Cmd::Dc { every, once } => {
            let r = open(&cli.data_dir, &store)?;
            if r.config.printers.is_empty() {
                bail!("no designated printers: add them under `printers` in agent.json");
            }
            let dc = Arc::new(DcAgent::new(r.config.printers.clone(), store.clone()));
            let uploader = Uploader::new(
                &r.config.server,
                &r.ca_pem,
                r.config.agent_id,
                r.secret.clone(),
                AgentType::DcAgent,
            )?;
            let session = (!once).then(|| {
                mqtt(&r, AgentType::DcAgent)
                    .map(|s| session::spawn(s, r.store.clone(), dc.clone() as Arc<dyn Executor>))
            });
            let session = session.transpose()?;
            loop {
                let results = dc.poll_all().await;
                dc.keep_results(&r.store, &results)?;
                upload(&r, &uploader).await;
                if once {
                    // A run that read no printer at all fails, so a scheduler notices.
                    ecsp_agent::dc::require_some_read(&results)?;
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(every)) => {}
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            if let Some(s) = session {
                s.stop().await;
            }
        }
        Cmd::Simulate {
            devices,
            printers,
            seed,
            every,
            once,
            time_scale,
        } => {
            let r = open(&cli.data_dir, &store)?;
            let now = Utc::now();
            let uploader = Uploader::new(
                &r.config.server,
                &r.ca_pem,
                r.config.agent_id,
                r.secret.clone(),
                // The simulator plays the printers; the agent reports as the kind it was
                // registered as (the server refuses the other kind).
                r.config.agent_type,
            )?;
            let fleet = if let Some(n) = printers {
                Fleet::generate(n, seed, now)
            } else {
                let parsed: Vec<(String, String, String)> = if devices.is_empty() {
                    let designated = uploader.designated().await?.devices;
                    if designated.is_empty() {
                        bail!(
                            "no printer is designated to agent {} on the server: designate some (POST /api/v1/admin/devices with this agent), or name them with --device",
                            r.config.agent_id
                        );
                    }
                    designated
                        .into_iter()
                        .map(|d| (d.manufacturer, d.model, d.serial_number))
                        .collect()
                } else {
                    devices
                        .iter()
                        .map(|d| parse_device(d))
                        .collect::<Result<_>>()?
                };
                tracing::info!(printers = parsed.len(), "simulating");
                Fleet::from_devices(
                    parsed
                        .iter()
                        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
                    seed,
                    now,
                )
            };
            fleet.set_time_scale(time_scale);
            if once {
                r.store.enqueue(&fleet.new_reports())?;
                let summary = uploader
                    .flush(&r.store, CollectionType::Scheduled, 200)
                    .await?;
                println!(
                    "sent {} reading(s); {} refused; {} to retry",
                    summary.sent, summary.rejected, summary.retry_later
                );
                if summary.rejected > 0 || summary.retry_later > 0 {
                    bail!(
                        "not every reading was accepted: `ecsp-agent status` shows the server's reasons"
                    );
                }
                return Ok(());
            }
            let session = session::spawn(
                mqtt(&r, AgentType::EsAgent)?,
                r.store.clone(),
                Arc::new(fleet.clone()),
            );
            loop {
                fleet.advance(Utc::now());
                // Only readings not sent yet: with --every under a minute the clock may not
                // have moved.
                r.store.enqueue(&fleet.new_reports())?;
                upload(&r, &uploader).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(every)) => {}
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            session.stop().await;
        }
    }
    Ok(())
}
