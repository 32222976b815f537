//! Several server nodes behind one address: the HAProxy configuration in front of them.
//!
//! HAProxy runs in TCP mode and passes TLS through, so each node keeps serving its own
//! certificate (issued by the CA every node shares) and clients keep pinning that CA. It reads
//! the client hello without terminating it and routes on its ALPN: `mqtt` (or AWS IoT's name)
//! to the MQTT backend, anything else to the HTTPS one. Both backends are the same nodes, which
//! tell MQTT from HTTPS by ALPN themselves; the split lets MQTT's long connections be balanced
//! by count (`leastconn`) and HTTPS round robin. A node is taken out of both after two failed
//! checks of `/ready` half a second apart (the database answers with its schema; the MQTT
//! backend tracks the HTTPS backend's checks rather than making its own), and a connection that
//! finds a node gone is sent to another (`redispatch`).
//!
//! HAProxy tells each node the client's address in a PROXY protocol v2 header (`send-proxy-v2`,
//! checks too), which the nodes read with `--proxy-protocol` (see `proxy_protocol`): without
//! it every agent would seem to come from HAProxy's address and share one address's limits.
//!
//! The same text serves `scripts/run-cluster.sh` (through `ecsp-server haproxy-config`) and the
//! cluster tests.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use ecsp_protocol::remote_ops::{MQTT_ALPN, MQTT_ALPN_AWS};

/// The configuration for HAProxy listening on `listen` in front of `nodes`, checking their
/// certificates against `ca_file` under the name `check_host` (one the nodes' certificates
/// carry: `localhost` for the local CA's defaults, else a `--tls-host`). With `brokers` (the MQTT
/// addresses of a NATS cluster, see [`nats_config`]) MQTT goes to those instead of the nodes.
pub fn haproxy_config(
    listen: SocketAddr,
    nodes: &[SocketAddr],
    brokers: &[SocketAddr],
    ca_file: &Path,
    check_host: &str,
) -> String {
    let (mut servers, mut tracking) = (String::new(), String::new());
    for (i, node) in nodes.iter().enumerate() {
        let _ = writeln!(
            servers,
            "    server node{n} {node} send-proxy-v2 check check-send-proxy check-ssl \
             verify required ca-file {ca} check-sni {check_host} verifyhost {check_host} \
             inter 500ms fall 2 rise 1",
            n = i + 1,
            ca = ca_file.display(),
        );
        if brokers.is_empty() {
            // The same node: its state is the HTTPS backend's, checked once.
            let _ = writeln!(
                tracking,
                "    server node{n} {node} send-proxy-v2 track ecsp_https/node{n}",
                n = i + 1,
            );
        }
    }
    for (i, broker) in brokers.iter().enumerate() {
        // NATS reads no PROXY header; a broker that stops accepting is out after two checks.
        let _ = writeln!(
            tracking,
            "    server broker{n} {broker} check inter 500ms fall 2 rise 1",
            n = i + 1,
        );
    }
    format!(
        "# ECSP: {count} server nodes behind {listen} (ecsp-server haproxy-config)
global
    # No maxconn: HAProxy sizes it from the file descriptor limit (`ulimit -n`); raise that for
    # many agents, each of which holds an MQTT connection.

defaults
    mode tcp
    timeout connect 2s
    # MQTT connections live for hours, kept alive by the agents' pings.
    timeout client 2h
    timeout server 2h
    timeout check 2s
    retries 3
    option redispatch

frontend ecsp
    bind {listen}
    tcp-request inspect-delay 5s
    tcp-request content accept if {{ req.ssl_hello_type 1 }}
    use_backend ecsp_mqtt if {{ req.ssl_alpn {MQTT_ALPN} }} || {{ req.ssl_alpn {MQTT_ALPN_AWS} }}
    default_backend ecsp_https

backend ecsp_https
    balance roundrobin
    option httpchk GET /ready
{servers}
backend ecsp_mqtt
    balance leastconn
{tracking}",
        count = nodes.len(),
    )
}

/// One broker node of a NATS cluster (the clustered MQTT broker, `remote::nats`).
#[derive(Debug, Clone)]
pub struct BrokerNode {
    /// NATS's own protocol (the server's account updates).
    pub client: SocketAddr,
    /// MQTT over TLS (what HAProxy's MQTT backend points at).
    pub mqtt: SocketAddr,
    /// Routes between the broker nodes.
    pub route: SocketAddr,
}

/// The configuration of broker node `index` of `nodes`: clustered by routes, JetStream on
/// (MQTT keeps sessions and QoS 1 messages there, replicated on up to three nodes), MQTT over
/// TLS with the service's certificate (HAProxy passes TLS through, so agents see the service's
/// name), trusting the operator of `auth_conf` (`ecsp-server nats-init`) with a `full`
/// resolver, which takes the server's account updates and passes them to the other nodes.
///
/// Routes are plain TCP without credentials: this is for nodes on one private network or host;
/// across machines give the `cluster` block `tls` and `authorization` of its own.
pub fn nats_config(
    index: usize,
    nodes: &[BrokerNode],
    state_dir: &Path,
    cert: &Path,
    key: &Path,
    auth_conf: &str,
) -> String {
    let node = &nodes[index];
    let routes: Vec<String> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, n)| format!("\"nats-route://{}\"", n.route))
        .collect();
    format!(
        "# ECSP broker node {n} of {count} (ecsp-server nats-config)
server_name: ecsp-broker-{n}
listen: {client}
max_payload: 1MB

jetstream {{
    store_dir: \"{jetstream}\"
    max_memory_store: 256MB
    max_file_store: 4GB
}}

cluster {{
    name: ecsp-brokers
    listen: {route}
    routes: [{routes}]
}}

mqtt {{
    listen: {mqtt}
    tls {{
        cert_file: \"{cert}\"
        key_file: \"{key}\"
        timeout: 5
    }}
    # A report not acknowledged by the server is delivered again after this long.
    ack_wait: \"10s\"
    # Sessions, reports and the server nodes' subscriptions on three nodes. Agents subscribe
    # to their commands at QoS 0 (no consumer of their own); a server node gone for an hour
    # has its subscriptions dropped (the other nodes got the same reports).
    stream_replicas: {replicas}
    consumer_inactive_threshold: \"1h\"
}}

resolver {{
    type: full
    dir: \"{resolver}\"
    allow_delete: false
    interval: \"2m\"
}}

{auth_conf}",
        n = index + 1,
        count = nodes.len(),
        client = node.client,
        route = node.route,
        routes = routes.join(", "),
        mqtt = node.mqtt,
        cert = cert.display(),
        key = key.display(),
        replicas = nodes.len().min(3),
        jetstream = state_dir.join("jetstream").display(),
        resolver = state_dir.join("accounts").display(),
    )
}
