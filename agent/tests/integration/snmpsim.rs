//! The DC agent against a real SNMP agent: snmpsim (PyPI) serving the recordings in
//! `tests/snmprec/`, over v2c and v3 (authPriv, SHA-256/AES-128). Some recordings are of real
//! printers, some modelled on what printers of several makers publish (see
//! `tests/snmprec/SOURCES.md`).
//!
//! Python comes from `ECSP_SNMP_PYTHON` or `target/pyenv-snmp` (scripts/setup-python.sh snmp);
//! without it the tests fail, saying how to prepare it — they are never skipped.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ecsp_agent::dc::{DcAgent, DcError, DesignatedPrinter, SnmpAuth};
use ecsp_agent::printer_mib::Level;
use ecsp_agent::printer_mib::oids::SYS_DESCR;
use ecsp_agent::snmp::{
    AuthProtocol, PrivProtocol, SnmpCredentials, SnmpError, SnmpSession, SnmpTiming,
};
use ecsp_client::Secret;
use ecsp_client::SecretStore;
use ecsp_client::secrets::MemorySecretStore;

const V3_USER: &str = "ecsp-dc";
const V3_AUTH: &str = "auth-pass-7f3a9c";
const V3_PRIV: &str = "priv-pass-2b8e41";

struct Snmpsim {
    port: u16,
    /// The shell running snmpsim and its watchdog; it ends with this process.
    _watchdog: std::process::Child,
    _dir: tempfile::TempDir,
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("ECSP_SNMP_PYTHON") {
        return PathBuf::from(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv-snmp/bin/python");
    assert!(
        p.exists(),
        "snmpsim is not installed: run `scripts/setup-python.sh snmp` (or set ECSP_SNMP_PYTHON)"
    );
    p
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

/// The recording with a delayed answer gets an snmpsim of its own: snmpsim sleeps in its one
/// thread, which would stall every other test's printer meanwhile.
const SLOW: &str = "kyocera-slow-alerts";

/// One snmpsim serving every recording but the slow one, for the whole test binary.
fn snmpsim() -> &'static Snmpsim {
    static SIM: OnceLock<Snmpsim> = OnceLock::new();
    SIM.get_or_init(|| start(|stem| stem != SLOW, "epson-sc-p8500"))
}

fn slow_snmpsim() -> &'static Snmpsim {
    static SIM: OnceLock<Snmpsim> = OnceLock::new();
    SIM.get_or_init(|| start(|stem| stem == SLOW, SLOW))
}

/// Starts snmpsim on the recordings `pick` selects; a watchdog stops it when this process ends.
fn start(pick: fn(&str) -> bool, probe_community: &'static str) -> Snmpsim {
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&data).expect("data dir");
        std::fs::create_dir_all(&cache).expect("cache dir");
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snmprec");
        for entry in std::fs::read_dir(&src).expect("recordings") {
            let path = entry.expect("entry").path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if path.extension().is_some_and(|e| e == "snmprec") && pick(stem) {
                std::fs::copy(&path, data.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        let port = free_udp_port();
        let py = python();
        let script = format!(
            "\"$0\" -m snmpsim.commands.responder --cache-dir='{cache}' --process-user=root \
             --process-group=root --logging-method=file:'{log}' --v3-engine-id=auto \
             --data-dir='{data}' --agent-udpv4-endpoint=127.0.0.1:{port} --v3-user={V3_USER} --v3-auth-key={V3_AUTH} --v3-auth-proto=SHA256 \
             --v3-priv-key={V3_PRIV} --v3-priv-proto=AES128 & sim=$!; \
             while kill -0 {parent} 2>/dev/null && kill -0 $sim 2>/dev/null; do sleep 0.5; done; kill $sim 2>/dev/null",
            data = data.display(),
            cache = cache.display(),
            log = dir.path().join("snmpsim.log").display(),
            parent = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&py)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snmpsim");
        // Ready when it answers a GET (on a thread of its own: the caller is inside a runtime).
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let ready = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    for _ in 0..120 {
                        let mut session = SnmpSession::new(
                            addr,
                            SnmpCredentials::V2c {
                                community: Secret::new(probe_community),
                            },
                            SnmpTiming {
                                timeout: Duration::from_millis(250),
                                retries: 0,
                            },
                        );
                        if session.get(&[SYS_DESCR.to_vec()]).await.is_ok() {
                            return true;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    false
                })
        })
        .join()
        .expect("readiness probe");
        let log = std::fs::read_to_string(dir.path().join("snmpsim.log")).unwrap_or_default();
        assert!(ready, "snmpsim did not start within 30 s; its log:\n{log}");
        Snmpsim {
            port,
            _watchdog: watchdog,
            _dir: dir,
        }
    }
}

fn addr() -> SocketAddr {
    format!("127.0.0.1:{}", snmpsim().port)
        .parse()
        .expect("addr")
}

fn secrets() -> Arc<dyn SecretStore> {
    let s = MemorySecretStore::default();
    for name in [
        "epson-sc-p8500",
        "hp-laserjet-m507",
        "brother-hl-l5200",
        "canon-c5535-truncated",
        "kyocera-slow-alerts",
        "librenms-sharp-mx3570n",
        "librenms-hp-m880",
        "librenms-hp-m252dw",
        "brother-dcp-l3550cdw",
        "not-a-community",
    ] {
        s.set(&format!("community/{name}"), &Secret::new(name))
            .expect("set");
    }
    s.set("v3/auth", &Secret::new(V3_AUTH)).expect("set");
    s.set("v3/priv", &Secret::new(V3_PRIV)).expect("set");
    s.set("v3/wrong", &Secret::new("not-the-password-1"))
        .expect("set");
    Arc::new(s)
}

fn v2c(
    address: SocketAddr,
    community: &str,
    manufacturer: &str,
    model: &str,
    serial: &str,
) -> DesignatedPrinter {
    DesignatedPrinter {
        address,
        manufacturer: manufacturer.into(),
        model: model.into(),
        serial_number: serial.into(),
        snmp: SnmpAuth::V2c {
            community_secret: format!("community/{community}"),
        },
        timing: SnmpTiming {
            timeout: Duration::from_millis(1500),
            retries: 1,
        },
    }
}

fn agent_for(list: Vec<DesignatedPrinter>) -> DcAgent {
    DcAgent::new(list, secrets())
}

#[tokio::test]
async fn an_epson_inkjet_is_read_over_v2c_with_inks_counters_and_alerts() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "epson-sc-p8500",
        "Epson",
        "SC-P8500D",
        "X7PZ012345",
    )]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    assert_eq!(reading.model.as_deref(), Some("EPSON SC-P8500D Series"));
    assert!(reading.incomplete.is_empty(), "{:?}", reading.incomplete);
    let d = &record.device;
    assert_eq!(
        (d.manufacturer.as_str(), d.model.as_str()),
        ("Epson", "SC-P8500D")
    );
    assert_eq!(d.serial_number, "X7PZ012345");
    // hrDeviceStatus warning with hrPrinterStatus idle.
    assert_eq!(d.printer_status.as_deref(), Some("warning"));
    let codes: Vec<&str> = d.error_codes.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["warning.prt.marker_ink_almost_empty"]);
    assert_eq!(
        d.error_codes[0].description.as_deref(),
        Some("Ink Low: Cyan")
    );
    // Raised 3,600 s before the reading (uptime 8,640,000 ticks, alert at 8,280,000).
    let at = d.error_codes[0].occurred_at.expect("time");
    assert!(((record.captured_at - at).num_seconds() - 3600).abs() <= 1);
    assert_eq!(d.status_history.len(), 2);
    assert_eq!(d.consumables.len(), 7);
    let cyan = d
        .consumables
        .iter()
        .find(|c| c.color.as_deref() == Some("cyan"))
        .expect("cyan");
    assert_eq!(
        (cyan.kind.as_str(), cyan.remaining_percent),
        ("ink_cartridge", Some(8.0))
    );
    let waste = d
        .consumables
        .iter()
        .find(|c| c.kind == "waste_ink")
        .expect("maintenance box");
    assert_eq!(waste.remaining_percent, Some(65.0));
    let snmp = &d.maintenance_settings.as_ref().expect("settings")["snmp"];
    assert_eq!(snmp["marker_life_counters"][0]["count"], 18342);
    assert_eq!(snmp["marker_life_counters"][0]["unit"], "impressions");
}

#[tokio::test]
async fn a_jammed_hp_laser_reports_its_error_state_and_firmware() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "hp-laserjet-m507",
        "HP",
        "LaserJet M507",
        "PHBLM12345",
    )]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    let d = &record.device;
    assert_eq!(d.printer_status.as_deref(), Some("error"));
    assert_eq!(d.firmware_version, "2509081_000321");
    let codes: Vec<&str> = d.error_codes.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["error.hr.jammed", "error.prt.jam"]);
    assert_eq!(reading.supplies[0].remaining_percent(), Some(8.0));
    assert_eq!(reading.supplies[1].level, Level::Unknown);
    assert_eq!(d.consumables[1].remaining_percent, None);
}

#[tokio::test]
async fn a_brother_toner_that_only_says_some_remaining_is_kept_as_such() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "brother-hl-l5200",
        "Brother",
        "HL-L5200DW",
        "E78123K6N654321",
    )]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    assert_eq!(reading.supplies[0].level, Level::SomeRemaining);
    assert_eq!(record.device.consumables[0].remaining_percent, None);
    assert_eq!(record.device.consumables[1].remaining_percent, Some(70.0));
    assert_eq!(record.device.printer_status.as_deref(), Some("printing"));
    let snmp = &record
        .device
        .maintenance_settings
        .as_ref()
        .expect("settings")["snmp"];
    assert_eq!(snmp["supplies"][0]["level"]["state"], "some_remaining");
}

#[tokio::test]
async fn a_walk_that_ends_early_keeps_what_came_and_says_what_did_not() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "canon-c5535-truncated",
        "Canon",
        "iR-ADV C5535",
        "XUG01234",
    )]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    assert_eq!(reading.supplies.len(), 4);
    assert!(
        reading
            .supplies
            .iter()
            .all(|s| s.level == Level::NotReported)
    );
    assert_eq!(reading.incomplete, ["supplies"]);
    assert_eq!(reading.counters[0].count, 251_004);
    assert!(
        record
            .device
            .consumables
            .iter()
            .all(|c| c.remaining_percent.is_none())
    );
}

#[tokio::test]
async fn a_table_that_times_out_is_reported_incomplete_and_the_rest_kept() {
    let a: SocketAddr = format!("127.0.0.1:{}", slow_snmpsim().port)
        .parse()
        .expect("addr");
    let mut p = v2c(
        a,
        "kyocera-slow-alerts",
        "Kyocera",
        "ECOSYS P6235cdn",
        "RVM9Z00123",
    );
    p.timing = SnmpTiming {
        timeout: Duration::from_millis(800),
        retries: 0,
    };
    let agent = agent_for(vec![p]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    assert_eq!(reading.incomplete, ["alerts"]);
    assert!(reading.alerts.is_empty());
    assert_eq!(reading.supplies[0].remaining_percent(), Some(55.0));
    let codes: Vec<&str> = record
        .device
        .error_codes
        .iter()
        .map(|e| e.code.as_str())
        .collect();
    assert_eq!(codes, ["warning.hr.low_paper"]);
}

#[tokio::test]
async fn a_wrong_community_gets_no_answer_and_a_clear_error() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "not-a-community",
        "Epson",
        "SC-P8500D",
        "X7PZ012345",
    )]);
    let err = agent.poll(a).await.expect_err("no data");
    assert!(
        matches!(err, DcError::Snmp(SnmpError::NoAnswer { attempts: 2, .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("community"), "{err}");
}

#[tokio::test]
async fn an_unreachable_printer_and_a_silent_one_are_told_apart() {
    // Nothing listens: the kernel answers ICMP port unreachable.
    let closed: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("addr");
    // Something holds the port but never answers: a timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let quick = |a| {
        let mut p = v2c(a, "epson-sc-p8500", "Epson", "SC-P8500D", "X7PZ012345");
        p.timing = SnmpTiming {
            timeout: Duration::from_millis(300),
            retries: 1,
        };
        p
    };
    let agent = agent_for(vec![quick(closed), quick(silent_addr)]);
    let err = agent.poll(closed).await.expect_err("closed");
    assert!(
        matches!(err, DcError::Snmp(SnmpError::Refused { .. })),
        "{err:?}"
    );
    let err = agent.poll(silent_addr).await.expect_err("silent");
    assert!(
        matches!(err, DcError::Snmp(SnmpError::NoAnswer { .. })),
        "{err:?}"
    );
    // Both attempts reached the silent printer: the retry is real.
    silent.set_nonblocking(true).expect("nonblocking");
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while silent.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, 2);
}

#[tokio::test]
async fn a_printer_with_another_serial_is_reported_not_accepted() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "epson-sc-p8500",
        "Epson",
        "SC-P8500D",
        "X7PZ099999",
    )]);
    match agent.poll(a).await {
        Err(DcError::SerialChanged {
            expected, found, ..
        }) => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("X7PZ099999", "X7PZ012345")
            );
        }
        other => panic!("expected a serial change, got {other:?}"),
    }
}

#[tokio::test]
async fn nothing_is_sent_to_an_address_that_is_not_designated() {
    let a = addr();
    let bystander = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let bystander_addr = bystander.local_addr().expect("addr");
    let agent = agent_for(vec![v2c(
        a,
        "epson-sc-p8500",
        "Epson",
        "SC-P8500D",
        "X7PZ012345",
    )]);
    let err = agent.poll(bystander_addr).await.expect_err("refused");
    assert_eq!(err, DcError::NotDesignated(bystander_addr));
    // A full cycle polls the designated printer only.
    let results = agent.poll_all().await;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].address, a);
    assert!(results[0].outcome.is_ok());
    bystander
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    assert!(
        bystander.recv_from(&mut buf).is_err(),
        "a packet reached a non-designated address"
    );
}

fn v3(address: SocketAddr, context: &str, auth_secret: &str) -> DesignatedPrinter {
    DesignatedPrinter {
        snmp: SnmpAuth::V3 {
            user: V3_USER.into(),
            auth: AuthProtocol::Sha256,
            auth_secret: auth_secret.into(),
            privacy: PrivProtocol::Aes128,
            priv_secret: "v3/priv".into(),
            context: Some(context.into()),
        },
        ..v2c(address, context, "HP", "LaserJet M507", "PHBLM12345")
    }
}

#[tokio::test]
async fn snmpv3_authpriv_with_sha256_and_aes_reads_the_printer() {
    let a = addr();
    let agent = agent_for(vec![v3(a, "hp-laserjet-m507", "v3/auth")]);
    let (reading, record) = agent.poll(a).await.expect("v3 poll");
    assert_eq!(reading.serial_number.as_deref(), Some("PHBLM12345"));
    assert_eq!(record.device.firmware_version, "2509081_000321");
}

#[tokio::test]
async fn snmpv3_with_a_wrong_password_reads_nothing() {
    let a = addr();
    let mut p = v3(a, "hp-laserjet-m507", "v3/wrong");
    p.timing.timeout = Duration::from_millis(500);
    let agent = agent_for(vec![p]);
    let err = agent.poll(a).await.expect_err("refused");
    assert!(
        matches!(
            err,
            DcError::Snmp(SnmpError::Authentication { .. } | SnmpError::NoAnswer { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_remote_status_is_a_fresh_snmp_poll_and_cleaning_is_not_offered() {
    use ecsp_agent::session::Executor;
    use ecsp_protocol::remote_ops::{Command, OperationKind, OperationResult, ReasonCode};
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "hp-laserjet-m507",
        "HP",
        "LaserJet M507",
        "PHBLM12345",
    )]);
    let caps = agent.capabilities();
    assert_eq!(caps[0].operations, [OperationKind::Status]);
    let mut cmd = Command {
        schema_version: 1,
        operation_id: uuid::Uuid::new_v4(),
        device_id: uuid::Uuid::new_v4(),
        manufacturer: "HP".into(),
        model: "LaserJet M507".into(),
        serial_number: "PHBLM12345".into(),
        kind: OperationKind::Status,
        head_cleaning: None,
        issued_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
    };
    agent.check(&cmd).expect("status is offered");
    let Ok(OperationResult::Status(s)) = agent.execute(&cmd).await else {
        panic!("no status");
    };
    assert_eq!(s.printer_status, "error");
    assert_eq!(s.counters.total_pages, Some(48_213));
    cmd.kind = OperationKind::HeadCleaning;
    assert_eq!(
        agent.check(&cmd).expect_err("not over SNMP").code,
        ReasonCode::NotSupported
    );
    cmd.serial_number = "SOMEONE-ELSE".into();
    assert_eq!(
        agent.check(&cmd).expect_err("unknown").code,
        ReasonCode::UnknownDevice
    );
}

// ---- real printers' recordings (tests/snmprec/SOURCES.md) ---------------------------------

fn kinds(consumables: &[ecsp_protocol::agent::Consumable]) -> Vec<&str> {
    consumables.iter().map(|c| c.kind.as_str()).collect()
}

#[tokio::test]
async fn a_real_sharp_without_hr_printer_status_reporting_low_toner_is_a_warning() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "librenms-sharp-mx3570n",
        "Sharp",
        "MX-3570N",
        "6509415X00",
    )]);
    let (reading, record) = agent.poll(a).await.expect("poll");
    // hrDeviceStatus warning, hrPrinterDetectedErrorState 0x2000 (lowToner), no hrPrinterStatus.
    assert_eq!(reading.printer_status, None);
    assert_eq!(reading.device_status, Some(3));
    let d = &record.device;
    assert_eq!(d.printer_status.as_deref(), Some("warning"));
    let codes: Vec<&str> = d.error_codes.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["warning.hr.low_toner"]);
    // Drums, developers and the fusing unit are themselves, not "other" parts.
    assert_eq!(
        kinds(&d.consumables),
        [
            "toner",
            "toner",
            "toner",
            "toner",
            "waste_toner",
            "opc",
            "opc",
            "opc",
            "opc",
            "developer",
            "developer",
            "developer",
            "developer",
            "fuser"
        ]
    );
    // No firmware in a standard table or in sysDescr ("SHARP MX-3570N"): Sharp's own MIB.
    assert_eq!(d.firmware_version, "1.04");
    let snmp = &d.maintenance_settings.as_ref().expect("settings")["snmp"];
    assert_eq!(snmp["firmware_version_source"], "sharp_mib.firmware");
    assert_eq!(snmp["serial_number_source"], "prt_general_serial_number");
}

#[tokio::test]
async fn a_real_hp_without_any_serial_number_is_reported_as_not_identified() {
    use ecsp_agent::dc::{CANNOT_IDENTIFY_CODE, require_some_read};
    use ecsp_agent::store::{AgentStore, status_text};
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "librenms-hp-m880",
        "HP",
        "Color LaserJet flow MFP M880",
        "JPBC999999",
    )]);
    let results = agent.poll_all().await;
    let err = results[0].outcome.as_ref().expect_err("not identified");
    assert!(
        matches!(err, DcError::CannotIdentify { expected, .. } if expected == "JPBC999999"),
        "{err:?}"
    );
    // Not silently skipped: a record for the designated printer says so, for the portal ...
    let record = agent.problem_record(a, err).expect("a record");
    assert_eq!(record.device.serial_number, "JPBC999999");
    assert_eq!(record.device.error_codes[0].code, CANNOT_IDENTIFY_CODE);
    assert!(record.device.consumables.is_empty());
    ecsp_protocol::Validate::validate(&record, chrono::Utc::now()).expect("valid for the server");
    // ... and `ecsp-agent status` says it too.
    let dir = tempfile::tempdir().expect("dir");
    let store = AgentStore::open(&dir.path().join("agent.db")).expect("store");
    agent.keep_results(&store, &results).expect("kept");
    assert_eq!(store.outbox_counts().expect("counts").queued, 1);
    let status = status_text(&store).expect("status");
    assert!(
        status.contains(&format!(
            "printer {a} (designated serial JPBC999999): NOT READ"
        )),
        "{status}"
    );
    assert!(status.contains("cannot be identified"), "{status}");
    // A run that read nothing fails.
    assert!(matches!(
        require_some_read(&results),
        Err(DcError::NothingRead { tried: 1 })
    ));
}

#[tokio::test]
async fn a_real_hps_supplies_keep_their_types() {
    let mut session = SnmpSession::new(
        addr(),
        SnmpCredentials::V2c {
            community: Secret::new("librenms-hp-m880"),
        },
        SnmpTiming::default(),
    );
    let reading = ecsp_agent::printer_mib::read_printer(&mut session)
        .await
        .expect("read");
    assert_eq!(reading.serial_number, None);
    let kinds: Vec<&str> = reading.supplies.iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        [
            "toner_cartridge",
            "toner_cartridge",
            "toner_cartridge",
            "toner_cartridge",
            "opc",
            "opc",
            "opc",
            "opc",
            "transfer_unit",
            "fuser",
            "other",
            "other",
            "staples",
            "staples",
            "staples"
        ]
    );
}

#[tokio::test]
async fn a_real_hp_without_prt_general_serial_number_is_identified_by_its_sys_descr() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "librenms-hp-m252dw",
        "HP",
        "Color LaserJet Pro M252dw",
        "VNB3J99999",
    )]);
    let (reading, record) = agent.poll(a).await.expect("identified");
    assert_eq!(reading.serial_source, Some("sys_descr"));
    let d = &record.device;
    // hrDeviceStatus running, no error bit, no hrPrinterStatus.
    assert_eq!(d.printer_status.as_deref(), Some("running"));
    assert!(d.error_codes.is_empty());
    assert_eq!(d.consumables.len(), 4);
    // Its firmware is nowhere this printer publishes: said so, not guessed.
    assert_eq!(d.firmware_version, "unknown");
}

#[tokio::test]
async fn a_real_brothers_serial_and_firmware_come_from_brothers_mib() {
    let a = addr();
    let agent = agent_for(vec![v2c(
        a,
        "brother-dcp-l3550cdw",
        "Brother",
        "DCP-L3550CDW",
        "serial_number",
    )]);
    let (reading, record) = agent.poll(a).await.expect("identified");
    assert_eq!(reading.serial_source, Some("brother_mib.serial_number"));
    assert_eq!(reading.firmware_source, Some("brother_mib.firmware"));
    let d = &record.device;
    assert_eq!(d.firmware_version, "J1906051424");
    // hrPrinterStatus idle with hrDeviceStatus warning; bits 0x2800: lowToner and doorOpen.
    assert_eq!(d.printer_status.as_deref(), Some("warning"));
    let codes: Vec<&str> = d.error_codes.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, ["warning.hr.low_toner", "error.hr.door_open"]);
}

#[tokio::test]
async fn a_cycle_that_reads_no_printer_fails_and_one_that_reads_one_does_not() {
    use ecsp_agent::dc::require_some_read;
    let a = addr();
    let closed: SocketAddr = format!("127.0.0.1:{}", free_udp_port())
        .parse()
        .expect("addr");
    let mut unreachable = v2c(closed, "epson-sc-p8500", "Epson", "SC-P8500D", "X7PZ012345");
    unreachable.timing = SnmpTiming {
        timeout: Duration::from_millis(300),
        retries: 0,
    };
    let unidentified = v2c(a, "librenms-hp-m880", "HP", "M880", "JPBC999999");
    let agent = agent_for(vec![unreachable.clone(), unidentified.clone()]);
    let results = agent.poll_all().await;
    assert!(matches!(
        require_some_read(&results),
        Err(DcError::NothingRead { tried: 2 })
    ));
    let readable = v2c(
        a,
        "librenms-sharp-mx3570n",
        "Sharp",
        "MX-3570N",
        "6509415X00",
    );
    // Another address for the same snmpsim is not needed: designations are by address, so
    // this one is polled alone next to the unreachable printer.
    let agent = agent_for(vec![unreachable, readable]);
    assert_eq!(
        require_some_read(&agent.poll_all().await).expect("one read"),
        1
    );
}
