//! What the app remembers between starts, in the platform's configuration directory: the server,
//! the CA the user accepted by fingerprint (a public certificate), the watched folder and
//! whether this computer is authorised. Never a token or a name: tokens live in the OS keyring.
//! `ECSP_CONFIG_DIR` / `ECSP_DATA_DIR` override the directories (tests, portable installs).

use std::path::{Path, PathBuf};

use ecsp_client::{EcspError, ErrorCode};
use ecsp_dfe::collector::FolderSource;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The server's CA (PEM), accepted after the user compared its fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<FolderSource>,
    /// "Authorise this computer": background collection and delivery on.
    #[serde(default)]
    pub authorised: bool,
    /// The language the user chose in the app ("en" or "ja"); absent: the system's. Kept here,
    /// not in the webview's local storage, so the shell's notifications and tray speak it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    pub fn resolve() -> Result<Self, EcspError> {
        let project = directories::ProjectDirs::from("org", "ecsp", "ecsp-desktop");
        let pick = |var: &str, default: Option<&Path>| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| default.map(Path::to_owned))
                .ok_or_else(|| {
                    EcspError::configuration(format!("no application directory here; set {var}"))
                })
        };
        Ok(Self {
            config: pick("ECSP_CONFIG_DIR", project.as_ref().map(|p| p.config_dir()))?,
            data: pick("ECSP_DATA_DIR", project.as_ref().map(|p| p.data_dir()))?,
        })
    }

    fn file(&self) -> PathBuf {
        self.config.join("desktop.json")
    }

    pub fn load(&self) -> Result<Settings, EcspError> {
        let path = self.file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                EcspError::configuration(format!("{}: not a settings file: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(EcspError::configuration(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a file.
    pub fn save(&self, settings: &Settings) -> Result<(), EcspError> {
        let err = |p: &Path, e: std::io::Error| {
            EcspError::new(ErrorCode::LocalStorage, format!("{}: {e}", p.display()))
        };
        std::fs::create_dir_all(&self.config).map_err(|e| err(&self.config, e))?;
        let path = self.file();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(settings).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(&path, e))
    }
}
