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
    pub refused_too_many_groups: &'static str,
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
    reference_note: "A print is judged against how this printer printed before: by default against the device's first stored measurement. Choose another measurement as the reference, after a recalibration for example. Colour differences are CIEDE2000 (ΔE00), patches paired by name.",
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
    patches_shown: "A large chart: shown are the patches with the largest ΔE00 against the reference (else the first), the statistics cover every patch. Patches shown:",
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
    ],
    rule_empty: "must not be empty",
    rule_control_chars: "must not contain control characters",
    rule_email: "must be an e-mail address such as name@example.com",
    rule_too_long: "must be at most {max} characters (it has {got})",
    rule_length_between: "must be {min} to {max} characters",
    refused_too_many_groups: "An organisation has at most this many device groups:",
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
    reference_note: "印刷の色は、このプリンターの以前の印刷と比べて評価します。既定の基準はこのデバイスで最初に保存された測定です。再キャリブレーションの後などは、別の測定を基準に選んでください。色差は CIEDE2000（ΔE00）で、パッチは名前で対応付けます。",
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
    plot_words: &JA_PLOT_WORDS,
    patches_shown: "大きなチャートのため、基準に対する ΔE00 が大きいパッチ（比較がなければ先頭のパッチ）を表示しています。統計はすべてのパッチが対象です。表示しているパッチ：",
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
    ],
    rule_empty: "入力してください",
    rule_control_chars: "制御文字は使えません",
    rule_email: "name@example.com のような形式のメールアドレスを入力してください",
    rule_too_long: "{max} 文字以内にしてください（{got} 文字あります）",
    rule_length_between: "{min}〜{max} 文字にしてください",
    refused_too_many_groups: "1つの組織が持てるデバイスグループの上限数：",
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

/// The measurement plots' words in Japanese (symbols and units stay as they are). Legend
/// entries are short: plotters sizes a legend's box with the bundled DejaVu Sans, which has no
/// Japanese glyphs and so measures them narrower than the browser draws them.
static JA_PLOT_WORDS: ecsp_color::plot::Words = ecsp_color::plot::Words {
    wavelength_axis: "波長 (nm)",
    reflectance_axis: "分光反射率",
    curves_no_legend: "本の曲線、凡例なし",
    a_axis: "a* (CIELAB)",
    b_axis: "b* (CIELAB)",
    reference_in_its_colour: "基準（その色）",
    sample: "この測定",
    at_reference_lightness: "（基準の L*）",
    patches_no_contours: "パッチ：許容範囲の輪郭なし",
    per_patch: "パッチごと",
    patch_axis: "パッチ",
    limit: "許容値",
    distribution_over: "の分布、パッチ数",
    patches: "",
    patches_per_bin_axis: "区間ごとのパッチ数",
    cumulative_share_axis: "累積パッチ割合 (%)",
    cumulative_share: "累積割合（右軸）",
    mean: "平均",
    percentile95: "95 パーセンタイル",
    measured_axis: "測定日時 (UTC)",
};

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
