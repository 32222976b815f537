//! The owner's way back in while someone guesses their password: an admin unlock code.
//!
//! Guesses from anywhere drain an account's shared sign-in budget (`ratelimit`), so while an
//! attack goes on the owner can sign in only from an installation (or browser) that signed in
//! before. From a new one, the owner asks an administrator, who issues a one-time unlock code
//! (admin API, portal, or `ecsp-server unlock-sign-in`) and tells it to the owner by a channel
//! of their own (in person, by phone). A sign-in carrying the code *and* the password draws on a
//! budget of its own that the attacker's guesses cannot drain; once it succeeds the code is
//! spent and the new installation is known, so it keeps its own budget from then on.
//!
//! The code is stored the way known installations are (`known_installations`, a keyed hash, no
//! code in clear): it is a known installation the owner has not used yet, whose lifetime is
//! [`VALID_FOR_MS`] instead of the usual 90 days. The code alone signs no one in: the password
//! is still needed, so an administrator cannot use it to act as the user. An invented code
//! changes nothing: it matches no row, and the sign-in uses the shared budget.

use crate::sql::{Connection, params};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::{DataKey, new_password};
use crate::store::accounts::INSTALLATION_KNOWN_FOR_MS;
use crate::store::{from_ms, now_ms};

/// How long an unlock code works: a day, long enough to reach the owner.
pub const VALID_FOR_MS: i64 = 24 * 3600 * 1000;

/// Characters of a code (from an alphabet without look-alikes: about 92 bits).
const CODE_LEN: usize = 16;

/// A code as issued, shown once.
pub struct Issued {
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A code as typed: spaces and dashes (the code is shown in groups of four) do not count.
pub fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// The installation id a code stands for (the code is its only secret).
fn code_installation(code: &str) -> Uuid {
    let digest = Sha256::digest(format!("ecsp sign-in unlock code\0{}", normalize(code)));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The keyed hash under which `user`'s code is stored (as a known installation's would be).
pub fn code_hash(key: &DataKey, user: Uuid, code: &str) -> [u8; 32] {
    key.installation_index(user, code_installation(code))
}

/// Issues a code for the user with internal id `user_id` and public id `user`. Its row looks
/// like an installation last seen so long ago that it stops being known after [`VALID_FOR_MS`].
pub fn issue(
    conn: &Connection,
    key: &DataKey,
    user_id: i64,
    user: Uuid,
) -> crate::sql::Result<Issued> {
    let code: String = new_password().chars().take(CODE_LEN).collect();
    let now = now_ms();
    let last_seen = now - INSTALLATION_KNOWN_FOR_MS + VALID_FOR_MS;
    conn.prepare_cached(
        "INSERT INTO known_installations (user_id, installation_hash, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, installation_hash) DO UPDATE SET last_seen = excluded.last_seen",
    )?
    .execute(params![
        user_id,
        code_hash(key, user, &code).as_slice(),
        now,
        last_seen
    ])?;
    let grouped = code
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    Ok(Issued {
        code: grouped,
        expires_at: from_ms(now + VALID_FOR_MS),
    })
}

/// Spends a code once it has let its owner in.
pub fn spend(conn: &Connection, user_id: i64, hash: &[u8; 32]) -> crate::sql::Result<()> {
    conn.prepare_cached(
        "DELETE FROM known_installations WHERE user_id = ?1 AND installation_hash = ?2",
    )?
    .execute(params![user_id, hash.as_slice()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_read_without_its_dashes_and_spaces_and_tied_to_its_user() {
        let key = DataKey::from_master(&[3u8; 32]);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let a = code_hash(&key, alice, "abcd-efgh-jkmn-pqrs");
        assert_eq!(a, code_hash(&key, alice, " abcd efgh jkmnpqrs "));
        assert_ne!(a, code_hash(&key, bob, "abcd-efgh-jkmn-pqrs"));
        assert_ne!(a, code_hash(&key, alice, "abcd-efgh-jkmn-pqrt"));
    }
}
