//! MLflow's error model: an [`ErrorCode`] name plus a message, mapped to HTTP status in one place.

use std::sync::Arc;

use serde::Serialize;

/// MLflow's `ErrorCode` names (databricks_pb2), as sent in `error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InternalError,
    TemporarilyUnavailable,
    BadRequest,
    InvalidParameterValue,
    EndpointNotFound,
    InvalidState,
    PermissionDenied,
    NotImplemented,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    RequestLimitExceeded,
    ResourceExhausted,
    Unauthenticated,
    DeadlineExceeded,
}

impl ErrorCode {
    /// HTTP status per `mlflow/exceptions.py` `ERROR_CODE_TO_HTTP_STATUS`.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidParameterValue
            | ErrorCode::ResourceAlreadyExists => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::EndpointNotFound | ErrorCode::ResourceDoesNotExist => 404,
            ErrorCode::RequestLimitExceeded | ErrorCode::ResourceExhausted => 429,
            ErrorCode::NotImplemented => 501,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::DeadlineExceeded => 504,
            ErrorCode::InternalError | ErrorCode::InvalidState => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    /// `sqlstate` / `error_class` that MLflow 3.x adds to error bodies
    /// (`mlflow/error_classification.py`, client map); other codes carry neither.
    pub fn classification(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            ErrorCode::BadRequest | ErrorCode::InvalidParameterValue => {
                ("KAM00", "INVALID_PARAMETER_VALUE")
            }
            ErrorCode::EndpointNotFound | ErrorCode::ResourceDoesNotExist => {
                ("KAM00", "RESOURCE_NOT_FOUND")
            }
            ErrorCode::PermissionDenied => ("KAM00", "PERMISSION_DENIED"),
            ErrorCode::ResourceAlreadyExists => ("KAM00", "RESOURCE_ALREADY_EXISTS"),
            ErrorCode::InternalError
            | ErrorCode::InvalidState
            | ErrorCode::TemporarilyUnavailable => ("XXM00", "CLIENT_INTERNAL_ERROR"),
            _ => return None,
        })
    }
}

/// The typed cause under an [`MlflowError`] (a database or storage error), kept for logs and
/// for decisions by kind (a conflict is retried, a timeout is a 503); never sent to clients.
pub type ErrorSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error that reaches the client as `{"error_code": .., "message": ..}`.
#[derive(Debug, Clone)]
pub struct MlflowError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (outages only).
    pub retry_after: Option<u32>,
    /// An HTTP status other than the code's own (413 and 408 have no MLflow error code).
    pub status_override: Option<u16>,
    /// What caused it, if a lower layer failed; see [`MlflowError::with_source`].
    pub source: Option<ErrorSource>,
}

impl std::fmt::Display for MlflowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for MlflowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Two errors are equal when the client would see the same answer; causes are not compared.
impl PartialEq for MlflowError {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.message == other.message
            && self.retry_after == other.retry_after
            && self.status_override == other.status_override
    }
}

impl Eq for MlflowError {}

pub type Result<T, E = MlflowError> = std::result::Result<T, E>;

impl MlflowError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        MlflowError {
            code,
            message: message.into(),
            retry_after: None,
            status_override: None,
            source: None,
        }
    }
    /// The same error with its cause attached (for the log line and [`Self::cause`]).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
    /// The first error of type `T` in the chain of causes under this one.
    pub fn cause<T: std::error::Error + 'static>(&self) -> Option<&T> {
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            if let Some(t) = e.downcast_ref::<T>() {
                return Some(t);
            }
            next = e.source();
        }
        None
    }
    /// The message followed by each cause's own text that it does not already contain, for
    /// logs: `Database error: ...: connection reset by peer`.
    pub fn with_causes(&self) -> String {
        let mut out = self.message.clone();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            let text = e.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = e.source();
        }
        out
    }
    pub fn invalid_param(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotImplemented, message)
    }
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, message)
    }
    pub fn unavailable(message: impl Into<String>, retry_after: u32) -> Self {
        MlflowError {
            retry_after: Some(retry_after),
            ..Self::new(ErrorCode::TemporarilyUnavailable, message)
        }
    }
    /// "Missing value for required parameter 'x'..." exactly as MLflow words it.
    pub fn missing_param(name: &str) -> Self {
        Self::invalid_param(format!(
            "Missing value for required parameter '{name}'. See the API docs for more information about request parameters."
        ))
    }
    /// A request body over the server's cap: 413 with MLflow's `REQUEST_LIMIT_EXCEEDED` code.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        MlflowError {
            status_override: Some(413),
            ..Self::new(ErrorCode::RequestLimitExceeded, message)
        }
    }
    /// A client too slow to send its request: 408, `BAD_REQUEST`.
    pub fn request_timeout(message: impl Into<String>) -> Self {
        MlflowError {
            status_override: Some(408),
            ..Self::new(ErrorCode::BadRequest, message)
        }
    }
    pub fn http_status(&self) -> u16 {
        self.status_override
            .unwrap_or_else(|| self.code.http_status())
    }
    /// The JSON body MLflow 3.x sends.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error_code": self.code.as_str(),
            "message": self.message,
        });
        if let Some((sqlstate, class)) = self.code.classification() {
            body["sqlstate"] = sqlstate.into();
            body["error_class"] = class.into();
        }
        body
    }
}
