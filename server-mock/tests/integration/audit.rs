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

/// Rows of the audit log after `seq`, as (action, object, outcome), read from the file.
async fn rows_after(ts: &TestServer, seq: i64) -> Vec<(String, String, String)> {
    ts.read_sql(move |c| {
        c.prepare("SELECT action, object, outcome FROM audit_log WHERE seq > ?1 ORDER BY seq")?
            .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    })
    .await
}

async fn last_seq(ts: &TestServer) -> i64 {
    ts.read_sql(|c| {
        c.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit_log", [], |r| {
            r.get(0)
        })
    })
    .await
}

#[tokio::test]
async fn a_huge_path_id_is_audited_as_a_bounded_canonical_object() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    let admin = ts.token("admin").await;
    let before = last_seq(&ts).await;
    let huge = "a".repeat(60_000);
    for _ in 0..20 {
        let res = ts.get(&token, &format!("/api/v1/admin/users/{huge}")).await;
        expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A non-canonical spelling of a real id is audited in its canonical form.
    let me: Value = ts.get(&token, "/api/v1/me").await.json().await.unwrap();
    let id = me["user_id"].as_str().unwrap();
    let upper = id.to_uppercase();
    assert_eq!(
        ts.get(&admin, &format!("/api/v1/admin/users/{upper}"))
            .await
            .status(),
        StatusCode::OK
    );
    let rows = rows_after(&ts, before).await;
    let denied: Vec<_> = rows.iter().filter(|r| r.2 == "denied").collect();
    assert_eq!(denied.len(), 20, "every refusal is still audited");
    assert!(denied.iter().all(|r| r.1 == "user:invalid"), "{denied:?}");
    assert!(
        rows.contains(&(
            "admin.user.read".into(),
            format!("user:{id}"),
            "success".into()
        )),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_flood_of_anonymous_refusals_writes_bounded_rows_and_counts_them_all() {
    let ts = TestServer::start().await;
    let (email, _) = ts.password("operator");
    let before = last_seq(&ts).await;
    for i in 0..150 {
        let res = ts.get(&format!("ecsp_at_forged{i}"), "/api/v1/me").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        ts.login("nobody@demo.ecsp.example", "wrong password 123")
            .await;
    }
    // Wrong guesses for a real account: the first 10 are audited one by one (each is a failed
    // sign-in of that user), the 429s past the limit are folded.
    for _ in 0..30 {
        ts.login(&email, "wrong password 123").await;
    }
    let immediate = rows_after(&ts, before).await;
    // One row per kind of anonymous refusal, and the real account's 10 failed guesses.
    assert_eq!(immediate.len(), 2 + 10, "{immediate:?}");
    ts.server().flush_audit().await.unwrap();
    let rows = rows_after(&ts, before).await;
    let count = |action: &str| -> u64 {
        rows.iter()
            .filter(|r| r.0 == action)
            .map(|r| match r.1.strip_prefix("repeated:") {
                Some(n) => n.parse::<u64>().unwrap(),
                None => 1,
            })
            .sum()
    };
    assert_eq!(count("auth.token"), 150, "{rows:?}");
    // 150 unknown-account failures (soon past their own limit) and 30 for the real account.
    assert_eq!(count("auth.login"), 180, "{rows:?}");
    assert_eq!(rows.len(), 2 + 10 + 2, "two summary rows: {rows:?}");
}

#[tokio::test]
async fn audit_rows_expire_only_past_the_retention_period_and_export_first() {
    use ecsp_server_mock::store::audit;
    let ts = TestServer::start().await;
    ts.token("operator").await;
    let day = 86_400_000i64;
    let now = chrono::Utc::now().timestamp_millis();
    ts.write_sql(move |c| {
        for (age_days, object) in [(500, "old"), (100, "middle"), (10, "recent")] {
            c.execute(
                "INSERT INTO audit_log (at, org_id, actor_kind, action, object, outcome)
                 VALUES (?1, NULL, 'system', 'test', ?2, 'success')",
                ecsp_server_mock::params![now - age_days * day, object],
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let (exported, text) = ts
        .read_sql(|c| {
            let mut export = Vec::new();
            let n = audit::export(c, &mut export).unwrap();
            Ok((n, String::from_utf8(export).unwrap()))
        })
        .await;
    assert_eq!(text.lines().count() as u64, exported);
    assert!(text.contains("\"object\":\"old\""));
    assert!(!text.contains("@demo.ecsp.example"), "ids only");
    // A DELETE of a row younger than the retention is refused, whoever runs it.
    let delete_recent =
        || ts.write_sql(|c| c.execute("DELETE FROM audit_log WHERE object = 'recent'", []));
    assert!(delete_recent().await.is_err());
    assert_eq!(ts.write_sql(|c| audit::expire(c, 400)).await.unwrap(), 1);
    let left: Vec<String> = ts
        .read_sql(|c| {
            c.prepare("SELECT object FROM audit_log WHERE action = 'test' ORDER BY seq")?
                .query_map([], |r| r.get(0))?
                .collect()
        })
        .await;
    assert_eq!(left, vec!["middle".to_string(), "recent".to_string()]);
    // Retention cannot be set below the minimum, so recent rows survive a small value.
    assert_eq!(ts.write_sql(|c| audit::expire(c, 1)).await.unwrap(), 1);
    assert!(delete_recent().await.is_err());
    let update = ts
        .write_sql(|c| c.execute("UPDATE audit_log SET object = 'x'", []))
        .await;
    assert!(update.is_err());
}
