//! The administrator's unlock of a user's sign-in, in the portal (see `crate::unlock`): one
//! button per user on the users page; the code is shown once, to be told to the user by a
//! channel of the administrator's own.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::auth::Role;
use serde::Deserialize;
use uuid::Uuid;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::pages::{Nav, failure, form_expired, nav, render};
use crate::api::AppState;
use crate::error::ApiError;
use crate::store::accounts;

#[derive(Debug, Deserialize)]
pub struct UnlockForm {
    csrf: String,
}

#[derive(Template)]
#[template(path = "portal/admin_secret.html")]
struct CodePage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    heading: &'static str,
    rows: Vec<(&'static str, String)>,
    hint: Option<&'static str>,
    next: &'static str,
}

/// Issues an unlock code for a user of the administrator's organisation and shows it once.
pub async fn issue(
    State(state): State<AppState>,
    browser: Browser,
    Path(user): Path<String>,
    Form(form): Form<UnlockForm>,
) -> Response {
    let lang = browser.lang;
    let who = browser.who.clone();
    let object = format!("user:{user}");
    if who.role != Role::Admin {
        let refused = state
            .audit_refusal(
                Some(who.org_id),
                Actor::User(who.public_id),
                "admin.user.unlock",
                object,
                ApiError::Forbidden("administration needs the admin role"),
            )
            .await;
        return failure(lang, refused);
    }
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let Ok(user) = Uuid::parse_str(&user) else {
        return failure(lang, ApiError::NotFound("user"));
    };
    let (key, org) = (state.key.clone(), who.org_id);
    let issued = state
        .audited_write(
            Some(org),
            Actor::User(who.public_id),
            "admin.user.unlock",
            object,
            move |c| {
                let id = accounts::user_id_in_org(c, org, user)?;
                let view = accounts::get_user(c, &key, org, user)?;
                let issued = crate::unlock::issue(c, &key, id, user)?;
                Ok::<_, ApiError>((view.email, issued))
            },
        )
        .await;
    let t = lang.messages();
    match issued {
        Ok((email, issued)) => render(
            StatusCode::CREATED,
            &CodePage {
                t,
                lang,
                nav: nav(&browser, "admin"),
                back: "/portal/admin/users".into(),
                heading: t.unlock_sign_in,
                rows: vec![
                    (t.email, email),
                    (t.unlock_code, issued.code),
                    (t.valid_until, super::pages::when(issued.expires_at)),
                ],
                hint: Some(t.unlock_hint),
                next: "/portal/admin/users",
            },
        ),
        Err(e) => failure(lang, e),
    }
}
