//! Organisation administration and the portal's views: users, rights, devices, agents, audit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::AgentType;
use crate::auth::Role;
use crate::limits::SHORT_TEXT;
use crate::{Rule, Validate, Validator};

/// `POST /api/v1/admin/users`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[cfg_attr(feature = "openapi", schema(format = "email", max_length = 254))]
    pub email: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: String,
    pub role: Role,
    /// At least 12 characters. Leave out to have the server generate one, returned once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 256))]
    pub password: Option<String>,
    /// The dealer or partner this user belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub partner_information: Option<String>,
    /// The customer (client) this user works for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub client_information: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Shortest password a user may be given.
pub const MIN_PASSWORD_CHARS: usize = 12;

impl Validate for NewUser {
    fn validate_into(&self, v: &mut Validator) {
        validate_email(v, "email", &self.email);
        v.text("name", &self.name, SHORT_TEXT);
        if let Some(p) = &self.password {
            let n = p.chars().count();
            if !(MIN_PASSWORD_CHARS..=256).contains(&n) {
                v.broke(
                    "password",
                    Rule::LengthBetween {
                        min: MIN_PASSWORD_CHARS,
                        max: 256,
                    },
                    format!("must be {MIN_PASSWORD_CHARS} to 256 characters"),
                );
            }
        }
        v.opt_text(
            "partner_information",
            self.partner_information.as_deref(),
            SHORT_TEXT,
        );
        v.opt_text(
            "client_information",
            self.client_information.as_deref(),
            SHORT_TEXT,
        );
    }
}

/// A syntactic e-mail check: one `@`, something on each side, a dot in the domain.
pub fn validate_email(v: &mut Validator, name: &str, email: &str) {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if !ok {
        v.broke(
            name,
            Rule::Email,
            "must be an e-mail address such as `name@example.com`",
        );
    }
}

/// `PATCH /api/v1/admin/users/{user_id}`: the fields to change; absent or null ones stay as
/// they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Disabling a user revokes all their sessions at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A user as their organisation's admin sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_information: Option<String>,
}

/// The answer to creating a user: the generated password is shown this once only.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatedUser {
    pub user: UserView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser")
            .field("user", &self.user.user_id)
            .finish_non_exhaustive()
    }
}

/// `POST /api/v1/admin/devices`: register a printer of the organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub manufacturer: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub model: String,
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 64,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub serial_number: String,
    /// The agent designated to collect from this device, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
}

impl Validate for NewDevice {
    fn validate_into(&self, v: &mut Validator) {
        v.text("manufacturer", &self.manufacturer, SHORT_TEXT);
        v.text("model", &self.model, SHORT_TEXT);
        v.text("serial_number", &self.serial_number, 64);
    }
}

/// A device (printer) as a user with rights to it sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceView {
    pub device_id: Uuid,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    pub registered_at: DateTime<Utc>,
    /// The device group it is filed under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    /// Where it stands by its latest report (`GET /api/v1/devices/{device_id}`, and the list
    /// with `?with_state=true`); absent when it has reported nothing yet, or not asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<crate::agent::DeviceState>,
}

/// A group of an organisation's devices (a site, a floor, a customer), for filtering the fleet.
/// A device is in at most one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    pub group_id: Uuid,
    pub name: String,
    /// Devices in the group that the caller may see.
    pub devices: u32,
}

/// `POST /api/v1/admin/groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewDeviceGroup {
    /// Unique in the organisation, ignoring case.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub name: String,
}

impl Validate for NewDeviceGroup {
    fn validate_into(&self, v: &mut Validator) {
        v.text("name", &self.name, 128);
    }
}

/// `PUT /api/v1/admin/devices/{device_id}/group`: files a device under a group, or under none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupAssignment {
    /// `null` takes the device out of its group.
    pub group_id: Option<Uuid>,
}

impl Validate for GroupAssignment {
    fn validate_into(&self, _: &mut Validator) {}
}

/// `POST /api/v1/admin/agents`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// A label for people, e.g. the PC's name or the printer's location.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 256,
            pattern = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$"
        )
    )]
    pub label: String,
    pub agent_type: AgentType,
}

impl Validate for NewAgent {
    fn validate_into(&self, v: &mut Validator) {
        v.text("label", &self.label, SHORT_TEXT);
    }
}

/// An agent's credentials, shown once when it is created: configure them into the agent.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentCredentials {
    pub agent_id: Uuid,
    /// Sent as `Authorization: Bearer <secret>` by the agent.
    pub secret: String,
}

impl std::fmt::Debug for AgentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCredentials")
            .field("agent_id", &self.agent_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// An agent as its organisation's admin sees it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentView {
    pub agent_id: Uuid,
    pub label: String,
    pub agent_type: AgentType,
    /// A disabled agent's secret is refused on HTTPS and MQTT until it is enabled again.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// When the agent last authenticated (HTTPS or MQTT), to the minute; `null` if never.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Whether it holds an MQTT connection to this server now.
    pub connected: bool,
}

/// `PATCH /api/v1/admin/agents/{agent_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    /// Disabling refuses the agent's secret at once and closes its MQTT connection.
    pub disabled: bool,
}

impl Validate for AgentUpdate {
    fn validate_into(&self, _: &mut Validator) {}
}

/// Who did something recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Actor {
    User(Uuid),
    Agent(Uuid),
    /// A request that did not authenticate.
    Anonymous,
    /// The server itself (start-up, seeding).
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused for lack of rights, or a foreign object.
    Denied,
    /// Refused for bad input or a failed sign-in.
    Failed,
}

/// One audit log row. Never holds passwords, tokens or personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// e.g. `auth.login`, `device.read`, `upload.dfe`.
    pub action: String,
    /// The object acted on, e.g. `device:<uuid>`; empty for none.
    pub object: String,
    pub outcome: Outcome,
}

/// A merge patch (RFC 7396): what is absent (or null) stays as it is, so an empty one is valid
/// and changes nothing, as its schema says.
impl Validate for UserUpdate {
    fn validate_into(&self, _v: &mut Validator) {}
}
