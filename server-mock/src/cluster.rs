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

/// One broker node of the clustered MQTT broker (`remote::nats`): two `nats-server` processes.
/// The routing process is clustered with the other nodes' routing processes (routes) and carries
/// messages between nodes; it has no clients of its own and keeps nothing. The MQTT process
/// serves the agents and the server nodes over MQTT with a JetStream of its own (MQTT sessions
/// and QoS 1 messages on this node only) and joins the routing processes as a leaf node.
///
/// Why not one clustered JetStream: its MQTT sessions live in a replicated stream, and every
/// MQTT `CONNECT` reads and writes it through the stream's leader. When the killed node led
/// it, every agent's reconnection waited for a new leader, which NATS elects 4 to 9 s after the
/// last heartbeat (compiled in; 2.9 and 2.15 alike): reconnections took 9.5 s, once in six
/// runs more than 10. Here a `CONNECT` needs only the node it reaches. What that costs: a
/// session does not move with its client to another node (agents connect with a clean session
/// and the server republishes what is pending; a server node resubscribes), and a QoS 1
/// message held for a client on a node that dies dies with it (the server republishes a
/// command until it is delivered, an agent answers a command again from its ledger).
#[derive(Debug, Clone)]
pub struct BrokerNode {
    /// The MQTT process's NATS port (the server's account updates).
    pub client: SocketAddr,
    /// The MQTT process's MQTT over TLS (what HAProxy's MQTT backend points at).
    pub mqtt: SocketAddr,
    /// The routing process's port for the other routing processes.
    pub route: SocketAddr,
    /// The routing process's port for leaf-node connections (the MQTT processes').
    pub leaf: SocketAddr,
}

/// The configuration of broker node `index`'s routing process (see [`BrokerNode`]): clustered
/// with the others by routes, taking the MQTT processes as leaf nodes.
///
/// Routes and leaf-node connections are plain TCP without credentials: this is for nodes on one
/// private network or host; across machines give the `cluster` and `leafnodes` blocks `tls` and
/// `authorization` of their own.
pub fn nats_router_config(index: usize, nodes: &[BrokerNode]) -> String {
    let node = &nodes[index];
    let routes: Vec<String> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, n)| format!("\"nats-route://{}\"", n.route))
        .collect();
    format!(
        "# ECSP broker node {n} of {count}, routing process (ecsp-server nats-config --router)
server_name: ecsp-router-{n}
# No clients of its own: a port the system picks.
listen: \"{host}:-1\"
max_payload: 1MB

cluster {{
    name: ecsp-brokers
    listen: {route}
    routes: [{routes}]
}}

leafnodes {{
    listen: {leaf}
}}
",
        n = index + 1,
        count = nodes.len(),
        host = node.route.ip(),
        route = node.route,
        routes = routes.join(", "),
        leaf = node.leaf,
    )
}

/// The configuration of broker node `index`'s MQTT process (see [`BrokerNode`]): MQTT over TLS
/// with the service's certificate (HAProxy passes TLS through, so agents see the service's
/// name), a JetStream of its own (its domain named after the node), a leaf node of its own
/// node's routing process first and of the others' when that one is gone, trusting the
/// operator of `auth_conf` (`ecsp-server nats-init`) with a `full` resolver, which takes the
/// server's account updates (the server sends them to every MQTT process). `account` is the
/// service account's public key: its messages are what the leaf-node connection carries.
pub fn nats_config(
    index: usize,
    nodes: &[BrokerNode],
    state_dir: &Path,
    cert: &Path,
    key: &Path,
    auth_conf: &str,
    account: &str,
) -> String {
    let node = &nodes[index];
    let routers: Vec<String> = std::iter::once(node)
        .chain(
            nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != index)
                .map(|(_, n)| n),
        )
        .map(|n| format!("\"nats-leaf://{}\"", n.leaf))
        .collect();
    format!(
        "# ECSP broker node {n} of {count}, MQTT process (ecsp-server nats-config)
server_name: ecsp-broker-{n}
listen: {client}
max_payload: 1MB

jetstream {{
    store_dir: \"{jetstream}\"
    domain: ecsp-broker-{n}
    max_memory_store: 256MB
    max_file_store: 4GB
}}

leafnodes {{
    remotes: [{{
        urls: [{routers}]
        # Its own node's routing process first.
        dont_randomize: true
        account: \"{account}\"
    }}]
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
    # Agents subscribe to their commands at QoS 0 (no consumer of their own); a server node
    # gone for an hour has its subscriptions dropped (the other nodes got the same reports).
    stream_replicas: 1
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
        routers = routers.join(", "),
        mqtt = node.mqtt,
        cert = cert.display(),
        key = key.display(),
        jetstream = state_dir.join("jetstream").display(),
        resolver = state_dir.join("accounts").display(),
    )
}
