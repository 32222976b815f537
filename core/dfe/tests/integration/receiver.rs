use std::net::SocketAddr;

use ecsp_dfe::receiver::{JMF_CONTENT_TYPE, Receiver, ReceiverConfig};
use ecsp_dfe::{Ingest, Ledger, ReadOptions};
use ecsp_protocol::consent::Purpose;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// One HTTP/1.1 POST over a plain socket: (status, body).
async fn post(addr: SocketAddr, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jmf_signals_are_answered_captured_once_and_without_job_part_when_refused() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    client.refuse(Purpose::JobInfo).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let quarantine = work.path().join("quarantine");
    let ingest = Ingest::new(
        client.clone(),
        Ledger::in_memory().unwrap(),
        ReadOptions::new(server.device()),
    );
    let receiver = Receiver::start(
        ingest,
        ReceiverConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            quarantine: Some(quarantine.clone()),
            max_body_bytes: 64 * 1024,
        },
    )
    .await
    .unwrap();
    assert!(receiver.addr.ip().is_loopback());
    assert_eq!(
        ReceiverConfig::default().listen.ip().to_string(),
        "127.0.0.1"
    );

    let signal = data("status-signal.jmf");
    let (status, body) = post(receiver.addr, JMF_CONTENT_TYPE, &signal).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("refID=\"S1\"") && body.contains("ReturnCode=\"0\""),
        "{body}"
    );
    assert!(
        body.contains("<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\""),
        "{body}"
    );

    // Sent again (a DFE retrying): one record.
    let (status, _) = post(receiver.addr, JMF_CONTENT_TYPE, &signal).await;
    assert_eq!(status, 200);
    flush(&client).await;
    let stored = server.stored();
    assert_eq!(stored.len(), 1);
    let record = client.record(stored[0].parse().unwrap()).await.unwrap();
    assert!(
        record.record.get("job").is_none(),
        "job_info was refused: {}",
        record.record
    );
    assert_eq!(
        record.record["print_settings"]["values"]["DeviceInfo.DeviceStatus"],
        "Running"
    );

    // Malformed: a JMF error answer, the body kept in quarantine with its reason.
    let (status, body) = post(
        receiver.addr,
        JMF_CONTENT_TYPE,
        &signal[..signal.len() - 40],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("ReturnCode=\"3\"") && body.contains("Notification"),
        "{body}"
    );
    let kept: Vec<_> = std::fs::read_dir(&quarantine)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept.len(), 2, "the body and its reason: {kept:?}");

    // An unread message type: answered with ReturnCode 5.
    let query = b"<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\" AgentName=\"a\" AgentVersion=\"1\"><Query ID=\"q1\" Type=\"KnownDevices\"/></JMF>";
    let (_, body) = post(receiver.addr, JMF_CONTENT_TYPE, query).await;
    assert!(
        body.contains("refID=\"q1\"") && body.contains("ReturnCode=\"5\""),
        "{body}"
    );

    // Not JMF, and too large: refused before reading.
    let (status, _) = post(receiver.addr, "application/json", b"{}").await;
    assert_eq!(status, 415);
    let (status, _) = post(receiver.addr, JMF_CONTENT_TYPE, &vec![b' '; 100 * 1024]).await;
    assert_eq!(status, 413);

    flush(&client).await;
    assert_eq!(server.stored().len(), 1);
    receiver.stop().await.unwrap();
}
