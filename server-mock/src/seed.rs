//! First-start demo data and the operator's "add an organisation" step.
//!
//! The demo organisation gets one user per role, an agent and a few printers, with passwords
//! generated at random for each data directory (never fixed in code) and shown once.

use crate::sql::OptionalExtension;
use ecsp_protocol::admin::{
    Actor, AgentCredentials, DeviceView, NewAgent, NewDevice, NewUser, Outcome,
};
use ecsp_protocol::agent::AgentType;
use ecsp_protocol::auth::Role;
use uuid::Uuid;

use crate::crypto::{DataKey, hash_password, new_password};
use crate::db::{Database, StoreError};
use crate::error::ApiError;
use crate::store::audit::{self, Event};
use crate::store::{accounts, devices};

/// A generated account, shown once. Debug output hides the password.
#[derive(Clone)]
pub struct DemoUser {
    pub email: String,
    pub role: Role,
    pub password: String,
}

impl std::fmt::Debug for DemoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoUser")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct DemoAccounts {
    pub organization_name: String,
    pub users: Vec<DemoUser>,
    pub agent: AgentCredentials,
    pub devices: Vec<DeviceView>,
}

pub const DEMO_ORG: &str = "Demo Print Shop";

/// The demo agent is a DC agent (a PC collecting from the printers designated to it): what
/// `ecsp-agent dc` runs as, and what `ecsp-agent simulate` reports as once enrolled with it.
pub const DEMO_AGENT_TYPE: AgentType = AgentType::DcAgent;

const DEMO_USERS: [(&str, &str, Role); 4] = [
    ("admin@demo.ecsp.example", "Demo Admin", Role::Admin),
    (
        "support@demo.ecsp.example",
        "Demo Service Support",
        Role::ServiceSupport,
    ),
    (
        "operator@demo.ecsp.example",
        "Demo Print Operator",
        Role::User,
    ),
    (
        "technician@demo.ecsp.example",
        "Demo Field Technician",
        Role::User,
    ),
];

const DEMO_DEVICES: [(&str, &str, &str); 3] = [
    ("Epson", "SureColor SC-P9500", "X4DEMO0001"),
    ("Epson", "SureColor SC-F10000", "X4DEMO0002"),
    ("Epson", "SureColor SC-S80600", "X4DEMO0003"),
];

/// Seeds the demo organisation into a database that has no organisation yet.
pub async fn seed_demo_if_empty(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
) -> Result<Option<DemoAccounts>, ApiError> {
    let seeded = db
        .read(|c| {
            c.query_row("SELECT 1 FROM organizations LIMIT 1", [], |_| Ok(()))
                .optional()
                .map_err(StoreError::from)
        })
        .await?;
    if seeded.is_some() {
        return Ok(None);
    }
    let passwords: Vec<String> = DEMO_USERS.iter().map(|_| new_password()).collect();
    let to_hash = passwords.clone();
    let hashes = tokio::task::spawn_blocking(move || {
        to_hash.iter().map(|p| hash_password(p)).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?;
    let key = key.clone();
    let accounts = db
        .write(move |c| {
            let (org_id, _) = accounts::create_org(c, &key, DEMO_ORG)?;
            let mut user_ids = Vec::new();
            let mut users = Vec::new();
            for ((email, name, role), (password, phc)) in
                DEMO_USERS.iter().zip(passwords.into_iter().zip(hashes))
            {
                let new = NewUser {
                    email: (*email).into(),
                    name: (*name).into(),
                    role: *role,
                    password: None,
                    partner_information: None,
                    client_information: None,
                };
                let view = accounts::create_user(c, &key, org_id, &new, &phc)?;
                user_ids.push(view.user_id);
                users.push(DemoUser {
                    email: (*email).into(),
                    role: *role,
                    password,
                });
            }
            let agent = devices::create_agent(
                c,
                &key,
                org_id,
                &NewAgent {
                    label: "Demo DC Agent".into(),
                    agent_type: DEMO_AGENT_TYPE,
                },
            )?;
            let mut device_views = Vec::new();
            for (manufacturer, model, serial) in DEMO_DEVICES {
                device_views.push(devices::register(
                    c,
                    org_id,
                    &NewDevice {
                        manufacturer: manufacturer.into(),
                        model: model.into(),
                        serial_number: serial.into(),
                        agent_id: Some(agent.agent_id),
                    },
                )?);
            }
            // Rights: support manages every printer; the operator two; the technician two.
            let admin_id = accounts::find_login(c, &key.email_index(DEMO_USERS[0].0))?
                .into_iter()
                .find(|r| r.org_id == org_id)
                .ok_or_else(|| StoreError::Corrupt("demo admin missing".into()))?;
            let admin = accounts::UserPrincipal {
                id: admin_id.id,
                public_id: admin_id.public_id,
                org_id,
                role: Role::Admin,
                session_family: String::new(),
            };
            let grants: [(usize, &[usize]); 3] = [(1, &[0, 1, 2]), (2, &[0, 1]), (3, &[0, 2])];
            for (user, devs) in grants {
                for d in devs {
                    devices::grant(c, &admin, user_ids[user], device_views[*d].device_id)?;
                }
            }
            audit::append(
                c,
                &Event::new(
                    Some(org_id),
                    Actor::System,
                    "seed.demo",
                    String::new(),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(DemoAccounts {
                organization_name: DEMO_ORG.into(),
                users,
                agent,
                devices: device_views,
            })
        })
        .await?;
    Ok(Some(accounts))
}

/// Adds an organisation with its first admin; returns the organisation id and the admin's
/// generated password (shown once).
pub async fn add_organization(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
    name: &str,
    admin_email: &str,
    admin_name: &str,
) -> Result<(Uuid, String), ApiError> {
    let mut v = ecsp_protocol::Validator::new(chrono::Utc::now());
    v.text("name", name, ecsp_protocol::limits::SHORT_TEXT);
    ecsp_protocol::admin::validate_email(&mut v, "admin_email", admin_email);
    v.text("admin_name", admin_name, ecsp_protocol::limits::SHORT_TEXT);
    v.finish()?;
    let password = new_password();
    let to_hash = password.clone();
    let phc = tokio::task::spawn_blocking(move || hash_password(&to_hash))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
    let key = key.clone();
    let (name, new) = (
        name.trim().to_owned(),
        NewUser {
            email: admin_email.trim().into(),
            name: admin_name.trim().into(),
            role: Role::Admin,
            password: None,
            partner_information: None,
            client_information: None,
        },
    );
    let org = db
        .write(move |c| {
            let (org_id, org_public) = accounts::create_org(c, &key, &name)?;
            accounts::create_user(c, &key, org_id, &new, &phc)?;
            audit::append(
                c,
                &Event::new(
                    Some(org_id),
                    Actor::System,
                    "organization.create",
                    format!("organization:{org_public}"),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(org_public)
        })
        .await?;
    Ok((org, password))
}

impl From<StoreError> for ResetError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

/// An account whose password [`reset_password`] replaced: the new password is shown once.
pub struct PasswordReset {
    pub user_id: Uuid,
    pub organization_name: String,
    pub password: String,
    /// Sessions (API token families' tokens and portal sessions) that were ended.
    pub sessions_ended: usize,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("user_id", &self.user_id)
            .field("sessions_ended", &self.sessions_ended)
            .finish_non_exhaustive()
    }
}

/// Why [`reset_password`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("no account uses the address {0}")]
    NoAccount(String),
    #[error(
        "{count} accounts in different organisations use this address ({names}); \
         say which with --organization"
    )]
    Ambiguous { count: usize, names: String },
    #[error("no account with this address in an organisation named \"{0}\"")]
    NotInOrganization(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The operator's way back in for an account whose password is lost (`ecsp-server
/// reset-password`): a new random password replaces the old one, every session of the account
/// ends, and the audit log records it (actor: system). The address may be registered in several
/// organisations; `organization` picks one by name when it is.
pub async fn reset_password(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
    email: &str,
    organization: Option<&str>,
) -> Result<PasswordReset, ResetError> {
    let password = new_password();
    let to_hash = password.clone();
    let phc = tokio::task::spawn_blocking(move || hash_password(&to_hash))
        .await
        .map_err(|e| ApiError::from(StoreError::Task(e.to_string())))?;
    let (index, key, shown, wanted) = (
        key.email_index(email),
        key.clone(),
        email.trim().to_owned(),
        organization.map(|o| o.trim().to_owned()),
    );
    db.write(move |c| {
        let (row, organization_name) = find_account(c, &key, &index, shown, wanted.as_deref())?;
        let sessions_ended = accounts::revoke_user(c, row.id).map_err(ApiError::from)?;
        accounts::set_password_hash(c, row.id, &phc).map_err(ApiError::from)?;
        audit::append(
            c,
            &Event::new(
                Some(row.org_id),
                Actor::System,
                "user.password_reset",
                format!("user:{}", row.public_id),
                Outcome::Success,
            ),
        )
        .map_err(ApiError::from)?;
        Ok(PasswordReset {
            user_id: row.public_id,
            organization_name,
            password,
            sessions_ended,
        })
    })
    .await
}

/// The one account an operator's command names by address (and organisation, when the address
/// has accounts in several), with its organisation's name.
fn find_account(
    c: &crate::sql::Connection,
    key: &DataKey,
    index: &[u8; 32],
    shown: String,
    wanted: Option<&str>,
) -> Result<(accounts::LoginRow, String), ResetError> {
    let mut candidates = Vec::new();
    for row in accounts::find_login(c, index)? {
        let name = organization_name(c, key, row.org_id)?;
        candidates.push((row, name));
    }
    match (wanted, candidates.len()) {
        (_, 0) => Err(ResetError::NoAccount(shown)),
        (None, 1) => Ok(candidates.remove(0)),
        (None, count) => {
            let names = candidates
                .iter()
                .map(|(_, n)| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            Err(ResetError::Ambiguous { count, names })
        }
        (Some(org), _) => match candidates.iter().position(|(_, n)| n == org) {
            Some(at) => Ok(candidates.remove(at)),
            None => Err(ResetError::NotInOrganization(org.to_owned())),
        },
    }
}

/// `ecsp-server unlock-sign-in`: a one-time sign-in unlock code for the account (see
/// `crate::unlock`), audited as issued by the system; returns it with the organisation's name.
pub async fn unlock_sign_in(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
    email: &str,
    organization: Option<&str>,
) -> Result<(crate::unlock::Issued, String), ResetError> {
    let (index, key, shown, wanted) = (
        key.email_index(email),
        key.clone(),
        email.trim().to_owned(),
        organization.map(|o| o.trim().to_owned()),
    );
    db.write(move |c| {
        let (row, organization_name) = find_account(c, &key, &index, shown, wanted.as_deref())?;
        let issued =
            crate::unlock::issue(c, &key, row.id, row.public_id).map_err(ApiError::from)?;
        audit::append(
            c,
            &Event::new(
                Some(row.org_id),
                Actor::System,
                "admin.user.unlock",
                format!("user:{}", row.public_id),
                Outcome::Success,
            ),
        )
        .map_err(ApiError::from)?;
        Ok((issued, organization_name))
    })
    .await
}

/// An organisation's name, opened from its sealed column.
fn organization_name(
    c: &crate::sql::Connection,
    key: &DataKey,
    org_id: i64,
) -> Result<String, ApiError> {
    let (public_id, sealed): (String, Option<Vec<u8>>) = c
        .query_row(
            "SELECT public_id, name_enc FROM organizations WHERE id = ?1",
            [org_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::from)?;
    let public_id = crate::store::parse_uuid(&public_id)?;
    Ok(sealed
        .and_then(|s| key.open_str(&format!("organizations.name:{public_id}"), &s))
        .unwrap_or_default())
}
