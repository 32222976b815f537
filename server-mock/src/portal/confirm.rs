//! A step that asks before doing what costs or cannot be undone (a strong head cleaning uses
//! ink; deleting a device group), without a script: the first post answers with this page,
//! whose form posts the same fields again with `confirmed=1`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::pages::{Nav, nav, render};

#[derive(Template)]
#[template(path = "portal/confirm.html")]
struct ConfirmPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    heading: String,
    question: String,
    action: String,
    fields: Vec<(&'static str, String)>,
    confirm: String,
    cancel_href: String,
}

/// What a confirmation asks: its heading and question, where the form posts and with which
/// fields, the button's words, and where "cancel" goes back to.
pub struct Ask<'a> {
    pub heading: String,
    pub question: String,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub confirm: &'a str,
    pub cancel_href: String,
}

pub fn page(browser: &Browser, current: &'static str, ask: Ask<'_>) -> Response {
    let lang = browser.lang;
    let mut fields = ask.fields;
    fields.push(("csrf", browser.csrf()));
    fields.push(("confirmed", "1".into()));
    render(
        StatusCode::OK,
        &ConfirmPage {
            t: lang.messages(),
            lang,
            nav: nav(browser, current),
            back: ask.cancel_href.clone(),
            heading: ask.heading,
            question: ask.question,
            action: ask.action,
            fields,
            confirm: ask.confirm.to_owned(),
            cancel_href: ask.cancel_href,
        },
    )
}
