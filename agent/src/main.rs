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
use ecsp_agent::upload::{Uploader, fetch_ca};
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
        /// As the server printed it at start (`AA:BB:…`).
        #[arg(long)]
        ca_fingerprint: String,
        /// The id `POST /api/v1/admin/agents` returned.
        #[arg(long)]
        agent_id: Uuid,
        #[arg(long, value_enum)]
        kind: Kind,
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

fn mqtt(r: &Running) -> Result<MqttSettings> {
    let url = url::Url::parse(&r.config.server)?;
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
            agent_id,
            kind,
        } => {
            let pem = fetch_ca(&server, &ca_fingerprint).await?;
            let secret = match std::env::var("ECSP_AGENT_SECRET") {
                Ok(s) if !s.trim().is_empty() => s,
                _ => rpassword::prompt_password("Agent secret: ")?,
            };
            if secret.trim().is_empty() {
                bail!("no agent secret given");
            }
            // The keyring first: if it is unavailable, nothing is left half-enrolled on disk.
            store
                .set(&secret_key(agent_id), &Secret::new(secret.trim()))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::create_dir_all(&cli.data_dir)?;
            std::fs::write(ca_path(&cli.data_dir), &pem)?;
            let previous = AgentConfig::load(&cli.data_dir).ok();
            AgentConfig {
                server,
                agent_id,
                agent_type: match kind {
                    Kind::Dc => AgentType::DcAgent,
                    Kind::Es => AgentType::EsAgent,
                },
                ca_fingerprint,
                printers: previous.map(|p| p.printers).unwrap_or_default(),
            }
            .save(&cli.data_dir)?;
            println!("enrolled agent {agent_id}; CA pinned; secret stored in the OS keyring");
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
                mqtt(&r)
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
            time_scale,
        } => {
            let r = open(&cli.data_dir, &store)?;
            let now = Utc::now();
            let uploader = Uploader::new(
                &r.config.server,
                &r.ca_pem,
                r.config.agent_id,
                r.secret.clone(),
                AgentType::EsAgent,
            )?;
            let fleet = if let Some(n) = printers {
                Fleet::generate(n, seed, now)
            } else {
                let parsed: Vec<(String, String, String)> = if devices.is_empty() {
                    let designated = uploader.designated().await?;
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
            let session = session::spawn(mqtt(&r)?, r.store.clone(), Arc::new(fleet.clone()));
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
