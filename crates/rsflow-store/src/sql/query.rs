//! Dialect-neutral SQL text with numbered `$N` placeholders (both SQLite and PostgreSQL read
//! them; for MySQL [`mysql_text`] rewrites them, once, where a statement is sent), plus the
//! mapping from database errors to MLflow's error codes.

use std::fmt::Write as _;

use rsflow_core::MlflowError;

use crate::error::DbError;
use sqlx::any::AnyArguments;
use sqlx::any::AnyQueryResult;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Arguments as _};

/// The SQL dialects the store speaks. SQLite is complete; PostgreSQL reuses the same statements
/// and differs only where the dialect methods below say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL and MariaDB (sessions run with `ANSI_QUOTES`, `PIPES_AS_CONCAT` and
    /// `NO_BACKSLASH_ESCAPES`, so identifiers, `||` and string literals read as elsewhere).
    Mysql,
}

impl Dialect {
    /// The dialect of a connection.
    pub(crate) fn of(conn: &AnyConnection) -> Dialect {
        match conn.backend_name() {
            "PostgreSQL" => Dialect::Postgres,
            "MySQL" => Dialect::Mysql,
            _ => Dialect::Sqlite,
        }
    }

    /// `ILIKE` without relying on an operator SQLite and MySQL lack (SQLAlchemy renders
    /// `lower(x) LIKE lower(y)` there too).
    pub(crate) fn ilike(self, column: &str, placeholder: &str) -> String {
        match self {
            Dialect::Sqlite | Dialect::Mysql => {
                format!("LOWER({column}) LIKE LOWER({placeholder})")
            }
            Dialect::Postgres => format!("{column} ILIKE {placeholder}"),
        }
    }

    /// A case-sensitive string comparison `column <op> placeholder` (`=`, `!=`, `LIKE`).
    /// MySQL's collations are case-insensitive, so MLflow adds a `BINARY` comparison there
    /// (`search_utils.mysql_comparison_func`), the plain one first for the index.
    pub(crate) fn compare_str(self, column: &str, op: &str, placeholder: &str) -> String {
        match (self, op) {
            (Dialect::Mysql, "=" | "LIKE") => {
                format!("({column} {op} {placeholder} AND BINARY {column} {op} {placeholder})")
            }
            (Dialect::Mysql, "!=") => {
                format!("({column} != {placeholder} OR BINARY {column} != {placeholder})")
            }
            _ => format!("{column} {op} {placeholder}"),
        }
    }

    /// The column side of a case-sensitive `IN` / `NOT IN` (`BINARY column` on MySQL).
    pub(crate) fn in_column(self, column: &str) -> String {
        match self {
            Dialect::Mysql => format!("BINARY {column}"),
            _ => column.to_string(),
        }
    }

    /// The order in which a plain scan returns a table's rows, and so what MLflow's unordered
    /// SQLAlchemy loads return: insertion order on SQLite (`rowid`) and PostgreSQL (`ctid`, as
    /// long as no row was updated); on InnoDB, whose tables are clustered on their primary key,
    /// the primary key's columns after the ones the query selects on (`primary_key_rest`),
    /// compared under the columns' collations as the index holds them.
    pub(crate) fn scan_order(self, primary_key_rest: &'static str) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "ctid",
            Dialect::Mysql => primary_key_rest,
        }
    }

    /// How a write transaction starts. SQLite takes the write lock up front so that a
    /// read-then-write transaction can never fail to upgrade its lock half way.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres | Dialect::Mysql => "BEGIN",
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
    pub fn search_query(&self, dialect: Dialect) -> SqlQuery<'_> {
        self.query().persistent(dialect == Dialect::Sqlite)
    }

    /// The statement, ready to run on a connection or pool (rewritten there for MySQL).
    pub fn query(&self) -> SqlQuery<'_> {
        SqlQuery {
            sql: self,
            persistent: true,
        }
    }

    /// The statement as sqlx runs it, in the `$N` form (SQLite, PostgreSQL).
    pub fn raw_query(&self) -> Query<'_, Any, AnyArguments<'_>> {
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

impl Sql {
    /// The statement for SQLite's own driver (cached there, as [`Sql::search_query`] does on
    /// SQLite): SQLite only.
    pub fn sqlite_query(&self) -> Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
        let mut args = sqlx::sqlite::SqliteArguments::default();
        for a in &self.args {
            // SQLite's arguments take every one of these types.
            let _ = match a {
                Arg::I64(v) => args.add(*v),
                Arg::F64(v) => args.add(*v),
                Arg::Str(v) => args.add(v.as_str()),
                Arg::Bool(v) => args.add(*v),
                Arg::Null => args.add(Option::<String>::None),
                Arg::NullI64 => args.add(Option::<i64>::None),
                Arg::NullF64 => args.add(Option::<f64>::None),
                Arg::NullBool => args.add(Option::<bool>::None),
            };
        }
        sqlx::query_with(&self.text, args)
    }
}

/// Where a statement runs: a connection (of a transaction) or a pool.
pub(crate) enum Target<'c> {
    Conn(&'c mut AnyConnection),
    Pool(&'c AnyPool),
}

impl<'c> From<&'c mut AnyConnection> for Target<'c> {
    fn from(c: &'c mut AnyConnection) -> Self {
        Target::Conn(c)
    }
}

impl<'c> From<&'c AnyPool> for Target<'c> {
    fn from(p: &'c AnyPool) -> Self {
        Target::Pool(p)
    }
}

/// A [`Sql`] about to run. Where it runs decides its text: MySQL gets [`mysql_text`].
pub(crate) struct SqlQuery<'a> {
    sql: &'a Sql,
    persistent: bool,
}

macro_rules! run_on {
    ($self:ident, $target:ident, $method:ident) => {{
        let mut held;
        let conn: &mut AnyConnection = match $target.into() {
            Target::Conn(c) => c,
            Target::Pool(p) => {
                held = p.acquire().await?;
                &mut *held
            }
        };
        if conn.backend_name() == "MySQL" {
            let rewritten = mysql_text($self.sql);
            rewritten
                .raw_query()
                .persistent($self.persistent)
                .$method(conn)
                .await
        } else {
            $self
                .sql
                .raw_query()
                .persistent($self.persistent)
                .$method(conn)
                .await
        }
    }};
}

impl SqlQuery<'_> {
    /// Whether the server keeps the prepared statement (see [`Sql::search_query`]).
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = persistent;
        self
    }

    pub async fn execute<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<AnyQueryResult, sqlx::Error> {
        run_on!(self, target, execute)
    }

    pub async fn fetch_all<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        run_on!(self, target, fetch_all)
    }

    pub async fn fetch_one<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<sqlx::any::AnyRow, sqlx::Error> {
        run_on!(self, target, fetch_one)
    }

    pub async fn fetch_optional<'c>(
        self,
        target: impl Into<Target<'c>>,
    ) -> Result<Option<sqlx::any::AnyRow>, sqlx::Error> {
        run_on!(self, target, fetch_optional)
    }
}

/// CAST target types that MySQL spells differently.
const MYSQL_CASTS: &[(&str, &str)] = &[
    ("AS TEXT)", "AS CHAR)"),
    ("AS INTEGER)", "AS SIGNED)"),
    ("AS BIGINT)", "AS SIGNED)"),
    ("AS DOUBLE PRECISION)", "AS DOUBLE)"),
    ("AS REAL)", "AS DOUBLE)"),
];
/// Spelling MySQL lacks and does not need: NULLs sort first in ascending order already.
const MYSQL_DROPPED: &[&str] = &[" NULLS FIRST"];

/// A statement for MySQL, rewritten once here so that the store's text stays one:
/// `$N` placeholders become `?` with the values bound in the order they appear (a value used
/// twice is bound twice); the column name `key`, reserved in MySQL, is quoted (the session
/// reads `"..."` as an identifier, `ANSI_QUOTES`); CAST types take MySQL's names. String
/// literals and quoted identifiers pass unchanged.
pub(crate) fn mysql_text(sql: &Sql) -> Sql {
    let src = sql.text.as_bytes();
    let mut text = String::with_capacity(sql.text.len() + 16);
    let mut args = Vec::with_capacity(sql.args.len());
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    while i < src.len() {
        let b = src[i];
        match b {
            b'\'' | b'"' => {
                let start = i;
                i += 1;
                while i < src.len() {
                    if src[i] == b {
                        if i + 1 < src.len() && src[i + 1] == b {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i = (i + 1).min(src.len());
                text.push_str(&sql.text[start..i]);
            }
            b'$' if i + 1 < src.len() && src[i + 1].is_ascii_digit() => {
                let start = i + 1;
                i += 1;
                while i < src.len() && src[i].is_ascii_digit() {
                    i += 1;
                }
                let n: usize = sql.text[start..i].parse().unwrap_or(0);
                text.push('?');
                args.push(
                    sql.args
                        .get(n.wrapping_sub(1))
                        .cloned()
                        .unwrap_or(Arg::Null),
                );
            }
            b'k' if sql.text[i..].starts_with("key")
                && (i == 0 || !ident(src[i - 1]))
                && src.get(i + 3).is_none_or(|&c| !ident(c)) =>
            {
                text.push_str("\"key\"");
                i += 3;
            }
            b' ' if MYSQL_DROPPED.iter().any(|d| sql.text[i..].starts_with(d)) => {
                i += MYSQL_DROPPED
                    .iter()
                    .find(|d| sql.text[i..].starts_with(*d))
                    .map_or(1, |d| d.len());
            }
            b'A' if sql.text[i..].starts_with("AS ") => {
                match MYSQL_CASTS
                    .iter()
                    .find(|(from, _)| sql.text[i..].starts_with(from))
                {
                    Some((from, to)) => {
                        text.push_str(to);
                        i += from.len();
                    }
                    None => {
                        text.push('A');
                        i += 1;
                    }
                }
            }
            _ => {
                // Copy the whole UTF-8 character.
                let len = sql.text[i..].chars().next().map_or(1, char::len_utf8);
                text.push_str(&sql.text[i..i + len]);
                i += len;
            }
        }
    }
    Sql {
        text: mysql_upsert(text),
        args,
    }
}

/// `ON CONFLICT (...) DO UPDATE SET c = excluded.c, ...` as `ON DUPLICATE KEY UPDATE
/// c = VALUES(c), ...` (MySQL finds the clashing key itself), and `ON CONFLICT ... DO NOTHING`
/// as a no-op update of the first inserted column (`INSERT IGNORE` would also swallow other
/// errors). An upsert with a `WHERE` has no MySQL form: callers write that one per dialect.
fn mysql_upsert(text: String) -> String {
    let Some(at) = text.find(" ON CONFLICT") else {
        return text;
    };
    let rest = &text[at..];
    if let Some(set) = rest.find(" DO UPDATE SET ") {
        let mut out = text[..at].to_string();
        out.push_str(" ON DUPLICATE KEY UPDATE ");
        let mut tail = &rest[set + " DO UPDATE SET ".len()..];
        while let Some(i) = tail.find("excluded.") {
            out.push_str(&tail[..i]);
            tail = &tail[i + "excluded.".len()..];
            let end = if let Some(quoted) = tail.strip_prefix('"') {
                quoted.find('"').map_or(tail.len(), |e| e + 2)
            } else {
                tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len())
            };
            out.push_str("VALUES(");
            out.push_str(&tail[..end]);
            out.push(')');
            tail = &tail[end..];
        }
        out.push_str(tail);
        return out;
    }
    if let Some(nothing) = rest.find(" DO NOTHING") {
        let first = text
            .split_once('(')
            .and_then(|(_, cols)| cols.split([',', ')']).next())
            .unwrap_or("")
            .trim()
            .to_string();
        let mut out = text[..at].to_string();
        out.push_str(&format!(" ON DUPLICATE KEY UPDATE {first} = {first}"));
        out.push_str(&rest[nothing + " DO NOTHING".len()..]);
        return out;
    }
    text
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
    matches!(conn.backend_name(), "PostgreSQL" | "MySQL")
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

/// MySQL's error numbers: deadlock (1213) and lock wait timeout (1205) roll the statement or
/// transaction back and are worth running again; lost or refused connections, too many
/// connections, shutdown, read-only and statement timeouts (MariaDB 1969, MySQL 3024) mean
/// the database cannot serve now.
fn classify_mysql(number: u16) -> Option<DbErrorKind> {
    match number {
        1213 | 1205 => Some(DbErrorKind::Conflict),
        1040 | 1053 | 1077 | 1081 | 1152 | 1153 | 1158 | 1159 | 1160 | 1161 | 1290 | 1836
        | 1969 | 2002 | 2003 | 2006 | 2013 | 3024 => Some(DbErrorKind::Unavailable),
        _ => None,
    }
}

pub(crate) fn classify(e: &sqlx::Error) -> DbErrorKind {
    if let sqlx::Error::Database(db) = e
        && let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
    {
        return classify_mysql(my.number()).unwrap_or(match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
            sqlx::error::ErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
            _ => DbErrorKind::Other,
        });
    }
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

    #[test]
    fn mysql_text_reorders_values_and_quotes_key() {
        let mut q = Sql::new("SELECT key, 'a $1 key' FROM t WHERE \"key\" = ");
        q.bind("k")
            .push(" AND (v = $1 AND BINARY v = $1) AND CAST(x AS TEXT) = ");
        q.bind(2i64)
            .push(" AND m.key_x = m.key AND monkey = 'it''s key'");
        let m = mysql_text(&q);
        assert_eq!(
            m.text,
            "SELECT \"key\", 'a $1 key' FROM t WHERE \"key\" = ? AND (v = ? AND BINARY v = ?) \
             AND CAST(x AS CHAR) = ? AND m.key_x = m.\"key\" AND monkey = 'it''s key'"
        );
        assert_eq!(
            m.args,
            vec![
                Arg::Str("k".into()),
                Arg::Str("k".into()),
                Arg::Str("k".into()),
                Arg::I64(2)
            ]
        );
        let up = Sql::new(
            "INSERT INTO tags (key, value) VALUES ($1, $2) ON CONFLICT (key, run_uuid) \
             DO UPDATE SET value = excluded.value, \"key\" = excluded.\"key\"",
        );
        assert_eq!(
            mysql_text(&up).text,
            "INSERT INTO tags (\"key\", value) VALUES (?, ?) ON DUPLICATE KEY UPDATE \
             value = VALUES(value), \"key\" = VALUES(\"key\")"
        );
        let skip = Sql::new("INSERT INTO params (key, value) VALUES (1, 2) ON CONFLICT DO NOTHING");
        assert_eq!(
            mysql_text(&skip).text,
            "INSERT INTO params (\"key\", value) VALUES (1, 2) ON DUPLICATE KEY UPDATE \
             \"key\" = \"key\""
        );
    }
}
