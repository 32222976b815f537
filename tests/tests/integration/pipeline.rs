//! The pipelined flush (the next batch claimed, and the last one marked sent, while a batch is on
//! the wire): a refusal in a middle batch keeps order and loses nothing, and a batch the server
//! stored whose answer never came back is sent again and stored once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ecsp_client::ClientEvent;
use ecsp_client::outbox::QueueState;
use ecsp_client::secrets::MemorySecretStore;
use ecsp_client::sync::FlushOptions;
use ecsp_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_in_a_middle_batch_keeps_order_and_loses_nothing() {
    let h = Harness::start().await;
    let client = h.client("pipeline", Arc::new(MemorySecretStore::default()));
    let (email, password) = h.password("technician");
    client.login(&email, &password).await.unwrap();
    // Five batches of five; the technician has no rights to device 1, so record 12 (in the
    // third batch, refused while the fourth is already claimed) is refused.
    let mut sent_in_order: Vec<(uuid::Uuid, String)> = Vec::new();
    let mut refused = None;
    for i in 0..25 {
        let device = match i {
            12 => h.device(1),
            _ if i % 2 == 0 => h.device(0),
            _ => h.device(2),
        };
        let id = client
            .capture_measurement(measurement_capture(device, false, false))
            .await
            .unwrap()
            .record_id;
        if i == 12 {
            refused = Some(id);
        } else {
            sent_in_order.push((device, id.to_string()));
        }
    }
    let mut events = client.subscribe();
    let report = client
        .flush(FlushOptions {
            batch_size: 5,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert_eq!((report.sent, report.rejected, report.remaining), (24, 1, 0));
    assert!(report.stopped.is_none());

    // Every other record is on the server once, and nothing of the refused one.
    let stored = h.stored_records();
    assert_eq!(stored.len(), 24);
    for (id, n) in &stored {
        assert_eq!(*n, 1, "{id} stored {n} times");
        assert!(sent_in_order.iter().any(|(_, s)| s == id), "{id}");
    }
    let rejected = client
        .queue_list(Some(QueueState::Rejected), 10)
        .await
        .unwrap();
    assert_eq!(rejected.items.len(), 1);
    assert_eq!(Some(rejected.items[0].record_id), refused);

    // Per device, the server stored them in capture order.
    for device in [h.device(0), h.device(2)] {
        let expected: Vec<String> = sent_in_order
            .iter()
            .filter(|(d, _)| *d == device)
            .map(|(_, id)| id.clone())
            .collect();
        let public = device.to_string();
        let stored: Vec<String> = h
            .read_sql(move |c| {
                c.prepare(
                    "SELECT r.record_id FROM records r JOIN devices d ON d.id = r.device_id
                     WHERE d.public_id = ?1 ORDER BY r.id",
                )?
                .query_map([public], |r| r.get(0))?
                .collect()
            })
            .await;
        assert_eq!(
            stored, expected,
            "device {device}: stored out of capture order"
        );
    }

    // Each record was said delivered once; progress only grew, to the flush's figures.
    let mut delivered = Vec::new();
    let mut last = None;
    while let Ok(event) = events.try_recv() {
        match event {
            ClientEvent::Delivered { record_ids, .. } => delivered.extend(record_ids),
            ClientEvent::FlushProgress { progress } => {
                if let Some(before) = last {
                    let before: ecsp_client::sync::FlushProgress = before;
                    assert!(progress.sent >= before.sent && progress.rejected >= before.rejected);
                }
                last = Some(progress);
            }
            _ => {}
        }
    }
    let mut delivered: Vec<String> = delivered.iter().map(|id| id.to_string()).collect();
    delivered.sort();
    let mut expected: Vec<String> = sent_in_order.into_iter().map(|(_, id)| id).collect();
    expected.sort();
    assert_eq!(delivered, expected);
    let last = last.unwrap();
    assert_eq!((last.sent, last.rejected), (24, 1));
}

/// A TCP proxy in front of the server that, once armed, cuts the first connection whose client
/// has sent more than `threshold` bytes (an upload) as soon as the server starts answering it:
/// the server has stored the batch, the client never hears so. TLS passes through untouched.
async fn cutting_proxy(
    server: std::net::SocketAddr,
    armed: Arc<AtomicBool>,
    threshold: usize,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let armed = armed.clone();
            tokio::spawn(async move {
                let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let counted = sent.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        counted.fetch_add(n, Ordering::SeqCst);
                    }
                });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = ur.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if sent.load(Ordering::SeqCst) > threshold
                        && armed.swap(false, Ordering::SeqCst)
                    {
                        // The answer to the upload: dropped, and the connection with it.
                        up.abort();
                        return;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_stored_but_never_acknowledged_is_sent_again_and_stored_once() {
    let h = Harness::start().await;
    let armed = Arc::new(AtomicBool::new(false));
    let proxy = cutting_proxy(h.addr, armed.clone(), 16 * 1024).await;
    let config = ecsp_client::ClientConfig {
        server: format!("https://localhost:{}", proxy.port()),
        ..h.client_config("unacknowledged")
    };
    let client =
        ecsp_client::EcspClient::open(&config, Arc::new(MemorySecretStore::default())).unwrap();
    let (email, password) = h.password("technician");
    client.login(&email, &password).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(
            client
                .capture_measurement(measurement_capture(h.device(0), false, false))
                .await
                .unwrap()
                .record_id
                .to_string(),
        );
    }

    // The first batch (20 records, well past 16 KB) is stored, but its answer is cut: as if the
    // client had died between sending and marking. Nothing is marked sent.
    armed.store(true, Ordering::SeqCst);
    let report = client
        .flush(FlushOptions {
            batch_size: 20,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the proxy cut an answer");
    assert_eq!((report.sent, report.remaining), (0, 30));
    assert!(report.stopped.is_some());
    assert_eq!(h.stored_records().len(), 20, "the server stored the batch");

    // The next flush sends all thirty again; the server's idempotency on record ids keeps one
    // copy of each.
    let report = client
        .flush(FlushOptions {
            batch_size: 20,
            ignore_backoff: true,
            ..FlushOptions::default()
        })
        .await
        .unwrap();
    assert_eq!((report.sent, report.rejected, report.remaining), (30, 0, 0));
    let stored = h.stored_records();
    assert_eq!(stored.len(), 30);
    for (id, n) in &stored {
        assert_eq!(*n, 1, "{id} stored {n} times");
        assert!(ids.contains(id));
    }
}
