//! Ingestion from the PC application, the mobile application and the agents.
//!
//! An upload is all or nothing, decided inside one write: every record must name a device the
//! uploader may use, every consent-gated part must have had consent granted at its capture time,
//! and no record may conflict with a stored one; then all are stored (or found already stored)
//! with one audit row each. Any refusal stores nothing and is audited once.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ecsp_protocol::FieldError;
use ecsp_protocol::admin::Actor;
use ecsp_protocol::agent::{AgentType, DeviceDataUpload};
use ecsp_protocol::consent::Purpose;
use ecsp_protocol::dfe::{DeviceStatusUpload, DfeUpload};
use ecsp_protocol::limits::MEASUREMENT_BODY_BYTES;
use ecsp_protocol::measurement::MeasurementUpload;
use ecsp_protocol::problem::Problem;
use ecsp_protocol::upload::{RecordKind, RecordStatus, UploadReceipt, UserRecord};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::extract::{Agent, RequestBody, User, ValidJson};
use crate::error::ApiError;
use crate::store::accounts::UserPrincipal;
use crate::store::fleet::StatusDigest;
use crate::store::records::{self, Incoming, SealedBody, Upload, Uploader};
use crate::store::{consent, devices, to_ms};

impl RequestBody for DfeUpload {}
impl RequestBody for DeviceStatusUpload {}
impl RequestBody for DeviceDataUpload {}
impl RequestBody for MeasurementUpload {
    const MAX_BYTES: usize = MEASUREMENT_BODY_BYTES;
}

/// A device as an agent names it: manufacturer, model, serial number.
type DeviceNames = (String, String, String);

/// A record as the ingestion step needs it, whatever its kind.
struct Prepared {
    record_id: Uuid,
    device: Uuid,
    captured_at: DateTime<Utc>,
    gated: Vec<Purpose>,
    body: SealedBody,
    status: Option<StatusDigest>,
}

/// What a user's record says of its device's state, for the fleet's status and alerts: only
/// the PC application's device-status records say anything.
trait ReportedStatus {
    fn status(&self) -> Option<StatusDigest> {
        None
    }
}

impl ReportedStatus for ecsp_protocol::dfe::DfeRecord {}
impl ReportedStatus for ecsp_protocol::measurement::MeasurementRecord {}
impl ReportedStatus for ecsp_protocol::dfe::DeviceStatusRecord {
    fn status(&self) -> Option<StatusDigest> {
        Some(StatusDigest::of(&records::device_data_of_status(
            self.clone(),
        )))
    }
}

fn canonical(record: &impl Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(record)
        .map_err(|e| ApiError::Store(crate::db::StoreError::Task(e.to_string())))
}

/// The part of a record a consent purpose gates, for error paths.
fn gated_field(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::JobInfo => "job",
        Purpose::Gps => "gps",
        Purpose::Photos => "photos",
    }
}

fn answer(receipt: UploadReceipt) -> (StatusCode, Json<UploadReceipt>) {
    let created = receipt
        .records
        .iter()
        .any(|r| r.status == RecordStatus::Created);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(receipt))
}

async fn ingest_for_user(
    state: AppState,
    who: UserPrincipal,
    kind: RecordKind,
    action: &'static str,
    prepared: Vec<Prepared>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let me = who.clone();
    let result = state
        .db
        .write(move |c| {
            let mut unknown = Vec::new();
            let mut no_consent = Vec::new();
            let mut device_ids = Vec::with_capacity(prepared.len());
            for (i, p) in prepared.iter().enumerate() {
                match devices::visible(c, &me, p.device) {
                    Ok((id, _)) => device_ids.push(id),
                    Err(ApiError::NotFound(_)) => {
                        unknown.push(FieldError {
                            field: format!("records[{i}].device_id"),
                            message: "no device with this id that you have rights to".into(),
                            rule: None,
                        });
                        device_ids.push(0);
                    }
                    Err(e) => return Err(e),
                }
                for purpose in &p.gated {
                    if !consent::granted_at(c, me.id, *purpose, to_ms(p.captured_at))? {
                        no_consent.push(FieldError {
                            field: format!("records[{i}].{}", gated_field(*purpose)),
                            message: format!(
                                "consent for `{purpose}` was not granted when this record was captured; \
                                 send the record without this part"
                            ),
                            rule: None,
                        });
                    }
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::UnknownReference(unknown));
            }
            if !no_consent.is_empty() {
                return Err(ApiError::ConsentRequired(no_consent));
            }
            let incoming: Vec<Incoming> = prepared
                .into_iter()
                .zip(device_ids)
                .map(|(p, device_id)| Incoming {
                    record_id: p.record_id,
                    kind,
                    device_id,
                    captured_at: p.captured_at,
                    body: p.body,
                    status: p.status,
                })
                .collect();
            let upload = Upload {
                org_id: me.org_id,
                uploader: Uploader::User(me.id),
                actor: Actor::User(me.public_id),
                action,
                records: incoming,
            };
            records::store_upload(c, &upload)
        })
        .await;
    match result {
        Ok(receipt) => Ok(answer(receipt)),
        Err(e) => Err(state
            .audit_refusal(
                Some(who.org_id),
                Actor::User(who.public_id),
                action,
                String::new(),
                e,
            )
            .await),
    }
}

/// A signed-in user's upload of records of one kind: a refused body is audited; the rest goes
/// to [`ingest_for_user`].
async fn user_upload<R: UserRecord + ReportedStatus>(
    state: AppState,
    who: UserPrincipal,
    kind: RecordKind,
    action: &'static str,
    records: Result<Vec<R>, ApiError>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let records = match records {
        Ok(r) => r,
        Err(e) => {
            return Err(state
                .audit_refusal(
                    Some(who.org_id),
                    Actor::User(who.public_id),
                    action,
                    String::new(),
                    e,
                )
                .await);
        }
    };
    let prepared = records
        .iter()
        .map(|r| {
            Ok(Prepared {
                record_id: r.record_id(),
                device: r.device_id(),
                captured_at: r.captured_at(),
                gated: r.gated_purposes(),
                body: SealedBody::new(&state.key, r.record_id(), &canonical(r)?),
                status: r.status(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    ingest_for_user(state, who, kind, action, prepared).await
}

/// PC application: DFE software version, environment, print settings, and job information
/// (only with `job_info` consent granted at capture time).
#[utoipa::path(post, path = "/api/v1/uploads/dfe", tag = "uploads", security(("user_token" = [])),
    request_body = DfeUpload,
    responses((status = 201, body = UploadReceipt, description = "At least one record stored"),
              (status = 200, body = UploadReceipt, description = "Every record was already stored"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_dfe(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<DfeUpload>, ApiError>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let records = body.map(|ValidJson(b)| b.records);
    user_upload(state, who, RecordKind::Dfe, "upload.dfe", records).await
}

/// PC application: a device's state as its DFE reported it (down or stopped, its errors and
/// counters), stored as device data for a device the user may upload to.
#[utoipa::path(post, path = "/api/v1/uploads/device-data", tag = "uploads", security(("user_token" = [])),
    request_body = DeviceStatusUpload,
    responses((status = 201, body = UploadReceipt, description = "At least one record stored"),
              (status = 200, body = UploadReceipt, description = "Every record was already stored"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_device_status(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<DeviceStatusUpload>, ApiError>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let records = body.map(|ValidJson(b)| b.records);
    user_upload(
        state,
        who,
        RecordKind::DeviceData,
        "upload.device_data",
        records,
    )
    .await
}

/// Mobile application: spectrometer measurements, with GPS and photos only with `gps` and
/// `photos` consent granted at capture time.
#[utoipa::path(post, path = "/api/v1/uploads/measurements", tag = "uploads", security(("user_token" = [])),
    request_body = MeasurementUpload,
    responses((status = 201, body = UploadReceipt, description = "At least one record stored"),
              (status = 200, body = UploadReceipt, description = "Every record was already stored"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload_measurements(
    State(state): State<AppState>,
    User(who): User,
    body: Result<ValidJson<MeasurementUpload>, ApiError>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    let records = body.map(|ValidJson(b)| b.records);
    user_upload(
        state,
        who,
        RecordKind::Measurement,
        "upload.measurement",
        records,
    )
    .await
}

/// DC/ES agents: device data for the devices the agent was designated.
#[utoipa::path(post, path = "/api/v1/agent/device-data", tag = "uploads", security(("agent_secret" = [])),
    request_body = DeviceDataUpload,
    responses((status = 201, body = UploadReceipt, description = "At least one record stored"),
              (status = 200, body = UploadReceipt, description = "Every record was already stored"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
              (status = 422, body = Problem)))]
pub async fn upload_device_data(
    State(state): State<AppState>,
    Agent(agent): Agent,
    body: Result<ValidJson<DeviceDataUpload>, ApiError>,
) -> Result<(StatusCode, Json<UploadReceipt>), ApiError> {
    const ACTION: &str = "upload.device_data";
    let actor = Actor::Agent(agent.public_id);
    let body = match body {
        Ok(ValidJson(b)) => b,
        Err(e) => {
            return Err(state
                .audit_refusal(Some(agent.org_id), actor, ACTION, String::new(), e)
                .await);
        }
    };
    if body.agent.agent_id != agent.public_id {
        let err = ApiError::Forbidden("`agent.agent_id` does not match the agent credential used");
        return Err(state
            .audit_refusal(Some(agent.org_id), actor, ACTION, String::new(), err)
            .await);
    }
    // A report names the kind of agent it comes from; a credential registered for the other
    // kind is a misconfigured agent (enrolled with the wrong `--kind`), told so plainly.
    if body.agent.agent_type != agent.agent_type {
        let err = ApiError::Forbidden(match agent.agent_type {
            AgentType::DcAgent => {
                "`agent.agent_type` is `es_agent`, but this agent was registered as a DC agent (`dc_agent`)"
            }
            AgentType::EsAgent => {
                "`agent.agent_type` is `dc_agent`, but this agent was registered as an ES agent (`es_agent`)"
            }
        });
        return Err(state
            .audit_refusal(Some(agent.org_id), actor, ACTION, String::new(), err)
            .await);
    }
    let sealed = body
        .records
        .iter()
        .map(|r| Ok(SealedBody::new(&state.key, r.record_id, &canonical(r)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    // Devices already known are not looked up again on the single writer (`device_cache`).
    let known: Vec<Option<i64>> = body
        .records
        .iter()
        .map(|r| {
            let d = &r.device;
            state
                .devices
                .get(agent.id, &d.manufacturer, &d.model, &d.serial_number)
        })
        .collect();
    // Every device known: nothing to look up, and the upload can join a batch.
    if let Some(device_ids) = known.iter().copied().collect::<Option<Vec<i64>>>() {
        let upload = Upload {
            org_id: agent.org_id,
            uploader: Uploader::Agent(agent.id),
            actor: actor.clone(),
            action: ACTION,
            records: body
                .records
                .iter()
                .zip(sealed)
                .zip(device_ids)
                .map(|((r, body), device_id)| Incoming {
                    record_id: r.record_id,
                    kind: RecordKind::DeviceData,
                    device_id,
                    captured_at: r.captured_at,
                    body,
                    status: Some(StatusDigest::of(&r.device)),
                })
                .collect(),
        };
        return match state.ingest.store(upload).await {
            Ok(receipt) => Ok(answer(receipt)),
            Err(e) => Err(state
                .audit_refusal(Some(agent.org_id), actor, ACTION, String::new(), e)
                .await),
        };
    }
    let me = agent.clone();
    let result = state
        .db
        .write(move |c| {
            let mut unknown = Vec::new();
            let mut found = Vec::new();
            let mut incoming = Vec::with_capacity(body.records.len());
            for (i, ((r, sealed), known)) in body.records.iter().zip(sealed).zip(known).enumerate()
            {
                let d = &r.device;
                let device_id = match known {
                    Some(id) => Some(id),
                    None => devices::designated(
                        c,
                        &me,
                        &d.manufacturer,
                        &d.model,
                        &d.serial_number,
                    )?
                    .map(|(id, _)| {
                        found.push((i, id));
                        id
                    }),
                };
                match device_id {
                    Some(device_id) => incoming.push(Incoming {
                        record_id: r.record_id,
                        kind: RecordKind::DeviceData,
                        device_id,
                        captured_at: r.captured_at,
                        body: sealed,
                        status: Some(StatusDigest::of(&r.device)),
                    }),
                    None => unknown.push(FieldError {
                        field: format!("records[{i}].device"),
                        message: "this device (manufacturer, model, serial number) is not designated to this agent"
                            .into(),
                        rule: None,
                    }),
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::UnknownReference(unknown));
            }
            let upload = Upload {
                org_id: me.org_id,
                uploader: Uploader::Agent(me.id),
                actor: Actor::Agent(me.public_id),
                action: ACTION,
                records: incoming,
            };
            let receipt = records::store_upload(c, &upload)?;
            // Handed back to be remembered once the write is committed.
            let found: Vec<(DeviceNames, i64)> = found
                .into_iter()
                .map(|(i, id)| {
                    let d = &body.records[i].device;
                    let names = (
                        d.manufacturer.clone(),
                        d.model.clone(),
                        d.serial_number.clone(),
                    );
                    (names, id)
                })
                .collect();
            Ok((receipt, found))
        })
        .await;
    let result = result.map(|(receipt, found)| {
        for ((manufacturer, model, serial), id) in found {
            state
                .devices
                .insert(agent.id, &manufacturer, &model, &serial, id);
        }
        receipt
    });
    match result {
        Ok(receipt) => Ok(answer(receipt)),
        Err(e) => Err(state
            .audit_refusal(Some(agent.org_id), actor, ACTION, String::new(), e)
            .await),
    }
}
