//! The database schema and its migrations, keyed on `PRAGMA user_version`.
//!
//! Each migration runs in its own transaction; the version is bumped in the same transaction,
//! so a crash mid-migration leaves the previous version intact. Times are Unix milliseconds
//! (UTC). Personal data of users is stored only as AEAD ciphertext (see `crypto`).

use rusqlite::Connection;

use crate::db::StoreError;

/// Migrations in order; index + 1 is the schema version after applying it.
const MIGRATIONS: &[&str] = &[
    // v1: accounts, devices, records, consent, audit.
    r#"
    CREATE TABLE organizations (
        id          INTEGER PRIMARY KEY,
        public_id   TEXT NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );

    CREATE TABLE users (
        id             INTEGER PRIMARY KEY,
        public_id      TEXT NOT NULL UNIQUE,
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        role           TEXT NOT NULL CHECK (role IN ('user', 'service_support', 'admin')),
        -- keyed blind index of the normalised e-mail address, for sign-in look-up
        email_index    BLOB NOT NULL UNIQUE,
        email_enc      BLOB NOT NULL,
        name_enc       BLOB NOT NULL,
        partner_enc    BLOB,
        client_enc     BLOB,
        password_hash  TEXT NOT NULL,
        disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at     INTEGER NOT NULL
    );
    CREATE INDEX users_org ON users(org_id);

    -- One row per issued token pair; a sign-in starts a family, each refresh adds a row.
    CREATE TABLE sessions (
        id                  INTEGER PRIMARY KEY,
        family              TEXT NOT NULL,
        user_id             INTEGER NOT NULL REFERENCES users(id),
        access_hash         BLOB NOT NULL UNIQUE,
        access_expires_at   INTEGER NOT NULL,
        refresh_hash        BLOB NOT NULL UNIQUE,
        refresh_expires_at  INTEGER NOT NULL,
        created_at          INTEGER NOT NULL,
        rotated_at          INTEGER,
        revoked_at          INTEGER
    );
    CREATE INDEX sessions_family ON sessions(family);
    CREATE INDEX sessions_user ON sessions(user_id);

    CREATE TABLE agents (
        id           INTEGER PRIMARY KEY,
        public_id    TEXT NOT NULL UNIQUE,
        org_id       INTEGER NOT NULL REFERENCES organizations(id),
        label        TEXT NOT NULL,
        agent_type   TEXT NOT NULL CHECK (agent_type IN ('dc_agent', 'es_agent')),
        secret_hash  BLOB NOT NULL UNIQUE,
        disabled     INTEGER NOT NULL DEFAULT 0,
        created_at   INTEGER NOT NULL
    );

    CREATE TABLE devices (
        id             INTEGER PRIMARY KEY,
        public_id      TEXT NOT NULL UNIQUE,
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        manufacturer   TEXT NOT NULL,
        model          TEXT NOT NULL,
        serial_number  TEXT NOT NULL,
        agent_id       INTEGER REFERENCES agents(id),
        registered_at  INTEGER NOT NULL,
        UNIQUE (org_id, manufacturer, model, serial_number)
    );
    CREATE INDEX devices_agent ON devices(agent_id, serial_number);

    CREATE TABLE device_access (
        user_id     INTEGER NOT NULL REFERENCES users(id),
        device_id   INTEGER NOT NULL REFERENCES devices(id),
        granted_by  INTEGER NOT NULL REFERENCES users(id),
        granted_at  INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id)
    ) WITHOUT ROWID;

    -- Every uploaded record, stored once ever. The body is AEAD ciphertext of its canonical JSON.
    CREATE TABLE records (
        id             INTEGER PRIMARY KEY,
        record_id      TEXT NOT NULL UNIQUE,
        kind           TEXT NOT NULL CHECK (kind IN ('device_data', 'dfe', 'measurement')),
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        device_id      INTEGER NOT NULL REFERENCES devices(id),
        uploader_kind  TEXT NOT NULL CHECK (uploader_kind IN ('user', 'agent')),
        uploader_id    INTEGER NOT NULL,
        captured_at    INTEGER NOT NULL,
        stored_at      INTEGER NOT NULL,
        body_sha256    BLOB NOT NULL,
        body_enc       BLOB NOT NULL
    );
    CREATE INDEX records_device ON records(device_id, kind, captured_at);

    -- Append-only consent history.
    CREATE TABLE consents (
        id              INTEGER PRIMARY KEY,
        user_id         INTEGER NOT NULL REFERENCES users(id),
        purpose         TEXT NOT NULL CHECK (purpose IN ('job_info', 'gps', 'photos')),
        decision        TEXT NOT NULL CHECK (decision IN ('granted', 'refused', 'withdrawn')),
        notice_version  TEXT NOT NULL,
        decided_at      INTEGER NOT NULL,
        recorded_at     INTEGER NOT NULL
    );
    CREATE INDEX consents_user ON consents(user_id, purpose, decided_at);
    CREATE TRIGGER consents_no_update BEFORE UPDATE ON consents
        BEGIN SELECT RAISE(ABORT, 'consent history is append-only'); END;
    CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents
        BEGIN SELECT RAISE(ABORT, 'consent history is append-only'); END;

    -- Append-only audit log.
    CREATE TABLE audit_log (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        org_id      INTEGER,
        actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'agent', 'anonymous', 'system')),
        actor_id    TEXT,
        action      TEXT NOT NULL,
        object      TEXT NOT NULL,
        outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failed'))
    );
    CREATE INDEX audit_org ON audit_log(org_id, seq);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

    -- Facts about this data directory (demo seed done, etc.).
    CREATE TABLE server_meta (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
    );
    "#,
    // v2: consent decisions carry their client-generated id, so a retried upload of the same
    // decision is recorded once.
    r#"
    ALTER TABLE consents ADD COLUMN decision_id TEXT;
    CREATE UNIQUE INDEX consents_decision ON consents(decision_id);
    "#,
    // v3: the audit log expires: a row may be deleted once it is older than the retention period
    // the server runs with (kept in server_meta), never before. Still no UPDATE, ever.
    r#"
    DROP TRIGGER audit_no_delete;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
        WHEN OLD.at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000
            - COALESCE((SELECT CAST(value AS INTEGER) FROM server_meta
                        WHERE key = 'audit_retention_days'), 36500) * 86400000
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only; rows expire only past the retention period'); END;
    "#,
    // v4: installations a user has signed in from (keyed hash of the client's installation id),
    // which get their own sign-in attempt budget.
    r#"
    CREATE TABLE known_installations (
        user_id            INTEGER NOT NULL REFERENCES users(id),
        installation_hash  BLOB NOT NULL,
        first_seen         INTEGER NOT NULL,
        last_seen          INTEGER NOT NULL,
        PRIMARY KEY (user_id, installation_hash)
    ) WITHOUT ROWID;
    "#,
    // v5: e-mail addresses and record ids are unique per organisation, not across them, so that
    // neither a 409 nor anything else tells one organisation what another holds. SQLite cannot
    // drop a UNIQUE constraint, so both tables are rebuilt (foreign keys are off meanwhile).
    r#"
    CREATE TABLE users_v5 (
        id             INTEGER PRIMARY KEY,
        public_id      TEXT NOT NULL UNIQUE,
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        role           TEXT NOT NULL CHECK (role IN ('user', 'service_support', 'admin')),
        -- keyed blind index of the normalised e-mail address, for sign-in look-up
        email_index    BLOB NOT NULL,
        email_enc      BLOB NOT NULL,
        name_enc       BLOB NOT NULL,
        partner_enc    BLOB,
        client_enc     BLOB,
        password_hash  TEXT NOT NULL,
        disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at     INTEGER NOT NULL,
        UNIQUE (org_id, email_index)
    );
    INSERT INTO users_v5 (id, public_id, org_id, role, email_index, email_enc, name_enc,
                          partner_enc, client_enc, password_hash, disabled, created_at)
        SELECT id, public_id, org_id, role, email_index, email_enc, name_enc,
               partner_enc, client_enc, password_hash, disabled, created_at FROM users;
    DROP TABLE users;
    ALTER TABLE users_v5 RENAME TO users;
    CREATE INDEX users_email ON users(email_index);

    CREATE TABLE records_v5 (
        id             INTEGER PRIMARY KEY,
        record_id      TEXT NOT NULL,
        kind           TEXT NOT NULL CHECK (kind IN ('device_data', 'dfe', 'measurement')),
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        device_id      INTEGER NOT NULL REFERENCES devices(id),
        uploader_kind  TEXT NOT NULL CHECK (uploader_kind IN ('user', 'agent')),
        uploader_id    INTEGER NOT NULL,
        captured_at    INTEGER NOT NULL,
        stored_at      INTEGER NOT NULL,
        body_sha256    BLOB NOT NULL,
        body_enc       BLOB NOT NULL,
        UNIQUE (org_id, record_id)
    );
    INSERT INTO records_v5 (id, record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                            captured_at, stored_at, body_sha256, body_enc)
        SELECT id, record_id, kind, org_id, device_id, uploader_kind, uploader_id,
               captured_at, stored_at, body_sha256, body_enc FROM records;
    DROP TABLE records;
    ALTER TABLE records_v5 RENAME TO records;
    CREATE INDEX records_device ON records(device_id, kind, captured_at);
    "#,
    // v6: organisation names and agent labels are sealed like user information. Rows written
    // before keep their clear text until the server seals them at start (`seal_legacy_names`).
    r#"
    ALTER TABLE organizations ADD COLUMN name_enc BLOB;
    ALTER TABLE agents ADD COLUMN label_enc BLOB;
    "#,
    // v7: remote operations as persisted jobs (state, deadline of the current state, result),
    // their state history, and the operations each device reports it supports.
    r#"
    CREATE TABLE operations (
        id            INTEGER PRIMARY KEY,
        public_id     TEXT NOT NULL UNIQUE,
        org_id        INTEGER NOT NULL REFERENCES organizations(id),
        device_id     INTEGER NOT NULL REFERENCES devices(id),
        agent_id      INTEGER NOT NULL REFERENCES agents(id),
        kind          TEXT NOT NULL CHECK (kind IN ('status', 'head_cleaning', 'diagnosis')),
        parameters    TEXT,
        state         TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'delivered', 'in_progress',
                          'succeeded', 'failed', 'rejected', 'timed_out', 'expired', 'cancelled')),
        requested_by  INTEGER NOT NULL REFERENCES users(id),
        requested_at  INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        -- when the current state ends by itself (expired / timed_out); NULL once final
        deadline      INTEGER,
        progress      INTEGER,
        result        TEXT,
        reason        TEXT
    );
    CREATE INDEX operations_agent_state ON operations(agent_id, state);
    CREATE INDEX operations_deadline ON operations(deadline) WHERE deadline IS NOT NULL;
    CREATE INDEX operations_device ON operations(device_id, id);
    CREATE INDEX operations_org ON operations(org_id, id);

    CREATE TABLE operation_history (
        operation_id  INTEGER NOT NULL REFERENCES operations(id),
        seq           INTEGER NOT NULL,
        state         TEXT NOT NULL,
        at            INTEGER NOT NULL,
        PRIMARY KEY (operation_id, seq)
    ) WITHOUT ROWID;

    -- the agent secret's hash in mosquitto's password_file form, for the external broker
    ALTER TABLE agents ADD COLUMN broker_hash TEXT;

    CREATE TABLE device_capabilities (
        device_id    INTEGER PRIMARY KEY REFERENCES devices(id),
        operations   TEXT NOT NULL,
        reported_at  INTEGER NOT NULL
    );
    "#,
    // v8: browser sessions of the portal (a cookie's hash; idle and absolute expiry are checked
    // against these times; a sign-out revokes).
    r#"
    CREATE TABLE web_sessions (
        id            INTEGER PRIMARY KEY,
        token_hash    BLOB NOT NULL UNIQUE,
        family        TEXT NOT NULL,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        created_at    INTEGER NOT NULL,
        last_seen_at  INTEGER NOT NULL,
        revoked_at    INTEGER
    );
    CREATE INDEX web_sessions_user ON web_sessions(user_id);
    "#,
    // v9: a device's records newest first whatever their kind (the portal's upload history and
    // the API's record list without `kind`): one index step per page instead of a sort of every
    // record the device has.
    r#"
    CREATE INDEX records_device_time ON records(device_id, captured_at);
    "#,
    // v10: device groups (a site, a floor, a customer) for filtering the fleet; a device is in at
    // most one. Names are sealed like agent labels; uniqueness (ignoring case) is checked by the
    // store, which opens the organisation's few names.
    r#"
    CREATE TABLE device_groups (
        id          INTEGER PRIMARY KEY,
        public_id   TEXT NOT NULL UNIQUE,
        org_id      INTEGER NOT NULL REFERENCES organizations(id),
        name_enc    BLOB NOT NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE INDEX device_groups_org ON device_groups(org_id);
    ALTER TABLE devices ADD COLUMN group_id INTEGER REFERENCES device_groups(id);
    CREATE INDEX devices_group ON devices(group_id);
    "#,
    // v11: `records_device_time` (v9) goes: a device's newest records of every kind are now the
    // newest of each kind merged, all from `records_device`, and an index fewer is a page fewer
    // for every upload's commit to write (the ingest benchmark's bytes per upload).
    r#"
    DROP INDEX records_device_time;
    "#,
    // v12: the two tables every upload writes get their CHECKs as `=`/`OR` chains instead of
    // `IN (…)` lists. Same rules; but SQLite evaluates a constant `IN` list of more than two
    // values by building a temporary index of it on every row it checks, which doubled the cost
    // of an audit row (8–9 µs against 4–5 µs per insert, SQLite 3.53) and was a fifth of the
    // single writer's time per upload. SQLite cannot change a CHECK in place: both tables are
    // rebuilt, rows and ids kept; the audit log keeps its AUTOINCREMENT high-water mark (so an
    // expired id is never used again) and its triggers.
    r#"
    CREATE TABLE records_v12 (
        id             INTEGER PRIMARY KEY,
        record_id      TEXT NOT NULL,
        kind           TEXT NOT NULL
                       CHECK (kind = 'device_data' OR kind = 'dfe' OR kind = 'measurement'),
        org_id         INTEGER NOT NULL REFERENCES organizations(id),
        device_id      INTEGER NOT NULL REFERENCES devices(id),
        uploader_kind  TEXT NOT NULL CHECK (uploader_kind = 'user' OR uploader_kind = 'agent'),
        uploader_id    INTEGER NOT NULL,
        captured_at    INTEGER NOT NULL,
        stored_at      INTEGER NOT NULL,
        body_sha256    BLOB NOT NULL,
        body_enc       BLOB NOT NULL,
        UNIQUE (org_id, record_id)
    );
    INSERT INTO records_v12 (id, record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                             captured_at, stored_at, body_sha256, body_enc)
        SELECT id, record_id, kind, org_id, device_id, uploader_kind, uploader_id,
               captured_at, stored_at, body_sha256, body_enc FROM records;
    DROP TABLE records;
    ALTER TABLE records_v12 RENAME TO records;
    CREATE INDEX records_device ON records(device_id, kind, captured_at);

    CREATE TABLE audit_log_v12 (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        org_id      INTEGER,
        actor_kind  TEXT NOT NULL CHECK (actor_kind = 'user' OR actor_kind = 'agent'
                                         OR actor_kind = 'anonymous' OR actor_kind = 'system'),
        actor_id    TEXT,
        action      TEXT NOT NULL,
        object      TEXT NOT NULL,
        outcome     TEXT NOT NULL
                    CHECK (outcome = 'success' OR outcome = 'denied' OR outcome = 'failed')
    );
    INSERT INTO audit_log_v12 (seq, at, org_id, actor_kind, actor_id, action, object, outcome)
        SELECT seq, at, org_id, actor_kind, actor_id, action, object, outcome FROM audit_log;
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'audit_log_v12', 0 WHERE NOT EXISTS
            (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_log_v12');
    UPDATE sqlite_sequence
        SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'), 0))
        WHERE name = 'audit_log_v12';
    DROP TABLE audit_log;
    ALTER TABLE audit_log_v12 RENAME TO audit_log;
    CREATE INDEX audit_org ON audit_log(org_id, seq);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
        WHEN OLD.at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000
            - COALESCE((SELECT CAST(value AS INTEGER) FROM server_meta
                        WHERE key = 'audit_retention_days'), 36500) * 86400000
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only; rows expire only past the retention period'); END;
    "#,
    // v13: agents can be listed with when they were last seen (written at most once a minute
    // per agent) and deleted: the row stays, as operations, records and the audit log name it,
    // but its secret is replaced by one nobody knows and it is listed no more.
    r#"
    ALTER TABLE agents ADD COLUMN last_seen_at INTEGER;
    ALTER TABLE agents ADD COLUMN deleted_at INTEGER;
    "#,
    // v14: a device's records are paged by (capture time, record id), a key no two of its records
    // share: capture time alone skipped the records that shared the time at a page boundary. The
    // index orders by both, so a page is one seek and a walk, with nothing to sort. It replaces
    // `records_device` rather than joining it: one index for every upload to write, as before.
    r#"
    DROP INDEX records_device;
    CREATE INDEX records_device ON records(device_id, kind, captured_at, record_id);
    "#,
    // v15: sign-in budgets in the database, so that several server nodes spend one budget per
    // account (and a restart forgets none). `tat` is the generic cell rate algorithm's
    // theoretical arrival time (Unix ms): a bucket whose `tat` is past is full.
    r#"
    CREATE TABLE signin_budgets (
        bucket  BLOB PRIMARY KEY,
        tat     INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // v16: alerts (see `store::alerts`). `device_status` is each device's newest report in
    // brief, kept at ingest, so a report is compared with the one before it without opening
    // sealed bodies and the fleet's state is one table read. Rules say who is told what, by
    // which channel; events are what happened (written in the transaction that stored it);
    // deliveries are the messages, each claimed by one node at a time and retried until sent.
    r#"
    CREATE TABLE device_status (
        device_id    INTEGER PRIMARY KEY REFERENCES devices(id),
        captured_at  INTEGER NOT NULL,
        state        TEXT NOT NULL,
        codes        TEXT NOT NULL,
        consumables  TEXT NOT NULL,
        counters     TEXT NOT NULL DEFAULT '{}',
        last_job_at  INTEGER,
        lowest_percent REAL
    );
    CREATE INDEX device_status_state ON device_status(state);
    CREATE TABLE production_hours (
        device_id   INTEGER NOT NULL REFERENCES devices(id),
        hour        INTEGER NOT NULL,
        jobs        REAL NOT NULL,
        sheets      REAL NOT NULL,
        area_m2     REAL NOT NULL,
        ink_ml      REAL NOT NULL,
        printing_s  REAL NOT NULL,
        PRIMARY KEY (device_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE production_group_hours (
        org_id      INTEGER NOT NULL REFERENCES organizations(id),
        group_id    INTEGER NOT NULL,
        hour        INTEGER NOT NULL,
        jobs        REAL NOT NULL,
        sheets      REAL NOT NULL,
        area_m2     REAL NOT NULL,
        ink_ml      REAL NOT NULL,
        printing_s  REAL NOT NULL,
        PRIMARY KEY (org_id, group_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE alert_rules (
        id               INTEGER PRIMARY KEY,
        public_id        TEXT NOT NULL UNIQUE,
        org_id           INTEGER NOT NULL REFERENCES organizations(id),
        recipient_id     INTEGER NOT NULL REFERENCES users(id),
        created_by       INTEGER NOT NULL REFERENCES users(id),
        group_id         INTEGER REFERENCES device_groups(id),
        device_id        INTEGER REFERENCES devices(id),
        condition        TEXT NOT NULL,
        codes            TEXT,
        threshold        INTEGER,
        channel          TEXT NOT NULL CHECK (channel = 'email' OR channel = 'webhook'),
        webhook_enc      BLOB,
        language         TEXT NOT NULL,
        time_zone        TEXT NOT NULL,
        quiet_minutes    INTEGER NOT NULL,
        created_at       INTEGER NOT NULL,
        deleted_at       INTEGER
    );
    CREATE INDEX alert_rules_org ON alert_rules(org_id, condition);
    CREATE TABLE alert_events (
        id          INTEGER PRIMARY KEY,
        org_id      INTEGER NOT NULL,
        device_id   INTEGER,
        rule_id     INTEGER,
        user_id     INTEGER,
        kind        TEXT NOT NULL,
        detail      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        dispatched  INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alert_events_waiting ON alert_events(id) WHERE dispatched = 0;
    CREATE TABLE alert_deliveries (
        id               INTEGER PRIMARY KEY,
        public_id        TEXT NOT NULL UNIQUE,
        rule_id          INTEGER NOT NULL REFERENCES alert_rules(id),
        device_id        INTEGER,
        events           TEXT NOT NULL,
        state            TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        due_at           INTEGER NOT NULL,
        attempts         INTEGER NOT NULL DEFAULT 0,
        claimed_until    INTEGER,
        last_attempt_at  INTEGER,
        last_status      TEXT,
        sent_at          INTEGER
    );
    CREATE INDEX alert_deliveries_due ON alert_deliveries(due_at) WHERE state = 'pending';
    CREATE INDEX alert_deliveries_rule ON alert_deliveries(rule_id, device_id, id);
    CREATE TABLE alert_silence (
        rule_id       INTEGER NOT NULL REFERENCES alert_rules(id),
        agent_id      INTEGER NOT NULL REFERENCES agents(id),
        last_seen_at  INTEGER NOT NULL,
        PRIMARY KEY (rule_id, agent_id)
    );
    "#,
    // v17: when an agent's broker credentials stopped counting (disabled, deleted, re-keyed):
    // the clustered broker's account lists these as revocations (`remote::nats`).
    r#"
    ALTER TABLE agents ADD COLUMN broker_revoked_at INTEGER;
    "#,
    // v18: on PostgreSQL a record's device and organisation are checked together against the
    // device's row, so that writers do not all share-lock their organisation's row. SQLite's
    // single writer takes no row locks, and changing a reference here means rebuilding the
    // records table: its two references stay.
    "",
];

/// The schema version this build writes.
pub const CURRENT_VERSION: usize = MIGRATIONS.len();

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if version > CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    // Rebuilding a table (v5) drops the old one, which foreign keys would refuse; they are
    // checked by hand before each commit instead. The pragma has no effect inside a transaction.
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = apply(conn, version);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

fn apply(conn: &mut Connection, from: usize) -> Result<(), StoreError> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let broken: i64 =
            tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(StoreError::Corrupt(format!(
                "migration to version {} would break {broken} foreign key(s)",
                i + 1
            )));
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn upgrading_from_v1_keeps_data_and_equals_a_fresh_schema() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute_batch(
            "INSERT INTO organizations VALUES (1, 'o', 'Org', 0);
             INSERT INTO users (id, public_id, org_id, role, email_index, email_enc, name_enc, password_hash, created_at)
                 VALUES (1, 'u', 1, 'user', x'01', x'02', x'03', 'h', 0);
             INSERT INTO consents (user_id, purpose, decision, notice_version, decided_at, recorded_at)
                 VALUES (1, 'gps', 'granted', '1', 0, 0);",
        )
        .unwrap();
        migrate(&mut old).unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        // ALTER TABLE rewrites the stored CREATE statement, so compare columns, not text.
        let columns = |c: &Connection| -> Vec<(String, String)> {
            c.prepare("SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY 1, 2")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(columns(&old), columns(&fresh));
        assert_eq!(schema(&old).len(), schema(&fresh).len());
        let kept: i64 = old
            .query_row("SELECT COUNT(*) FROM consents", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1);
    }

    /// Every statement an upload runs against the two tables it writes, as the store runs them.
    const UPLOAD_INSERTS: [&str; 2] = [
        "INSERT INTO records (record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                              captured_at, stored_at, body_sha256, body_enc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (org_id, record_id) DO NOTHING",
        "INSERT INTO audit_log (at, org_id, actor_kind, actor_id, action, object, outcome)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    ];

    fn opcodes(conn: &Connection, sql: &str) -> Vec<String> {
        let mut explain = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let unbound = vec![rusqlite::types::Null; explain.parameter_count()];
        explain
            .query_map(rusqlite::params_from_iter(unbound), |r| {
                r.get::<_, String>(1)
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn an_upload_builds_no_temporary_index_for_its_checks() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        for sql in UPLOAD_INSERTS {
            let ops = opcodes(&conn, sql);
            assert!(ops.iter().any(|o| o == "Insert"), "{ops:?}");
            assert!(
                !ops.iter().any(|o| o == "OpenEphemeral"),
                "an IN list in a CHECK builds a temporary index per row: {sql}"
            );
        }
        // The rules are the same: a kind outside the list is still refused.
        conn.execute_batch(
            "INSERT INTO organizations (id, public_id, name, created_at) VALUES (1, 'o', 'Org', 0);",
        )
        .unwrap();
        let e = conn
            .execute(
                "INSERT INTO audit_log (at, org_id, actor_kind, action, object, outcome)
                 VALUES (0, 1, 'robot', 'a', 'o', 'success')",
                [],
            )
            .unwrap_err();
        assert!(e.to_string().contains("CHECK"), "{e}");
    }

    #[test]
    fn upgrading_to_v12_keeps_records_audit_rows_and_the_audit_high_water_mark() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        for sql in &MIGRATIONS[..11] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 11).unwrap();
        conn.execute_batch(
            "INSERT INTO organizations (id, public_id, name, created_at) VALUES (1, 'o', 'Org', 0);
             INSERT INTO agents (id, public_id, org_id, label, agent_type, secret_hash, created_at)
                 VALUES (1, 'a', 1, 'l', 'dc_agent', x'00', 0);
             INSERT INTO devices (id, public_id, org_id, agent_id, manufacturer, model, serial_number, registered_at)
                 VALUES (1, 'd', 1, 1, 'Epson', 'M', 'S', 0);
             INSERT INTO records (id, record_id, kind, org_id, device_id, uploader_kind, uploader_id,
                                  captured_at, stored_at, body_sha256, body_enc)
                 VALUES (7, 'r', 'dfe', 1, 1, 'agent', 1, 5, 6, x'01', x'02');
             INSERT INTO audit_log (seq, at, org_id, actor_kind, action, object, outcome)
                 VALUES (3, 0, 1, 'system', 'x', 'y', 'success');
             -- rows up to 40 existed and expired: their ids are never handed out again
             UPDATE sqlite_sequence SET seq = 40 WHERE name = 'audit_log';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let record: (i64, String, i64) = conn
            .query_row("SELECT id, kind, captured_at FROM records", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(record, (7, "dfe".into(), 5));
        conn.execute(
            UPLOAD_INSERTS[1],
            rusqlite::params![1, 1, "system", None::<String>, "z", "o", "success"],
        )
        .unwrap();
        let seqs: Vec<i64> = conn
            .prepare("SELECT seq FROM audit_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(seqs, vec![3, 41]);
        let e = conn
            .execute("UPDATE audit_log SET object = 'q'", [])
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        let e = conn.execute("DELETE FROM audit_log", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }

    #[test]
    fn a_database_from_a_newer_server_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", (CURRENT_VERSION + 1) as i64)
            .unwrap();
        let e = migrate(&mut conn).unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    }
}
