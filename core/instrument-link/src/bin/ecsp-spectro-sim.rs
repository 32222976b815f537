//! The simulated spectrometer as a program: serves the GATT profile's frames over TCP (see
//! `ecsp_instrument_link::tcp`), one host at a time, with the faults given on the command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ecsp_instrument::message::Grid;
use ecsp_instrument_link::sim::{Faults, SimConfig, SimulatedSpectrometer, Timing};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(about = "A simulated ECSP spectrometer, reachable over TCP")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: String,
    /// ATT MTU to simulate (23 to 517).
    #[arg(long, default_value_t = 185, value_parser = clap::value_parser!(u16).range(23..=517))]
    mtu: u16,
    /// Answer at once instead of with a real instrument's timing.
    #[arg(long)]
    instant: bool,
    /// Serial number the instrument reports.
    #[arg(long, default_value = "SIM-000123")]
    serial: String,
    /// A CGATS or CxF chart with spectra: reading k sees patch k (mod the patch count).
    #[arg(long)]
    chart: Option<PathBuf>,
    /// Drop the link after every N notification frames.
    #[arg(long)]
    drop_link_every: Option<u64>,
    /// Lose one notification frame in N.
    #[arg(long)]
    drop_frame_one_in: Option<u32>,
    /// Damage one notification frame in N.
    #[arg(long)]
    corrupt_frame_one_in: Option<u32>,
    /// Extra delay per notification frame, in milliseconds.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// The instrument's calibration lifetime, in seconds.
    #[arg(long, default_value_t = 8 * 3600)]
    calibration_valid_secs: u64,
}

fn chart_samples(path: &PathBuf) -> Result<(Grid, Vec<Vec<f32>>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ecsp_instrument_link::sim::chart_samples(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut config = SimConfig {
        serial: args.serial.clone(),
        att_mtu: args.mtu,
        timing: if args.instant {
            Timing::instant()
        } else {
            Timing::realistic()
        },
        calibration_valid_for: Duration::from_secs(args.calibration_valid_secs),
        ..SimConfig::default()
    };
    let chart = match args.chart.as_ref().map(chart_samples).transpose() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some((grid, _)) = &chart {
        config.grid = *grid;
    }
    let sim = SimulatedSpectrometer::new(config);
    if let Some((_, samples)) = chart {
        sim.walk_chart(samples);
    }
    sim.set_faults(Faults {
        drop_link_every_frames: args.drop_link_every,
        drop_frame_one_in: args.drop_frame_one_in,
        corrupt_frame_one_in: args.corrupt_frame_one_in,
        slow_notifications: Duration::from_millis(args.slow_ms),
        ..Faults::default()
    });
    let listener = match TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("ecsp-spectro-sim listening on {addr}"),
        Err(e) => eprintln!("error: {e}"),
    }
    ecsp_instrument_link::tcp::serve(listener, sim).await;
    std::process::ExitCode::SUCCESS
}
