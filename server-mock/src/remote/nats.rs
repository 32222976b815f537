//! The clustered broker: agents connect to the MQTT side of NATS broker nodes (through HAProxy,
//! ALPN `mqtt` on the service's one port), and the server signs who may do what there. Each
//! node is a routing process clustered with the others and an MQTT process with a JetStream of
//! its own, a leaf node of the routing processes (`cluster::BrokerNode` says why).
//!
//! NATS runs in operator mode (decentralised JWT auth): the server holds four nkeys, made once
//! by `ecsp-server nats-init` and given to every node as files (like the data key):
//!
//! - the **operator**, which the broker nodes trust and which signs the account JWTs;
//! - the **system account** and a **system user** in it, through which the server pushes a
//!   re-signed service account to each broker node's `full` resolver
//!   (`$SYS.REQ.CLAIMS.UPDATE`);
//! - the **service account**, in which agents and the server meet; it signs user JWTs.
//!
//! An agent asks for its broker credential over HTTPS (`POST /api/v1/agent/broker-credential`
//! with its secret) and sends it as the MQTT password: a user JWT marked `bearer_token` (MQTT
//! cannot sign the broker's nonce), MQTT connections only, allowed to subscribe to its own
//! command topic and to publish its own acks, results and capabilities — nothing to write and
//! reload on the brokers per agent. Its subject key is derived from the account seed and the
//! agent id, so one revocation entry covers every JWT the agent was given: disabling, deleting
//! or re-keying an agent stamps `agents.broker_revoked_at`, and the account JWT carries each
//! stamp of the last [`CREDENTIAL_LIFETIME`] (older ones name JWTs that expired anyway). The
//! brokers close a revoked user's connection when the account update reaches them, and refuse
//! it at connect from then on.
//!
//! Why these JWTs are built here rather than with `nats-jwt`: that crate makes no operator JWT
//! and no revocations, and the claims are a few fields of JSON signed with `nkeys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ecsp_protocol::remote_ops::topic;
use hmac::{Hmac, Mac};
use nkeys::{KeyPair, KeyPairType};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a user JWT is valid. Agents renew it over HTTPS before it ends (the broker closes
/// a connection whose JWT expired); revocations are kept as long.
pub const CREDENTIAL_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// The NATS subject of an MQTT topic: `/` becomes `.` (topics here hold no `.`).
fn subject(topic: &str) -> String {
    topic.replace('/', ".")
}

/// NATS delivers an MQTT QoS 1 subscription through a subject of this prefix; a user with
/// subscribe permissions needs it allowed (the broker refuses MQTT subscriptions to it).
const MQTT_DELIVERY: &str = "$MQTT.sub.>";

/// The server's four keys (see the module's docs).
pub struct NatsKeys {
    operator: KeyPair,
    system_account: KeyPair,
    system_user: KeyPair,
    account: KeyPair,
}

impl std::fmt::Debug for NatsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsKeys")
            .field("operator", &self.operator.public_key())
            .field("account", &self.account.public_key())
            .finish_non_exhaustive()
    }
}

const FILES: [(&str, KeyPairType); 4] = [
    ("operator.nk", KeyPairType::Operator),
    ("system-account.nk", KeyPairType::Account),
    ("system-user.nk", KeyPairType::User),
    ("account.nk", KeyPairType::Account),
];

impl NatsKeys {
    /// Reads the keys from `dir` (made by [`NatsKeys::init`]).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut keys = Vec::with_capacity(FILES.len());
        for (name, kind) in FILES {
            let path = dir.join(name);
            let seed = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read the NATS key {} ({e}); make the keys with `ecsp-server nats-init {}`",
                    path.display(),
                    dir.display()
                )
            })?;
            let key = KeyPair::from_seed(seed.trim())
                .map_err(|e| anyhow::anyhow!("{} is not an nkey seed: {e}", path.display()))?;
            if std::mem::discriminant(&key.key_pair_type()) != std::mem::discriminant(&kind) {
                anyhow::bail!("{} holds a key of the wrong kind", path.display());
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let mut next = || keys.next().expect("one key per file");
        Ok(Self {
            operator: next(),
            system_account: next(),
            system_user: next(),
            account: next(),
        })
    }

    /// Makes the keys in `dir` (0600) unless they are there, and writes what the brokers need:
    /// `nats-auth.conf`, to `include` in each broker node's configuration. Returns the keys.
    pub fn init(dir: &Path) -> anyhow::Result<Self> {
        for (name, kind) in FILES {
            let path = dir.join(name);
            if path.exists() {
                continue;
            }
            let seed = KeyPair::new(kind)
                .seed()
                .map_err(|e| anyhow::anyhow!("cannot make an nkey: {e}"))?;
            crate::fsutil::write_private(&path, seed.as_bytes())?;
        }
        let keys = Self::load(dir)?;
        crate::fsutil::write_private(&dir.join("nats-auth.conf"), keys.auth_conf()?.as_bytes())?;
        Ok(keys)
    }

    /// The service account's public key (the account agents are users of).
    pub fn account(&self) -> String {
        self.account.public_key()
    }

    /// The part of a broker node's configuration that makes it trust this server: the operator,
    /// the system account, and both accounts preloaded into its resolver (the node's own
    /// `resolver { type: full, dir: … }` block goes beside it).
    pub fn auth_conf(&self) -> anyhow::Result<String> {
        let now = chrono::Utc::now();
        Ok(format!(
            "# Written by ecsp-server nats-init: the operator the brokers trust, its system account,\n\
             # and the service account agents are users of (updated at run time by the server).\n\
             operator: \"{operator}\"\n\
             system_account: {system}\n\
             resolver_preload: {{\n  {system}: \"{system_jwt}\"\n  {account}: \"{account_jwt}\"\n}}\n",
            operator = self.operator_jwt(now)?,
            system = self.system_account.public_key(),
            system_jwt = self.system_account_jwt(now)?,
            account = self.account.public_key(),
            account_jwt = self.account_jwt(now, &BTreeMap::new())?,
        ))
    }

    fn operator_jwt(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
        let nats = json!({
            "type": "operator",
            "version": 2,
            "system_account": self.system_account.public_key(),
        });
        sign(
            &self.operator,
            &self.operator.public_key(),
            "ecsp",
            now,
            None,
            nats,
        )
    }

    fn system_account_jwt(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
        let nats = json!({
            "type": "account",
            "version": 2,
            "limits": {
                "subs": -1, "data": -1, "payload": -1,
                "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
            },
        });
        let subject = self.system_account.public_key();
        sign(&self.operator, &subject, "SYS", now, None, nats)
    }

    /// The service account, JetStream on (MQTT keeps its sessions there), with `revocations`:
    /// user public key → Unix seconds before which its JWTs no longer count.
    pub fn account_jwt(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        revocations: &BTreeMap<String, i64>,
    ) -> anyhow::Result<String> {
        let nats = json!({
            "type": "account",
            "version": 2,
            "limits": {
                "subs": -1, "data": -1, "payload": -1,
                "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
                "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
            },
            "revocations": revocations,
            "default_permissions": { "pub": {}, "sub": {} },
        });
        sign(
            &self.operator,
            &self.account.public_key(),
            "ecsp",
            now,
            None,
            nats,
        )
    }

    /// The user key of `agent`: derived, so that every credential it is given has one subject
    /// and one revocation entry ends them all.
    pub fn agent_user(&self, agent: Uuid) -> anyhow::Result<KeyPair> {
        let seed = self
            .account
            .seed()
            .map_err(|e| anyhow::anyhow!("the account key has no seed: {e}"))?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        mac.update(b"ecsp agent broker user\0");
        mac.update(agent.as_bytes());
        let raw: [u8; 32] = mac.finalize().into_bytes().into();
        KeyPair::new_from_raw(KeyPairType::User, raw)
            .map_err(|e| anyhow::anyhow!("cannot derive the agent's user key: {e}"))
    }

    /// The MQTT password of `agent` until `now + CREDENTIAL_LIFETIME`: its own command topic
    /// to read, its own reports to write, nothing else.
    pub fn agent_credential(
        &self,
        agent: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<String> {
        let user = self.agent_user(agent)?;
        let nats = json!({
            "type": "user",
            "version": 2,
            "pub": { "allow": [
                subject(&topic::acks(agent)),
                subject(&topic::results(agent)),
                subject(&topic::capabilities(agent)),
            ]},
            "sub": { "allow": [subject(&topic::commands(agent)), MQTT_DELIVERY] },
            "subs": -1, "data": -1, "payload": -1,
            "bearer_token": true,
            "allowed_connection_types": ["MQTT"],
        });
        let expires = now + CREDENTIAL_LIFETIME;
        sign(
            &self.account,
            &user.public_key(),
            &agent.to_string(),
            now,
            Some(expires),
            nats,
        )
    }

    /// The server's own MQTT password: every agent topic, both ways.
    pub fn server_credential(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
        let user = self.server_user()?;
        let all = format!("{}.>", subject(topic::ROOT));
        let nats = json!({
            "type": "user",
            "version": 2,
            "pub": { "allow": [all] },
            "sub": { "allow": [all, MQTT_DELIVERY] },
            "subs": -1, "data": -1, "payload": -1,
            "bearer_token": true,
            "allowed_connection_types": ["MQTT"],
        });
        let expires = now + CREDENTIAL_LIFETIME;
        sign(
            &self.account,
            &user.public_key(),
            "ecsp-server",
            now,
            Some(expires),
            nats,
        )
    }

    fn server_user(&self) -> anyhow::Result<KeyPair> {
        // Derived like an agent's, under an id no agent has.
        self.agent_user(Uuid::nil())
    }

    /// The `.creds` text of the system user (NATS protocol connections that push account
    /// updates); it signs the broker's nonce, so it is no bearer token.
    pub fn system_creds(&self, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
        let nats = json!({
            "type": "user",
            "version": 2,
            "pub": {}, "sub": {},
            "subs": -1, "data": -1, "payload": -1,
            "allowed_connection_types": ["STANDARD"],
        });
        // No expiry: it never leaves the server, and a long NATS connection would be ended at
        // its expiry with no way to present a new one.
        let jwt = sign(
            &self.system_account,
            &self.system_user.public_key(),
            "ecsp-server-system",
            now,
            None,
            nats,
        )?;
        let seed = self
            .system_user
            .seed()
            .map_err(|e| anyhow::anyhow!("the system user has no seed: {e}"))?;
        Ok(format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        ))
    }
}

/// A NATS JWT (v2): `sub` with claims `nats`, issued by `issuer` at `now`.
fn sign(
    issuer: &KeyPair,
    subject: &str,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
    expires: Option<chrono::DateTime<chrono::Utc>>,
    nats: Value,
) -> anyhow::Result<String> {
    let mut claims = json!({
        "iat": now.timestamp(),
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    if let Some(exp) = expires {
        claims["exp"] = json!(exp.timestamp());
    }
    // The JWT's id: a hash of the claims without it, as NATS's own tools make it.
    let digest = Sha256::digest(serde_json::to_vec(&claims)?);
    claims["jti"] = json!(data_encoding::BASE32_NOPAD.encode(&digest));
    let header = B64URL.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = B64URL.encode(serde_json::to_vec(&claims)?);
    let signed = format!("{header}.{body}");
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot sign a NATS JWT: {e}"))?;
    Ok(format!("{signed}.{}", B64URL.encode(signature)))
}

/// Where `ecsp-server` finds its NATS keys and the brokers' NATS (not MQTT) addresses.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub keys_dir: PathBuf,
    /// `nats://HOST:PORT` of the broker nodes (the NATS protocol side), for account updates.
    pub urls: Vec<String>,
}

/// The subject the brokers' `full` resolver takes account updates on (system account only).
const CLAIMS_UPDATE: &str = "$SYS.REQ.CLAIMS.UPDATE";
/// How often the revocations in the database are compared with those last pushed: a change
/// whose push was lost (its node died after the commit) reaches the brokers within this.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(20);
/// How often the account is pushed again unchanged: a broker node that came back without its
/// copy (a new machine, its folder lost) has only the account it was configured with, and the
/// nodes share no resolver, so within this it holds the revocations again (a disabled agent is
/// cut off within a minute).
const REPUSH: std::time::Duration = std::time::Duration::from_secs(60);

/// Keeps each broker node's copy of the service account's revocations in step with the
/// database: pushed at start, after each change made by this node ([`Revocations::changed`]),
/// and when a periodic check finds the database's differ from what was pushed. Each broker node
/// (its MQTT process, `cluster::BrokerNode`) is sent its own copy: the nodes share no
/// resolver.
#[derive(Debug, Clone)]
pub struct Revocations {
    tx: Vec<tokio::sync::mpsc::Sender<()>>,
}

impl Revocations {
    /// A task per URL of `urls` (one per broker node), and one that ends when they all have.
    pub fn start(
        state: crate::api::AppState,
        keys: std::sync::Arc<NatsKeys>,
        urls: Vec<String>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        if urls.is_empty() {
            tracing::warn!(
                "no --nats-url: disabled agents keep their broker connection until their credential expires"
            );
        }
        let (tx, tasks): (Vec<_>, Vec<_>) = urls
            .into_iter()
            .map(|url| {
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let task = tokio::spawn(push_revocations(state.clone(), keys.clone(), url, rx));
                (tx, task)
            })
            .unzip();
        let task = tokio::spawn(async move {
            for task in tasks {
                let _ = task.await;
            }
        });
        (Self { tx }, task)
    }

    /// An agent was disabled, deleted or re-keyed here: push now.
    pub fn changed(&self) {
        for tx in &self.tx {
            // A full channel already asks for a push.
            let _ = tx.try_send(());
        }
    }
}

/// Keeps the broker node at `url` in step (see [`Revocations`]).
async fn push_revocations(
    state: crate::api::AppState,
    keys: std::sync::Arc<NatsKeys>,
    url: String,
    mut changed: tokio::sync::mpsc::Receiver<()>,
) {
    let client = loop {
        let connect = async {
            let creds = keys.system_creds(chrono::Utc::now())?;
            let options = async_nats::ConnectOptions::with_credentials(&creds)?
                .name("ecsp-server")
                .request_timeout(Some(std::time::Duration::from_secs(5)));
            anyhow::Ok(options.connect(url.as_str()).await?)
        };
        match connect.await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, broker = %url, "cannot reach a broker node's NATS side; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
    };
    let mut pushed: Option<(BTreeMap<String, i64>, std::time::Instant)> = None;
    let mut tick = tokio::time::interval(RECHECK);
    loop {
        tokio::select! {
            c = changed.recv() => if c.is_none() { return },
            _ = tick.tick() => {}
        }
        let now = chrono::Utc::now();
        let since_ms = (now - CREDENTIAL_LIFETIME).timestamp_millis();
        let revoked = match state
            .db
            .read(move |c| crate::store::devices::broker_revocations(c, since_ms))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "revoked agents not read");
                continue;
            }
        };
        let mut map = BTreeMap::new();
        for (agent, at_ms) in revoked {
            match keys.agent_user(agent) {
                Ok(user) => {
                    map.insert(user.public_key(), at_ms.div_euclid(1000));
                }
                Err(e) => tracing::error!(error = %e, "no user key for a revoked agent"),
            }
        }
        if pushed
            .as_ref()
            .is_some_and(|(last, at)| *last == map && at.elapsed() < REPUSH)
        {
            continue;
        }
        match push_account(&client, &keys, now, &map).await {
            Ok(()) => {
                tracing::info!(revoked = map.len(), broker = %url, "broker account updated");
                pushed = Some((map, std::time::Instant::now()));
            }
            Err(e) => {
                tracing::warn!(error = %e, broker = %url, "broker account not updated; retrying")
            }
        }
    }
}

/// Sends the service account with `revocations` to the brokers and checks their answer.
async fn push_account(
    client: &async_nats::Client,
    keys: &NatsKeys,
    now: chrono::DateTime<chrono::Utc>,
    revocations: &BTreeMap<String, i64>,
) -> anyhow::Result<()> {
    let jwt = keys.account_jwt(now, revocations)?;
    let answer = client
        .request(CLAIMS_UPDATE, jwt.into_bytes().into())
        .await?;
    let answer: Value = serde_json::from_slice(&answer.payload)
        .map_err(|e| anyhow::anyhow!("the broker's answer is not JSON: {e}"))?;
    match answer["data"]["code"].as_i64() {
        Some(200) => Ok(()),
        _ => anyhow::bail!("the broker refused the account update: {answer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(jwt: &str) -> Value {
        let body = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(&B64URL.decode(body).unwrap()).unwrap()
    }

    #[test]
    fn an_agent_credential_allows_its_own_topics_only_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let keys = NatsKeys::init(dir.path()).unwrap();
        let agent = Uuid::new_v4();
        let now = chrono::Utc::now();
        let jwt = keys.agent_credential(agent, now).unwrap();
        let claims = decode(&jwt);
        assert_eq!(claims["iss"], keys.account());
        assert_eq!(claims["sub"], keys.agent_user(agent).unwrap().public_key());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            CREDENTIAL_LIFETIME.num_seconds()
        );
        let subs = claims["nats"]["sub"]["allow"].as_array().unwrap();
        assert!(subs.contains(&json!(format!("ecsp.v1.agents.{agent}.commands"))));
        assert!(subs.iter().all(|s| !s.as_str().unwrap().contains('*')));
        let pubs = claims["nats"]["pub"]["allow"].as_array().unwrap();
        assert_eq!(pubs.len(), 3);
        assert!(
            pubs.iter()
                .all(|p| p.as_str().unwrap().contains(&agent.to_string()))
        );
        // The signature is the account's over header.claims.
        let (signed, sig) = jwt.rsplit_once('.').unwrap();
        let account = KeyPair::from_public_key(&keys.account()).unwrap();
        account
            .verify(signed.as_bytes(), &B64URL.decode(sig).unwrap())
            .unwrap();
        // Same agent, same subject; another agent, another.
        assert_eq!(
            keys.agent_user(agent).unwrap().public_key(),
            NatsKeys::load(dir.path())
                .unwrap()
                .agent_user(agent)
                .unwrap()
                .public_key()
        );
        assert_ne!(
            keys.agent_user(agent).unwrap().public_key(),
            keys.agent_user(Uuid::new_v4()).unwrap().public_key()
        );
    }

    #[test]
    fn keys_of_the_wrong_kind_or_missing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = NatsKeys::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("nats-init"), "{err}");
        NatsKeys::init(dir.path()).unwrap();
        std::fs::copy(
            dir.path().join("account.nk"),
            dir.path().join("operator.nk"),
        )
        .unwrap();
        let err = NatsKeys::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("wrong kind"), "{err}");
    }
}
