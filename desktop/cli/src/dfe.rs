//! `ecsp dfe`: the DFE readers from the command line. `read` shows what one file would upload
//! (offline); `watch` and `receive` run the hot folder and the JMF receiver until Ctrl-C, with
//! the sync service sending what they capture.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use ecsp_client::service::SyncOptions;
use ecsp_client::{EcspClient, EcspError};
use ecsp_dfe::hot_folder::{self, FolderEvent, HotFolderConfig};
use ecsp_dfe::receiver::{Receiver, ReceiverConfig};
use ecsp_dfe::{ColumnMapping, Ingest, Ledger, ReadOptions};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::config::Dirs;
use crate::online::{ServerArgs, open_client};
use crate::{exit, out};

#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// The DFE software, "NAME VERSION", for files that do not name it.
    #[arg(long)]
    software: Option<String>,
    /// A job-log column mapping (JSON) for DFEs whose export is not a known column set.
    #[arg(long)]
    mapping: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DfeCommand {
    /// Print, as JSON, the DFE captures one file would upload (offline; the job part is sent
    /// only with `job_info` consent).
    Read {
        /// A JDF ticket, JMF message or job-log CSV.
        file: PathBuf,
        /// The device the captures are for (default: the nil id, for a look).
        #[arg(long)]
        device: Option<Uuid>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Capture DFE files (JDF tickets, JMF messages, job-log CSVs) as the hot folder would,
    /// each once, and send them.
    Send {
        #[command(flatten)]
        server: ServerArgs,
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The device (printer) this DFE drives: its serial number or id (see `ecsp devices`).
        #[arg(long, value_name = "SERIAL|ID")]
        device: String,
        #[command(flatten)]
        read: ReadArgs,
        /// Only capture them; send later with `queue flush`.
        #[arg(long)]
        queue_only: bool,
    },
    /// Watch a hot folder: files are captured and moved to done/, bad ones to quarantine/
    /// with NAME.reason.txt beside them. Runs until Ctrl-C.
    Watch {
        #[command(flatten)]
        server: ServerArgs,
        /// The hot folder.
        #[arg(long)]
        folder: PathBuf,
        /// The device (printer) this DFE drives: its serial number or id (see `ecsp devices`).
        #[arg(long, value_name = "SERIAL|ID")]
        device: String,
        #[command(flatten)]
        read: ReadArgs,
        /// Milliseconds a file must stay unchanged before it is read.
        #[arg(long, default_value_t = 2000)]
        settle_ms: u64,
    },
    /// Receive JMF pushed by the DFE (give it http://ADDR:PORT/jmf). Runs until Ctrl-C.
    Receive {
        #[command(flatten)]
        server: ServerArgs,
        /// Address to listen on; loopback unless another is given here.
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// The device (printer) this DFE drives: its serial number or id (see `ecsp devices`).
        #[arg(long, value_name = "SERIAL|ID")]
        device: String,
        #[command(flatten)]
        read: ReadArgs,
        /// Where refused messages are kept with their reasons (default: dfe-quarantine in the
        /// data directory).
        #[arg(long)]
        quarantine: Option<PathBuf>,
        /// A host name the DFE uses for this computer (`http://NAME:PORT/jmf`); other names
        /// than the listening address are refused (DNS rebinding). Repeatable.
        #[arg(long = "allow-host")]
        allow_hosts: Vec<String>,
    },
    /// List the files in a hot folder's quarantine with their reasons.
    Quarantine {
        /// The hot folder.
        #[arg(long)]
        folder: PathBuf,
    },
}

fn read_options(device: Uuid, args: &ReadArgs) -> Result<ReadOptions, EcspError> {
    let mut options = ReadOptions::new(device);
    if let Some(text) = &args.software {
        options.software = Some(crate::chart::split_software(text).ok_or_else(|| {
            EcspError::invalid_input(format!(
                "--software `{text}`: expected \"NAME VERSION\", the version starting with a digit"
            ))
        })?);
    }
    if let Some(path) = &args.mapping {
        let bytes = std::fs::read(path).map_err(|e| {
            EcspError::invalid_input(format!("cannot read {}: {e}", path.display()))
        })?;
        let mapping: ColumnMapping = serde_json::from_slice(&bytes).map_err(|e| {
            EcspError::bad_file(
                path,
                Some((e.line(), e.column())),
                None,
                &format!("not a column mapping: {e}"),
            )
        })?;
        options.mapping = Some(mapping);
    }
    Ok(options)
}

fn ingest_for(dirs: &Dirs, client: &EcspClient, options: ReadOptions) -> Result<Ingest, EcspError> {
    std::fs::create_dir_all(&dirs.data).map_err(|e| {
        EcspError::new(
            ecsp_client::ErrorCode::LocalStorage,
            format!("{}: {e}", dirs.data.display()),
        )
    })?;
    let ledger = Ledger::open(&dirs.data.join("dfe-ledger.sqlite3")).map_err(|e| {
        EcspError::new(
            ecsp_client::ErrorCode::LocalStorage,
            format!("the DFE ledger: {e}"),
        )
    })?;
    Ok(Ingest::new(client.clone(), ledger, options))
}

fn event_text(event: &FolderEvent) -> String {
    match event {
        FolderEvent::Captured {
            file,
            record_ids,
            withheld,
        } => {
            let mut s = format!("{file}: captured {} record(s)", record_ids.len());
            for p in withheld {
                s.push_str(&format!(" (left out `{p}`: no consent)"));
            }
            s
        }
        FolderEvent::Duplicate { file, .. } => format!("{file}: seen before, nothing new"),
        FolderEvent::Quarantined { reason, .. } => format!("quarantined: {reason}"),
        FolderEvent::Deferred { file, message, .. } => {
            format!("{file}: not captured now ({message}); retried later")
        }
        FolderEvent::QuarantinePruned { files, limits, .. } => format!(
            "quarantine full ({} files or {} bytes at most): deleted the {} oldest: {}",
            limits.max_files,
            limits.max_bytes,
            files.len(),
            files.join(", ")
        ),
    }
}

async fn until_ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

pub async fn run(command: DfeCommand, dirs: &Dirs, json: bool) -> Result<u8, EcspError> {
    match command {
        DfeCommand::Read { file, device, read } => {
            let options = read_options(device.unwrap_or(Uuid::nil()), &read)?;
            let bytes = read_file(&file, &options)?;
            let name = display_name(&file);
            let reading = ecsp_dfe::read_all(&name, &bytes, &options)
                .map_err(|e| EcspError::invalid_input(e.to_string()))?;
            // Values left out and jobless device states are said beside the captures.
            for w in &reading.warnings {
                eprintln!("warning: {w}");
            }
            for d in &reading.device_states {
                eprintln!(
                    "{name}: device status `{}` without a job (device data, not a DFE upload): {}",
                    d.printer_status,
                    serde_json::to_string(d).unwrap_or_default()
                );
            }
            let captures = reading.captures;
            // The captures are the output, in both modes.
            let _ = json;
            emit!(
                "{}",
                serde_json::to_string_pretty(&captures).unwrap_or_default()
            );
            Ok(exit::OK)
        }
        DfeCommand::Send {
            server,
            files,
            device,
            read,
            queue_only,
        } => {
            let (client, ..) = open_client(&server, dirs)?;
            let device = client.find_device(&device).await?;
            let options = read_options(device, &read)?;
            let ingest = ingest_for(dirs, &client, options)?;
            // Every file is read before anything is sent; a bad one is named and the others
            // are still captured (each file is all or nothing, as in the hot folder).
            let mut outcomes = Vec::new();
            let mut bad = 0;
            for file in &files {
                let name = display_name(file);
                let outcome = match read_file(file, ingest.options()) {
                    Ok(bytes) => ingest
                        .ingest(&name, &bytes)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.message),
                };
                bad += usize::from(outcome.is_err());
                outcomes.push(SentFile {
                    file: file.display().to_string(),
                    outcome: outcome.map_err(|reason| serde_json::json!({"error": reason})),
                });
            }
            let delivery = if queue_only {
                None
            } else {
                Some(crate::online::flush(&client, json, Default::default()).await)
            };
            let document = SendDocument {
                files: outcomes,
                delivery,
            };
            out(json, &document, || document.text());
            Ok(if bad > 0 {
                exit::ERROR
            } else {
                document
                    .delivery
                    .as_ref()
                    .map_or(exit::OK, crate::online::flush_status)
            })
        }
        DfeCommand::Watch {
            server,
            folder,
            device,
            read,
            settle_ms,
        } => {
            let (client, ..) = open_client(&server, dirs)?;
            client.whoami().await?;
            let options = read_options(client.find_device(&device).await?, &read)?;
            let ingest = ingest_for(dirs, &client, options)?;
            let sync = client.start_sync(SyncOptions::default());
            let config = HotFolderConfig {
                settle: Duration::from_millis(settle_ms),
                ..HotFolderConfig::new(&folder)
            };
            let (events_tx, mut events) = broadcast::channel(256);
            let (stop, stop_rx) = watch::channel(false);
            let mut task = tokio::spawn(hot_folder::run(ingest, config, events_tx, stop_rx));
            if !json {
                eprintln!("watching {} (Ctrl-C stops)", folder.display());
            }
            let printer = tokio::spawn(async move {
                loop {
                    let event = match events.recv().await {
                        Ok(event) => event,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            eprintln!("{missed} events not shown: the output fell behind");
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    // JSON Lines with --json: one compact object per line, a stream a reader
                    // can take line by line (`out` pretty-prints one document).
                    if json {
                        emit!("{}", serde_json::to_string(&event).unwrap_or_default());
                    } else {
                        emit!("{}", event_text(&event));
                    }
                }
            });
            // Until Ctrl-C, or the watcher ends by itself (the folder became unreadable).
            let result = tokio::select! {
                _ = until_ctrl_c() => {
                    let _ = stop.send(true);
                    (&mut task).await
                }
                r = &mut task => r,
            };
            printer.abort();
            sync.stop().await;
            match result {
                Ok(Ok(())) => Ok(exit::OK),
                Ok(Err(e)) => Err(EcspError::configuration(format!(
                    "the hot folder {}: {e}",
                    folder.display()
                ))),
                Err(e) => Err(EcspError::configuration(format!(
                    "the hot folder stopped: {e}"
                ))),
            }
        }
        DfeCommand::Receive {
            server,
            listen,
            device,
            read,
            quarantine,
            allow_hosts,
        } => {
            let (client, ..) = open_client(&server, dirs)?;
            client.whoami().await?;
            let options = read_options(client.find_device(&device).await?, &read)?;
            let ingest = ingest_for(dirs, &client, options)?;
            let sync = client.start_sync(SyncOptions::default());
            let receiver = Receiver::start(
                ingest,
                ReceiverConfig {
                    listen,
                    quarantine: Some(
                        quarantine.unwrap_or_else(|| dirs.data.join("dfe-quarantine")),
                    ),
                    allowed_hosts: allow_hosts,
                    ..ReceiverConfig::default()
                },
            )
            .await
            .map_err(|e| EcspError::configuration(format!("cannot listen on {listen}: {e}")))?;
            if !json {
                eprintln!("receiving JMF at {} (Ctrl-C stops)", receiver.url());
            }
            until_ctrl_c().await;
            let _ = receiver.stop().await;
            sync.stop().await;
            Ok(exit::OK)
        }
        DfeCommand::Quarantine { folder } => {
            let listed = hot_folder::quarantined(&folder)
                .map_err(|e| EcspError::invalid_input(format!("{}: {e}", folder.display())))?;
            let rows: Vec<_> = listed
                .iter()
                .map(|(file, reason)| serde_json::json!({"file": file, "reason": reason}))
                .collect();
            out(json, &rows, || {
                if listed.is_empty() {
                    "nothing in quarantine".into()
                } else {
                    listed
                        .iter()
                        .map(|(_, reason)| reason.lines().next().unwrap_or_default().to_owned())
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            });
            Ok(exit::OK)
        }
    }
}

/// `ecsp dfe send`'s output: what became of each file, then the delivery.
#[derive(serde::Serialize)]
struct SendDocument {
    files: Vec<SentFile>,
    /// `null` with `--queue-only`.
    delivery: Option<ecsp_client::sync::FlushReport>,
}

#[derive(serde::Serialize)]
struct SentFile {
    file: String,
    #[serde(flatten)]
    outcome: Result<ecsp_dfe::Ingested, serde_json::Value>,
}

impl SendDocument {
    fn text(&self) -> String {
        let mut lines: Vec<String> = self
            .files
            .iter()
            .map(|f| match &f.outcome {
                Ok(ecsp_dfe::Ingested::Captured {
                    record_ids,
                    withheld,
                }) => {
                    let mut s = format!("{}: captured {} record(s)", f.file, record_ids.len());
                    for p in withheld {
                        s.push_str(&format!(" (left out `{p}`: no consent)"));
                    }
                    s
                }
                Ok(ecsp_dfe::Ingested::Duplicate { .. }) => {
                    format!("{}: captured before, nothing new", f.file)
                }
                Err(e) => format!(
                    "{}: not captured: {}",
                    f.file,
                    e["error"].as_str().unwrap_or_default()
                ),
            })
            .collect();
        lines.push(match &self.delivery {
            Some(report) => crate::online::flush_text(report),
            None => "queued only; `ecsp queue flush` sends it".into(),
        });
        lines.join("\n")
    }
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Reads a file, refusing one past the size limit without reading it.
fn read_file(path: &Path, options: &ReadOptions) -> Result<Vec<u8>, EcspError> {
    let cannot = |e: std::io::Error| {
        EcspError::invalid_input(format!("cannot read {}: {e}", path.display()))
    };
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > options.limits.max_file_bytes {
        return Err(EcspError::invalid_input(format!(
            "{}: {len} bytes, more than the {} bytes read from one file",
            display_name(path),
            options.limits.max_file_bytes
        )));
    }
    std::fs::read(path).map_err(cannot)
}
