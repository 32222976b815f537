//! `ecsp-server migrate`: an installation's SQLite database copied into an empty PostgreSQL
//! database, all or nothing.
//!
//! Rows are copied as they are stored: ids, times and the sealed columns' ciphertext, which the
//! same data key opens on either engine (the key stays in the data directory, or wherever
//! `--data-key-file`/`ECSP_DATA_KEY` keep it). The whole copy is one PostgreSQL transaction, so a
//! failure leaves the database as empty as it was (its schema made, which a retry reuses); a
//! database holding any row of the service's tables is refused before anything is written.
//! Identity counters are moved past the copied ids, the audit log's past every id it ever gave
//! (expired rows' too: SQLite keeps that mark in `sqlite_sequence`), so no id is used twice.

use std::path::Path;

use rusqlite::types::ValueRef;

use super::{StoreError, postgres::PostgresTarget, postgres_schema, sqlite_schema};
use crate::sql::{self, Value};

/// The service's tables, parents before children (foreign keys hold at every insert).
pub const TABLES: &[&str] = &[
    "organizations",
    "users",
    "sessions",
    "known_installations",
    "web_sessions",
    "agents",
    "device_groups",
    "devices",
    "device_access",
    "device_capabilities",
    "records",
    "consents",
    "operations",
    "operation_history",
    "audit_log",
    "server_meta",
    "signin_budgets",
    "device_status",
    "production_hours",
    "production_group_hours",
    "alert_rules",
    "alert_events",
    "alert_deliveries",
    "alert_silence",
];

/// Rows copied, table by table, in [`TABLES`] order.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies the SQLite database at `from` (migrated to this build's schema first) into the
/// PostgreSQL database `to`. Blocking: run it on a blocking thread.
pub fn sqlite_to_postgres(from: &Path, to: &PostgresTarget) -> Result<Copied, StoreError> {
    if !from.exists() {
        return Err(StoreError::Task(format!(
            "no server database at {}",
            from.display()
        )));
    }
    let mut source = rusqlite::Connection::open(from)?;
    source.busy_timeout(std::time::Duration::from_secs(10))?;
    sqlite_schema::migrate(&mut source)?;
    let tables = sqlite_tables(&source)?;
    if let Some(extra) = tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
        return Err(StoreError::Corrupt(format!(
            "the SQLite database has a table `{extra}` this build does not copy"
        )));
    }

    let mut client = to.connect_blocking()?;
    postgres_schema::migrate(&mut client)?;
    let pg = sql::Error::from;
    for table in TABLES {
        let any = client
            .query_opt(&format!("SELECT 1 FROM {table} LIMIT 1"), &[])
            .map_err(pg)?;
        if any.is_some() {
            return Err(StoreError::Task(format!(
                "the PostgreSQL database {} is not empty (table {table} has rows); migrate only into a new, empty database",
                to.describe()
            )));
        }
    }

    // One snapshot of the source, one transaction on the target.
    let snapshot = source.transaction()?;
    let mut target = client.transaction().map_err(pg)?;
    let mut copied = Copied::new();
    for &table in TABLES {
        let columns = table_columns(&snapshot, table)?;
        let list = columns.join(", ");
        let placeholders = (1..=columns.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = target
            .prepare(&format!(
                "INSERT INTO {table} ({list}) VALUES ({placeholders})"
            ))
            .map_err(pg)?;
        let mut select = snapshot.prepare(&format!("SELECT {list} FROM {table}"))?;
        let mut rows = select.query([])?;
        let mut n = 0u64;
        while let Some(row) = rows.next()? {
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(value_of))
                .collect::<Result<Vec<_>, _>>()?;
            let params: Vec<&(dyn postgres_types::ToSql + Sync)> = values
                .iter()
                .map(|v| v as &(dyn postgres_types::ToSql + Sync))
                .collect();
            target.execute(&insert, &params).map_err(pg)?;
            n += 1;
        }
        copied.push((table, n));
    }
    // Identity counters past every copied id; the audit log's past every id it ever handed out.
    for (table, id) in [
        ("organizations", "id"),
        ("users", "id"),
        ("sessions", "id"),
        ("web_sessions", "id"),
        ("agents", "id"),
        ("device_groups", "id"),
        ("devices", "id"),
        ("records", "id"),
        ("consents", "id"),
        ("operations", "id"),
        ("alert_rules", "id"),
        ("alert_events", "id"),
        ("alert_deliveries", "id"),
    ] {
        target
            .execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{id}'),
                                   COALESCE((SELECT MAX({id}) FROM {table}), 0) + 1, false)"
                ),
                &[],
            )
            .map_err(pg)?;
    }
    let audit_mark: i64 = snapshot.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0),
                    COALESCE((SELECT MAX(seq) FROM audit_log), 0))",
        [],
        |r| r.get(0),
    )?;
    target
        .execute(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), $1::BIGINT, false)",
            &[&(audit_mark + 1)],
        )
        .map_err(pg)?;
    target.commit().map_err(pg)?;
    drop(snapshot);
    Ok(copied)
}

fn value_of(v: ValueRef<'_>) -> Value<'_> {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        // The store writes only UTF-8 text; anything else is copied as bytes and refused by the
        // target's column type, naming the table.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s),
            Err(_) => Value::Blob(t),
        },
        ValueRef::Blob(b) => Value::Blob(b),
    }
}

fn sqlite_tables(conn: &rusqlite::Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

fn table_columns(conn: &rusqlite::Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let names = stmt
        .query_map([table], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_table_of_the_schema_is_copied() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::sqlite_schema::migrate(&mut conn).unwrap();
        let mut tables = super::sqlite_tables(&conn).unwrap();
        tables.sort();
        let mut copied: Vec<String> = super::TABLES.iter().map(|t| t.to_string()).collect();
        copied.sort();
        assert_eq!(
            tables, copied,
            "a new table must be added to TABLES (in foreign-key order)"
        );
    }
}
