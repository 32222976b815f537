//! What a user can take or read in detail: one stored record (a DFE upload with its settings and,
//! only where it was given with consent, its job; a measurement with its samples), a device's
//! DFE job history as CSV, and the user's own personal data as JSON.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ecsp_protocol::admin::Actor;
use ecsp_protocol::dfe::DfeRecord;
use ecsp_protocol::upload::RecordKind;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::labels::{self, FieldRow};
use super::measurements::{Measured, MeasurementPlots, ReferenceQuery, Related};
use super::pages::{Nav, failure, nav, render, when};
use crate::api::AppState;
use crate::db::StoreError;
use crate::error::ApiError;
use crate::store::{accounts, consent, devices, records};

/// The most DFE records one job-history export reads.
const JOBS_EXPORT_MAX: u32 = 100_000;
/// The most device reports one job-history export reads for the jobs agents report: each
/// report repeats the device's recent jobs, so the newest reports hold its recent history.
const JOB_REPORTS_EXPORT_MAX: u32 = 2_000;

#[derive(Template)]
#[template(path = "portal/record.html")]
struct RecordPage {
    t: &'static Messages,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    device: Uuid,
    kind: &'static str,
    captured_at: String,
    stored_at: String,
    id: Uuid,
    /// The record's parts, each as labelled `field: value` rows.
    sections: Vec<(String, Vec<FieldRow>)>,
    /// Measurement samples: patch, L*, a*, b*.
    samples: Vec<(String, String, String, String)>,
    /// Whether some samples' CIELAB was computed from their spectra (D50/2°).
    samples_computed: bool,
    /// Whether a DFE record carries job information (given with `job_info` consent).
    has_job: bool,
    /// A measurement's plots against its reference, and the device's trend.
    plots: Option<MeasurementPlots>,
}

pub async fn record(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(reference): Query<ReferenceQuery>,
) -> Response {
    let lang = browser.lang;
    let Ok(id) = Uuid::parse_str(&id) else {
        return failure(lang, ApiError::NotFound("record"));
    };
    let chosen = match reference.chosen() {
        Ok(c) => c,
        Err(e) => return failure(lang, e),
    };
    let (who, key) = (browser.who.clone(), state.key.clone());
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "record.read",
            format!("record:{id}"),
            move |c| {
                let stored = records::get_visible_sealed(c, &who, id)?;
                // A measurement is opened once, as its type, for the page and its plots.
                let opened = match stored.kind {
                    RecordKind::Measurement => {
                        let this = Measured::open(&stored, &key)?;
                        let related =
                            Related::read(c, &key, &who, &this, stored.device_id, chosen)?;
                        Opened::Measurement(this, Box::new(related))
                    }
                    _ => Opened::Other(stored.open(&key)?.record),
                };
                Ok((stored, opened))
            },
        )
        .await;
    let (view, opened) = match found {
        Ok(v) => v,
        Err(e) => return failure(lang, e),
    };
    // A measurement's plots are CPU work: off the async threads.
    let (opened, plots) = match opened {
        Opened::Measurement(this, related) => {
            match tokio::task::spawn_blocking(move || {
                let plots = MeasurementPlots::build(lang, &this, &related);
                (this, plots)
            })
            .await
            {
                Ok((this, plots)) => (Body::Measurement(this), plots),
                Err(e) => return failure(lang, ApiError::Store(StoreError::Task(e.to_string()))),
            }
        }
        Opened::Other(record) => (Body::Other(record), None),
    };
    let t = lang.messages();
    let mut sections = Vec::new();
    let mut samples = Vec::new();
    let mut samples_computed = false;
    let mut has_job = false;
    let part = |value: &Value| labels::rows(lang, value);
    match (view.kind, &opened) {
        (RecordKind::Dfe, Body::Other(record)) => {
            if let Ok(r) = DfeRecord::deserialize(record) {
                for (name, value) in [
                    (t.software, serde_json::to_value(&r.software)),
                    (t.environment, serde_json::to_value(&r.environment)),
                    (t.print_settings, serde_json::to_value(&r.print_settings)),
                ] {
                    sections.push((name.to_owned(), part(&value.unwrap_or_default())));
                }
                if let Some(job) = &r.job {
                    has_job = true;
                    sections.push((
                        t.job_information.to_owned(),
                        part(&serde_json::to_value(job).unwrap_or_default()),
                    ));
                }
            }
        }
        (RecordKind::Measurement, Body::Measurement(this)) => {
            if let Some(r) = this.record.as_deref() {
                for (name, value) in [
                    (t.instrument, serde_json::to_value(&r.instrument)),
                    (t.settings, serde_json::to_value(&r.settings)),
                ] {
                    sections.push((name.to_owned(), part(&value.unwrap_or_default())));
                }
                (samples, samples_computed) = super::measurements::sample_rows(r);
            }
        }
        (RecordKind::DeviceData, Body::Other(record)) => {
            // The reading's own fields, without the record's `device` wrapper.
            let device = record.get("device").unwrap_or(record);
            sections.push((t.device_status.to_owned(), part(device)));
        }
        _ => {}
    }
    render(
        StatusCode::OK,
        &RecordPage {
            t,
            lang,
            nav: nav(&browser, "devices"),
            back: format!("/portal/records/{id}"),
            device: view.device_id,
            kind: match view.kind {
                RecordKind::DeviceData => t.kind_device_data,
                RecordKind::Dfe => t.kind_dfe,
                RecordKind::Measurement => t.kind_measurement,
            },
            captured_at: when(view.captured_at),
            stored_at: when(view.stored_at),
            id,
            sections,
            samples,
            samples_computed,
            has_job,
            plots,
        },
    )
}

/// A record's body as its page reads it: a measurement as its type, with what its plots
/// compare it with, any other record as JSON.
enum Opened {
    Measurement(Measured, Box<Related>),
    Other(Value),
}

/// A record's body as its page shows it, once the plots are drawn.
enum Body {
    Measurement(Measured),
    Other(Value),
}

/// A device's job history as CSV: one row per DFE record that carries job information, and one
/// per job in the job history agents report with the device's data (`source` tells which).
/// UTF-8 with a byte-order mark, so that spreadsheet programs read Japanese names right; named
/// by the device and the day.
pub async fn jobs_csv(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    let lang = browser.lang;
    let Ok(id) = Uuid::parse_str(&id) else {
        return failure(lang, ApiError::NotFound("device"));
    };
    let (who, key) = (browser.who.clone(), state.key.clone());
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "device.jobs.export",
            format!("device:{id}"),
            move |c| {
                let (internal, device) = devices::visible(c, &who, id)?;
                let dfe = records::list_for_device(
                    c,
                    &key,
                    internal,
                    id,
                    Some(RecordKind::Dfe),
                    None,
                    JOBS_EXPORT_MAX,
                )?;
                let reports = records::list_for_device(
                    c,
                    &key,
                    internal,
                    id,
                    Some(RecordKind::DeviceData),
                    None,
                    JOB_REPORTS_EXPORT_MAX,
                )?;
                Ok((device, dfe, reports))
            },
        )
        .await;
    let (device, views, reports) = match found {
        Ok(v) => v,
        Err(e) => return failure(lang, e),
    };
    let filename = format!(
        "ecsp-jobs-{}-{}-{}.csv",
        file_part(&device.model),
        file_part(&device.serial_number),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let device_jobs = super::device_jobs::jobs(&reports);
    super::admin::csv_download(lang, &filename, |out| {
        out.write_record([
            "source",
            "captured_at",
            "job_id",
            "job_name",
            "user_name",
            "document_name",
            "status",
            "copies",
            "pages",
            "media_name",
            "submitted_at",
            "printed_at",
            "ink_used_ml",
            "started_at",
            "printed_area_m2",
        ])?;
        for v in &views {
            let Ok(r) = DfeRecord::deserialize(&v.record) else {
                continue;
            };
            let Some(j) = r.job else { continue };
            let opt = |s: &Option<String>| super::admin::csv_safe(s.as_deref().unwrap_or_default());
            let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
            let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_default()
            };
            out.write_record([
                "dfe".to_owned(),
                v.captured_at.to_rfc3339(),
                super::admin::csv_safe(&j.job_id),
                opt(&j.job_name),
                opt(&j.user_name),
                opt(&j.document_name),
                opt(&j.status),
                num(j.copies),
                num(j.pages),
                opt(&j.media_name),
                time(j.submitted_at),
                time(j.printed_at),
                j.ink_used_ml.map(|m| m.to_string()).unwrap_or_default(),
                String::new(),
                String::new(),
            ])?;
        }
        for j in &device_jobs {
            let safe = super::admin::csv_safe;
            out.write_record([
                "device".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                safe(&j.result),
                String::new(),
                j.pages.map(|p| p.to_string()).unwrap_or_default(),
                safe(j.media.as_deref().unwrap_or_default()),
                String::new(),
                j.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                String::new(),
                j.started_at.to_rfc3339(),
                j.printed_area_m2.map(|a| a.to_string()).unwrap_or_default(),
            ])?;
        }
        Ok(())
    })
}

/// A model or serial number as part of a file name: letters, digits, `-` and `_` only.
fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The signed-in user's own personal data, as the server holds it: their account and every
/// consent decision (GDPR Art. 15/20, APPI Art. 33). Records they uploaded are their
/// organisation's and are read on the device pages.
pub async fn my_data(State(state): State<AppState>, browser: Browser) -> Response {
    let lang = browser.lang;
    let (who, key) = (browser.who.clone(), state.key.clone());
    let me = who.clone();
    let found = state
        .audited_read(
            Some(who.org_id),
            Actor::User(who.public_id),
            "account.export",
            format!("user:{}", who.public_id),
            move |c| {
                let account = accounts::whoami(c, &key, &me)?;
                let consents = consent::overview(c, me.id)?;
                Ok::<_, ApiError>((account, consents))
            },
        )
        .await;
    match found {
        Ok((account, consents)) => {
            let body = json!({
                "exported_at": chrono::Utc::now(),
                "account": account,
                "consent": consents,
            });
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"ecsp-my-data.json\"",
                    ),
                ],
                serde_json::to_vec_pretty(&body).unwrap_or_default(),
            )
                .into_response()
        }
        Err(e) => failure(lang, e),
    }
}
