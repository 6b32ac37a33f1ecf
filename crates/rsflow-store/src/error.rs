//! [`DbError`]: what a failed database call means to the store, with the `sqlx` error kept as
//! its source. It becomes an [`MlflowError`] in one place (`From<DbError>`), which keeps it as
//! the cause: retries look at the kind there, and the one log line of a 5xx prints the chain.

use rsflow_core::MlflowError;

/// Start of the message a client gets for a conflict that outlived the retries.
pub(crate) const CONFLICT_MESSAGE: &str = "Database transaction conflict, retry the request";

/// A database failure by what callers do about it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique key is taken (a duplicate name, a row that exists).
    #[error("unique constraint violated")]
    Unique(#[source] sqlx::Error),
    /// A row refers to one that does not exist.
    #[error("foreign key constraint violated")]
    ForeignKey(#[source] sqlx::Error),
    /// A transaction lost a race that running it again resolves: a PostgreSQL serialization
    /// failure or deadlock, or a unique key another writer took between our check and insert.
    #[error("database transaction conflict")]
    Conflict(#[source] sqlx::Error),
    /// SQLite lock contention: worth retrying by the client.
    #[error("database busy")]
    Busy(#[source] sqlx::Error),
    /// The database cannot be reached or refuses work for now (connection lost, shutting
    /// down, too many connections, pool exhausted, statement timeout).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

impl DbError {
    /// The `sqlx` error underneath.
    pub fn sqlx(&self) -> &sqlx::Error {
        match self {
            DbError::Unique(e)
            | DbError::ForeignKey(e)
            | DbError::Conflict(e)
            | DbError::Busy(e)
            | DbError::Unavailable(e)
            | DbError::Other(e) => e,
        }
    }

    /// A unique-key clash another transaction caused between our check and our insert: running
    /// the whole request again sees that row and takes the "already there" path.
    pub(crate) fn unique_is_race(self) -> DbError {
        match self {
            DbError::Unique(e) => DbError::Conflict(e),
            other => other,
        }
    }

    /// Whether running the same request again can resolve it.
    pub fn is_conflict(&self) -> bool {
        matches!(self, DbError::Conflict(_))
    }
}

/// As MLflow's managed session maps them: operational trouble becomes TEMPORARILY_UNAVAILABLE
/// (503 with Retry-After, retried by the client), constraint failures BAD_REQUEST.
impl From<DbError> for MlflowError {
    fn from(e: DbError) -> Self {
        let detail = e.sqlx().to_string();
        let err = match &e {
            DbError::Busy(_) | DbError::Unavailable(_) => {
                MlflowError::unavailable(format!("Database is busy or unavailable: {detail}"), 1)
            }
            DbError::Conflict(_) => {
                MlflowError::unavailable(format!("{CONFLICT_MESSAGE}: {detail}"), 1)
            }
            DbError::Unique(_) | DbError::ForeignKey(_) => MlflowError::bad_request(detail),
            DbError::Other(_) => MlflowError::internal(format!("Database error: {detail}")),
        };
        err.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsflow_core::ErrorCode;

    #[test]
    fn the_kind_survives_the_conversion() {
        let e: MlflowError = DbError::Conflict(sqlx::Error::PoolTimedOut).into();
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert!(e.message.starts_with(CONFLICT_MESSAGE), "{}", e.message);
        assert!(e.cause::<DbError>().is_some_and(DbError::is_conflict));
        // The same words without the kind are not a conflict.
        let lookalike = MlflowError::unavailable(format!("{CONFLICT_MESSAGE}: x"), 1);
        assert!(lookalike.cause::<DbError>().is_none());

        let e: MlflowError = DbError::from(sqlx::Error::PoolTimedOut).into();
        assert_eq!(e.http_status(), 503);
        assert!(matches!(
            e.cause::<DbError>(),
            Some(DbError::Unavailable(_))
        ));
        assert!(matches!(
            e.cause::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ));
        assert!(
            e.with_causes().contains("database unavailable"),
            "{}",
            e.with_causes()
        );
    }
}
