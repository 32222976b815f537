//! Audit completeness: each data access, sign-in, failure and denial is exactly one row.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

#[tokio::test]
async fn every_access_is_one_audit_row_without_secrets() {
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let token = ts.token("operator").await;
    let dev = ts.device(0);
    let foreign_like = uuid::Uuid::new_v4();

    // (what to do, the action it must log, the outcome)
    let before = ts.count("audit_log").await;
    let mut expected: Vec<(&str, &str)> = Vec::new();

    ts.get(&token, "/api/v1/me").await;
    expected.push(("account.read", "success"));
    ts.get(&token, "/api/v1/devices").await;
    expected.push(("device.list", "success"));
    ts.get(&token, &format!("/api/v1/devices/{dev}")).await;
    expected.push(("device.read", "success"));
    ts.get(&token, &format!("/api/v1/devices/{foreign_like}"))
        .await;
    expected.push(("device.read", "denied"));
    ts.get(&token, &format!("/api/v1/devices/{dev}/records"))
        .await;
    expected.push(("record.list", "success"));
    let batch = dfe_upload(vec![dfe_record(dev, None), dfe_record(dev, None)]);
    assert_eq!(
        ts.post(&token, "/api/v1/uploads/dfe", &batch)
            .await
            .status(),
        StatusCode::CREATED
    );
    expected.push(("upload.dfe", "success"));
    expected.push(("upload.dfe", "success"));
    ts.get(&token, "/api/v1/admin/users").await;
    expected.push(("admin.user.list", "denied"));
    ts.login(&email, "wrong password 123").await;
    expected.push(("auth.login", "failed"));
    ts.login(&email, &password).await;
    expected.push(("auth.login", "success"));
    ts.get("ecsp_at_forged", "/api/v1/me").await;
    expected.push(("auth.token", "failed"));
    ts.get(&token, "/health").await; // not customer data: no row
    ts.get(&token, "/ca.pem").await; // not customer data: no row

    let after = ts.count("audit_log").await;
    assert_eq!(after - before, expected.len() as i64, "one row per access");

    let admin = ts.token("admin").await;
    let rows: Vec<Value> = ts
        .get(
            &admin,
            &format!("/api/v1/admin/audit?limit=1000&after={before}"),
        )
        .await
        .json()
        .await
        .unwrap();
    // The forged-token row has no organisation, so the admin's view lacks it; the admin's own
    // sign-in comes last.
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .filter(|(a, _)| *a != "auth.token")
        .map(|(a, o)| (a.to_string(), o.to_string()))
        .chain([("auth.login".to_string(), "success".to_string())])
        .collect();
    assert_eq!(got, want);
    for r in &rows {
        assert!(r["at"].as_str().unwrap().ends_with('Z'), "UTC times");
        let text = r.to_string();
        assert!(!text.contains(&password) && !text.contains(&token) && !text.contains(&email));
    }
}
