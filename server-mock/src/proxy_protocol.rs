//! The client's address behind HAProxy: the PROXY protocol (v2) header HAProxy sends first on
//! each connection (`send-proxy-v2`, see [`crate::cluster`]).
//!
//! In TCP mode HAProxy passes TLS through, so every connection a node accepts comes from
//! HAProxy's address; the per-address limits of the MQTT broker (connections, failed CONNECTs)
//! would then hold the whole fleet to one address's share. With `--proxy-protocol` a node reads
//! the header before the TLS handshake and takes the client's address from it. It then refuses
//! a connection without one: such a node is to be reached only through the load balancer
//! (otherwise a client could claim any address). The header is parsed by the `ppp` crate.

use std::io;
use std::net::IpAddr;

use ppp::v2::{Addresses, Command, Header, PROTOCOL_PREFIX};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest header accepted: the addresses and a few TLVs (HAProxy sends none by default).
const MAX_HEADER: usize = 16 + 512;

/// Reads the header from `stream` and returns the client's address: the source address of a
/// `PROXY` header, or `peer` for a `LOCAL` one (HAProxy's own health checks).
pub async fn client_address(
    stream: &mut (impl AsyncRead + Unpin),
    peer: IpAddr,
) -> io::Result<IpAddr> {
    let refused = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut header = vec![0u8; 16];
    stream.read_exact(&mut header).await?;
    if header[..12] != PROTOCOL_PREFIX[..] {
        return Err(refused(
            "no PROXY protocol v2 header (this node is reached through the load balancer only)",
        ));
    }
    let length = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if 16 + length > MAX_HEADER {
        return Err(refused("PROXY protocol header too long"));
    }
    header.resize(16 + length, 0);
    stream.read_exact(&mut header[16..]).await?;
    let parsed = Header::try_from(header.as_slice())
        .map_err(|e| refused(&format!("malformed PROXY protocol header: {e}")))?;
    Ok(match (parsed.command, parsed.addresses) {
        (Command::Proxy, Addresses::IPv4(a)) => IpAddr::V4(a.source_address),
        (Command::Proxy, Addresses::IPv6(a)) => IpAddr::V6(a.source_address),
        _ => peer,
    })
}

/// A `PROXY` header for a connection from `client` to `server` (tests, and clients of a node
/// that expects one).
pub fn header_for(client: std::net::SocketAddr, server: std::net::SocketAddr) -> Vec<u8> {
    ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | Command::Proxy,
        ppp::v2::Protocol::Stream,
        (client, server),
    )
    .build()
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_address_comes_from_the_header_and_nothing_past_it_is_read() {
        let client: std::net::SocketAddr = "203.0.113.7:50123".parse().unwrap();
        let server: std::net::SocketAddr = "127.0.0.11:8443".parse().unwrap();
        let mut bytes = header_for(client, server);
        bytes.extend_from_slice(b"\x16\x03\x01 the TLS client hello");
        let mut stream = bytes.as_slice();
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            client_address(&mut stream, peer).await.unwrap(),
            client.ip()
        );
        assert_eq!(stream, b"\x16\x03\x01 the TLS client hello", "left for TLS");

        // A connection that starts with TLS itself is refused, and so is a damaged header.
        let mut direct: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 and so on";
        let e = client_address(&mut direct, peer).await.unwrap_err();
        assert!(e.to_string().contains("load balancer"), "{e}");
        let mut damaged = header_for(client, server);
        damaged[13] = 0x77;
        let e = client_address(&mut damaged.as_slice(), peer)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("malformed"), "{e}");
        let mut long = header_for(client, server);
        long[14] = 0xff;
        let e = client_address(&mut long.as_slice(), peer)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }
}
