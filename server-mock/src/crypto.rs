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

/// The keys derived from the data key. Debug output shows only the key id.
pub struct DataKey {
    aead: XChaCha20Poly1305,
    index_key: Zeroizing<[u8; 32]>,
    key_id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey {{ key_id: {} }}", hex::encode(self.key_id))
    }
}

impl DataKey {
    pub fn from_master(master: &[u8; 32]) -> Self {
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

    /// Loads the data key from the environment, else from `path`, creating the file if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        if let Ok(value) = std::env::var(DATA_KEY_ENV) {
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(value.trim())
                    .map_err(|_| KeyError::BadEnv)?,
            );
            let master: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::BadEnv)?;
            return Ok(Self::from_master(&master));
        }
        let file_err = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = Zeroizing::new(
                    STANDARD
                        .decode(text.trim())
                        .map_err(|_| file_err("is not base64".into()))?,
                );
                let master: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| file_err("must hold base64 of exactly 32 bytes".into()))?;
                Ok(Self::from_master(&master))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut master = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(master.as_mut());
                let encoded = Zeroizing::new(STANDARD.encode(master.as_ref()));
                crate::fsutil::write_private(path, encoded.as_bytes())
                    .map_err(|e| file_err(e.to_string()))?;
                tracing::info!(path = %path.display(), "created a new data key");
                Ok(Self::from_master(&master))
            }
            Err(e) => Err(file_err(e.to_string())),
        }
    }

    pub fn key_id_hex(&self) -> String {
        hex::encode(self.key_id)
    }

    /// Seals `plaintext`, bound to `context` (e.g. `users.email:<user id>`).
    ///
    /// The nonce comes from the thread's CSPRNG (ChaCha, seeded and periodically reseeded from
    /// the OS), not from the OS for each seal: a `getrandom` system call per upload showed in the
    /// ingest profile, and a 192-bit random nonce needs unpredictability, not a syscall. The
    /// ciphertext is written in place behind the header, one allocation per seal.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let header = 1 + KEY_ID_LEN + NONCE_LEN;
        let mut out = Vec::with_capacity(header + plaintext.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        match self.aead.encrypt_in_place_detached(
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

    /// Opens what [`seal`](Self::seal) produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let header = 1 + KEY_ID_LEN + NONCE_LEN;
        if sealed.len() < header
            || sealed[0] != SEAL_VERSION
            || sealed[1..1 + KEY_ID_LEN] != self.key_id
        {
            return None;
        }
        self.aead
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

    /// The keyed blind index of an e-mail address (case and surrounding space ignored).
    pub fn email_index(&self, email: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.index_key.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(normalize_email(email).as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl DataKey {
    /// The keyed hash under which an installation a user signed in from is remembered, so the
    /// database never holds the id itself (it acts as a low-grade secret of the installation).
    pub fn installation_index(&self, user: uuid::Uuid, installation: uuid::Uuid) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.index_key.as_ref())
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
