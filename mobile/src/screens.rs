//! What a field app's screens show, as records the phone languages read directly: first contact
//! with a server (its CA and fingerprint, trusted only once the user compared it), the consent
//! screen (the notice in the device's language, each purpose's state, the history, refreshed
//! from the server's ledger), and what the server holds (devices, a device's records paged).
//! Thin: each call is one of `ecsp-client`'s, its result reshaped.

use chrono::{DateTime, Utc};
use ecsp_client::consent::{ConsentState, NoticeLanguage, notice};
use ecsp_client::remote::RecordQuery;
use ecsp_client::{ErrorCode, server_ca};
use ecsp_protocol::consent::{Decision, Purpose};
use ecsp_protocol::upload::RecordKind;

use crate::{FieldClient, FieldError, FieldErrorCode, uuid};

/// A server's CA as downloaded at first contact. Show `fingerprint` and ask the user to compare
/// it with the one their administrator gave them; only then pass `pem` to `FieldClient`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ServerCa {
    pub pem: String,
    /// SHA-256 of the CA certificate, `AA:BB:…` as the server prints it at start.
    pub fingerprint: String,
}

/// Downloads `{server}/ca.pem` for first contact (unverified: the fingerprint is the check).
#[uniffi::export(async_runtime = "tokio")]
pub async fn fetch_server_ca(server: String) -> Result<ServerCa, FieldError> {
    let ca = server_ca::fetch_server_ca(&server).await?;
    Ok(ServerCa {
        pem: ca.pem,
        fingerprint: ca.sha256,
    })
}

/// Whether two fingerprints are the same (case, spaces and separators ignored: people type
/// them in as they read them).
#[uniffi::export]
pub fn fingerprints_match(shown: String, expected: String) -> bool {
    server_ca::fingerprints_match(&shown, &expected)
}

/// Where a purpose stands for the signed-in user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentStateKind {
    Granted,
    Refused,
    /// Granted, then withdrawn.
    Withdrawn,
    NeverAsked,
    /// Decided under an older notice: ask again (not granted meanwhile).
    AskAgain,
}

impl From<ConsentState> for ConsentStateKind {
    fn from(s: ConsentState) -> Self {
        match s {
            ConsentState::Granted => Self::Granted,
            ConsentState::Refused => Self::Refused,
            ConsentState::Withdrawn => Self::Withdrawn,
            ConsentState::NeverAsked => Self::NeverAsked,
            ConsentState::AskAgain => Self::AskAgain,
        }
    }
}

/// One purpose on the consent screen: the notice's words for it and the user's decision.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PurposeConsent {
    /// `job_info`, `gps` or `photos` (what `grant`/`refuse`/`withdraw` take).
    pub purpose: String,
    pub title: String,
    pub text: String,
    pub state: ConsentStateKind,
    /// When the latest decision was made (seconds since the Unix epoch).
    pub decided_at_unix: Option<i64>,
    /// The notice version the latest decision was made under.
    pub decided_under_notice: Option<String>,
    /// The latest decision is made here and not delivered yet (it counts meanwhile).
    pub waiting_to_send: bool,
}

/// The consent screen, in one language.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentScreen {
    pub notice_version: String,
    /// `en` or `ja`.
    pub language: String,
    pub introduction: String,
    pub purposes: Vec<PurposeConsent>,
    /// False when the server could not be asked (offline): the states are this phone's
    /// knowledge, and the screen should say so.
    pub from_server: bool,
}

/// A decision, as the history lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentDecisionKind {
    Grant,
    Refuse,
    Withdraw,
}

impl From<Decision> for ConsentDecisionKind {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Granted => Self::Grant,
            Decision::Refused => Self::Refuse,
            Decision::Withdrawn => Self::Withdraw,
        }
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ConsentHistoryItem {
    pub purpose: String,
    pub decision: ConsentDecisionKind,
    pub notice_version: String,
    pub decided_at_unix: i64,
    /// Made on this phone (otherwise in another of the user's apps, known from the server).
    pub made_here: bool,
    /// The server has it.
    pub delivered: bool,
}

/// A printer the user may upload for.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Device {
    pub id: String,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    /// The group (a site, a floor, a customer) it is filed under, by name.
    pub group: Option<String>,
    /// Where it stands by its latest report; `None` when it has reported nothing yet.
    pub state: Option<DeviceStateName>,
}

/// Where a printer stands by its latest report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceStateName {
    Printing,
    Standby,
    Error,
    Other,
}

impl From<ecsp_protocol::agent::DeviceState> for DeviceStateName {
    fn from(s: ecsp_protocol::agent::DeviceState) -> Self {
        use ecsp_protocol::agent::DeviceState as S;
        match s {
            S::Printing => Self::Printing,
            S::Standby => Self::Standby,
            S::Error => Self::Error,
            S::Other => Self::Other,
        }
    }
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKindName {
    Dfe,
    Measurement,
    DeviceData,
}

impl From<RecordKind> for RecordKindName {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Dfe => Self::Dfe,
            RecordKind::Measurement => Self::Measurement,
            RecordKind::DeviceData => Self::DeviceData,
        }
    }
}

impl From<RecordKindName> for RecordKind {
    fn from(k: RecordKindName) -> Self {
        match k {
            RecordKindName::Dfe => Self::Dfe,
            RecordKindName::Measurement => Self::Measurement,
            RecordKindName::DeviceData => Self::DeviceData,
        }
    }
}

/// Where a page of records ended, to give back for the next page: the last record's capture
/// time and id together (records sharing a capture time are never skipped). Opaque.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PageCursor {
    pub token: String,
}

impl PageCursor {
    fn after(captured_at: DateTime<Utc>, record_id: uuid::Uuid) -> Self {
        Self {
            token: format!(
                "{}/{record_id}",
                captured_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            ),
        }
    }

    fn parse(&self) -> Result<(DateTime<Utc>, uuid::Uuid), FieldError> {
        let bad = || FieldError::new(FieldErrorCode::InvalidInput, "not a page cursor");
        let (time, id) = self.token.split_once('/').ok_or_else(bad)?;
        let time = DateTime::parse_from_rfc3339(time).map_err(|_| bad())?;
        Ok((time.with_timezone(&Utc), uuid(id)?))
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordSummary {
    pub id: String,
    pub kind: RecordKindName,
    pub captured_at_unix_ms: i64,
    pub stored_at_unix_ms: i64,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct RecordPage {
    /// Newest capture first.
    pub records: Vec<RecordSummary>,
    /// The next page's start, when more may follow.
    pub next: Option<PageCursor>,
}

fn purpose_name(p: Purpose) -> String {
    p.as_str().to_owned()
}

fn language(code: &str) -> NoticeLanguage {
    // The device's language; Japanese when it is Japanese, English otherwise.
    if code.to_ascii_lowercase().starts_with("ja") {
        NoticeLanguage::Ja
    } else {
        NoticeLanguage::En
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldClient {
    /// The consent screen in `language_code` (the device's, e.g. `ja-JP`): the notice, and each
    /// purpose's state as the server's ledger has it (asked now; this phone's decisions not
    /// delivered yet count on top). Offline, this phone's knowledge, said by `from_server`.
    pub async fn consent_screen(&self, language_code: String) -> Result<ConsentScreen, FieldError> {
        let (statuses, from_server) = match self.inner.refresh_consents().await {
            Ok(s) => (s, true),
            Err(e) if e.code == ErrorCode::Offline => (self.inner.consent_status().await?, false),
            Err(e) => return Err(e.into()),
        };
        let notice = notice(language(&language_code));
        let purposes = notice
            .items
            .iter()
            .map(|item| {
                let status = statuses.iter().find(|s| s.purpose == item.purpose);
                PurposeConsent {
                    purpose: purpose_name(item.purpose),
                    title: item.title.to_owned(),
                    text: item.text.to_owned(),
                    state: status.map_or(ConsentStateKind::NeverAsked, |s| s.state.into()),
                    decided_at_unix: status.and_then(|s| s.decided_at).map(|t| t.timestamp()),
                    decided_under_notice: status.and_then(|s| s.notice_version.clone()),
                    waiting_to_send: status.is_some_and(|s| s.pending_upload),
                }
            })
            .collect();
        Ok(ConsentScreen {
            notice_version: notice.version.to_owned(),
            language: match notice.language {
                NoticeLanguage::Ja => "ja".into(),
                NoticeLanguage::En => "en".into(),
            },
            introduction: notice.introduction.to_owned(),
            purposes,
            from_server,
        })
    }

    /// The user's decisions, newest first: this phone's and, from the server's ledger, those
    /// made in the user's other apps.
    pub async fn consent_history(&self) -> Result<Vec<ConsentHistoryItem>, FieldError> {
        Ok(self
            .inner
            .consent_history()
            .await?
            .into_iter()
            .map(|h| ConsentHistoryItem {
                purpose: purpose_name(h.purpose),
                decision: h.decision.into(),
                notice_version: h.notice_version,
                decided_at_unix: h.decided_at.timestamp(),
                made_here: h.decision_id.is_some(),
                delivered: h.delivered,
            })
            .collect())
    }

    /// The printers the user may upload for, with their group's name.
    pub async fn devices(&self) -> Result<Vec<Device>, FieldError> {
        let devices = self.inner.devices_with_state().await?;
        let groups = if devices.iter().any(|d| d.group_id.is_some()) {
            self.inner.groups().await?
        } else {
            Vec::new()
        };
        Ok(devices
            .into_iter()
            .map(|d| Device {
                id: d.device_id.to_string(),
                group: d.group_id.and_then(|g| {
                    groups
                        .iter()
                        .find(|x| x.group_id == g)
                        .map(|x| x.name.clone())
                }),
                state: d.state.map(Into::into),
                manufacturer: d.manufacturer,
                model: d.model,
                serial_number: d.serial_number,
            })
            .collect())
    }

    /// A page of a device's records, newest capture first; `after` is the previous page's
    /// `next`. `limit` is 1 to 500.
    pub async fn records(
        &self,
        device_id: String,
        kind: Option<RecordKindName>,
        after: Option<PageCursor>,
        limit: u32,
    ) -> Result<RecordPage, FieldError> {
        if !(1..=500).contains(&limit) {
            return Err(FieldError::new(
                FieldErrorCode::InvalidInput,
                format!("limit {limit}: a page holds 1 to 500 records"),
            ));
        }
        let (before, before_id) = match &after {
            Some(c) => {
                let (time, id) = c.parse()?;
                (Some(time), Some(id))
            }
            None => (None, None),
        };
        let views = self
            .inner
            .records(
                uuid(&device_id)?,
                RecordQuery {
                    kind: kind.map(Into::into),
                    before,
                    before_id,
                    limit: Some(limit),
                },
            )
            .await?;
        let next = (views.len() as u32 == limit)
            .then(|| views.last())
            .flatten()
            .map(|last| PageCursor::after(last.captured_at, last.record_id));
        Ok(RecordPage {
            records: views
                .into_iter()
                .map(|v| RecordSummary {
                    id: v.record_id.to_string(),
                    kind: v.kind.into(),
                    captured_at_unix_ms: v.captured_at.timestamp_millis(),
                    stored_at_unix_ms: v.stored_at.timestamp_millis(),
                })
                .collect(),
            next,
        })
    }
}

/// Why a measurement is shown without a comparison (the host words it in its language).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NotComparedKind {
    /// The device has no earlier comparable measurement, and none was chosen.
    NoReference,
    ReferenceUnreadable,
    Unreadable,
    /// Measured under other conditions (M0–M3, geometry, backing).
    Conditions,
    NoCommonPatch,
    Other,
}

/// A measurement record as a field app's record screen shows it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct MeasurementView {
    pub record_id: String,
    pub captured_at_unix_ms: i64,
    pub printing_condition: String,
    /// The measurement condition (ISO 13655: `M0`…`M3`) of its readings.
    pub measurement_condition: Option<String>,
    pub patches: u32,
    /// The measurement compared with: the one asked for, else the device's newest earlier
    /// comparable one (same printing condition, measurement condition and patches).
    pub reference_id: Option<String>,
    pub delta_e00_mean: Option<f64>,
    pub delta_e00_p95: Option<f64>,
    pub delta_e00_max: Option<f64>,
    pub not_compared: Option<NotComparedKind>,
    /// The colour library's own words on why not (English), beside the code.
    pub not_compared_detail: Option<String>,
    /// Plots as SVG documents (for a web view), in the language asked for; at most 100 patches
    /// drawn (the worst), the figures above cover all.
    pub spectra_svg: Option<String>,
    pub ab_svg: Option<String>,
    pub delta_e_bars_svg: Option<String>,
}

fn measurement_of(
    view: &ecsp_protocol::upload::RecordView,
) -> Option<ecsp_protocol::measurement::MeasurementRecord> {
    serde_json::from_value(view.record.clone()).ok()
}

#[uniffi::export(async_runtime = "tokio")]
impl FieldClient {
    /// A measurement record with its colour difference from `reference_id` (or, without one,
    /// the device's newest earlier comparable measurement among its last 20) and its plots in
    /// `language_code`'s language.
    pub async fn measurement(
        &self,
        record_id: String,
        reference_id: Option<String>,
        language_code: String,
    ) -> Result<MeasurementView, FieldError> {
        let view = self.inner.record(uuid(&record_id)?).await?;
        let record = measurement_of(&view).ok_or_else(|| {
            FieldError::new(
                FieldErrorCode::InvalidInput,
                format!("record {record_id} is not a measurement"),
            )
        })?;
        let (reference_view, reference) = match reference_id {
            Some(id) => {
                let r = self.inner.record(uuid(&id)?).await?;
                let m = measurement_of(&r);
                (Some(r), m)
            }
            None => {
                let earlier = self
                    .inner
                    .records(
                        view.device_id,
                        RecordQuery {
                            kind: Some(RecordKind::Measurement),
                            before: Some(view.captured_at),
                            before_id: Some(view.record_id),
                            limit: Some(20),
                        },
                    )
                    .await?;
                let parsed: Vec<_> = earlier
                    .into_iter()
                    .filter_map(|r| measurement_of(&r).map(|m| (r, m)))
                    .collect();
                let chosen =
                    ecsp_color::summary::default_reference(&record, parsed.iter().map(|(_, m)| m));
                match chosen.and_then(|i| parsed.into_iter().nth(i)) {
                    Some((r, m)) => (Some(r), Some(m)),
                    None => (None, None),
                }
            }
        };
        let words = match language(&language_code) {
            NoticeLanguage::Ja => &ecsp_color::plot::Words::JAPANESE,
            NoticeLanguage::En => &ecsp_color::plot::Words::ENGLISH,
        };
        let summary = ecsp_color::summary::summarize(&record, reference.as_ref(), words);
        let (report, not_compared, detail) = match (&reference_view, summary.comparison) {
            (None, _) | (_, None) => (None, Some(NotComparedKind::NoReference), None),
            (Some(_), Some(Ok(report))) => (Some(report), None, None),
            (Some(_), Some(Err(why))) => {
                use ecsp_color::tolerance::NotComparable as N;
                let (kind, detail) = match why {
                    N::ReferenceUnreadable => (NotComparedKind::ReferenceUnreadable, None),
                    N::Unreadable(d) => (NotComparedKind::Unreadable, Some(d)),
                    N::Conditions(d) => (NotComparedKind::Conditions, Some(d)),
                    N::NoCommonPatch => (NotComparedKind::NoCommonPatch, None),
                    N::SizesDiffer(r, s) => {
                        (NotComparedKind::Other, Some(format!("{r} and {s} patches")))
                    }
                    N::Other(d) => (NotComparedKind::Other, Some(d)),
                };
                (None, Some(kind), detail)
            }
        };
        Ok(MeasurementView {
            record_id: view.record_id.to_string(),
            captured_at_unix_ms: view.captured_at.timestamp_millis(),
            printing_condition: summary.printing_condition,
            measurement_condition: record
                .samples
                .first()
                .map(|s| s.condition.illumination.as_str().to_owned()),
            patches: summary.patches as u32,
            reference_id: reference_view.map(|r| r.record_id.to_string()),
            delta_e00_mean: report.as_ref().map(|r| r.mean),
            delta_e00_p95: report.as_ref().map(|r| r.percentile95),
            delta_e00_max: report.as_ref().map(|r| r.max),
            not_compared,
            not_compared_detail: detail,
            spectra_svg: summary.spectra_svg,
            ab_svg: summary.ab_svg,
            delta_e_bars_svg: summary.delta_e_bars_svg,
        })
    }
}
