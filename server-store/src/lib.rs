//! The reference server's storage, apart from its handlers: the SQL interface the store's
//! statements are written against ([`sql`]) and the two engines behind it ([`db`]): SQLite in the
//! data directory (the embedded default) and PostgreSQL (a database server of the
//! organisation's own). The server crate links no database driver; it calls [`db::Database`]
//! with closures over [`sql::Connection`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod db;
pub mod sql;
