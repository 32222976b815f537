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
    assert_eq!(
        job.copies,
        Some(250),
        "the audited amount, not the planned 260"
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
    assert_eq!(job.job_id, "J-2024-0815/P1");
    assert_eq!(job.status.as_deref(), Some("in_progress"));
    assert_eq!(job.copies, Some(120));

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
fn a_bad_jdf_value_names_the_element_and_attribute() {
    let jdf = "<JDF ID=\"n\" JobID=\"1\" AgentName=\"a\" AgentVersion=\"1\">\n<ResourcePool>\n<RunList ID=\"r\" NPage=\"Alice\"/>\n</ResourcePool>\n<ResourceLinkPool><RunListLink rRef=\"r\" Usage=\"Input\"/></ResourceLinkPool>\n</JDF>";
    let e = read("v.jdf", jdf.as_bytes(), &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Invalid);
    assert_eq!(
        e.to_string(),
        "v.jdf: line 3, <RunList>: NPage is not a whole non-negative number"
    );
}

#[test]
fn other_xml_is_unsupported() {
    let e = read("x.xml", b"<html/>", &options()).unwrap_err();
    assert_eq!(e.kind, ReadErrorKind::Unsupported);
}
