//! The HTTP API: routes, the shared state, and the OpenAPI document generated from the handlers'
//! annotations (`GET /openapi.json`).

mod account;
mod admin;
mod agent_devices;
mod alerts;
pub(crate) mod auth;
mod devices;
pub mod drain;
pub mod extract;
mod fleet;
mod meta;
mod openapi_doc;
mod operations;
mod uploads;

use std::sync::Arc;

use axum::Router;
use ecsp_protocol::admin::{Actor, Outcome};
use tokio::sync::Semaphore;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit_throttle::AuditThrottle;
use crate::crypto::DataKey;
use crate::db::Database;
use crate::error::ApiError;
use crate::store::accounts::TokenPolicy;
use crate::store::audit::{self, Event};

/// What every handler shares: one allocation behind an `Arc`, because axum clones the state for
/// every extractor and closure of every request, and cloning ten handles (each an atomic
/// increment, the database's path an allocation) showed in the ingest profile (about 2 % of
/// the machine's time in the upload phase, cloning and dropping).
#[derive(Clone, Debug)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;
    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct SharedState {
    pub db: Database,
    pub key: Arc<DataKey>,
    /// Sign-in attempts left per account (shared by the nodes on PostgreSQL).
    pub budgets: crate::ratelimit::SigninBudgets,
    pub tokens: TokenPolicy,
    /// Bounds concurrent Argon2 work (19 MiB each) so a burst of sign-ins cannot exhaust memory.
    pub hashing: Arc<Semaphore>,
    pub ca_pem: Option<Arc<str>>,
    /// Folds repeated refusals of anonymous callers (and 429s) into summary rows.
    pub audit_throttle: Arc<AuditThrottle>,
    /// Agent secrets that authenticated recently.
    pub agents: Arc<crate::agent_cache::AgentCache>,
    /// Devices agents reported on, by name (see `device_cache`).
    pub devices: Arc<crate::device_cache::DesignatedDevices>,
    /// The agents connected over MQTT, to send them commands as they are queued.
    pub remote: Arc<crate::remote::Hub>,
    /// Where uploads with resolved devices are stored (in batches on PostgreSQL).
    pub ingest: crate::ingest_batch::IngestBatches,
}

impl AppState {
    /// Appends one audit row on its own (for events outside a write transaction).
    pub async fn audit(&self, event: Event) -> Result<(), ApiError> {
        self.db
            .write(move |c| audit::append(c, &event).map_err(ApiError::from))
            .await
    }

    /// Appends rows together (one transaction); nothing to do for none.
    pub async fn audit_all(&self, events: Vec<Event>) -> Result<(), ApiError> {
        if events.is_empty() {
            return Ok(());
        }
        self.db
            .write(move |c| {
                for e in &events {
                    audit::append(c, e)?;
                }
                Ok::<_, ApiError>(())
            })
            .await
    }

    /// Audits a refusal, unless it is the server's own failure (logged instead). Refusals of
    /// anonymous callers and of sign-ins past the attempt limit go through the throttle: every
    /// one is counted, but a flood of them writes a bounded number of rows.
    pub async fn audit_refusal(
        &self,
        org_id: Option<i64>,
        actor: Actor,
        action: &'static str,
        object: String,
        err: ApiError,
    ) -> ApiError {
        let outcome = match err {
            ApiError::Store(_) => return err,
            ApiError::Forbidden(_) | ApiError::NotFound(_) | ApiError::UnknownReference(_) => {
                Outcome::Denied
            }
            _ => Outcome::Failed,
        };
        let throttled = actor == Actor::Anonymous || matches!(err, ApiError::TooManyAttempts(_));
        // A user's refused upload is news for their `upload_rejected` rules.
        if let (Actor::User(user), true) = (&actor, action.starts_with("upload.")) {
            use crate::store::alerts;
            let (user, reason) = (*user, err.problem_code());
            let noted = match self
                .db
                .read(move |c| alerts::rejection_watcher(c, user))
                .await
            {
                Ok(Some(watcher)) => {
                    self.db
                        .write(move |c| {
                            alerts::upload_rejected(c, watcher, reason, crate::store::now_ms())
                        })
                        .await
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = noted {
                return e;
            }
        }
        let event = Event::new(org_id, actor, action, object, outcome);
        let rows = if throttled {
            self.audit_throttle.admit(event)
        } else {
            vec![event]
        };
        match self.audit_all(rows).await {
            Ok(()) => err,
            Err(e) => e,
        }
    }

    /// Reads customer data and records the access (or its refusal) as one audit row.
    pub async fn audited_read<T: Send + 'static>(
        &self,
        org_id: Option<i64>,
        actor: Actor,
        action: &'static str,
        object: String,
        f: impl FnOnce(&crate::sql::Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        match self.db.read(f).await {
            Ok(value) => {
                self.audit(Event::new(org_id, actor, action, object, Outcome::Success))
                    .await?;
                Ok(value)
            }
            Err(e) => Err(self.audit_refusal(org_id, actor, action, object, e).await),
        }
    }

    /// Writes customer data and records it in the same transaction; a refusal is audited alone.
    pub async fn audited_write<T: Send + 'static>(
        &self,
        org_id: Option<i64>,
        actor: Actor,
        action: &'static str,
        object: String,
        f: impl FnOnce(&crate::sql::Connection) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let event = Event::new(
            org_id,
            actor.clone(),
            action,
            object.clone(),
            Outcome::Success,
        );
        let result = self
            .db
            .write(move |c| {
                let value = f(c)?;
                audit::append(c, &event)?;
                Ok(value)
            })
            .await;
        match result {
            Ok(value) => Ok(value),
            Err(e) => Err(self.audit_refusal(org_id, actor, action, object, e).await),
        }
    }

    /// Runs a hashing job on the blocking pool, at most a few at a time.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::Store(crate::db::StoreError::WriterStopped))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::Store(crate::db::StoreError::Task(e.to_string())))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ECSP reference server",
        description = "Accounts, device rights, ingestion from agents, the PC application and the mobile application, consent and audit. Every error is application/problem+json.",
        license(name = "Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "meta", description = "Health, CA certificate, API description"),
        (name = "auth", description = "Sign-in and tokens"),
        (name = "account", description = "The signed-in user and their consent"),
        (name = "devices", description = "Devices and their stored records"),
        (name = "uploads", description = "Ingestion"),
        (name = "operations", description = "Remote operations on devices, run by their agents over MQTT (service_support and admin roles)"),
        (name = "admin", description = "Organisation administration (admin role)"),
        (name = "fleet", description = "The fleet at a glance: production figures, states, the printers that need attention"),
        (name = "alerts", description = "Alert rules: who is told of what, by e-mail or by a signed webhook (body: AlertWebhook; header ECSP-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256 over \"<t>.<body>\"> with the rule's secret)")
    ),
    components(schemas(ecsp_protocol::alerts::AlertWebhook))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "user_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Access token from /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "agent_secret",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Agent secret issued by /api/v1/admin/agents"))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document and the router it describes.
pub fn router(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(meta::health))
        .routes(routes!(meta::ready))
        .routes(routes!(meta::ca_certificate))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(account::whoami))
        .routes(routes!(account::consents, account::record_consent))
        .routes(routes!(devices::list_devices))
        .routes(routes!(devices::list_groups))
        .routes(routes!(devices::get_device))
        .routes(routes!(devices::list_records))
        .routes(routes!(devices::get_record))
        .routes(routes!(uploads::upload_dfe))
        .routes(routes!(uploads::upload_measurements))
        .routes(routes!(uploads::upload_device_status))
        .routes(routes!(uploads::upload_device_data))
        .routes(routes!(agent_devices::designated_devices))
        .routes(routes!(agent_devices::broker_credential))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user, admin::update_user))
        .routes(routes!(auth::issue_unlock_code))
        .routes(routes!(admin::grant_device, admin::revoke_device))
        .routes(routes!(admin::register_device))
        .routes(routes!(admin::create_agent, admin::list_agents))
        .routes(routes!(admin::update_agent, admin::delete_agent))
        .routes(routes!(admin::rotate_agent_secret))
        .routes(routes!(admin::create_group))
        .routes(routes!(admin::delete_group))
        .routes(routes!(admin::assign_group))
        .routes(routes!(admin::audit_log))
        .routes(routes!(
            operations::request_operation,
            operations::list_operations
        ))
        .routes(routes!(operations::get_operation))
        .routes(routes!(operations::cancel_operation))
        .routes(routes!(alerts::create_rule, alerts::list_rules))
        .routes(routes!(alerts::get_rule, alerts::delete_rule))
        .routes(routes!(alerts::list_deliveries))
        .routes(routes!(fleet::dashboard))
        .routes(routes!(fleet::production_csv))
        .routes(routes!(fleet::attention))
        .split_for_parts();
    let mut api = api;
    openapi_doc::ProblemResponses.modify(&mut api);
    let api = Arc::new(openapi_doc::with_cross_field_rules(&api));
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .merge(crate::portal::routes())
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        .layer(axum::middleware::from_fn(drain::drain_unread_body))
        .route_layer(axum::middleware::from_fn(crate::telemetry::track_requests))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// How long browsers must keep to HTTPS for this host (two years, as hstspreload.org asks).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Headers on every answer: HTTPS only from now on (HSTS), and no content-type sniffing.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
