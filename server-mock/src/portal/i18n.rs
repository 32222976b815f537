//! The portal's message catalogue, in English and Japanese.
//!
//! A struct with one field per message rather than a key-value file: a message missing in one
//! language, or a template naming a message that does not exist, is a compile error.

use ecsp_protocol::admin::Outcome;
use ecsp_protocol::auth::Role;
use ecsp_protocol::consent::{Decision, Purpose};
use ecsp_protocol::consent_notice::{NoticeLanguage, notice};
use ecsp_protocol::remote_ops::{OperationKind, OperationState};

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    /// The language chosen by the `lang` cookie, else the first of English or Japanese in
    /// `Accept-Language`, else English.
    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        match cookie {
            Some("ja") => return Lang::Ja,
            Some("en") => return Lang::En,
            _ => {}
        }
        for range in accept_language.unwrap_or_default().split(',') {
            let tag = range.split(';').next().unwrap_or_default().trim();
            let tag = tag.to_ascii_lowercase();
            if tag.starts_with("ja") {
                return Lang::Ja;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::En
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    /// The other language, which the page offers to switch to.
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Ja,
            Lang::Ja => Lang::En,
        }
    }

    pub fn messages(self) -> &'static Messages {
        match self {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }

    /// A purpose's name: the consent notice's title for it, so every front end says the same.
    pub fn purpose_name(self, purpose: Purpose) -> &'static str {
        notice(self.notice())
            .items
            .into_iter()
            .find(|i| i.purpose == purpose)
            .map_or("", |i| i.title)
    }

    pub fn notice(self) -> NoticeLanguage {
        match self {
            Lang::En => NoticeLanguage::En,
            Lang::Ja => NoticeLanguage::Ja,
        }
    }
}

/// Every text the portal shows.
#[derive(Debug)]
pub struct Messages {
    pub language_name: &'static str,
    pub app_title: &'static str,
    pub skip_to_content: &'static str,
    pub main_navigation: &'static str,
    pub sign_in: &'static str,
    pub sign_in_intro: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub sign_in_failed: &'static str,
    pub too_many_attempts: &'static str,
    pub seconds: &'static str,
    pub session_ended: &'static str,
    pub form_expired: &'static str,
    pub sign_out: &'static str,
    pub sign_out_everywhere: &'static str,
    pub signed_in_as_role: &'static str,
    pub devices: &'static str,
    pub devices_none: &'static str,
    pub state: &'static str,
    pub state_printing: &'static str,
    pub state_standby: &'static str,
    pub state_error: &'static str,
    pub state_other: &'static str,
    pub state_no_data: &'static str,
    pub all: &'static str,
    pub filter: &'static str,
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub serial_number: &'static str,
    pub firmware: &'static str,
    pub last_report: &'static str,
    pub device_status: &'static str,
    pub errors_and_warnings: &'static str,
    pub none: &'static str,
    pub code: &'static str,
    pub description: &'static str,
    pub occurred_at: &'static str,
    pub consumables: &'static str,
    pub part: &'static str,
    pub colour: &'static str,
    pub remaining: &'static str,
    pub unknown: &'static str,
    pub counters: &'static str,
    pub printing_time_hours: &'static str,
    pub printing_area_m2: &'static str,
    pub ink_used_ml: &'static str,
    pub uploads: &'static str,
    pub uploads_none: &'static str,
    pub kind: &'static str,
    pub kind_device_data: &'static str,
    pub kind_dfe: &'static str,
    pub kind_measurement: &'static str,
    pub captured_at: &'static str,
    pub stored_at: &'static str,
    pub record_id: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub consent: &'static str,
    pub consent_intro: &'static str,
    pub notice_version: &'static str,
    pub purpose: &'static str,
    pub current: &'static str,
    pub granted: &'static str,
    pub not_granted: &'static str,
    pub grant: &'static str,
    pub refuse: &'static str,
    pub withdraw: &'static str,
    pub decision_refused: &'static str,
    pub decision_withdrawn: &'static str,
    pub history: &'static str,
    pub history_none: &'static str,
    pub decided_at: &'static str,
    pub decision: &'static str,
    pub consent_recorded: &'static str,
    pub not_found: &'static str,
    pub not_found_text: &'static str,
    pub back_to_devices: &'static str,
    pub server_error: &'static str,
    pub admin: &'static str,
    pub users: &'static str,
    pub name: &'static str,
    pub role: &'static str,
    pub role_user: &'static str,
    pub role_service_support: &'static str,
    pub role_admin: &'static str,
    pub account_state: &'static str,
    pub enabled: &'static str,
    pub disabled: &'static str,
    pub disable: &'static str,
    pub enable: &'static str,
    pub save: &'static str,
    pub create_user: &'static str,
    pub device_rights: &'static str,
    pub user: &'static str,
    pub device: &'static str,
    pub grant_right: &'static str,
    pub revoke_right: &'static str,
    pub rights_none: &'static str,
    pub agents: &'static str,
    pub create_agent: &'static str,
    pub label: &'static str,
    pub agent_type: &'static str,
    pub agent_dc: &'static str,
    pub agent_es: &'static str,
    pub created_at: &'static str,
    pub shown_once: &'static str,
    pub generated_password: &'static str,
    pub agent_secret: &'static str,
    pub agent_id: &'static str,
    pub enrol_hint: &'static str,
    pub audit_log: &'static str,
    pub action: &'static str,
    pub actor: &'static str,
    pub outcome: &'static str,
    pub object: &'static str,
    pub at: &'static str,
    pub export_csv: &'static str,
    pub action_starts_with: &'static str,
    pub outcome_success: &'static str,
    pub outcome_denied: &'static str,
    pub outcome_failed: &'static str,
    pub audit_none: &'static str,
    pub request_refused: &'static str,
    pub remote_operations: &'static str,
    pub operations_none: &'static str,
    pub operation: &'static str,
    pub op_status: &'static str,
    pub op_head_cleaning: &'static str,
    pub op_diagnosis: &'static str,
    pub cleaning_level: &'static str,
    pub level_normal: &'static str,
    pub level_strong: &'static str,
    pub requested_at: &'static str,
    pub expires_at: &'static str,
    pub progress: &'static str,
    pub result: &'static str,
    pub reason: &'static str,
    pub cancel: &'static str,
    pub op_queued: &'static str,
    pub op_sent: &'static str,
    pub op_delivered: &'static str,
    pub op_in_progress: &'static str,
    pub op_succeeded: &'static str,
    pub op_failed: &'static str,
    pub op_rejected: &'static str,
    pub op_timed_out: &'static str,
    pub op_expired: &'static str,
    pub op_cancelled: &'static str,
    pub live_updates: &'static str,
}

impl Messages {
    pub fn operation_kind(&self, kind: OperationKind) -> &'static str {
        match kind {
            OperationKind::Status => self.op_status,
            OperationKind::HeadCleaning => self.op_head_cleaning,
            OperationKind::Diagnosis => self.op_diagnosis,
        }
    }

    pub fn operation_state(&self, state: OperationState) -> &'static str {
        match state {
            OperationState::Queued => self.op_queued,
            OperationState::Sent => self.op_sent,
            OperationState::Delivered => self.op_delivered,
            OperationState::InProgress => self.op_in_progress,
            OperationState::Succeeded => self.op_succeeded,
            OperationState::Failed => self.op_failed,
            OperationState::Rejected => self.op_rejected,
            OperationState::TimedOut => self.op_timed_out,
            OperationState::Expired => self.op_expired,
            OperationState::Cancelled => self.op_cancelled,
        }
    }

    pub fn role(&self, role: Role) -> &'static str {
        match role {
            Role::User => self.role_user,
            Role::ServiceSupport => self.role_service_support,
            Role::Admin => self.role_admin,
        }
    }

    pub fn outcome(&self, outcome: Outcome) -> &'static str {
        match outcome {
            Outcome::Success => self.outcome_success,
            Outcome::Denied => self.outcome_denied,
            Outcome::Failed => self.outcome_failed,
        }
    }

    pub fn decision_name(&self, decision: &Decision) -> &'static str {
        match decision {
            Decision::Granted => self.granted,
            Decision::Refused => self.decision_refused,
            Decision::Withdrawn => self.decision_withdrawn,
        }
    }
}

pub static EN: Messages = Messages {
    language_name: "English",
    app_title: "ECSP portal",
    skip_to_content: "Skip to content",
    main_navigation: "Main",
    sign_in: "Sign in",
    sign_in_intro: "Sign in with the e-mail address and password your organisation's administrator gave you.",
    email: "E-mail address",
    password: "Password",
    sign_in_failed: "The e-mail address or the password is not right.",
    too_many_attempts: "Too many attempts for this account. Try again in",
    seconds: "seconds",
    session_ended: "Your session has ended. Sign in again.",
    form_expired: "This form has expired. Reload the page and try again.",
    sign_out: "Sign out",
    sign_out_everywhere: "Sign out everywhere",
    signed_in_as_role: "Role",
    devices: "Devices",
    devices_none: "No devices are visible to you. Ask your administrator for rights to a device.",
    state: "State",
    state_printing: "Printing",
    state_standby: "Standby",
    state_error: "Error",
    state_other: "Other",
    state_no_data: "No report yet",
    all: "All",
    filter: "Filter",
    manufacturer: "Manufacturer",
    model: "Model",
    serial_number: "Serial number",
    firmware: "Firmware",
    last_report: "Last report",
    device_status: "Status",
    errors_and_warnings: "Errors and warnings",
    none: "None",
    code: "Code",
    description: "Description",
    occurred_at: "Occurred",
    consumables: "Consumables",
    part: "Part",
    colour: "Colour",
    remaining: "Remaining",
    unknown: "unknown",
    counters: "Counters",
    printing_time_hours: "Printing time (hours)",
    printing_area_m2: "Printed area (m²)",
    ink_used_ml: "Ink used (ml)",
    uploads: "Uploads",
    uploads_none: "Nothing has been uploaded for this device yet.",
    kind: "Kind",
    kind_device_data: "Device data",
    kind_dfe: "DFE settings",
    kind_measurement: "Measurement",
    captured_at: "Captured",
    stored_at: "Stored",
    record_id: "Record",
    older: "Older",
    newest: "Newest",
    consent: "Consent",
    consent_intro: "The applications send these three kinds of information only while you allow it. Withdrawing is as easy as granting, and takes effect at once.",
    notice_version: "Notice version",
    purpose: "Purpose",
    current: "Now",
    granted: "Granted",
    not_granted: "Not granted",
    grant: "Grant",
    refuse: "Refuse",
    withdraw: "Withdraw",
    decision_refused: "Refused",
    decision_withdrawn: "Withdrawn",
    history: "History",
    history_none: "No decisions yet.",
    decided_at: "Decided",
    decision: "Decision",
    consent_recorded: "Your decision was recorded.",
    not_found: "Not found",
    not_found_text: "There is nothing here, or nothing you have rights to see.",
    back_to_devices: "Back to the devices",
    server_error: "The server could not answer. Try again in a moment.",
    admin: "Administration",
    users: "Users",
    name: "Name",
    role: "Role",
    role_user: "User",
    role_service_support: "Service support",
    role_admin: "Administrator",
    account_state: "Account",
    enabled: "Enabled",
    disabled: "Disabled",
    disable: "Disable",
    enable: "Enable",
    save: "Save",
    create_user: "Add a user",
    device_rights: "Device rights",
    user: "User",
    device: "Device",
    grant_right: "Grant the right",
    revoke_right: "Revoke",
    rights_none: "No user has a right to a device yet.",
    agents: "Agents",
    create_agent: "Enrol an agent",
    label: "Label",
    agent_type: "Type",
    agent_dc: "DC agent (collects over SNMP)",
    agent_es: "ES agent (inside a printer)",
    created_at: "Created",
    shown_once: "Copy this now: it is shown only once and the server keeps only its hash.",
    generated_password: "Generated password",
    agent_secret: "Agent secret",
    agent_id: "Agent id",
    enrol_hint: "Give the agent its id and secret, and the CA fingerprint the server printed at start, to run `ecsp-agent enrol`.",
    audit_log: "Audit log",
    action: "Action",
    actor: "Actor",
    outcome: "Outcome",
    object: "Object",
    at: "Time",
    export_csv: "Export as CSV",
    action_starts_with: "Action starts with",
    outcome_success: "Success",
    outcome_denied: "Denied",
    outcome_failed: "Failed",
    audit_none: "No entries match.",
    request_refused: "The request was refused",
    remote_operations: "Remote operations",
    operations_none: "No operations have been requested for this device.",
    operation: "Operation",
    op_status: "Status and counters",
    op_head_cleaning: "Head cleaning",
    op_diagnosis: "Fault diagnosis",
    cleaning_level: "Cleaning level",
    level_normal: "Normal",
    level_strong: "Strong (uses more ink)",
    requested_at: "Requested",
    expires_at: "Expires",
    progress: "Progress",
    result: "Result",
    reason: "Reason",
    cancel: "Cancel",
    op_queued: "Queued",
    op_sent: "Sent",
    op_delivered: "Delivered",
    op_in_progress: "In progress",
    op_succeeded: "Succeeded",
    op_failed: "Failed",
    op_rejected: "Rejected",
    op_timed_out: "Timed out",
    op_expired: "Expired",
    op_cancelled: "Cancelled",
    live_updates: "This page updates itself while the operation runs.",
};

pub static JA: Messages = Messages {
    language_name: "日本語",
    app_title: "ECSP ポータル",
    skip_to_content: "本文へ移動",
    main_navigation: "メイン",
    sign_in: "サインイン",
    sign_in_intro: "組織の管理者から受け取ったメールアドレスとパスワードでサインインしてください。",
    email: "メールアドレス",
    password: "パスワード",
    sign_in_failed: "メールアドレスまたはパスワードが正しくありません。",
    too_many_attempts: "このアカウントへの試行が多すぎます。再試行までの時間:",
    seconds: "秒",
    session_ended: "セッションが終了しました。もう一度サインインしてください。",
    form_expired: "このフォームは期限切れです。ページを再読み込みしてやり直してください。",
    sign_out: "サインアウト",
    sign_out_everywhere: "すべての端末からサインアウト",
    signed_in_as_role: "ロール",
    devices: "デバイス",
    devices_none: "表示できるデバイスがありません。管理者にデバイスの権限を依頼してください。",
    state: "状態",
    state_printing: "印刷中",
    state_standby: "待機中",
    state_error: "エラー",
    state_other: "その他",
    state_no_data: "報告なし",
    all: "すべて",
    filter: "絞り込み",
    manufacturer: "メーカー",
    model: "モデル",
    serial_number: "シリアル番号",
    firmware: "ファームウェア",
    last_report: "最終報告",
    device_status: "ステータス",
    errors_and_warnings: "エラーと警告",
    none: "なし",
    code: "コード",
    description: "説明",
    occurred_at: "発生日時",
    consumables: "消耗品",
    part: "部品",
    colour: "色",
    remaining: "残量",
    unknown: "不明",
    counters: "カウンター",
    printing_time_hours: "印刷時間（時間）",
    printing_area_m2: "印刷面積（m²）",
    ink_used_ml: "インク使用量（ml）",
    uploads: "アップロード",
    uploads_none: "このデバイスのアップロードはまだありません。",
    kind: "種類",
    kind_device_data: "デバイスデータ",
    kind_dfe: "DFE 設定",
    kind_measurement: "測定",
    captured_at: "取得日時",
    stored_at: "保存日時",
    record_id: "レコード",
    older: "さらに古い",
    newest: "最新",
    consent: "同意",
    consent_intro: "アプリケーションは、次の 3 種類の情報を許可されている間だけ送信します。撤回は許可と同じく簡単で、すぐに有効になります。",
    notice_version: "通知のバージョン",
    purpose: "目的",
    current: "現在",
    granted: "同意済み",
    not_granted: "未同意",
    grant: "同意する",
    refuse: "拒否する",
    withdraw: "撤回する",
    decision_refused: "拒否",
    decision_withdrawn: "撤回",
    history: "履歴",
    history_none: "まだ決定はありません。",
    decided_at: "決定日時",
    decision: "決定",
    consent_recorded: "決定を記録しました。",
    not_found: "見つかりません",
    not_found_text: "ここには何もないか、表示する権限がありません。",
    back_to_devices: "デバイス一覧へ戻る",
    server_error: "サーバーが応答できませんでした。しばらくしてからもう一度お試しください。",
    admin: "管理",
    users: "ユーザー",
    name: "名前",
    role: "ロール",
    role_user: "ユーザー",
    role_service_support: "サービスサポート",
    role_admin: "管理者",
    account_state: "アカウント",
    enabled: "有効",
    disabled: "無効",
    disable: "無効にする",
    enable: "有効にする",
    save: "保存",
    create_user: "ユーザーを追加",
    device_rights: "デバイス権限",
    user: "ユーザー",
    device: "デバイス",
    grant_right: "権限を付与",
    revoke_right: "取り消す",
    rights_none: "デバイス権限を持つユーザーはまだいません。",
    agents: "エージェント",
    create_agent: "エージェントを登録",
    label: "ラベル",
    agent_type: "種類",
    agent_dc: "DC エージェント（SNMP で収集）",
    agent_es: "ES エージェント（プリンター内蔵）",
    created_at: "作成日時",
    shown_once: "今すぐコピーしてください。一度だけ表示され、サーバーにはハッシュのみが保存されます。",
    generated_password: "生成されたパスワード",
    agent_secret: "エージェントシークレット",
    agent_id: "エージェント ID",
    enrol_hint: "`ecsp-agent enrol` を実行するには、エージェント ID とシークレット、およびサーバーの起動時に表示された CA フィンガープリントをエージェントに渡してください。",
    audit_log: "監査ログ",
    action: "アクション",
    actor: "実行者",
    outcome: "結果",
    object: "対象",
    at: "日時",
    export_csv: "CSV でエクスポート",
    action_starts_with: "アクションの先頭",
    outcome_success: "成功",
    outcome_denied: "拒否",
    outcome_failed: "失敗",
    audit_none: "一致する項目はありません。",
    request_refused: "要求は拒否されました",
    remote_operations: "リモート操作",
    operations_none: "このデバイスへの操作はまだありません。",
    operation: "操作",
    op_status: "ステータスとカウンター",
    op_head_cleaning: "ヘッドクリーニング",
    op_diagnosis: "故障診断",
    cleaning_level: "クリーニングの強さ",
    level_normal: "通常",
    level_strong: "強力（インク消費が多い）",
    requested_at: "依頼日時",
    expires_at: "有効期限",
    progress: "進捗",
    result: "結果",
    reason: "理由",
    cancel: "キャンセル",
    op_queued: "キュー登録済み",
    op_sent: "送信済み",
    op_delivered: "配信済み",
    op_in_progress: "実行中",
    op_succeeded: "成功",
    op_failed: "失敗",
    op_rejected: "拒否",
    op_timed_out: "タイムアウト",
    op_expired: "期限切れ",
    op_cancelled: "キャンセル済み",
    live_updates: "操作の実行中、このページは自動で更新されます。",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_named_in_both_languages() {
        assert_eq!(Lang::En.purpose_name(Purpose::Gps), "GPS position");
        assert_eq!(Lang::Ja.purpose_name(Purpose::JobInfo), "ジョブ情報");
    }

    #[test]
    fn language_follows_the_cookie_then_accept_language() {
        assert_eq!(Lang::choose(Some("ja"), Some("en-GB")), Lang::Ja);
        assert_eq!(
            Lang::choose(None, Some("ja-JP,ja;q=0.9,en;q=0.8")),
            Lang::Ja
        );
        assert_eq!(
            Lang::choose(None, Some("fr-FR, en;q=0.5, ja;q=0.3")),
            Lang::En
        );
        assert_eq!(Lang::choose(Some("xx"), None), Lang::En);
    }
}
