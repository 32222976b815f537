//! The portal's message catalogue, in English and Japanese.
//!
//! A struct with one field per message rather than a key-value file: a message missing in one
//! language, or a template naming a message that does not exist, is a compile error.

use ecsp_protocol::admin::Outcome;
use ecsp_protocol::auth::Role;
use ecsp_protocol::consent::{Decision, Purpose};
use ecsp_protocol::consent_notice::{NoticeLanguage, notice};
use ecsp_protocol::remote_ops::{OperationKind, OperationState};
use ecsp_protocol::{FieldError, Rule};

use crate::error::Refusal;

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
    pub software: &'static str,
    pub environment: &'static str,
    pub print_settings: &'static str,
    pub job_information: &'static str,
    pub no_job_information: &'static str,
    pub instrument: &'static str,
    pub settings: &'static str,
    pub samples: &'static str,
    pub patch: &'static str,
    pub measurements: &'static str,
    pub measurements_link: &'static str,
    pub measurements_none: &'static str,
    pub back_to_device: &'static str,
    pub all_measurements: &'static str,
    pub printing_condition: &'static str,
    pub paper: &'static str,
    pub patches: &'static str,
    pub patches_unit: &'static str,
    pub plots: &'static str,
    pub reference: &'static str,
    pub reference_default: &'static str,
    pub this_measurement: &'static str,
    pub this_measurement_heading: &'static str,
    pub compare: &'static str,
    pub reference_note: &'static str,
    pub is_reference_note: &'static str,
    pub not_comparable: &'static str,
    pub colour_difference: &'static str,
    pub spectra_title: &'static str,
    pub spectra_caption: &'static str,
    pub no_spectra: &'static str,
    pub ab_caption: &'static str,
    pub bars_caption: &'static str,
    pub trend_title: &'static str,
    pub trend: &'static str,
    pub trend_caption: &'static str,
    pub trend_left_out: &'static str,
    pub values_table: &'static str,
    pub wavelength_nm: &'static str,
    pub mean: &'static str,
    pub percentile95: &'static str,
    pub maximum: &'static str,
    pub limit: &'static str,
    pub over_limit: &'static str,
    pub illuminant_observer: &'static str,
    pub unmatched_patches: &'static str,
    pub notes: &'static str,
    /// The words inside the measurement plots.
    pub plot_words: &'static ecsp_color::plot::Words,
    pub patches_shown: &'static str,
    pub lab_computed: &'static str,
    pub export_jobs: &'static str,
    pub my_data: &'static str,
    pub export_my_data: &'static str,
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
    pub groups: &'static str,
    pub group: &'static str,
    pub no_group: &'static str,
    pub groups_none: &'static str,
    pub create_group: &'static str,
    pub delete_group: &'static str,
    pub group_delete_hint: &'static str,
    pub device_count: &'static str,
    pub devices_and_groups: &'static str,
    pub event_history: &'static str,
    pub event_history_note: &'static str,
    pub events_none: &'static str,
    pub severity: &'static str,
    pub severity_error: &'static str,
    pub severity_warning: &'static str,
    pub severity_status: &'static str,
    pub active_now: &'static str,
    pub refused_admin_self: &'static str,
    pub refused_email_taken: &'static str,
    pub refused_device_registered: &'static str,
    pub refused_decision_id: &'static str,
    pub refused_group_name: &'static str,
    /// Form fields by the API's field name, for a refused form.
    pub fields: &'static [(&'static str, &'static str)],
    /// What a form field broke; `{max}`, `{got}`, `{min}` are filled in.
    pub rule_empty: &'static str,
    pub rule_control_chars: &'static str,
    pub rule_email: &'static str,
    pub rule_too_long: &'static str,
    pub rule_length_between: &'static str,
    pub rule_between: &'static str,
    pub rule_https: &'static str,
    pub refused_too_many_groups: &'static str,
    pub refused_too_many_rules: &'static str,
    pub refused_no_agent: &'static str,
    pub refused_not_capable: &'static str,
    pub refused_not_cancellable: &'static str,
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
    pub last_seen: &'static str,
    pub never_seen: &'static str,
    pub connected_now: &'static str,
    pub agent_rotate: &'static str,
    pub agent_rotated: &'static str,
    pub rotate_hint: &'static str,
    pub agent_delete: &'static str,
    pub agent_delete_confirm: &'static str,
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
    /// Said where the live updates stopped (session ended, or too many live pages).
    pub live_updates_stopped: &'static str,
    /// The refusal of one live page too many in a session.
    pub live_pages_full: &'static str,
    /// The administrator's unlock of a user's sign-in (button and page heading).
    pub unlock_sign_in: &'static str,
    pub unlock_code: &'static str,
    pub valid_until: &'static str,
    pub unlock_hint: &'static str,
    /// The sign-in form's optional unlock-code field and its explanation.
    pub unlock_code_optional: &'static str,
    pub unlock_code_help: &'static str,
}

impl Messages {
    /// Why the server refused a request, in this language (the API says it in English).
    pub fn refusal(&self, why: &Refusal) -> String {
        match why {
            Refusal::AdminSelf => self.refused_admin_self.to_owned(),
            Refusal::EmailTaken => self.refused_email_taken.to_owned(),
            Refusal::DeviceRegistered => self.refused_device_registered.to_owned(),
            Refusal::DecisionIdReused => self.refused_decision_id.to_owned(),
            Refusal::GroupNameTaken => self.refused_group_name.to_owned(),
            Refusal::TooManyGroups(n) => format!("{} {n}", self.refused_too_many_groups),
            Refusal::TooManyRules(n) => format!("{} {n}", self.refused_too_many_rules),
            Refusal::NoAgent => self.refused_no_agent.to_owned(),
            Refusal::NotCapable(kind) => {
                format!(
                    "{} {}",
                    self.refused_not_capable,
                    self.operation_kind(*kind)
                )
            }
            Refusal::NotCancellable(state) => {
                format!(
                    "{} {}",
                    self.refused_not_cancellable,
                    self.operation_state(*state)
                )
            }
        }
    }

    /// A refused form field, in this language: its label and the rule it broke (the validation
    /// in `ecsp-protocol` names the rule; a fault without one is shown as the API says it).
    pub fn field_error(&self, error: &FieldError) -> String {
        let label = self
            .fields
            .iter()
            .find(|(name, _)| *name == error.field)
            .map_or(error.field.as_str(), |(_, label)| label);
        let rule = match error.rule {
            Some(Rule::Empty) => self.rule_empty.to_owned(),
            Some(Rule::ControlCharacters) => self.rule_control_chars.to_owned(),
            Some(Rule::Email) => self.rule_email.to_owned(),
            Some(Rule::TooLong { max, got }) => self
                .rule_too_long
                .replace("{max}", &max.to_string())
                .replace("{got}", &got.to_string()),
            Some(Rule::LengthBetween { min, max }) => self
                .rule_length_between
                .replace("{min}", &min.to_string())
                .replace("{max}", &max.to_string()),
            Some(Rule::Between { min, max }) => self
                .rule_between
                .replace("{min}", &min.to_string())
                .replace("{max}", &max.to_string()),
            Some(Rule::HttpsAddress) => self.rule_https.to_owned(),
            None => error.message.clone(),
        };
        format!("{label}: {rule}")
    }

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
    software: "Software",
    environment: "Operating environment",
    print_settings: "Print settings",
    job_information: "Job information (given with consent)",
    no_job_information: "No job information: it was not given with consent when this was captured.",
    instrument: "Instrument",
    settings: "Settings",
    samples: "Samples",
    patch: "Patch",
    measurements: "Measurements",
    measurements_link: "Measurements and their plots",
    measurements_none: "No measurements have been uploaded for this device.",
    back_to_device: "Back to the device",
    all_measurements: "All measurements of this device",
    printing_condition: "Printing condition",
    paper: "Paper",
    patches: "Patches",
    patches_unit: "patches",
    plots: "Plots",
    reference: "Reference",
    reference_default: "the device's first measurement",
    this_measurement: "this measurement",
    this_measurement_heading: "This measurement",
    compare: "Compare",
    reference_note: "A print is judged against how this printer printed before: by default against the device's newest earlier measurement of the same printing condition, measurement condition and patches (else its first). Choose another measurement as the reference, after a recalibration for example. Colour differences are CIEDE2000 (ΔE00), patches paired by name.",
    is_reference_note: "This measurement is the reference. Choose another reference to see its colour differences.",
    not_comparable: "This measurement cannot be compared with the reference:",
    colour_difference: "Colour difference from the reference",
    spectra_title: "Spectral reflectance",
    spectra_caption: "Spectral reflectance factor of each patch over wavelength (nm), each curve in its patch's own colour.",
    no_spectra: "The samples carry no spectra.",
    ab_caption: "a*b* diagram: each reference patch (square, in its colour) joined to this measurement's patch (circle), with the contour where ΔE00 reaches the limit.",
    bars_caption: "ΔE00 of each patch against the reference (above 100 patches, their distribution): green within the limit, red over it.",
    trend_title: "Mean ΔE00 against the reference",
    trend: "Trend over time",
    trend_caption: "Mean ΔE00 of the device's newest measurements against the reference over time, with the limit. The newest measurements read, at most:",
    trend_left_out: "Not drawn (other measurement conditions, or no patch in common with the reference):",
    values_table: "The values as a table",
    wavelength_nm: "Wavelength (nm)",
    mean: "Mean",
    percentile95: "95th percentile",
    maximum: "Maximum",
    limit: "Limit",
    over_limit: "over the limit",
    illuminant_observer: "Illuminant/observer",
    unmatched_patches: "Patches in only one of the two",
    notes: "Notes",
    plot_words: &ecsp_color::plot::Words::ENGLISH,
    patches_shown: "Shown are the patches with the largest ΔE00 against the reference (else the first ones); the statistics cover every patch. Patches shown:",
    lab_computed: "L*a*b* computed from the spectrum (D50, 2° observer) where the sample carries none.",
    export_jobs: "Export the job history (CSV)",
    my_data: "Your data",
    export_my_data: "Download all personal data the server holds about you (JSON)",
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
    groups: "Device groups",
    group: "Group",
    no_group: "No group",
    groups_none: "No device groups yet.",
    create_group: "Create a group",
    delete_group: "Delete group",
    group_delete_hint: "Deleting a group keeps its devices; they are left without a group.",
    device_count: "Devices",
    devices_and_groups: "Devices and their groups",
    event_history: "Event history",
    event_history_note: "Errors, warnings and status changes from the device's recent reports, newest first.",
    events_none: "The device has reported no errors, warnings or status events yet.",
    severity: "Type",
    severity_error: "Error",
    severity_warning: "Warning",
    severity_status: "Status",
    active_now: "Active now",
    refused_admin_self: "An administrator cannot disable or demote themselves; ask another administrator.",
    refused_email_taken: "A user with this e-mail address already exists in your organisation.",
    refused_device_registered: "This device is already registered.",
    refused_decision_id: "A different decision was already recorded under this decision id.",
    refused_group_name: "A device group with this name already exists.",
    fields: &[
        ("email", "E-mail address"),
        ("name", "Name"),
        ("password", "Password"),
        ("label", "Label"),
        ("partner_information", "Partner information"),
        ("client_information", "Client information"),
        ("threshold", "Threshold"),
        ("quiet_minutes", "Minutes between messages"),
        ("webhook_url", "Webhook address"),
        ("codes", "Codes"),
        ("time_zone", "Time zone"),
    ],
    rule_empty: "must not be empty",
    rule_control_chars: "must not contain control characters",
    rule_email: "must be an e-mail address such as name@example.com",
    rule_too_long: "must be at most {max} characters (it has {got})",
    rule_length_between: "must be {min} to {max} characters",
    rule_between: "must be a whole number from {min} to {max}",
    rule_https: "must be an address starting with https://",
    refused_too_many_groups: "An organisation has at most this many device groups:",
    refused_too_many_rules: "A user has at most this many alert rules:",
    refused_no_agent: "No agent is designated to report this device, so nothing can reach it.",
    refused_not_capable: "The device does not report this capability:",
    refused_not_cancellable: "The operation can be cancelled only while it is queued. It is now:",
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
    last_seen: "Last seen",
    never_seen: "Never",
    connected_now: "connected now",
    agent_rotate: "New secret",
    agent_rotated: "New agent secret",
    rotate_hint: "The old secret no longer works, and the agent was disconnected. Configure this secret into the agent (`ecsp-agent enrol`).",
    agent_delete: "Delete",
    agent_delete_confirm: "Delete for good: the agent can no longer sign in",
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
    live_updates_stopped: "Live updates have stopped. Reload the page to see the current state.",
    live_pages_full: "Too many live operation pages are open in this session. Close one, then reload this page.",
    unlock_sign_in: "Unlock sign-in",
    unlock_code: "Unlock code",
    valid_until: "Valid until",
    unlock_hint: "Tell the code to the user yourself (in person or by phone), not by e-mail. With their password it signs them in once from a new browser or device, even while someone else's guesses keep their account's attempts used up. It does not sign anyone in without the password.",
    unlock_code_optional: "Unlock code (only if your administrator gave you one)",
    unlock_code_help: "Locked out by too many attempts? Ask your administrator for an unlock code and enter it here with your password.",
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
    software: "ソフトウェア",
    environment: "動作環境",
    print_settings: "印刷設定",
    job_information: "ジョブ情報（同意のもとで提供）",
    no_job_information: "ジョブ情報なし：取得時に同意がありませんでした。",
    instrument: "測定器",
    settings: "設定",
    samples: "サンプル",
    patch: "パッチ",
    measurements: "測定一覧",
    measurements_link: "測定とグラフ",
    measurements_none: "このデバイスの測定はまだアップロードされていません。",
    back_to_device: "デバイスへ戻る",
    all_measurements: "このデバイスの測定一覧",
    printing_condition: "印刷条件",
    paper: "用紙",
    patches: "パッチ数",
    patches_unit: "パッチ",
    plots: "グラフ",
    reference: "基準",
    reference_default: "このデバイスの最初の測定",
    this_measurement: "この測定",
    this_measurement_heading: "この測定",
    compare: "比較する",
    reference_note: "印刷の色は、このプリンターの以前の印刷と比べて評価します。既定の基準は、印刷条件・測定条件・パッチが同じ、このデバイスの直前の測定です（なければ最初の測定）。再キャリブレーションの後などは、別の測定を基準に選んでください。色差は CIEDE2000（ΔE00）で、パッチは名前で対応付けます。",
    is_reference_note: "この測定が基準です。色差を見るには別の基準を選んでください。",
    not_comparable: "この測定は基準と比較できません：",
    colour_difference: "基準との色差",
    spectra_title: "分光反射率",
    spectra_caption: "各パッチの波長（nm）ごとの分光反射率。各曲線はそのパッチの色で描いています。",
    no_spectra: "サンプルに分光データがありません。",
    ab_caption: "a*b* 図：基準のパッチ（四角、その色）とこの測定のパッチ（丸）を線で結び、ΔE00 が許容値になる輪郭を示します。",
    bars_caption: "基準に対する各パッチの ΔE00（100 パッチを超える場合はその分布）：緑は許容値以内、赤は超過。",
    trend_title: "基準に対する平均 ΔE00",
    trend: "推移",
    trend_caption: "このデバイスの最新の測定の、基準に対する平均 ΔE00 の推移と許容値。読み込む最新の測定の最大数：",
    trend_left_out: "描画していない測定（測定条件が異なる、または基準と共通のパッチがない）：",
    values_table: "値の表",
    wavelength_nm: "波長（nm）",
    mean: "平均",
    percentile95: "95 パーセンタイル",
    maximum: "最大",
    limit: "許容値",
    over_limit: "許容値超過",
    illuminant_observer: "光源/観察者",
    unmatched_patches: "片方にしかないパッチ",
    notes: "注記",
    plot_words: &ecsp_color::plot::Words::JAPANESE,
    patches_shown: "基準に対する ΔE00 が大きいパッチ（比較がなければ先頭のパッチ）を表示しています。統計はすべてのパッチが対象です。表示しているパッチ：",
    lab_computed: "L*a*b* 値がないサンプルは、分光データから計算しています（D50、2° 視野）。",
    export_jobs: "ジョブ履歴をエクスポート（CSV）",
    my_data: "あなたのデータ",
    export_my_data: "サーバーが保持するあなたの個人データをすべてダウンロード（JSON）",
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
    groups: "デバイスグループ",
    group: "グループ",
    no_group: "グループなし",
    groups_none: "デバイスグループはまだありません。",
    create_group: "グループを作成",
    delete_group: "グループを削除",
    group_delete_hint: "グループを削除してもデバイスは残り、グループなしになります。",
    device_count: "デバイス数",
    devices_and_groups: "デバイスの所属グループ",
    event_history: "イベント履歴",
    event_history_note: "デバイスの最近のレポートにあるエラー・警告・状態の変化（新しい順）。",
    events_none: "デバイスからのエラー・警告・状態イベントの報告はまだありません。",
    severity: "種類",
    severity_error: "エラー",
    severity_warning: "警告",
    severity_status: "状態",
    active_now: "現在発生中",
    refused_admin_self: "管理者は自分自身を無効化・降格できません。別の管理者に依頼してください。",
    refused_email_taken: "このメールアドレスのユーザーは組織内に既にいます。",
    refused_device_registered: "このデバイスは既に登録されています。",
    refused_decision_id: "この決定 ID では別の決定が既に記録されています。",
    refused_group_name: "この名前のデバイスグループは既にあります。",
    fields: &[
        ("email", "メールアドレス"),
        ("name", "名前"),
        ("password", "パスワード"),
        ("label", "ラベル"),
        ("partner_information", "パートナー情報"),
        ("client_information", "顧客情報"),
        ("threshold", "しきい値"),
        ("quiet_minutes", "メッセージの間隔（分）"),
        ("webhook_url", "Webhook のアドレス"),
        ("codes", "コード"),
        ("time_zone", "タイムゾーン"),
    ],
    rule_empty: "入力してください",
    rule_control_chars: "制御文字は使えません",
    rule_email: "name@example.com のような形式のメールアドレスを入力してください",
    rule_too_long: "{max} 文字以内にしてください（{got} 文字あります）",
    rule_length_between: "{min}〜{max} 文字にしてください",
    rule_between: "{min}〜{max} の整数を入力してください",
    rule_https: "https:// で始まるアドレスを入力してください",
    refused_too_many_groups: "1つの組織が持てるデバイスグループの上限数：",
    refused_too_many_rules: "1人のユーザーが持てる通知ルールの上限数：",
    refused_no_agent: "このデバイスを報告するエージェントが指定されていないため、操作を届けられません。",
    refused_not_capable: "デバイスはこの機能を報告していません：",
    refused_not_cancellable: "操作を取り消せるのは待機中だけです。現在の状態：",
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
    last_seen: "最終接続",
    never_seen: "なし",
    connected_now: "接続中",
    agent_rotate: "シークレットを再発行",
    agent_rotated: "新しいエージェントシークレット",
    rotate_hint: "古いシークレットは使えなくなり、エージェントは切断されました。このシークレットをエージェントに設定してください（`ecsp-agent enrol`）。",
    agent_delete: "削除",
    agent_delete_confirm: "完全に削除する（エージェントは今後接続できません）",
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
    live_updates_stopped: "自動更新が停止しました。最新の状態を見るにはページを再読み込みしてください。",
    live_pages_full: "このセッションで開いている操作のライブ表示が多すぎます。いずれかを閉じてから、このページを再読み込みしてください。",
    unlock_sign_in: "サインインのロック解除",
    unlock_code: "ロック解除コード",
    valid_until: "有効期限",
    unlock_hint: "このコードはメールではなく、対面または電話でご本人に直接伝えてください。パスワードと一緒に使うと、他者の試行でアカウントの試行回数が使い切られている間でも、新しいブラウザーや端末から一度だけサインインできます。パスワードなしではサインインできません。",
    unlock_code_optional: "ロック解除コード（管理者から受け取った場合のみ）",
    unlock_code_help: "試行回数の超過でサインインできない場合は、管理者にロック解除コードを依頼し、パスワードと一緒にここへ入力してください。",
};

// ---- Words for what devices, DFEs, instruments and operations report (field names, values,
// units) and for audit actions. Each entry is its API key, English, Japanese: a key not here is
// shown as the device reported it, marked as a vendor's own.

/// How a field's value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// As reported (names, identifiers, free text).
    Plain,
    /// A key of [`VALUE_WORDS`], said in words where known.
    Word,
    /// `true`/`false`, said as yes/no.
    YesNo,
    /// An instant, in the portal's time format.
    Time,
    /// Seconds, said as hours (cumulative printing time).
    SecondsAsHours,
    Seconds,
    Hours,
    SquareMetres,
    Millilitres,
    Millimetres,
    Metres,
    Percent,
    Dpi,
    Nanometres,
}

/// A field the portal knows: its API name, its label in English and Japanese, its unit.
#[derive(Debug)]
pub struct FieldWord {
    pub key: &'static str,
    pub en: &'static str,
    pub ja: &'static str,
    pub unit: Unit,
}

const fn f(key: &'static str, en: &'static str, ja: &'static str, unit: Unit) -> FieldWord {
    FieldWord { key, en, ja, unit }
}

/// Fields of device data, operation results, DFE and measurement records, by API name.
pub static FIELD_WORDS: &[FieldWord] = &[
    f("device", "Device", "デバイス", Unit::Plain),
    f("manufacturer", "Manufacturer", "メーカー", Unit::Plain),
    f("model", "Model", "モデル", Unit::Plain),
    f(
        "serial_number",
        "Serial number",
        "シリアル番号",
        Unit::Plain,
    ),
    f("region_code", "Region code", "地域コード", Unit::Plain),
    f("country_code", "Country", "国", Unit::Plain),
    f("device_time", "Device clock", "デバイスの時計", Unit::Time),
    f(
        "firmware_version",
        "Firmware",
        "ファームウェア",
        Unit::Plain,
    ),
    f(
        "printer_status",
        "Printer status",
        "プリンターの状態",
        Unit::Word,
    ),
    f(
        "error_codes",
        "Errors and warnings",
        "エラーと警告",
        Unit::Plain,
    ),
    f(
        "status_history",
        "Status history",
        "状態の履歴",
        Unit::Plain,
    ),
    f(
        "operation_panel_settings",
        "Operation panel settings",
        "操作パネルの設定",
        Unit::Plain,
    ),
    f(
        "printer_settings",
        "Printer settings",
        "プリンターの設定",
        Unit::Plain,
    ),
    f(
        "maintenance_settings",
        "Maintenance settings",
        "メンテナンスの設定",
        Unit::Plain,
    ),
    f(
        "media_settings",
        "Media settings",
        "メディアの設定",
        Unit::Plain,
    ),
    f(
        "network_settings",
        "Network settings",
        "ネットワークの設定",
        Unit::Plain,
    ),
    f("consumables", "Consumables", "消耗品", Unit::Plain),
    f(
        "cleaning_history",
        "Cleaning history",
        "クリーニング履歴",
        Unit::Plain,
    ),
    f(
        "maintenance_history",
        "Maintenance history",
        "メンテナンス履歴",
        Unit::Plain,
    ),
    f(
        "cumulative_ink_usage",
        "Ink used since manufacture",
        "累計インク使用量",
        Unit::Plain,
    ),
    f(
        "cumulative_printing_time_s",
        "Printing time since manufacture",
        "累計印刷時間",
        Unit::SecondsAsHours,
    ),
    f(
        "cumulative_printing_area_m2",
        "Printed area since manufacture",
        "累計印刷面積",
        Unit::SquareMetres,
    ),
    f("job_history", "Job history", "ジョブ履歴", Unit::Plain),
    f("kind", "Part", "部品", Unit::Word),
    f("color", "Colour", "色", Unit::Word),
    f("part_number", "Part number", "部品番号", Unit::Plain),
    f("remaining_percent", "Remaining", "残量", Unit::Percent),
    f("millilitres", "Ink used", "インク使用量", Unit::Millilitres),
    f("started_at", "Started", "開始日時", Unit::Time),
    f("finished_at", "Finished", "終了日時", Unit::Time),
    f("result", "Result", "結果", Unit::Word),
    f("pages", "Pages", "ページ数", Unit::Plain),
    f(
        "printed_area_m2",
        "Printed area",
        "印刷面積",
        Unit::SquareMetres,
    ),
    f("media", "Media", "メディア", Unit::Plain),
    f("code", "Code", "コード", Unit::Plain),
    f("description", "Description", "説明", Unit::Plain),
    f("occurred_at", "Occurred", "発生日時", Unit::Time),
    f("counters", "Counters", "カウンター", Unit::Plain),
    f(
        "total_pages",
        "Pages printed",
        "総印刷ページ数",
        Unit::Plain,
    ),
    f(
        "printing_time_s",
        "Printing time",
        "印刷時間",
        Unit::SecondsAsHours,
    ),
    f("power_on_hours", "Power-on time", "通電時間", Unit::Hours),
    f(
        "head_cleanings",
        "Head cleanings",
        "ヘッドクリーニング回数",
        Unit::Plain,
    ),
    f("ink_usage", "Ink used", "インク使用量", Unit::Plain),
    f("level", "Cleaning level", "クリーニングの強さ", Unit::Word),
    f(
        "nozzles_ok",
        "All nozzles firing",
        "全ノズル正常",
        Unit::YesNo,
    ),
    f(
        "missing_nozzles",
        "Missing nozzles",
        "不吐出ノズル数",
        Unit::Plain,
    ),
    f("duration_s", "Duration", "所要時間", Unit::Seconds),
    f("ink_used", "Ink used", "インク使用量", Unit::Plain),
    f("verdict", "Verdict", "判定", Unit::Word),
    f("checks", "Checks", "検査項目", Unit::Plain),
    f("error_code", "Error code", "エラーコード", Unit::Plain),
    f("detail", "Detail", "詳細", Unit::Plain),
    f("name", "Name", "名前", Unit::Plain),
    f("version", "Version", "バージョン", Unit::Plain),
    f("vendor", "Vendor", "ベンダー", Unit::Plain),
    f("os_name", "Operating system", "OS", Unit::Plain),
    f("os_version", "OS version", "OS バージョン", Unit::Plain),
    f(
        "architecture",
        "Architecture",
        "アーキテクチャ",
        Unit::Plain,
    ),
    f(
        "app_version",
        "Application version",
        "アプリケーションのバージョン",
        Unit::Plain,
    ),
    f("device_model", "Device model", "機種", Unit::Plain),
    f("locale", "Locale", "ロケール", Unit::Plain),
    f("preset_name", "Preset", "プリセット", Unit::Plain),
    f("media_name", "Media", "メディア", Unit::Plain),
    f("resolution_dpi", "Resolution", "解像度", Unit::Dpi),
    f(
        "output_profile",
        "Output profile",
        "出力プロファイル",
        Unit::Plain,
    ),
    f(
        "rendering_intent",
        "Rendering intent",
        "レンダリングインテント",
        Unit::Word,
    ),
    f(
        "values",
        "Vendor settings",
        "ベンダー固有の設定",
        Unit::Plain,
    ),
    f("job_id", "Job id", "ジョブ ID", Unit::Plain),
    f("job_name", "Job name", "ジョブ名", Unit::Plain),
    f("user_name", "User", "ユーザー", Unit::Plain),
    f("document_name", "Document", "文書", Unit::Plain),
    f("submitted_at", "Submitted", "投入日時", Unit::Time),
    f("printed_at", "Printed", "印刷日時", Unit::Time),
    f("status", "Status", "状態", Unit::Word),
    f("copies", "Copies", "部数", Unit::Plain),
    f("size_mm", "Size", "サイズ", Unit::Millimetres),
    f("ink_used_ml", "Ink used", "インク使用量", Unit::Millilitres),
    f("errors", "Errors", "エラー", Unit::Plain),
    f(
        "last_calibrated_at",
        "Last calibrated",
        "最終キャリブレーション",
        Unit::Time,
    ),
    f("paper", "Paper", "用紙", Unit::Plain),
    f(
        "printing_condition",
        "Printing condition",
        "印刷条件",
        Unit::Plain,
    ),
    f("print_mode", "Print mode", "印刷モード", Unit::Plain),
    f(
        "illumination",
        "Measurement condition",
        "測定条件",
        Unit::Plain,
    ),
    f("geometry", "Geometry", "測定ジオメトリ", Unit::Plain),
    f(
        "bandpass_corrected",
        "Bandpass corrected",
        "バンドパス補正",
        Unit::YesNo,
    ),
    f("aperture_mm", "Aperture", "アパーチャ", Unit::Millimetres),
    f("backing", "Backing", "裏当て", Unit::Word),
    f("start_nm", "First wavelength", "開始波長", Unit::Nanometres),
    f(
        "interval_nm",
        "Wavelength interval",
        "波長間隔",
        Unit::Nanometres,
    ),
    f("accuracy_m", "Accuracy", "精度", Unit::Metres),
    f("altitude_m", "Altitude", "高度", Unit::Metres),
];

/// Values the portal says in words: consumable parts, ink colours, printer states, job
/// results, verdicts, cleaning levels.
pub static VALUE_WORDS: &[(&str, &str, &str)] = &[
    ("ink_cartridge", "Ink cartridge", "インクカートリッジ"),
    ("ink_pack", "Ink pack", "インクパック"),
    ("maintenance_box", "Maintenance box", "メンテナンスボックス"),
    ("waste_ink_bottle", "Waste ink bottle", "廃インクボトル"),
    (
        "cleaning_cartridge",
        "Cleaning cartridge",
        "クリーニングカートリッジ",
    ),
    ("cutter", "Cutter", "カッター"),
    ("print_head", "Print head", "プリントヘッド"),
    ("wiper", "Wiper", "ワイパー"),
    ("flushing_pad", "Flushing pad", "フラッシングパッド"),
    ("toner", "Toner", "トナー"),
    ("drum", "Drum", "ドラム"),
    ("fuser", "Fuser", "定着器"),
    ("cyan", "Cyan", "シアン"),
    ("magenta", "Magenta", "マゼンタ"),
    ("yellow", "Yellow", "イエロー"),
    ("black", "Black", "ブラック"),
    ("photo_black", "Photo black", "フォトブラック"),
    ("matte_black", "Matte black", "マットブラック"),
    ("light_cyan", "Light cyan", "ライトシアン"),
    ("light_magenta", "Light magenta", "ライトマゼンタ"),
    ("vivid_magenta", "Vivid magenta", "ビビッドマゼンタ"),
    (
        "vivid_light_magenta",
        "Vivid light magenta",
        "ビビッドライトマゼンタ",
    ),
    ("light_black", "Light black", "ライトブラック"),
    (
        "light_light_black",
        "Light light black",
        "ライトライトブラック",
    ),
    ("gray", "Grey", "グレー"),
    ("light_gray", "Light grey", "ライトグレー"),
    ("orange", "Orange", "オレンジ"),
    ("green", "Green", "グリーン"),
    ("violet", "Violet", "バイオレット"),
    ("red", "Red", "レッド"),
    ("blue", "Blue", "ブルー"),
    ("white", "White", "ホワイト"),
    ("metallic_silver", "Metallic silver", "メタリックシルバー"),
    ("idle", "Idle", "待機中"),
    ("standby", "Standby", "待機中"),
    ("printing", "Printing", "印刷中"),
    ("error", "Error", "エラー"),
    ("warning", "Warning", "警告"),
    ("offline", "Offline", "オフライン"),
    ("sleep", "Sleeping", "スリープ"),
    ("paused", "Paused", "一時停止"),
    ("maintenance", "Maintenance", "メンテナンス中"),
    ("warming_up", "Warming up", "ウォームアップ中"),
    ("completed", "Completed", "完了"),
    ("cancelled", "Cancelled", "キャンセル"),
    ("aborted", "Aborted", "中断"),
    ("pass", "Pass", "合格"),
    ("fail", "Fail", "不合格"),
    ("normal", "Normal", "通常"),
    ("strong", "Strong", "強力"),
    ("power", "Power cleaning", "パワークリーニング"),
    ("perceptual", "Perceptual", "知覚的"),
    (
        "relative_colorimetric",
        "Relative colorimetric",
        "相対的な色域を維持",
    ),
    ("saturation", "Saturation", "彩度"),
    (
        "absolute_colorimetric",
        "Absolute colorimetric",
        "絶対的な色域を維持",
    ),
];

/// Audit actions, by the name the log records.
pub static AUDIT_ACTION_WORDS: &[(&str, &str, &str)] = &[
    (
        "account.export",
        "Downloaded their personal data",
        "個人データのダウンロード",
    ),
    ("account.read", "Read their account", "アカウントの閲覧"),
    (
        "admin.agent.create",
        "Registered an agent",
        "エージェントの登録",
    ),
    (
        "admin.agent.list",
        "Listed agents",
        "エージェント一覧の閲覧",
    ),
    (
        "admin.device.grant",
        "Granted a device right",
        "デバイス権限の付与",
    ),
    (
        "admin.device.revoke",
        "Revoked a device right",
        "デバイス権限の取り消し",
    ),
    (
        "admin.grant",
        "Granted a device right",
        "デバイス権限の付与",
    ),
    (
        "admin.revoke",
        "Revoked a device right",
        "デバイス権限の取り消し",
    ),
    (
        "admin.group.assign",
        "Moved a device to a group",
        "デバイスのグループ変更",
    ),
    (
        "admin.group.create",
        "Created a device group",
        "デバイスグループの作成",
    ),
    (
        "alert_rule.create",
        "Created an alert rule",
        "通知ルールの作成",
    ),
    (
        "alert_rule.delete",
        "Deleted an alert rule",
        "通知ルールの削除",
    ),
    (
        "admin.group.delete",
        "Deleted a device group",
        "デバイスグループの削除",
    ),
    (
        "admin.group.list",
        "Listed device groups",
        "デバイスグループ一覧の閲覧",
    ),
    (
        "admin.rights.read",
        "Read device rights",
        "デバイス権限の閲覧",
    ),
    ("admin.user.create", "Added a user", "ユーザーの追加"),
    ("admin.user.list", "Listed users", "ユーザー一覧の閲覧"),
    ("admin.user.read", "Read a user", "ユーザーの閲覧"),
    ("admin.user.update", "Changed a user", "ユーザーの変更"),
    (
        "agent.capabilities",
        "Agent reported capabilities",
        "エージェントの機能報告",
    ),
    (
        "audit.export",
        "Exported the audit log",
        "監査ログのエクスポート",
    ),
    ("audit.read", "Read the audit log", "監査ログの閲覧"),
    ("auth.agent", "Agent signed in", "エージェントの認証"),
    ("auth.login", "Signed in", "サインイン"),
    ("auth.logout", "Signed out", "サインアウト"),
    ("auth.refresh", "Renewed a session", "セッションの更新"),
    (
        "auth.refresh_reused",
        "Reused an old session token",
        "古いセッショントークンの再使用",
    ),
    ("auth.token", "Issued a token", "トークンの発行"),
    ("consent.read", "Read consent", "同意の閲覧"),
    (
        "consent.record",
        "Recorded a consent decision",
        "同意の決定を記録",
    ),
    (
        "device.jobs.export",
        "Exported a job history",
        "ジョブ履歴のエクスポート",
    ),
    ("device.list", "Listed devices", "デバイス一覧の閲覧"),
    ("device.read", "Read a device", "デバイスの閲覧"),
    ("device.register", "Registered a device", "デバイスの登録"),
    (
        "group.list",
        "Listed device groups",
        "デバイスグループ一覧の閲覧",
    ),
    (
        "mqtt.connect",
        "Agent connected (MQTT)",
        "エージェントの接続（MQTT）",
    ),
    (
        "mqtt.subscribe",
        "Agent subscribed (MQTT)",
        "エージェントの購読（MQTT）",
    ),
    (
        "mqtt.publish",
        "Agent published (MQTT)",
        "エージェントの送信（MQTT）",
    ),
    (
        "operation.cancel",
        "Cancelled an operation",
        "操作のキャンセル",
    ),
    ("operation.list", "Listed operations", "操作一覧の閲覧"),
    ("operation.read", "Read an operation", "操作の閲覧"),
    (
        "operation.report",
        "Agent reported an operation",
        "エージェントによる操作の報告",
    ),
    ("operation.request", "Requested an operation", "操作の依頼"),
    (
        "operation.result",
        "Agent reported a result",
        "操作結果の報告",
    ),
    (
        "operation.state",
        "Operation changed state",
        "操作の状態変化",
    ),
    (
        "operation.sent",
        "Operation sent to the agent",
        "操作をエージェントへ送信",
    ),
    (
        "organization.create",
        "Created an organisation",
        "組織の作成",
    ),
    (
        "portal.device.read",
        "Viewed a device page",
        "デバイスページの表示",
    ),
    (
        "portal.devices.read",
        "Viewed the device list",
        "デバイス一覧ページの表示",
    ),
    (
        "portal.measurements.read",
        "Viewed measurements",
        "測定ページの表示",
    ),
    (
        "portal.sign_in",
        "Signed in to the portal",
        "ポータルへのサインイン",
    ),
    (
        "portal.sign_out",
        "Signed out of the portal",
        "ポータルからのサインアウト",
    ),
    (
        "portal.sign_out_everywhere",
        "Signed out everywhere",
        "すべての端末からサインアウト",
    ),
    ("record.list", "Listed records", "レコード一覧の閲覧"),
    ("record.read", "Read a record", "レコードの閲覧"),
    (
        "seed.demo",
        "Created the demo organisation",
        "デモ組織の作成",
    ),
    (
        "upload.device_data",
        "Uploaded device data",
        "デバイスデータのアップロード",
    ),
    (
        "upload.dfe",
        "Uploaded DFE settings",
        "DFE 設定のアップロード",
    ),
    (
        "upload.measurement",
        "Uploaded a measurement",
        "測定のアップロード",
    ),
];

/// Words of issue 26's pages (reported fields, the audit log, measurement comparison) that are
/// not a field's, a value's or an action's own.
#[derive(Debug)]
pub struct Terms {
    /// Marks a field the portal has no word for: a vendor's own, shown as reported.
    pub vendor_field: &'static str,
    /// Marks a value the portal has no word for, shown as reported.
    pub vendor_value: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub hours: &'static str,
    pub seconds: &'static str,
    /// The audit log's actors that are not a current user.
    pub actor_former_user: &'static str,
    pub actor_agent: &'static str,
    pub actor_anonymous: &'static str,
    pub actor_system: &'static str,
    /// An agent that acted and is gone since.
    pub actor_removed_agent: &'static str,
    /// The audit log's objects not found (gone since, or never there: a refused probe), or
    /// without a name of their own.
    pub object_unknown_user: &'static str,
    pub object_unknown_agent: &'static str,
    pub object_unknown_printer: &'static str,
    /// A record or operation (`{kind}`) of a printer (`{printer}`).
    pub object_of_printer: &'static str,
    pub object_record: &'static str,
    pub object_operation: &'static str,
    pub object_group: &'static str,
    pub object_organisation: &'static str,
    /// An agent's report of what its printers can do: `{n}` printers.
    pub object_printers: &'static str,
    /// The audit filter that also lists page views and listings.
    pub show_reads: &'static str,
    /// The measurement page's default reference.
    pub previous_comparable: &'static str,
    pub match_by_position: &'static str,
    pub matched_by_position: &'static str,
    /// Why a measurement cannot be compared with its reference.
    pub cmp_reference_unreadable: &'static str,
    pub cmp_unreadable: &'static str,
    pub cmp_conditions: &'static str,
    pub cmp_no_common_patch: &'static str,
    /// `{reference}` and `{sample}` are the two charts' patch counts.
    pub cmp_sizes_differ: &'static str,
    pub cmp_other: &'static str,
    pub trend_single: &'static str,
    /// The settings page: the viewer's time zone.
    pub time_zone: &'static str,
    pub time_zone_hint: &'static str,
    pub settings_saved: &'static str,
    /// The device page's reported job history, and the job export's columns.
    pub device_jobs: &'static str,
    pub device_jobs_note: &'static str,
    pub job_started: &'static str,
    pub job_pages: &'static str,
    pub job_area: &'static str,
    pub job_media: &'static str,
    /// Confirmations: a strong cleaning (`{device}` is the printer), deleting a group
    /// (`{group}`), and the way back.
    pub confirm_strong_cleaning: &'static str,
    pub confirm_strong_cleaning_button: &'static str,
    pub confirm_delete_group: &'static str,
    pub go_back: &'static str,
}

static EN_TERMS: Terms = Terms {
    vendor_field: "vendor field",
    vendor_value: "as reported",
    yes: "Yes",
    no: "No",
    hours: "h",
    seconds: "s",
    actor_former_user: "Removed user",
    actor_agent: "Agent",
    actor_anonymous: "Not signed in",
    actor_system: "The server",
    actor_removed_agent: "Removed agent",
    object_unknown_user: "Unknown user",
    object_unknown_agent: "Unknown agent",
    object_unknown_printer: "Unknown printer",
    object_of_printer: "{kind}: {printer}",
    object_record: "Record",
    object_operation: "Operation",
    object_group: "Group",
    object_organisation: "Organisation",
    object_printers: "{n} printers",
    show_reads: "Also show page views and listings",
    previous_comparable: "the device's newest earlier comparable measurement",
    match_by_position: "Pair patches by position (the charts name them differently)",
    matched_by_position: "Patches are paired by position.",
    cmp_reference_unreadable: "The reference is not a readable measurement.",
    cmp_unreadable: "This measurement's samples cannot be read",
    cmp_conditions: "The two were measured under different conditions",
    cmp_no_common_patch: "No patch id is in both measurements. If the charts are laid out alike, pair the patches by position.",
    cmp_sizes_differ: "Pairing by position needs charts of the same size: the reference has {reference} patches and this measurement {sample}.",
    cmp_other: "The comparison failed",
    trend_single: "Only this one measurement can be compared with the reference so far: a trend is drawn from two.",
    time_zone: "Time zone",
    time_zone_hint: "The portal shows every time in this zone. It cannot read your computer's zone, so choose it here; until you do, times are in UTC.",
    settings_saved: "Your settings were saved.",
    device_jobs: "Job history",
    device_jobs_note: "The jobs the printer reports with its data, newest first (the export has every job, with the DFE jobs).",
    job_started: "Started",
    job_pages: "Pages",
    job_area: "Printed area",
    job_media: "Media",
    confirm_strong_cleaning: "A strong cleaning of {device} uses much more ink than a normal one, and the printer cannot print while it runs. Run it?",
    confirm_strong_cleaning_button: "Run the strong cleaning",
    confirm_delete_group: "Delete the group “{group}”? Its devices stay, without a group; this cannot be undone.",
    go_back: "Go back",
};

static JA_TERMS: Terms = Terms {
    vendor_field: "ベンダー固有の項目",
    vendor_value: "報告どおり",
    yes: "はい",
    no: "いいえ",
    hours: "時間",
    seconds: "秒",
    actor_former_user: "削除されたユーザー",
    actor_agent: "エージェント",
    actor_anonymous: "未サインイン",
    actor_system: "サーバー",
    actor_removed_agent: "削除されたエージェント",
    object_unknown_user: "不明なユーザー",
    object_unknown_agent: "不明なエージェント",
    object_unknown_printer: "不明なプリンター",
    object_of_printer: "{kind}：{printer}",
    object_record: "レコード",
    object_operation: "操作",
    object_group: "グループ",
    object_organisation: "組織",
    object_printers: "プリンター {n} 台",
    show_reads: "ページの表示と一覧の閲覧も表示",
    previous_comparable: "このデバイスで比較できる直前の測定",
    match_by_position: "位置でパッチを対応付ける（チャートのパッチ名が異なる場合）",
    matched_by_position: "パッチは位置で対応付けています。",
    cmp_reference_unreadable: "基準を測定として読み取れません。",
    cmp_unreadable: "この測定のサンプルを読み取れません",
    cmp_conditions: "2 つの測定は測定条件が異なります",
    cmp_no_common_patch: "両方の測定に共通するパッチ ID がありません。チャートの並びが同じなら、位置でパッチを対応付けてください。",
    cmp_sizes_differ: "位置での対応付けには同じ大きさのチャートが必要です：基準は {reference} パッチ、この測定は {sample} パッチです。",
    cmp_other: "比較できませんでした",
    trend_single: "この基準と比較できる測定はまだこの 1 件だけです。推移は 2 件以上で描きます。",
    time_zone: "タイムゾーン",
    time_zone_hint: "ポータルの日時はすべてこのタイムゾーンで表示します。ポータルはお使いのコンピューターのタイムゾーンを読み取れないため、ここで選んでください。選ぶまでは UTC で表示します。",
    settings_saved: "設定を保存しました。",
    device_jobs: "ジョブ履歴",
    device_jobs_note: "プリンターがデータとともに報告したジョブ（新しい順）。エクスポートには DFE のジョブも含むすべてのジョブが入ります。",
    job_started: "開始日時",
    job_pages: "ページ数",
    job_area: "印刷面積",
    job_media: "メディア",
    confirm_strong_cleaning: "{device} の強力クリーニングは通常より多くのインクを使い、実行中は印刷できません。実行しますか？",
    confirm_strong_cleaning_button: "強力クリーニングを実行",
    confirm_delete_group: "グループ「{group}」を削除しますか？デバイスはグループなしで残ります。元に戻せません。",
    go_back: "戻る",
};

impl Lang {
    /// A field's label and unit, or `None` for a key the portal does not know.
    pub fn field_word(self, key: &str) -> Option<(&'static str, Unit)> {
        FIELD_WORDS.iter().find(|w| w.key == key).map(|w| {
            let label = match self {
                Lang::En => w.en,
                Lang::Ja => w.ja,
            };
            (label, w.unit)
        })
    }

    /// A reported value (part, colour, state…) in words, or `None` when the portal has none.
    pub fn value_word(self, key: &str) -> Option<&'static str> {
        pick(self, VALUE_WORDS, key)
    }

    /// An audit action in words, or `None` for an action the portal has no words for.
    pub fn audit_action(self, key: &str) -> Option<&'static str> {
        pick(self, AUDIT_ACTION_WORDS, key)
    }

    /// The navigation's word for the fleet dashboard.
    pub fn fleet_nav(self) -> &'static str {
        super::fleet::FleetWords::of(self).nav
    }

    /// The navigation's word for the alert rules page.
    pub fn alert_nav(self) -> &'static str {
        super::alerts::AlertWords::of(self).nav
    }

    pub fn terms(self) -> &'static Terms {
        match self {
            Lang::En => &EN_TERMS,
            Lang::Ja => &JA_TERMS,
        }
    }
}

fn pick(
    lang: Lang,
    table: &[(&str, &'static str, &'static str)],
    key: &str,
) -> Option<&'static str> {
    table
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, ja)| match lang {
            Lang::En => *en,
            Lang::Ja => *ja,
        })
}
// ---- end of the words for reported fields and audit actions.

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule a portal form can break, as the forms' own validation says it.
    fn form_refusals() -> Vec<FieldError> {
        use ecsp_protocol::Validate;
        use ecsp_protocol::admin::{NewDeviceGroup, NewUser};
        let now = chrono::Utc::now();
        let user = NewUser {
            email: "not-an-address".into(),
            name: " ".into(),
            password: Some("short".into()),
            role: Role::User,
            partner_information: Some("x".repeat(300)),
            client_information: Some("tab\u{7}bell".into()),
        };
        let group = NewDeviceGroup {
            name: "g".repeat(129),
        };
        let mut all = user.validate(now).unwrap_err().0;
        all.extend(group.validate(now).unwrap_err().0);
        all
    }

    #[test]
    fn refused_form_fields_are_told_in_the_page_language() {
        let errors = form_refusals();
        assert_eq!(errors.len(), 6, "{errors:?}");
        for e in &errors {
            assert!(e.rule.is_some(), "a form's rule without a name: {e:?}");
            let ja = JA.field_error(e);
            assert!(
                !ja.chars().any(|c| c.is_ascii_alphabetic()) || ja.contains("name@example.com"),
                "untranslated: {ja} (from {}: {})",
                e.field,
                e.message
            );
            let en = EN.field_error(e);
            assert!(!en.contains('`') && !en.contains("got"), "{en}");
        }
        let too_long = errors
            .iter()
            .find(|e| e.field == "partner_information")
            .unwrap();
        assert_eq!(
            JA.field_error(too_long),
            "パートナー情報: 256 文字以内にしてください（300 文字あります）"
        );
        assert_eq!(
            EN.field_error(too_long),
            "Partner information: must be at most 256 characters (it has 300)"
        );
        // A rule no form can break stays as the API says it.
        let other = FieldError {
            field: "records[0].lab".into(),
            message: "must be a finite number".into(),
            rule: None,
        };
        assert_eq!(
            JA.field_error(&other),
            "records[0].lab: must be a finite number"
        );
    }

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
