//! Where the CLI keeps its settings (server URL, CA file) and its local database: the platform's
//! standard directories, overridable by `ECSP_CONFIG_DIR` / `ECSP_DATA_DIR`. Nothing secret or
//! personal is written here: tokens live in the OS keyring.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
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

impl Dirs {
    pub fn resolve(
        config_override: Option<PathBuf>,
        data_override: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let project = directories::ProjectDirs::from("org", "ecsp", "ecsp");
        let config = config_override
            .or_else(|| project.as_ref().map(|p| p.config_dir().to_owned()))
            .context("no configuration directory on this platform; set ECSP_CONFIG_DIR")?;
        let data = data_override
            .or_else(|| project.as_ref().map(|p| p.data_dir().to_owned()))
            .context("no data directory on this platform; set ECSP_DATA_DIR")?;
        Ok(Self { config, data })
    }

    fn settings_file(&self) -> PathBuf {
        self.config.join("config.json")
    }

    pub fn load(&self) -> anyhow::Result<Settings> {
        let path = self.settings_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{}: not a valid settings file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self, settings: &Settings) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.config)
            .with_context(|| format!("creating {}", self.config.display()))?;
        let path = self.settings_file();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(settings)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }
}

/// Makes a relative CA path absolute, so the saved setting works from any directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
