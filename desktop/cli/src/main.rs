//! `ecsp`: the headless face of the PC application. Each subcommand is a few lines over
//! `ecsp-client`; what it prints is for people, or exactly one JSON document with `--json`.

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

mod chart;
mod color;
mod config;
mod dfe;
mod files;
mod online;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ecsp_client::EcspError;
use serde::Serialize;

/// Exit statuses, one table in the README.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// An error: nothing was done, or what was done is said in the message.
    pub const ERROR: u8 = 1;
    /// The command line was not understood (clap's own status).
    pub const USAGE: u8 = 2;
    /// Delivery stopped early (server unreachable, session ended): records wait in the outbox.
    pub const INCOMPLETE: u8 = 3;
    /// The server refused at least one record; it waits in the outbox as `rejected`.
    pub const REJECTED: u8 = 4;
    /// A colour comparison failed a normative tolerance criterion.
    pub const OUT_OF_TOLERANCE: u8 = 5;
}

const AFTER_HELP: &str = "\
Start: `ecsp login --server https://HOST:PORT --ca-cert ca.pem --email you@example.com`,
then `ecsp devices` for the device ids uploads need.
Example input files for every upload kind: the `examples/` folder of the source tree.
Exit status: 0 done, 1 error, 2 usage, 3 delivery stopped early (records wait in the outbox),
4 the server rejected a record, 5 a colour comparison is out of tolerance.";

#[derive(Debug, Parser)]
#[command(
    name = "ecsp",
    version,
    about = "Upload DFE settings and measurements to an ECSP server, and check colour offline",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Print exactly one JSON document (errors too: {"error": {"code", "message"}}).
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
    Online(online::OnlineCommand),
    /// DFE readers: JDF tickets, JMF signals and job logs from a hot folder, a JMF receiver,
    /// or one file.
    Dfe {
        #[command(subcommand)]
        command: dfe::DfeCommand,
    },
    /// Colorimetry on CGATS and CxF files (works offline).
    Color {
        #[command(subcommand)]
        command: color::ColorCommand,
    },
}

/// Prints `value` as the command's one JSON document, or `text` for people.
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

/// The one error document of `--json`.
#[derive(Serialize)]
struct ErrorDocument<'a> {
    error: &'a EcspError,
}

async fn run(cli: Cli) -> Result<u8, EcspError> {
    match cli.command {
        Command::Color { command } => {
            let passed = color::run(command, cli.json)
                .map_err(|e| EcspError::invalid_input(format!("{e:#}")))?;
            Ok(if passed {
                exit::OK
            } else {
                exit::OUT_OF_TOLERANCE
            })
        }
        Command::Dfe { command } => {
            let dirs = config::Dirs::resolve(cli.config_dir, cli.data_dir)?;
            dfe::run(command, &dirs, cli.json).await
        }
        Command::Online(command) => {
            let dirs = config::Dirs::resolve(cli.config_dir, cli.data_dir)?;
            online::run(command, &dirs, cli.json).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ECSP_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; a usage error to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let json = cli.json;
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if json {
                emit!(
                    "{}",
                    serde_json::to_string_pretty(&ErrorDocument { error: &e }).unwrap_or_default()
                );
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::from(exit::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every subcommand and every option says what it is for in `--help`.
    #[test]
    fn every_subcommand_and_option_has_a_help_line() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{id}>"));
                }
            }
            for sub in command.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "ecsp", &mut missing);
        assert!(missing.is_empty(), "without a help line: {missing:#?}");
        Cli::command().debug_assert();
    }
}
