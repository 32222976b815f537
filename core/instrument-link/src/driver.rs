//! The host side of the GATT profile over any [`InstrumentLink`].
//!
//! Readings reach the caller exactly once even when frames are lost or the link drops in the
//! middle of a transfer: every reading carries the instrument's counter; after any failure the
//! driver reconnects (with backoff) and asks for the last reading again. A counter it has not
//! delivered yet is the reading it was waiting for; the counter it already delivered means the
//! instrument never took the reading, so it measures again.

use std::sync::Arc;
use std::time::Duration;

use ecsp_instrument::frame::{self, Reassembler};
use ecsp_instrument::message::{Calibration, DeviceInfo, ErrorCode, Reading, Request, Response};
use ecsp_protocol::colour_model::IlluminationCondition;
use thiserror::Error;
use tokio::sync::{Mutex, mpsc, watch};

use crate::{InstrumentLink, LinkError, LinkState};

/// How patient the driver is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverConfig {
    /// Longest wait for an answer (a reading takes about a second; calibration longer).
    pub response_timeout: Duration,
    pub connect_timeout: Duration,
    /// First reconnection delay; doubles up to `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Attempts per operation before giving up with the last error.
    pub max_attempts: u32,
    /// After a damaged or missing frame, how long to keep listening for the answer (the bad
    /// frame may have belonged to an earlier, abandoned answer).
    pub frame_error_grace: Duration,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            max_attempts: 8,
            frame_error_grace: Duration::from_millis(300),
        }
    }
}

/// Why an instrument operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InstrumentError {
    /// The instrument refused (not calibrated, stray light, low battery, dirty tile …).
    #[error("the spectrometer refused: {0:?}")]
    Refused(ErrorCode),
    /// The link could not be (re)established or kept long enough.
    #[error("{0}")]
    Link(#[from] LinkError),
    /// The instrument sent something the profile does not allow.
    #[error("the spectrometer sent an invalid message: {0}")]
    Protocol(String),
    #[error("the request was cancelled")]
    Cancelled,
}

/// What the driver recovered from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    pub reconnects: u64,
    pub frame_errors: u64,
    pub timeouts: u64,
    pub resend_requests: u64,
    /// Readings the instrument sent again that the driver had already delivered.
    pub duplicates_ignored: u64,
}

/// Why one attempt failed (internal: decides between retrying and giving up).
#[derive(Debug)]
enum Attempt {
    LinkLost,
    FrameLost,
    TimedOut,
    Protocol(String),
}

#[derive(Debug)]
struct Live {
    att_mtu: u16,
    notifications: mpsc::Receiver<Vec<u8>>,
    inbound: Reassembler,
    tx_seq: u8,
}

#[derive(Debug, Default)]
struct Inner {
    live: Option<Live>,
    next_id: u8,
    /// The newest reading counter delivered (or seen when connecting first): `None` = none.
    last_counter: Option<u32>,
    baseline_known: bool,
    stats: DriverStats,
}

/// A spectrometer reached through a link. Operations run one at a time.
#[derive(Debug)]
pub struct Instrument {
    link: Arc<dyn InstrumentLink>,
    config: DriverConfig,
    state: watch::Sender<LinkState>,
    inner: Mutex<Inner>,
}

impl Instrument {
    pub fn new(link: Arc<dyn InstrumentLink>, config: DriverConfig) -> Self {
        Self {
            link,
            config,
            state: watch::channel(LinkState::Disconnected).0,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The link state, for the user interface.
    pub fn link_state(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    pub async fn stats(&self) -> DriverStats {
        self.inner.lock().await.stats
    }

    /// Connects now (operations also connect on demand).
    pub async fn connect(&self) -> Result<(), InstrumentError> {
        let mut inner = self.inner.lock().await;
        let mut last_error = InstrumentError::Link(LinkError::Disconnected);
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            match self.ensure_connected(&mut inner).await {
                Ok(()) => return Ok(()),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    pub async fn disconnect(&self) {
        let mut inner = self.inner.lock().await;
        inner.live = None;
        let _ = self.link.disconnect().await;
        self.state.send_replace(LinkState::Disconnected);
    }

    pub async fn info(&self) -> Result<DeviceInfo, InstrumentError> {
        let mut inner = self.inner.lock().await;
        let response = self
            .simple(&mut inner, |id| Request::GetInfo { id })
            .await?;
        match response {
            Response::Info { info, .. } => Ok(info),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn calibrate_white(&self) -> Result<Calibration, InstrumentError> {
        let mut inner = self.inner.lock().await;
        let response = self
            .simple(&mut inner, |id| Request::CalibrateWhite { id })
            .await?;
        match response {
            Response::Calibrated { calibration, .. } => Ok(calibration),
            other => Err(unexpected(&other)),
        }
    }

    /// Takes one reading and returns it exactly once, whatever happens to the link meanwhile.
    pub async fn measure(
        &self,
        condition: IlluminationCondition,
    ) -> Result<Reading, InstrumentError> {
        let mut inner = self.inner.lock().await;
        let inner = &mut *inner;
        let mut may_have_measured = false;
        let mut last_error = InstrumentError::Link(LinkError::Disconnected);
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            if let Err(e) = self.ensure_connected(inner).await {
                last_error = e;
                continue;
            }
            if !inner.baseline_known || may_have_measured {
                match self.resend_last(inner).await {
                    Ok(found) => {
                        let baseline = !inner.baseline_known;
                        inner.baseline_known = true;
                        match found {
                            Some(r) if baseline => inner.last_counter = Some(r.counter),
                            Some(r) if Some(r.counter) > inner.last_counter => {
                                inner.last_counter = Some(r.counter);
                                return Ok(r);
                            }
                            Some(_) => inner.stats.duplicates_ignored += 1,
                            None => {}
                        }
                    }
                    Err(Ok(code)) => return Err(InstrumentError::Refused(code)),
                    Err(Err(e)) => {
                        last_error = self.note(inner, e);
                        continue;
                    }
                }
            }
            may_have_measured = true;
            let id = next_id(inner);
            match self
                .exchange(inner, Request::Measure { id, condition })
                .await
            {
                Ok(Response::Reading { reading, .. }) => {
                    if Some(reading.counter) > inner.last_counter {
                        inner.last_counter = Some(reading.counter);
                        return Ok(reading);
                    }
                    inner.stats.duplicates_ignored += 1;
                }
                Ok(Response::Error {
                    code: ErrorCode::Busy,
                    ..
                }) => last_error = InstrumentError::Refused(ErrorCode::Busy),
                Ok(Response::Error { code, .. }) => return Err(InstrumentError::Refused(code)),
                Ok(Response::Cancelled { .. }) => return Err(InstrumentError::Cancelled),
                Ok(other) => return Err(unexpected(&other)),
                Err(e) => last_error = self.note(inner, e),
            }
        }
        Err(last_error)
    }

    /// The instrument's last reading (after an app restart: the one it may have taken while the
    /// app was gone). Later calls to [`Instrument::measure`] deliver only newer readings.
    pub async fn last_reading(&self) -> Result<Option<Reading>, InstrumentError> {
        let mut inner = self.inner.lock().await;
        let inner = &mut *inner;
        let mut last_error = InstrumentError::Link(LinkError::Disconnected);
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            if let Err(e) = self.ensure_connected(inner).await {
                last_error = e;
                continue;
            }
            match self.resend_last(inner).await {
                Ok(found) => {
                    inner.baseline_known = true;
                    if let Some(r) = &found
                        && Some(r.counter) > inner.last_counter
                    {
                        inner.last_counter = Some(r.counter);
                    }
                    return Ok(found);
                }
                Err(Ok(code)) => return Err(InstrumentError::Refused(code)),
                Err(Err(e)) => last_error = self.note(inner, e),
            }
        }
        Err(last_error)
    }

    /// The last reading again: `Ok(None)` if the instrument has none; `Err(Ok(code))` if it
    /// refused.
    async fn resend_last(
        &self,
        inner: &mut Inner,
    ) -> Result<Option<Reading>, Result<ErrorCode, Attempt>> {
        inner.stats.resend_requests += 1;
        let id = next_id(inner);
        match self
            .exchange(inner, Request::ResendLastReading { id })
            .await
        {
            Ok(Response::Reading { reading, .. }) => Ok(Some(reading)),
            Ok(Response::Error {
                code: ErrorCode::NoReading,
                ..
            }) => Ok(None),
            Ok(Response::Error { code, .. }) => Err(Ok(code)),
            Ok(other) => Err(Err(Attempt::Protocol(format!(
                "answered a resend request with {other:?}"
            )))),
            Err(e) => Err(Err(e)),
        }
    }

    /// A request whose answer can simply be asked for again (info, calibration).
    async fn simple(
        &self,
        inner: &mut Inner,
        make: impl Fn(u8) -> Request,
    ) -> Result<Response, InstrumentError> {
        let mut last_error = InstrumentError::Link(LinkError::Disconnected);
        for attempt in 0..self.config.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            if let Err(e) = self.ensure_connected(inner).await {
                last_error = e;
                continue;
            }
            let id = next_id(inner);
            match self.exchange(inner, make(id)).await {
                Ok(Response::Error {
                    code: ErrorCode::Busy,
                    ..
                }) => last_error = InstrumentError::Refused(ErrorCode::Busy),
                Ok(Response::Error { code, .. }) => return Err(InstrumentError::Refused(code)),
                Ok(Response::Cancelled { .. }) => return Err(InstrumentError::Cancelled),
                Ok(r) => return Ok(r),
                Err(e) => last_error = self.note(inner, e),
            }
        }
        Err(last_error)
    }

    fn note(&self, inner: &mut Inner, e: Attempt) -> InstrumentError {
        match e {
            Attempt::LinkLost => {
                inner.live = None;
                self.state
                    .send_replace(LinkState::Reconnecting { attempt: 1 });
                InstrumentError::Link(LinkError::Disconnected)
            }
            Attempt::FrameLost => {
                inner.stats.frame_errors += 1;
                InstrumentError::Protocol("a notification frame was lost or damaged".into())
            }
            Attempt::TimedOut => {
                inner.stats.timeouts += 1;
                InstrumentError::Link(LinkError::Timeout)
            }
            Attempt::Protocol(m) => InstrumentError::Protocol(m),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1 << attempt.min(16).saturating_sub(1));
        let capped = exp.min(self.config.backoff_max);
        // Full jitter in the upper half keeps retries from lining up.
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }

    async fn ensure_connected(&self, inner: &mut Inner) -> Result<(), InstrumentError> {
        if inner
            .live
            .as_ref()
            .is_some_and(|l| !l.notifications.is_closed())
        {
            return Ok(());
        }
        let reconnecting = inner.live.take().is_some() || inner.baseline_known;
        self.state.send_replace(if reconnecting {
            LinkState::Reconnecting { attempt: 1 }
        } else {
            LinkState::Connecting
        });
        let connection = tokio::time::timeout(self.config.connect_timeout, self.link.connect())
            .await
            .map_err(|_| LinkError::Timeout)
            .and_then(|r| r);
        match connection {
            Ok(c) => {
                if reconnecting {
                    inner.stats.reconnects += 1;
                }
                self.state
                    .send_replace(LinkState::Connected { att_mtu: c.att_mtu });
                inner.live = Some(Live {
                    att_mtu: c.att_mtu,
                    notifications: c.notifications,
                    inbound: Reassembler::new(),
                    tx_seq: 0,
                });
                Ok(())
            }
            Err(e) => {
                self.state.send_replace(LinkState::Disconnected);
                Err(InstrumentError::Link(e))
            }
        }
    }

    /// Sends one request and waits for the answer with its id.
    async fn exchange(&self, inner: &mut Inner, request: Request) -> Result<Response, Attempt> {
        let live = inner.live.as_mut().ok_or(Attempt::LinkLost)?;
        // Answers to earlier requests that arrived late are stale now.
        while let Ok(stale) = live.notifications.try_recv() {
            let _ = live.inbound.push(&stale);
        }
        let frames = frame::encode(&request.encode(), live.att_mtu, &mut live.tx_seq)
            .map_err(|e| Attempt::Protocol(e.to_string()))?;
        for f in frames {
            self.link.write(f).await.map_err(|_| Attempt::LinkLost)?;
        }
        let mut deadline = tokio::time::Instant::now() + self.config.response_timeout;
        let mut frame_error = false;
        loop {
            let next = tokio::time::timeout_at(deadline, live.notifications.recv()).await;
            let frame = match next {
                Err(_) if frame_error => return Err(Attempt::FrameLost),
                Err(_) => return Err(Attempt::TimedOut),
                Ok(None) => return Err(Attempt::LinkLost),
                Ok(Some(f)) => f,
            };
            let message = match live.inbound.push(&frame) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(_) => {
                    if !frame_error {
                        frame_error = true;
                        deadline = deadline
                            .min(tokio::time::Instant::now() + self.config.frame_error_grace);
                    }
                    continue;
                }
            };
            match Response::decode(&message) {
                Ok(r) if r.id() == request.id() => return Ok(r),
                Ok(_) => continue,
                Err(e) => return Err(Attempt::Protocol(e.to_string())),
            }
        }
    }
}

fn next_id(inner: &mut Inner) -> u8 {
    inner.next_id = inner.next_id.wrapping_add(1);
    inner.next_id
}

fn unexpected(r: &Response) -> InstrumentError {
    InstrumentError::Protocol(format!("unexpected answer {r:?}"))
}
