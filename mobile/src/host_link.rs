//! The phone's own Bluetooth stack as the instrument link: the host implements
//! [`HostInstrumentLink`] (scan, connect, subscribe, write without response with
//! CoreBluetooth or Android's BluetoothGatt) and pushes every notification into the
//! [`NotificationSink`] it is given. The driver on top (reconnection, exactly-once readings)
//! is the same as for every other link.

use std::sync::{Arc, Mutex};

use ecsp_instrument_link::{Connection, InstrumentLink, LinkError, LinkFuture};
use tokio::sync::mpsc;

use crate::FieldError;

/// Frames the host received on the *Notify* characteristic, handed to the core.
#[derive(Debug, uniffi::Object)]
pub struct NotificationSink {
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
}

#[uniffi::export]
impl NotificationSink {
    /// One notification, as received. Returns false once the connection is closed or the
    /// core is not keeping up (the driver then recovers the reading by asking again).
    pub fn push(&self, frame: Vec<u8>) -> bool {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().is_some_and(|tx| tx.try_send(frame).is_ok())
    }

    /// The connection is lost (the host's disconnect callback).
    pub fn closed(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The instrument link the host implements. Methods may block until done: the core calls them
/// off its executor threads.
#[uniffi::export(with_foreign)]
pub trait HostInstrumentLink: Send + Sync {
    /// Scans for the service UUID, connects, discovers, subscribes to *Notify*; from now on
    /// pushes every notification into `sink`. Returns the negotiated ATT MTU.
    fn connect(&self, sink: Arc<NotificationSink>) -> Result<u16, FieldError>;
    /// Writes one frame to the control point, without response.
    fn write(&self, frame: Vec<u8>) -> Result<(), FieldError>;
    fn disconnect(&self) -> Result<(), FieldError>;
}

/// Adapts the host's link to the core's [`InstrumentLink`].
pub(crate) struct HostLink(pub(crate) Arc<dyn HostInstrumentLink>);

impl std::fmt::Debug for HostLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostLink")
    }
}

fn link_error(e: impl std::fmt::Display) -> LinkError {
    LinkError::Other(format!("the phone's Bluetooth link: {e}"))
}

impl InstrumentLink for HostLink {
    fn connect(&self) -> LinkFuture<'_, Connection> {
        let host = self.0.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::channel(1024);
            let sink = Arc::new(NotificationSink {
                tx: Mutex::new(Some(tx)),
            });
            let att_mtu = tokio::task::spawn_blocking(move || host.connect(sink))
                .await
                .map_err(link_error)?
                .map_err(link_error)?;
            if !(23..=517).contains(&att_mtu) {
                return Err(link_error(format!("ATT MTU {att_mtu} is outside 23..=517")));
            }
            Ok(Connection {
                att_mtu,
                notifications: rx,
            })
        })
    }

    fn write(&self, frame: Vec<u8>) -> LinkFuture<'_, ()> {
        let host = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || host.write(frame))
                .await
                .map_err(link_error)?
                .map_err(|_| LinkError::Disconnected)
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        let host = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || host.disconnect())
                .await
                .map_err(link_error)?
                .map_err(link_error)
        })
    }
}
