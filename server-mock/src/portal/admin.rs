//! Administration pages: users and roles, device rights, agent enrolment, the audit log (filter,
//! page, CSV export). Each one calls the store function the admin API calls, inside the same
//! audited read or write, under the same action names; anyone but an administrator gets the
//! "not found" page.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ecsp_protocol::Validate;
use ecsp_protocol::admin::{
    Actor, AuditEntry, NewAgent, NewDeviceGroup, NewUser, Outcome, UserUpdate,
};
use ecsp_protocol::agent::AgentType;
use ecsp_protocol::auth::Role;
use serde::Deserialize;
use uuid::Uuid;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::pages::{Nav, failure, form_expired, nav, render, see_other, when};
use crate::agent_admin;
use crate::api::AppState;
use crate::crypto::{hash_password, new_password};
use crate::error::ApiError;
use crate::store::audit::ObjectTable;
use crate::store::{accounts, audit, devices, groups};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::remote_ops::{OperationKind, OperationState};
use ecsp_protocol::upload::RecordKind;
use std::collections::HashMap;

/// Audit rows per page, and the most a CSV export holds.
const AUDIT_PER_PAGE: u32 = 50;
const AUDIT_EXPORT_MAX: u32 = 100_000;

/// The browser's user, if an administrator; else the refusal, audited, as "not found".
async fn admin_only(state: &AppState, browser: &Browser, action: &'static str) -> Option<Response> {
    if browser.who.role == Role::Admin {
        return None;
    }
    let who = &browser.who;
    let err = state
        .audit_refusal(
            Some(who.org_id),
            Actor::User(who.public_id),
            action,
            String::new(),
            ApiError::Forbidden("administration needs the admin role"),
        )
        .await;
    Some(failure(browser.lang, err))
}

fn actor(browser: &Browser) -> Actor {
    Actor::User(browser.who.public_id)
}

/// An administration page's read: refused (audited, "not found") for anyone but an
/// administrator, else `read` inside an audited read under `action`; a failure is its page.
async fn admin_read<T: Send + 'static>(
    state: &AppState,
    browser: &Browser,
    action: &'static str,
    read: impl FnOnce(&crate::sql::Connection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    if let Some(refused) = admin_only(state, browser, action).await {
        return Err(refused);
    }
    let org = browser.who.org_id;
    state
        .audited_read(Some(org), actor(browser), action, String::new(), read)
        .await
        .map_err(|e| failure(browser.lang, e))
}

fn role_options(t: &Messages) -> Vec<(&'static str, &'static str)> {
    [Role::User, Role::ServiceSupport, Role::Admin]
        .into_iter()
        .map(|r| (r.as_str(), t.role(r)))
        .collect()
}

// ---- users ---------------------------------------------------------------------------------

#[derive(Debug)]
struct UserRow {
    id: Uuid,
    name: String,
    email: String,
    role: &'static str,
    disabled: bool,
    me: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_users.html")]
struct UsersPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    roles: Vec<(&'static str, &'static str)>,
    users: Vec<UserRow>,
    draft: UserDraft,
}

/// What the administrator typed into the new-user form, shown again with what was wrong when
/// the server refused it, so nothing typed is lost.
#[derive(Default)]
struct UserDraft {
    email: String,
    name: String,
    role: &'static str,
    errors: Vec<String>,
}

pub async fn users(State(state): State<AppState>, browser: Browser) -> Response {
    users_page(&state, &browser, UserDraft::default(), StatusCode::OK).await
}

async fn users_page(
    state: &AppState,
    browser: &Browser,
    draft: UserDraft,
    status: StatusCode,
) -> Response {
    let (key, org) = (state.key.clone(), browser.who.org_id);
    let read = admin_read(state, browser, "admin.user.list", move |c| {
        accounts::list_users(c, &key, org)
    });
    let users = match read.await {
        Ok(u) => u,
        Err(page) => return page,
    };
    let t = browser.lang.messages();
    render(
        status,
        &UsersPage {
            t,
            lang: browser.lang,
            nav: nav(browser, "admin"),
            back: "/portal/admin/users".into(),
            csrf: browser.csrf(),
            roles: role_options(t),
            users: users
                .into_iter()
                .map(|u| UserRow {
                    me: u.user_id == browser.who.public_id,
                    id: u.user_id,
                    name: u.name,
                    email: u.email,
                    role: u.role.as_str(),
                    disabled: u.disabled,
                })
                .collect(),
            draft,
        },
    )
}

#[derive(Deserialize)]
pub struct NewUserForm {
    csrf: String,
    email: String,
    name: String,
    role: String,
}

impl std::fmt::Debug for NewUserForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewUserForm { .. }")
    }
}

#[derive(Template)]
#[template(path = "portal/admin_secret.html")]
struct SecretPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    heading: &'static str,
    rows: Vec<(&'static str, String)>,
    hint: Option<&'static str>,
    next: &'static str,
}

/// Adds a user with a generated password, shown once.
pub async fn create_user(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<NewUserForm>,
) -> Response {
    let lang = browser.lang;
    if let Some(refused) = admin_only(&state, &browser, "admin.user.create").await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let new = NewUser {
        email: form.email.trim().to_owned(),
        name: form.name.trim().to_owned(),
        role: Role::parse(&form.role).unwrap_or(Role::User),
        password: None,
        partner_information: None,
        client_information: None,
    };
    let t = lang.messages();
    let role = new.role.as_str();
    let draft = |errors: Vec<String>| UserDraft {
        email: form.email.clone(),
        name: form.name.clone(),
        role,
        errors,
    };
    if let Err(e) = new.validate(chrono::Utc::now()) {
        let errors = e.0.iter().map(|e| t.field_error(e)).collect();
        return users_page(
            &state,
            &browser,
            draft(errors),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let password = new_password();
    let hashed = password.clone();
    let phc = match state.hash_work(move || hash_password(&hashed)).await {
        Ok(p) => p,
        Err(e) => return failure(lang, e),
    };
    let (key, org) = (state.key.clone(), browser.who.org_id);
    let created = state
        .audited_write(
            Some(org),
            actor(&browser),
            "admin.user.create",
            String::new(),
            move |c| accounts::create_user(c, &key, org, &new, &phc),
        )
        .await;
    match created {
        Ok(user) => render(
            StatusCode::CREATED,
            &SecretPage {
                t,
                lang,
                nav: nav(&browser, "admin"),
                back: "/portal/admin/users".into(),
                heading: t.create_user,
                rows: vec![
                    (t.email, user.email),
                    (t.role, t.role(user.role).to_owned()),
                    (t.generated_password, password),
                ],
                hint: None,
                next: "/portal/admin/users",
            },
        ),
        // The address is someone's already: the form again, with the reason.
        Err(ApiError::Conflict(why)) => {
            let errors = vec![t.refusal(&why)];
            users_page(&state, &browser, draft(errors), StatusCode::CONFLICT).await
        }
        Err(e) => failure(lang, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct UserUpdateForm {
    csrf: String,
    role: Option<String>,
    disabled: Option<String>,
}

/// Changes a user's role or enables/disables them (the store refuses locking oneself out).
pub async fn update_user(
    State(state): State<AppState>,
    browser: Browser,
    Path(user): Path<String>,
    Form(form): Form<UserUpdateForm>,
) -> Response {
    let lang = browser.lang;
    if let Some(refused) = admin_only(&state, &browser, "admin.user.update").await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let Ok(user) = Uuid::parse_str(&user) else {
        return failure(lang, ApiError::NotFound("user"));
    };
    let update = UserUpdate {
        role: form.role.as_deref().and_then(Role::parse),
        disabled: form.disabled.as_deref().map(|d| d == "true"),
    };
    let (key, admin) = (state.key.clone(), browser.who.clone());
    let updated = state
        .audited_write(
            Some(admin.org_id),
            actor(&browser),
            "admin.user.update",
            format!("user:{user}"),
            move |c| accounts::update_user(c, &key, &admin, user, &update),
        )
        .await;
    match updated {
        Ok(_) => see_other("/portal/admin/users"),
        Err(e) => refused_or_failure(lang, e),
    }
}

/// A rule the store applied (409/422) shown with its reason; anything else as usual.
pub(super) fn refused_or_failure(lang: Lang, err: ApiError) -> Response {
    match err {
        ApiError::Conflict(why) => {
            super::operations::refused_page(lang, lang.messages().refusal(&why))
        }
        ApiError::Validation(errors) => super::operations::refused_page(
            lang,
            errors
                .iter()
                .map(|e| lang.messages().field_error(e))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => failure(lang, other),
    }
}

// ---- device rights -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/admin_rights.html")]
struct RightsPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    users: Vec<(Uuid, String)>,
    devices: Vec<(Uuid, String)>,
    grants: Vec<(Uuid, String, Uuid, String)>,
}

pub async fn rights(State(state): State<AppState>, browser: Browser) -> Response {
    let (key, who) = (state.key.clone(), browser.who.clone());
    let read = admin_read(&state, &browser, "admin.rights.read", move |c| {
        let users = accounts::list_users(c, &key, who.org_id)?;
        let devices = devices::list_visible(c, &who)?;
        let grants = devices::grants(c, who.org_id)?;
        Ok((users, devices, grants))
    });
    let (users, devices, grants) = match read.await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let user_name = |id: &Uuid| {
        users
            .iter()
            .find(|u| &u.user_id == id)
            .map(|u| format!("{} <{}>", u.name, u.email))
            .unwrap_or_default()
    };
    let device_name = |id: &Uuid| {
        devices
            .iter()
            .find(|d| &d.device_id == id)
            .map(|d| format!("{} {}", d.model, d.serial_number))
            .unwrap_or_default()
    };
    let t = browser.lang.messages();
    render(
        StatusCode::OK,
        &RightsPage {
            t,
            lang: browser.lang,
            nav: nav(&browser, "admin"),
            back: "/portal/admin/rights".into(),
            csrf: browser.csrf(),
            grants: grants
                .iter()
                .map(|(u, d)| (*u, user_name(u), *d, device_name(d)))
                .collect(),
            users: users
                .iter()
                .filter(|u| u.role != Role::Admin)
                .map(|u| (u.user_id, format!("{} <{}>", u.name, u.email)))
                .collect(),
            devices: devices
                .iter()
                .map(|d| (d.device_id, format!("{} {}", d.model, d.serial_number)))
                .collect(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct RightForm {
    csrf: String,
    user: String,
    device: String,
    action: String,
}

pub async fn change_right(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<RightForm>,
) -> Response {
    let lang = browser.lang;
    let grant = form.action == "grant";
    let action = if grant {
        "admin.device.grant"
    } else {
        "admin.device.revoke"
    };
    if let Some(refused) = admin_only(&state, &browser, action).await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let (Ok(user), Ok(device)) = (Uuid::parse_str(&form.user), Uuid::parse_str(&form.device))
    else {
        return failure(lang, ApiError::NotFound("user or device"));
    };
    let admin = browser.who.clone();
    let changed = state
        .audited_write(
            Some(admin.org_id),
            actor(&browser),
            action,
            format!("user:{user}:device:{device}"),
            move |c| {
                if grant {
                    devices::grant(c, &admin, user, device)
                } else {
                    devices::revoke_grant(c, &admin, user, device)
                }
            },
        )
        .await;
    match changed {
        Ok(()) => see_other("/portal/admin/rights"),
        Err(e) => refused_or_failure(lang, e),
    }
}

// ---- device groups -------------------------------------------------------------------------

#[derive(Debug)]
struct GroupedDevice {
    id: Uuid,
    name: String,
    group: Option<Uuid>,
}

#[derive(Template)]
#[template(path = "portal/admin_groups.html")]
struct GroupsPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    groups: Vec<ecsp_protocol::admin::DeviceGroup>,
    devices: Vec<GroupedDevice>,
}

pub async fn groups(State(state): State<AppState>, browser: Browser) -> Response {
    let (key, who) = (state.key.clone(), browser.who.clone());
    let read = admin_read(&state, &browser, "admin.group.list", move |c| {
        Ok((
            groups::list(c, &key, &who)?,
            devices::list_visible(c, &who)?,
        ))
    });
    let (groups, devices) = match read.await {
        Ok(r) => r,
        Err(page) => return page,
    };
    render(
        StatusCode::OK,
        &GroupsPage {
            t: browser.lang.messages(),
            lang: browser.lang,
            nav: nav(&browser, "admin"),
            back: "/portal/admin/groups".into(),
            csrf: browser.csrf(),
            groups,
            devices: devices
                .into_iter()
                .map(|d| GroupedDevice {
                    id: d.device_id,
                    name: format!("{} {}", d.model, d.serial_number),
                    group: d.group_id,
                })
                .collect(),
        },
    )
}

/// Deleting a group cannot be undone: the page asks first, naming the group.
async fn ask_delete_group(state: &AppState, browser: &Browser, group: Uuid) -> Response {
    let lang = browser.lang;
    let (key, who) = (state.key.clone(), browser.who.clone());
    let listed = admin_read(state, browser, "admin.group.list", move |c| {
        groups::list(c, &key, &who)
    })
    .await;
    let listed = match listed {
        Ok(l) => l,
        Err(page) => return page,
    };
    let Some(found) = listed.into_iter().find(|g| g.group_id == group) else {
        return failure(lang, ApiError::NotFound("device group"));
    };
    let t = lang.messages();
    super::confirm::page(
        browser,
        "admin",
        super::confirm::Ask {
            heading: t.delete_group.to_owned(),
            question: lang
                .terms()
                .confirm_delete_group
                .replace("{group}", &found.name),
            action: "/portal/admin/groups".into(),
            fields: vec![("action", "delete".into()), ("group", group.to_string())],
            confirm: t.delete_group,
            cancel_href: "/portal/admin/groups".into(),
        },
    )
}

/// `action=create` with a `name`, or `action=delete` with a `group`.
#[derive(Debug, Deserialize)]
pub struct GroupForm {
    csrf: String,
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    group: String,
    /// `1` once deleting the group was confirmed.
    confirmed: Option<String>,
}

pub async fn change_group(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<GroupForm>,
) -> Response {
    let lang = browser.lang;
    let create = form.action == "create";
    let action = if create {
        "admin.group.create"
    } else {
        "admin.group.delete"
    };
    if let Some(refused) = admin_only(&state, &browser, action).await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let (key, admin) = (state.key.clone(), browser.who.clone());
    let changed = if create {
        let new = NewDeviceGroup {
            name: form.name.trim().to_owned(),
        };
        if let Err(e) = new.validate(chrono::Utc::now()) {
            return refused_or_failure(lang, ApiError::Validation(e.0));
        }
        state
            .audited_write(
                Some(admin.org_id),
                actor(&browser),
                action,
                String::new(),
                move |c| groups::create(c, &key, &admin, &new).map(|_| ()),
            )
            .await
    } else {
        let Ok(group) = Uuid::parse_str(&form.group) else {
            return failure(lang, ApiError::NotFound("device group"));
        };
        if form.confirmed.as_deref() != Some("1") {
            return ask_delete_group(&state, &browser, group).await;
        }
        state
            .audited_write(
                Some(admin.org_id),
                actor(&browser),
                action,
                format!("group:{group}"),
                move |c| groups::delete(c, &admin, group),
            )
            .await
    };
    match changed {
        Ok(()) => see_other("/portal/admin/groups"),
        Err(e) => refused_or_failure(lang, e),
    }
}

/// Files `device` under `group` (empty: under none).
#[derive(Debug, Deserialize)]
pub struct AssignForm {
    csrf: String,
    device: String,
    #[serde(default)]
    group: String,
}

pub async fn assign_group(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<AssignForm>,
) -> Response {
    let lang = browser.lang;
    if let Some(refused) = admin_only(&state, &browser, "admin.group.assign").await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let Ok(device) = Uuid::parse_str(&form.device) else {
        return failure(lang, ApiError::NotFound("device"));
    };
    let group = match form.group.as_str() {
        "" => None,
        g => match Uuid::parse_str(g) {
            Ok(g) => Some(g),
            Err(_) => return failure(lang, ApiError::NotFound("device group")),
        },
    };
    let admin = browser.who.clone();
    let changed = state
        .audited_write(
            Some(admin.org_id),
            actor(&browser),
            "admin.group.assign",
            format!("device:{device}"),
            move |c| groups::assign(c, &admin, device, group),
        )
        .await;
    match changed {
        Ok(()) => see_other("/portal/admin/groups"),
        Err(e) => refused_or_failure(lang, e),
    }
}

// ---- agents --------------------------------------------------------------------------------

#[derive(Debug)]
struct AgentRow {
    id: Uuid,
    label: String,
    kind: &'static str,
    created_at: String,
    /// When it last authenticated, or "never".
    last_seen: String,
    connected: bool,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "portal/admin_agents.html")]
struct AgentsPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    agents: Vec<AgentRow>,
}

pub async fn agents(State(state): State<AppState>, browser: Browser) -> Response {
    if let Some(refused) = admin_only(&state, &browser, "admin.agent.list").await {
        return refused;
    }
    let agents = match agent_admin::list(&state, browser.who.org_id, actor(&browser)).await {
        Ok(a) => a,
        Err(e) => return failure(browser.lang, e),
    };
    let t = browser.lang.messages();
    render(
        StatusCode::OK,
        &AgentsPage {
            t,
            lang: browser.lang,
            nav: nav(&browser, "admin"),
            back: "/portal/admin/agents".into(),
            csrf: browser.csrf(),
            agents: agents
                .into_iter()
                .map(|a| AgentRow {
                    id: a.agent_id,
                    label: a.label,
                    kind: match a.agent_type {
                        AgentType::EsAgent => t.agent_es,
                        AgentType::DcAgent => t.agent_dc,
                    },
                    created_at: when(a.created_at),
                    last_seen: a.last_seen_at.map_or_else(|| t.never_seen.to_owned(), when),
                    connected: a.connected,
                    disabled: a.disabled,
                })
                .collect(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct AgentChangeForm {
    csrf: String,
    /// `disable`, `enable`, `rotate` or `delete`.
    change: String,
    /// The box ticked to delete.
    confirm: Option<String>,
}

/// Disables, enables or deletes an agent, or gives it a new secret (shown once).
pub async fn change_agent(
    State(state): State<AppState>,
    browser: Browser,
    Path(agent): Path<String>,
    Form(form): Form<AgentChangeForm>,
) -> Response {
    let lang = browser.lang;
    if let Some(refused) = admin_only(&state, &browser, "admin.agent.update").await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let agent = Uuid::parse_str(&agent).map_err(|_| ApiError::NotFound("agent"));
    let (org, who) = (browser.who.org_id, actor(&browser));
    let t = lang.messages();
    let done = match form.change.as_str() {
        "disable" | "enable" => {
            agent_admin::set_disabled(&state, org, who, agent, form.change == "disable")
                .await
                .map(drop)
        }
        "delete" if form.confirm.is_some() => agent_admin::delete(&state, org, who, agent).await,
        "delete" => {
            return super::operations::refused_page(lang, t.agent_delete_confirm.to_owned());
        }
        "rotate" => {
            return match agent_admin::rotate(&state, org, who, agent).await {
                Ok(credentials) => render(
                    StatusCode::OK,
                    &SecretPage {
                        t,
                        lang,
                        nav: nav(&browser, "admin"),
                        back: "/portal/admin/agents".into(),
                        heading: t.agent_rotated,
                        rows: vec![
                            (t.agent_id, credentials.agent_id.to_string()),
                            (t.agent_secret, credentials.secret.clone()),
                        ],
                        hint: Some(t.rotate_hint),
                        next: "/portal/admin/agents",
                    },
                ),
                Err(e) => failure(lang, e),
            };
        }
        _ => Err(ApiError::field("change", "unknown change")),
    };
    match done {
        Ok(()) => see_other("/portal/admin/agents"),
        Err(e) => refused_or_failure(lang, e),
    }
}

#[derive(Debug, Deserialize)]
pub struct NewAgentForm {
    csrf: String,
    label: String,
    agent_type: String,
}

/// Enrols an agent: its id and secret are shown once.
pub async fn create_agent(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<NewAgentForm>,
) -> Response {
    let lang = browser.lang;
    if let Some(refused) = admin_only(&state, &browser, "admin.agent.create").await {
        return refused;
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let new = NewAgent {
        label: form.label.trim().to_owned(),
        agent_type: if form.agent_type == "es_agent" {
            AgentType::EsAgent
        } else {
            AgentType::DcAgent
        },
    };
    if let Err(e) = new.validate(chrono::Utc::now()) {
        return refused_or_failure(lang, ApiError::Validation(e.0));
    }
    let (key, org) = (state.key.clone(), browser.who.org_id);
    let created = state
        .audited_write(
            Some(org),
            actor(&browser),
            "admin.agent.create",
            String::new(),
            move |c| devices::create_agent(c, &key, org, &new),
        )
        .await;
    if created.is_ok() {
        state.remote.accounts_changed();
    }
    let t = lang.messages();
    match created {
        Ok(credentials) => render(
            StatusCode::CREATED,
            &SecretPage {
                t,
                lang,
                nav: nav(&browser, "admin"),
                back: "/portal/admin/agents".into(),
                heading: t.create_agent,
                rows: vec![
                    (t.agent_id, credentials.agent_id.to_string()),
                    (t.agent_secret, credentials.secret.clone()),
                ],
                hint: Some(t.enrol_hint),
                next: "/portal/admin/agents",
            },
        ),
        Err(e) => failure(lang, e),
    }
}

// ---- audit log -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct AuditFilter {
    action: Option<String>,
    outcome: Option<String>,
    before: Option<i64>,
    /// `1`: also list successful reads (page views, listings), hidden by default.
    reads: Option<String>,
}

impl AuditFilter {
    fn action(&self) -> Option<String> {
        self.action
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.chars().take(64).collect())
    }

    fn outcome(&self) -> Option<Outcome> {
        match self.outcome.as_deref() {
            Some("success") => Some(Outcome::Success),
            Some("denied") => Some(Outcome::Denied),
            Some("failed") => Some(Outcome::Failed),
            _ => None,
        }
    }

    fn show_reads(&self) -> bool {
        self.reads.as_deref() == Some("1")
    }

    /// The filter as a query string (without the page), to keep it across pages and exports.
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if self.show_reads() {
            q.append_pair("reads", "1");
        }
        if let Some(a) = self.action() {
            q.append_pair("action", &a);
        }
        if let Some(o) = self.outcome.as_deref().filter(|_| self.outcome().is_some()) {
            q.append_pair("outcome", o);
        }
        q.finish()
    }
}

/// What the audit page names people and things by: users by name and e-mail address, agents by
/// label, printers by model and serial number, records and operations by their kind and
/// printer (the log itself keeps ids only).
#[derive(Debug, Default)]
struct AuditNames {
    users: HashMap<Uuid, (String, String)>,
    agents: HashMap<Uuid, String>,
    devices: HashMap<Uuid, String>,
    /// Record and operation ids of the page: their kind and device.
    records: HashMap<Uuid, (String, Uuid)>,
    operations: HashMap<Uuid, (String, Uuid)>,
}

fn actor_words(lang: Lang, actor: &Actor, names: &AuditNames) -> String {
    let terms = lang.terms();
    match actor {
        Actor::User(id) => match names.users.get(id) {
            Some((name, email)) => format!("{name} <{email}>"),
            None => terms.actor_former_user.to_owned(),
        },
        Actor::Agent(id) => match names.agents.get(id) {
            Some(label) => format!("{} {label}", terms.actor_agent),
            None => terms.actor_removed_agent.to_owned(),
        },
        Actor::Anonymous => terms.actor_anonymous.to_owned(),
        Actor::System => terms.actor_system.to_owned(),
    }
}

/// An object as the audit page names it, never by an id: a user, an agent, a printer by its
/// name; a record or an operation by its kind and printer (an operation's new state after it,
/// a requested one's kind after the printer); a device right as user and printer; a consent
/// decision as the user and the purpose's name; anything not
/// found (gone since, or a refused probe's id) by what it is. What the page has no word
/// for (a refused MQTT topic, a malformed request) is shown as logged.
fn object_words(lang: Lang, object: &str, names: &AuditNames) -> String {
    let (t, terms) = (lang.messages(), lang.terms());
    let Some((kind, rest)) = object.split_once(':') else {
        return object.to_owned();
    };
    let (id, detail) = rest.split_once(':').unwrap_or((rest, ""));
    if kind == "devices" {
        return terms.object_printers.replace("{n}", id);
    }
    let Ok(id) = Uuid::parse_str(id) else {
        return object.to_owned();
    };
    let printer = |device: &Uuid| {
        names
            .devices
            .get(device)
            .cloned()
            .unwrap_or_else(|| terms.object_unknown_printer.to_owned())
    };
    let of_printer = |kind: &str, device: &Uuid| {
        terms
            .object_of_printer
            .replace("{kind}", kind)
            .replace("{printer}", &printer(device))
    };
    let name = match kind {
        "user" => names.users.get(&id).map_or_else(
            || terms.object_unknown_user.to_owned(),
            |(name, email)| format!("{name} <{email}>"),
        ),
        "agent" => names
            .agents
            .get(&id)
            .cloned()
            .unwrap_or_else(|| terms.object_unknown_agent.to_owned()),
        "device" => printer(&id),
        "record" => match names.records.get(&id) {
            Some((kind, device)) => {
                let kind = match RecordKind::parse(kind) {
                    Some(RecordKind::DeviceData) => t.kind_device_data,
                    Some(RecordKind::Dfe) => t.kind_dfe,
                    Some(RecordKind::Measurement) => t.kind_measurement,
                    None => terms.object_record,
                };
                of_printer(kind, device)
            }
            None => terms.object_record.to_owned(),
        },
        "operation" => {
            let what = match names.operations.get(&id) {
                Some((kind, device)) => {
                    let kind = OperationKind::parse(kind)
                        .map_or(terms.object_operation, |k| t.operation_kind(k));
                    of_printer(kind, device)
                }
                None => terms.object_operation.to_owned(),
            };
            return match OperationState::parse(detail) {
                Some(state) => format!("{what} → {}", t.operation_state(state)),
                None => what,
            };
        }
        "group" => terms.object_group.to_owned(),
        "organization" => terms.object_organisation.to_owned(),
        _ => return object.to_owned(),
    };
    // A device right (`user:<id>:device:<id>`) or an operation requested on a printer
    // (`device:<id>:<kind>`).
    if let Some(kind) = OperationKind::parse(detail).filter(|_| kind == "device") {
        return format!("{name} ({})", t.operation_kind(kind));
    }
    // A consent decision: `user:<id>:<purpose>`.
    if let Ok(purpose) = detail.parse::<Purpose>() {
        return format!("{name} ({})", lang.purpose_name(purpose));
    }
    match detail.split_once(':') {
        None if detail.is_empty() => name,
        Some(("device", device)) => match Uuid::parse_str(device) {
            Ok(device) => format!("{name} → {}", printer(&device)),
            Err(_) => format!("{name} ({detail})"),
        },
        _ => format!("{name} ({detail})"),
    }
}

fn actor_text(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("user:{id}"),
        Actor::Agent(id) => format!("agent:{id}"),
        Actor::Anonymous => "anonymous".into(),
        Actor::System => "system".into(),
    }
}

#[derive(Debug)]
struct AuditRow {
    seq: i64,
    /// In the viewer's time zone; `at_iso` is the instant for the `<time>` element.
    at: String,
    at_iso: String,
    actor: String,
    action: String,
    /// The action in words; `None` for one the catalogue lacks (shown as logged).
    action_words: Option<&'static str>,
    object: String,
    outcome: &'static str,
    outcome_key: &'static str,
}

#[derive(Template)]
#[template(path = "portal/admin_audit.html")]
struct AuditPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    action: String,
    outcome: String,
    outcomes: Vec<(&'static str, &'static str)>,
    query: String,
    show_reads: bool,
    rows: Vec<AuditRow>,
    older: Option<i64>,
    paged: bool,
}

async fn read_audit(
    state: &AppState,
    browser: &Browser,
    filter: &AuditFilter,
    limit: u32,
    with_names: bool,
) -> Result<(Vec<AuditEntry>, AuditNames), ApiError> {
    let org = browser.who.org_id;
    let who = browser.who.clone();
    let (before, action, outcome) = (filter.before, filter.action(), filter.outcome());
    let hide_reads = !filter.show_reads();
    let key = state.key.clone();
    state
        .audited_read(
            Some(org),
            actor(browser),
            "audit.read",
            String::new(),
            move |c| {
                let entries = audit::page_newest(
                    c,
                    org,
                    before,
                    limit,
                    action.as_deref(),
                    outcome,
                    hide_reads,
                )?;
                if !with_names {
                    // The export keeps ids, as the log does: no names to open.
                    return Ok((entries, AuditNames::default()));
                }
                // Only the names the page refers to are opened (each a decryption), not the
                // whole organisation's.
                let ids_of = |kind: &str| -> Vec<Uuid> {
                    let prefix = format!("{kind}:");
                    let mut ids: Vec<Uuid> = entries
                        .iter()
                        .flat_map(|e| {
                            // An object, and for a device right its second id.
                            let second = e.object.split_once(":device:").map(|(_, d)| d);
                            let object = e.object.strip_prefix(prefix.as_str());
                            [object, second.filter(|_| kind == "device")]
                        })
                        .flatten()
                        .filter_map(|rest| Uuid::parse_str(rest.split(':').next()?).ok())
                        .collect();
                    ids.extend(entries.iter().filter_map(|e| match (&e.actor, kind) {
                        (Actor::User(id), "user") | (Actor::Agent(id), "agent") => Some(*id),
                        _ => None,
                    }));
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                };
                let (records, operations) = (ids_of("record"), ids_of("operation"));
                let mut names = AuditNames {
                    records: audit::kinds_and_devices(c, org, ObjectTable::Records, &records)?,
                    operations: audit::kinds_and_devices(
                        c,
                        org,
                        ObjectTable::Operations,
                        &operations,
                    )?,
                    ..AuditNames::default()
                };
                for id in ids_of("user") {
                    match accounts::get_user(c, &key, org, id) {
                        Ok(u) => {
                            names.users.insert(id, (u.name, u.email));
                        }
                        Err(ApiError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                for id in ids_of("agent") {
                    match devices::get_agent(c, &key, Some(org), id) {
                        Ok(a) => {
                            names.agents.insert(id, a.label);
                        }
                        Err(ApiError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                let mut printers = ids_of("device");
                printers.extend(names.records.values().map(|(_, d)| *d));
                printers.extend(names.operations.values().map(|(_, d)| *d));
                printers.sort_unstable();
                printers.dedup();
                for id in printers {
                    match devices::visible(c, &who, id) {
                        Ok((_, d)) => {
                            let name =
                                format!("{} {} ({})", d.manufacturer, d.model, d.serial_number);
                            names.devices.insert(id, name);
                        }
                        Err(ApiError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok((entries, names))
            },
        )
        .await
}

pub async fn audit_log(
    State(state): State<AppState>,
    browser: Browser,
    zone: super::zone::ViewerZone,
    Query(filter): Query<AuditFilter>,
) -> Response {
    if let Some(refused) = admin_only(&state, &browser, "audit.read").await {
        return refused;
    }
    let (mut rows, names) =
        match read_audit(&state, &browser, &filter, AUDIT_PER_PAGE + 1, true).await {
            Ok(r) => r,
            Err(e) => return failure(browser.lang, e),
        };
    let more = rows.len() > AUDIT_PER_PAGE as usize;
    rows.truncate(AUDIT_PER_PAGE as usize);
    let t = browser.lang.messages();
    render(
        StatusCode::OK,
        &AuditPage {
            t,
            lang: browser.lang,
            nav: nav(&browser, "admin"),
            back: "/portal/admin/audit".into(),
            action: filter.action().unwrap_or_default(),
            outcome: filter
                .outcome()
                .map(|o| match o {
                    Outcome::Success => "success",
                    Outcome::Denied => "denied",
                    Outcome::Failed => "failed",
                })
                .unwrap_or_default()
                .to_owned(),
            outcomes: vec![
                ("success", t.outcome_success),
                ("denied", t.outcome_denied),
                ("failed", t.outcome_failed),
            ],
            query: filter.query(),
            show_reads: filter.show_reads(),
            older: more.then(|| rows.last().map(|r| r.seq)).flatten(),
            paged: filter.before.is_some(),
            rows: rows
                .iter()
                .map(|e| AuditRow {
                    seq: e.seq,
                    at: super::zone::at(zone.0, e.at),
                    at_iso: e.at.to_rfc3339(),
                    actor: actor_words(browser.lang, &e.actor, &names),
                    action: e.action.clone(),
                    action_words: browser.lang.audit_action(&e.action),
                    object: object_words(browser.lang, &e.object, &names),
                    outcome: t.outcome(e.outcome),
                    outcome_key: match e.outcome {
                        Outcome::Success => "success",
                        Outcome::Denied => "denied",
                        Outcome::Failed => "failed",
                    },
                })
                .collect(),
        },
    )
}

/// The filtered log as CSV (newest first, at most [`AUDIT_EXPORT_MAX`] rows), for records
/// kept outside the server; ids only, as in the log itself.
pub async fn audit_csv(
    State(state): State<AppState>,
    browser: Browser,
    Query(mut filter): Query<AuditFilter>,
) -> Response {
    if let Some(refused) = admin_only(&state, &browser, "audit.export").await {
        return refused;
    }
    filter.before = None;
    let (rows, _) = match read_audit(&state, &browser, &filter, AUDIT_EXPORT_MAX, false).await {
        Ok(r) => r,
        Err(e) => return failure(browser.lang, e),
    };
    csv_download(browser.lang, "ecsp-audit.csv", |out| {
        out.write_record(["seq", "at", "actor", "action", "object", "outcome"])?;
        for e in &rows {
            let outcome = match e.outcome {
                Outcome::Success => "success",
                Outcome::Denied => "denied",
                Outcome::Failed => "failed",
            };
            out.write_record([
                e.seq.to_string().as_str(),
                e.at.to_rfc3339().as_str(),
                actor_text(&e.actor).as_str(),
                e.action.as_str(),
                csv_safe(&e.object).as_str(),
                outcome,
            ])?;
        }
        Ok(())
    })
}

/// A CSV file to download, written by `write`; a failure to write is the server's own.
pub(super) fn csv_download(
    lang: Lang,
    filename: &str,
    write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> Result<(), csv::Error>,
) -> Response {
    // A byte-order mark first: spreadsheet programs then read the file as UTF-8 (Japanese).
    let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let written =
        write(&mut out).and_then(|()| out.into_inner().map_err(|e| e.into_error().into()));
    match written {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failure(
            lang,
            ApiError::Store(crate::db::StoreError::Task(e.to_string())),
        ),
    }
}

/// A cell a spreadsheet will not run as a formula (OWASP's CSV-injection advice). Spreadsheets
/// trim leading blanks and line breaks before they look for a formula, so the check is made
/// after trimming; the cell itself is kept whole behind the quote.
pub(super) fn csv_safe(cell: &str) -> String {
    if cell.starts_with(['\t', '\r']) || cell.trim_start().starts_with(['=', '+', '-', '@']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_objects_are_named_in_words_and_never_by_id() {
        let (op, gone_op, record, device, user, gone) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let names = AuditNames {
            users: HashMap::from([(user, ("Aiko".into(), "aiko@example.com".into()))]),
            devices: HashMap::from([(device, "Epson SC-P9500 (X1)".into())]),
            records: HashMap::from([(record, ("measurement".into(), device))]),
            operations: HashMap::from([(op, ("head_cleaning".into(), gone))]),
            ..AuditNames::default()
        };
        let en = |object: &str| object_words(Lang::En, object, &names);
        assert_eq!(
            en(&format!("operation:{op}:succeeded")),
            "Head cleaning: Unknown printer → Succeeded"
        );
        assert_eq!(en(&format!("operation:{gone_op}")), "Operation");
        assert_eq!(
            en(&format!("record:{record}")),
            "Measurement: Epson SC-P9500 (X1)"
        );
        assert_eq!(en(&format!("record:{gone}")), "Record");
        assert_eq!(
            en(&format!("user:{user}:device:{device}")),
            "Aiko <aiko@example.com> → Epson SC-P9500 (X1)"
        );
        assert_eq!(en(&format!("user:{gone}")), "Unknown user");
        assert_eq!(
            en(&format!("user:{user}:gps")),
            format!(
                "Aiko <aiko@example.com> ({})",
                Lang::En.purpose_name(Purpose::Gps)
            )
        );
        assert_ne!(Lang::En.purpose_name(Purpose::Gps), "gps");
        assert_eq!(en(&format!("agent:{gone}")), "Unknown agent");
        assert_eq!(en(&format!("group:{gone}")), "Group");
        assert_eq!(en("devices:3"), "3 printers");
        assert_eq!(
            object_words(Lang::Ja, &format!("operation:{op}:succeeded"), &names),
            "ヘッドクリーニング：不明なプリンター → 成功"
        );
        // What the page has no word for is shown as logged.
        assert_eq!(en("topic:ecsp/other"), "topic:ecsp/other");
        assert_eq!(en(""), "");
    }

    #[test]
    fn formulas_are_defused_in_csv_cells() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("record:1"), "record:1");
        assert_eq!(csv_safe("\tvalue"), "'\tvalue");
    }

    #[test]
    fn formulas_behind_blanks_and_line_breaks_are_defused_in_csv_cells() {
        for cell in [
            " =1+1",
            "  +SUM(A1:A2)",
            "\n-2+3",
            "\r\n@SUM(A1)",
            "\t=cmd|' /C calc'!A0",
            "\u{3000}=1+1",
        ] {
            assert_eq!(csv_safe(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in [" record:1", "a = b", "\nplain", ""] {
            assert_eq!(csv_safe(cell), cell, "{cell:?}");
        }
    }
}
