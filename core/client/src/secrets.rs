//! Where tokens and the outbox key live: a secret store, never a file, a log line, an error or a
//! `Debug` output.
//!
//! Three implementations of [`SecretStore`]: the OS keyring ([`KeyringSecretStore`], through
//! `keyring-core`: the Secret Service or kernel keyutils on Linux, Keychain on macOS, Credential
//! Manager on Windows),
//! a store the host application supplies ([`HostSecretStore`] over [`HostKeystore`], for phone
//! apps whose keystore the platform owns), and [`MemorySecretStore`] for unit tests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::error::{EcspError, EcspResult as Result, ErrorCode};

fn unavailable(message: String) -> EcspError {
    EcspError::new(ErrorCode::KeyringUnavailable, message)
}

/// A secret string. Its `Debug` output is redacted and its memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Secret storage, by key.
pub trait SecretStore: Send + Sync + fmt::Debug {
    fn get(&self, key: &str) -> Result<Option<Secret>>;
    fn set(&self, key: &str, value: &Secret) -> Result<()>;
    /// Removes the secret; removing an absent one is not an error.
    fn delete(&self, key: &str) -> Result<()>;
}

/// In-memory secrets, for unit tests.
#[derive(Debug, Default)]
pub struct MemorySecretStore {
    secrets: Mutex<HashMap<String, Secret>>,
}

impl SecretStore for MemorySecretStore {
    fn get(&self, key: &str) -> Result<Option<Secret>> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned())
    }

    fn set(&self, key: &str, value: &Secret) -> Result<()> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), value.clone());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        Ok(())
    }
}

/// The platform keystore of a host application (implemented by the mobile app, in its language).
pub trait HostKeystore: Send + Sync {
    fn load(&self, key: String) -> std::result::Result<Option<String>, String>;
    fn save(&self, key: String, value: String) -> std::result::Result<(), String>;
    fn remove(&self, key: String) -> std::result::Result<(), String>;
}

/// A [`SecretStore`] over the host application's keystore.
#[derive(Clone)]
pub struct HostSecretStore(pub Arc<dyn HostKeystore>);

impl fmt::Debug for HostSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostSecretStore")
    }
}

impl SecretStore for HostSecretStore {
    fn get(&self, key: &str) -> Result<Option<Secret>> {
        self.0
            .load(key.to_owned())
            .map(|v| v.map(Secret::new))
            .map_err(unavailable)
    }

    fn set(&self, key: &str, value: &Secret) -> Result<()> {
        self.0
            .save(key.to_owned(), value.expose().to_owned())
            .map_err(unavailable)
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.0.remove(key.to_owned()).map_err(unavailable)
    }
}

#[cfg(feature = "os-keyring")]
pub use os::KeyringSecretStore;

#[cfg(feature = "os-keyring")]
mod os {
    use std::sync::Arc;

    use keyring_core::api::CredentialStore;

    use super::unavailable;
    use super::{Secret, SecretStore};
    use crate::error::{EcspError, EcspResult as Result};

    /// The operating system's keyring. Entries are `service` + key.
    pub struct KeyringSecretStore {
        store: Arc<CredentialStore>,
        service: String,
    }

    impl std::fmt::Debug for KeyringSecretStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("KeyringSecretStore")
                .field("service", &self.service)
                .finish()
        }
    }

    /// Describes a keyring failure without any secret or stored bytes in it.
    fn describe(e: &keyring_core::Error) -> EcspError {
        use keyring_core::Error as E;
        let what = match e {
            E::PlatformFailure(p) => format!("platform failure: {p}"),
            E::NoStorageAccess(p) => format!("the keyring is not accessible (locked?): {p}"),
            E::NoEntry => "no such entry".into(),
            E::BadEncoding(_) => "a stored value is not text".into(),
            E::BadDataFormat(..) => "a stored value is damaged".into(),
            E::BadStoreFormat(s) => format!("the keyring is damaged: {s}"),
            E::TooLong(attr, limit) => {
                format!("`{attr}` is longer than the keyring allows ({limit})")
            }
            E::Invalid(attr, reason) => format!("`{attr}` is not accepted: {reason}"),
            _ => "keyring error".into(),
        };
        unavailable(what)
    }

    impl KeyringSecretStore {
        /// The platform's keyring. On Linux: the Secret Service (GNOME Keyring, KWallet) when the
        /// session bus offers one, else kernel keyutils (no desktop needed; entries last until
        /// reboot). Keychain on macOS, Credential Manager on Windows.
        pub fn new(service: &str) -> Result<Self> {
            #[cfg(target_os = "linux")]
            let store: Arc<CredentialStore> = match dbus_secret_service_keyring_store::Store::new()
            {
                Ok(store) => store,
                Err(e) => {
                    tracing::debug!(error = %describe(&e), "no Secret Service; using kernel keyutils");
                    linux_keyutils_keyring_store::Store::new().map_err(|e| describe(&e))?
                }
            };
            #[cfg(target_os = "macos")]
            let store: Arc<CredentialStore> =
                apple_native_keyring_store::keychain::Store::new().map_err(|e| describe(&e))?;
            #[cfg(target_os = "windows")]
            let store: Arc<CredentialStore> =
                windows_native_keyring_store::Store::new().map_err(|e| describe(&e))?;
            Ok(Self {
                store,
                service: service.to_owned(),
            })
        }

        /// Which keyring is in use, e.g. for diagnostics.
        pub fn backend(&self) -> String {
            self.store.vendor()
        }

        fn entry(&self, key: &str) -> Result<keyring_core::Entry> {
            self.store
                .build(&self.service, key, None)
                .map_err(|e| describe(&e))
        }
    }

    impl SecretStore for KeyringSecretStore {
        fn get(&self, key: &str) -> Result<Option<Secret>> {
            match self.entry(key)?.get_password() {
                Ok(v) => Ok(Some(Secret::new(v))),
                Err(keyring_core::Error::NoEntry) => Ok(None),
                Err(e) => Err(describe(&e)),
            }
        }

        fn set(&self, key: &str, value: &Secret) -> Result<()> {
            self.entry(key)?
                .set_password(value.expose())
                .map_err(|e| describe(&e))
        }

        fn delete(&self, key: &str) -> Result<()> {
            match self.entry(key)?.delete_credential() {
                Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
                Err(e) => Err(describe(&e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secret::new("ecsp_rt_very-secret");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let store = MemorySecretStore::default();
        store.set("k", &s).unwrap();
        assert!(!format!("{store:?}").contains("very-secret"));
        assert_eq!(
            store.get("k").unwrap().unwrap().expose(),
            "ecsp_rt_very-secret"
        );
        store.delete("k").unwrap();
        store.delete("k").unwrap();
        assert!(store.get("k").unwrap().is_none());
    }
}
