//! `ecsp-server rotate-data-key`: every sealed column resealed and every e-mail blind index
//! recomputed under a new data key, while the server serves, in batches; safe to kill and run
//! again.
//!
//! The steps, each of which a rerun finds done or does again:
//! 1. The key file gets a new key in front of the old one (one atomic rename). Servers re-read
//!    the file every [`crypto::KEY_FILE_CHECK`]: from then on they seal under the new key, open
//!    under either, and find an address under either index. This command waits twice that long
//!    before it starts, so what servers write meanwhile is sealed under the new key already.
//! 2. Each table's rows, in id order and in batches of [`BATCH`] (one transaction each): a
//!    ciphertext under a key other than the current one is opened and sealed again; a user's
//!    e-mail index is recomputed from the opened address. A killed run leaves whole batches.
//! 3. Known installations and unlock codes are keyed hashes of ids the database does not hold,
//!    so they cannot be recomputed: they are deleted (an installation is treated as new at its
//!    next sign-in; an unlock code must be issued again).
//! 4. A last pass counts what is still under another key (a server that had not reloaded yet);
//!    until it finds nothing, the sweep runs again. Then the old key leaves the key file.
//! 5. SQLite keeps old page images in free pages and in its write-ahead log: the database is
//!    vacuumed and the log truncated, so no byte sealed under the old key is left on disk.
//!    (PostgreSQL keeps dead row versions until its vacuum; `pg_dump` holds none.)

use std::io::Write;

use anyhow::Context as _;
use uuid::Uuid;

use crate::Config;
use crate::crypto::{self, DataKey};
use crate::db::{self, Database, StoreError};
use crate::sql::{Connection, params};

/// Rows resealed per transaction.
pub const BATCH: i64 = 200;

/// A sealed column: its table, the column, the row's key column and the context's prefix
/// (`{prefix}:{key}` is what it was sealed bound to).
struct Sealed {
    table: &'static str,
    column: &'static str,
    key_column: &'static str,
    context: &'static str,
}

static SEALED: [Sealed; 9] = [
    Sealed {
        table: "organizations",
        column: "name_enc",
        key_column: "public_id",
        context: "organizations.name",
    },
    Sealed {
        table: "users",
        column: "email_enc",
        key_column: "public_id",
        context: "users.email",
    },
    Sealed {
        table: "users",
        column: "name_enc",
        key_column: "public_id",
        context: "users.name",
    },
    Sealed {
        table: "users",
        column: "partner_enc",
        key_column: "public_id",
        context: "users.partner",
    },
    Sealed {
        table: "users",
        column: "client_enc",
        key_column: "public_id",
        context: "users.client",
    },
    Sealed {
        table: "agents",
        column: "label_enc",
        key_column: "public_id",
        context: "agents.label",
    },
    Sealed {
        table: "device_groups",
        column: "name_enc",
        key_column: "public_id",
        context: "device_groups.name",
    },
    Sealed {
        table: "alert_rules",
        column: "webhook_enc",
        key_column: "public_id",
        context: "alert_rules.webhook",
    },
    Sealed {
        table: "records",
        column: "body_enc",
        key_column: "record_id",
        context: "records.body",
    },
];

/// Rotates the installation's data key; says what it does on `out`.
pub async fn rotate_data_key(config: &Config, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::env::var_os(crypto::DATA_KEY_ENV).is_none(),
        "the data key comes from {}: rotate it with a key file (--data-key-file), which running \
         servers re-read, or set a new key and restart after resealing",
        crypto::DATA_KEY_ENV
    );
    let path = config.data_key_path();
    let mut masters = crypto::read_key_file(&path)
        .with_context(|| format!("reading the data key file {}", path.display()))?;
    if masters.len() == 1 {
        masters.insert(0, crypto::new_master());
        crypto::write_key_file(&path, &masters)?;
        writeln!(
            out,
            "new data key added to {} (the old one is kept until nothing is sealed under it)",
            path.display()
        )?;
    } else {
        writeln!(out, "a rotation was under way: going on with its new key")?;
    }
    let (db, key) = crate::open_existing_storage(config).await?;
    writeln!(
        out,
        "waiting {} s for running servers to take the new key",
        (crypto::KEY_FILE_CHECK * 2).as_secs()
    )?;
    out.flush()?;
    tokio::time::sleep(crypto::KEY_FILE_CHECK * 2).await;

    let mut pass = 0;
    loop {
        pass += 1;
        for sealed in &SEALED {
            let n = reseal_column(&db, &key, sealed, out).await?;
            if n > 0 {
                writeln!(out, "{}.{}: {n} resealed", sealed.table, sealed.column)?;
            }
        }
        let emails = reindex_emails(&db, &key).await?;
        if emails > 0 {
            writeln!(out, "users.email_index: {emails} recomputed")?;
        }
        // Once a run: later passes would delete what servers recorded under the new key.
        let dropped = if pass == 1 {
            db.write(|c| {
                c.execute("DELETE FROM known_installations", [])
                    .map_err(StoreError::from)
            })
            .await?
        } else {
            0
        };
        if dropped > 0 {
            writeln!(
                out,
                "known installations and unlock codes: {dropped} deleted (they cannot be recomputed)"
            )?;
        }
        let left = under_other_keys(&db, &key).await?;
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            pass < 10,
            "{left} value(s) are still sealed under another key after {pass} passes: a server is \
             still writing with the old key (one started with {} set?); restart it and run this \
             command again",
            crypto::DATA_KEY_ENV
        );
        writeln!(
            out,
            "{left} value(s) written under the old key meanwhile: another pass"
        )?;
        tokio::time::sleep(crypto::KEY_FILE_CHECK).await;
    }
    masters.truncate(1);
    crypto::write_key_file(&path, &masters)?;
    writeln!(out, "the old data key is removed from {}", path.display())?;
    if config.database.is_none() {
        let file = config.data_dir.join(crate::DATABASE_FILE);
        let compacted =
            tokio::task::spawn_blocking(move || db::backup::sqlite_compact(&file)).await??;
        writeln!(
            out,
            "database vacuumed and its log truncated{}",
            if compacted {
                ""
            } else {
                " (the log could not be truncated while readers held it: it is at the next checkpoint)"
            }
        )?;
    }
    writeln!(
        out,
        "done: every sealed value and e-mail index is under key {}",
        key.key_id_hex()
    )?;
    Ok(())
}

/// Reseals one column's values not under the current key; returns how many.
async fn reseal_column(
    db: &Database,
    key: &std::sync::Arc<DataKey>,
    sealed: &'static Sealed,
    out: &mut (impl Write + Send),
) -> anyhow::Result<usize> {
    let mut after = 0_i64;
    let mut total = 0;
    loop {
        let key = key.clone();
        let (last, n) = db
            .write(move |c| reseal_batch(c, &key, sealed, after))
            .await?;
        total += n;
        if let (Some(row), true) = (last, n > 0) {
            // Progress, a batch at a time (a kill between two lines loses nothing).
            writeln!(
                out,
                "  {}.{} up to row {row}: {n}",
                sealed.table, sealed.column
            )?;
            out.flush()?;
        }
        match last {
            Some(last) => after = last,
            None => return Ok(total),
        }
    }
}

/// One batch of rows after `after`: (the last row id seen, or None past the end; how many
/// values were resealed).
fn reseal_batch(
    c: &Connection,
    key: &DataKey,
    sealed: &Sealed,
    after: i64,
) -> Result<(Option<i64>, usize), StoreError> {
    let rows: Vec<(i64, String, Option<Vec<u8>>)> = c
        .prepare(&format!(
            "SELECT id, {}, {} FROM {} WHERE id > ?1 ORDER BY id LIMIT ?2",
            sealed.key_column, sealed.column, sealed.table
        ))?
        .query_map(params![after, BATCH], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<crate::sql::Result<_>>()?;
    let Some(last) = rows.last().map(|r| r.0) else {
        return Ok((None, 0));
    };
    let mut n = 0;
    for (id, row_key, value) in rows {
        let Some(value) = value.filter(|v| !key.sealed_under_current(v)) else {
            continue;
        };
        let context = format!("{}:{row_key}", sealed.context);
        let plain = key.open(&context, &value).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{}.{} of row {id} opens under none of the keys held",
                sealed.table, sealed.column
            ))
        })?;
        c.execute(
            &format!(
                "UPDATE {} SET {} = ?1 WHERE id = ?2",
                sealed.table, sealed.column
            ),
            params![key.seal(&context, &plain), id],
        )?;
        n += 1;
    }
    Ok((Some(last), n))
}

/// Recomputes the e-mail blind index of every user whose index is not the current key's.
async fn reindex_emails(db: &Database, key: &std::sync::Arc<DataKey>) -> anyhow::Result<usize> {
    let mut after = 0_i64;
    let mut total = 0;
    loop {
        let key = key.clone();
        let (last, n) = db
            .write(move |c| -> Result<(Option<i64>, usize), StoreError> {
                let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = c
                    .prepare(
                        "SELECT id, public_id, email_enc, email_index FROM users
                         WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )?
                    .query_map(params![after, BATCH], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<crate::sql::Result<_>>()?;
                let Some(last) = rows.last().map(|r| r.0) else {
                    return Ok((None, 0));
                };
                let mut n = 0;
                for (id, public_id, email_enc, index) in rows {
                    let user = Uuid::parse_str(&public_id)
                        .map_err(|_| StoreError::Corrupt(format!("user {id}'s id")))?;
                    let email = key
                        .open_str(&format!("users.email:{user}"), &email_enc)
                        .ok_or(StoreError::Decrypt)?;
                    let current = key.email_index(&email);
                    if index != current {
                        c.execute(
                            "UPDATE users SET email_index = ?1 WHERE id = ?2",
                            params![current.as_slice(), id],
                        )?;
                        n += 1;
                    }
                }
                Ok((Some(last), n))
            })
            .await?;
        total += n;
        match last {
            Some(last) => after = last,
            None => return Ok(total),
        }
    }
}

/// How many sealed values are under another key than the current one.
async fn under_other_keys(db: &Database, key: &std::sync::Arc<DataKey>) -> anyhow::Result<usize> {
    let prefix = key.ciphertext_prefix();
    let count = db
        .read(move |c| -> Result<usize, StoreError> {
            let mut n = 0;
            for sealed in &SEALED {
                let mut stmt = c.prepare(&format!(
                    "SELECT {} FROM {} WHERE {} IS NOT NULL",
                    sealed.column, sealed.table, sealed.column
                ))?;
                let values = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
                for v in values {
                    if !v?.starts_with(&prefix) {
                        n += 1;
                    }
                }
            }
            Ok(n)
        })
        .await?;
    Ok(count)
}
