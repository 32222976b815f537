//! The fleet dashboard: what the printers a user may see produced (today by hour, the last 30
//! days by day) in the unit they pick, how many are in each state, and the printers that need
//! someone now. Charts are drawn on the server (SVG, as the measurement pages' are), each with
//! its values as a table beside it. The same store calls as `/api/v1/fleet/…`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ecsp_color::plot;
use ecsp_protocol::fleet::{AttentionReason, FleetDashboard, ProductionUnit};
use serde::Deserialize;
use uuid::Uuid;

use super::Browser;
use super::i18n::{Lang, Messages};
use super::measurements::embed;
use super::pages::{Nav, failure, nav, render};
use super::zone::{ViewerZone, in_viewer_zone};
use crate::api::AppState;
use crate::store::fleet::{self, Filter};
use crate::store::groups;

/// A consumable at or below this percent is on the attention list.
const CONSUMABLE_ATTENTION_PERCENT: f64 = 10.0;
/// Entries of each reason on the page.
const ATTENTION_PER_REASON: i64 = 50;

/// The page's words.
#[derive(Debug)]
pub struct FleetWords {
    pub nav: &'static str,
    pub heading: &'static str,
    pub group: &'static str,
    pub all_groups: &'static str,
    pub unit: &'static str,
    pub units: [&'static str; 4],
    pub show: &'static str,
    pub states: &'static str,
    pub state_names: [&'static str; 6],
    pub printers: &'static str,
    pub today: &'static str,
    pub hour_axis: &'static str,
    pub month: &'static str,
    pub day_axis: &'static str,
    pub ink: &'static str,
    pub values: &'static str,
    pub csv: &'static str,
    pub attention: &'static str,
    pub attention_none: &'static str,
    pub reasons: [&'static str; 4],
    pub printer: &'static str,
    pub when: &'static str,
    pub detail: &'static str,
    pub total: &'static str,
    pub how: &'static str,
}

static EN: FleetWords = FleetWords {
    nav: "Fleet",
    heading: "The fleet at a glance",
    group: "Group",
    all_groups: "All printers",
    unit: "Show production in",
    units: ["jobs", "sheets", "m²", "ft²"],
    show: "Show",
    states: "Printers by state",
    state_names: [
        "Printing",
        "Standby",
        "Error",
        "Other",
        "Silent",
        "No report yet",
    ],
    printers: "printers",
    today: "Today by hour",
    hour_axis: "Hour",
    month: "The last 30 days",
    day_axis: "Day",
    ink: "Ink (ml)",
    values: "The values",
    csv: "Each printer by day (CSV)",
    attention: "Needs attention",
    attention_none: "Nothing needs attention.",
    reasons: [
        "Error",
        "Not heard from",
        "Consumable low",
        "Remote operation failed",
    ],
    printer: "Printer",
    when: "When",
    detail: "What",
    total: "Total",
    how: "Jobs and sheets come from the printers' job logs; area, ink and printing time from their own counters. A counter that goes back (a replaced board) or jumps is not counted.",
};

static JA: FleetWords = FleetWords {
    nav: "稼働状況",
    heading: "フリートの稼働状況",
    group: "グループ",
    all_groups: "すべてのプリンター",
    unit: "生産量の単位",
    units: ["ジョブ", "枚", "m²", "ft²"],
    show: "表示",
    states: "状態別のプリンター数",
    state_names: [
        "印刷中",
        "待機中",
        "エラー",
        "その他",
        "応答なし",
        "報告なし",
    ],
    printers: "台",
    today: "今日（時間ごと）",
    hour_axis: "時",
    month: "過去30日間",
    day_axis: "日付",
    ink: "インク (ml)",
    values: "数値",
    csv: "プリンター別・日別（CSV）",
    attention: "対応が必要なプリンター",
    attention_none: "対応が必要なものはありません。",
    reasons: ["エラー", "応答なし", "消耗品残量少", "リモート操作の失敗"],
    printer: "プリンター",
    when: "日時",
    detail: "内容",
    total: "合計",
    how: "ジョブ数と枚数はプリンターのジョブ履歴から、面積・インク・印刷時間はプリンター自身のカウンターから集計します。カウンターが戻った（基板交換など）場合や急増した場合は数えません。",
};

impl FleetWords {
    pub fn of(lang: Lang) -> &'static FleetWords {
        match lang {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }

    fn unit_words(&self, unit: ProductionUnit) -> &'static str {
        let i = ProductionUnit::ALL
            .iter()
            .position(|u| *u == unit)
            .unwrap_or(0);
        self.units[i]
    }

    fn reason_words(&self, r: AttentionReason) -> &'static str {
        self.reasons[match r {
            AttentionReason::Error => 0,
            AttentionReason::Silent => 1,
            AttentionReason::ConsumableLow => 2,
            AttentionReason::OperationFailed => 3,
        }]
    }
}

struct AttentionRow {
    reason: &'static str,
    device: Uuid,
    printer: String,
    when: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "portal/fleet.html")]
struct FleetPage {
    t: &'static Messages,
    w: &'static FleetWords,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    groups: Vec<(Uuid, String)>,
    group: Option<Uuid>,
    units: Vec<(&'static str, &'static str)>,
    unit: &'static str,
    unit_words: &'static str,
    zone: String,
    devices: u32,
    states: Vec<(&'static str, u32)>,
    states_svg: String,
    today_svg: String,
    month_svg: String,
    today_rows: Vec<(String, String)>,
    month_rows: Vec<(String, String, String)>,
    month_total: String,
    csv_href: String,
    attention: Vec<AttentionRow>,
}

#[derive(Debug, Deserialize)]
pub struct FleetQuery {
    #[serde(default)]
    group: String,
    #[serde(default)]
    unit: String,
}

fn figure(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub async fn page(
    State(state): State<AppState>,
    browser: Browser,
    zone: ViewerZone,
    Query(q): Query<FleetQuery>,
) -> Response {
    let lang = browser.lang;
    let w = FleetWords::of(lang);
    let unit = ProductionUnit::parse(&q.unit).unwrap_or_default();
    // An unknown group is "all printers", as a filter left empty.
    let group = Uuid::parse_str(&q.group).ok();
    let (key, who, tz) = (state.key.clone(), browser.who.clone(), zone.0);
    let read = state
        .db
        .read(move |c| {
            let now = chrono::Utc::now();
            let groups = groups::list(c, &key, &who)?;
            let group = group.filter(|g| groups.iter().any(|x| x.group_id == *g));
            let filter = Filter {
                group,
                device: None,
            };
            Ok((
                groups,
                group,
                fleet::dashboard(c, &who, filter, unit, tz, now)?,
                fleet::attention(
                    c,
                    &who,
                    CONSUMABLE_ATTENTION_PERCENT,
                    now,
                    ATTENTION_PER_REASON,
                )?,
            ))
        })
        .await;
    let (groups, group, board, attention) = match read {
        Ok(r) => r,
        Err(e) => return failure(lang, e),
    };
    let FleetDashboard {
        today_by_hour,
        days,
        states,
        devices,
        ..
    } = board;
    let states = vec![
        (w.state_names[0], states.printing),
        (w.state_names[1], states.standby),
        (w.state_names[2], states.error),
        (w.state_names[3], states.other),
        (w.state_names[4], states.silent),
        (w.state_names[5], states.no_report),
    ];
    let chart = |x: &str, y: &str, labels: Vec<String>, values: &[f64], caption: &str| {
        plot::bars_svg(x, y, &labels, values)
            .map(|svg| embed(svg, caption))
            .unwrap_or_default()
    };
    let unit_words = w.unit_words(unit);
    let zone_name = tz.name();
    let states_svg = chart(
        "",
        w.printers,
        states.iter().map(|(n, _)| (*n).to_owned()).collect(),
        &states
            .iter()
            .map(|(_, v)| f64::from(*v))
            .collect::<Vec<_>>(),
        "states-caption",
    );
    let today_svg = chart(
        &format!("{} ({zone_name})", w.hour_axis),
        unit_words,
        (0..24).map(|h| h.to_string()).collect(),
        &today_by_hour,
        "today-caption",
    );
    let month_svg = chart(
        w.day_axis,
        unit_words,
        days.iter().map(|d| d.date[5..].to_owned()).collect(),
        &days.iter().map(|d| d.value).collect::<Vec<_>>(),
        "month-caption",
    );
    let csv_href = match group {
        Some(g) => format!("/portal/fleet/production.csv?group={g}"),
        None => "/portal/fleet/production.csv".to_owned(),
    };
    render(
        StatusCode::OK,
        &FleetPage {
            t: lang.messages(),
            w,
            lang,
            nav: nav(&browser, "fleet"),
            back: "/portal/fleet".into(),
            groups: groups.into_iter().map(|g| (g.group_id, g.name)).collect(),
            group,
            units: ProductionUnit::ALL
                .iter()
                .map(|u| (u.as_str(), w.unit_words(*u)))
                .collect(),
            unit: unit.as_str(),
            unit_words,
            zone: zone_name.to_owned(),
            devices,
            states,
            states_svg,
            today_svg,
            month_svg,
            today_rows: today_by_hour
                .iter()
                .enumerate()
                .map(|(h, v)| (format!("{h:02}:00"), figure(*v)))
                .collect(),
            month_total: figure(days.iter().map(|d| d.value).sum()),
            month_rows: days
                .iter()
                .map(|d| (d.date.clone(), figure(d.value), figure(d.ink_ml)))
                .collect(),
            csv_href,
            attention: attention
                .into_iter()
                .map(|a| AttentionRow {
                    reason: w.reason_words(a.reason),
                    device: a.device_id,
                    printer: format!("{} {}", a.model, a.serial_number),
                    when: in_viewer_zone(a.at),
                    detail: detail_words(lang, a.reason, a.detail.as_deref().unwrap_or_default()),
                })
                .collect(),
        },
    )
}

/// Each printer's production by day as CSV, in the viewer's zone.
pub async fn csv(
    State(state): State<AppState>,
    browser: Browser,
    zone: ViewerZone,
    Query(q): Query<FleetQuery>,
) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    let lang = browser.lang;
    let filter = Filter {
        group: Uuid::parse_str(&q.group).ok(),
        device: None,
    };
    let (who, tz) = (browser.who.clone(), zone.0);
    match state
        .db
        .read(move |c| fleet::production_csv(c, &who, filter, tz, chrono::Utc::now()))
        .await
    {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"production.csv\"",
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => failure(lang, e),
    }
}

/// An attention entry's detail in the viewer's words: the store says consumables as `kind
/// colour N %` and operations as `kind state`, by their keys; a printer's own error text stays
/// as the printer said it.
fn detail_words(lang: Lang, reason: AttentionReason, detail: &str) -> String {
    use ecsp_protocol::remote_ops::{OperationKind, OperationState};
    let key = |k: &str| serde_json::Value::String(k.to_owned());
    match reason {
        AttentionReason::ConsumableLow => detail
            .split(", ")
            .map(|level| {
                let (name, percent) = level.rsplit_once(' ').and_then(|(rest, unit)| {
                    rest.rsplit_once(' ')
                        .map(|(name, n)| (name, format!("{n} {unit}")))
                })?;
                let (kind, colour) = match name.split_once(' ') {
                    Some((kind, colour)) => (kind, Some(colour)),
                    None => (name, None),
                };
                Some(format!(
                    "{} {percent}",
                    super::labels::consumable_name(lang, kind, colour)
                ))
            })
            .map(|said| said.unwrap_or_else(|| detail.to_owned()))
            .collect::<Vec<_>>()
            .join(", "),
        AttentionReason::OperationFailed => detail
            .split_once(' ')
            .and_then(|(kind, state)| {
                let kind: OperationKind = serde_json::from_value(key(kind)).ok()?;
                let state: OperationState = serde_json::from_value(key(state)).ok()?;
                let t = lang.messages();
                Some(format!(
                    "{}: {}",
                    t.operation_kind(kind),
                    t.operation_state(state)
                ))
            })
            .unwrap_or_else(|| detail.to_owned()),
        AttentionReason::Error | AttentionReason::Silent => detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_details_are_words_not_keys() {
        let said = detail_words(
            Lang::Ja,
            AttentionReason::ConsumableLow,
            "ink_cartridge black 4 %, maintenance_box 8 %",
        );
        assert!(
            !said.contains("ink_cartridge") && !said.contains("maintenance_box"),
            "{said}"
        );
        assert!(
            said.contains("4 %") && said.contains("メンテナンスボックス 8 %"),
            "{said}"
        );
        let op = detail_words(
            Lang::En,
            AttentionReason::OperationFailed,
            "head_cleaning timed_out",
        );
        assert!(!op.contains('_'), "{op}");
    }
}
