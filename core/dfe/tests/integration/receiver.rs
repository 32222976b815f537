use std::net::SocketAddr;
use std::time::Duration;

use ecsp_dfe::hot_folder::QuarantineLimits;
use ecsp_dfe::receiver::{JMF_CONTENT_TYPE, Receiver, ReceiverConfig};
use ecsp_dfe::{Ingest, Ledger, ReadOptions};
use ecsp_protocol::consent::Purpose;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

/// One HTTP/1.1 POST over a plain socket: (status, body).
async fn post(addr: SocketAddr, content_type: &str, body: &[u8]) -> (u16, String) {
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    exchange(addr, &head, body).await
}

/// Sends `head` then `body` over a new connection and reads the answer to its end.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    answer(&mut stream).await
}

/// Reads a whole HTTP answer (the receiver closes after it): (status, body).
async fn answer(stream: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the receiver answers and closes");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.len() > 12, "no answer: {answer:?}");
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Files in the quarantine folder (bodies and reasons).
fn quarantined(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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
            ..ReceiverConfig::default()
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
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {}\r\nContent-Type: {JMF_CONTENT_TYPE}\r\nContent-Length: {}\r\n\r\n",
        receiver.addr,
        100 * 1024
    );
    let (status, _) = exchange(receiver.addr, &head, b"").await;
    assert_eq!(status, 413);

    flush(&client).await;
    assert_eq!(server.stored().len(), 1);
    receiver.stop().await.unwrap();
}

async fn start(
    server: &TestServer,
    client: &ecsp_client::EcspClient,
    config: ReceiverConfig,
) -> Receiver {
    let ingest = Ingest::new(
        client.clone(),
        Ledger::in_memory().unwrap(),
        ReadOptions::new(server.device()),
    );
    Receiver::start(
        ingest,
        ReceiverConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        },
    )
    .await
    .unwrap()
}

/// Issue 25.4 and 25.5: a Host that is not the receiver's (DNS rebinding), a body that is not
/// JMF, garbage after the root and a body not in its declared encoding are answered with a JMF
/// error and upload nothing; the quarantine keeps its newest files within its cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_hosts_and_malformed_bodies_upload_nothing() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let work = tempfile::tempdir().unwrap();
    let quarantine = work.path().join("quarantine");
    let receiver = start(
        &server,
        &client,
        ReceiverConfig {
            quarantine: Some(quarantine.clone()),
            quarantine_limits: QuarantineLimits {
                max_files: 2,
                max_bytes: 1024 * 1024,
            },
            allowed_hosts: vec!["dfe-station.local".into()],
            ..ReceiverConfig::default()
        },
    )
    .await;
    let addr = receiver.addr;
    let port = addr.port();
    let send = |host: Option<String>, content_type: &'static str, body: Vec<u8>| async move {
        let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
        let head = format!(
            "POST /jmf HTTP/1.1\r\n{host}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        exchange(addr, &head, &body).await
    };
    let real = cip4("JMF1.jmf");
    let signal = data("status-signal.jmf");

    // DNS rebinding: a page at attacker.example resolved to 127.0.0.1 sends its own name.
    for host in [
        Some(format!("attacker.example:{port}")),
        Some(format!("127.0.0.1.attacker.example:{port}")),
        Some("127.0.0.1".to_owned()),
        Some(format!("127.0.0.1:{}", port.wrapping_add(1))),
        Some(format!("[::1]:{port}")),
        None,
    ] {
        let (status, body) = send(host.clone(), JMF_CONTENT_TYPE, signal.clone()).await;
        assert_eq!(status, 421, "{host:?}: {body}");
        assert!(
            body.contains("<JMF ")
                && body.contains("ReturnCode=\"1\"")
                && body.contains("Host header"),
            "{body}"
        );
    }
    // Not JMF: refused with a JMF answer.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json",
    ] {
        let (status, body) = send(Some(addr.to_string()), content_type, signal.clone()).await;
        assert_eq!(status, 415, "{content_type}: {body}");
        assert!(body.contains("ReturnCode=\"5\""), "{body}");
    }
    flush(&client).await;
    assert!(server.stored().is_empty(), "nothing refused was uploaded");

    // The receiver's own names: a real CIP4 signal is answered, by its message ID.
    for (host, content_type) in [
        (format!("localhost:{port}"), JMF_CONTENT_TYPE),
        (format!("DFE-Station.local.:{port}"), "text/xml"),
        (addr.to_string(), "application/xml; charset=UTF-8"),
    ] {
        let (status, body) = send(Some(host.clone()), content_type, real.clone()).await;
        assert_eq!(status, 200, "{host} {content_type}: {body}");
        assert!(
            body.contains("refID=\"m.87._221025_231351088_091878\"")
                && body.contains("ReturnCode=\"0\""),
            "{body}"
        );
    }
    // The press in setup, no job: one device-data record, however often it is sent.
    flush(&client).await;
    let accepted = server.stored();
    assert_eq!(accepted.len(), 1, "{accepted:?}");

    // Garbage after the root (the real signal, and one that makes a record), a body not in the
    // encoding it declares: XML parser errors, kept in quarantine, nothing uploaded.
    let with_garbage = |mut b: Vec<u8>| {
        b.extend_from_slice(b"\n\x00garbage<<>>");
        b
    };
    let text = String::from_utf8(signal.clone()).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let mislabelled = |label: &str| text.replacen("UTF-8", label, 1).into_bytes();
    let latin1 = {
        // Non-ASCII text that is UTF-8, declared ISO-8859-1: would be read as mojibake.
        let t = text.replacen("UTF-8", "ISO-8859-1", 1);
        t.replacen("SenderID=\"DFE-01\"", "SenderID=\"DFE-\u{e9}\"", 1)
            .into_bytes()
    };
    assert!(
        latin1 != mislabelled("ISO-8859-1"),
        "the sender was changed"
    );
    for (what, body) in [
        ("a real signal with garbage", with_garbage(real.clone())),
        ("a signal with garbage", with_garbage(signal.clone())),
        ("UTF-16 declared", mislabelled("UTF-16")),
        ("ISO-8859-1 declared, UTF-8 text", latin1),
    ] {
        let (status, body) = send(Some(addr.to_string()), JMF_CONTENT_TYPE, body).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body.contains("ReturnCode=\"3\"") && body.contains("<Notification"),
            "{what}: {body}"
        );
    }
    flush(&client).await;
    assert_eq!(server.stored(), accepted);
    // The cap: two quarantined bodies kept (the newest), each with its reason.
    let kept = quarantined(&quarantine);
    assert_eq!(kept.len(), 4, "{kept:?}");
    let reasons: Vec<String> = kept
        .iter()
        .filter(|n| n.ends_with(".reason.txt"))
        .map(|n| std::fs::read_to_string(quarantine.join(n)).unwrap())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("UTF-16"))
            && reasons.iter().any(|r| r.contains("ISO-8859-1")),
        "the two newest: {reasons:?}"
    );

    // The same signal, well-formed: uploaded (so the refusals above were for the garbage).
    let (status, _) = send(Some(addr.to_string()), JMF_CONTENT_TYPE, signal).await;
    assert_eq!(status, 200);
    flush(&client).await;
    assert_eq!(server.stored().len(), 2);
    receiver.stop().await.unwrap();
}

/// Issue 25.1: a body with tens of thousands of attributes is refused by the bound (and
/// answered as a JMF error), not parsed for a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_many_attributes_is_refused_by_the_bound() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let receiver = start(&server, &client, ReceiverConfig::default()).await;
    let mut body = String::from_utf8(cip4("JMF1.jmf")).unwrap();
    let attrs: String = (0..42_000).map(|i| format!(" a{i}=\"\"")).collect();
    body = body.replacen("<DeviceInfo ", &format!("<DeviceInfo{attrs} "), 1);
    assert!(body.len() > 400_000);
    let (status, answer) = post(receiver.addr, JMF_CONTENT_TYPE, body.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("ReturnCode=\"3\"")
            && answer.contains("&lt;DeviceInfo&gt;")
            && answer.contains("more than 1000 attributes on one element"),
        "{answer}"
    );
    receiver.stop().await.unwrap();
}

/// Issue 25.6: a body too large by its Content-Length is answered before it is sent; a chunked
/// one when it passes the limit; half-sent headers and bodies are cut off; connections past the
/// cap wait their turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_large_and_many_requests_are_bounded() {
    let server = TestServer::start().await;
    let client = server.operator().await;
    let receiver = start(
        &server,
        &client,
        ReceiverConfig {
            max_body_bytes: 64 * 1024,
            header_timeout: Duration::from_millis(1000),
            body_timeout: Duration::from_millis(800),
            max_connections: 1,
            ..ReceiverConfig::default()
        },
    )
    .await;
    let addr = receiver.addr;
    let jmf_error = |body: &str, code: &str| {
        assert!(
            body.contains("<JMF ")
                && body.contains(&format!("ReturnCode=\"{code}\""))
                && body.contains("<Notification"),
            "{body}"
        );
    };

    // 20 MB by Content-Length: answered after the headers, not a byte of body sent.
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JMF_CONTENT_TYPE}\r\nContent-Length: 20000000\r\n\r\n"
    );
    let (status, body) = exchange(addr, &head, b"").await;
    assert_eq!(status, 413, "{body}");
    jmf_error(&body, "3");

    // Chunked past the limit: a JMF error too, not a plain-text one, and not a wait for the end.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JMF_CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..5 {
        let chunk = vec![b' '; 16 * 1024];
        let _ = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = stream.write_all(&chunk).await;
        let _ = stream.write_all(b"\r\n").await;
    }
    let (status, body) = answer(&mut stream).await;
    assert_eq!(status, 413, "{body}");
    jmf_error(&body, "3");

    // Half-sent headers: closed by the receiver (hyper's default waits 30 s).
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Ty").as_bytes())
        .await
        .unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest))
        .await
        .expect("half-sent headers are cut off")
        .ok();

    // Half a body: a JMF "message incomplete" answer once the body time is up.
    let head = format!(
        "POST /jmf HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {JMF_CONTENT_TYPE}\r\nContent-Length: 1000\r\n\r\n"
    );
    let (status, body) = exchange(addr, &head, b"<JMF").await;
    assert_eq!(status, 408, "{body}");
    jmf_error(&body, "9");

    // One connection at a time: an idle one holds the only slot until its header time is
    // up, and a DFE's signal is answered after that, not beside it.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let signal = tokio::spawn(async move { post(addr, JMF_CONTENT_TYPE, &cip4("JMF1.jmf")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !signal.is_finished(),
        "the signal was served while the idle connection held the only slot"
    );
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest).await;
    let (status, body) = signal.await.unwrap();
    assert_eq!(status, 200, "{body}");
    receiver.stop().await.unwrap();
}
