//! The fleet at a glance: the dashboard's figures, its CSV, and the attention list. What is
//! counted and how: `store::fleet`.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ecsp_protocol::fleet::{AttentionItem, FleetDashboard, ProductionUnit};
use ecsp_protocol::problem::Problem;
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::extract::{QueryParams, User, ValidQuery};
use crate::error::ApiError;
use crate::store::fleet::{self, Filter};

/// Which printers, in which unit and time zone.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DashboardQuery {
    /// `jobs`, `sheets`, `m2` (default) or `ft2`.
    unit: Option<ProductionUnit>,
    /// Only this group's printers.
    group_id: Option<Uuid>,
    /// Only this printer.
    device_id: Option<Uuid>,
    /// The IANA zone for hours and days (default `UTC`), e.g. `Asia/Tokyo`.
    time_zone: Option<String>,
}

impl QueryParams for DashboardQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] = &[
        ("unit", "one of `jobs`, `sheets`, `m2`, `ft2`"),
        ("group_id", "a group id (UUID)"),
        ("device_id", "a device id (UUID)"),
        ("time_zone", "an IANA time zone name such as `Asia/Tokyo`"),
    ];

    fn check(&self) -> Result<(), (&'static str, String)> {
        self.zone().map(|_| ())
    }
}

impl DashboardQuery {
    fn zone(&self) -> Result<chrono_tz::Tz, (&'static str, String)> {
        match &self.time_zone {
            None => Ok(chrono_tz::UTC),
            Some(z) => z.parse().map_err(|_| {
                (
                    "time_zone",
                    "must be an IANA time zone name such as `Asia/Tokyo`".into(),
                )
            }),
        }
    }

    fn filter(&self) -> Filter {
        Filter {
            group: self.group_id,
            device: self.device_id,
        }
    }
}

/// What the printers the caller may see produced (today by hour, the last 30 days by day) and
/// how many are in each state.
#[utoipa::path(get, path = "/api/v1/fleet/dashboard", tag = "fleet", security(("user_token" = [])),
    params(DashboardQuery),
    responses((status = 200, body = FleetDashboard), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn dashboard(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<DashboardQuery>, ApiError>,
) -> Result<Json<FleetDashboard>, ApiError> {
    let ValidQuery(q) = query?;
    let zone = q.zone().map_err(|(p, e)| ApiError::query(p, e))?;
    let (unit, filter) = (q.unit.unwrap_or_default(), q.filter());
    Ok(Json(
        state
            .db
            .read(move |c| fleet::dashboard(c, &who, filter, unit, zone, chrono::Utc::now()))
            .await?,
    ))
}

/// Each printer's production by day over the last 30 days, as CSV (`unit` is ignored: every
/// measure is a column).
#[utoipa::path(get, path = "/api/v1/fleet/production.csv", tag = "fleet", security(("user_token" = [])),
    params(DashboardQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn production_csv(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<DashboardQuery>, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    let ValidQuery(q) = query?;
    let zone = q.zone().map_err(|(p, e)| ApiError::query(p, e))?;
    let filter = q.filter();
    let csv = state
        .db
        .read(move |c| fleet::production_csv(c, &who, filter, zone, chrono::Utc::now()))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"production.csv\"",
            ),
        ],
        csv,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttentionQuery {
    /// A consumable at or below this percent needs attention (1 to 99, default 10).
    #[param(minimum = 1, maximum = 99)]
    consumable_below: Option<u32>,
}

impl QueryParams for AttentionQuery {
    const EXPECTED: &'static [(&'static str, &'static str)] =
        &[("consumable_below", "an integer from 1 to 99")];

    fn check(&self) -> Result<(), (&'static str, String)> {
        if self
            .consumable_below
            .is_some_and(|n| !(1..=99).contains(&n))
        {
            return Err(("consumable_below", "must be an integer from 1 to 99".into()));
        }
        Ok(())
    }
}

/// Most entries of each reason in the attention list.
pub const ATTENTION_PER_REASON: i64 = 200;

/// The printers the caller may see that need someone now: in error, silent, a consumable low,
/// a remote operation that failed in the last 24 hours.
#[utoipa::path(get, path = "/api/v1/fleet/attention", tag = "fleet", security(("user_token" = [])),
    params(AttentionQuery),
    responses((status = 200, body = Vec<AttentionItem>), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
pub async fn attention(
    State(state): State<AppState>,
    User(who): User,
    query: Result<ValidQuery<AttentionQuery>, ApiError>,
) -> Result<Json<Vec<AttentionItem>>, ApiError> {
    let ValidQuery(q) = query?;
    let below = f64::from(q.consumable_below.unwrap_or(10));
    Ok(Json(
        state
            .db
            .read(move |c| {
                fleet::attention(c, &who, below, chrono::Utc::now(), ATTENTION_PER_REASON)
            })
            .await?,
    ))
}
