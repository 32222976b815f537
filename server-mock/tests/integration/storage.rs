//! What is on disk: no personal data in clear, Argon2id hashes, an append-only audit log, and
//! a data directory that survives a restart.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use ecsp_server_mock::sql;

#[tokio::test]
async fn the_database_file_holds_no_personal_data_in_clear() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;
    let res = ts
        .post(
            &admin,
            "/api/v1/admin/users",
            &json!({"email": "Hanako.Yamada@customer.example", "name": "Hanako Yamada", "role": "user",
                    "password": "a long enough password", "partner_information": "Partner Kabushiki Kaisha",
                    "client_information": "Client Insatsu Ltd"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let operator = ts.token("operator").await;
    grant_consent(&ts, &operator, "job_info", "granted").await;
    let job = json!({"job_id": "J-7", "job_name": "Confidential quarterly report.pdf"});
    let res = ts
        .post(
            &operator,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(ts.device(0), Some(job))]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The admin can read it back, decrypted.
    let users: Vec<serde_json::Value> = ts
        .get(&admin, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        users.iter().any(|u| u["name"] == "Hanako Yamada"
            && u["partner_information"] == "Partner Kabushiki Kaisha")
    );

    let raw = ts.stored_bytes().await;
    assert!(raw.len() > 10_000, "read the database");
    let haystack = String::from_utf8_lossy(&raw).to_lowercase();
    for needle in [
        "hanako",
        "yamada",
        "customer.example",
        "partner kabushiki",
        "client insatsu",
        "operator@demo.ecsp.example",
        "demo print operator",
        "demo admin",
        "confidential quarterly",
        "demo print shop",
        "demo dc agent",
    ] {
        assert!(
            !haystack.contains(needle),
            "`{needle}` is readable in the database file"
        );
    }
}

#[tokio::test]
async fn passwords_are_argon2id_at_owasp_parameters_and_tokens_are_only_hashed() {
    let ts = TestServer::start().await;
    let tokens = ts.tokens("operator").await;
    let (hashes, sessions): (Vec<String>, Vec<Vec<u8>>) = ts
        .read_sql(|c| {
            let hashes = c
                .prepare("SELECT password_hash FROM users")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let sessions = c
                .prepare("SELECT access_hash FROM sessions")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok((hashes, sessions))
        })
        .await;
    assert_eq!(hashes.len(), 4);
    for h in &hashes {
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
    let unique: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(unique.len(), hashes.len(), "salted");
    assert!(sessions.iter().all(|s| s.len() == 32));
    let all = ts.stored_bytes().await;
    let token_bytes = tokens.access_token.as_bytes();
    assert!(
        !all.windows(token_bytes.len()).any(|w| w == token_bytes),
        "access token stored in clear"
    );
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed_or_deleted() {
    let ts = TestServer::start().await;
    let token = ts.token("operator").await;
    grant_consent(&ts, &token, "gps", "granted").await;
    let n = ts.count("audit_log").await;
    assert!(n > 0);
    for statement in [
        "UPDATE audit_log SET outcome = 'success'",
        "DELETE FROM audit_log",
        "UPDATE consents SET decision = 'refused'",
        "DELETE FROM consents",
        "TRUNCATE audit_log",
        "TRUNCATE consents",
    ] {
        if statement.starts_with("TRUNCATE") && ts.engine() == sql::Engine::Sqlite {
            continue; // SQLite has no TRUNCATE (its DELETE without WHERE is refused above)
        }
        let refused = ts.write_sql(move |c| c.execute(statement, [])).await;
        let e = refused.expect_err(statement).to_string();
        assert!(e.contains("append-only"), "{statement}: {e}");
    }
    assert_eq!(ts.count("audit_log").await, n);
}

#[tokio::test]
async fn a_restart_keeps_accounts_data_and_certificates() {
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let token = ts.token("operator").await;
    let rec = dfe_record(ts.device(0), None);
    assert_eq!(
        ts.post(
            &token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![rec.clone()])
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let mut ts = ts;
    let ca_before = ts.ca_pem.clone();
    // As a server before schema v6 left them: organisation name and agent label in clear.
    ts.write_sql(|c| {
        c.execute_batch(
            "UPDATE organizations SET name = 'Demo Print Shop', name_enc = NULL;
             UPDATE agents SET label = 'Demo DC Agent', label_enc = NULL;",
        )
    })
    .await
    .unwrap();
    ts.restart_with(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .await;
    assert!(ts.server().demo.is_none(), "no second demo seed");
    assert_eq!(
        ts.server().ca_pem.as_deref(),
        Some(ca_before.as_str()),
        "same CA"
    );
    let client = ts.client.clone();
    let url = |p: &str| ts.url(p);
    let res = client
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token = res
        .json::<ecsp_protocol::auth::TokenPair>()
        .await
        .unwrap()
        .access_token;
    // The clear names were sealed at start, and still read back.
    let me: serde_json::Value = client
        .get(url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["organization_name"], "Demo Print Shop");
    let clear: i64 = ts
        .read_sql(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM organizations WHERE name != '' OR name_enc IS NULL)
                      + (SELECT COUNT(*) FROM agents WHERE label != '' OR label_enc IS NULL)",
                [],
                |r| r.get(0),
            )
        })
        .await;
    assert_eq!(clear, 0);
    let res = client
        .get(url(&format!(
            "/api/v1/records/{}",
            rec["record_id"].as_str().unwrap()
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    ts.stop().await;
}
