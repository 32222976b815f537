//! Remote operations: the server's side of `ecsp_protocol::remote_ops`.
//!
//! * [`broker`]: the MQTT broker agents connect to, and the [`Hub`] of connected agents.
//! * [`AlpnAcceptor`]: one TLS port for HTTPS and MQTT, told apart by the ClientHello's ALPN
//!   (`mqtt`, or AWS IoT's `x-amzn-mqtt-ca`) before the handshake completes, as AWS IoT does
//!   on 443; [`serve_mqtt_port`] is the optional port of MQTT's own.
//! * [`sweeper`]: ends operations whose state outlived its deadline.
//! * `conformance`: MQTT 3.1.1's MUSTs checked on raw frames; [`limits`]: connections and
//!   failed CONNECTs per address.
//!
//! The jobs themselves (SQL, state machine) are in `store::operations`; the REST face in
//! `api::operations`.

pub mod broker;
mod conformance;
pub mod external;
pub mod limits;
pub mod nats;
pub mod peers;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsConfig;
use chrono::Utc;
use ecsp_protocol::remote_ops::{MQTT_ALPN, MQTT_ALPN_AWS};
use tokio::net::TcpStream;
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

pub use broker::Hub;

use crate::api::AppState;
use crate::store::operations;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn offers_mqtt(hello: &rustls::server::ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut protocols| {
        protocols.any(|p| p == MQTT_ALPN.as_bytes() || p == MQTT_ALPN_AWS.as_bytes())
    })
}

/// The HTTPS configuration with MQTT's ALPN names instead of HTTP's.
fn mqtt_config(https: &rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    let mut config = https.clone();
    config.alpn_protocols = vec![
        MQTT_ALPN.as_bytes().to_vec(),
        MQTT_ALPN_AWS.as_bytes().to_vec(),
    ];
    Arc::new(config)
}

/// axum-server's acceptor for the shared port: TLS with the (reloadable) HTTPS configuration;
/// a client offering MQTT's ALPN is handed to the broker and never reaches axum.
#[derive(Clone, Debug)]
pub struct AlpnAcceptor {
    pub https: RustlsConfig,
    pub state: AppState,
    /// Read the client's address from a PROXY protocol header first (behind HAProxy).
    pub proxy_protocol: bool,
}

impl<S: Send + 'static> Accept<TcpStream, S> for AlpnAcceptor {
    type Stream = TlsStream<TcpStream>;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, S)>> + Send>>;

    fn accept(&self, mut stream: TcpStream, service: S) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let mut peer = stream.peer_addr()?.ip();
            // Answers and MQTT packets go out as written: Nagle's algorithm would hold a TLS
            // record's last segment back for the client's delayed ACK.
            let _ = stream.set_nodelay(true);
            let handshake = async {
                if this.proxy_protocol {
                    peer = crate::proxy_protocol::client_address(&mut stream, peer).await?;
                }
                let start =
                    LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
                let https = this.https.get_inner();
                if offers_mqtt(&start.client_hello()) {
                    let tls = start.into_stream(mqtt_config(&https)).await?;
                    Ok::<_, io::Error>((tls, true))
                } else {
                    Ok((start.into_stream(https).await?, false))
                }
            };
            let (tls, mqtt) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            if mqtt {
                tokio::spawn(broker::serve(this.state.clone(), tls, peer));
                // axum-server drops a connection whose accept fails; this one lives on in the
                // broker's task.
                return Err(io::Error::other("handed to the MQTT broker"));
            }
            Ok((tls, service))
        })
    }
}

/// Serves MQTT over TLS on a port of its own (ALPN optional there); with `proxy_protocol`, each
/// connection starts with a PROXY protocol header, as on the shared port.
pub async fn serve_mqtt_port(
    listener: tokio::net::TcpListener,
    https: RustlsConfig,
    state: AppState,
    proxy_protocol: bool,
) {
    let mut shutdown = state.remote.subscribe_shutdown();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let (mut stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "MQTT port: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let config = mqtt_config(&https.get_inner());
        let state = state.clone();
        tokio::spawn(async move {
            let mut peer = peer.ip();
            let handshake = async {
                if proxy_protocol {
                    peer = crate::proxy_protocol::client_address(&mut stream, peer).await?;
                }
                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(tls)) => broker::serve(state, tls, peer).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "MQTT port: connection refused"),
                Err(_) => tracing::debug!("MQTT port: TLS handshake timed out"),
            }
        });
    }
}

/// Asks the agent's connection to publish its pending commands, on whichever server node it
/// is connected to: this one directly, the others through the database (see [`peers`]).
pub async fn kick_anywhere(state: &AppState, agent: uuid::Uuid) {
    if !state.remote.kick(agent) {
        peers::tell(&state.db, peers::NodeMessage::Commands { agent }).await;
    }
}

/// Ends operations past their deadline (`expired`, `timed_out`), checking every `every`.
pub async fn sweeper(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Utc::now();
        match state.db.read(operations::next_deadline).await {
            Ok(Some(due)) if due <= now => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(error = %e, "operation sweeper: could not read deadlines");
                continue;
            }
        }
        match state.db.write(move |c| operations::sweep(c, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(operations = n, "operations expired or timed out"),
            Err(e) => tracing::error!(error = %e, "operation sweeper failed"),
        }
    }
}
