//! Errors on the wire: every one carries `extensions.code`.

use juniper::{graphql_value, ExecutionError, FieldError, IntoFieldError, ScalarValue};

use crate::app::AppError;
use crate::read_models::QueryError;

impl<S: ScalarValue> IntoFieldError<S> for AppError {
    fn into_field_error(self) -> FieldError<S> {
        let code = self.code();
        FieldError::new(self.to_string(), graphql_value!({ "code": code }))
    }
}

impl From<QueryError> for AppError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::BadCursor => AppError::BadInput(error.to_string()),
            QueryError::Storage(cause) => AppError::internal("a read model could not be read", cause),
        }
    }
}

/// One error in the contract's shape: `{"message", "extensions": {"code"}}`.
pub(super) fn entry(error: &AppError) -> serde_json::Value {
    serde_json::json!({ "message": error.to_string(), "extensions": { "code": error.code() } })
}

/// The `errors` array of a response, and the code of each entry in order (for the metrics). An
/// error without a code can only come from juniper's own input coercion during execution, which
/// is bad input.
pub(super) fn shape<S: ScalarValue>(errors: &[ExecutionError<S>]) -> (serde_json::Value, Vec<String>) {
    let mut shaped = serde_json::to_value(errors).unwrap_or_else(|_| serde_json::json!([]));
    let mut codes = Vec::with_capacity(errors.len());
    if let Some(list) = shaped.as_array_mut() {
        for error in list {
            let extensions = &mut error["extensions"];
            if extensions.get("code").is_none() {
                *extensions = serde_json::json!({ "code": "BAD_INPUT" });
            }
            codes.push(extensions["code"].as_str().unwrap_or("INTERNAL").to_owned());
        }
    }
    (shaped, codes)
}
