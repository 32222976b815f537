//! The outbox under refusals: a refused record is set aside with the server's reason and the
//! queue goes on; order is kept per device; `retry` puts it back.

use ecsp_client::outbox::QueueState;
use ecsp_client::sync::FlushOptions;
use ecsp_e2e::*;

#[tokio::test]
async fn a_refused_record_is_set_aside_and_the_rest_go_through() {
    let h = Harness::start().await;
    let client = h.client("technician", os_keyring());
    let (email, password) = h.password("technician");
    client.login(&email, &password).await.unwrap();
    // The technician has rights to devices 0 and 2, not 1.
    let mut expected_sent = Vec::new();
    let mut refused = None;
    for i in 0..9 {
        let device = if i == 4 {
            h.device(1)
        } else {
            h.device(if i % 2 == 0 { 0 } else { 2 })
        };
        let c = client
            .capture_measurement(measurement_capture(device, false, false))
            .await
            .unwrap();
        if i == 4 {
            refused = Some(c.record_id);
        } else {
            expected_sent.push(c.record_id.to_string());
        }
    }
    let report = client
        .flush(FlushOptions {
            batch_size: 9,
            ignore_backoff: false,
            consents_only: false,
        })
        .await
        .unwrap();
    assert_eq!((report.sent, report.rejected, report.remaining), (8, 1, 0));
    let stored: Vec<String> = h.stored_records().into_iter().map(|(id, _)| id).collect();
    for id in &expected_sent {
        assert!(stored.contains(id));
    }
    let rejected = client
        .queue_list(Some(QueueState::Rejected), 10)
        .await
        .unwrap();
    assert_eq!(rejected.items.len(), 1);
    assert_eq!(rejected.items[0].record_id, refused.unwrap());
    let reason = rejected.items[0].last_error.as_deref().unwrap();
    assert!(
        reason.contains("no device with this id that you have rights to"),
        "{reason}"
    );

    // Per-device order on the server follows capture order.
    let device = h.device(0).to_string();
    let times: Vec<i64> = h
        .read_sql(move |c| {
            c.prepare("SELECT r.captured_at FROM records r JOIN devices d ON d.id = r.device_id WHERE d.public_id = ?1 ORDER BY r.id")?
                .query_map([device], |r| r.get(0))?
                .collect()
        })
        .await;
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "stored out of capture order: {times:?}"
    );

    // Retry after an admin grants the right: it goes through.
    let admin = crate::consent::client_token(&h, "admin").await;
    let me = client.whoami().await.unwrap();
    let res = crate::consent::https(&h)
        .put(format!(
            "{}/api/v1/admin/users/{}/devices/{}",
            h.url(),
            me.user_id,
            h.device(1)
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(client.retry_rejected(None).await.unwrap(), 1);
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!((report.sent, report.rejected), (1, 0));
    assert_eq!(h.stored_records().len(), 9);
}
