//! Synchronous SQL for each domain, called inside [`Database::read`](crate::db::Database::read)
//! or [`Database::write`](crate::db::Database::write) closures. No HTTP types here but `ApiError`,
//! which is what a refused operation becomes.

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod consent;
pub mod devices;
pub mod fleet;
pub mod groups;
pub mod operations;
pub mod records;
pub mod web_sessions;

use chrono::{DateTime, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Parses a UUID stored by this server; a damaged one is a storage error, not a panic.
/// `(?1, ?2), (?3, ?4)`: `rows` groups of `columns` numbered placeholders, for a multi-row
/// statement.
pub fn placeholder_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let row = (1..=columns)
                .map(|c| format!("?{}", r * columns + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `?first, ?first+1, …` for `n` values: an `IN (…)` list made at run time.
pub fn placeholder_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a statement whose values are a list made at run time (a multi-row statement).
pub fn execute_values(
    conn: &crate::sql::Connection,
    sql: &str,
    values: &[crate::sql::Value<'_>],
) -> crate::sql::Result<usize> {
    let refs: Vec<&dyn crate::sql::ToSql> =
        values.iter().map(|v| v as &dyn crate::sql::ToSql).collect();
    conn.prepare_cached(sql)?.execute(&refs[..])
}

pub fn parse_uuid(s: &str) -> Result<uuid::Uuid, crate::db::StoreError> {
    uuid::Uuid::parse_str(s).map_err(|_| crate::db::StoreError::Corrupt(format!("bad uuid `{s}`")))
}

/// The result of an INSERT, with a uniqueness violation turned into a 409 saying `what`.
pub fn unique_or_conflict(
    result: crate::sql::Result<usize>,
    what: crate::error::Refusal,
) -> Result<usize, crate::error::ApiError> {
    match result {
        Err(e) if e.is_constraint_violation() => Err(crate::error::ApiError::Conflict(what)),
        other => Ok(other?),
    }
}
