//! Parts shared by several uploads.

use serde::{Deserialize, Serialize};

use crate::limits::SHORT_TEXT;
use crate::{Validate, Validator};

/// A vendor-defined settings object (open keys, bounded size and depth).
pub type Settings = serde_json::Map<String, serde_json::Value>;

/// A piece of software and its version: a DFE's, or a spectrometer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SoftwareVersion {
    /// Product name, e.g. `Fiery XF`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: String,
    /// Version string as the vendor writes it, e.g. `7.3.2 build 104`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub vendor: Option<String>,
}

impl Validate for SoftwareVersion {
    fn validate_into(&self, v: &mut Validator) {
        v.text("name", &self.name, SHORT_TEXT);
        v.text("version", &self.version, SHORT_TEXT);
        v.opt_text("vendor", self.vendor.as_deref(), SHORT_TEXT);
    }
}

/// The operating environment a client application runs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OperatingEnvironment {
    /// e.g. `Windows`, `macOS`, `Android`, `iOS`, `Linux`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub os_name: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub os_version: String,
    /// CPU architecture, e.g. `x86_64`, `aarch64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub architecture: Option<String>,
    /// Version of the uploading application itself.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub app_version: String,
    /// Device or computer model, e.g. a phone model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub device_model: Option<String>,
    /// BCP 47 language tag of the user interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 35,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub locale: Option<String>,
}

impl Validate for OperatingEnvironment {
    fn validate_into(&self, v: &mut Validator) {
        v.text("os_name", &self.os_name, SHORT_TEXT);
        v.text("os_version", &self.os_version, SHORT_TEXT);
        v.opt_text("architecture", self.architecture.as_deref(), 64);
        v.text("app_version", &self.app_version, SHORT_TEXT);
        v.opt_text("device_model", self.device_model.as_deref(), SHORT_TEXT);
        v.opt_text("locale", self.locale.as_deref(), 35);
    }
}

/// An error, warning or status code with when it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CodeEvent {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Validate for CodeEvent {
    fn validate_into(&self, v: &mut Validator) {
        v.text("code", &self.code, 64);
        v.opt_text("description", self.description.as_deref(), SHORT_TEXT);
        if let Some(t) = self.occurred_at {
            v.past_time("occurred_at", t);
        }
    }
}

/// Checks an optional open settings block.
pub(crate) fn opt_settings(v: &mut Validator, name: &str, s: Option<&Settings>) {
    if let Some(s) = s {
        v.settings(name, s);
    }
}
