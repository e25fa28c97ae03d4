//! Operations parsed and validated once, kept by their text: a frontend sends the same few
//! documents again and again, and for most of them juniper's parser and validator (and the depth
//! measure) cost more than executing them. Only operations that passed every check are kept, so
//! a refused document is checked again each time it comes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use juniper::{DefaultScalarValue, ExecutionError, GraphQLError, OperationType, ValidatedOperation, Value, Variables};
use serde::Serialize;

use super::depth::{self, QueryShape};
use super::query::READ_MODEL_FIELDS;
use super::{errors, Context, Mutation, Query, Schema, Subscription};
use crate::app::AppError;

/// How many distinct operations are kept; the least used go first.
const CAPACITY: usize = 1_024;

type Validated<'a> = ValidatedOperation<'a, Query, Mutation, Subscription, DefaultScalarValue>;

/// What a validated operation borrows from: the document's text and the schema.
struct Source {
    schema: Arc<Schema>,
    query: String,
}

self_cell::self_cell!(
    struct ValidatedCell {
        owner: Source,
        #[covariant]
        dependent: Validated,
    }
);

/// An operation ready to run with any variables.
pub struct Prepared {
    shape: QueryShape,
    operation: ValidatedCell,
}

impl Prepared {
    pub fn operation_name(&self) -> Option<&str> {
        self.shape.operation_name.as_deref()
    }

    /// Whether its answer depends on the read models and the caller alone, so it may be kept
    /// (see `answers`).
    pub fn reads_read_models_only(&self) -> bool {
        self.shape.reads_read_models_only
    }

    /// Runs the operation; errors before execution (bad variables, a subscription over HTTP) come
    /// back as `Err`, errors during execution are in the response with their codes.
    pub async fn execute(&self, variables: &Variables<DefaultScalarValue>, context: &Context) -> Result<Answered, AppError> {
        let operation = self.operation.borrow_dependent();
        let outcome = match self.shape.reads_read_models_only {
            // Every field under a read-model root resolves synchronously (the read models are
            // sled trees and memory), and juniper's sync executor skips the boxed future its
            // async one builds per field: a quarter of an executed read's CPU. Should an
            // async field ever be reached, juniper panics, and the async executor answers.
            true => match std::panic::catch_unwind(AssertUnwindSafe(|| operation.execute_sync(variables, context))) {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::error!(operation = ?self.operation_name(), "an async field under a read-model root; executed asynchronously");
                    operation.execute(variables, context).await
                }
            },
            false => operation.execute(variables, context).await,
        };
        match outcome {
            Ok((data, errors)) => Ok(Answered::new(&data, &errors)),
            Err(error) => Err(refusal(error)),
        }
    }
}

/// A GraphQL response as sent, with the codes of the errors it holds: for the metrics, and
/// because only an answer without errors may be kept.
pub struct Answered {
    pub body: Vec<u8>,
    pub error_codes: Vec<String>,
}

impl Answered {
    /// `{"data": ..., "errors": [...]}`, written straight from juniper's value: going through a
    /// `serde_json::Value` first built a second tree of the answer, a map and a string per field.
    fn new(data: &Value<DefaultScalarValue>, errors: &[ExecutionError<DefaultScalarValue>]) -> Self {
        #[derive(Serialize)]
        struct Response<'a> {
            data: &'a Value<DefaultScalarValue>,
            #[serde(skip_serializing_if = "Option::is_none")]
            errors: Option<serde_json::Value>,
        }
        let (errors, error_codes) = match errors {
            [] => (None, Vec::new()),
            errors => {
                let (shaped, codes) = errors::shape(errors);
                (Some(shaped), codes)
            }
        };
        let body = serde_json::to_vec(&Response { data, errors }).expect("a GraphQL value always serializes");
        Self { body, error_codes }
    }

    /// The answer to a request that was not executed: no data, one error.
    pub fn refused(error: &AppError) -> Self {
        let response = serde_json::json!({ "data": null, "errors": [errors::entry(error)] });
        let body = serde_json::to_vec(&response).expect("a JSON value always serializes");
        Self { body, error_codes: vec![error.code().to_owned()] }
    }
}

/// Why an operation is not run, with its name for the metrics when it has one.
pub struct Refused {
    pub operation_name: Option<String>,
    pub error: AppError,
}

/// The cache of [`Prepared`] operations of one schema.
pub struct PreparedOperations {
    schema: Arc<Schema>,
    cache: quick_cache::sync::Cache<(String, Option<String>), Arc<Prepared>>,
}

impl PreparedOperations {
    pub fn new(schema: Arc<Schema>) -> Self {
        Self { schema, cache: quick_cache::sync::Cache::new(CAPACITY) }
    }

    /// The operation `operation_name` of `query`, checked against the depth limit, the rule that
    /// GET runs no mutation, and juniper's parser and validator.
    pub fn prepare(&self, query: &str, operation_name: Option<&str>, max_depth: usize, read_only: bool) -> Result<Arc<Prepared>, Refused> {
        let key = (query.to_owned(), operation_name.map(str::to_owned));
        let prepared = match self.cache.get(&key) {
            Some(prepared) => prepared,
            None => {
                let prepared = Arc::new(self.check(query, operation_name, max_depth)?);
                self.cache.insert(key, prepared.clone());
                prepared
            }
        };
        // Checked again on a hit: a caller may pass a lower limit than the one it was kept under.
        if prepared.shape.depth > max_depth {
            return Err(too_deep(&prepared.shape, max_depth));
        }
        if read_only && prepared.shape.is_mutation {
            let error = AppError::BadInput("mutations must be sent with POST".into());
            return Err(Refused { operation_name: prepared.shape.operation_name.clone(), error });
        }
        Ok(prepared)
    }

    fn check(&self, query: &str, operation_name: Option<&str>, max_depth: usize) -> Result<Prepared, Refused> {
        // Measured first, so a deep document is refused before juniper spends time on it. When
        // it does not parse here, juniper's parser below says why.
        let shape = depth::inspect(query, operation_name, READ_MODEL_FIELDS);
        if let Some(shape) = shape.as_ref().filter(|shape| shape.depth > max_depth) {
            return Err(too_deep(shape, max_depth));
        }
        let source = Source { schema: self.schema.clone(), query: query.to_owned() };
        let operation = ValidatedCell::try_new(source, |source| Validated::new(&source.query, operation_name, &source.schema));
        let name = || shape.as_ref().and_then(|shape| shape.operation_name.clone()).or_else(|| operation_name.map(str::to_owned));
        let operation = operation.map_err(|error| Refused { operation_name: name(), error: refusal(error) })?;
        let is_mutation = operation.borrow_dependent().operation_type() == OperationType::Mutation;
        let reads_read_models_only = shape.as_ref().is_some_and(|shape| shape.reads_read_models_only);
        let depth = shape.as_ref().map_or(0, |shape| shape.depth);
        let shape = QueryShape { depth, operation_name: name(), is_mutation, reads_read_models_only };
        Ok(Prepared { shape, operation })
    }
}

fn too_deep(shape: &QueryShape, max_depth: usize) -> Refused {
    Refused { operation_name: shape.operation_name.clone(), error: depth_limit(shape.depth, max_depth) }
}

/// The LIMIT answer to a document `depth` levels deep; shared with subscriptions.
pub(super) fn depth_limit(depth: usize, max_depth: usize) -> AppError {
    AppError::Limit(format!("the query is {depth} levels deep; at most {max_depth} are allowed"))
}

fn refusal(error: GraphQLError) -> AppError {
    match error {
        GraphQLError::IsSubscription => {
            AppError::BadInput("subscriptions are served over WebSocket on /graphql (graphql-transport-ws)".into())
        }
        error => AppError::BadInput(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations() -> PreparedOperations {
        PreparedOperations::new(Arc::new(super::super::schema()))
    }

    const QUERY: &str = "query Stats { stats { bookingsConfirmed } }";
    const MUTATION: &str = "mutation SignIn { login(email: \"a@b.c\", password: \"secret123\") { token } }";

    fn code(refused: Refused) -> &'static str {
        refused.error.code()
    }

    #[test]
    fn it_should_keep_an_operation_that_passed_and_hand_out_the_same_one() {
        let operations = operations();
        let first = operations.prepare(QUERY, None, 12, false).ok().expect("the query is valid");
        let again = operations.prepare(QUERY, None, 12, true).ok().expect("the query is valid");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.operation_name(), Some("Stats"));
        assert!(first.reads_read_models_only());
        let prepared = operations.prepare(MUTATION, None, 12, false).ok().expect("the mutation is valid");
        assert!(!prepared.reads_read_models_only());
    }

    #[test]
    fn it_should_refuse_a_kept_mutation_over_get_and_a_kept_operation_over_a_lower_limit() {
        let operations = operations();
        assert!(operations.prepare(MUTATION, None, 12, false).is_ok());
        assert_eq!(operations.prepare(MUTATION, None, 12, true).err().map(code), Some("BAD_INPUT"));
        assert_eq!(operations.prepare(QUERY, None, 12, false).ok().map(|p| p.shape.depth), Some(2));
        assert_eq!(operations.prepare(QUERY, None, 1, false).err().map(code), Some("LIMIT"));
    }

    #[test]
    fn it_should_refuse_documents_that_do_not_parse_or_validate_each_time() {
        let operations = operations();
        for _ in 0..2 {
            assert_eq!(operations.prepare("{ stats { ", None, 12, false).err().map(code), Some("BAD_INPUT"));
            assert_eq!(operations.prepare("{ noSuchField }", None, 12, false).err().map(code), Some("BAD_INPUT"));
        }
        assert_eq!(operations.cache.len(), 0);
    }
}
