//! A device's status without a job (a press down with a paper jam, from a real CIP4 JMF) sent to
//! the JMF receiver reaches the server as device data, with its state, errors and counters.

use std::time::Duration;

use ecsp_dfe::receiver::{JMF_CONTENT_TYPE, Receiver, ReceiverConfig};
use ecsp_dfe::{Ingest, Ingested, Ledger, ReadOptions};
use ecsp_protocol::upload::RecordKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// One JMF POST over a plain socket: the answer's status code.
async fn post_jmf(addr: std::net::SocketAddr, body: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JMF_CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the receiver answers and closes")
        .unwrap();
    String::from_utf8_lossy(&answer)[9..12].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_down_with_a_paper_jam_reaches_the_server_as_device_data() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let ingest = Ingest::new(
        client.clone(),
        Ledger::in_memory().unwrap(),
        ReadOptions::new(server.device()),
    );
    let receiver = Receiver::start(
        ingest.clone(),
        ReceiverConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ReceiverConfig::default()
        },
    )
    .await
    .unwrap();
    let jmf = cip4("JMF1-down-paper-jam.jmf");
    assert_eq!(post_jmf(receiver.addr, &jmf).await, 200);
    // Sent again (a DFE retrying): the ledger remembers it, one record.
    assert_eq!(post_jmf(receiver.addr, &jmf).await, 200);
    let Ingested::Duplicate { record_ids } = ingest.ingest("again.jmf", &jmf).await.unwrap() else {
        panic!("the ledger forgot the message");
    };
    assert_eq!(record_ids.len(), 1);

    flush(&client).await;
    assert_eq!(server.stored(), vec![record_ids[0].to_string()]);
    let stored = client.record(record_ids[0]).await.unwrap();
    assert_eq!(stored.kind, RecordKind::DeviceData);
    assert_eq!(stored.device_id, server.device());
    let r = &stored.record;
    assert_eq!(r["printer_status"], "down", "{r}");
    let codes: Vec<&str> = r["error_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"PaperJam"), "{r}");
    // The message's own time, not the time it was read.
    assert_eq!(r["captured_at"], "2022-10-25T21:13:51Z", "{r}");
    assert_eq!(r["software"]["name"], "CDMService", "{r}");
    assert_eq!(
        r["values"]["DeviceInfo.TotalProductionCounter"], 2_759_237,
        "{r}"
    );
    // Never the operator's name.
    assert!(!r.to_string().contains("Cikoja"), "{r}");
}
