//! The portal's pages: each handler asks the store (through the same audited reads and writes
//! as the API) and renders one template.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use ecsp_protocol::admin::{Actor, Outcome};
use ecsp_protocol::agent::DeviceData;
use ecsp_protocol::consent::{ConsentDecision, Decision, Purpose};
use ecsp_protocol::consent_notice::{CURRENT_NOTICE_VERSION, notice};
use ecsp_protocol::upload::RecordKind;
use serde::Deserialize;
use uuid::Uuid;

use super::device_events::{self, REPORTS_FOR_HISTORY, Severity};
use super::i18n::{Lang, Messages};
use super::operations::OperationsPanel;
use super::{
    Browser, DEVICE_COOKIE, LANG_COOKIE, PRE_SESSION_COOKIE, PageLang, SESSION_COOKIE, cookie,
    local_target, set_cookie,
};
use crate::api::AppState;
use crate::api::auth::verify_sign_in;
use crate::crypto::new_token;
use crate::error::ApiError;
use crate::store::audit::{self, Event};
use crate::store::{accounts, consent, devices, groups, records, to_ms, web_sessions};

/// Uploads shown per page of a device's history.
const UPLOADS_PER_PAGE: u32 = 20;
/// Longest e-mail address (RFC 5321) and password the sign-in form passes on.
const MAX_EMAIL: usize = 254;
const MAX_PASSWORD: usize = 1024;
/// How long the device cookie is kept (the most browsers allow).
const DEVICE_COOKIE_SECS: i64 = 400 * 24 * 3600;

/// The header's navigation, for signed-in pages.
#[derive(Debug)]
pub struct Nav {
    pub current: &'static str,
    pub role: &'static str,
    pub admin: bool,
    pub csrf: String,
}

pub(super) fn nav(browser: &Browser, current: &'static str) -> Option<Nav> {
    Some(Nav {
        current,
        role: browser.lang.messages().role(browser.who.role),
        admin: browser.who.role == ecsp_protocol::auth::Role::Admin,
        csrf: browser.csrf(),
    })
}

pub(super) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "portal template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

/// A time as the viewer reads it: in the zone they chose on the settings page (UTC until they
/// do), with the zone's abbreviation or offset.
pub(super) fn when(t: DateTime<Utc>) -> String {
    super::zone::in_viewer_zone(t)
}

#[derive(Template)]
#[template(path = "portal/message.html")]
struct MessagePage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    heading: &'static str,
    text: &'static str,
}

pub(super) fn message(
    lang: Lang,
    status: StatusCode,
    heading: &'static str,
    text: &'static str,
) -> Response {
    render(
        status,
        &MessagePage {
            t: lang.messages(),
            lang,
            nav: None,
            back: "/portal/devices".into(),
            heading,
            text,
        },
    )
}

/// The page for a refused or failed request: "not found" for what the user may not see (as the
/// API answers 404), sign-in for an ended session, and a plain apology for the server's own
/// failures (whose detail goes to the log, not the page).
pub fn failure(lang: Lang, err: ApiError) -> Response {
    let t = lang.messages();
    match err {
        ApiError::NotFound(_) | ApiError::Forbidden(_) | ApiError::UnknownReference(_) => {
            message(lang, StatusCode::NOT_FOUND, t.not_found, t.not_found_text)
        }
        ApiError::Unauthenticated(_) => {
            axum::response::Redirect::to("/portal/sign-in?ended=1").into_response()
        }
        other => {
            tracing::error!(error = %other, "portal request failed");
            message(
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                t.server_error,
                t.server_error,
            )
        }
    }
}

pub async fn not_found(PageLang(lang): PageLang) -> Response {
    let t = lang.messages();
    message(lang, StatusCode::NOT_FOUND, t.not_found, t.not_found_text)
}

pub(super) fn form_expired(lang: Lang) -> Response {
    let t = lang.messages();
    message(lang, StatusCode::FORBIDDEN, t.form_expired, t.form_expired)
}

// ---- sign-in and sign-out ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/sign_in.html")]
struct SignInPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    email: String,
    error: Option<String>,
}

/// The sign-in page with a fresh double-submit token (cookie and hidden field).
fn sign_in_page(lang: Lang, status: StatusCode, email: String, error: Option<String>) -> Response {
    let csrf = new_token("");
    let mut response = render(
        status,
        &SignInPage {
            t: lang.messages(),
            lang,
            nav: None,
            back: "/portal/sign-in".into(),
            csrf: csrf.clone(),
            email,
            error,
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(PRE_SESSION_COOKIE, &csrf, Some(3600)),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    ended: Option<String>,
}

pub async fn sign_in_form(PageLang(lang): PageLang, Query(q): Query<SignInQuery>) -> Response {
    let error = q.ended.map(|_| lang.messages().session_ended.to_owned());
    sign_in_page(lang, StatusCode::OK, String::new(), error)
}

#[derive(Deserialize)]
pub struct SignInForm {
    email: String,
    password: String,
    csrf: String,
    /// An administrator's unlock code (`crate::unlock`); empty when not given.
    #[serde(default)]
    unlock: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInForm { .. }")
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let t = lang.messages();
    let pre = cookie(&headers, PRE_SESSION_COOKIE).unwrap_or_default();
    if pre.is_empty() || !constant_time_eq(pre, &form.csrf) {
        return sign_in_page(
            lang,
            StatusCode::FORBIDDEN,
            form.email,
            Some(t.form_expired.into()),
        );
    }
    let email = form.email.trim().to_owned();
    if email.len() > MAX_EMAIL || form.password.len() > MAX_PASSWORD {
        return sign_in_page(
            lang,
            StatusCode::UNAUTHORIZED,
            String::new(),
            Some(t.sign_in_failed.into()),
        );
    }
    let known_browser = cookie(&headers, DEVICE_COOKIE).and_then(|v| Uuid::parse_str(v).ok());
    let unlock = form.unlock.trim();
    let attempt = crate::api::auth::SignInAttempt {
        installation: known_browser,
        unlock_code: (!unlock.is_empty() && unlock.len() <= 64).then(|| unlock.to_owned()),
    };
    let verified = match verify_sign_in(&state, email.clone(), form.password, attempt).await {
        Ok(v) => v,
        Err(ApiError::InvalidCredentials) => {
            return sign_in_page(
                lang,
                StatusCode::UNAUTHORIZED,
                email,
                Some(t.sign_in_failed.into()),
            );
        }
        Err(ApiError::TooManyAttempts(secs)) => {
            let mut response = sign_in_page(
                lang,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                Some(format!("{} {secs} {}", t.too_many_attempts, t.seconds)),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return response;
        }
        Err(e) => return failure(lang, e),
    };
    let browser = known_browser.unwrap_or_else(Uuid::new_v4);
    let seen = state.key.installation_index(verified.public_id, browser);
    let created = state
        .db
        .write(move |c| {
            let token = web_sessions::create(c, verified.user_id)?;
            accounts::remember_installation(c, verified.user_id, &seen)?;
            audit::append(c, &verified.event("portal.sign_in"))?;
            Ok::<_, ApiError>(token)
        })
        .await;
    match created {
        Ok(token) => {
            let mut response = see_other("/portal/devices");
            let cookies = response.headers_mut();
            cookies.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &token, None));
            cookies.append(
                header::SET_COOKIE,
                set_cookie(
                    DEVICE_COOKIE,
                    &browser.to_string(),
                    Some(DEVICE_COOKIE_SECS),
                ),
            );
            cookies.append(
                header::SET_COOKIE,
                set_cookie(PRE_SESSION_COOKIE, "", Some(0)),
            );
            response
        }
        Err(e) => failure(lang, e),
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

fn signed_out() -> Response {
    let mut response = see_other("/portal/sign-in");
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    response
}

pub async fn sign_out(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(browser.lang);
    }
    let (who, token) = (browser.who.clone(), browser.token.clone());
    let result = state
        .db
        .write(move |c| {
            web_sessions::revoke(c, &token)?;
            audit::append(c, &user_event(&who, "portal.sign_out"))?;
            Ok::<_, ApiError>(())
        })
        .await;
    match result {
        Ok(()) => signed_out(),
        Err(e) => failure(browser.lang, e),
    }
}

/// Ends every session of the user: this and other browsers, and the applications' tokens.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(browser.lang);
    }
    let who = browser.who.clone();
    let result = state
        .db
        .write(move |c| {
            accounts::revoke_user(c, who.id)?;
            audit::append(c, &user_event(&who, "portal.sign_out_everywhere"))?;
            Ok::<_, ApiError>(())
        })
        .await;
    match result {
        Ok(()) => signed_out(),
        Err(e) => failure(browser.lang, e),
    }
}

fn user_event(who: &crate::store::accounts::UserPrincipal, action: &'static str) -> Event {
    Event::new(
        Some(who.org_id),
        Actor::User(who.public_id),
        action,
        format!("user:{}", who.public_id),
        Outcome::Success,
    )
}

#[derive(Debug, Deserialize)]
pub struct LanguageForm {
    lang: String,
    back: String,
}

/// Switches the language (a preference cookie; nothing on the server changes).
pub async fn set_language(Form(form): Form<LanguageForm>) -> Response {
    let lang = if form.lang == "ja" { "ja" } else { "en" };
    let mut response = see_other(local_target(&form.back).unwrap_or("/portal/devices"));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LANG_COOKIE, lang, Some(DEVICE_COOKIE_SECS)),
    );
    response
}

// ---- devices -------------------------------------------------------------------------------

/// The fleet view's groups (as Epson's own fleet view groups printers), in display order.
const STATES: [&str; 5] = ["printing", "standby", "error", "other", "no_data"];

/// The group a device's latest report puts it in (see `DeviceData::state`), or none yet.
fn state_of(device: Option<&DeviceData>) -> &'static str {
    device.map_or("no_data", |d| d.state().as_str())
}

fn state_label(t: &Messages, state: &str) -> &'static str {
    match state {
        "printing" => t.state_printing,
        "standby" => t.state_standby,
        "error" => t.state_error,
        "other" => t.state_other,
        _ => t.state_no_data,
    }
}

#[derive(Debug)]
struct DeviceRow {
    id: Uuid,
    model: String,
    serial: String,
    manufacturer: String,
    group: Option<String>,
    state: &'static str,
    state_label: &'static str,
    last_report: Option<String>,
}

#[derive(Debug)]
struct StateCount {
    state: &'static str,
    label: &'static str,
    n: usize,
    selected: bool,
    href: String,
}

#[derive(Template)]
#[template(path = "portal/devices.html")]
struct DevicesPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    counts: Vec<StateCount>,
    groups: Vec<(Uuid, String, bool)>,
    models: Vec<(String, bool)>,
    rows: Vec<DeviceRow>,
}

#[derive(Debug, Deserialize)]
pub struct DeviceFilter {
    model: Option<String>,
    group: Option<String>,
    state: Option<String>,
}

pub async fn devices(
    State(state): State<AppState>,
    browser: Browser,
    Query(filter): Query<DeviceFilter>,
) -> Response {
    let (who, key) = (browser.who.clone(), state.key.clone());
    let listed = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "portal.devices.read",
            String::new(),
            move |c| {
                let groups = groups::list(c, &key, &who)?;
                let mut out = Vec::new();
                for view in devices::list_visible(c, &who)? {
                    let latest = records::latest_of_kind(
                        c,
                        &key,
                        &who,
                        view.device_id,
                        RecordKind::DeviceData,
                    )?;
                    out.push((view, latest));
                }
                Ok((groups, out))
            },
        )
        .await;
    let (groups, listed) = match listed {
        Ok(l) => l,
        Err(e) => return failure(browser.lang, e),
    };
    let t = browser.lang.messages();
    let model = filter.model.filter(|m| !m.is_empty());
    // An unknown or malformed group id filters to nothing rather than being ignored: a stale
    // bookmark must not silently show the whole fleet as if it were the group.
    let group = filter.group.filter(|g| !g.is_empty());
    let group_id = group.as_deref().map(|g| Uuid::parse_str(g).ok());
    let group_name = |id: Option<Uuid>| {
        id.and_then(|id| groups.iter().find(|g| g.group_id == id))
            .map(|g| g.name.clone())
    };
    let wanted_state = filter.state.filter(|s| STATES.contains(&s.as_str()));
    let mut models: Vec<String> = listed.iter().map(|(v, _)| v.model.clone()).collect();
    models.sort();
    models.dedup();
    let rows: Vec<DeviceRow> = listed
        .iter()
        .filter(|(v, _)| model.as_ref().is_none_or(|m| &v.model == m))
        .filter(|(v, _)| group_id.is_none_or(|g| g.is_some() && v.group_id == g))
        .map(|(v, latest)| {
            let data = latest.as_ref().and_then(records::device_data_of);
            let state = state_of(data.as_ref());
            DeviceRow {
                id: v.device_id,
                model: v.model.clone(),
                serial: v.serial_number.clone(),
                manufacturer: v.manufacturer.clone(),
                group: group_name(v.group_id),
                state,
                state_label: state_label(t, state),
                last_report: latest.as_ref().map(|r| when(r.captured_at)),
            }
        })
        .collect();
    let model_query = model
        .as_ref()
        .map(|m| format!("&model={}", urlencode(m)))
        .unwrap_or_default()
        + &group
            .as_ref()
            .map(|g| format!("&group={}", urlencode(g)))
            .unwrap_or_default();
    let counts = STATES
        .iter()
        .map(|s| StateCount {
            state: s,
            label: state_label(t, s),
            n: rows.iter().filter(|r| r.state == *s).count(),
            selected: wanted_state.as_deref() == Some(*s),
            href: format!("/portal/devices?state={s}{model_query}"),
        })
        .collect();
    let rows = rows
        .into_iter()
        .filter(|r| wanted_state.as_deref().is_none_or(|s| r.state == s))
        .collect();
    render(
        StatusCode::OK,
        &DevicesPage {
            t,
            lang: browser.lang,
            nav: nav(&browser, "devices"),
            back: "/portal/devices".into(),
            counts,
            groups: groups
                .iter()
                .map(|g| {
                    let selected = group_id == Some(Some(g.group_id));
                    (g.group_id, g.name.clone(), selected)
                })
                .collect(),
            models: models
                .into_iter()
                .map(|m| {
                    let selected = model.as_ref() == Some(&m);
                    (m, selected)
                })
                .collect(),
            rows,
        },
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Debug)]
struct ConsumableRow {
    kind: String,
    colour: String,
    percent: Option<String>,
}

#[derive(Debug)]
struct EventRow {
    severity: &'static str,
    severity_label: &'static str,
    code: String,
    description: String,
    at: String,
    active: bool,
}

#[derive(Debug)]
struct UploadRow {
    kind: &'static str,
    captured_at: String,
    stored_at: String,
    id: Uuid,
}

#[derive(Template)]
#[template(path = "portal/device.html")]
struct DevicePage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    id: Uuid,
    model: String,
    serial: String,
    manufacturer: String,
    state: &'static str,
    state_label: &'static str,
    status: Option<String>,
    firmware: Option<String>,
    last_report: Option<String>,
    errors: Vec<(String, String, String)>,
    history: Vec<EventRow>,
    consumables: Vec<ConsumableRow>,
    counters: Vec<(String, String)>,
    /// The job history agents report: started, result, pages, area, media.
    jobs: Vec<[String; 5]>,
    uploads: Vec<UploadRow>,
    /// The kinds the uploads can be filtered by, and the one chosen (`""`: all).
    upload_kinds: Vec<(&'static str, &'static str)>,
    upload_kind: &'static str,
    paged: bool,
    /// The query of the next (older) page, if there is one.
    older: Option<String>,
    csrf: String,
    operations: Option<OperationsPanel>,
}

/// `?before=&before_id=`: the page of a device's records after the record captured at `before`
/// (milliseconds since the epoch) with id `before_id` (see [`records::PageStart`]). A link of an
/// older portal (`before` alone) still opens: the records captured before that time.
#[derive(Debug, Deserialize)]
pub struct Before {
    before: Option<i64>,
    before_id: Option<Uuid>,
}

impl Before {
    /// Where the page starts; `None` for the first page.
    pub(super) fn start(&self) -> Option<records::PageStart> {
        let before = DateTime::<Utc>::from_timestamp_millis(self.before?)?;
        Some(records::PageStart {
            before,
            before_id: self.before_id,
        })
    }

    /// The query (`before=…&before_id=…`) of the page after the one that ended with `last`.
    pub(super) fn after(last: &impl records::Listed) -> String {
        let (at, id) = last.page_key();
        format!("before={}&before_id={id}", to_ms(at))
    }
}

/// `?kind=` on a device page: its uploads of one kind only (device data, two a minute, would
/// bury the DFE and measurement records).
#[derive(Debug, Deserialize)]
pub struct UploadKind {
    kind: Option<String>,
}

impl UploadKind {
    fn kind(&self) -> Option<RecordKind> {
        match self.kind.as_deref() {
            Some("device_data") => Some(RecordKind::DeviceData),
            Some("dfe") => Some(RecordKind::Dfe),
            Some("measurement") => Some(RecordKind::Measurement),
            _ => None,
        }
    }
}

pub async fn device(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(page): Query<Before>,
    Query(upload_kind): Query<UploadKind>,
) -> Response {
    let only = upload_kind.kind();
    let lang = browser.lang;
    let Ok(id) = Uuid::parse_str(&id) else {
        return failure(lang, ApiError::NotFound("device"));
    };
    let (who, key) = (browser.who.clone(), state.key.clone());
    let start = page.start();
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "portal.device.read",
            format!("device:{id}"),
            move |c| {
                let (internal, view) = devices::visible(c, &who, id)?;
                let panel = OperationsPanel::read(c, &who, internal, id, lang.messages())?;
                // The newest reports, newest first: the first is the device's state now, all
                // of them its event history.
                let reports = records::list_for_device(
                    c,
                    &key,
                    internal,
                    id,
                    Some(RecordKind::DeviceData),
                    None,
                    REPORTS_FOR_HISTORY,
                )?;
                // Only the uploads' headers are shown: no body is read.
                let uploads =
                    records::headers_for_device(c, internal, only, start, UPLOADS_PER_PAGE + 1)?;
                Ok((view, reports, uploads, panel))
            },
        )
        .await;
    let (view, reports, mut uploads, operations) = match found {
        Ok(f) => f,
        Err(e) => return failure(lang, e),
    };
    let t = lang.messages();
    let more = uploads.len() > UPLOADS_PER_PAGE as usize;
    uploads.truncate(UPLOADS_PER_PAGE as usize);
    let latest = reports.first();
    let data = latest.and_then(records::device_data_of);
    let state = state_of(data.as_ref());
    let history = device_events::history(
        &reports
            .iter()
            .filter_map(|r| Some((r.captured_at, records::device_data_of(r)?)))
            .collect::<Vec<_>>(),
    )
    .into_iter()
    .map(|e| EventRow {
        severity: e.severity.key(),
        severity_label: match e.severity {
            Severity::Error => t.severity_error,
            Severity::Warning => t.severity_warning,
            Severity::Status => t.severity_status,
        },
        code: e.code,
        description: e.description,
        at: when(e.at),
        active: e.active,
    })
    .collect();
    let mut errors = Vec::new();
    let mut consumables = Vec::new();
    let mut counters = Vec::new();
    if let Some(d) = &data {
        errors = d
            .error_codes
            .iter()
            .map(|e| {
                (
                    e.code.clone(),
                    e.description.clone().unwrap_or_default(),
                    e.occurred_at.map(when).unwrap_or_default(),
                )
            })
            .collect();
        consumables = d
            .consumables
            .iter()
            .map(|c| ConsumableRow {
                kind: super::labels::consumable_name(lang, &c.kind, None),
                colour: c
                    .color
                    .as_deref()
                    .map(|c| super::labels::consumable_name(lang, c, None))
                    .unwrap_or_default(),
                percent: c.remaining_percent.map(|p| format!("{p:.0}")),
            })
            .collect();
        if let Some(s) = d.cumulative_printing_time_s {
            counters.push((
                t.printing_time_hours.to_owned(),
                format!("{:.1}", s as f64 / 3600.0),
            ));
        }
        if let Some(a) = d.cumulative_printing_area_m2 {
            counters.push((t.printing_area_m2.to_owned(), format!("{a:.1}")));
        }
        for ink in &d.cumulative_ink_usage {
            counters.push((
                format!(
                    "{} — {}",
                    t.ink_used_ml,
                    super::labels::consumable_name(lang, &ink.color, None)
                ),
                format!("{:.1}", ink.millilitres),
            ));
        }
    }
    let jobs = super::device_jobs::jobs(&reports)
        .into_iter()
        .take(DEVICE_JOBS_SHOWN)
        .map(|j| {
            [
                when(j.started_at),
                super::labels::value_word(lang, &j.result).0,
                j.pages.map(|p| p.to_string()).unwrap_or_default(),
                j.printed_area_m2
                    .map(|a| format!("{a:.2} m²"))
                    .unwrap_or_default(),
                j.media.unwrap_or_default(),
            ]
        })
        .collect();
    let older = more.then(|| uploads.last().map(Before::after)).flatten();
    let uploads = uploads
        .iter()
        .map(|u| UploadRow {
            kind: match u.kind {
                RecordKind::DeviceData => t.kind_device_data,
                RecordKind::Dfe => t.kind_dfe,
                RecordKind::Measurement => t.kind_measurement,
            },
            captured_at: when(u.captured_at),
            stored_at: when(u.stored_at),
            id: u.record_id,
        })
        .collect();
    render(
        StatusCode::OK,
        &DevicePage {
            t,
            lang,
            nav: nav(&browser, "devices"),
            back: format!("/portal/devices/{id}"),
            id,
            model: view.model,
            serial: view.serial_number,
            manufacturer: view.manufacturer,
            state,
            state_label: state_label(t, state),
            status: data
                .as_ref()
                .and_then(|d| d.printer_status.as_deref())
                .map(|s| super::labels::value_word(lang, s).0),
            firmware: data
                .as_ref()
                .map(|d| d.firmware_version.clone())
                .filter(|f| !f.is_empty()),
            last_report: latest.map(|r| when(r.captured_at)),
            errors,
            history,
            consumables,
            counters,
            jobs,
            uploads,
            upload_kinds: vec![
                ("device_data", t.kind_device_data),
                ("dfe", t.kind_dfe),
                ("measurement", t.kind_measurement),
            ],
            upload_kind: only.map_or("", |k| match k {
                RecordKind::DeviceData => "device_data",
                RecordKind::Dfe => "dfe",
                RecordKind::Measurement => "measurement",
            }),
            paged: start.is_some(),
            older,
            csrf: browser.csrf(),
            operations,
        },
    )
}

/// The most jobs of the reported job history a device page lists (the export has them all).
const DEVICE_JOBS_SHOWN: usize = 20;

// ---- consent -------------------------------------------------------------------------------

#[derive(Debug)]
struct PurposeRow {
    key: &'static str,
    title: &'static str,
    text: &'static str,
    granted: bool,
    /// Where the purpose stands: granted, withdrawn, refused, or never decided.
    state_word: &'static str,
    actions: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "portal/consent.html")]
struct ConsentPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    recorded: bool,
    notice_version: &'static str,
    purposes: Vec<PurposeRow>,
    history: Vec<(String, &'static str, &'static str, String)>,
}

#[derive(Debug, Deserialize)]
pub struct Recorded {
    recorded: Option<String>,
}

pub async fn consent(
    State(state): State<AppState>,
    browser: Browser,
    Query(q): Query<Recorded>,
) -> Response {
    let who = browser.who.clone();
    let user_id = who.id;
    let overview = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "consent.read",
            format!("user:{}", who.public_id),
            move |c| consent::overview(c, user_id),
        )
        .await;
    let overview = match overview {
        Ok(o) => o,
        Err(e) => return failure(browser.lang, e),
    };
    let lang = browser.lang;
    let t = lang.messages();
    let shown = notice(lang.notice());
    let purposes = shown
        .items
        .iter()
        .map(|item| {
            let state = overview.purposes.iter().find(|p| p.purpose == item.purpose);
            let granted = state.is_some_and(|p| p.granted);
            // "Withdrawn" is told apart from "never granted" (issue 26 item 9).
            let state_word = match state.and_then(|p| p.latest.as_ref()) {
                _ if granted => t.granted,
                Some(latest) => t.decision_name(&latest.decision),
                None => t.not_granted,
            };
            let actions = if granted {
                vec![("withdraw", t.withdraw)]
            } else {
                vec![("grant", t.grant), ("refuse", t.refuse)]
            };
            PurposeRow {
                key: item.purpose.as_str(),
                title: item.title,
                text: item.text,
                granted,
                state_word,
                actions,
            }
        })
        .collect();
    let history = overview
        .history
        .iter()
        .rev()
        .map(|h| {
            (
                when(h.decided_at),
                lang.purpose_name(h.purpose),
                t.decision_name(&h.decision),
                h.notice_version.clone(),
            )
        })
        .collect();
    render(
        StatusCode::OK,
        &ConsentPage {
            t,
            lang,
            nav: nav(&browser, "consent"),
            back: "/portal/consent".into(),
            csrf: browser.csrf(),
            recorded: q.recorded.is_some(),
            notice_version: shown.version,
            purposes,
            history,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    csrf: String,
    purpose: String,
    decision: String,
}

/// Records a grant, refusal or withdrawal made on the consent page, under the notice shown.
pub async fn decide_consent(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<ConsentForm>,
) -> Response {
    let lang = browser.lang;
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let purpose = Purpose::ALL
        .into_iter()
        .find(|p| p.as_str() == form.purpose);
    let decision = match form.decision.as_str() {
        "grant" => Some(Decision::Granted),
        "refuse" => Some(Decision::Refused),
        "withdraw" => Some(Decision::Withdrawn),
        _ => None,
    };
    let (Some(purpose), Some(decision)) = (purpose, decision) else {
        let t = lang.messages();
        return message(
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            t.form_expired,
            t.form_expired,
        );
    };
    let who = browser.who.clone();
    let d = ConsentDecision {
        decision_id: Uuid::new_v4(),
        purpose,
        decision,
        notice_version: CURRENT_NOTICE_VERSION.to_owned(),
        decided_at: Utc::now(),
    };
    let result = state
        .db
        .write(move |c| {
            consent::record(c, who.id, &d)?;
            audit::append(
                c,
                &Event::new(
                    Some(who.org_id),
                    Actor::User(who.public_id),
                    "consent.record",
                    format!("user:{}:{}", who.public_id, d.purpose),
                    Outcome::Success,
                ),
            )?;
            Ok::<_, ApiError>(())
        })
        .await;
    match result {
        Ok(()) => see_other("/portal/consent?recorded=1"),
        Err(e) => failure(lang, e),
    }
}
