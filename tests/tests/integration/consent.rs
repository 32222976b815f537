//! Consent enforced in the client core: gated parts are not captured without consent, and a
//! withdrawal made after queuing keeps them from leaving the machine.

use ecsp_client::sync::FlushOptions;
use ecsp_e2e::*;
use ecsp_protocol::consent::Purpose;

#[tokio::test]
async fn gated_parts_are_not_captured_without_consent() {
    let h = Harness::start().await;
    let client = h.client("technician", os_keyring());
    let (email, password) = h.password("technician");
    client.login(&email, &password).await.unwrap();
    assert!(
        client
            .consent_status()
            .await
            .unwrap()
            .iter()
            .all(|s| !s.granted && s.needs_asking)
    );

    let captured = client
        .capture_measurement(measurement_capture(h.device(0), true, true))
        .await
        .unwrap();
    assert_eq!(captured.withheld, vec![Purpose::Gps, Purpose::Photos]);
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 1);
    let record_id = captured.record_id.to_string();
    let stored: String = h
        .read_sql(move |c| {
            c.query_row(
                "SELECT kind FROM records WHERE record_id = ?1",
                [record_id],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(stored, "measurement");
    // What the server holds has neither part.
    let record = read_record(
        &h,
        &client_token(&h, "technician").await,
        captured.record_id,
    )
    .await;
    assert!(
        record.get("gps").is_none() && record.get("photos").is_none(),
        "{record}"
    );
}

#[tokio::test]
async fn a_withdrawal_after_queuing_keeps_the_gated_part_home() {
    let h = Harness::start().await;
    let client = h.client("operator", os_keyring());
    let (email, password) = h.password("operator");
    client.login(&email, &password).await.unwrap();
    client.grant(Purpose::JobInfo).await.unwrap();
    assert!(client.is_granted(Purpose::JobInfo).await.unwrap());

    let kept = client
        .capture_dfe(dfe_capture(h.device(0), true))
        .await
        .unwrap();
    assert!(kept.withheld.is_empty());
    // Offline, the user changes their mind.
    client.withdraw(Purpose::JobInfo).await.unwrap();
    assert!(!client.is_granted(Purpose::JobInfo).await.unwrap());
    let after = client
        .capture_dfe(dfe_capture(h.device(0), true))
        .await
        .unwrap();
    assert_eq!(after.withheld, vec![Purpose::JobInfo]);

    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(
        (report.sent, report.rejected),
        (4, 0),
        "2 decisions and 2 records"
    );
    let token = client_token(&h, "operator").await;
    for id in [kept.record_id, after.record_id] {
        let record = read_record(&h, &token, id).await;
        assert!(
            record.get("job").is_none(),
            "job information left the machine: {record}"
        );
        assert_eq!(record["software"]["name"], "Fiery XF");
    }
    // The server has the decisions, in order.
    let http = https(&h);
    let overview: serde_json::Value = http
        .get(format!("{}/api/v1/consents", h.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decisions: Vec<&str> = overview["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, vec!["granted", "withdrawn"]);
    // Nothing gated is left in the local database either.
    let local = rusqlite::Connection::open(ecsp_client::EcspClient::local_database(
        &h.client_config("operator").data_dir,
    ))
    .unwrap();
    let gated: i64 = local
        .query_row("SELECT COUNT(*) FROM outbox_gated", [], |r| r.get(0))
        .unwrap();
    assert_eq!(gated, 0);
}

#[tokio::test]
async fn granted_parts_travel_sealed_and_arrive_whole() {
    let h = Harness::start().await;
    let client = h.client("technician", os_keyring());
    let (email, password) = h.password("technician");
    client.login(&email, &password).await.unwrap();
    client.grant(Purpose::Gps).await.unwrap();
    client.grant(Purpose::Photos).await.unwrap();
    let captured = client
        .capture_measurement(measurement_capture(h.device(0), true, true))
        .await
        .unwrap();
    assert!(captured.withheld.is_empty());
    // On disk, the position is not readable.
    let db_path = ecsp_client::EcspClient::local_database(&h.client_config("technician").data_dir);
    let mut raw = std::fs::read(&db_path).unwrap();
    raw.extend(std::fs::read(db_path.with_extension("sqlite3-wal")).unwrap_or_default());
    assert!(
        !String::from_utf8_lossy(&raw).contains("139.76"),
        "GPS in clear in the outbox"
    );
    let report = client.flush(FlushOptions::default()).await.unwrap();
    assert_eq!(report.sent, 3);
    let record = read_record(
        &h,
        &client_token(&h, "technician").await,
        captured.record_id,
    )
    .await;
    assert_eq!(record["gps"]["longitude"], 139.76);
    assert_eq!(record["photos"][0]["media_type"], "image/jpeg");
}

pub fn https(h: &Harness) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(ecsp_client::transport::tls_config(Some(&h.ca_file), None).unwrap())
        .build()
        .unwrap()
}

pub async fn client_token(h: &Harness, who: &str) -> String {
    let (email, password) = h.password(who);
    ecsp_server_mock::testing::access_token(&https(h), &h.url(), &email, &password).await
}

pub async fn read_record(h: &Harness, token: &str, id: uuid::Uuid) -> serde_json::Value {
    let res: serde_json::Value = https(h)
        .get(format!("{}/api/v1/records/{id}", h.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["record"].clone()
}
