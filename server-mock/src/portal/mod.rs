//! The user portal: server-rendered pages on the API's own HTTPS, for people with a browser.
//!
//! Pages are askama templates rendered here (the shape of kanidm's web UI), with no script at
//! all so far: every action is a plain form, so the Content-Security-Policy can forbid scripts
//! outright and the pages work with a keyboard and a screen reader without extra work. Every
//! asset comes from this server.
//!
//! Sessions are the portal's own (a `__Host-` cookie: HttpOnly, Secure, SameSite=Strict, path
//! `/`, idle and absolute timeouts; see `store::web_sessions`), but sign-in goes through the
//! API's [`verify_sign_in`](crate::api::auth::verify_sign_in) with the same attempt limits, and
//! every page asks the same store functions the API asks: what a user may see is decided once.
//! Every state change carries a CSRF token tied to the session (the sign-in form, which has no
//! session yet, a double-submit cookie).

mod admin;
mod alerts;
mod confirm;
pub(crate) mod device_events;
mod device_jobs;
mod fleet;
mod i18n;
mod labels;
mod measurements;
mod operations;
mod pages;
mod records;
mod unlock;
mod zone;

/// The portal's words for what other parts of the server tell users (alert e-mail and webhook
/// text), so that one catalogue says a consumable or an operation in every message.
pub(crate) mod words {
    use ecsp_protocol::remote_ops::{OperationKind, OperationState};

    use super::i18n::Lang;

    fn lang(language: &str) -> Lang {
        if language.starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        }
    }

    /// A consumable kept as `kind colour` (a kind is one key, without spaces) in words.
    pub fn consumable(language: &str, kind_and_colour: &str) -> String {
        let (kind, colour) = match kind_and_colour.split_once(' ') {
            Some((kind, colour)) => (kind, Some(colour)),
            None => (kind_and_colour, None),
        };
        super::labels::consumable_name(lang(language), kind, colour)
    }

    /// A remote operation's kind in words; an unknown key as it is.
    pub fn operation_kind(language: &str, key: &str) -> String {
        match serde_json::from_value::<OperationKind>(serde_json::Value::from(key)) {
            Ok(kind) => lang(language).messages().operation_kind(kind).to_owned(),
            Err(_) => key.to_owned(),
        }
    }

    /// A remote operation's state in words; an unknown key as it is.
    pub fn operation_state(language: &str, key: &str) -> String {
        match serde_json::from_value::<OperationState>(serde_json::Value::from(key)) {
            Ok(state) => lang(language).messages().operation_state(state).to_owned(),
            Err(_) => key.to_owned(),
        }
    }
}

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::AppState;
use crate::error::ApiError;
use crate::store::accounts::UserPrincipal;
use crate::store::web_sessions;
pub use i18n::Lang;

/// The session cookie. `__Host-` makes browsers refuse it unless Secure, path `/`, no domain.
pub const SESSION_COOKIE: &str = "__Host-ecsp_session";
/// The sign-in form's double-submit CSRF cookie.
pub const PRE_SESSION_COOKIE: &str = "__Host-ecsp_signin";
/// A random id for this browser, remembered at sign-in: its sign-ins have their own attempt
/// budget, so someone guessing the password elsewhere cannot lock its owner out (OWASP's
/// device-cookie advice; the applications send their installation id for the same reason).
pub const DEVICE_COOKIE: &str = "__Host-ecsp_device";
pub const LANG_COOKIE: &str = "ecsp_lang";

/// Scripts, frames, plugins and foreign anything are refused; styles and images only from here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The portal's routes, under `/portal`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::to("/portal/devices") }))
        .route(
            "/portal/",
            get(|| async { Redirect::to("/portal/devices") }),
        )
        .route(
            "/portal/sign-in",
            get(pages::sign_in_form).post(pages::sign_in),
        )
        .route("/portal/sign-out", post(pages::sign_out))
        .route(
            "/portal/sign-out-everywhere",
            post(pages::sign_out_everywhere),
        )
        .route("/portal/language", post(pages::set_language))
        .route("/portal/settings", get(zone::settings).post(zone::set_zone))
        .route("/portal/alerts", get(alerts::list).post(alerts::change))
        .route("/portal/fleet", get(fleet::page))
        .route("/portal/fleet/production.csv", get(fleet::csv))
        .route("/portal/alerts/{id}", get(alerts::show))
        .route("/portal/devices", get(pages::devices))
        .route("/portal/devices/{id}", get(pages::device))
        .route(
            "/portal/consent",
            get(pages::consent).post(pages::decide_consent),
        )
        .route("/portal/devices/{id}/operations", post(operations::request))
        .route("/portal/devices/{id}/jobs.csv", get(records::jobs_csv))
        .route("/portal/devices/{id}/measurements", get(measurements::list))
        .route("/portal/records/{id}", get(records::record))
        .route("/portal/me/data.json", get(records::my_data))
        .route("/portal/operations/{id}", get(operations::show))
        .route("/portal/operations/{id}/events", get(operations::events))
        .route("/portal/operations/{id}/cancel", post(operations::cancel))
        .route(
            "/portal/admin/users",
            get(admin::users).post(admin::create_user),
        )
        .route("/portal/admin/users/{id}", post(admin::update_user))
        .route("/portal/admin/users/{id}/unlock", post(unlock::issue))
        .route(
            "/portal/admin/rights",
            get(admin::rights).post(admin::change_right),
        )
        .route(
            "/portal/admin/groups",
            get(admin::groups).post(admin::change_group),
        )
        .route("/portal/admin/groups/assign", post(admin::assign_group))
        .route(
            "/portal/admin/agents",
            get(admin::agents).post(admin::create_agent),
        )
        .route("/portal/admin/agents/{id}", post(admin::change_agent))
        .route("/portal/admin/audit", get(admin::audit_log))
        .route("/portal/admin/audit.csv", get(admin::audit_csv))
        .route("/portal/static/portal.css", get(stylesheet))
        .route("/portal/static/operation.js", get(operations::script))
        .route("/portal/{*rest}", get(pages::not_found))
        .layer(axum::middleware::map_response(page_headers))
        .layer(axum::middleware::from_fn(zone::scope_viewer_zone))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("portal.css"),
    )
}

/// Headers on every portal answer: the CSP, no framing, no referrer, and (for pages, which
/// hold personal data) no caching.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// One cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a cookie only this site's pages send back, over HTTPS.
fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>) -> HeaderValue {
    let age = max_age_secs.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let http_only = if name == LANG_COOKIE {
        ""
    } else {
        "; HttpOnly"
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; SameSite=Strict{http_only}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The language of this request.
#[derive(Debug, Clone, Copy)]
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        Ok(PageLang(Lang::choose(
            cookie(&parts.headers, LANG_COOKIE),
            accept,
        )))
    }
}

/// A request from a signed-in browser; without a live session, the browser is sent to sign in.
#[derive(Debug, Clone)]
pub struct Browser {
    pub who: UserPrincipal,
    /// The session cookie's token (to sign out, and to check CSRF tokens against).
    token: String,
    pub lang: Lang,
}

impl Browser {
    pub fn csrf(&self) -> String {
        web_sessions::csrf_token(&self.token)
    }

    pub fn csrf_ok(&self, presented: &str) -> bool {
        web_sessions::csrf_matches(&self.token, presented)
    }
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PageLang(lang) = PageLang::from_request_parts(parts, state)
            .await
            .unwrap_or(PageLang(Lang::En));
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned) else {
            return Err(Redirect::to("/portal/sign-in").into_response());
        };
        let lookup = token.clone();
        match state
            .db
            .read(move |c| web_sessions::authenticate(c, &lookup))
            .await
        {
            Ok((who, stale)) => {
                if stale {
                    let touch = token.clone();
                    // Losing a touch only shortens the idle window; the page still answers.
                    if let Err(e) = state
                        .db
                        .write(move |c| web_sessions::touch(c, &touch).map_err(ApiError::from))
                        .await
                    {
                        tracing::warn!(error = %e, "could not record portal session activity");
                    }
                }
                Ok(Browser { who, token, lang })
            }
            Err(ApiError::Unauthenticated(_)) => Err((
                StatusCode::SEE_OTHER,
                [
                    (
                        header::LOCATION,
                        HeaderValue::from_static("/portal/sign-in?ended=1"),
                    ),
                    (header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0))),
                ],
            )
                .into_response()),
            Err(e) => Err(pages::failure(lang, e)),
        }
    }
}

/// Whether a `back` target is one of the portal's own pages (never another site).
fn local_target(back: &str) -> Option<&str> {
    (back.starts_with("/portal/") && !back.starts_with("/portal//") && !back.contains('\\'))
        .then_some(back)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "x__Host-ecsp_session=evil; __Host-ecsp_session=good; ecsp_lang=ja",
            ),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("good"));
        assert_eq!(cookie(&h, LANG_COOKIE), Some("ja"));
        assert_eq!(cookie(&h, DEVICE_COOKIE), None);
    }

    #[test]
    fn only_portal_pages_are_redirect_targets() {
        assert_eq!(local_target("/portal/devices"), Some("/portal/devices"));
        assert_eq!(local_target("//evil.example/portal/"), None);
        assert_eq!(local_target("/portal//evil.example"), None);
        assert_eq!(local_target("https://evil.example/portal/"), None);
        assert_eq!(local_target("/portal/\\evil"), None);
    }

    #[test]
    fn session_cookies_are_http_only_secure_and_strict() {
        let v = set_cookie(SESSION_COOKIE, "t", None);
        let v = v.to_str().unwrap_or_default();
        for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(v.contains(part), "{v} lacks {part}");
        }
    }
}
