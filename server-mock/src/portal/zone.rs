//! The viewer's time zone, for every time the portal shows. The portal runs no script on its
//! pages (but the live operation page), so it cannot read the browser's zone: the viewer chooses
//! it on the settings page, kept as a preference cookie like the language; until then, UTC.
//! Zones are IANA names with their daylight-saving rules (chrono-tz), not fixed offsets.

use std::str::FromStr;

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::i18n::{Lang, Messages};
use super::pages::{Nav, form_expired, nav, render, see_other};
use super::{Browser, cookie, set_cookie};

pub const TZ_COOKIE: &str = "ecsp_tz";
/// How long the preference is kept, as the language's.
const TZ_COOKIE_SECS: i64 = 400 * 24 * 3600;

/// The zone this request's viewer chose; UTC when none (or an unknown name) is set.
#[derive(Debug, Clone, Copy)]
pub struct ViewerZone(pub Tz);

impl<S: Send + Sync> FromRequestParts<S> for ViewerZone {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ViewerZone(zone_named(cookie(&parts.headers, TZ_COOKIE))))
    }
}

fn zone_named(name: Option<&str>) -> Tz {
    name.and_then(|n| Tz::from_str(n).ok()).unwrap_or(Tz::UTC)
}

tokio::task_local! {
    /// The zone of the request being answered (see [`scope_viewer_zone`]).
    static VIEWER_ZONE: Tz;
}

/// Middleware: every portal page is drawn with the viewer's zone at hand, so each time on it is
/// shown in that zone without every handler passing it down.
pub async fn scope_viewer_zone(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let zone = zone_named(cookie(request.headers(), TZ_COOKIE));
    VIEWER_ZONE.scope(zone, next.run(request)).await
}

/// `t` in the zone of the request being answered; UTC outside one (or off its task).
pub fn in_viewer_zone(t: DateTime<Utc>) -> String {
    at(VIEWER_ZONE.try_with(|z| *z).unwrap_or(Tz::UTC), t)
}

/// `t` in `zone`, with the zone's abbreviation (JST, CEST…) or offset.
pub fn at(zone: Tz, t: DateTime<Utc>) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

#[derive(Template)]
#[template(path = "portal/settings.html")]
struct SettingsPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    current: String,
    zones: Vec<&'static str>,
    saved: bool,
}

#[derive(Debug, Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

pub async fn settings(browser: Browser, zone: ViewerZone, Query(q): Query<Saved>) -> Response {
    let lang = browser.lang;
    let mut zones: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    zones.sort_unstable();
    render(
        StatusCode::OK,
        &SettingsPage {
            t: lang.messages(),
            lang,
            nav: nav(&browser, "settings"),
            back: "/portal/settings".into(),
            csrf: browser.csrf(),
            current: zone.0.name().to_owned(),
            zones,
            saved: q.saved.is_some(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ZoneForm {
    csrf: String,
    time_zone: String,
}

/// Keeps the chosen zone (a preference cookie; nothing on the server changes). A name that is
/// not an IANA zone is refused as an expired form would be: the page offers only real ones.
pub async fn set_zone(browser: Browser, Form(form): Form<ZoneForm>) -> Response {
    let Ok(zone) = Tz::from_str(&form.time_zone) else {
        return form_expired(browser.lang);
    };
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(browser.lang);
    }
    let mut response = see_other("/portal/settings?saved=1");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(TZ_COOKIE, zone.name(), Some(TZ_COOKIE_SECS)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_the_chosen_zone_with_daylight_saving() {
        let t = DateTime::parse_from_rfc3339("2026-07-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            at(zone_named(Some("Asia/Tokyo")), t),
            "2026-07-01 21:00:00 JST"
        );
        assert_eq!(
            at(zone_named(Some("Europe/Berlin")), t),
            "2026-07-01 14:00:00 CEST"
        );
        assert_eq!(at(zone_named(None), t), "2026-07-01 12:00:00 UTC");
        assert_eq!(
            at(zone_named(Some("Mars/Olympus")), t),
            "2026-07-01 12:00:00 UTC"
        );
    }
}
