//! The alert rules page: a user's rules (an admin's: every rule of the organisation), a form for
//! a new one, and each rule's messages. The same store calls as `/api/v1/alert-rules`.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ecsp_protocol::Validate as _;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::alerts::{
    AlertChannel, AlertCondition, AlertDeliveryView, AlertRuleView, DeliveryState, NewAlertRule,
};
use serde::Deserialize;
use uuid::Uuid;

use super::Browser;
use super::admin::refused_or_failure;
use super::i18n::{Lang, Messages};
use super::pages::{Nav, failure, form_expired, nav, render, see_other};
use super::zone::{ViewerZone, in_viewer_zone};
use crate::api::AppState;
use crate::error::ApiError;
use crate::store::{accounts, alerts, devices, groups};

/// The page's words.
#[derive(Debug)]
pub struct AlertWords {
    pub nav: &'static str,
    pub heading: &'static str,
    pub intro: &'static str,
    pub none: &'static str,
    pub new_rule: &'static str,
    pub condition: &'static str,
    pub conditions: [&'static str; 6],
    pub threshold: &'static str,
    pub threshold_hint: &'static str,
    pub codes: &'static str,
    pub scope: &'static str,
    pub all_devices: &'static str,
    pub group: &'static str,
    pub channel: &'static str,
    pub email: &'static str,
    pub webhook: &'static str,
    pub webhook_url: &'static str,
    pub language: &'static str,
    pub quiet: &'static str,
    pub quiet_hint: &'static str,
    pub create: &'static str,
    pub delete: &'static str,
    pub last_message: &'static str,
    pub never: &'static str,
    pub messages: &'static str,
    pub states: [&'static str; 4],
    pub attempts: &'static str,
    pub outcome: &'static str,
    pub created: &'static str,
    pub events: &'static str,
    pub secret_heading: &'static str,
    pub secret_hint: &'static str,
    pub back: &'static str,
    pub minutes: &'static str,
    pub for_whom: &'static str,
    /// Brackets around an aside, as each language writes them.
    pub brackets: (&'static str, &'static str),
}

static EN: AlertWords = AlertWords {
    nav: "Alerts",
    heading: "Alert rules",
    intro: "Be told when something happens to the printers you may see: by e-mail to your own address, or by a signed webhook to a system of yours.",
    none: "No alert rules yet.",
    new_rule: "New rule",
    condition: "When",
    conditions: [
        "a printer reports a new error",
        "a printer reports a new warning",
        "a consumable falls to the threshold (%) or below",
        "an agent is silent for the threshold (minutes)",
        "a remote operation fails or expires",
        "an upload of mine is refused",
    ],
    threshold: "Threshold",
    threshold_hint: "Percent for consumables (1–99), minutes for silent agents (5–10,080); empty otherwise.",
    codes: "Only codes starting with (comma-separated; empty for every code)",
    scope: "Printers",
    all_devices: "Every printer I may see",
    group: "Group",
    channel: "Send by",
    email: "E-mail to my address",
    webhook: "Webhook (HTTPS POST)",
    webhook_url: "Webhook address (https://…)",
    language: "Language of the messages",
    quiet: "At most one message per printer every (minutes)",
    quiet_hint: "What happens meanwhile follows in one message.",
    create: "Create the rule",
    delete: "Delete",
    last_message: "Last message",
    never: "none yet",
    messages: "Messages",
    states: [
        "Waiting",
        "Sent",
        "Failed (retried for 24 hours)",
        "Not sent",
    ],
    attempts: "Attempts",
    outcome: "Last outcome",
    created: "Created",
    events: "Events",
    secret_heading: "The webhook's signing secret",
    secret_hint: "Copy it now: it is shown this once. Each request carries the header ECSP-Signature: t=<time>,v1=<HMAC-SHA256 of \"<time>.<body>\" with this secret>. Compare it in constant time and refuse a time more than five minutes old.",
    back: "Back to the alert rules",
    minutes: "min",
    for_whom: "For",
    brackets: (" (", ")"),
};

static JA: AlertWords = AlertWords {
    nav: "通知",
    heading: "通知ルール",
    intro: "閲覧できるプリンターに起きたことを、自分のアドレスへのメール、または署名付き Webhook で受け取ります。",
    none: "通知ルールはまだありません。",
    new_rule: "新しいルール",
    condition: "条件",
    conditions: [
        "プリンターが新しいエラーを報告したとき",
        "プリンターが新しい警告を報告したとき",
        "消耗品の残量がしきい値（%）以下になったとき",
        "エージェントからの報告がしきい値（分）の間ないとき",
        "リモート操作が失敗または期限切れになったとき",
        "自分のアップロードが拒否されたとき",
    ],
    threshold: "しきい値",
    threshold_hint: "消耗品は%（1〜99）、エージェントの無応答は分（5〜10,080）。それ以外は空欄。",
    codes: "次で始まるコードのみ（カンマ区切り、空欄ですべて）",
    scope: "対象プリンター",
    all_devices: "閲覧できるすべてのプリンター",
    group: "グループ",
    channel: "送信方法",
    email: "自分のアドレスへのメール",
    webhook: "Webhook（HTTPS POST）",
    webhook_url: "Webhook のアドレス（https://…）",
    language: "メッセージの言語",
    quiet: "プリンターごとのメッセージの最短間隔（分）",
    quiet_hint: "その間の出来事は1通にまとめて送られます。",
    create: "ルールを作成",
    delete: "削除",
    last_message: "最後のメッセージ",
    never: "まだありません",
    messages: "メッセージ",
    states: ["待機中", "送信済み", "失敗（24時間再試行）", "送信せず"],
    attempts: "試行回数",
    outcome: "最後の結果",
    created: "作成日時",
    events: "件数",
    secret_heading: "Webhook の署名用シークレット",
    secret_hint: "今すぐコピーしてください。表示はこの一度だけです。各リクエストには ECSP-Signature: t=<時刻>,v1=<\"<時刻>.<本文>\" をこのシークレットで計算した HMAC-SHA256> ヘッダーが付きます。定数時間で比較し、5分より古い時刻は拒否してください。",
    back: "通知ルールに戻る",
    minutes: "分",
    for_whom: "宛先",
    brackets: ("（", "）"),
};

impl AlertWords {
    pub fn of(lang: Lang) -> &'static AlertWords {
        match lang {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }

    fn condition_words(&self, c: AlertCondition) -> &'static str {
        let i = AlertCondition::ALL
            .iter()
            .position(|x| *x == c)
            .unwrap_or(0);
        self.conditions[i]
    }

    fn state_words(&self, s: DeliveryState) -> &'static str {
        self.states[match s {
            DeliveryState::Pending => 0,
            DeliveryState::Sent => 1,
            DeliveryState::Failed => 2,
            DeliveryState::Dropped => 3,
        }]
    }
}

/// A rule as a row of the page.
struct RuleRow {
    id: Uuid,
    condition: String,
    scope: String,
    channel: String,
    language: &'static str,
    quiet: i64,
    last: String,
    recipient: Option<String>,
}

/// A message as a row of the rule's page.
struct MessageRow {
    created: String,
    state: &'static str,
    events: u32,
    attempts: u32,
    outcome: String,
}

#[derive(Template)]
#[template(path = "portal/alerts.html")]
struct AlertsPage {
    t: &'static Messages,
    w: &'static AlertWords,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    csrf: String,
    rules: Vec<RuleRow>,
    conditions: Vec<(&'static str, &'static str)>,
    scopes: Vec<(String, String)>,
    zone: String,
}

#[derive(Template)]
#[template(path = "portal/alert_rule.html")]
struct RulePage {
    t: &'static Messages,
    w: &'static AlertWords,
    lang: Lang,
    nav: Option<Nav>,
    back: String,
    rule: RuleRow,
    secret: Option<String>,
    messages: Vec<MessageRow>,
}

/// Names of the groups and devices `who` may see, for the scope choice and the rules' rows.
struct Names {
    groups: Vec<(Uuid, String)>,
    devices: Vec<(Uuid, String)>,
    /// For an admin, who sees every member's rules: the members by name.
    users: HashMap<Uuid, String>,
}

async fn read_names(state: &AppState, browser: &Browser) -> Result<Names, ApiError> {
    let (key, who) = (state.key.clone(), browser.who.clone());
    state
        .db
        .read(move |c| {
            Ok(Names {
                groups: groups::list(c, &key, &who)?
                    .into_iter()
                    .map(|g| (g.group_id, g.name))
                    .collect(),
                devices: devices::list_visible(c, &who)?
                    .into_iter()
                    .map(|d| (d.device_id, format!("{} {}", d.model, d.serial_number)))
                    .collect(),
                users: if who.role == ecsp_protocol::auth::Role::Admin {
                    accounts::list_users(c, &key, who.org_id)?
                        .into_iter()
                        .map(|u| (u.user_id, u.name))
                        .collect()
                } else {
                    HashMap::new()
                },
            })
        })
        .await
}

fn row(rule: &AlertRuleView, w: &AlertWords, names: &Names, me: Uuid) -> RuleRow {
    let find = |list: &[(Uuid, String)], id: Uuid| {
        list.iter()
            .find(|(i, _)| *i == id)
            .map_or("—".to_owned(), |(_, n)| n.clone())
    };
    let mut condition = w.condition_words(rule.condition).to_owned();
    if let Some(t) = rule.threshold {
        let (open, close) = w.brackets;
        condition.push_str(&format!("{open}{} {t}{close}", w.threshold));
    }
    if !rule.codes.is_empty() {
        condition.push_str(&format!(": {}", rule.codes.join(", ")));
    }
    let scope = match (rule.group_id, rule.device_id) {
        (Some(g), _) => format!("{}: {}", w.group, find(&names.groups, g)),
        (_, Some(d)) => find(&names.devices, d),
        _ => w.all_devices.to_owned(),
    };
    // A webhook is named by its host alone: its path may hold the receiver's token.
    let channel = match (rule.channel, &rule.webhook_url) {
        (AlertChannel::Webhook, Some(url)) => format!(
            "{} — {}",
            w.webhook,
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        (AlertChannel::Webhook, None) => w.webhook.to_owned(),
        (AlertChannel::Email, _) => w.email.to_owned(),
    };
    let last = match &rule.last_delivery {
        Some(d) => format!(
            "{} — {}",
            w.state_words(d.state),
            in_viewer_zone(d.sent_at.unwrap_or(d.created_at))
        ),
        None => w.never.to_owned(),
    };
    RuleRow {
        id: rule.rule_id,
        condition,
        scope,
        channel,
        language: if rule.language == "ja" {
            "日本語"
        } else {
            "English"
        },
        quiet: rule.quiet_minutes,
        last,
        // An admin sees others' rules: whose each is, by name.
        recipient: (rule.recipient_id != me).then(|| {
            names
                .users
                .get(&rule.recipient_id)
                .cloned()
                .unwrap_or_else(|| "—".to_owned())
        }),
    }
}

pub async fn list(State(state): State<AppState>, browser: Browser, zone: ViewerZone) -> Response {
    let lang = browser.lang;
    let w = AlertWords::of(lang);
    let (key, who) = (state.key.clone(), browser.who.clone());
    let rules = match state
        .db
        .read(move |c| alerts::list_rules(c, &key, &who))
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(lang, e),
    };
    let names = match read_names(&state, &browser).await {
        Ok(n) => n,
        Err(e) => return failure(lang, e),
    };
    let mut scopes = vec![(String::new(), w.all_devices.to_owned())];
    scopes.extend(
        names
            .groups
            .iter()
            .map(|(id, n)| (format!("group:{id}"), format!("{}: {n}", w.group))),
    );
    scopes.extend(
        names
            .devices
            .iter()
            .map(|(id, n)| (format!("device:{id}"), n.clone())),
    );
    render(
        StatusCode::OK,
        &AlertsPage {
            t: lang.messages(),
            w,
            lang,
            nav: nav(&browser, "alerts"),
            back: "/portal/alerts".into(),
            csrf: browser.csrf(),
            rules: rules
                .iter()
                .map(|r| row(r, w, &names, browser.who.public_id))
                .collect(),
            conditions: AlertCondition::ALL
                .iter()
                .map(|c| (c.as_str(), w.condition_words(*c)))
                .collect(),
            scopes,
            zone: zone.0.name().to_owned(),
        },
    )
}

/// A rule and its newest messages.
pub async fn show(
    State(state): State<AppState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    let lang = browser.lang;
    let Ok(rule) = Uuid::parse_str(&id) else {
        return failure(lang, ApiError::NotFound("alert rule"));
    };
    rule_page(&state, &browser, rule, None, StatusCode::OK).await
}

async fn rule_page(
    state: &AppState,
    browser: &Browser,
    rule: Uuid,
    secret: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = browser.lang;
    let w = AlertWords::of(lang);
    let (key, who) = (state.key.clone(), browser.who.clone());
    let read = state
        .db
        .read(move |c| {
            Ok((
                alerts::get_rule(c, &key, &who, rule)?,
                alerts::deliveries(c, &key, &who, rule, 50)?,
            ))
        })
        .await;
    let (view, messages): (AlertRuleView, Vec<AlertDeliveryView>) = match read {
        Ok(r) => r,
        Err(e) => return failure(lang, e),
    };
    let names = match read_names(state, browser).await {
        Ok(n) => n,
        Err(e) => return failure(lang, e),
    };
    render(
        status,
        &RulePage {
            t: lang.messages(),
            w,
            lang,
            nav: nav(browser, "alerts"),
            back: format!("/portal/alerts/{rule}"),
            rule: row(&view, w, &names, browser.who.public_id),
            secret,
            messages: messages
                .iter()
                .map(|m| MessageRow {
                    created: in_viewer_zone(m.created_at),
                    state: w.state_words(m.state),
                    events: m.events,
                    attempts: m.attempts,
                    outcome: m.last_status.clone().unwrap_or_default(),
                })
                .collect(),
        },
    )
}

/// `action=create` with the rule's fields, or `action=delete` with a `rule`.
#[derive(Debug, Deserialize)]
pub struct RuleForm {
    csrf: String,
    action: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    codes: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    quiet_minutes: String,
}

impl RuleForm {
    /// The rule the form describes; a field that cannot be read is refused as the API would.
    fn rule(&self) -> Result<NewAlertRule, ApiError> {
        let bad = |field: &str, message: &str| ApiError::field(field, message);
        let condition = AlertCondition::parse(&self.condition)
            .ok_or_else(|| bad("condition", "choose a condition"))?;
        let threshold = match self.threshold.trim() {
            "" => None,
            t => Some(
                t.parse::<i64>()
                    .map_err(|_| bad("threshold", "must be a whole number"))?,
            ),
        };
        let quiet_minutes = match self.quiet_minutes.trim() {
            "" => 0,
            q => q
                .parse::<i64>()
                .map_err(|_| bad("quiet_minutes", "must be a whole number"))?,
        };
        let (mut group_id, mut device_id) = (None, None);
        if let Some(id) = self.scope.strip_prefix("group:") {
            group_id = Some(Uuid::parse_str(id).map_err(|_| bad("group_id", "unknown group"))?);
        } else if let Some(id) = self.scope.strip_prefix("device:") {
            device_id = Some(Uuid::parse_str(id).map_err(|_| bad("device_id", "unknown device"))?);
        }
        let channel = AlertChannel::parse(&self.channel)
            .ok_or_else(|| bad("channel", "choose e-mail or webhook"))?;
        let webhook_url = match (channel, self.webhook_url.trim()) {
            (AlertChannel::Webhook, url) => Some(url.to_owned()),
            (AlertChannel::Email, _) => None,
        };
        Ok(NewAlertRule {
            condition,
            threshold,
            codes: self
                .codes
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            group_id,
            device_id,
            channel,
            webhook_url,
            recipient_id: None,
            language: self.language.clone(),
            time_zone: self.time_zone.clone(),
            quiet_minutes,
        })
    }
}

pub async fn change(
    State(state): State<AppState>,
    browser: Browser,
    Form(form): Form<RuleForm>,
) -> Response {
    let lang = browser.lang;
    if !browser.csrf_ok(&form.csrf) {
        return form_expired(lang);
    }
    let who = browser.who.clone();
    let actor = Actor::User(who.public_id);
    if form.action == "delete" {
        let Ok(rule) = Uuid::parse_str(&form.rule) else {
            return failure(lang, ApiError::NotFound("alert rule"));
        };
        let deleted = state
            .audited_write(
                Some(who.org_id),
                actor,
                "alert_rule.delete",
                format!("alert_rule:{rule}"),
                move |c| alerts::delete_rule(c, &who, rule),
            )
            .await;
        return match deleted {
            Ok(()) => see_other("/portal/alerts"),
            Err(e) => refused_or_failure(lang, e),
        };
    }
    let new = match form.rule() {
        Ok(n) => n,
        Err(e) => return refused_or_failure(lang, e),
    };
    if let Err(e) = new.validate(chrono::Utc::now()) {
        return refused_or_failure(lang, ApiError::Validation(e.0));
    }
    let key = state.key.clone();
    let made = state
        .audited_write(
            Some(who.org_id),
            actor,
            "alert_rule.create",
            String::new(),
            move |c| alerts::create_rule(c, &key, &who, &new),
        )
        .await;
    match made {
        // The secret is shown on this answer alone, never again.
        Ok((rule, secret)) => {
            rule_page(&state, &browser, rule.rule_id, secret, StatusCode::CREATED).await
        }
        Err(e) => refused_or_failure(lang, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_and_state_has_words_in_both_languages() {
        for w in [&EN, &JA] {
            let said: std::collections::HashSet<_> = AlertCondition::ALL
                .iter()
                .map(|c| w.condition_words(*c))
                .collect();
            assert_eq!(said.len(), AlertCondition::ALL.len());
            assert!(w.states.iter().all(|s| !s.is_empty()));
        }
    }
}
