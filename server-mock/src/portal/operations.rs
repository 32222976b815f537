//! Remote operations in the portal, for service staff: request one from a device's page, watch
//! it run, read its result, cancel it while it waits. The rules (role, device right,
//! capability, what may be cancelled) are `store::operations`', as for the REST API; delivery to
//! the agent is the `remote` hub's.
//!
//! The operation page is right without script (it shows the state when loaded); with script it
//! is live: `operation.js` listens to the page's server-sent events and reloads the page once
//! the operation has ended, to show the result.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::remote_ops::{
    CleaningLevel, HeadCleaningParameters, OperationKind, OperationRequest, OperationView,
};
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::{Lang, Messages};
use super::pages::{Nav, failure, nav, render, see_other, when};
use super::{Browser, CONTENT_SECURITY_POLICY};
use crate::api::AppState;
use crate::error::ApiError;
use crate::store::{operations, web_sessions};

/// How often a watched operation is looked at, and for how long one page's stream lasts (the
/// browser's EventSource then reconnects by itself).
const WATCH_EVERY: Duration = Duration::from_millis(400);
const WATCH_FOR: Duration = Duration::from_secs(600);

/// The operation page's policy: the portal's, plus this server's own script and event stream.
const OPERATION_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A row of a device's recent operations.
#[derive(Debug)]
pub struct OperationRow {
    pub id: Uuid,
    pub kind: &'static str,
    pub state: &'static str,
    pub state_key: &'static str,
    pub requested_at: String,
}

/// The device page's remote-operations panel (only for roles that may operate).
#[derive(Debug)]
pub struct OperationsPanel {
    pub kinds: Vec<(&'static str, &'static str)>,
    pub recent: Vec<OperationRow>,
}

impl OperationsPanel {
    /// What `who` may request on the device (internal id `device`, public id `id`) and its
    /// latest operations; `None` for roles that may not operate.
    pub fn read(
        c: &crate::sql::Connection,
        who: &crate::store::accounts::UserPrincipal,
        device: i64,
        id: Uuid,
        t: &'static Messages,
    ) -> Result<Option<Self>, ApiError> {
        if operations::may_operate(who).is_err() {
            return Ok(None);
        }
        let kinds = operations::capabilities(c, device)?;
        let recent = operations::list_visible(c, who, Some(id), None, None, 10)?;
        Ok(Some(Self {
            kinds: kinds
                .into_iter()
                .map(|k| (k.as_str(), t.operation_kind(k)))
                .collect(),
            recent: recent.items.iter().map(|o| row(t, o)).collect(),
        }))
    }
}

fn row(t: &Messages, o: &OperationView) -> OperationRow {
    OperationRow {
        id: o.operation_id,
        kind: t.operation_kind(o.kind),
        state: t.operation_state(o.state),
        state_key: o.state.as_str(),
        requested_at: when(o.requested_at),
    }
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    csrf: String,
    kind: String,
    level: Option<String>,
    /// `1` once a strong cleaning's cost was confirmed.
    confirmed: Option<String>,
}

/// Requests an operation on a device, then shows it.
pub async fn request(
    State(state): State<AppState>,
    browser: Browser,
    Path(device): Path<String>,
    Form(form): Form<RequestForm>,
) -> Response {
    let lang = browser.lang;
    if !browser.csrf_ok(&form.csrf) {
        return super::pages::form_expired(lang);
    }
    let Ok(device) = Uuid::parse_str(&device) else {
        return failure(lang, ApiError::NotFound("device"));
    };
    let Some(kind) = OperationKind::parse(&form.kind) else {
        return failure(lang, ApiError::NotFound("operation kind"));
    };
    let level = match form.level.as_deref() {
        Some("strong") => CleaningLevel::Strong,
        _ => CleaningLevel::Normal,
    };
    if kind == OperationKind::HeadCleaning
        && level == CleaningLevel::Strong
        && form.confirmed.as_deref() != Some("1")
    {
        return ask_strong_cleaning(&state, &browser, device).await;
    }
    let req = OperationRequest {
        device_id: device,
        kind,
        head_cleaning: (kind == OperationKind::HeadCleaning).then(|| HeadCleaningParameters {
            level,
            colors: Vec::new(),
        }),
        ttl_secs: None,
    };
    let who = browser.who.clone();
    if let Err(e) = operations::may_operate(&who) {
        let refused = state
            .audit_refusal(
                Some(who.org_id),
                Actor::User(who.public_id),
                "operation.request",
                String::new(),
                e,
            )
            .await;
        return failure(lang, refused);
    }
    let me = who.clone();
    let created = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.request",
            format!("device:{device}:{}", kind.as_str()),
            move |c| operations::create(c, &me, &req, Utc::now()),
        )
        .await;
    match created {
        Ok(view) => {
            crate::remote::kick_anywhere(&state, view.agent_id).await;
            see_other(&format!("/portal/operations/{}", view.operation_id))
        }
        Err(ApiError::Conflict(why)) => refused_page(lang, lang.messages().refusal(&why)),
        Err(e) => failure(lang, e),
    }
}

/// A strong cleaning uses ink: the page asks first, naming the printer (issue 26 item 9).
async fn ask_strong_cleaning(state: &AppState, browser: &Browser, device: Uuid) -> Response {
    let lang = browser.lang;
    let who = browser.who.clone();
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "portal.device.read",
            format!("device:{device}"),
            move |c| crate::store::devices::visible(c, &who, device).map(|(_, v)| v),
        )
        .await;
    let view = match found {
        Ok(v) => v,
        Err(e) => return failure(lang, e),
    };
    let t = lang.messages();
    let printer = format!("{} {}", view.model, view.serial_number);
    super::confirm::page(
        browser,
        "devices",
        super::confirm::Ask {
            heading: format!("{} — {}", t.op_head_cleaning, t.level_strong),
            question: lang
                .terms()
                .confirm_strong_cleaning
                .replace("{device}", &printer),
            action: format!("/portal/devices/{device}/operations"),
            fields: vec![("kind", "head_cleaning".into()), ("level", "strong".into())],
            confirm: lang.terms().confirm_strong_cleaning_button,
            cancel_href: format!("/portal/devices/{device}#operations"),
        },
    )
}

#[derive(Template)]
#[template(path = "portal/refused.html")]
struct RefusedPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    why: String,
}

/// A request the rules refuse (no agent, no capability, no longer cancellable): 409 with the
/// store's reason.
pub(super) fn refused_page(lang: Lang, why: String) -> Response {
    render(
        StatusCode::CONFLICT,
        &RefusedPage {
            t: lang.messages(),
            lang,
            nav: None,
            back: "/portal/devices".into(),
            why,
        },
    )
}

#[derive(Template)]
#[template(path = "portal/operation.html")]
struct OperationPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    id: Uuid,
    device: Uuid,
    /// The printer's model and serial number.
    printer: Option<String>,
    kind: &'static str,
    state: &'static str,
    state_key: &'static str,
    live: bool,
    cancellable: bool,
    progress: Option<u8>,
    requested_at: String,
    expires_at: String,
    history: Vec<(String, &'static str)>,
    result: Vec<super::labels::FieldRow>,
    reason: Option<String>,
}

/// One operation the browser's user may see and operate on, read and audited as the API reads
/// it; otherwise the page to answer instead.
async fn read_operation(
    state: &AppState,
    browser: &Browser,
    id: &str,
) -> Result<OperationView, Box<Response>> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(Box::new(not_an_operation(browser.lang)));
    };
    let me = browser.who.clone();
    state
        .audited_read(
            Some(me.org_id),
            Actor::User(me.public_id),
            "operation.read",
            format!("operation:{id}"),
            move |c| {
                operations::may_operate(&me)?;
                operations::get_visible(c, &me, id)
            },
        )
        .await
        .map_err(|e| Box::new(failure(browser.lang, e)))
}

fn not_an_operation(lang: Lang) -> Response {
    failure(lang, ApiError::NotFound("operation"))
}

pub async fn show(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    let lang = browser.lang;
    let view = match read_operation(&state, &browser, &id).await {
        Ok(v) => v,
        Err(page) => return *page,
    };
    let id = view.operation_id;
    let t = lang.messages();
    // The printer by name (issue 26 item 9); whoever may see the operation may see its device.
    let (me, device_id) = (browser.who.clone(), view.device_id);
    let printer = state
        .db
        .read(move |c| {
            crate::store::devices::visible(c, &me, device_id)
                .map(|(_, d)| format!("{} {}", d.model, d.serial_number))
        })
        .await
        .ok();
    let result = view
        .result
        .as_ref()
        .and_then(|r| serde_json::to_value(r).ok())
        .map(|mut v| {
            // The result's `kind` tag repeats the operation named in the heading.
            if let Some(fields) = v.as_object_mut() {
                fields.remove("kind");
            }
            super::labels::rows(lang, &v)
        })
        .unwrap_or_default();
    let live = !view.state.is_final();
    let mut response = render(
        StatusCode::OK,
        &OperationPage {
            t,
            lang,
            nav: nav(&browser, "devices"),
            back: format!("/portal/operations/{id}"),
            csrf: browser.csrf(),
            id,
            device: view.device_id,
            printer,
            kind: t.operation_kind(view.kind),
            state: t.operation_state(view.state),
            state_key: view.state.as_str(),
            live,
            cancellable: view.state.cancellable(),
            progress: view.progress_percent,
            requested_at: when(view.requested_at),
            expires_at: when(view.expires_at),
            history: view
                .history
                .iter()
                .map(|h| (when(h.at), t.operation_state(h.state)))
                .collect(),
            result,
            reason: view.reason.as_ref().map(|r| {
                let code = serde_json::to_value(r.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                match &r.message {
                    Some(m) => format!("{code}: {m}"),
                    None => code,
                }
            }),
        },
    );
    if live {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(OPERATION_PAGE_CSP),
        );
    } else {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// The operation's state as server-sent events: one `state` event now and one at each change
/// (state or progress), until the operation ends. Each state of the operation's history is sent
/// in order, also those it passed through between two polls: whichever server node made a
/// change, it is in the database's history, and the page shows every step.
///
/// A stream lives no longer than its session: every poll checks the session again (with the
/// operation's visibility, in the same read), and when the session has ended (signed out,
/// signed out everywhere, the account disabled, timed out) the stream sends `ended` and closes.
/// A session holds at most [`MAX_STREAMS_PER_SESSION`] streams; one more is refused with 429.
pub async fn events(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    let lang = browser.lang;
    let t = lang.messages();
    let Some(slot) = StreamSlot::take(&browser.who.session_family) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::RETRY_AFTER, "5"),
            ],
            t.live_pages_full,
        )
            .into_response();
    };
    // Watching is audited once, as a read; the polls behind the stream are not.
    let id = match read_operation(&state, &browser, &id).await {
        Ok(v) => v.operation_id,
        Err(page) => return *page,
    };
    let token = browser.token.clone();
    let started = tokio::time::Instant::now();
    // What was sent last: how many states of the history, and the progress with the last.
    let stream = futures_util::stream::unfold(
        (state, slot, None::<(usize, Option<u8>)>, false),
        move |(state, slot, last, done)| {
            let token = token.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    if started.elapsed() > WATCH_FOR {
                        return None;
                    }
                    let session = token.clone();
                    let polled = state
                        .db
                        .read(move |c| {
                            let who = match web_sessions::authenticate(c, &session) {
                                Ok((who, _)) => who,
                                Err(ApiError::Unauthenticated(_)) => return Ok(None),
                                Err(e) => return Err(e),
                            };
                            operations::get_visible(c, &who, id).map(Some)
                        })
                        .await
                        .ok()?;
                    let Some(view) = polled else {
                        let event = Event::default().event("ended").data("session");
                        return Some((Ok::<_, Infallible>(event), (state, slot, last, true)));
                    };
                    let known = view.history.len().max(1);
                    // First the current state (the page shows it already); then each state
                    // not yet sent, in turn, or the current one again if its progress moved.
                    let next = match last {
                        None => Some(known),
                        Some((sent, sent_progress)) => {
                            next_to_send(sent, sent_progress, known, view.progress_percent)
                        }
                    };
                    if let Some(count) = next {
                        let latest = count == known;
                        let shown = match view.history.get(count - 1) {
                            Some(change) if !latest => change.state,
                            _ => view.state,
                        };
                        let progress = if latest { view.progress_percent } else { None };
                        let data = serde_json::json!({
                            "state": shown.as_str(),
                            "label": t.operation_state(shown),
                            "progress": progress,
                            "final": latest && view.state.is_final(),
                        });
                        let event = Event::default().event("state").data(data.to_string());
                        let done = latest && view.state.is_final();
                        return Some((Ok(event), (state, slot, Some((count, progress)), done)));
                    }
                    tokio::time::sleep(WATCH_EVERY).await;
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// Which state of the history to send next, counted from 1 (`sent` were sent, the last with
/// `sent_progress`; the history now holds `known`): the next one, or the current one again when
/// its progress moved, or none.
fn next_to_send(
    sent: usize,
    sent_progress: Option<u8>,
    known: usize,
    progress: Option<u8>,
) -> Option<usize> {
    if sent < known {
        Some(sent + 1)
    } else if sent_progress != progress {
        Some(sent)
    } else {
        None
    }
}

/// Most live operation streams one portal session holds at once. Over HTTP/1.1 a browser opens
/// at most six connections to a site, and each stream holds one: four leaves two for the pages
/// themselves. Four tabs watching operations is more than a person follows.
pub const MAX_STREAMS_PER_SESSION: usize = 4;

/// A comment line this often: a stream whose browser has gone is noticed (and its slot freed)
/// at the next write, so within this time even when nothing changes.
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The open streams of each session (by session family, a random id per sign-in). Process-wide
/// rather than per server: the keys are random, so servers in one process (tests) never meet.
static OPEN_STREAMS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, usize>>,
> = std::sync::LazyLock::new(Default::default);

/// One of a session's stream places, given back when the stream is dropped (ended, or the
/// browser went away).
#[derive(Debug)]
struct StreamSlot(String);

impl StreamSlot {
    fn take(session: &str) -> Option<Self> {
        let mut open = OPEN_STREAMS.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(session.to_owned()).or_default();
        if *count >= MAX_STREAMS_PER_SESSION {
            return None;
        }
        *count += 1;
        Some(Self(session.to_owned()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = OPEN_STREAMS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.0) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.0);
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    csrf: String,
}

pub async fn cancel(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Response {
    let lang = browser.lang;
    if !browser.csrf_ok(&form.csrf) {
        return super::pages::form_expired(lang);
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_an_operation(lang);
    };
    let who = browser.who.clone();
    let me = who.clone();
    let cancelled = state
        .audited_write(
            Some(who.org_id),
            Actor::User(who.public_id),
            "operation.cancel",
            format!("operation:{id}"),
            move |c| {
                operations::may_operate(&me)?;
                operations::cancel(c, &me, id)
            },
        )
        .await;
    match cancelled {
        Ok(_) => see_other(&format!("/portal/operations/{id}")),
        Err(ApiError::Conflict(why)) => refused_page(lang, lang.messages().refusal(&why)),
        Err(e) => failure(lang, e),
    }
}

/// The operation page's script (served from here; the CSP allows no other).
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("operation.js"),
    )
}
