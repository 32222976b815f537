//! The readers on the look-alike files in `data/` and on hostile input.

use chrono::{DateTime, Utc};
use ecsp_protocol::dfe::RenderingIntent;
use serde_json::json;
use uuid::Uuid;

use crate::*;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(name),
    )
    .unwrap()
}

fn options() -> ReadOptions {
    ReadOptions::new(Uuid::from_u128(7))
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    Some(s.parse().unwrap())
}

#[test]
fn combined_jdf_with_partitions_and_audits() {
    let [c] = read("a.jdf", &data("digital-printing-combined.jdf"), &options())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(c.device_id, Uuid::from_u128(7));
    assert_eq!(
        (c.software.name.as_str(), c.software.version.as_str()),
        ("Acme Print Server", "5.2.1")
    );
    let s = &c.print_settings;
    assert_eq!(s.preset_name.as_deref(), Some("Catalogue 4c duplex"));
    assert_eq!(
        s.media_name.as_deref(),
        Some("Gloss 170"),
        "the partition the link names"
    );
    assert_eq!(s.resolution_dpi, Some([1200, 1200]));
    assert_eq!(s.output_profile.as_deref(), Some("PSOcoated_v3.icc"));
    assert_eq!(
        s.rendering_intent,
        Some(RenderingIntent::RelativeColorimetric)
    );
    assert_eq!(s.values["Media.partitions"], json!(2));
    assert_eq!(s.values["Media.Weight"], json!(170));
    assert_eq!(
        s.values["LayoutPreparationParams.Sides"],
        json!("TwoSidedFlipY")
    );
    assert_eq!(s.values["DigitalPrintingParams.Collate"], json!("Sheet"));
    assert!(!s.values.contains_key("DigitalPrintingParams.ID"));
    assert!(
        !s.values.keys().any(|k| k.contains("Lane")),
        "vendor attribute left out"
    );
    let job = c.job.unwrap();
    assert_eq!(job.job_id, "J-2024-0815");
    assert_eq!(job.job_name.as_deref(), Some("Spring catalogue"));
    assert_eq!(job.user_name.as_deref(), Some("Alice Example"));
    assert_eq!(job.document_name.as_deref(), Some("spring catalogue.pdf"));
    assert_eq!(job.pages, Some(36), "the run list's partitions summed");
    assert_eq!(job.copies, Some(260), "planned: the output link's Amount");
    assert_eq!(
        job.copies_produced,
        Some(250),
        "produced: the audited amount"
    );
    assert_eq!(job.job_part_id.as_deref(), Some("P1"));
    assert_eq!(job.started_at, time("2024-05-02T07:20:00Z"));
    let media: Vec<_> = job
        .media
        .iter()
        .map(|m| (m.name.as_deref(), m.part.as_deref()))
        .collect();
    assert_eq!(
        media,
        [
            (Some("Gloss 170"), Some("SignatureName Sig1")),
            (Some("Silk 300"), Some("SignatureName Sig2")),
        ],
        "both partitions of the media, each with its part"
    );
    assert_eq!(job.submitted_at, time("2024-05-02T07:15:00Z"));
    assert_eq!(job.printed_at, time("2024-05-02T07:31:30Z"));
    assert_eq!(job.status.as_deref(), Some("completed"));
    assert_eq!(job.media_name.as_deref(), Some("Gloss 170"));
    assert_eq!(job.size_mm, Some([210.0, 297.0]));
}

#[test]
fn digital_printing_child_node_with_prefixed_namespace() {
    let [c] = read(
        "p.jdf",
        &data("product-digital-printing-node.jdf"),
        &options(),
    )
    .unwrap()
    .try_into()
    .unwrap();
    assert_eq!(c.software.name, "Press Controller");
    assert_eq!(c.print_settings.media_name.as_deref(), Some("Offset 90"));
    assert_eq!(
        c.print_settings.values["DigitalPrintingParams.PrintingType"],
        json!("SheetFed")
    );
    let job = c.job.unwrap();
    assert_eq!(job.job_id, "4711");
    assert_eq!(job.copies, Some(1000));
    assert_eq!(job.pages, Some(2));
    assert_eq!(
        job.status.as_deref(),
        Some("completed"),
        "the printing node's status"
    );
    assert_eq!(job.size_mm, Some([148.0, 210.0]));
    assert_eq!(job.user_name, None);
    assert_eq!(job.printed_at, time("2024-06-10T10:05:00Z"));
}

#[test]
fn jmf_status_queue_status_and_resource() {
    let [status] = read("s.jmf", &data("status-signal.jmf"), &options())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        status.print_settings.values["DeviceInfo.DeviceStatus"],
        json!("Running")
    );
    assert_eq!(
        status.print_settings.values["Device.ModelName"],
        json!("Acme 9000")
    );
    let job = status.job.unwrap();
    assert_eq!(job.job_id, "J-2024-0815", "the ticket's key");
    assert_eq!(job.job_part_id.as_deref(), Some("P1"));
    assert_eq!(job.status.as_deref(), Some("in_progress"));
    assert_eq!(job.copies, Some(250), "TotalAmount");
    assert_eq!(job.copies_produced, Some(120), "Amount: progress");
    assert_eq!(job.started_at, time("2024-05-02T07:20:00Z"));
    assert_eq!(job.submitted_at, None);

    let queue = read("q.jmf", &data("queue-status.jmf"), &options()).unwrap();
    assert_eq!(queue.len(), 2);
    let first = queue[0].job.as_ref().unwrap();
    assert_eq!(first.job_id, "J-1");
    assert_eq!(first.printed_at, time("2024-05-02T08:12:00Z"));
    assert_eq!(queue[1].job.as_ref().unwrap().job_id, "qe2");
    assert_eq!(
        queue[1].print_settings.values["QueueEntry.Priority"],
        json!(80)
    );

    let [resource] = read("r.jmf", &data("resource-signal.jmf"), &options())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        resource.print_settings.media_name.as_deref(),
        Some("Gloss 170")
    );
    assert_eq!(
        resource.print_settings.values["Media.DimensionMM"],
        json!([210.0, 297.0])
    );
    assert!(resource.job.is_none());
}

#[test]
fn a_status_heartbeat_without_a_job_makes_no_record() {
    let signal = String::from_utf8(data("status-signal.jmf")).unwrap();
    let start = signal.find("<JobPhase").unwrap();
    let end = signal[start..].find("/>").unwrap() + start + 2;
    let heartbeat = format!("{}{}", &signal[..start], &signal[end..]);
    assert!(
        read("h.jmf", heartbeat.as_bytes(), &options())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_jmf_without_readable_messages_is_unsupported() {
    let e = read(
        "x.jmf",
        b"<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\" AgentName=\"a\" AgentVersion=\"1\"><Query ID=\"q\" Type=\"KnownDevices\"/></JMF>",
        &options(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Unsupported);
}

#[test]
fn fiery_and_prismasync_job_logs() {
    let fiery = read("log.csv", &data("fiery-job-log.csv"), &options()).unwrap();
    assert_eq!(fiery.len(), 2);
    assert_eq!(
        (
            fiery[0].software.name.as_str(),
            fiery[0].software.version.as_str()
        ),
        ("Fiery", "FS500")
    );
    assert_eq!(
        fiery[0].print_settings.preset_name.as_deref(),
        Some("Brochure duplex")
    );
    assert_eq!(fiery[0].print_settings.values["Paper Size"], json!("A4"));
    let j0 = fiery[0].job.as_ref().unwrap();
    assert_eq!(j0.user_name.as_deref(), Some("alice"));
    assert_eq!((j0.copies, j0.pages), (Some(2), Some(12)));
    assert_eq!(
        j0.printed_at,
        values::parse_time("2024-05-02 09:31:30", None)
    );
    assert!(j0.printed_at.is_some());
    let j1 = fiery[1].job.as_ref().unwrap();
    assert_eq!(j1.document_name.as_deref(), Some("letter, final.docx"));
    assert_eq!(j1.status.as_deref(), Some("cancelled"));

    let [prisma] = read("acc.csv", &data("prismasync-accounting.csv"), &options())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(prisma.software.name, "PRISMAsync");
    assert_eq!(prisma.print_settings.values["Sheets"], json!(1600));
    let job = prisma.job.unwrap();
    assert_eq!(
        (job.job_id.as_str(), job.copies, job.pages),
        ("77", Some(50), Some(64))
    );
    assert_eq!(
        job.submitted_at,
        values::parse_time("2024-05-03 08:00:00", None)
    );
}

#[test]
fn a_mapping_file_reads_another_dfes_log() {
    let mapping: ColumnMapping = serde_json::from_slice(&data("other-dfe-mapping.json")).unwrap();
    let bytes = data("other-dfe-job-log.csv");
    let without = read("o.csv", &bytes, &options()).unwrap_err();
    assert_eq!(without.kind, ReadErrorKind::Unsupported);
    let with = ReadOptions {
        mapping: Some(mapping),
        ..options()
    };
    let [c] = read("o.csv", &bytes, &with).unwrap().try_into().unwrap();
    assert_eq!(
        (c.software.name.as_str(), c.software.version.as_str()),
        ("Example RIP", "RIP 3.1")
    );
    let job = c.job.unwrap();
    assert_eq!(job.job_id, "A-9");
    assert_eq!(job.status.as_deref(), Some("completed"));
    assert_eq!(
        job.submitted_at,
        values::parse_time("2024-05-05 14:30:00", None)
    );
}

#[test]
fn wrong_csv_columns_say_what_each_known_set_lacks() {
    let e = read("w.csv", b"Name,When,Count\nx,2024-01-01,3\n", &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Unsupported);
    assert!(e.message.contains("Fiery job log lacks `Job ID`"), "{e}");
    assert!(e.message.contains("PRISMAsync accounting log lacks"), "{e}");
    assert!(e.message.contains("--mapping"), "{e}");
    assert_eq!(
        e.location,
        Some(Location::Row {
            line: 1,
            column: None
        })
    );
}

#[test]
fn a_short_csv_row_and_a_bad_value_name_the_line_not_the_value() {
    let mut csv = String::from_utf8(data("fiery-job-log.csv")).unwrap();
    csv.push_str("1003,x.pdf,eve\n");
    let e = read("f.csv", csv.as_bytes(), &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Malformed);
    assert_eq!(
        e.location,
        Some(Location::Row {
            line: 4,
            column: None
        }),
        "{e}"
    );

    let csv = String::from_utf8(data("fiery-job-log.csv"))
        .unwrap()
        .replace(",2,12,A4", ",Mallory Secret,12,A4");
    let e = read("f.csv", csv.as_bytes(), &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Invalid);
    assert_eq!(
        e.location,
        Some(Location::Row {
            line: 2,
            column: Some("Copies".into())
        })
    );
    assert!(
        !e.to_string().contains("Mallory"),
        "values are not quoted: {e}"
    );
}

#[test]
fn truncated_jdf_is_malformed_with_its_line() {
    let bytes = data("digital-printing-combined.jdf");
    let cut = &bytes[..bytes.len() / 2];
    let e = read("cut.jdf", cut, &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Malformed);
    assert!(e.to_string().starts_with("cut.jdf: line "), "{e}");
    assert!(
        e.message.contains("truncated") || e.message.contains("well-formed"),
        "{e}"
    );
}

#[test]
fn billion_laughs_file_is_refused() {
    let mut s =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE JDF [\n<!ENTITY a \"aaaaaaaaaa\">\n");
    for i in 1..12 {
        let prev = if i == 1 {
            "a".to_owned()
        } else {
            format!("a{}", i - 1)
        };
        s.push_str(&format!(
            "<!ENTITY a{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    s.push_str(
        "]>\n<JDF ID=\"x\" DescriptiveName=\"&a11;\" AgentName=\"a\" AgentVersion=\"1\"/>\n",
    );
    let e = read("lol.jdf", s.as_bytes(), &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Refused);
    assert!(e.to_string().contains("DOCTYPE declaring entities"), "{e}");
}

#[test]
fn a_200_mb_file_is_refused_by_its_size_before_parsing() {
    let mut big = Vec::with_capacity(200 * 1024 * 1024);
    big.extend_from_slice(b"<JDF>");
    big.resize(200 * 1024 * 1024, b' ');
    let started = std::time::Instant::now();
    let e = read("big.jdf", &big, &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::TooLarge);
    assert!(e.message.contains("209715200 bytes"), "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "not parsed"
    );
}

#[test]
fn a_ticket_without_software_needs_a_fallback() {
    let jdf = b"<JDF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\" ID=\"n\" JobID=\"1\" Type=\"DigitalPrinting\"/>";
    let e = read("n.jdf", jdf, &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Missing);
    assert!(e.to_string().starts_with("n.jdf: line 1, <JDF>: "), "{e}");
    let with = ReadOptions {
        software: Some(ecsp_protocol::common::SoftwareVersion {
            name: "Fallback".into(),
            version: "1".into(),
            vendor: None,
        }),
        ..options()
    };
    assert_eq!(
        read("n.jdf", jdf, &with).unwrap()[0].software.name,
        "Fallback"
    );
}

#[test]
fn a_bad_jdf_value_is_left_out_with_a_warning_naming_element_and_attribute() {
    let jdf = "<JDF ID=\"n\" JobID=\"1\" AgentName=\"a\" AgentVersion=\"1\">\n<ResourcePool>\n<RunList ID=\"r\" NPage=\"Alice\"/>\n</ResourcePool>\n<ResourceLinkPool><RunListLink rRef=\"r\" Usage=\"Input\"/></ResourceLinkPool>\n</JDF>";
    let reading = read_all("v.jdf", jdf.as_bytes(), &options()).unwrap();
    assert_eq!(reading.captures[0].job.as_ref().unwrap().pages, None);
    let [w] = reading.warnings.try_into().unwrap();
    assert_eq!(
        w.to_string(),
        "v.jdf: line 3, <RunList>: NPage is not a whole non-negative number; left out"
    );
    assert!(!w.to_string().contains("Alice"), "values are not quoted");
}

#[test]
fn a_bad_resolution_is_a_warning_that_quotes_no_example() {
    let jdf = String::from_utf8(data("digital-printing-combined.jdf"))
        .unwrap()
        .replace("Resolution=\"1200 1200\"", "Resolution=\"12 12\"");
    let reading = read_all("r.jdf", jdf.as_bytes(), &options()).unwrap();
    assert_eq!(reading.captures[0].print_settings.resolution_dpi, None);
    let [w] = reading.warnings.try_into().unwrap();
    assert_eq!(w.field, "Resolution");
    assert!(!w.message.contains('"'), "no quoted example: {w}");
}

#[test]
fn other_xml_is_unsupported() {
    let e = read("x.xml", b"<html/>", &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Unsupported);
}

// ---- Real JDF/JMF files from CIP4's repositories (tests/fixtures/cip4/SOURCES.md). ----

fn cip4(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cip4")
            .join(name),
    )
    .unwrap()
}

fn cip4_reading(name: &str) -> Reading {
    read_all(name, &cip4(name), &options()).unwrap()
}

fn cip4_job(name: &str) -> ecsp_protocol::dfe::JobInformation {
    let reading = cip4_reading(name);
    assert!(reading.warnings.is_empty(), "{:?}", reading.warnings);
    let [c] = reading.captures.try_into().unwrap();
    c.job.unwrap()
}

#[test]
fn cip4_ticket_copies_are_planned_produced_and_waste_apart() {
    // The IDP ticket asks for 25 copies and says nothing of what was printed.
    let planned = cip4_job("DigitalPrintingMultiPDF_IDP-ICS-1.5.jdf");
    assert_eq!(
        (
            planned.copies,
            planned.copies_produced,
            planned.copies_waste
        ),
        (Some(25), None, None)
    );
    // Its audited run: 27 sheets out, 25 good and 2 waste. The planned 25 stays the plan.
    let printed = cip4_job("DigitalPrintingMultiPDF-printed.jdf");
    assert_eq!(
        (
            printed.copies,
            printed.copies_produced,
            printed.copies_waste
        ),
        (Some(25), Some(25), Some(2))
    );
    assert_eq!(printed.started_at, time("2022-04-29T14:02:00Z"));
    assert_eq!(printed.printed_at, time("2022-04-29T14:20:00Z"));
    // Elk: the AmountPool plans 130 good and 9 waste sheets; the good ones are the copies.
    let pool = cip4_job("ConventionalPrintingAmountPool.jdf");
    assert_eq!(
        (pool.copies, pool.copies_produced, pool.copies_waste),
        (Some(130), None, None)
    );
    // A product ticket whose children's output links carry ActualAmounts of other components.
    let echo = cip4_job("echo2.jdf");
    assert_eq!((echo.copies, echo.copies_produced), (Some(52000), None));
}

#[test]
fn cip4_job_phase_amount_is_progress_of_its_total() {
    let reading = cip4_reading("JMF1-job-phase.jmf");
    assert!(reading.device_states.is_empty());
    let [c] = reading.captures.try_into().unwrap();
    let job = c.job.unwrap();
    assert_eq!(job.copies, Some(25), "TotalAmount: the job's total");
    assert_eq!(job.copies_produced, Some(12), "Amount: progress");
    assert_eq!(job.copies_waste, Some(3));
    assert_eq!(job.started_at, time("2022-10-25T20:55:00Z"));
    assert_eq!(
        job.submitted_at, None,
        "a phase's start is not a submission"
    );
    assert_eq!(job.status.as_deref(), Some("in_progress"));
    assert_eq!(
        c.print_settings.values["JobPhase.QueueEntryID"],
        json!("qe_221025_1")
    );
}

#[test]
fn cip4_a_ticket_and_its_signals_name_one_job() {
    let ticket = cip4_job("DigitalPrintingMultiPDF_IDP-ICS-1.5.jdf");
    let signal = cip4_reading("JMF1-job-phase.jmf").captures[0]
        .job
        .clone()
        .unwrap();
    assert_eq!(ticket.job_id, "n_220419_133835857_045479");
    assert_eq!(signal.job_id, ticket.job_id, "one job, one key");
    assert_eq!(ticket.job_part_id.as_deref(), Some("ID345"));
    assert_eq!(signal.job_part_id, ticket.job_part_id);
    // A queue entry is keyed by its JobID, its QueueEntryID kept beside; one with no JobID is
    // keyed by its QueueEntryID.
    let queue = read("q.jmf", &data("queue-status.jmf"), &options()).unwrap();
    assert_eq!(queue[0].job.as_ref().unwrap().job_id, "J-1");
    assert_eq!(
        queue[0].print_settings.values["QueueEntry.QueueEntryID"],
        json!("qe1")
    );
    assert_eq!(queue[1].job.as_ref().unwrap().job_id, "qe2");
}

#[test]
fn cip4_resource_signals_read_their_job_and_amounts() {
    // Heidelberg ink consumption for job 118830, part IC_CV__000_ST141395_F2-1.C, in grams.
    let reading = cip4_reading("ink.jmf");
    let [ink] = reading.captures.try_into().unwrap();
    let job = ink.job.unwrap();
    assert_eq!(job.job_id, "118830");
    assert_eq!(
        job.job_part_id.as_deref(),
        Some("IC_CV__000_ST141395_F2-1.C")
    );
    assert_eq!(job.copies, None, "grams of ink are not copies");
    let v = &ink.print_settings.values;
    let good = v["ResourceInfo.Ink.ActualAmount"].as_f64().unwrap();
    let waste = v["ResourceInfo.Ink.WasteAmount"].as_f64().unwrap();
    assert!((good - 36.9061463).abs() < 1e-6, "{good}");
    assert!((waste - 61.51024383).abs() < 1e-6, "{waste}");
    assert_eq!(v["ResourceInfo.Ink.Unit"], json!("g"));

    // Energy per module for job 191015: one record for the job, three amounts.
    let [kwh] = cip4_reading("kwh.jmf").captures.try_into().unwrap();
    let job = kwh.job.unwrap();
    assert_eq!(
        (job.job_id.as_str(), job.job_part_id.as_deref()),
        ("191015", Some("SFP0.C"))
    );
    let v = &kwh.print_settings.values;
    assert_eq!(
        v["ResourceInfo.MiscConsumable.PrintingPress@1.ActualAmount"],
        json!(6542.751)
    );
    assert_eq!(
        v["ResourceInfo.MiscConsumable.CutStar@1.Unit"],
        json!("kWh")
    );
    assert!(v.contains_key("ResourceInfo.MiscConsumable.DryStar@1.ActualAmount"));

    // A response about a private resource says nothing a user would call a record: none.
    // (It names no sending software: the reader's fallback stands in.)
    let with = ReadOptions {
        software: Some(ecsp_protocol::common::SoftwareVersion {
            name: "Fallback".into(),
            version: "1".into(),
            vendor: None,
        }),
        ..options()
    };
    let empty = read_all("r.jmf", &cip4("ResourceInfo.jmf"), &with).unwrap();
    assert!(empty.captures.is_empty(), "{:?}", empty.captures);
    assert!(empty.device_states.is_empty());
}

#[test]
fn cip4_device_status_without_a_job_is_device_data() {
    // A press down with a paper jam: no job, still worth uploading as device data.
    let reading = cip4_reading("JMF1-down-paper-jam.jmf");
    assert!(reading.captures.is_empty(), "no DFE upload without a job");
    let [state] = reading.device_states.try_into().unwrap();
    assert_eq!(state.device_id, Uuid::from_u128(7));
    assert_eq!(state.printer_status, "down");
    assert_eq!(state.observed_at, time("2022-10-25T21:13:51Z"));
    let [jam] = state.error_codes.clone().try_into().unwrap();
    assert_eq!(jam.code, "PaperJam");
    assert_eq!(
        jam.occurred_at,
        time("2022-10-25T21:13:40Z"),
        "the notification's own time"
    );
    assert_eq!(state.values["DeviceInfo.ProductionCounter"], json!(1250));
    assert_eq!(
        state.values["DeviceInfo.TotalProductionCounter"],
        json!(2759237)
    );
    assert_eq!(
        state.values["Device.Manufacturer"],
        json!("Heidelberger Druckmaschinen AG")
    );
    assert!(
        !serde_json::to_string(&state).unwrap().contains("Cikoja"),
        "the operator is personal data, not device data"
    );

    // The unmodified signal: a press in setup (form change) with its counters and an event.
    let [setup] = cip4_reading("JMF1.jmf").device_states.try_into().unwrap();
    assert_eq!(setup.printer_status, "setup");
    assert!(setup.error_codes.is_empty());
    assert_eq!(
        setup.values["DeviceInfo.StatusDetails"],
        json!("FormChange")
    );
    assert_eq!(setup.events[0].code, "@17");

    // A running device with nothing to say stays a heartbeat.
    let signal = String::from_utf8(data("status-signal.jmf")).unwrap();
    let start = signal.find("<JobPhase").unwrap();
    let end = signal[start..].find("/>").unwrap() + start + 2;
    let heartbeat = format!("{}{}", &signal[..start], &signal[end..]);
    let r = read_all("h.jmf", heartbeat.as_bytes(), &options()).unwrap();
    assert!(r.captures.is_empty() && r.device_states.is_empty());
}

#[test]
fn cip4_media_per_part_and_pages_from_the_whole_run_list() {
    let job = cip4_job("DigitalPrintingMultiPDF_IDP-ICS-1.5.jdf");
    // NPage="22" on the run list; only the text pages' leaf (20) says NPage.
    assert_eq!(job.pages, Some(22));
    let media: Vec<(Option<&str>, Option<&str>)> = job
        .media
        .iter()
        .map(|m| (m.name.as_deref(), m.part.as_deref()))
        .collect();
    assert_eq!(
        media,
        [
            (Some("Glossy30#Cover"), Some("RunIndex 0; RunIndex -1")),
            (Some("Coated30#Text"), Some("RunIndex 1 ~ -2")),
        ]
    );
    assert_eq!(job.media[0].size_mm, Some([215.9, 279.4]));
    assert_eq!(
        job.media_name.as_deref(),
        Some("Coated30#Text"),
        "the linked one"
    );
}

#[test]
fn cip4_user_name_is_a_person_never_the_software() {
    // Authors that are the writing software: no user.
    for (file, author) in [
        ("NarrowWeb.jdf", "CIP4 JDF Writer Java"),
        ("ConventionalPrintingAmountPool.jdf", "Optimus 2020"),
    ] {
        let job = cip4_job(file);
        assert_eq!(job.user_name, None, "{file}: `{author}` is software");
    }
    // Elk's ticket: created by a person; later audits by `Elk ConventionalPrinting`.
    assert_eq!(
        cip4_job("echo2.jdf").user_name.as_deref(),
        Some("Gerd Drechshage")
    );
    // Without the Created author, the customer's contact person.
    let jdf = String::from_utf8(data("digital-printing-combined.jdf"))
        .unwrap()
        .replace("Author=\"Alice Example\" ", "");
    let [c] = read("c.jdf", jdf.as_bytes(), &options())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(c.job.unwrap().user_name.as_deref(), Some("Bob Buyer"));
}

#[test]
fn cip4_a_malformed_timestamp_is_a_warning_not_a_refused_ticket() {
    // JDFLib-J wrote `2002-05-28T15:53:14CEST` in the Created audit (a zone name, not an
    // offset); its ProcessRun times are xs:dateTime. The ticket names no AgentName, hence the
    // fallback software.
    let with = ReadOptions {
        software: Some(ecsp_protocol::common::SoftwareVersion {
            name: "Fallback".into(),
            version: "1".into(),
            vendor: None,
        }),
        ..options()
    };
    let reading = read_all("job.jdf", &cip4("job.jdf"), &with).unwrap();
    let [c] = reading.captures.try_into().unwrap();
    let job = c.job.unwrap();
    assert_eq!(job.submitted_at, None, "the bad value is left out");
    assert_eq!(
        job.printed_at,
        time("2002-05-28T13:54:18Z"),
        "the rest is read"
    );
    assert_eq!(job.started_at, time("2002-05-28T13:54:10Z"));
    assert_eq!(job.user_name, None, "every Author here is software");
    let [w] = reading.warnings.try_into().unwrap();
    assert_eq!(w.field, "TimeStamp");
    assert_eq!(
        w.to_string(),
        "job.jdf: line 219, <Created>: TimeStamp is not an xs:dateTime (a date, `T`, a time and an offset); left out"
    );
    assert!(
        !w.message.chars().any(|c| c.is_ascii_digit()),
        "no example value that could be read as the file's: {w}"
    );
}

#[test]
fn a_file_neither_xml_nor_a_job_log_is_told_so() {
    for bytes in [
        &b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"[..],
        &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
        &b"Just a note\nwith two lines\n"[..],
        // Prose with a comma in its first line (CIP4's licence text).
        &cip4("LICENSE-CIP4-Elk.txt")[..],
    ] {
        let e = read("x.bin", bytes, &options()).unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Unsupported);
        assert!(e.message.starts_with("neither XML"), "{e}");
        assert!(!e.message.contains("column"), "{e}");
    }
}

#[test]
fn a_bad_job_log_time_quotes_no_example_value() {
    let csv = String::from_utf8(data("fiery-job-log.csv"))
        .unwrap()
        .replace("2024-05-02,09:31:30", "02 May,half past nine");
    let e = read("f.csv", csv.as_bytes(), &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Invalid);
    assert!(e.message.contains("time_format"), "{e}");
    assert!(
        !e.message.chars().any(|c| c.is_ascii_digit()),
        "no example that reads as the file's value: {e}"
    );
}
