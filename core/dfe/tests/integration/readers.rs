//! The readers' new job fields on the wire: records read from real CIP4 files (planned,
//! produced and waste copies, the job part, media per part) are accepted and stored by the
//! reference server, and a jobless device status is device data, not a DFE record.

use ecsp_dfe::{Ingest, Ingested, Ledger, ReadOptions};
use ecsp_protocol::consent::Purpose;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_cip4_files_are_stored_by_the_server() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    client.grant(Purpose::JobInfo).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&work.path().join("ledger.sqlite3")).unwrap();
    let ingest = Ingest::new(client.clone(), ledger, ReadOptions::new(server.device()));

    let mut sent = Vec::new();
    for name in [
        "DigitalPrintingMultiPDF-printed.jdf",
        "JMF1-job-phase.jmf",
        "ink.jmf",
        "echo2.jdf",
    ] {
        let Ingested::Captured {
            record_ids,
            withheld,
        } = ingest.ingest(name, &cip4(name)).await.unwrap()
        else {
            panic!("{name} was seen before");
        };
        assert_eq!((record_ids.len(), withheld.len()), (1, 0), "{name}");
        sent.extend(record_ids);
    }
    // A press down with a paper jam: one device-data record, no DFE record.
    let Ingested::Captured { record_ids, .. } = ingest
        .ingest("down.jmf", &cip4("JMF1-down-paper-jam.jmf"))
        .await
        .unwrap()
    else {
        panic!("seen before");
    };
    assert_eq!(record_ids.len(), 1);
    let down = record_ids[0];
    sent.extend(record_ids);

    flush(&client).await;
    let down = client.record(down).await.unwrap();
    assert_eq!(down.kind, ecsp_protocol::upload::RecordKind::DeviceData);
    let mut stored = server.stored();
    stored.sort();
    let mut sent: Vec<String> = sent.iter().map(ToString::to_string).collect();
    sent.sort();
    assert_eq!(stored, sent);
}
