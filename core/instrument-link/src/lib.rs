//! The spectrometer link: how readings get from an instrument to the measurement session.
//!
//! * [`InstrumentLink`] is the transport, and the project's own trait: btleplug's types cannot
//!   be faked (as buttplug found), so every transport sits behind this object-safe trait — the
//!   btleplug one, the [`sim::SimulatedSpectrometer`] in-process, [`tcp::TcpLink`] to the
//!   simulator program, and a phone host's own Bluetooth stack through the mobile bindings.
//!   A link moves frames only; it knows nothing of messages.
//! * [`driver::Instrument`] speaks the GATT profile (`ecsp-instrument`) over any link: request
//!   ids, reassembly, timeouts, reconnection with backoff, a visible [`LinkState`], and readings
//!   delivered exactly once across lost frames and dropped links (by the instrument's reading
//!   counter and `RESEND_LAST_READING`).
//! * [`sim`] is a simulated spectrometer with realistic timing and injectable faults; the
//!   `ecsp-spectro-sim` program serves it over TCP.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod driver;
pub mod sim;
pub mod tcp;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use thiserror::Error;
use tokio::sync::mpsc;

/// A boxed future, so that [`InstrumentLink`] stays object-safe.
pub type LinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LinkError>> + Send + 'a>>;

/// Why a link operation failed. Messages never hold personal data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("no spectrometer advertising the ECSP service was found")]
    NotFound,
    #[error("the link to the spectrometer is down")]
    Disconnected,
    #[error("the spectrometer did not answer in time")]
    Timeout,
    #[error("Bluetooth is not available: {0}")]
    Unavailable(String),
    #[error("link failure: {0}")]
    Other(String),
}

/// An open connection: the negotiated ATT MTU and the notifications of the *Notify*
/// characteristic, one frame per item. The stream ends when the link drops.
#[derive(Debug)]
pub struct Connection {
    pub att_mtu: u16,
    pub notifications: mpsc::Receiver<Vec<u8>>,
}

/// A transport to one spectrometer: find it, connect, subscribe, write frames.
pub trait InstrumentLink: Send + Sync + fmt::Debug {
    /// Scans for the service, connects, discovers the characteristics and subscribes to
    /// notifications. Replaces any previous connection.
    fn connect(&self) -> LinkFuture<'_, Connection>;
    /// Writes one frame to the control point (write without response).
    fn write(&self, frame: Vec<u8>) -> LinkFuture<'_, ()>;
    /// Closes the connection, if any.
    fn disconnect(&self) -> LinkFuture<'_, ()>;
}

/// What the user sees of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Disconnected,
    Connecting,
    Connected {
        att_mtu: u16,
    },
    /// Lost and trying again; `attempt` counts from 1.
    Reconnecting {
        attempt: u32,
    },
}
