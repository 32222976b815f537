//! Alert rules and what they send: who is told what about which devices, by e-mail or by a
//! signed webhook (`/api/v1/alert-rules`), and the webhook's body.
//!
//! A rule is its recipient's: a user sets rules for themselves; an admin may set them for any
//! member of the organisation. Rights are checked again when a message is sent, so nobody hears
//! of a device they may no longer see.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{Rule, Validate, Validator};

/// What a rule watches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertCondition {
    /// A device reports an error it did not report before.
    Error,
    /// A device reports a warning it did not report before.
    Warning,
    /// A consumable falls to or below `threshold` percent.
    ConsumableLow,
    /// The agent a device reports through has not been heard from for `threshold` minutes.
    AgentSilent,
    /// A remote operation failed, was refused by the device, timed out or expired.
    OperationFailed,
    /// An upload of the rule's recipient was refused by the server.
    UploadRejected,
}

impl AlertCondition {
    pub const ALL: [AlertCondition; 6] = [
        AlertCondition::Error,
        AlertCondition::Warning,
        AlertCondition::ConsumableLow,
        AlertCondition::AgentSilent,
        AlertCondition::OperationFailed,
        AlertCondition::UploadRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertCondition::Error => "error",
            AlertCondition::Warning => "warning",
            AlertCondition::ConsumableLow => "consumable_low",
            AlertCondition::AgentSilent => "agent_silent",
            AlertCondition::OperationFailed => "operation_failed",
            AlertCondition::UploadRejected => "upload_rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the rule needs a `threshold`, and its bounds.
    pub fn threshold_range(self) -> Option<(i64, i64)> {
        match self {
            AlertCondition::ConsumableLow => Some((1, 99)),
            AlertCondition::AgentSilent => Some((5, 7 * 24 * 60)),
            _ => None,
        }
    }
}

/// How a rule's messages are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertChannel {
    /// To the recipient's own e-mail address.
    Email,
    /// An HTTPS POST of [`AlertWebhook`], signed (see [`WEBHOOK_SIGNATURE_HEADER`]).
    Webhook,
}

impl AlertChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertChannel::Email => "email",
            AlertChannel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(AlertChannel::Email),
            "webhook" => Some(AlertChannel::Webhook),
            _ => None,
        }
    }
}

/// The header carrying a webhook's signature: `t=<Unix seconds>,v1=<hex HMAC-SHA256>`, the MAC
/// taken with the rule's secret over `<t>.<body>` (as Stripe signs). A receiver recomputes it,
/// compares in constant time and refuses a `t` older than a few minutes (replays).
pub const WEBHOOK_SIGNATURE_HEADER: &str = "ECSP-Signature";
/// The header naming the delivery: the same on every retry of one message, for a receiver to
/// drop a repeat.
pub const WEBHOOK_DELIVERY_HEADER: &str = "ECSP-Delivery";
/// Longest quiet period.
pub const MAX_QUIET_MINUTES: i64 = 24 * 60;

/// `POST /api/v1/alert-rules`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAlertRule {
    pub condition: AlertCondition,
    /// Percent for `consumable_low` (1–99), minutes for `agent_silent` (5–10,080); absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
    /// For `error` and `warning`: only codes starting with one of these (e.g. `error.prt`);
    /// empty for every code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(max_items = 20))]
    pub codes: Vec<String>,
    /// Only this group's devices; with neither this nor `device_id`, every device the
    /// recipient may see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    /// Only this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    pub channel: AlertChannel,
    /// For `webhook`: where to POST (`https://` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2048))]
    pub webhook_url: Option<String>,
    /// Who is told (an admin may name a member of the organisation); absent for oneself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<Uuid>,
    /// `en` or `ja`.
    pub language: String,
    /// IANA time zone the messages give times in, e.g. `Asia/Tokyo`.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub time_zone: String,
    /// At most one message per device this often; what happens meanwhile follows as one
    /// digest (0–1,440 minutes).
    pub quiet_minutes: i64,
}

impl Validate for NewAlertRule {
    fn validate_into(&self, v: &mut Validator) {
        let between = |v: &mut Validator, leaf: &str, value: i64, min: i64, max: i64| {
            if !(min..=max).contains(&value) {
                v.broke(
                    leaf,
                    Rule::Between { min, max },
                    format!("must be from {min} to {max}, got {value}"),
                );
            }
        };
        match (self.condition.threshold_range(), self.threshold) {
            (Some((min, max)), Some(t)) => between(v, "threshold", t, min, max),
            (Some(_), None) => v.broke("threshold", Rule::Empty, "is required for this condition"),
            (None, Some(_)) => v.error(
                "threshold",
                "applies only to `consumable_low` and `agent_silent`",
            ),
            (None, None) => {}
        }
        if !self.codes.is_empty()
            && !matches!(
                self.condition,
                AlertCondition::Error | AlertCondition::Warning
            )
        {
            v.error("codes", "applies only to `error` and `warning`");
        }
        v.text_list("codes", &self.codes, 20, 64);
        if self.group_id.is_some() && self.device_id.is_some() {
            v.error("device_id", "give a group or a device, not both");
        }
        if matches!(self.condition, AlertCondition::UploadRejected)
            && (self.group_id.is_some() || self.device_id.is_some())
        {
            v.error(
                "device_id",
                "`upload_rejected` is about the recipient's own uploads, not devices",
            );
        }
        match (self.channel, self.webhook_url.as_deref()) {
            (AlertChannel::Webhook, None) => v.error("webhook_url", "is required for a webhook"),
            (AlertChannel::Webhook, Some(url)) => {
                v.text("webhook_url", url, 2048);
                match url::Url::parse(url) {
                    Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {
                        if !u.username().is_empty() || u.password().is_some() {
                            v.error("webhook_url", "must not carry a user name or password");
                        }
                    }
                    Ok(_) => v.broke(
                        "webhook_url",
                        Rule::HttpsAddress,
                        "must be an `https://` address",
                    ),
                    Err(e) => v.error("webhook_url", format!("is not an address: {e}")),
                }
            }
            (AlertChannel::Email, Some(_)) => v.error("webhook_url", "applies only to a webhook"),
            (AlertChannel::Email, None) => {}
        }
        if self.language != "en" && self.language != "ja" {
            v.error("language", "must be `en` or `ja`");
        }
        v.text("time_zone", &self.time_zone, 64);
        v.range(
            "quiet_minutes",
            self.quiet_minutes as f64,
            0.0,
            MAX_QUIET_MINUTES as f64,
        );
    }
}

/// A rule as listed (`GET /api/v1/alert-rules`). The webhook's secret is shown once, when the
/// rule is made ([`CreatedAlertRule`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertRuleView {
    pub rule_id: Uuid,
    pub condition: AlertCondition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    pub channel: AlertChannel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    pub recipient_id: Uuid,
    pub language: String,
    pub time_zone: String,
    pub quiet_minutes: i64,
    pub created_at: DateTime<Utc>,
    /// The newest delivery's outcome, if any was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<AlertDeliveryView>,
}

/// `201` to `POST /api/v1/alert-rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatedAlertRule {
    pub rule: AlertRuleView,
    /// For a webhook: the secret its signatures are made with (`whsec_…`), shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its time (a quiet period, a retry) or being sent.
    Pending,
    Sent,
    /// Retried for 24 hours without success.
    Failed,
    /// Not sent: the recipient may no longer see the device, or left the organisation.
    Dropped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Dropped => "dropped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "sent" => Some(DeliveryState::Sent),
            "failed" => Some(DeliveryState::Failed),
            "dropped" => Some(DeliveryState::Dropped),
            _ => None,
        }
    }
}

/// One message of a rule (`GET /api/v1/alert-rules/{rule_id}/deliveries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertDeliveryView {
    pub delivery_id: Uuid,
    pub state: DeliveryState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<Uuid>,
    /// How many events it tells of (more than one: a digest).
    pub events: u32,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The last attempt's outcome, e.g. `HTTP 500` or `250 OK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
}

/// The device an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertDevice {
    pub device_id: Uuid,
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    /// Its page in the portal.
    pub url: String,
}

/// What happened, one event of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    pub condition: AlertCondition,
    pub at: DateTime<Utc>,
    /// The error or warning code; the consumable; the operation's kind; the refusal's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The device's description of the code, the operation's outcome …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The consumable's percent left; the minutes an agent was silent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The JSON body POSTed to a rule's webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertWebhook {
    /// The same on every retry ([`WEBHOOK_DELIVERY_HEADER`]).
    pub delivery_id: Uuid,
    pub rule_id: Uuid,
    pub sent_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<AlertDevice>,
    pub events: Vec<AlertEvent>,
    /// The message as the e-mail would say it, in the rule's language.
    pub text: String,
}
