//! Where the CLI keeps its settings (server URL, CA file) and its local database: the platform's
//! standard directories, overridable by `ECSP_CONFIG_DIR` / `ECSP_DATA_DIR`. Nothing secret or
//! personal is written here: tokens live in the OS keyring.

use std::path::{Path, PathBuf};

use ecsp_client::EcspError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
}

fn config_error(what: &str, path: &Path, e: impl std::fmt::Display) -> EcspError {
    EcspError::configuration(format!("{what} {}: {e}", path.display()))
}

impl Dirs {
    pub fn resolve(
        config_override: Option<PathBuf>,
        data_override: Option<PathBuf>,
    ) -> Result<Self, EcspError> {
        let project = directories::ProjectDirs::from("org", "ecsp", "ecsp");
        let config = config_override
            .or_else(|| project.as_ref().map(|p| p.config_dir().to_owned()))
            .ok_or_else(|| {
                EcspError::configuration(
                    "no configuration directory on this platform; set ECSP_CONFIG_DIR",
                )
            })?;
        let data = data_override
            .or_else(|| project.as_ref().map(|p| p.data_dir().to_owned()))
            .ok_or_else(|| {
                EcspError::configuration("no data directory on this platform; set ECSP_DATA_DIR")
            })?;
        Ok(Self { config, data })
    }

    fn settings_file(&self) -> PathBuf {
        self.config.join("config.json")
    }

    pub fn load(&self) -> Result<Settings, EcspError> {
        let path = self.settings_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| config_error("not a valid settings file:", &path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(config_error("cannot read", &path, e)),
        }
    }

    pub fn save(&self, settings: &Settings) -> Result<(), EcspError> {
        std::fs::create_dir_all(&self.config)
            .map_err(|e| config_error("cannot create", &self.config, e))?;
        let path = self.settings_file();
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(settings).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(|e| config_error("cannot write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| config_error("cannot write", &path, e))
    }
}

/// Makes a relative CA path absolute, so the saved setting works from any directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
