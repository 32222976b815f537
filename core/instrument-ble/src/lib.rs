//! The spectrometer over Bluetooth LE, on btleplug: an [`InstrumentLink`] that scans for the
//! profile's service UUID, connects, discovers the control point and the notify
//! characteristic, subscribes, and writes frames without response.
//!
//! Reconnection with backoff, the visible link state and exactly-once readings are the
//! driver's (`ecsp_instrument_link::driver::Instrument`), as for every link: this crate only
//! moves frames, and ends a connection's notification stream when BlueZ reports the device
//! disconnected, which is what makes the driver reconnect.
//!
//! Its own crate because btleplug links D-Bus (Linux), CoreBluetooth or WinRT: the server and
//! the codecs never link it. On Linux btleplug talks to BlueZ over the D-Bus system bus, so
//! the tests run it against a BlueZ double on a private bus (`tests/bluez_double.py`).

use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, Characteristic, Manager as _, Peripheral as _, ScanFilter, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use ecsp_instrument::uuids;
use ecsp_instrument_link::{Connection, InstrumentLink, LinkError, LinkFuture};
use futures_util::StreamExt;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How the link looks for the instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct BleConfig {
    /// Longest scan before [`LinkError::NotFound`].
    pub scan_timeout: Duration,
    /// How often the scan results are looked at.
    pub scan_poll: Duration,
    /// Longest wait for connecting and service discovery.
    pub connect_timeout: Duration,
    /// Only this device (btleplug's peripheral id, a BlueZ object path on Linux), else the first
    /// one advertising the service.
    pub device: Option<String>,
}

impl Default for BleConfig {
    fn default() -> Self {
        Self {
            scan_timeout: Duration::from_secs(10),
            scan_poll: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(15),
            device: None,
        }
    }
}

#[derive(Debug)]
struct Live {
    peripheral: Peripheral,
    control: Characteristic,
    forward: JoinHandle<()>,
}

/// A spectrometer reached over Bluetooth LE.
#[derive(Debug)]
pub struct BleLink {
    config: BleConfig,
    adapter: Mutex<Option<Adapter>>,
    live: Mutex<Option<Live>>,
}

fn uuid(s: &str) -> Uuid {
    // The profile's constants are valid UUIDs (ecsp-instrument tests them).
    Uuid::parse_str(s).unwrap_or_default()
}

fn other(what: &str, e: impl std::fmt::Display) -> LinkError {
    LinkError::Other(format!("{what}: {e}"))
}

impl BleLink {
    pub fn new(config: BleConfig) -> Self {
        Self {
            config,
            adapter: Mutex::new(None),
            live: Mutex::new(None),
        }
    }

    /// The first Bluetooth adapter (the session to BlueZ is opened once).
    async fn adapter(&self) -> Result<Adapter, LinkError> {
        let mut guard = self.adapter.lock().await;
        if let Some(a) = guard.as_ref() {
            return Ok(a.clone());
        }
        let manager = Manager::new()
            .await
            .map_err(|e| LinkError::Unavailable(e.to_string()))?;
        let adapter = manager
            .adapters()
            .await
            .map_err(|e| LinkError::Unavailable(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| LinkError::Unavailable("no Bluetooth adapter".into()))?;
        *guard = Some(adapter.clone());
        Ok(adapter)
    }

    /// Scans by service UUID until a matching device shows up.
    async fn find(&self, adapter: &Adapter) -> Result<Peripheral, LinkError> {
        let service = uuid(uuids::SERVICE);
        adapter
            .start_scan(ScanFilter {
                services: vec![service],
            })
            .await
            .map_err(|e| other("cannot scan", e))?;
        let found = tokio::time::timeout(self.config.scan_timeout, async {
            loop {
                for p in adapter.peripherals().await.unwrap_or_default() {
                    if let Some(want) = &self.config.device
                        && &p.id().to_string() != want
                    {
                        continue;
                    }
                    if let Ok(Some(props)) = p.properties().await
                        && props.services.contains(&service)
                    {
                        return p;
                    }
                }
                tokio::time::sleep(self.config.scan_poll).await;
            }
        })
        .await;
        let _ = adapter.stop_scan().await;
        found.map_err(|_| LinkError::NotFound)
    }

    async fn open(&self) -> Result<Connection, LinkError> {
        let adapter = self.adapter().await?;
        let peripheral = self.find(&adapter).await?;
        let timeout = self.config.connect_timeout;
        let step = async {
            if !peripheral.is_connected().await.unwrap_or(false) {
                peripheral
                    .connect()
                    .await
                    .map_err(|e| other("cannot connect", e))?;
            }
            peripheral
                .discover_services()
                .await
                .map_err(|e| other("service discovery failed", e))
        };
        tokio::time::timeout(timeout, step)
            .await
            .map_err(|_| LinkError::Timeout)??;
        let chars = peripheral.characteristics();
        let find = |id: &str| {
            chars
                .iter()
                .find(|c| c.uuid == uuid(id))
                .cloned()
                .ok_or_else(|| {
                    LinkError::Other(format!("the device lacks the characteristic {id}"))
                })
        };
        let (control, notify) = (find(uuids::CONTROL_POINT)?, find(uuids::NOTIFY)?);
        // Listen before subscribing, so the first notification cannot be missed.
        let mut values = peripheral
            .notifications()
            .await
            .map_err(|e| other("no notification stream", e))?;
        let mut events = adapter
            .events()
            .await
            .map_err(|e| other("no adapter events", e))?;
        peripheral
            .subscribe(&notify)
            .await
            .map_err(|e| other("cannot subscribe", e))?;
        let att_mtu = peripheral.mtu();
        let (tx, rx) = mpsc::channel(1024);
        let id = peripheral.id();
        let notify_uuid = notify.uuid;
        let forward = tokio::spawn(async move {
            loop {
                tokio::select! {
                    value = values.next() => match value {
                        Some(v) if v.uuid == notify_uuid => {
                            if tx.send(v.value).await.is_err() {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => break,
                    },
                    event = events.next() => match event {
                        Some(CentralEvent::DeviceDisconnected(gone)) if gone == id => {
                            tracing::info!("the spectrometer disconnected");
                            break;
                        }
                        Some(_) => {}
                        None => break,
                    },
                }
            }
        });
        *self.live.lock().await = Some(Live {
            peripheral,
            control,
            forward,
        });
        Ok(Connection {
            att_mtu,
            notifications: rx,
        })
    }

    async fn close(&self) {
        if let Some(live) = self.live.lock().await.take() {
            live.forward.abort();
            let _ = live.peripheral.disconnect().await;
        }
    }
}

impl InstrumentLink for BleLink {
    fn connect(&self) -> LinkFuture<'_, Connection> {
        Box::pin(async move {
            self.close().await;
            self.open().await
        })
    }

    fn write(&self, frame: Vec<u8>) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            let guard = self.live.lock().await;
            let live = guard.as_ref().ok_or(LinkError::Disconnected)?;
            live.peripheral
                .write(&live.control, &frame, WriteType::WithoutResponse)
                .await
                .map_err(|e| {
                    tracing::debug!("write failed: {e}");
                    LinkError::Disconnected
                })
        })
    }

    fn disconnect(&self) -> LinkFuture<'_, ()> {
        Box::pin(async move {
            self.close().await;
            Ok(())
        })
    }
}
