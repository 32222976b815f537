//! Sign-in, tokens, revocation and the sign-in attempt limit.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn logout_revokes_access_and_refresh_tokens() {
    let ts = TestServer::start().await;
    let tokens = ts.tokens("operator").await;
    assert_eq!(
        ts.get(&tokens.access_token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
    let res = ts
        .call(
            reqwest::Method::POST,
            Some(&tokens.access_token),
            "/api/v1/auth/logout",
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_problem(
        ts.get(&tokens.access_token, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let res = ts.refresh(&tokens.refresh_token).await;
    expect_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_the_session() {
    let ts = TestServer::start().await;
    let first = ts.tokens("operator").await;
    let res = ts.refresh(&first.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: ecsp_protocol::auth::TokenPair = res.json().await.unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(
        ts.get(&second.access_token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
    // Replaying the first refresh token: refused, and the whole family is revoked.
    expect_problem(
        ts.refresh(&first.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    expect_problem(
        ts.get(&second.access_token, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    expect_problem(
        ts.refresh(&second.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // Other sessions of the same user are untouched.
    let other = ts.tokens("operator").await;
    assert_eq!(
        ts.get(&other.access_token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_access_token_says_so_and_refresh_recovers() {
    let ts = TestServer::start_with(|c| c.tokens.access_ttl_secs = 1).await;
    let tokens = ts.tokens("operator").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    expect_problem(
        ts.get(&tokens.access_token, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
    let res = ts.refresh(&tokens.refresh_token).await;
    let fresh: ecsp_protocol::auth::TokenPair = res.json().await.unwrap();
    assert_eq!(
        ts.get(&fresh.access_token, "/api/v1/me").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn disabling_a_user_revokes_their_sessions_and_sign_in() {
    let ts = TestServer::start().await;
    let admin = ts.token("admin").await;
    let tech = ts.tokens("technician").await;
    let me: Value = ts
        .get(&tech.access_token, "/api/v1/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "user");
    assert_eq!(me["email"], "technician@demo.ecsp.example");
    let res = ts
        .call(
            reqwest::Method::PATCH,
            Some(&admin),
            &format!("/api/v1/admin/users/{}", me["user_id"].as_str().unwrap()),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_problem(
        ts.get(&tech.access_token, "/api/v1/me").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let (email, password) = ts.password("technician");
    expect_problem(
        ts.login(&email, &password).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // An admin cannot lock themselves out.
    let admin_me: Value = ts.get(&admin, "/api/v1/me").await.json().await.unwrap();
    let res = ts
        .call(
            reqwest::Method::PATCH,
            Some(&admin),
            &format!(
                "/api/v1/admin/users/{}",
                admin_me["user_id"].as_str().unwrap()
            ),
            Some(&json!({"disabled": true})),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn unknown_and_known_accounts_get_the_same_answer() {
    let ts = TestServer::start().await;
    let (email, _) = ts.password("operator");
    let known = ts.login(&email, "wrong password 123").await;
    let unknown = ts
        .login("nobody@demo.ecsp.example", "wrong password 123")
        .await;
    assert_eq!(known.status(), unknown.status());
    let (a, b): (Value, Value) = (known.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(a["code"], "invalid_credentials");
}

#[tokio::test]
async fn too_many_failures_answer_429_with_retry_after_without_checking_the_password() {
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let burst = ecsp_server_mock::ratelimit::BURST as usize;
    for _ in 0..burst {
        assert_eq!(
            ts.login(&email, "wrong password 123").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = ts.login(&email, &password).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=ecsp_server_mock::ratelimit::REFILL_SECS).contains(&retry),
        "{retry}"
    );
    expect_problem(res, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Unknown accounts are limited the same way, so the limit reveals nothing.
    for _ in 0..burst {
        ts.login("nobody@demo.ecsp.example", "x").await;
    }
    assert_eq!(
        ts.login("nobody@demo.ecsp.example", "x").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account is unaffected.
    let (other, other_pw) = ts.password("technician");
    assert_eq!(ts.login(&other, &other_pw).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn guesses_from_elsewhere_do_not_lock_the_owner_out_of_a_known_installation() {
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let installation = uuid::Uuid::new_v4();
    let login_from = |installation: Option<uuid::Uuid>, password: String| {
        let body = json!({"email": email, "password": password, "installation_id": installation});
        let (client, url) = (ts.client.clone(), ts.url("/api/v1/auth/login"));
        async move { client.post(url).json(&body).send().await.unwrap().status() }
    };
    // The owner signs in once from their installation: it becomes known.
    assert_eq!(
        login_from(Some(installation), password.clone()).await,
        StatusCode::OK
    );

    // An attacker who knows only the address uses up the account's shared budget...
    let burst = ecsp_server_mock::ratelimit::BURST as usize;
    for _ in 0..burst {
        let status = login_from(None, "wrong password 123".into()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(None, password.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and inventing an installation id does not give them a fresh one.
    assert_eq!(
        login_from(Some(uuid::Uuid::new_v4()), "wrong password 123".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner's known installation still signs in, again and again, while the attack goes on.
    for _ in 0..3 {
        assert_eq!(
            login_from(None, "wrong password 123".into()).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            login_from(Some(installation), password.clone()).await,
            StatusCode::OK
        );
    }
    // Guesses made through the known installation are bounded by its own budget.
    for _ in 0..burst {
        assert_eq!(
            login_from(Some(installation), "wrong password 123".into()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(Some(installation), password.clone()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The installation id is stored only as a keyed hash.
    let bytes = ts.stored_bytes().await;
    assert!(!bytes.windows(16).any(|w| w == installation.as_bytes()));
    let text = installation.to_string();
    assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()));
    assert_eq!(ts.count("known_installations").await, 1);
}

/// A refused sign-in answers without waiting for the database writer, for existing accounts as
/// for unknown addresses, in the API and the portal: waiting for the existing account's own
/// audit row made it answer 2–3 ms slower, which told which addresses have accounts (the
/// timing itself is measured by `cargo bench --bench signin`). The rows are still written.
#[tokio::test]
async fn refused_sign_ins_do_not_wait_for_the_audit_write_and_unknown_addresses_run_a_dummy_verify()
{
    let ts = TestServer::start().await;
    let (email, _) = ts.password("operator");
    let failed_rows = || {
        ts.read_sql(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login'
                 AND actor_kind = 'user' AND outcome = 'failed'",
                [],
                |r| r.get::<_, i64>(0),
            )
        })
    };
    assert_eq!(failed_rows().await, 0);

    // Hold the database writer: nothing can commit until `release` is sent.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (holding, writer_held) = tokio::sync::oneshot::channel::<()>();
    let db = ts.server().db.clone();
    let blocker = tokio::spawn(async move {
        db.write(move |_| {
            let _ = holding.send(());
            let _ = held.recv();
            Ok::<_, ecsp_server_mock::db::StoreError>(())
        })
        .await
    });
    writer_held.await.unwrap();

    let within = std::time::Duration::from_secs(30);
    let dummies = ecsp_server_mock::crypto::dummy_verifications();
    for address in [email.as_str(), "nobody@demo.ecsp.example"] {
        let answer = tokio::time::timeout(within, ts.login(address, "wrong password 123"))
            .await
            .unwrap_or_else(|_| panic!("{address}: the refusal waited for the writer"));
        expect_problem(answer, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    assert!(
        ecsp_server_mock::crypto::dummy_verifications() > dummies,
        "the unknown address was checked against the dummy hash"
    );
    // The portal's sign-in form, the same.
    let http = ts.client.clone();
    let form = tokio::time::timeout(within, async {
        let page = http.get(ts.url("/portal/sign-in")).send().await.unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body = page.text().await.unwrap();
        let at = body.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
        let csrf = body[at..at + body[at..].find('"').unwrap()].to_owned();
        http.post(ts.url("/portal/sign-in"))
            .header("cookie", cookie)
            .form(&[
                ("email", email.as_str()),
                ("password", "wrong password 123"),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .status()
    })
    .await
    .expect("the portal's refusal waited for the writer");
    assert_eq!(form, StatusCode::UNAUTHORIZED);

    // Released, the writer stores the refused sign-ins' rows.
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let mut rows = 0;
    for _ in 0..100 {
        rows = failed_rows().await;
        if rows == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rows, 2, "one row for each refused sign-in of the account");
}

/// The id of the demo user whose address starts with `who`, as the admin API lists it.
async fn user_id(ts: &TestServer, admin: &str, who: &str) -> String {
    let users: Vec<Value> = ts
        .get(admin, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    users
        .iter()
        .find(|u| u["email"].as_str().unwrap().starts_with(who))
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn an_admin_unlock_code_lets_the_owner_in_from_a_new_installation_during_an_attack() {
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let sign_in = |installation: uuid::Uuid, password: &str, code: Option<&str>| {
        let body = json!({"email": email, "password": password,
                          "installation_id": installation, "unlock_code": code});
        let (client, url) = (ts.client.clone(), ts.url("/api/v1/auth/login"));
        async move { client.post(url).json(&body).send().await.unwrap().status() }
    };
    let admin = ts.token("admin").await;
    let operator = user_id(&ts, &admin, "operator").await;

    // Someone guesses: the shared budget is gone, and the owner's new laptop is refused.
    for _ in 0..ecsp_server_mock::ratelimit::BURST as usize {
        assert_eq!(
            ts.login(&email, "wrong password 123").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let laptop = uuid::Uuid::new_v4();
    assert_eq!(
        sign_in(laptop, &password, None).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Only an administrator of the owner's organisation issues a code.
    let path = format!("/api/v1/admin/users/{operator}/sign-in-unlock");
    let technician = ts.token("technician").await;
    expect_problem(
        ts.post(&technician, &path, &json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let foreign = ts.foreign_org().await;
    expect_problem(
        ts.post(&foreign.token, &path, &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = ts.post(&admin, &path, &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let issued: Value = res.json().await.unwrap();
    let code = issued["unlock_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 19, "four groups of four: {code}");
    let expires: chrono::DateTime<chrono::Utc> =
        issued["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > chrono::Utc::now() + chrono::Duration::hours(23));

    // An invented code is no way round the limit, nor is the code without the password.
    assert_eq!(
        sign_in(uuid::Uuid::new_v4(), &password, Some("abcd-efgh-jkmn-pqrs")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in(laptop, "wrong password 123", Some(&code)).await,
        StatusCode::UNAUTHORIZED
    );
    // The owner, with the code and the password, is in, though the guessing goes on.
    assert_eq!(
        ts.login(&email, "wrong password 123").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let typed = code.replace('-', " ");
    assert_eq!(
        sign_in(laptop, &password, Some(&typed)).await,
        StatusCode::OK
    );
    // The code is spent; the laptop is now a known installation with a budget of its own.
    assert_eq!(
        sign_in(uuid::Uuid::new_v4(), &password, Some(&code)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(sign_in(laptop, &password, None).await, StatusCode::OK);

    // Issued and used, both in the audit log; the code itself nowhere in the database.
    let rows: Vec<Value> = ts
        .get(&admin, "/api/v1/admin/audit?limit=1000")
        .await
        .json::<Value>()
        .await
        .map(|v| {
            v.get("items")
                .and_then(Value::as_array)
                .or_else(|| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .unwrap();
    for action in ["admin.user.unlock", "auth.unlock_code_used"] {
        assert!(
            rows.iter()
                .any(|r| r["action"] == action && r["outcome"] == "success"),
            "{action} audited"
        );
    }
    let bytes = ts.stored_bytes().await;
    let plain = code.replace('-', "");
    assert!(!bytes.windows(plain.len()).any(|w| w == plain.as_bytes()));
    assert!(!bytes.windows(code.len()).any(|w| w == code.as_bytes()));
}

#[tokio::test]
async fn an_admin_unlocks_a_users_sign_in_in_the_portal_and_the_user_signs_in_with_the_code() {
    use crate::portal::Browser;
    let ts = TestServer::start().await;
    let (email, password) = ts.password("operator");
    let admin_token = ts.token("admin").await;
    let operator = user_id(&ts, &admin_token, "operator").await;

    let mut admin = Browser::new(&ts);
    admin.sign_in("admin").await;
    let users = admin.get("/portal/admin/users").await;
    let action = format!("/portal/admin/users/{operator}/unlock");
    assert!(users.body.contains(&action), "an unlock button per user");
    let forged = admin.post(&action, &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let shown = admin.post(&action, &[("csrf", &users.csrf())]).await;
    assert_eq!(shown.status, StatusCode::CREATED, "{}", shown.body);
    assert!(shown.body.contains("Unlock code"), "{}", shown.body);
    let at = shown.body.find("<code>").unwrap();
    let code_pos = shown.body[at..]
        .match_indices("<code>")
        .map(|(i, _)| at + i + "<code>".len())
        .find(|&i| shown.body[i..].chars().nth(4) == Some('-'))
        .expect("the code is shown");
    let code = shown.body[code_pos..code_pos + 19].to_owned();

    // Not for anyone but an administrator.
    let mut support = Browser::new(&ts);
    support.sign_in("support").await;
    let csrf = support.get("/portal/devices").await.csrf();
    let refused = support.post(&action, &[("csrf", &csrf)]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // Someone guesses; the owner's new browser is refused without the code, let in with it.
    for _ in 0..ecsp_server_mock::ratelimit::BURST as usize {
        ts.login(&email, "wrong password 123").await;
    }
    let mut owner = Browser::new(&ts);
    assert_eq!(
        owner.sign_in("operator").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let form = owner.get("/portal/sign-in").await;
    assert!(form.body.contains("name=\"unlock\""));
    let signed_in = owner
        .post(
            "/portal/sign-in",
            &[
                ("email", email.as_str()),
                ("password", password.as_str()),
                ("unlock", code.as_str()),
                ("csrf", form.csrf().as_str()),
            ],
        )
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(
        owner.get("/portal/devices").await.status,
        StatusCode::OK,
        "signed in"
    );
}
