//! The authorisation matrix: every endpoint × every role × own and foreign objects. Where a
//! caller must not get through, no 2xx; where they must, a 2xx.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    Admin,
    Support,
    Operator,
    /// A user of the same organisation without a right to device 1.
    Technician,
    ForeignAdmin,
}

const ALL: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Admin,
    Caller::Support,
    Caller::Operator,
    Caller::Technician,
    Caller::ForeignAdmin,
];

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: fn(&Ids) -> Option<Value>,
    allowed: &'static [Caller],
}

struct Ids {
    own_device: Uuid,
    foreign_device: Uuid,
}

#[tokio::test]
async fn authorisation_matrix() {
    let ts = TestServer::start().await;
    let foreign = ts.foreign_org().await;
    let mut tokens = Vec::new();
    for c in ALL {
        let t = match c {
            Caller::Anonymous => None,
            Caller::Admin => Some(ts.token("admin").await),
            Caller::Support => Some(ts.token("support").await),
            Caller::Operator => Some(ts.token("operator").await),
            Caller::Technician => Some(ts.token("technician").await),
            Caller::ForeignAdmin => Some(foreign.token.clone()),
        };
        tokens.push((c, t));
    }
    let admin = tokens[1].1.clone().unwrap();
    // Device 1 of the demo: operator has a right to it, technician does not.
    let own_device = ts.device(1);
    let ids = Ids {
        own_device,
        foreign_device: foreign.device,
    };
    // One stored record on each side, and a user to administer.
    let res = ts
        .post(
            &admin,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(own_device, None)]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let own_record = res.json::<Value>().await.unwrap()["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = ts
        .post(
            &foreign.token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![dfe_record(foreign.device, None)]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let foreign_record = res.json::<Value>().await.unwrap()["records"][0]["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = ts
        .post(
            &admin,
            "/api/v1/admin/users",
            &json!({"email": "extra@demo.ecsp.example", "name": "Extra", "role": "user"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let own_user = res.json::<Value>().await.unwrap()["user"]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign_user = foreign.admin.to_string();
    let (fd, od) = (ids.foreign_device, ids.own_device);

    use Caller::*;
    let readers_of_own: &[Caller] = &[Admin, Support, Operator];
    let everyone_signed_in: &[Caller] = &[Admin, Support, Operator, Technician, ForeignAdmin];
    let cases = vec![
        Case {
            name: "list devices",
            method: Method::GET,
            path: "/api/v1/devices".into(),
            body: |_| None,
            allowed: everyone_signed_in,
        },
        Case {
            name: "whoami",
            method: Method::GET,
            path: "/api/v1/me".into(),
            body: |_| None,
            allowed: everyone_signed_in,
        },
        Case {
            name: "consents",
            method: Method::GET,
            path: "/api/v1/consents".into(),
            body: |_| None,
            allowed: everyone_signed_in,
        },
        Case {
            name: "record consent",
            method: Method::POST,
            path: "/api/v1/consents".into(),
            body: |_| {
                Some(
                    json!({"decision_id": uuid::Uuid::new_v4(), "purpose": "gps", "decision": "refused", "notice_version": "1", "decided_at": chrono::Utc::now()}),
                )
            },
            allowed: everyone_signed_in,
        },
        Case {
            name: "own device",
            method: Method::GET,
            path: format!("/api/v1/devices/{od}"),
            body: |_| None,
            allowed: readers_of_own,
        },
        Case {
            name: "own device records",
            method: Method::GET,
            path: format!("/api/v1/devices/{od}/records"),
            body: |_| None,
            allowed: readers_of_own,
        },
        Case {
            name: "own record",
            method: Method::GET,
            path: format!("/api/v1/records/{own_record}"),
            body: |_| None,
            allowed: readers_of_own,
        },
        Case {
            name: "foreign device",
            method: Method::GET,
            path: format!("/api/v1/devices/{fd}"),
            body: |_| None,
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "foreign device records",
            method: Method::GET,
            path: format!("/api/v1/devices/{fd}/records"),
            body: |_| None,
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "foreign record",
            method: Method::GET,
            path: format!("/api/v1/records/{foreign_record}"),
            body: |_| None,
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "dfe upload to own device",
            method: Method::POST,
            path: "/api/v1/uploads/dfe".into(),
            body: |ids| Some(dfe_upload(vec![dfe_record(ids.own_device, None)])),
            allowed: readers_of_own,
        },
        Case {
            name: "measurement upload to own device",
            method: Method::POST,
            path: "/api/v1/uploads/measurements".into(),
            body: |ids| {
                Some(measurement_upload(vec![measurement_record(
                    ids.own_device,
                    false,
                    false,
                )]))
            },
            allowed: readers_of_own,
        },
        Case {
            name: "dfe upload to foreign device",
            method: Method::POST,
            path: "/api/v1/uploads/dfe".into(),
            body: |ids| Some(dfe_upload(vec![dfe_record(ids.foreign_device, None)])),
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "device data as a user",
            method: Method::POST,
            path: "/api/v1/agent/device-data".into(),
            body: |_| Some(json!({})),
            allowed: &[],
        },
        Case {
            name: "device data: designated devices as a user",
            method: Method::GET,
            path: "/api/v1/agent/devices".into(),
            body: |_| None,
            allowed: &[],
        },
        Case {
            name: "device data: broker credential as a user",
            method: Method::POST,
            path: "/api/v1/agent/broker-credential".into(),
            body: |_| None,
            allowed: &[],
        },
        Case {
            name: "list users",
            method: Method::GET,
            path: "/api/v1/admin/users".into(),
            body: |_| None,
            allowed: &[Admin, ForeignAdmin],
        },
        Case {
            name: "create user",
            method: Method::POST,
            path: "/api/v1/admin/users".into(),
            body: |_| {
                Some(
                    json!({"email": format!("u{}@x.example", Uuid::new_v4().simple()), "name": "U", "role": "user"}),
                )
            },
            allowed: &[Admin, ForeignAdmin],
        },
        Case {
            name: "own user",
            method: Method::GET,
            path: format!("/api/v1/admin/users/{own_user}"),
            body: |_| None,
            allowed: &[Admin],
        },
        Case {
            name: "foreign user",
            method: Method::GET,
            path: format!("/api/v1/admin/users/{foreign_user}"),
            body: |_| None,
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "update own user",
            method: Method::PATCH,
            path: format!("/api/v1/admin/users/{own_user}"),
            body: |_| Some(json!({"role": "user"})),
            allowed: &[Admin],
        },
        Case {
            name: "update foreign user",
            method: Method::PATCH,
            path: format!("/api/v1/admin/users/{foreign_user}"),
            body: |_| Some(json!({"role": "admin"})),
            allowed: &[ForeignAdmin],
        },
        Case {
            name: "grant own device",
            method: Method::PUT,
            path: format!("/api/v1/admin/users/{own_user}/devices/{od}"),
            body: |_| None,
            allowed: &[Admin],
        },
        Case {
            name: "grant foreign device to own user",
            method: Method::PUT,
            path: format!("/api/v1/admin/users/{own_user}/devices/{fd}"),
            body: |_| None,
            allowed: &[],
        },
        Case {
            name: "revoke own grant",
            method: Method::DELETE,
            path: format!("/api/v1/admin/users/{own_user}/devices/{od}"),
            body: |_| None,
            allowed: &[Admin],
        },
        Case {
            name: "register device",
            method: Method::POST,
            path: "/api/v1/admin/devices".into(),
            body: |_| {
                Some(
                    json!({"manufacturer": "Epson", "model": "SC-P700", "serial_number": Uuid::new_v4().simple().to_string()}),
                )
            },
            allowed: &[Admin, ForeignAdmin],
        },
        Case {
            name: "create agent",
            method: Method::POST,
            path: "/api/v1/admin/agents".into(),
            body: |_| Some(json!({"label": "PC 2", "agent_type": "dc_agent"})),
            allowed: &[Admin, ForeignAdmin],
        },
        Case {
            name: "audit log",
            method: Method::GET,
            path: "/api/v1/admin/audit".into(),
            body: |_| None,
            allowed: &[Admin, ForeignAdmin],
        },
    ];

    let mut failures = Vec::new();
    for case in &cases {
        for (caller, token) in &tokens {
            let body = (case.body)(&ids);
            let res = ts
                .call(
                    case.method.clone(),
                    token.as_deref(),
                    &case.path,
                    body.as_ref(),
                )
                .await;
            let status = res.status();
            let allowed = case.allowed.contains(caller);
            if allowed != status.is_success() {
                failures.push(format!(
                    "{} as {caller:?}: {status} {}",
                    case.name,
                    res.text().await.unwrap_or_default()
                ));
                continue;
            }
            if !allowed {
                // Not signed in (or not as an agent): 401. Missing the admin role: 403. Anything
                // else refused is an object the caller may not see, and looks absent: 404.
                let expected = if *caller == Anonymous || case.name.starts_with("device data") {
                    StatusCode::UNAUTHORIZED
                } else if case.path.starts_with("/api/v1/admin")
                    && !matches!(caller, Admin | ForeignAdmin)
                {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::NOT_FOUND
                };
                assert_eq!(status, expected, "{} as {caller:?}", case.name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation failures:\n{}",
        failures.join("\n")
    );

    // Lists show only what the caller may see.
    let list: Vec<Value> = ts
        .get(tokens[4].1.as_deref().unwrap(), "/api/v1/devices")
        .await
        .json()
        .await
        .unwrap();
    let seen: Vec<&str> = list
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        vec![ts.device(0).to_string(), ts.device(2).to_string()],
        "technician sees devices 0 and 2 only"
    );
    let users: Vec<Value> = ts
        .get(&admin, "/api/v1/admin/users")
        .await
        .json()
        .await
        .unwrap();
    assert!(users.iter().all(|u| u["user_id"] != foreign_user.as_str()));
    let audit: Vec<Value> = ts
        .get(&admin, "/api/v1/admin/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    assert!(!audit.is_empty());
    assert!(
        audit
            .iter()
            .all(|a| a["actor"]["id"] != foreign_user.as_str()),
        "another organisation's activity is not in this admin's audit log"
    );
}

#[tokio::test]
async fn a_broker_credential_is_only_for_agents_and_only_with_a_clustered_broker() {
    let ts = TestServer::start().await;
    // The server's own broker takes the agent's secret: there is no credential to give (the
    // agent then connects with its secret).
    let res = ts
        .post(
            &ts.demo.agent.secret,
            "/api/v1/agent/broker-credential",
            &json!({}),
        )
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // A wrong secret is told apart from that.
    let res = ts
        .post(
            "ecsp_ag_not-a-real-secret",
            "/api/v1/agent/broker-credential",
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn agents_report_only_their_designated_devices() {
    let ts = TestServer::start().await;
    let secret = ts.demo.agent.secret.clone();
    let agent_id = ts.demo.agent.agent_id;
    let upload = |serial: &str, agent: Uuid| {
        json!({
            "schema_version": 1,
            "agent": {"agent_id": agent, "agent_type": "dc_agent", "agent_version": "5.2", "collection_type": "scheduled",
                      "sent_at": chrono::Utc::now(), "pc_hostname": "PRINTROOM-PC", "os": "Windows", "os_version": "11"},
            "records": [{"record_id": Uuid::new_v4(), "captured_at": chrono::Utc::now(),
                         "device": {"manufacturer": "Epson", "model": "SureColor SC-P9500", "serial_number": serial,
                                    "firmware_version": "AB12", "printer_status": "idle"}}]
        })
    };
    let res = ts
        .post(
            &secret,
            "/api/v1/agent/device-data",
            &upload("X4DEMO0001", agent_id),
        )
        .await;
    expect_created(res).await;
    let res = ts
        .post(
            &secret,
            "/api/v1/agent/device-data",
            &upload("NOT-DESIGNATED", agent_id),
        )
        .await;
    let p = expect_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(p["errors"][0]["field"], "records[0].device");
    // The server remembers devices it found (`device_cache`), never one it did not: once the
    // device is registered for this agent, its next reports are taken (the second from memory).
    let admin = ts.token("admin").await;
    let res = ts
        .post(
            &admin,
            "/api/v1/admin/devices",
            &json!({"manufacturer": "Epson", "model": "SureColor SC-P9500",
                    "serial_number": "NOT-DESIGNATED", "agent_id": agent_id}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for serial in ["NOT-DESIGNATED", "NOT-DESIGNATED"] {
        let res = ts
            .post(
                &secret,
                "/api/v1/agent/device-data",
                &upload(serial, agent_id),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{serial}");
    }
    let res = ts
        .post(
            &secret,
            "/api/v1/agent/device-data",
            &upload("X4DEMO0001", Uuid::new_v4()),
        )
        .await;
    expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // A user token is not an agent credential, and an agent secret is not a user token.
    let user = ts.token("admin").await;
    let res = ts
        .post(
            &user,
            "/api/v1/agent/device-data",
            &upload("X4DEMO0001", agent_id),
        )
        .await;
    expect_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let res = ts.get(&secret, "/api/v1/devices").await;
    expect_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // The stored reading is visible to a user with rights to the device.
    let records: Vec<Value> = ts
        .get(
            &user,
            &format!("/api/v1/devices/{}/records?kind=device_data", ts.device(0)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["record"]["device"]["serial_number"],
        "X4DEMO0001"
    );
}

/// Nothing an admin does tells them what another organisation holds: an address registered
/// there can be registered here too (and each account signs in to its own organisation), and a
/// record id used there is a new id here.
#[tokio::test]
async fn another_organisations_addresses_and_record_ids_are_unknown_here() {
    let ts = TestServer::start().await;
    let foreign = ts.foreign_org().await;
    let (operator_email, operator_password) = ts.password("operator");
    let new_user = |email: &str| json!({"email": email, "name": "Someone", "role": "user", "password": "foreign password 42"});
    // Taken in the demo organisation, unused in the other: the same answer, 201.
    for email in [operator_email.as_str(), "unused@elsewhere.example"] {
        let res = ts
            .post(&foreign.token, "/api/v1/admin/users", &new_user(email))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{email}");
    }
    // Taken in one's own organisation: 409 (the admin can list their users anyway).
    let res = ts
        .post(
            &foreign.token,
            "/api/v1/admin/users",
            &new_user(&operator_email),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "conflict").await;
    // Each account signs in to its own organisation with its own password.
    for (password, org) in [
        (operator_password.as_str(), "Demo Print Shop"),
        ("foreign password 42", "Other Print Shop"),
    ] {
        let res = ts.login(&operator_email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "{org}");
        let tokens: ecsp_protocol::auth::TokenPair = res.json().await.unwrap();
        let me: Value = ts
            .get(&tokens.access_token, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["organization_name"], org);
    }

    // A record id the demo organisation used is simply new to the other one.
    let operator = ts.token("operator").await;
    let ours = dfe_record(ts.device(0), None);
    let res = ts
        .post(
            &operator,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![ours.clone()]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut theirs = dfe_record(foreign.device, None);
    theirs["record_id"] = ours["record_id"].clone();
    let res = ts
        .post(
            &foreign.token,
            "/api/v1/uploads/dfe",
            &dfe_upload(vec![theirs]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "not a 409");
    let path = format!("/api/v1/records/{}", ours["record_id"].as_str().unwrap());
    let mine: Value = ts.get(&operator, &path).await.json().await.unwrap();
    let other: Value = ts.get(&foreign.token, &path).await.json().await.unwrap();
    assert_eq!(mine["device_id"], ts.device(0).to_string());
    assert_eq!(other["device_id"], foreign.device.to_string());
}
