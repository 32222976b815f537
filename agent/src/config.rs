//! The agent's configuration file (`agent.json` in its data directory), written by `enrol`.
//! It holds no secret: the agent secret is in the OS keyring, SNMP secrets too (by name).

use std::path::{Path, PathBuf};

use ecsp_protocol::agent::AgentType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dc::DesignatedPrinter;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// `https://host:port` of the server.
    pub server: String,
    pub agent_id: Uuid,
    pub agent_type: AgentType,
    /// The CA fingerprint that was checked at enrolment.
    pub ca_fingerprint: String,
    /// DC agent: the designated printers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub printers: Vec<DesignatedPrinter>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path} is not a valid agent configuration: {detail}")]
    Invalid { path: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
}

pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("agent.json")
}

pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ca.pem")
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("agent.db")
}

impl AgentConfig {
    pub fn load(data_dir: &Path) -> Result<Self, ConfigError> {
        let path = config_path(data_dir);
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// Writes atomically (temporary file, then rename), so a crash never leaves half a file.
    pub fn save(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let path = config_path(data_dir);
        let write_err = |e: std::io::Error| ConfigError::Write {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        std::fs::create_dir_all(data_dir).map_err(write_err)?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, &path).map_err(write_err)
    }
}
