//! Several server nodes on one PostgreSQL database, one service: what one node does, the others
//! see, and work due once is done once (PostgreSQL pass only).

use reqwest::StatusCode;

use crate::common::*;

/// Three nodes of one service in this process, the first having seeded the demo organisation.
async fn three_nodes(test: &str) -> Option<[TestServer; 3]> {
    postgres_only(test)?;
    let first = TestServer::start().await;
    let second = first.start_node().await;
    let third = first.start_node().await;
    Some([first, second, third])
}

/// Each node hears the others say they run (a node of several keeps one upload batch in flight,
/// see `ingest_batch`), at once rather than at their next announcement.
#[tokio::test]
async fn each_node_counts_the_others_at_once() {
    let Some(nodes) = three_nodes("each_node_counts_the_others_at_once").await else {
        return;
    };
    let started = std::time::Instant::now();
    let counts = || {
        nodes
            .iter()
            .map(|n| n.server().remote.other_nodes())
            .collect::<Vec<_>>()
    };
    while counts() != [2, 2, 2] && started.elapsed().as_secs() < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(counts(), [2, 2, 2], "after {:?}", started.elapsed());
}

/// Three node processes behind HAProxy, whose sweepers (every second) find the same deadlines
/// due, with three more sweeps at once from outside: each operation is ended once, with one
/// history row and one audit row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_due_deadline_is_swept_once_by_three_nodes() {
    use ecsp_server_mock::store::operations;
    use ecsp_server_mock::testing::ProcessCluster;
    if postgres_only("each_due_deadline_is_swept_once").is_none() {
        return;
    }
    let cluster = ProcessCluster::start(env!("CARGO_BIN_EXE_ecsp-server").into(), 3).await;
    let db = &cluster.seed;
    const OPERATIONS: i64 = 300;
    let device = db.device(0).to_string();
    db.write_sql(move |c| {
        let (org, device, agent) = c.query_row(
            "SELECT org_id, id, agent_id FROM devices WHERE public_id = ?1",
            [&device],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )?;
        let user: i64 = c.query_row("SELECT MIN(id) FROM users WHERE org_id = ?1", [org], |r| {
            r.get(0)
        })?;
        for _ in 0..OPERATIONS {
            c.execute(
                "INSERT INTO operations (public_id, org_id, device_id, agent_id, kind, state,
                         requested_by, requested_at, expires_at, updated_at, deadline)
                     VALUES (?1, ?2, ?3, ?4, 'status', 'queued', ?5, 1, 2, 1, 2)",
                ecsp_server_mock::params![
                    uuid::Uuid::new_v4().to_string(),
                    org,
                    device,
                    agent,
                    user
                ],
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();

    // Three more sweeps at once, beside the nodes' own.
    let now = chrono::Utc::now();
    let sweeps = (0..3).map(|_| db.db().write(move |c| operations::sweep(c, now)));
    let swept: usize = futures_util::future::join_all(sweeps)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let (history, audited, left) = db
        .read_sql(|c| {
            let history: Vec<i64> = c
                .prepare(
                    "SELECT COUNT(*) FROM operation_history WHERE state = 'expired'
                     GROUP BY operation_id",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let audited: i64 = c.query_row(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'operation.state'",
                [],
                |r| r.get(0),
            )?;
            let left: i64 = c.query_row(
                "SELECT COUNT(*) FROM operations WHERE state <> 'expired'",
                [],
                |r| r.get(0),
            )?;
            Ok((history, audited, left))
        })
        .await;
    assert_eq!(left, 0, "every operation ended");
    assert_eq!(history.len() as i64, OPERATIONS);
    assert!(
        history.iter().all(|n| *n == 1),
        "one expiry each: {history:?}"
    );
    assert_eq!(audited, OPERATIONS, "one audit row each");
    assert!(swept as i64 <= OPERATIONS, "{swept} sweeps counted");
}

/// Wrong passwords spread over three nodes behind HAProxy spend the account's one budget, as
/// on one node; the owner's known installation still signs in through any node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_on_three_nodes_spend_one_budget() {
    use ecsp_server_mock::testing::ProcessCluster;
    if postgres_only("wrong_passwords_on_three_nodes_spend_one_budget").is_none() {
        return;
    }
    let cluster = ProcessCluster::start(env!("CARGO_BIN_EXE_ecsp-server").into(), 3).await;
    let http = fresh_client(&cluster.seed.ca_pem);
    let (email, password) = cluster.seed.password("operator");
    let installation = uuid::Uuid::new_v4();
    let login = |node: usize, installation: Option<uuid::Uuid>, password: &str| {
        let body = serde_json::json!({"email": email, "password": password, "installation_id": installation});
        let request = http
            .post(format!("{}/api/v1/auth/login", cluster.node_url(node)))
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    // The owner's installation becomes known through the first node.
    assert_eq!(
        login(0, Some(installation), &password).await,
        StatusCode::OK
    );
    let burst = ecsp_server_mock::ratelimit::BURST as usize;
    for n in 0..burst {
        assert_eq!(
            login(n % 3, None, "wrong password 123").await,
            StatusCode::UNAUTHORIZED,
            "guess {n}"
        );
    }
    for node in 0..3 {
        assert_eq!(
            login(node, None, &password).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the budget is spent on node {}",
            node + 1
        );
        assert_eq!(
            login(node, Some(installation), &password).await,
            StatusCode::OK,
            "the known installation signs in through node {}",
            node + 1
        );
    }
}

/// An operation requested through one node reaches its agent connected to another at once
/// (the database's NOTIFY), and the agent's reports through that node are what the first
/// node answers.
#[tokio::test]
async fn an_operation_requested_on_one_node_reaches_an_agent_connected_to_another() {
    use crate::remote::{
        agent_report, connected, demo_agent, next_command, op_id, report, request,
        status_succeeded, subscribe_commands, wait_state,
    };
    let Some(nodes) = three_nodes("an_operation_requested_on_one_node_reaches_an_agent").await
    else {
        return;
    };
    let agent = nodes[0].demo.agent.agent_id;
    // The second node shares the first's demo accounts.
    let (client, mut events) = demo_agent(&nodes[1]);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;

    let support = nodes[0].token("support").await;
    let res = request(
        &nodes[0],
        &support,
        serde_json::json!({"device_id": nodes[0].device(1), "kind": "status"}),
    )
    .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let op = op_id(&res.json().await.unwrap());
    let started = std::time::Instant::now();
    let command = next_command(&mut events).await;
    assert_eq!(command.operation_id, op);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "delivered in {:?}",
        started.elapsed()
    );
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "delivered", serde_json::json!({})),
    )
    .await;
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "succeeded", status_succeeded()),
    )
    .await;
    // The third node answers what the second stored.
    let support_c = nodes[2].token("support").await;
    wait_state(&nodes[2], &support_c, op, "succeeded").await;
}

/// An agent that connects to another node ends its session on the first, as a second
/// connection with the same client id does on one node (MQTT); commands then reach the new one.
#[tokio::test]
async fn an_agent_connecting_to_another_node_ends_its_session_on_the_first() {
    use crate::remote::{
        connected, demo_agent, next_command, op_id, request, subscribe_commands, until_closed,
    };
    let Some(nodes) = three_nodes("an_agent_connecting_to_another_node_ends_its_session").await
    else {
        return;
    };
    let agent = nodes[0].demo.agent.agent_id;
    let (_first, mut first_events) = demo_agent(&nodes[0]);
    connected(&mut first_events).await;
    let (second, mut events) = demo_agent(&nodes[1]);
    connected(&mut events).await;
    let started = std::time::Instant::now();
    until_closed(&mut first_events).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the first session ended after {:?}",
        started.elapsed()
    );
    assert!(!nodes[0].server().remote.is_connected(agent));

    subscribe_commands(&second, &mut events, agent).await;
    let support = nodes[2].token("support").await;
    let res = request(
        &nodes[2],
        &support,
        serde_json::json!({"device_id": nodes[2].device(0), "kind": "status"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let op = op_id(&res.json().await.unwrap());
    assert_eq!(next_command(&mut events).await.operation_id, op);
}

/// An agent disabled through one node is cut off by the others at once, not after their agent
/// cache's minute: its MQTT session on another node ends, and a node that had its secret
/// cached refuses it over HTTPS.
#[tokio::test]
async fn an_agent_disabled_on_one_node_is_cut_off_by_every_node_at_once() {
    use crate::agents::https_status;
    use crate::remote::{connected, demo_agent, until_closed};
    let Some(nodes) = three_nodes("an_agent_disabled_on_one_node_is_cut_off").await else {
        return;
    };
    let (agent, secret) = (
        nodes[0].demo.agent.agent_id,
        nodes[0].demo.agent.secret.clone(),
    );
    // Accepted (422: the body is empty on purpose), and now cached by the third node.
    assert_eq!(
        https_status(&nodes[2], &secret).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_client, mut events) = demo_agent(&nodes[1]);
    connected(&mut events).await;

    let admin = nodes[0].token("admin").await;
    let res = nodes[0]
        .call(
            reqwest::Method::PATCH,
            Some(&admin),
            &format!("/api/v1/admin/agents/{agent}"),
            Some(&serde_json::json!({"disabled": true})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    until_closed(&mut events).await;
    let mut refused = https_status(&nodes[2], &secret).await;
    while refused != StatusCode::UNAUTHORIZED && started.elapsed().as_secs() < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        refused = https_status(&nodes[2], &secret).await;
    }
    assert_eq!(
        refused,
        StatusCode::UNAUTHORIZED,
        "the third node still takes the secret"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );
}

/// Test 4 of the several-nodes issue, on processes behind HAProxy: an operation requested
/// through node A, its agent connected through node B, its live page open on node C. Node A is
/// killed (SIGKILL) as soon as it answered; the command still reaches the agent when it asks
/// for its commands, the page sees every state, and when node B dies mid-run the agent
/// reconnects through HAProxy, is not given the command again, and its result ends the
/// operation: run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_ends_once_with_the_nodes_that_took_it_killed() {
    use crate::portal::states_until_final;
    use crate::remote::{
        agent_client, agent_report, connected, next_command, op_id, report, subscribe_commands,
    };
    use ecsp_server_mock::testing::ProcessCluster;
    if postgres_only("an_operation_ends_once_with_the_nodes_that_took_it_killed").is_none() {
        return;
    }
    let mut cluster = ProcessCluster::start(env!("CARGO_BIN_EXE_ecsp-server").into(), 3).await;
    let (a, b, c) = (0, 1, 2);
    let seed = &cluster.seed;
    let (ca, agent) = (seed.ca_pem.clone(), seed.demo.agent.agent_id);
    let (id, secret) = (agent.to_string(), seed.demo.agent.secret.clone());
    let http = fresh_client(&ca);

    let (client, mut events) =
        agent_client(&ca, cluster.node_entry(b).port(), true, &id, &id, &secret);
    connected(&mut events).await;
    let (email, password) = seed.password("support");
    let device = seed.device(0);
    let session = portal_sign_in(&http, &cluster.node_url(c), &email, &password).await;

    let login = http
        .post(format!("{}/api/v1/auth/login", cluster.node_url(a)))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = http
        .post(format!("{}/api/v1/operations", cluster.node_url(a)))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"device_id": device, "kind": "head_cleaning",
                                  "head_cleaning": {"level": "normal"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let op = op_id(&res.json().await.unwrap());
    tokio::task::block_in_place(|| cluster.kill(a));

    let stream = http
        .get(format!(
            "{}/portal/operations/{op}/events",
            cluster.node_url(c)
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let seen = tokio::spawn(states_until_final(stream));
    // The agent asks for its commands once the page shows the operation queued.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    subscribe_commands(&client, &mut events, agent).await;
    assert_eq!(next_command(&mut events).await.operation_id, op);
    for (state, extra) in [
        ("delivered", serde_json::json!({})),
        ("in_progress", serde_json::json!({"progress_percent": 40})),
    ] {
        report(&client, &mut events, agent, agent_report(op, state, extra)).await;
    }
    tokio::task::block_in_place(|| cluster.kill(b));

    // The agent's next connection goes through the service's address, to the node left.
    let (client, mut events) = agent_client(&ca, cluster.addr.port(), true, &id, &id, &secret);
    connected(&mut events).await;
    subscribe_commands(&client, &mut events, agent).await;
    let again =
        tokio::time::timeout(std::time::Duration::from_secs(1), next_command(&mut events)).await;
    assert!(
        again.is_err(),
        "a command in progress was sent again: {again:?}"
    );
    let result = serde_json::json!({"result": {"kind": "head_cleaning", "level": "normal",
        "nozzles_ok": true, "duration_s": 60, "ink_used": [{"color": "cyan", "millilitres": 0.5}]}});
    report(
        &client,
        &mut events,
        agent,
        agent_report(op, "succeeded", result),
    )
    .await;

    let mut seen = tokio::time::timeout(std::time::Duration::from_secs(10), seen)
        .await
        .expect("the live page saw the operation end")
        .unwrap();
    seen.dedup();
    let every_state = ["queued", "sent", "delivered", "in_progress", "succeeded"];
    assert_eq!(seen, every_state, "every state, in order");
    let history = cluster
        .seed
        .read_sql(move |conn| {
            conn.prepare(
                "SELECT h.state FROM operation_history h JOIN operations o ON o.id = h.operation_id
                 WHERE o.public_id = ?1 ORDER BY h.seq",
            )?
            .query_map([op.to_string()], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()
        })
        .await;
    assert_eq!(history, every_state, "run once");
}

/// An HTTPS client trusting `ca_pem` that follows no redirects and keeps no connection, so that
/// HAProxy spreads its requests over the nodes.
fn fresh_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(rustls_client_config(ca_pem, rustls::DEFAULT_VERSIONS))
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in to the portal at `base` (`https://localhost:PORT`); the session cookie
/// (`name=value`).
async fn portal_sign_in(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let form = http
        .get(format!("{base}/portal/sign-in"))
        .send()
        .await
        .unwrap();
    let pre_session = cookie_set_by(&form);
    let csrf = csrf_field(&form.text().await.unwrap());
    let signed_in = http
        .post(format!("{base}/portal/sign-in"))
        .header("cookie", &pre_session)
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    cookie_set_by(&signed_in)
}

/// The `name=value` of the cookie `res` sets.
fn cookie_set_by(res: &reqwest::Response) -> String {
    let header = res.headers()["set-cookie"].to_str().unwrap();
    header.split(';').next().unwrap().to_owned()
}

/// The value of a portal form's `csrf` field in `body`.
fn csrf_field(body: &str) -> String {
    const FIELD: &str = "name=\"csrf\" value=\"";
    let at = body.find(FIELD).unwrap() + FIELD.len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

/// A portal user signed in through HAProxy stays signed in whichever node dies: each node in
/// turn is killed (SIGKILL), and every page asked meanwhile, on whatever node is left, knows
/// the session; its CSRF token is good on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_session_outlives_any_node() {
    use ecsp_server_mock::testing::ProcessCluster;
    if postgres_only("a_portal_session_outlives_any_node").is_none() {
        return;
    }
    let mut cluster = ProcessCluster::start(env!("CARGO_BIN_EXE_ecsp-server").into(), 3).await;
    let (base, fresh) = (cluster.url(), fresh_client(&cluster.seed.ca_pem));
    let url = |path: &str| format!("{base}{path}");
    let (email, password) = cluster.seed.password("operator");
    let session = portal_sign_in(&fresh, &base, &email, &password).await;

    for dead in 0..cluster.len() {
        tokio::task::block_in_place(|| cluster.kill(dead));
        for _ in 0..6 {
            let page = fresh
                .get(url("/portal/devices"))
                .header("cookie", &session)
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK, "node {} down", dead + 1);
            let body = page.text().await.unwrap();
            assert!(
                body.contains("/portal/sign-out"),
                "still signed in with node {} down",
                dead + 1
            );
            // The page's CSRF token (derived from the session) is accepted by the other nodes.
            let token = csrf_field(&body);
            let changed = fresh
                .post(url("/portal/settings"))
                .header("cookie", &session)
                .form(&[("csrf", token.as_str()), ("time_zone", "Asia/Tokyo")])
                .send()
                .await
                .unwrap();
            assert_eq!(
                changed
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok()),
                Some("/portal/settings?saved=1"),
                "the CSRF token is good with node {} down",
                dead + 1
            );
        }
        tokio::task::block_in_place(|| cluster.restart(dead));
    }
}

/// An MQTT connection through HAProxy from `from` (a loopback address of its own), TLS with
/// ALPN `mqtt`.
async fn mqtt_through(
    haproxy: std::net::SocketAddr,
    from: std::net::Ipv4Addr,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    let tcp = socket.connect(haproxy).await.unwrap();
    let mut config = rustls_client_config(ca_pem, rustls::DEFAULT_VERSIONS);
    config.alpn_protocols = vec![b"mqtt".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Whether the server keeps `stream` open (it waits for a CONNECT) rather than closing it.
async fn kept_open(stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut byte = [0u8; 1];
    tokio::time::timeout(
        std::time::Duration::from_millis(300),
        stream.read(&mut byte),
    )
    .await
    .is_err()
}

/// Behind HAProxy every connection comes from HAProxy's address; the node reads each client's
/// own from the PROXY protocol header, so agents at many addresses are not held to one
/// address's share of connections, and one address still is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_behind_haproxy_are_limited_by_their_own_address() {
    use ecsp_server_mock::remote::limits::MAX_CONNECTIONS_PER_ADDRESS;
    use ecsp_server_mock::testing::ProcessCluster;
    if postgres_only("agents_behind_haproxy_are_limited_by_their_own_address").is_none() {
        return;
    }
    let cluster = ProcessCluster::start(env!("CARGO_BIN_EXE_ecsp-server").into(), 1).await;
    let ca = cluster.seed.ca_pem.clone();
    let many = MAX_CONNECTIONS_PER_ADDRESS + 8;
    let mut sites = Vec::new();
    for i in 0..many {
        let from = std::net::Ipv4Addr::new(127, 0, 1, 1 + i as u8);
        sites.push(mqtt_through(cluster.addr, from, &ca).await);
    }
    // All at once: the broker closes a connection that sends no CONNECT for 10 s.
    let open = futures_util::future::join_all(sites.iter_mut().map(kept_open)).await;
    assert!(
        open.iter().all(|o| *o),
        "connections from addresses of their own were closed: {open:?}"
    );
    let one = std::net::Ipv4Addr::new(127, 0, 2, 1);
    let mut same = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_ADDRESS {
        same.push(mqtt_through(cluster.addr, one, &ca).await);
    }
    let mut extra = mqtt_through(cluster.addr, one, &ca).await;
    assert!(
        !kept_open(&mut extra).await,
        "one address past its limit is closed"
    );
    let open = futures_util::future::join_all(same.iter_mut().map(kept_open)).await;
    assert!(open.iter().all(|o| *o), "{open:?}");
}
