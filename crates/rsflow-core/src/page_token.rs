//! Page tokens: base64 of `{"offset": N}`, as MLflow's SQL stores emit them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{MlflowError, Result};

pub fn encode_offset(offset: i64) -> String {
    STANDARD.encode(format!("{{\"offset\": {offset}}}"))
}

/// Decode a token; an absent or empty token means offset 0.
pub fn decode_offset(token: Option<&str>) -> Result<i64> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    let raw = STANDARD
        .decode(token.trim())
        .map_err(|_| MlflowError::invalid_param("Invalid page token, could not base64-decode"))?;
    let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| {
        MlflowError::invalid_param(
            "Invalid page token, decoded value=".to_string() + &String::from_utf8_lossy(&raw),
        )
    })?;
    match v.get("offset").and_then(|o| o.as_i64()) {
        Some(o) if o >= 0 => Ok(o),
        _ => Err(MlflowError::invalid_param(format!(
            "Invalid page token, parsed value={v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_matches_mlflow_bytes() {
        assert_eq!(encode_offset(1), "eyJvZmZzZXQiOiAxfQ==");
        assert_eq!(decode_offset(Some("eyJvZmZzZXQiOiAxfQ==")).unwrap(), 1);
        assert_eq!(decode_offset(None).unwrap(), 0);
        assert_eq!(decode_offset(Some("")).unwrap(), 0);
        assert_eq!(
            decode_offset(Some("!!!")).unwrap_err().code,
            crate::ErrorCode::InvalidParameterValue
        );
    }
}
