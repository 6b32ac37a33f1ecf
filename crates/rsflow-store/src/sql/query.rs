//! Dialect-neutral SQL text with numbered `$N` placeholders (both SQLite and PostgreSQL read
//! them), plus the mapping from database errors to MLflow's error codes.

use std::fmt::Write as _;

use rsflow_core::MlflowError;

use crate::error::DbError;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Arguments as _};

/// The SQL dialects the store speaks. SQLite is complete; PostgreSQL reuses the same statements
/// and differs only where the dialect methods below say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `ILIKE` without relying on an operator SQLite lacks.
    pub(crate) fn ilike(self, column: &str, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite => format!("LOWER({column}) LIKE LOWER({placeholder})"),
            Dialect::Postgres => format!("{column} ILIKE {placeholder}"),
        }
    }

    /// The column that orders a table's rows as they were inserted: what a plain scan returns,
    /// and so what MLflow's unordered SQLAlchemy loads return.
    pub(crate) fn insertion_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "ctid",
        }
    }

    /// How a write transaction starts. SQLite takes the write lock up front so that a
    /// read-then-write transaction can never fail to upgrade its lock half way.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    I64(i64),
    F64(f64),
    Str(String),
    Bool(bool),
    /// A text NULL.
    Null,
    NullI64,
    NullF64,
    NullBool,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::F64(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Str(v.to_string())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Str(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Str(v.clone())
    }
}
/// A typed NULL: PostgreSQL refuses a text-typed NULL for a numeric column.
pub(crate) trait NullOf {
    const NULL: Arg;
}
impl NullOf for i64 {
    const NULL: Arg = Arg::NullI64;
}
impl NullOf for f64 {
    const NULL: Arg = Arg::NullF64;
}
impl NullOf for bool {
    const NULL: Arg = Arg::NullBool;
}
impl NullOf for String {
    const NULL: Arg = Arg::Null;
}
impl NullOf for &str {
    const NULL: Arg = Arg::Null;
}
impl NullOf for &String {
    const NULL: Arg = Arg::Null;
}
impl<T: Into<Arg> + NullOf> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(T::NULL, Into::into)
    }
}

/// A statement under construction: text plus its arguments, numbered as they are bound.
/// Values never enter the text; only placeholders do.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Bind a value and return its placeholder, for callers that need to place it themselves.
    pub fn arg_placeholder(&mut self, value: impl Into<Arg>) -> String {
        self.args.push(value.into());
        format!("${}", self.args.len())
    }

    /// Bind a value whose placeholder the text already has (multi-row VALUES lists).
    pub fn arg(&mut self, value: impl Into<Arg>) {
        self.args.push(value.into());
    }

    /// Bind a value and append its placeholder.
    pub fn bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        let n = self.args.len();
        let _ = write!(self.text, "${n}");
        self
    }

    /// Append `($a, $b, ...)` for a list of values.
    pub fn bind_list<T: Into<Arg> + Clone>(&mut self, values: &[T]) -> &mut Self {
        self.push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v.clone());
        }
        self.push(")")
    }

    /// A search: on PostgreSQL sent as an unnamed statement, which the server plans for the
    /// values of this request (which metric, how selective, the LIMIT), as a search needs; a
    /// cached statement would get a generic plan after five executions. Every other statement
    /// keeps its cached plan, so writes are not planned again on every request. On SQLite the
    /// statement is cached as usual.
    pub fn search_query(&self, dialect: Dialect) -> Query<'_, Any, AnyArguments<'_>> {
        self.query().persistent(dialect == Dialect::Sqlite)
    }

    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut args = AnyArguments::default();
        for a in &self.args {
            // Encoding into AnyArguments only fails for types Any cannot carry; these all can.
            let _ = match a {
                Arg::I64(v) => args.add(*v),
                Arg::F64(v) => args.add(*v),
                // Borrowed: the statement lives no longer than `self`, and a batch binds
                // thousands of strings.
                Arg::Str(v) => args.add(v.as_str()),
                Arg::Bool(v) => args.add(*v),
                Arg::Null => args.add(Option::<String>::None),
                Arg::NullI64 => args.add(Option::<i64>::None),
                // sqlx 0.8's Any-to-PostgreSQL mapping swaps the float NULL kinds: an f64
                // NULL becomes a float4 parameter (and a later f64 on the same prepared
                // statement fails with "incorrect binary data format"); an f32 NULL becomes
                // float8. On SQLite both are plain NULL.
                Arg::NullF64 => args.add(Option::<f32>::None),
                Arg::NullBool => args.add(Option::<bool>::None),
            };
        }
        sqlx::query_with(&self.text, args)
    }
}

/// The rows of a multi-row INSERT of `rows` rows of `width` columns: `($1, $2), ...`, or
/// `(?, ?), ...` when `anonymous`. SQLite wants the anonymous form for big statements: sqlx
/// looks up every parameter's name, and SQLite finds a name by scanning the whole list, so
/// numbered parameters cost O(n^2) per statement (most of a 1000-metric batch's CPU).
pub(crate) fn values_placeholders(anonymous: bool, rows: usize, width: usize) -> String {
    let mut out = String::with_capacity(rows * width * 5);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..width {
            if c > 0 {
                out.push_str(", ");
            }
            n += 1;
            if anonymous {
                out.push('?');
            } else {
                let _ = write!(out, "${n}");
            }
        }
        out.push(')');
    }
    out
}

/// Whether a connection talks to PostgreSQL. There, concurrent writers take row locks in
/// the order their rows come, so callers sort rows by key first: two transactions that lock
/// the same rows then queue instead of deadlocking.
pub(crate) fn sorts_for_locks(conn: &sqlx::AnyConnection) -> bool {
    conn.backend_name() == "PostgreSQL"
}

/// What kind of failure a database error is, as far as callers care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbErrorKind {
    UniqueViolation,
    ForeignKeyViolation,
    /// SQLite lock contention: worth retrying by the client.
    Busy,
    /// PostgreSQL serialization failure or deadlock: the transaction was rolled back and can
    /// run again as it is.
    Conflict,
    /// The database cannot be reached or refuses work for now (connection lost, shutting
    /// down, too many connections, pool exhausted, statement timeout).
    Unavailable,
    Other,
}

pub(crate) fn classify(e: &sqlx::Error) -> DbErrorKind {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
                sqlx::error::ErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
                // SQLITE_BUSY (5) / SQLITE_LOCKED (6) and their extended codes.
                _ if code
                    .parse::<i32>()
                    .is_ok_and(|c| c & 0xff == 5 || c & 0xff == 6) =>
                {
                    DbErrorKind::Busy
                }
                // Serialization failure, deadlock, lock not available.
                _ if matches!(code.as_str(), "40001" | "40P01" | "55P03") => DbErrorKind::Conflict,
                // Connection exceptions (08), insufficient resources (53: too many
                // connections, out of memory or disk), operator intervention (57: admin or
                // crash shutdown, cannot connect now, statement timeout / cancel).
                _ if code.len() == 5
                    && (code.starts_with("08")
                        || code.starts_with("53")
                        || code.starts_with("57")) =>
                {
                    DbErrorKind::Unavailable
                }
                _ => DbErrorKind::Other,
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => DbErrorKind::Unavailable,
        // The server went away in the middle of a message.
        sqlx::Error::Protocol(_) => DbErrorKind::Unavailable,
        _ => DbErrorKind::Other,
    }
}

/// The kind of a `sqlx` error decides the variant (see [`classify`]).
impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match classify(&e) {
            DbErrorKind::UniqueViolation => DbError::Unique(e),
            DbErrorKind::ForeignKeyViolation => DbError::ForeignKey(e),
            DbErrorKind::Busy => DbError::Busy(e),
            DbErrorKind::Conflict => DbError::Conflict(e),
            DbErrorKind::Unavailable => DbError::Unavailable(e),
            DbErrorKind::Other => DbError::Other(e),
        }
    }
}

/// A failed database call as MLflow's error: classified into a [`DbError`], which the one
/// conversion (`From<DbError> for MlflowError`) words and keeps as the cause.
pub(crate) fn db_err(e: sqlx::Error) -> MlflowError {
    DbError::from(e).into()
}

/// A unique-key clash another transaction caused between our check and our insert: running
/// the whole request again sees that row and takes the "already there" path.
pub(crate) fn race_err(e: sqlx::Error) -> MlflowError {
    DbError::from(e).unique_is_race().into()
}

/// Whether an error is a conflict that running the same request again can resolve.
pub(crate) fn is_conflict(e: &MlflowError) -> bool {
    e.cause::<DbError>().is_some_and(DbError::is_conflict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let mut q = Sql::new("SELECT 1 WHERE a = ");
        q.bind(1i64).push(" AND b IN ").bind_list(&["x", "y"]);
        assert_eq!(q.text, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(q.args.len(), 3);
        assert_eq!(values_placeholders(false, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_placeholders(true, 2, 2), "(?, ?), (?, ?)");
    }
}
