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
/// carry: `localhost` for the local CA's defaults, else a `--tls-host`).
pub fn haproxy_config(
    listen: SocketAddr,
    nodes: &[SocketAddr],
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
        // The same node: its state is the HTTPS backend's, checked once.
        let _ = writeln!(
            tracking,
            "    server node{n} {node} send-proxy-v2 track ecsp_https/node{n}",
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
