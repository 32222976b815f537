//! SNMP transport for the DC agent: one session per printer (v2c or v3 USM), with a timeout and
//! retries per request, GETBULK walks that stop at the end of a subtree, and errors that say what
//! went wrong in words an administrator can act on.
//!
//! snmp2 0.5 was chosen over async-snmp 0.18: it is the older, smaller crate (a maintained fork of
//! `snmp`), its v3 code is tested against net-snmp, and its `crypto-rust` feature gives SHA-2
//! authentication and AES privacy without OpenSSL. It has no timeouts or retries of its own, so
//! they live here; after a timeout the session is rebuilt on a fresh socket so that a late answer
//! to the abandoned request can never be taken for the answer to the next one.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ecsp_client::Secret;
use serde::{Deserialize, Serialize};
use snmp2::{AsyncSession, Oid, Value, v3};

/// An object identifier as plain arcs (`[1, 3, 6, 1, …]`).
pub type Arcs = Vec<u64>;

/// A value read from a printer, owned and reduced to what the MIBs here use.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpValue {
    Integer(i64),
    /// Counter32, Gauge32/Unsigned32, TimeTicks and Counter64.
    Unsigned(u64),
    Bytes(Vec<u8>),
    ObjectId(Arcs),
    /// Null, IpAddress and anything else the MIBs here never hold.
    Other,
}

impl SnmpValue {
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            SnmpValue::Integer(i) => Some(i),
            SnmpValue::Unsigned(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// Text, with trailing NULs and surrounding blanks removed (printers pad fixed-size fields).
    pub fn as_text(&self) -> Option<String> {
        match self {
            SnmpValue::Bytes(b) => {
                let s = String::from_utf8_lossy(b);
                let s = s.trim_matches(|c: char| c == '\0' || c.is_whitespace());
                Some(s.to_owned())
            }
            _ => None,
        }
    }
}

/// SNMPv3 authentication protocols offered (SHA-2 only: MD5 and SHA-1 are broken for this use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum AuthProtocol {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// SNMPv3 privacy protocols offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum PrivProtocol {
    Aes128,
    Aes192,
    Aes256,
}

/// How to talk to one printer; the secrets themselves come from the secret store.
pub enum SnmpCredentials {
    V2c {
        community: Secret,
    },
    /// USM authPriv: always authenticated and encrypted.
    V3 {
        user: String,
        auth: AuthProtocol,
        auth_password: Secret,
        privacy: PrivProtocol,
        priv_password: Secret,
        context: Option<String>,
    },
}

impl fmt::Debug for SnmpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnmpCredentials::V2c { .. } => f.write_str("V2c { community: <redacted> }"),
            SnmpCredentials::V3 {
                user,
                auth,
                privacy,
                context,
                ..
            } => f
                .debug_struct("V3")
                .field("user", user)
                .field("auth", auth)
                .field("privacy", privacy)
                .field("context", context)
                .finish_non_exhaustive(),
        }
    }
}

/// Timing of requests to one printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnmpTiming {
    /// How long to wait for each answer.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Further attempts after a request went unanswered.
    pub retries: u32,
}

impl Default for SnmpTiming {
    fn default() -> Self {
        SnmpTiming {
            timeout: Duration::from_secs(2),
            retries: 1,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnmpError {
    #[error(
        "{address}: no SNMP answer after {attempts} attempt(s) of {timeout_ms} ms each (printer off or unreachable, UDP 161 filtered, or a community the printer does not accept)"
    )]
    NoAnswer {
        address: SocketAddr,
        attempts: u32,
        timeout_ms: u64,
    },
    #[error("{address}: the host refused SNMP (ICMP port unreachable: no SNMP agent is running)")]
    Refused { address: SocketAddr },
    #[error(
        "{address}: SNMPv3 authentication failed ({detail}); check the user, protocols and passwords"
    )]
    Authentication { address: SocketAddr, detail: String },
    #[error("{address}: the printer answered with SNMP error status {status} for {oid}")]
    ErrorStatus {
        address: SocketAddr,
        status: u32,
        oid: String,
    },
    #[error("{address}: malformed SNMP answer ({detail})")]
    Protocol { address: SocketAddr, detail: String },
    #[error("{address}: cannot open a UDP socket ({detail})")]
    Socket { address: SocketAddr, detail: String },
}

/// Most rows one walk may return: a guard against an agent that never ends a table.
const MAX_WALK_ROWS: usize = 5000;
const BULK_REPETITIONS: u32 = 16;

/// A session with one printer.
pub struct SnmpSession {
    address: SocketAddr,
    credentials: SnmpCredentials,
    timing: SnmpTiming,
    session: Option<AsyncSession>,
    next_request_id: i32,
}

impl fmt::Debug for SnmpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnmpSession")
            .field("address", &self.address)
            .field("credentials", &self.credentials)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

fn oid_of(arcs: &[u64]) -> Oid<'static> {
    // Every OID used here is a constant of at least two arcs, which always encodes.
    Oid::from(arcs).unwrap_or_else(|_| Oid::from(&[1, 3]).unwrap_or_else(|_| unreachable!()))
}

fn arcs_of(oid: &Oid<'_>) -> Option<Arcs> {
    oid.iter().map(|it| it.collect())
}

fn own(value: &Value<'_>) -> SnmpValue {
    match value {
        Value::Integer(i) => SnmpValue::Integer(*i),
        Value::Counter32(u) | Value::Unsigned32(u) | Value::Timeticks(u) => {
            SnmpValue::Unsigned(u64::from(*u))
        }
        Value::Counter64(u) => SnmpValue::Unsigned(*u),
        Value::OctetString(b) | Value::Opaque(b) => SnmpValue::Bytes(b.to_vec()),
        Value::ObjectIdentifier(o) => arcs_of(o).map_or(SnmpValue::Other, SnmpValue::ObjectId),
        _ => SnmpValue::Other,
    }
}

/// Whether a varbind says "nothing here" (v2c exceptions) rather than carrying a value.
fn is_exception(value: &Value<'_>) -> bool {
    matches!(
        value,
        Value::EndOfMibView | Value::NoSuchObject | Value::NoSuchInstance
    )
}

enum Request<'a> {
    Get(&'a [Arcs]),
    Bulk(&'a [u64]),
}

impl SnmpSession {
    pub fn new(address: SocketAddr, credentials: SnmpCredentials, timing: SnmpTiming) -> Self {
        SnmpSession {
            address,
            credentials,
            timing,
            session: None,
            next_request_id: fastrand::i32(1..i32::MAX / 2),
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    async fn open(&mut self) -> Result<AsyncSession, SnmpError> {
        let address = self.address;
        let socket_err = |e: std::io::Error| SnmpError::Socket {
            address,
            detail: e.to_string(),
        };
        self.next_request_id = self.next_request_id.wrapping_add(1000);
        match &self.credentials {
            SnmpCredentials::V2c { community } => {
                AsyncSession::new_v2c(address, community.expose().as_bytes(), self.next_request_id)
                    .await
                    .map_err(socket_err)
            }
            SnmpCredentials::V3 {
                user,
                auth,
                auth_password,
                privacy,
                priv_password,
                context,
            } => {
                let auth_protocol = match auth {
                    AuthProtocol::Sha224 => v3::AuthProtocol::Sha224,
                    AuthProtocol::Sha256 => v3::AuthProtocol::Sha256,
                    AuthProtocol::Sha384 => v3::AuthProtocol::Sha384,
                    AuthProtocol::Sha512 => v3::AuthProtocol::Sha512,
                };
                let cipher = match privacy {
                    PrivProtocol::Aes128 => v3::Cipher::Aes128,
                    PrivProtocol::Aes192 => v3::Cipher::Aes192,
                    PrivProtocol::Aes256 => v3::Cipher::Aes256,
                };
                let mut security =
                    v3::Security::new(user.as_bytes(), auth_password.expose().as_bytes())
                        .with_auth_protocol(auth_protocol)
                        .with_auth(v3::Auth::AuthPriv {
                            cipher,
                            privacy_password: priv_password.expose().as_bytes().to_vec(),
                        });
                if let Some(c) = context {
                    security = security.with_context_name(c);
                }
                let mut session = AsyncSession::new_v3(address, self.next_request_id, security)
                    .await
                    .map_err(socket_err)?;
                // Engine discovery: one round trip, under the same timeout and retries.
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match tokio::time::timeout(self.timing.timeout, session.init()).await {
                        Ok(Ok(())) => return Ok(session),
                        Ok(Err(e)) => return Err(self.classify(e)),
                        Err(_) if attempts <= self.timing.retries => continue,
                        Err(_) => return Err(self.no_answer()),
                    }
                }
            }
        }
    }

    fn no_answer(&self) -> SnmpError {
        SnmpError::NoAnswer {
            address: self.address,
            attempts: self.timing.retries + 1,
            timeout_ms: u64::try_from(self.timing.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    fn classify(&self, e: snmp2::Error) -> SnmpError {
        let address = self.address;
        match e {
            // On a connected UDP socket an ICMP "port unreachable" surfaces as a failed receive
            // (or send, on the next request).
            snmp2::Error::Send | snmp2::Error::Receive => SnmpError::Refused { address },
            snmp2::Error::AuthFailure(kind) => SnmpError::Authentication {
                address,
                detail: format!("{kind:?}"),
            },
            snmp2::Error::Crypto(_) => SnmpError::Authentication {
                address,
                detail: "the answer could not be decrypted".into(),
            },
            other => SnmpError::Protocol {
                address,
                detail: format!("{other:?}"),
            },
        }
    }

    /// One request with timeout and retries; the answer's varbinds, owned.
    async fn exchange(&mut self, request: Request<'_>) -> Result<Vec<(Arcs, Value2)>, SnmpError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut session = match self.session.take() {
                Some(s) => s,
                None => self.open().await?,
            };
            let timeout = self.timing.timeout;
            let answer = {
                let fut = async {
                    // v3: the first answer may only update the engine's clock; ask again once.
                    let mut repeat = 0;
                    loop {
                        let result = match &request {
                            Request::Get(oids) => {
                                let owned: Vec<Oid<'static>> =
                                    oids.iter().map(|a| oid_of(a)).collect();
                                let refs: Vec<&Oid<'_>> = owned.iter().collect();
                                session.get_many(&refs).await.map(collect)
                            }
                            Request::Bulk(start) => {
                                let oid = oid_of(start);
                                session
                                    .getbulk(&[&oid], 0, BULK_REPETITIONS)
                                    .await
                                    .map(collect)
                            }
                        };
                        match result {
                            Err(snmp2::Error::AuthUpdated) if repeat == 0 => repeat += 1,
                            other => break other,
                        }
                    }
                };
                tokio::time::timeout(timeout, fut).await
            };
            match answer {
                Ok(Ok((status, index, binds))) => {
                    self.session = Some(session);
                    if status != 0 {
                        let oid = binds
                            .get(index.saturating_sub(1) as usize)
                            .map(|(a, _)| dotted(a))
                            .unwrap_or_default();
                        return Err(SnmpError::ErrorStatus {
                            address: self.address,
                            status,
                            oid,
                        });
                    }
                    return Ok(binds);
                }
                Ok(Err(e)) => return Err(self.classify(e)),
                // The abandoned session is dropped with its socket; the next attempt opens anew.
                Err(_) if attempts <= self.timing.retries => continue,
                Err(_) => return Err(self.no_answer()),
            }
        }
    }

    /// GET of several scalars; absent ones (noSuchObject/noSuchInstance) are `None`.
    pub async fn get(&mut self, oids: &[Arcs]) -> Result<Vec<Option<SnmpValue>>, SnmpError> {
        let binds = self.exchange(Request::Get(oids)).await?;
        Ok(oids
            .iter()
            .map(|want| {
                binds
                    .iter()
                    .find(|(a, _)| a == want)
                    .and_then(|(_, v)| match v {
                        Value2::Value(v) => Some(v.clone()),
                        Value2::Exception => None,
                    })
            })
            .collect())
    }

    /// Every object under `root`, in order, up to the end of the subtree or of the agent's view.
    /// `complete` is false only when the walk stopped at its row limit.
    pub async fn walk(&mut self, root: &[u64]) -> Result<Walk, SnmpError> {
        let mut rows = Vec::new();
        let mut cursor: Arcs = root.to_vec();
        loop {
            let binds = self.exchange(Request::Bulk(&cursor)).await?;
            if binds.is_empty() {
                return Ok(Walk {
                    rows,
                    complete: false,
                });
            }
            for (arcs, value) in binds {
                if !arcs.starts_with(root) {
                    return Ok(Walk {
                        rows,
                        complete: true,
                    });
                }
                let Value2::Value(value) = value else {
                    // endOfMibView: the agent's view ends here. Whether a table was cut short
                    // shows in its rows (missing columns), which the MIB layer checks.
                    return Ok(Walk {
                        rows,
                        complete: true,
                    });
                };
                // An agent that answers with an OID not after the one asked loops forever.
                if arcs <= cursor {
                    return Err(SnmpError::Protocol {
                        address: self.address,
                        detail: format!("walk went backwards at {}", dotted(&arcs)),
                    });
                }
                cursor = arcs.clone();
                rows.push((arcs, value));
                if rows.len() >= MAX_WALK_ROWS {
                    return Ok(Walk {
                        rows,
                        complete: false,
                    });
                }
            }
        }
    }
}

/// The outcome of walking one subtree.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Walk {
    pub rows: Vec<(Arcs, SnmpValue)>,
    pub complete: bool,
}

/// A varbind value, or an exception (noSuchObject, noSuchInstance, endOfMibView).
#[derive(Debug, Clone)]
enum Value2 {
    Value(SnmpValue),
    Exception,
}

fn collect(pdu: snmp2::Pdu<'_>) -> (u32, u32, Vec<(Arcs, Value2)>) {
    let binds = pdu
        .varbinds
        .filter_map(|(oid, v)| {
            let arcs = arcs_of(&oid)?;
            let value = if is_exception(&v) {
                Value2::Exception
            } else {
                Value2::Value(own(&v))
            };
            Some((arcs, value))
        })
        .collect();
    (pdu.error_status, pdu.error_index, binds)
}

pub fn dotted(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}
