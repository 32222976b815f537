//! The simulator as a program (`ecsp-spectro-sim`), reached over TCP.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use ecsp_instrument_link::driver::Instrument;
use ecsp_instrument_link::tcp::TcpLink;
use ecsp_protocol::colour_model::IlluminationCondition;

use crate::fast_driver;

struct Program(Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Program, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecsp-spectro-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    (Program(child), addr)
}

#[tokio::test]
async fn the_program_serves_readings_over_tcp_through_dropped_links() {
    let (_program, addr) = start(&["--instant", "--mtu", "23", "--drop-link-every", "31"]);
    let instrument = Instrument::new(Arc::new(TcpLink::new(addr)), fast_driver());
    let info = instrument.info().await.unwrap();
    assert_eq!(info.model, "SimSpectro 1");
    instrument.calibrate_white().await.unwrap();
    let mut counters = Vec::new();
    for _ in 0..30 {
        counters.push(
            instrument
                .measure(IlluminationCondition::M2)
                .await
                .unwrap()
                .counter,
        );
    }
    for pair in counters.windows(2) {
        assert_eq!(pair[1], pair[0] + 1);
    }
    assert!(instrument.stats().await.reconnects >= 5);
}

#[tokio::test]
async fn the_program_walks_a_chart_file() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../color/tests/data/colorchecker_babelcolor.cgats"
    );
    let (_program, addr) = start(&["--instant", "--chart", file]);
    let instrument = Instrument::new(Arc::new(TcpLink::new(addr)), fast_driver());
    instrument.calibrate_white().await.unwrap();
    let a = instrument.measure(IlluminationCondition::M1).await.unwrap();
    let b = instrument.measure(IlluminationCondition::M1).await.unwrap();
    assert_ne!(
        a.values, b.values,
        "successive readings see successive patches"
    );
}
