//! One way to run SQL on either engine: the store's statements are written once, in the SQL that
//! SQLite and PostgreSQL share, and run through [`Connection`], which is an open SQLite connection
//! or a PostgreSQL session in a transaction.
//!
//! Why not an ORM or sqlx's `Any` driver: the store is a few dozen hand-written statements whose
//! plans were tuned on SQLite (the ingest path's group commit, covering indexes); an ORM would hide
//! them and `Any` loses the types. Why one text for both engines rather than a store per engine:
//! every statement here is in the common dialect (`ON CONFLICT … DO NOTHING`, `RETURNING`,
//! `COALESCE`), so two copies would only drift apart; the few places where the engines differ
//! (migrations, locking, durability, bulk copy) are per engine, in `db::sqlite` and
//! `db::postgres`.
//!
//! The shape follows rusqlite's (`prepare_cached`, `query_row`, `query_map`, `params!`), which
//! the store was written against: SQLite runs through rusqlite itself, unchanged; for PostgreSQL
//! the numbered `?1` placeholders become `$1`, statements are prepared once per session, and
//! values are converted to the column's type (integers are `BIGINT`, flags `0`/`1`, blobs
//! `BYTEA`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres_types::{IsNull, Type};
use rusqlite::types::{ToSqlOutput, ValueRef};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which engine a connection talks to, for the rare statement that must differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    /// `query_row` found no row (`optional()` makes it `None`).
    #[error("the query returned no row")]
    NoRows,
    #[error("column {index}: {message}")]
    Column { index: usize, message: String },
}

impl Error {
    /// A uniqueness, foreign-key or CHECK rule refused the write.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            Error::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            _ => false,
        }
    }

    /// The database could not be reached or went away: nothing was committed, and the same
    /// request may succeed later (503, not 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Postgres(e) => postgres_unavailable(e),
            _ => false,
        }
    }
}

/// What PostgreSQL said: its message and SQLSTATE, not the detail, which may quote the row's
/// values (a duplicate key's, for one).
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A PostgreSQL error that means "no database now" rather than "this statement is wrong": the
/// connection closed or never opened, or the server is shutting down, starting, or out of
/// connections (SQLSTATE classes 08, 53, 57P).
pub fn postgres_unavailable(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
        }
        // No SQLSTATE: an I/O or protocol failure of the connection itself.
        None => e.as_db_error().is_none(),
    }
}

/// `query_row`'s missing row as `None`, as rusqlite's extension does.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values in

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be bound to a placeholder.
pub trait ToSql {
    fn to_value(&self) -> Value<'_>;
}

macro_rules! integer_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_to_sql!(i64, i32, i16, u32, u16, u8, bool);

impl ToSql for usize {
    fn to_value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for u64 {
    fn to_value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToSql for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl ToSql for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

/// SQL `NULL`, where no type says which.
#[derive(Debug, Clone, Copy)]
pub struct Null;

impl ToSql for Null {
    fn to_value(&self) -> Value<'_> {
        Value::Null
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// Converts to the type PostgreSQL inferred for the placeholder: the store's integers go to any
/// integer column (range-checked), to a flag (`BOOLEAN` in a condition) or to a float.
impl postgres_types::ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(format!("a number cannot be bound to a {ty} parameter").into()),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres_types::to_sql_checked!();
}

/// A statement's parameters: `params![a, b]`, an array of one type (`[id]`), or `[]`.
pub trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Vec<Value<'_>> {
                self.iter().map(|p| p.to_value()).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12);

/// Parameters of different types, as rusqlite's macro of the same name.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::sql::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql]
    };
}
pub use crate::params;

// ---------------------------------------------------------------------------------------------
// Values out

/// What a column can be read as.
pub trait FromSql: Sized {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String>;
    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String>;
}

fn sqlite_via<T: rusqlite::types::FromSql>(value: ValueRef<'_>) -> std::result::Result<T, String> {
    T::column_result(value).map_err(|e| e.to_string())
}

fn decode<'a, T: postgres_types::FromSql<'a>>(
    ty: &Type,
    raw: &'a [u8],
) -> std::result::Result<T, String> {
    T::from_sql(ty, raw).map_err(|e| e.to_string())
}

fn not_null<'a>(ty: &Type, raw: Option<&'a [u8]>) -> std::result::Result<&'a [u8], String> {
    raw.ok_or_else(|| format!("unexpected NULL in a {ty} column"))
}

impl FromSql for i64 {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        sqlite_via(value)
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        let raw = not_null(ty, raw)?;
        match *ty {
            Type::INT8 => decode::<i64>(ty, raw),
            Type::INT4 => decode::<i32>(ty, raw).map(i64::from),
            Type::INT2 => decode::<i16>(ty, raw).map(i64::from),
            Type::BOOL => decode::<bool>(ty, raw).map(i64::from),
            _ => Err(format!("a {ty} column is not an integer")),
        }
    }
}

macro_rules! narrow_integer_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
                let wide: i64 = sqlite_via(value)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} is out of range"))
            }

            fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
                let wide = i64::from_postgres(ty, raw)?;
                <$t>::try_from(wide).map_err(|_| format!("{wide} is out of range"))
            }
        }
    )*};
}
narrow_integer_from_sql!(i32, u32, u16, u8, u64, usize);

impl FromSql for bool {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        sqlite_via(value)
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        match *ty {
            Type::BOOL => decode::<bool>(ty, not_null(ty, raw)?),
            _ => i64::from_postgres(ty, raw).map(|i| i != 0),
        }
    }
}

impl FromSql for f64 {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        sqlite_via(value)
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        let bytes = not_null(ty, raw)?;
        match *ty {
            Type::FLOAT8 => decode::<f64>(ty, bytes),
            Type::FLOAT4 => decode::<f32>(ty, bytes).map(f64::from),
            _ => i64::from_postgres(ty, raw).map(|i| i as f64),
        }
    }
}

impl FromSql for String {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        sqlite_via(value)
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        decode::<String>(ty, not_null(ty, raw)?)
    }
}

impl FromSql for Vec<u8> {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        sqlite_via(value)
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        decode::<Vec<u8>>(ty, not_null(ty, raw)?)
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sqlite(value: ValueRef<'_>) -> std::result::Result<Self, String> {
        match value {
            ValueRef::Null => Ok(None),
            v => T::from_sqlite(v).map(Some),
        }
    }

    fn from_postgres(ty: &Type, raw: Option<&[u8]>) -> std::result::Result<Self, String> {
        match raw {
            None => Ok(None),
            Some(_) => T::from_postgres(ty, raw).map(Some),
        }
    }
}

/// A PostgreSQL column as it came, decoded by [`FromSql::from_postgres`].
struct RawColumn<'a> {
    ty: Type,
    raw: Option<&'a [u8]>,
}

impl<'a> postgres_types::FromSql<'a> for RawColumn<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawColumn {
            ty: ty.clone(),
            raw: Some(raw),
        })
    }

    fn from_sql_null(ty: &Type) -> Result<Self, BoxError> {
        Ok(RawColumn {
            ty: ty.clone(),
            raw: None,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A column's position (the store reads columns by position, as they are selected).
pub trait RowIndex {
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl std::fmt::Debug for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Row")
    }
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromSql>(&self, index: I) -> Result<T> {
        let index = index.index();
        let column = |message| Error::Column { index, message };
        match self {
            Row::Sqlite(r) => T::from_sqlite(r.get_ref(index)?).map_err(column),
            Row::Postgres(r) => {
                let c: RawColumn<'_> = r.try_get(index)?;
                T::from_postgres(&c.ty, c.raw).map_err(column)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections and statements

/// A PostgreSQL session and the statements prepared on it (prepared once, by their text).
pub struct PgSession {
    pub client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
    /// Set when a statement found the database gone: the pool drops the session.
    pub broken: bool,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession")
            .field("prepared", &self.statements.len())
            .finish()
    }
}

impl PgSession {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
            broken: false,
        }
    }

    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(&to_postgres_placeholders(sql))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Where a connection's session lives: owned (the SQLite writer's), borrowed from a pool.
// One per request or thread, made in place and never moved about: boxing would only add an
// allocation per request.
#[allow(clippy::large_enum_variant)]
pub enum Connection {
    Sqlite(rusqlite::Connection),
    SqlitePooled(r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>),
    Postgres(RefCell<r2d2::PooledConnection<crate::db::postgres::Manager>>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({})", self.engine().name())
    }
}

fn pg_params<'v>(values: &'v [Value<'v>]) -> Vec<&'v (dyn postgres_types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn postgres_types::ToSql + Sync))
        .collect()
}

impl Connection {
    pub fn engine(&self) -> Engine {
        match self {
            Connection::Sqlite(_) | Connection::SqlitePooled(_) => Engine::Sqlite,
            Connection::Postgres(_) => Engine::Postgres,
        }
    }

    /// The SQLite connection underneath, for what only SQLite has (pragmas, the writer's
    /// savepoints).
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Connection::Sqlite(c) => Some(c),
            Connection::SqlitePooled(c) => Some(c),
            Connection::Postgres(_) => None,
        }
    }

    /// A statement, prepared once per connection and kept.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(match self {
            Connection::Sqlite(c) => Statement::Sqlite(c.prepare_cached(sql)?),
            Connection::SqlitePooled(c) => Statement::Sqlite(c.prepare_cached(sql)?),
            Connection::Postgres(session) => {
                let statement = session.borrow_mut().prepare(sql)?;
                Statement::Postgres { session, statement }
            }
        })
    }

    /// Same as [`prepare_cached`](Self::prepare_cached): every statement of the store is run
    /// again and again.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Statements without parameters, separated by `;` (schema changes and maintenance).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self {
            Connection::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Connection::SqlitePooled(c) => Ok(c.execute_batch(sql)?),
            Connection::Postgres(s) => Ok(s.borrow_mut().client.batch_execute(sql)?),
        }
    }
}

/// A prepared statement.
pub enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        session: &'c RefCell<r2d2::PooledConnection<crate::db::postgres::Manager>>,
        statement: postgres::Statement,
    },
}

impl std::fmt::Debug for Statement<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Statement")
    }
}

/// Runs a prepared PostgreSQL statement and reads all its rows.
fn pg_query(
    session: &RefCell<r2d2::PooledConnection<crate::db::postgres::Manager>>,
    statement: &postgres::Statement,
    values: &[Value<'_>],
) -> Result<Vec<postgres::Row>> {
    Ok(session
        .borrow_mut()
        .client
        .query(statement, &pg_params(values))?)
}

impl Statement<'_> {
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(values.iter()))?),
            Statement::Postgres { session, statement } => {
                let n = session
                    .borrow_mut()
                    .client
                    .execute(&*statement, &pg_params(&values))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(values.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row::Sqlite(r)),
                    None => Err(Error::NoRows),
                }
            }
            Statement::Postgres { session, statement } => {
                let rows = pg_query(session, statement, &values)?;
                match rows.first() {
                    Some(r) => f(&Row::Postgres(r)),
                    None => Err(Error::NoRows),
                }
            }
        }
    }

    /// Every row, each mapped by `f` (all read before the first is mapped on PostgreSQL; the
    /// store's lists are bounded by their `LIMIT`).
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let values = params.values();
        let mut out = Vec::new();
        match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(values.iter()))?;
                while let Some(r) = rows.next()? {
                    out.push(f(&Row::Sqlite(r)));
                }
            }
            Statement::Postgres { session, statement } => {
                for r in &pg_query(session, statement, &values)? {
                    out.push(f(&Row::Postgres(r)));
                }
            }
        }
        Ok(out.into_iter())
    }

    /// Whether the query returns any row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => Ok(s.exists(rusqlite::params_from_iter(values.iter()))?),
            Statement::Postgres { session, statement } => {
                Ok(!pg_query(session, statement, &values)?.is_empty())
            }
        }
    }

    /// The rows, to walk with [`Rows::next`].
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        let values = params.values();
        Ok(match self {
            Statement::Sqlite(s) => {
                // rusqlite's rows borrow the values only while binding.
                Rows::Sqlite(s.query(rusqlite::params_from_iter(values.iter()))?)
            }
            Statement::Postgres { session, statement } => Rows::Postgres {
                rows: pg_query(session, statement, &values)?,
                next: 0,
            },
        })
    }
}

/// The rows of a query, walked one at a time.
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: Vec<postgres::Row>,
        next: usize,
    },
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows")
    }
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)] // a lending iterator: each row borrows the walk
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            Rows::Postgres { rows, next } => {
                let row = rows.get(*next);
                *next += 1;
                Ok(row.map(Row::Postgres))
            }
        }
    }
}

/// `?1`, `?2`… (and bare `?`, numbered in order) as PostgreSQL's `$1`, `$2`…; text inside
/// quotes is left alone.
pub fn to_postgres_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut bare = 0;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    bare += 1;
                    out.push_str(&bare.to_string());
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes_only() {
        assert_eq!(
            to_postgres_placeholders("SELECT a FROM t WHERE b = ?1 AND c LIKE ?12 ESCAPE '\\'"),
            "SELECT a FROM t WHERE b = $1 AND c LIKE $12 ESCAPE '\\'"
        );
        assert_eq!(
            to_postgres_placeholders("INSERT INTO t VALUES (?, '?', ?)"),
            "INSERT INTO t VALUES ($1, '?', $2)"
        );
    }

    #[test]
    fn a_sqlite_row_reads_as_before() {
        let c = Connection::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        c.execute_batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, f INTEGER)")
            .unwrap();
        c.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            params![7_i64, "x", vec![1u8, 2], true],
        )
        .unwrap();
        let row: (i64, String, Vec<u8>, bool, Option<i64>) = c
            .query_row("SELECT i, s, b, f, NULL FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap();
        assert_eq!(row, (7, "x".into(), vec![1, 2], true, None));
        let missing = c
            .query_row("SELECT i FROM t WHERE i = ?1", [8_i64], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .unwrap();
        assert_eq!(missing, None);
        let e = c
            .query_row("SELECT s FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(matches!(e, Error::Column { index: 0, .. }), "{e}");
    }
}
