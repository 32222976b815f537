//! Secrets at rest: the data key that encrypts user information, the blind index that finds a
//! user by e-mail without storing it in clear, password hashing and bearer-token hashing.
//!
//! * User information (name, e-mail, partner and client information) and record bodies are
//!   sealed with XChaCha20-Poly1305 under a key derived from the data key. Each ciphertext
//!   carries the key id and is bound (AEAD associated data) to its table, column and row, so a
//!   ciphertext copied to another row does not decrypt.
//! * The data key lives outside the database: in `ECSP_DATA_KEY` (base64 of 32 bytes) or in a
//!   key file (created 0600 on first start).
//! * Passwords: Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane).
//! * Bearer tokens and agent secrets are 256-bit random values, stored only as SHA-256 hashes
//!   (a slow hash adds nothing to a secret with that much entropy).

use std::path::Path;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// How often a running server re-reads its data key file (a rotation changes it).
pub const KEY_FILE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Environment variable holding the data key (base64 of 32 bytes); overrides the key file.
pub const DATA_KEY_ENV: &str = "ECSP_DATA_KEY";

const SEAL_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{DATA_KEY_ENV} must be base64 of exactly 32 bytes")]
    BadEnv,
    #[error("key file {path}: {reason}")]
    File { path: String, reason: String },
}

/// What one data key derives: the AEAD key, the blind-index key and the key id every
/// ciphertext it seals carries.
struct KeyMaterial {
    aead: XChaCha20Poly1305,
    index_key: Zeroizing<[u8; 32]>,
    key_id: [u8; KEY_ID_LEN],
}

impl KeyMaterial {
    fn from_master(master: &[u8; 32]) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"ecsp-server data key v1"), master);
        let mut aead_key = Zeroizing::new([0u8; 32]);
        let mut index_key = Zeroizing::new([0u8; 32]);
        let mut key_id = [0u8; KEY_ID_LEN];
        // Lengths are fixed and far below HKDF's limit, so expand cannot fail.
        let _ = hk.expand(b"aead", aead_key.as_mut());
        let _ = hk.expand(b"email blind index", index_key.as_mut());
        let _ = hk.expand(b"key id", &mut key_id);
        Self {
            aead: XChaCha20Poly1305::new(aead_key.as_ref().into()),
            index_key,
            key_id,
        }
    }

    fn email_index(&self, email: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.index_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(normalize_email(email).as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The current data key (it seals, and indexes e-mail addresses) and, while a rotation runs
/// (`rotate`), the previous ones (they only open what they sealed, found by the key id each
/// ciphertext carries, and find addresses indexed under them).
struct Keys {
    current: KeyMaterial,
    previous: Vec<KeyMaterial>,
}

/// The keys derived from the data key(s). Debug output shows only the key ids.
///
/// The key file (or `ECSP_DATA_KEY`) holds one key, base64 of 32 bytes, or several, one a line
/// (comma-separated in the variable): the first is current, the others are previous keys a
/// rotation has not finished moving data away from. A running server re-reads its key file
/// ([`DataKey::reload`]), so a rotation needs no restart.
pub struct DataKey {
    keys: std::sync::RwLock<Keys>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.read();
        write!(
            f,
            "DataKey {{ key_id: {}, previous: {} }}",
            hex::encode(keys.current.key_id),
            keys.previous.len()
        )
    }
}

/// The base64 keys of a key file's text or of `ECSP_DATA_KEY`, current first.
fn parse_masters(text: &str) -> Result<Vec<Zeroizing<[u8; 32]>>, String> {
    let masters = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(|k| {
            let bytes = Zeroizing::new(STANDARD.decode(k).map_err(|_| "is not base64".to_owned())?);
            let master: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| "must hold base64 of exactly 32 bytes".to_owned())?;
            Ok(Zeroizing::new(master))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if masters.is_empty() {
        return Err("holds no key".into());
    }
    Ok(masters)
}

fn keys_of(masters: &[Zeroizing<[u8; 32]>]) -> Keys {
    Keys {
        current: KeyMaterial::from_master(&masters[0]),
        previous: masters[1..]
            .iter()
            .map(|m| KeyMaterial::from_master(m))
            .collect(),
    }
}

impl DataKey {
    pub fn from_master(master: &[u8; 32]) -> Self {
        Self {
            keys: std::sync::RwLock::new(Keys {
                current: KeyMaterial::from_master(master),
                previous: Vec::new(),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the data key(s) from the environment, else from `path`, creating the file (one
    /// new key) if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        if let Ok(value) = std::env::var(DATA_KEY_ENV) {
            let masters = parse_masters(&value).map_err(|_| KeyError::BadEnv)?;
            return Ok(Self {
                keys: std::sync::RwLock::new(keys_of(&masters)),
            });
        }
        if !path.exists() {
            let master = new_master();
            write_key_file(path, std::slice::from_ref(&master))?;
            tracing::info!(path = %path.display(), "created a new data key");
            return Ok(Self::from_master(&master));
        }
        let masters = Self::read_file(path)?;
        Ok(Self {
            keys: std::sync::RwLock::new(keys_of(&masters)),
        })
    }

    fn read_file(path: &Path) -> Result<Vec<Zeroizing<[u8; 32]>>, KeyError> {
        let file_err = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?);
        parse_masters(&text).map_err(file_err)
    }

    /// Re-reads the key file after a rotation changed it: the keys it holds now replace these.
    /// Returns whether they changed. (`ECSP_DATA_KEY` is read at start only.)
    pub fn reload(&self, path: &Path) -> Result<bool, KeyError> {
        if std::env::var_os(DATA_KEY_ENV).is_some() {
            return Ok(false);
        }
        let masters = Self::read_file(path)?;
        let fresh = keys_of(&masters);
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let ids = |k: &Keys| {
            std::iter::once(k.current.key_id)
                .chain(k.previous.iter().map(|p| p.key_id))
                .collect::<Vec<_>>()
        };
        if ids(&keys) == ids(&fresh) {
            return Ok(false);
        }
        *keys = fresh;
        Ok(true)
    }

    pub fn key_id_hex(&self) -> String {
        hex::encode(self.read().current.key_id)
    }

    /// Whether `sealed` was sealed under the current key (a rotation reseals the others).
    pub fn sealed_under_current(&self, sealed: &[u8]) -> bool {
        sealed.len() > KEY_ID_LEN && sealed[1..1 + KEY_ID_LEN] == self.read().current.key_id
    }

    /// The bytes every ciphertext of the key with this id starts with (version and key id):
    /// what a scan for data still sealed under a retired key looks for.
    pub fn ciphertext_prefix(&self) -> Vec<u8> {
        let mut prefix = vec![SEAL_VERSION];
        prefix.extend_from_slice(&self.read().current.key_id);
        prefix
    }

    /// Seals `plaintext`, bound to `context` (e.g. `users.email:<user id>`), under the current
    /// key.
    ///
    /// The nonce comes from the thread's CSPRNG (ChaCha, seeded and periodically reseeded from
    /// the OS), not from the OS for each seal: a `getrandom` system call per upload showed in the
    /// ingest profile, and a 192-bit random nonce needs unpredictability, not a syscall. The
    /// ciphertext is written in place behind the header, one allocation per seal.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let keys = self.read();
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let header = 1 + KEY_ID_LEN + NONCE_LEN;
        let mut out = Vec::with_capacity(header + plaintext.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&keys.current.key_id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        match keys.current.aead.encrypt_in_place_detached(
            XNonce::from_slice(&nonce),
            context.as_bytes(),
            &mut out[header..],
        ) {
            Ok(tag) => out.extend_from_slice(&tag),
            // XChaCha20-Poly1305 encryption fails only for messages beyond 256 GiB.
            Err(_) => out.clear(),
        }
        out
    }

    /// Opens what [`seal`](Self::seal) produced for the same `context`, under the current key
    /// or a previous one.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let header = 1 + KEY_ID_LEN + NONCE_LEN;
        if sealed.len() < header || sealed[0] != SEAL_VERSION {
            return None;
        }
        let keys = self.read();
        let id = &sealed[1..1 + KEY_ID_LEN];
        let material = std::iter::once(&keys.current)
            .chain(keys.previous.iter())
            .find(|k| k.key_id == id)?;
        material
            .aead
            .decrypt(
                XNonce::from_slice(&sealed[1 + KEY_ID_LEN..header]),
                Payload {
                    msg: &sealed[header..],
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }

    pub fn seal_str(&self, context: &str, text: &str) -> Vec<u8> {
        self.seal(context, text.as_bytes())
    }

    pub fn open_str(&self, context: &str, sealed: &[u8]) -> Option<String> {
        self.open(context, sealed)
            .and_then(|b| String::from_utf8(b).ok())
    }

    /// The keyed blind index of an e-mail address (case and surrounding space ignored), under
    /// the current key.
    pub fn email_index(&self, email: &str) -> [u8; 32] {
        self.read().current.email_index(email)
    }

    /// The address's blind index under every key held, current first: where a rotation is under
    /// way, an account not yet moved is still found under a previous key's index.
    pub fn email_indexes(&self, email: &str) -> Vec<[u8; 32]> {
        let keys = self.read();
        std::iter::once(&keys.current)
            .chain(keys.previous.iter())
            .map(|k| k.email_index(email))
            .collect()
    }
}

/// Writes a key file (one base64 key a line, current first), 0600, replacing any in one step.
pub fn write_key_file(path: &Path, masters: &[Zeroizing<[u8; 32]>]) -> Result<(), KeyError> {
    let mut text = Zeroizing::new(String::new());
    for m in masters {
        text.push_str(&STANDARD.encode(m.as_ref()));
        text.push('\n');
    }
    crate::fsutil::write_private(path, text.as_bytes()).map_err(|e| KeyError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A new random data key.
pub fn new_master() -> Zeroizing<[u8; 32]> {
    let mut master = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(master.as_mut());
    master
}

/// The keys a key file holds, current first (for a rotation).
pub fn read_key_file(path: &Path) -> Result<Vec<Zeroizing<[u8; 32]>>, KeyError> {
    DataKey::read_file(path)
}

impl DataKey {
    /// The keyed hash under which an installation a user signed in from is remembered, so the
    /// database never holds the id itself (it acts as a low-grade secret of the installation).
    pub fn installation_index(&self, user: uuid::Uuid, installation: uuid::Uuid) -> [u8; 32] {
        let keys = self.read();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keys.current.index_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"installation\0");
        mac.update(user.as_bytes());
        mac.update(installation.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A new bearer secret: `prefix` + 256 random bits, base64url. The prefix makes leaked tokens
/// recognisable to secret scanners.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A password for generated demo accounts: 20 characters from an unambiguous alphabet.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// OWASP Password Storage Cheat Sheet: Argon2id, m = 19 MiB, t = 2, p = 1.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .unwrap_or_else(|_| unreachable!("constant Argon2 parameters are valid"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` under Argon2id with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Only fails for outputs/salts out of range, which these constants are not.
        .unwrap_or_else(|e| unreachable!("argon2 hashing failed: {e}"))
}

/// Checks `password` against a stored PHC string.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Spends the same time as checking a real password, so unknown accounts answer as fast as
/// known ones: a full Argon2 verify, with the same parameters, against a hash made once.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("dummy password for timing equalisation"));
    let _ = verify_password(phc, password);
    DUMMY_VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

static DUMMY_VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many dummy verifies this process has run (sign-ins for addresses without an account).
pub fn dummy_verifications() -> u64 {
    DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// SHA-256 of a record's canonical JSON: the idempotency fingerprint.
pub fn body_fingerprint(canonical_json: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical_json).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_in_its_context_and_key() {
        let key = DataKey::from_master(&[7u8; 32]);
        let sealed = key.seal_str("users.email:1", "alice@example.com");
        assert_eq!(
            key.open_str("users.email:1", &sealed).as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(key.open_str("users.email:2", &sealed), None);
        let other = DataKey::from_master(&[8u8; 32]);
        assert_eq!(other.open_str("users.email:1", &sealed), None);
        assert!(!sealed.windows(5).any(|w| w == b"alice"));
    }

    #[test]
    fn a_key_file_of_two_keys_seals_under_the_first_and_opens_under_both() {
        let dir = tempfile_dir();
        let path = dir.join("data.key");
        let (old, new) = (new_master(), new_master());
        write_key_file(&path, std::slice::from_ref(&old)).unwrap();
        let key = DataKey::load_or_create(&path).unwrap();
        let under_old = key.seal_str("users.email:1", "alice@example.com");
        let old_index = key.email_index("alice@example.com");
        write_key_file(&path, &[new.clone(), old.clone()]).unwrap();
        assert!(key.reload(&path).unwrap(), "the file changed");
        assert!(!key.reload(&path).unwrap(), "and then did not");
        let under_new = key.seal_str("users.email:1", "alice@example.com");
        assert!(key.sealed_under_current(&under_new) && !key.sealed_under_current(&under_old));
        for sealed in [&under_old, &under_new] {
            assert_eq!(
                key.open_str("users.email:1", sealed).as_deref(),
                Some("alice@example.com")
            );
        }
        let indexes = key.email_indexes("Alice@example.com");
        assert_eq!(indexes.len(), 2);
        assert_eq!(indexes[1], old_index);
        assert_eq!(indexes[0], key.email_index("alice@example.com"));
        // The old key gone: what it sealed no longer opens.
        write_key_file(&path, std::slice::from_ref(&new)).unwrap();
        assert!(key.reload(&path).unwrap());
        assert_eq!(key.open_str("users.email:1", &under_old), None);
        assert!(key.open_str("users.email:1", &under_new).is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ecsp-key-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn blind_index_ignores_case_and_space_but_depends_on_key() {
        let key = DataKey::from_master(&[7u8; 32]);
        assert_eq!(
            key.email_index(" Alice@Example.com "),
            key.email_index("alice@example.com")
        );
        assert_ne!(
            key.email_index("alice@example.com"),
            key.email_index("bob@example.com")
        );
        let other = DataKey::from_master(&[8u8; 32]);
        assert_ne!(
            other.email_index("alice@example.com"),
            key.email_index("alice@example.com")
        );
    }

    #[test]
    fn password_hash_is_argon2id_at_owasp_parameters() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password(&phc, "correct horse battery"));
        assert!(!verify_password(&phc, "wrong"));
        assert!(!verify_password("not a phc string", "x"));
    }
}
