//! A TCP stand-in for the radio, so the simulator can run as its own program
//! (`ecsp-spectro-sim`) and a host can reach it like a remote instrument.
//!
//! On connecting, the server sends the ATT MTU (u16 LE); then every frame in either direction
//! is a u16 LE length and the frame's bytes. A frame longer than `MTU − 3` is refused.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

use crate::sim::SimulatedSpectrometer;
use crate::{Connection, InstrumentLink, LinkError, LinkFuture};

/// Reads one length-prefixed frame; `None` at a clean end of stream.
pub async fn read_frame(
    r: &mut (impl AsyncReadExt + Unpin),
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(u16::from_le_bytes(len));
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {max}"),
        ));
    }
    let mut frame = vec![0; len];
    r.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

/// Writes one length-prefixed frame.
pub async fn write_frame(
    w: &mut (impl AsyncWriteExt + Unpin),
    frame: &[u8],
) -> std::io::Result<()> {
    let len = u16::try_from(frame.len())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too long"))?;
    w.write_all(&len.to_le_bytes()).await?;
    w.write_all(frame).await
}

/// A link to the simulator program over TCP.
#[derive(Debug)]
pub struct TcpLink {
    addr: SocketAddr,
    writer: Mutex<Option<OwnedWriteHalf>>,
}

impl TcpLink {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            writer: Mutex::new(None),
        }
    }
}

impl InstrumentLink for TcpLink {
    fn connect(&self) -> LinkFuture<'_, Connection> {
        Box::pin(async move {
            // Close the old connection first: the simulator serves one host at a time.
            if let Some(mut old) = self.writer.lock().await.take() {
                let _ = old.shutdown().await;
            }
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|_| LinkError::NotFound)?;
            stream.set_nodelay(true).ok();
            let (mut reader, writer) = stream.into_split();
            let mut mtu = [0u8; 2];
            reader
                .read_exact(&mut mtu)
                .await
                .map_err(|e| LinkError::Other(format!("no MTU from the simulator: {e}")))?;
            let att_mtu = u16::from_le_bytes(mtu);
            let (tx, rx) = mpsc::channel(1024);
            let max = usize::from(att_mtu).saturating_sub(3);
            tokio::spawn(async move {
                while let Ok(Some(frame)) = read_frame(&mut reader, max).await {
                    if tx.send(frame).await.is_err() {
                        break;
                    }
                }
            });
            *self.writer.lock().await = Some(writer);
            Ok(Connection {
                att_mtu,
                notifications: rx,
            })
        })
    }

    fn write(&self, frame: Vec<u8>) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let mut guard = self.writer.lock().await;
            let w = guard.as_mut().ok_or(LinkError::Disconnected)?;
            if write_frame(w, &frame).await.is_err() {
                *guard = None;
                return Err(LinkError::Disconnected);
            }
            Ok(())
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mut w) = self.writer.lock().await.take() {
                let _ = w.shutdown().await;
            }
            Ok(())
        })
    }
}

/// Serves `sim` to one host at a time on `listener`, forever (the `ecsp-spectro-sim` program,
/// and tests that need the simulator behind a socket).
pub async fn serve(listener: TcpListener, sim: SimulatedSpectrometer) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tracing::info!(%peer, "host connected");
        serve_connection(&sim, stream).await;
        tracing::info!("host disconnected");
    }
}

/// One host's connection: notifications to the host until the simulated link drops,
/// control-point frames to the instrument until the host goes away; whichever ends first ends
/// the connection.
pub async fn serve_connection(sim: &SimulatedSpectrometer, stream: TcpStream) {
    stream.set_nodelay(true).ok();
    let Ok(mut connection) = sim.connect().await else {
        tracing::info!("connection refused (injected fault)");
        return;
    };
    let (mut reader, mut writer) = stream.into_split();
    let mtu = connection.att_mtu;
    if writer.write_all(&mtu.to_le_bytes()).await.is_err() {
        return;
    }
    let mut sender = tokio::spawn(async move {
        while let Some(frame) = connection.notifications.recv().await {
            if write_frame(&mut writer, &frame).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let instrument = sim.clone();
    let max = usize::from(mtu).saturating_sub(3);
    let mut receiver = tokio::spawn(async move {
        while let Ok(Some(f)) = read_frame(&mut reader, max).await {
            if instrument.write(f).await.is_err() {
                break;
            }
        }
    });
    tokio::select! {
        _ = &mut sender => {}
        _ = &mut receiver => {}
    }
    sender.abort();
    receiver.abort();
    let _ = sim.disconnect().await;
}
