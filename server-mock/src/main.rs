//! `ecsp-server`: the reference ECSP server. With no arguments it serves HTTPS on loopback from
//! `./ecsp-data`, creating a local CA, the database and a demo organisation on first start.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ecsp_protocol::agent::AgentType;
use ecsp_server_mock::{Config, seed};

/// mimalloc rather than glibc's malloc: buffers a request allocates on one thread are freed on
/// another (tokio workers, the database writer and sync threads), and glibc's arena locks showed
/// in the ingest profile (`__lll_lock_wait_private` under `_int_free`, 12 % of the machine in
/// allocator functions). The ingest benchmark sets the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// OpenTelemetry's port for a Prometheus exporter, apart from the usual exporters' (9100, 9090).
const DEFAULT_METRICS_PORT: u16 = 9464;

#[derive(Debug, Parser)]
#[command(
    name = "ecsp-server",
    version,
    about = "The reference ECSP server (HTTPS; MQTT over TLS for agents)"
)]
struct Cli {
    /// Address and port to listen on.
    #[arg(long, env = "ECSP_LISTEN", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Directory for the database, the local CA and (by default) the data key.
    #[arg(
        long,
        env = "ECSP_DATA_DIR",
        default_value = "ecsp-data",
        global = true
    )]
    data_dir: PathBuf,
    /// PEM certificate chain to serve instead of the local CA's (needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Extra host name or address for the local CA's server certificate (repeatable).
    #[arg(long = "tls-host")]
    tls_hosts: Vec<String>,
    /// Data key file (base64 of 32 bytes), kept apart from the database. `ECSP_DATA_KEY`
    /// overrides it. Default: DATA_DIR/keys/data.key, created on first start.
    #[arg(long, global = true)]
    data_key_file: Option<PathBuf>,
    /// Do not create the demo organisation in an empty database.
    #[arg(long)]
    no_demo: bool,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    access_token_ttl: u64,
    /// Days audit rows are kept; older rows are deleted (at start and hourly). At least 30.
    #[arg(long, default_value_t = ecsp_server_mock::store::audit::DEFAULT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(30..=36_500))]
    audit_retention_days: u32,
    /// Also serve MQTT over TLS (agents' remote operations) on this address and port. MQTT is
    /// always reachable on the HTTPS port with the TLS ALPN protocol `mqtt`.
    #[arg(long, env = "ECSP_MQTT_LISTEN")]
    mqtt_listen: Option<SocketAddr>,
    /// Most MQTT connections one network address may hold at once (the agents of a site behind
    /// one NAT share an address).
    #[arg(long, env = "ECSP_MQTT_CONNECTIONS_PER_ADDRESS",
          default_value_t = ecsp_server_mock::remote::limits::MAX_CONNECTIONS_PER_ADDRESS as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    mqtt_connections_per_address: u32,
    /// Serve the server's metrics (Prometheus text format, plain HTTP) at /metrics on this
    /// address. Default: 127.0.0.1:9464 (loopback only), skipped with a warning when another
    /// process holds it.
    #[arg(long, env = "ECSP_METRICS_LISTEN", conflicts_with = "no_metrics")]
    metrics_listen: Option<SocketAddr>,
    /// Serve no metrics.
    #[arg(long)]
    no_metrics: bool,
    /// The SMTP server alert e-mail goes through: `smtp://HOST:587?tls=required` (STARTTLS),
    /// `smtps://HOST:465` (TLS), with `USER:PASSWORD@` before the host if it asks. Keep it in
    /// the environment or the service's environment file: it may hold a password.
    #[arg(long, env = "ECSP_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The alert e-mail's sender, e.g. `ECSP <alerts@example.com>`.
    #[arg(long, env = "ECSP_SMTP_FROM")]
    smtp_from: Option<String>,
    /// A CA certificate (PEM) to trust for the SMTP server, besides the system's.
    #[arg(long, env = "ECSP_SMTP_CA_FILE")]
    smtp_ca_file: Option<PathBuf>,
    /// A CA certificate (PEM) to trust for alert webhook receivers, besides the system's.
    #[arg(long, env = "ECSP_WEBHOOK_CA_FILE")]
    webhook_ca_file: Option<PathBuf>,
    /// Let alert webhooks go to private networks (loopback, RFC 1918, link-local, unique local):
    /// for receivers on the installation's own network. By default only public addresses.
    #[arg(long, env = "ECSP_WEBHOOK_ALLOW_PRIVATE_NETWORKS")]
    webhook_allow_private_networks: bool,
    /// The portal's address as people reach it (`https://ecsp.example.com`), for the links in
    /// alerts. Default: the first --tls-host, else the listening address.
    #[arg(long, env = "ECSP_PUBLIC_URL")]
    public_url: Option<String>,
    /// The log on standard error: `text` for people, `json` for one object per line.
    #[arg(long, env = "ECSP_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Behind HAProxy (`ecsp-server haproxy-config`): every connection to the HTTPS port starts
    /// with a PROXY protocol v2 header giving the client's address; one without it is refused.
    #[arg(long, env = "ECSP_PROXY_PROTOCOL")]
    proxy_protocol: bool,
    /// Also send commands and read reports through this external MQTT broker (mosquitto),
    /// `mqtts://HOST:PORT` (TLS) or `mqtt://HOST:PORT` (loopback only). The server writes the
    /// broker's password_file and acl_file into --broker-files; point mosquitto at them.
    #[arg(long, env = "ECSP_EXTERNAL_BROKER")]
    external_broker: Option<String>,
    /// CA certificate (PEM) the external broker's certificate chains to; default: the
    /// server's local CA.
    #[arg(long, requires = "external_broker")]
    external_broker_ca: Option<PathBuf>,
    /// Directory for the external broker's password_file and acl_file (default DATA_DIR/broker).
    #[arg(long, requires = "external_broker")]
    broker_files: Option<PathBuf>,
    /// The external broker is a NATS cluster in operator mode, trusting the keys in this
    /// directory (`ecsp-server nats-init`; the same files on every node): agents sign in with
    /// a credential the server signs, and no broker file is written.
    #[arg(long, env = "ECSP_NATS_KEYS", requires = "external_broker")]
    nats_keys: Option<PathBuf>,
    /// The broker nodes' NATS protocol addresses (`nats://HOST:PORT`, comma-separated), through
    /// which the server tells the brokers of revoked agents.
    #[arg(
        long,
        env = "ECSP_NATS_URLS",
        requires = "nats_keys",
        value_delimiter = ','
    )]
    nats_url: Vec<String>,
    /// Keep the data in PostgreSQL instead of SQLite in --data-dir:
    /// `postgres://USER@HOST:PORT/DATABASE`. The password comes from the URL, `PGPASSWORD` or
    /// --database-password-file and is never printed. The data key and TLS files stay in
    /// --data-dir.
    #[arg(long, env = "ECSP_DATABASE_URL", hide_env_values = true, global = true)]
    database: Option<String>,
    /// CA certificate (PEM) of PostgreSQL's server certificate: TLS is then required and the
    /// certificate must name the URL's host.
    #[arg(long, env = "ECSP_DATABASE_CA", global = true)]
    database_ca: Option<PathBuf>,
    /// File whose first line is the database password (when neither the URL nor `PGPASSWORD`
    /// has one).
    #[arg(long, env = "ECSP_DATABASE_PASSWORD_FILE", global = true)]
    database_password_file: Option<PathBuf>,
    /// Most sessions this server keeps open to PostgreSQL (each runs one request at a time).
    #[arg(long, env = "ECSP_DATABASE_POOL_SIZE",
          default_value_t = ecsp_server_mock::db::postgres::DEFAULT_POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    database_pool_size: u32,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Add an organisation (customer) with its first admin, print the admin's password, and exit.
    AddOrganization {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_name: String,
    },
    /// Manage agents (list, disable, enable, delete, rotate their secret), and exit.
    Agents {
        #[command(subcommand)]
        command: ecsp_server_mock::agent_admin::AgentsCommand,
    },
    /// Write the whole audit log as JSON Lines (to archive it before rows expire), and exit.
    ExportAudit {
        /// File to write; standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Give an account a new random password (printed once), end all its sessions, audit it,
    /// and exit: the way back in for an admin who lost theirs.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// The organisation's name, when the address has accounts in several.
        #[arg(long)]
        organization: Option<String>,
    },
    /// Copy this installation's SQLite database (in --data-dir) into a new, empty PostgreSQL
    /// database, all or nothing, say what was copied, and exit. Stop the server first; then
    /// start it with --database and the same data directory (it keeps the data key).
    Migrate {
        /// Data directory whose database to copy (default: --data-dir).
        #[arg(long)]
        from: Option<PathBuf>,
        /// The database to fill, `postgres://USER@HOST:PORT/DATABASE`; it must hold no data.
        /// --database-ca and --database-password-file apply to it.
        #[arg(long)]
        to: String,
    },
    /// Back the database up while the server serves (SQLite: the online backup API, one
    /// commit's state; PostgreSQL: pg_dump), into a new file, and exit. The backup holds no data
    /// key: keep the key apart (see --data-key-file).
    Backup {
        /// The backup file to write (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
    /// Move every sealed value and e-mail index to a new data key while the server serves (in
    /// batches; safe to stop and run again), remove the old key from the key file, and exit.
    RotateDataKey,
    /// Restore a backup into a new data directory (SQLite; it must hold no database yet) or an
    /// empty PostgreSQL database (--database), and exit. Start the server on it with the data
    /// key of the installation the backup came from.
    Restore {
        /// The backup file (`ecsp-server backup --to`).
        #[arg(long)]
        from: PathBuf,
    },
    /// Print the HAProxy configuration for several server nodes behind one address (TLS passed
    /// through, MQTT told apart by ALPN, nodes checked on /ready), and exit.
    HaproxyConfig {
        /// Where HAProxy listens (the one address agents and apps use).
        #[arg(long, default_value = "127.0.0.1:8443")]
        frontend: SocketAddr,
        /// A server node's address and port (repeat for each node).
        #[arg(long = "node", required = true)]
        nodes: Vec<SocketAddr>,
        /// A NATS broker node's MQTT address (repeat for each): MQTT goes to these instead.
        #[arg(long = "broker")]
        brokers: Vec<SocketAddr>,
        /// The CA certificate the nodes' certificates chain to (the shared local CA's
        /// DATA_DIR/tls/ca.pem, or the operator's).
        #[arg(long)]
        ca: PathBuf,
        /// The name HAProxy's checks expect on the nodes' certificates.
        #[arg(long, default_value = "localhost")]
        check_host: String,
    },
    /// Make the NATS keys the clustered broker trusts (operator, accounts) in DIR unless they
    /// are there, write DIR/nats-auth.conf for the broker nodes, and exit.
    NatsInit {
        /// The directory of the keys (keep it as secret as the data key).
        dir: PathBuf,
    },
    /// Print the configuration of one process of a NATS broker node, and exit: the MQTT
    /// process's, or with --router the routing process's (each node runs both).
    NatsConfig {
        /// Which node (1-based) this configuration is for.
        #[arg(long)]
        index: usize,
        /// Each broker node as NATS_ADDR,MQTT_ADDR,ROUTE_ADDR,LEAF_ADDR (repeat for each node,
        /// in order): the MQTT process's NATS and MQTT ports, the routing process's route and
        /// leaf-node ports.
        #[arg(long = "broker", required = true)]
        brokers: Vec<String>,
        /// The routing process's configuration (needs only --index and --broker).
        #[arg(long)]
        router: bool,
        /// The node's own directory (JetStream's store, its copy of the accounts).
        #[arg(long, required_unless_present = "router")]
        state_dir: Option<PathBuf>,
        /// The service's certificate and key (what agents see through HAProxy).
        #[arg(long, required_unless_present = "router")]
        cert: Option<PathBuf>,
        #[arg(long, required_unless_present = "router")]
        key: Option<PathBuf>,
        /// The keys' directory (`ecsp-server nats-init`).
        #[arg(long, required_unless_present = "router")]
        nats_keys: Option<PathBuf>,
    },
    /// Issue a one-time sign-in unlock code (valid 24 hours) for an account whose owner is
    /// locked out by someone else's guesses, print it, and exit. Tell it to the owner yourself.
    UnlockSignIn {
        #[arg(long)]
        email: String,
        /// The organisation's name, when the address has accounts in several.
        #[arg(long)]
        organization: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        // One JSON object per line: the event's fields and its spans' (a log shipper's input).
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        // Colour codes only on a terminal: a log file or journal gets plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let mut config = Config::with_defaults(cli.data_dir);
    config.listen = cli.listen;
    config.tls_cert = cli.tls_cert;
    config.tls_key = cli.tls_key;
    config.tls_hosts = cli.tls_hosts;
    config.data_key_file = cli.data_key_file;
    config.seed_demo = !cli.no_demo;
    config.tokens.access_ttl_secs = cli.access_token_ttl;
    config.audit_retention_days = cli.audit_retention_days;
    config.mqtt_listen = cli.mqtt_listen;
    config.mqtt_connections_per_address = cli.mqtt_connections_per_address as usize;
    if !cli.no_metrics {
        config.metrics_listen_is_default = cli.metrics_listen.is_none();
        config.metrics_listen = cli.metrics_listen.or(Some(SocketAddr::from((
            [127, 0, 0, 1],
            DEFAULT_METRICS_PORT,
        ))));
    }
    config.proxy_protocol = cli.proxy_protocol;
    config.alerts.smtp_url = cli.smtp_url;
    config.alerts.smtp_from = cli.smtp_from;
    config.alerts.smtp_ca_file = cli.smtp_ca_file;
    config.alerts.webhook_ca_file = cli.webhook_ca_file;
    config.alerts.webhook_private_networks = cli.webhook_allow_private_networks;
    config.alerts.public_url = cli.public_url;
    if let Some(url) = &cli.database {
        config.database = Some(
            ecsp_server_mock::db::PostgresTarget::parse(
                url,
                cli.database_password_file.as_deref(),
                cli.database_ca.clone(),
            )
            .map_err(anyhow::Error::msg)?
            .with_pool_size(cli.database_pool_size),
        );
    }
    if let Some(url) = &cli.external_broker {
        let mut broker = external_broker(
            url,
            cli.external_broker_ca.as_deref(),
            cli.broker_files
                .clone()
                .unwrap_or_else(|| config.data_dir.join("broker")),
        )?;
        broker.nats =
            cli.nats_keys
                .clone()
                .map(|keys_dir| ecsp_server_mock::remote::nats::NatsSettings {
                    keys_dir,
                    urls: cli.nats_url.clone(),
                });
        config.external_broker = Some(broker);
    }

    match cli.command {
        Some(Command::HaproxyConfig {
            frontend,
            nodes,
            brokers,
            ca,
            check_host,
        }) => {
            print!(
                "{}",
                ecsp_server_mock::cluster::haproxy_config(
                    frontend,
                    &nodes,
                    &brokers,
                    &ca,
                    &check_host
                )
            );
            return Ok(());
        }
        Some(Command::NatsInit { dir }) => {
            let keys = ecsp_server_mock::remote::nats::NatsKeys::init(&dir)?;
            println!(
                "NATS keys in {dir}; service account {account}. Include {auth} in each broker \
                 node's configuration (`ecsp-server nats-config` does) and start the server with \
                 --nats-keys {dir}.",
                dir = dir.display(),
                account = keys.account(),
                auth = dir.join("nats-auth.conf").display(),
            );
            return Ok(());
        }
        Some(Command::NatsConfig {
            index,
            brokers,
            router,
            state_dir,
            cert,
            key,
            nats_keys,
        }) => {
            let nodes = brokers
                .iter()
                .map(|b| broker_node(b))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if index == 0 || index > nodes.len() {
                anyhow::bail!("--index must be 1 to {}, got {index}", nodes.len());
            }
            if router {
                print!(
                    "{}",
                    ecsp_server_mock::cluster::nats_router_config(index - 1, &nodes)
                );
                return Ok(());
            }
            // clap requires these without --router.
            let (Some(state_dir), Some(cert), Some(key), Some(nats_keys)) =
                (state_dir, cert, key, nats_keys)
            else {
                anyhow::bail!("--state-dir, --cert, --key and --nats-keys are needed");
            };
            let auth =
                std::fs::read_to_string(nats_keys.join("nats-auth.conf")).with_context(|| {
                    format!("run `ecsp-server nats-init {}` first", nats_keys.display())
                })?;
            let account = ecsp_server_mock::remote::nats::NatsKeys::load(&nats_keys)?.account();
            print!(
                "{}",
                ecsp_server_mock::cluster::nats_config(
                    index - 1,
                    &nodes,
                    &state_dir,
                    &cert,
                    &key,
                    &auth,
                    &account,
                )
            );
            return Ok(());
        }
        Some(Command::Backup { to }) => {
            let summary = ecsp_server_mock::backup(&config, &to).await?;
            println!("{summary}");
            return Ok(());
        }
        Some(Command::RotateDataKey) => {
            let mut out = std::io::stdout();
            ecsp_server_mock::rotate::rotate_data_key(&config, &mut out).await?;
            return Ok(());
        }
        Some(Command::Restore { from }) => {
            let summary = ecsp_server_mock::restore(&config, &from).await?;
            println!("{summary}");
            return Ok(());
        }
        Some(Command::Migrate { from, to }) => {
            let target = ecsp_server_mock::db::PostgresTarget::parse(
                &to,
                cli.database_password_file.as_deref(),
                cli.database_ca.clone(),
            )
            .map_err(anyhow::Error::msg)?;
            let from = from.unwrap_or_else(|| config.data_dir.clone());
            let copied = ecsp_server_mock::migrate_to_postgres(&from, &target).await?;
            println!(
                "copied {} into PostgreSQL {}:",
                from.join(ecsp_server_mock::DATABASE_FILE).display(),
                target.describe()
            );
            for (table, rows) in copied {
                println!("  {table}: {rows} row(s)");
            }
            println!(
                "Start the server with --database and the same data key (--data-dir {}).",
                from.display()
            );
            return Ok(());
        }
        Some(Command::AddOrganization {
            name,
            admin_email,
            admin_name,
        }) => {
            let (db, key) = ecsp_server_mock::open_storage(&config).await?;
            let (org, password) =
                seed::add_organization(&db, &key, &name, &admin_email, &admin_name).await?;
            println!("organisation {org} created");
            println!("admin {admin_email} password (shown once): {password}");
            return Ok(());
        }
        Some(Command::Agents { command }) => {
            let (db, key) = ecsp_server_mock::open_existing_storage(&config).await?;
            let mut out = std::io::stdout().lock();
            ecsp_server_mock::agent_admin::run_command(&db, &key, command, &mut out).await?;
            return Ok(());
        }
        Some(Command::ExportAudit { out }) => {
            let (db, _) = ecsp_server_mock::open_existing_storage(&config).await?;
            let rows = db
                .read(move |c| {
                    let mut sink: Box<dyn std::io::Write> = match &out {
                        Some(path) => {
                            Box::new(std::io::BufWriter::new(std::fs::File::create(path)?))
                        }
                        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                    };
                    let n = ecsp_server_mock::store::audit::export(c, &mut sink)?;
                    sink.flush()?;
                    Ok::<_, anyhow::Error>(n)
                })
                .await?;
            eprintln!("{rows} audit rows exported");
            return Ok(());
        }
        Some(Command::ResetPassword {
            email,
            organization,
        }) => return reset_password(&config, &email, organization.as_deref()).await,
        Some(Command::UnlockSignIn {
            email,
            organization,
        }) => return unlock_sign_in(&config, &email, organization.as_deref()).await,
        None => {}
    }

    let server = ecsp_server_mock::start(config.clone()).await?;
    println!("ECSP reference server listening on https://{}", server.addr);
    println!("  MQTT for agents: the same port, TLS ALPN `mqtt`");
    if let Some(mqtt) = server.mqtt_addr {
        println!("  MQTT for agents, own port: mqtts://{mqtt}");
    }
    println!("  data directory: {}", config.data_dir.display());
    match &config.database {
        Some(target) => println!("  database: PostgreSQL at {}", target.describe()),
        None => println!(
            "  database: SQLite, {}",
            config
                .data_dir
                .join(ecsp_server_mock::DATABASE_FILE)
                .display()
        ),
    }
    if let Some(fp) = &server.ca_fingerprint {
        println!("  local CA certificate: https://{}/ca.pem", server.addr);
        println!(
            "    also at {}",
            ecsp_server_mock::tls::tls_dir(&config.data_dir)
                .join("ca.pem")
                .display()
        );
        println!("    SHA-256 fingerprint: {fp}");
    }
    if let Some(metrics) = server.metrics_addr {
        println!("  metrics (Prometheus): http://{metrics}/metrics");
    }
    println!("  API description: https://{}/openapi.json", server.addr);
    println!("  portal (browsers): https://{}/portal/", server.addr);
    match &server.demo {
        Some(demo) => {
            println!(
                "\nDemo organisation \"{}\" created. Passwords are shown this once:",
                demo.organization_name
            );
            for u in &demo.users {
                println!("  {:<32} {:<16} {}", u.email, u.role.as_str(), u.password);
            }
            println!(
                "  agent {}  secret {}  ({}; the {} printers are designated to it)",
                demo.agent.agent_id,
                demo.agent.secret,
                match seed::DEMO_AGENT_TYPE {
                    AgentType::DcAgent => "a DC agent",
                    AgentType::EsAgent => "an ES agent",
                },
                demo.devices.len()
            );
        }
        None => {
            println!("\nExisting data directory: sign in with the accounts created earlier.");
            println!("  Lost an admin password? ecsp-server reset-password --email ADDRESS");
        }
    }
    print!("{}", next_steps(&config, &server));
    let handle = server.handle();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    server.wait().await
}

/// Where a person goes from here: the portal, the CLI, the desktop app and a simulated printer
/// agent, with this server's address and CA file filled in.
fn next_steps(config: &Config, server: &ecsp_server_mock::Server) -> String {
    // The local CA's certificate names `localhost`; any other listening address is as given.
    let host = if server.addr.ip().is_loopback() {
        format!("localhost:{}", server.addr.port())
    } else {
        server.addr.to_string()
    };
    let url = format!("https://{host}");
    let ca = server.ca_fingerprint.as_ref().map(|_| {
        ecsp_server_mock::tls::tls_dir(&config.data_dir)
            .join("ca.pem")
            .display()
            .to_string()
    });
    let ca_option = ca
        .as_ref()
        .map(|path| format!(" --ca-cert {path}"))
        .unwrap_or_default();
    let email = if server.demo.is_some() {
        "operator@demo.ecsp.example"
    } else {
        "ADDRESS"
    };
    format!(
        "\nNext:\n\
         \x20 portal, in a browser:  {url}/portal/  (sign in with an account above)\n\
         \x20 command line:          ecsp login --server {url}{ca_option} --email {email}\n\
         \x20 desktop app:           ecsp-desktop, server {url}{fingerprint}\n\
         \x20 simulated printers:    ecsp-agent --data-dir agent-data enrol --server {url}{ca_option}\n\
         \x20                        (asks for the agent id and secret), then: ecsp-agent --data-dir agent-data simulate\n",
        fingerprint = if ca.is_some() {
            " (compare the fingerprint above)"
        } else {
            ""
        },
    )
}

/// `ecsp-server reset-password`: a new password for one account, shown once.
async fn reset_password(
    config: &Config,
    email: &str,
    organization: Option<&str>,
) -> anyhow::Result<()> {
    let (db, key) = ecsp_server_mock::open_existing_storage(config).await?;
    let reset = seed::reset_password(&db, &key, email, organization).await?;
    println!(
        "{} (organisation \"{}\") new password (shown once): {}",
        email.trim(),
        reset.organization_name,
        reset.password
    );
    println!(
        "{} session(s) of this account ended; the change is in the audit log.",
        reset.sessions_ended
    );
    Ok(())
}

/// `ecsp-server unlock-sign-in`: a one-time unlock code for one account, shown once.
async fn unlock_sign_in(
    config: &Config,
    email: &str,
    organization: Option<&str>,
) -> anyhow::Result<()> {
    let (db, key) = ecsp_server_mock::open_existing_storage(config).await?;
    let (issued, organization) = seed::unlock_sign_in(&db, &key, email, organization).await?;
    println!(
        "{} (organisation \"{organization}\") sign-in unlock code (shown once, valid until {}): {}",
        email.trim(),
        issued.expires_at.format("%Y-%m-%d %H:%M UTC"),
        issued.code
    );
    println!(
        "Tell it to the owner yourself (in person, by phone); it works only with their password."
    );
    Ok(())
}

/// `NATS_ADDR,MQTT_ADDR,ROUTE_ADDR,LEAF_ADDR` as a broker node.
fn broker_node(text: &str) -> anyhow::Result<ecsp_server_mock::cluster::BrokerNode> {
    let addrs: Vec<SocketAddr> = text
        .split(',')
        .map(|a| a.trim().parse::<SocketAddr>())
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--broker `{text}`: {e}"))?;
    match addrs[..] {
        [client, mqtt, route, leaf] => Ok(ecsp_server_mock::cluster::BrokerNode {
            client,
            mqtt,
            route,
            leaf,
        }),
        _ => anyhow::bail!("--broker needs NATS_ADDR,MQTT_ADDR,ROUTE_ADDR,LEAF_ADDR, got `{text}`"),
    }
}

/// `--external-broker` and its companions as the server's configuration.
fn external_broker(
    url: &str,
    ca: Option<&std::path::Path>,
    files_dir: PathBuf,
) -> anyhow::Result<ecsp_server_mock::remote::external::ExternalBroker> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("mqtt://") {
        (false, rest)
    } else {
        anyhow::bail!("--external-broker must start with mqtts:// or mqtt://, got `{url}`");
    };
    let (host, port) = rest
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--external-broker needs HOST:PORT, got `{url}`"))?;
    let ca_pem = match ca {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the broker's CA {}", path.display()))?,
        ),
        None => None,
    };
    Ok(ecsp_server_mock::remote::external::ExternalBroker {
        host,
        port,
        tls,
        ca_pem,
        files_dir,
        nats: None,
    })
}
