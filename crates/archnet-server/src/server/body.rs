//! The JSON request body extractor of every API handler.

use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ServerError;

/// A JSON request body of type `T`. Unlike `axum::Json`, a body that cannot be read is a
/// [`ServerError::BadRequest`] naming the problem (so it answers like every other error), and a
/// number with no fractional part counts as an integer (`3.0` is `3`), as in JSON Schema, which
/// the OpenAPI document is written in.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ServerError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ServerError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(ServerError::BadRequest(
                "expected a JSON body (`Content-Type: application/json`)".into(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| match e.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    ServerError::TooLarge(format!("the body: {e}"))
                }
                _ => ServerError::BadRequest(format!("the body: {e}")),
            })?;
        let mut value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ServerError::BadRequest(format!("the body is not JSON: {e}")))?;
        integral_floats_as_integers(&mut value);
        if let Some(n) = integer_over_i64(&value) {
            return Err(ServerError::BadRequest(format!(
                "the body: {n} is above {}, the largest integer the API takes (int64)",
                i64::MAX
            )));
        }
        T::deserialize(value)
            .map(ApiJson)
            .map_err(|e| ServerError::BadRequest(format!("the body: {e}")))
    }
}

/// The first integer in `value` above `i64::MAX`: the document declares every integer `int64`
/// at most, and the database stores 64-bit signed integers.
fn integer_over_i64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().filter(|n| *n > i64::MAX as u64),
        Value::Array(items) => items.iter().find_map(integer_over_i64),
        Value::Object(fields) => fields.values().find_map(integer_over_i64),
        _ => None,
    }
}

/// Rewrites every number with no fractional part that fits a 64-bit integer as that integer.
fn integral_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                *n = (f as i64).into();
            } else if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                *n = (f as u64).into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 3.0, "b": [2.5, -4.0], "c": "5.0", "d": 1e300});
        integral_floats_as_integers(&mut v);
        assert_eq!(v["a"], serde_json::json!(3));
        assert_eq!(v["b"], serde_json::json!([2.5, -4]));
        assert_eq!(v["c"], serde_json::json!("5.0"));
        assert!(v["d"].is_f64());
    }
}
