//! The contract's `JSON` scalar: any JSON value, output as the value itself (an object stays an
//! object). juniper 0.18 scalars can only output a single scalar value, so this one implements
//! the type traits by hand.

use juniper::macros::reflect;
use juniper::marker::IsOutputType;
use juniper::meta::MetaType;
use juniper::parser::ScalarToken;
use juniper::{
    ArcStr, BoxFuture, ExecutionResult, Executor, FieldError, FromInputValue, GraphQLType, GraphQLValue, GraphQLValueAsync, InputValue,
    Object, ParseScalarResult, ParseScalarValue, Registry, ScalarValue, Selection, Value,
};

/// Any JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub serde_json::Value);

impl Json {
    /// The value with every object key in camelCase, as the contract wants the keys of event
    /// data and aggregate state: the domain's serde names are Rust's snake_case.
    pub fn camel_case(value: serde_json::Value) -> Self {
        Json(camel_case_keys(value))
    }
}

fn camel_case_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) => {
            serde_json::Value::Object(fields.into_iter().map(|(key, value)| (camel_case_key(&key), camel_case_keys(value))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

/// `price_cents` -> `priceCents`; a key without underscores (an id, a variant name) stays as
/// it is.
fn camel_case_key(key: &str) -> String {
    if !key.contains('_') {
        return key.to_owned();
    }
    let mut camel = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' if !camel.is_empty() => upper = true,
            c if upper => {
                camel.extend(c.to_uppercase());
                upper = false;
            }
            c => camel.push(c),
        }
    }
    camel
}

/// Integers beyond 2^53 lose precision as JSON numbers in browsers: send them as strings.
const SAFE_INTEGER: i64 = 1 << 53;

fn to_graphql<S: ScalarValue>(value: &serde_json::Value) -> Value<S> {
    match value {
        serde_json::Value::Null => Value::null(),
        serde_json::Value::Bool(b) => Value::scalar(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Value::scalar(i as i32),
            Some(i) if i.abs() < SAFE_INTEGER => Value::scalar(i as f64),
            Some(i) => Value::scalar(i.to_string()),
            None => match (n.as_u64(), n.as_f64()) {
                (Some(u), _) => Value::scalar(u.to_string()),
                (None, Some(f)) => Value::scalar(f),
                (None, None) => Value::scalar(n.to_string()),
            },
        },
        serde_json::Value::String(s) => Value::scalar(s.clone()),
        serde_json::Value::Array(items) => Value::list(items.iter().map(to_graphql).collect()),
        serde_json::Value::Object(fields) => {
            let mut object = Object::with_capacity(fields.len());
            for (key, value) in fields {
                object.add_field(key.as_str(), to_graphql(value));
            }
            Value::object(object)
        }
    }
}

fn from_graphql<S: ScalarValue>(value: &InputValue<S>) -> serde_json::Value {
    match value {
        InputValue::Null | InputValue::Variable(_) => serde_json::Value::Null,
        InputValue::Scalar(s) => {
            if let Some(b) = s.try_to_bool() {
                serde_json::Value::Bool(b)
            } else if let Some(i) = s.try_to_int() {
                serde_json::Value::from(i)
            } else if let Some(f) = s.try_to_float() {
                serde_json::Value::from(f)
            } else {
                serde_json::Value::String(s.to_string())
            }
        }
        InputValue::Enum(e) => serde_json::Value::String(e.clone()),
        InputValue::List(items) => serde_json::Value::Array(items.iter().map(|i| from_graphql(&i.item)).collect()),
        InputValue::Object(fields) => {
            serde_json::Value::Object(fields.iter().map(|(k, v)| (k.item.clone(), from_graphql(&v.item))).collect())
        }
    }
}

impl<S: ScalarValue> FromInputValue<S> for Json {
    type Error = FieldError<S>;

    fn from_input_value(value: &InputValue<S>) -> Result<Self, Self::Error> {
        Ok(Json(from_graphql(value)))
    }
}

impl<S: ScalarValue> ParseScalarValue<S> for Json {
    fn from_str(token: ScalarToken<'_>) -> ParseScalarResult<S> {
        match token {
            ScalarToken::String(_) => <String as ParseScalarValue<S>>::from_str(token),
            ScalarToken::Int(_) => <i32 as ParseScalarValue<S>>::from_str(token),
            ScalarToken::Float(_) => <f64 as ParseScalarValue<S>>::from_str(token),
        }
    }
}

impl<S: ScalarValue> GraphQLType<S> for Json {
    fn name(_: &()) -> Option<ArcStr> {
        Some(juniper::arcstr::literal!("JSON"))
    }

    fn meta(_: &(), registry: &mut Registry<S>) -> MetaType<S> {
        registry.build_scalar_type::<Self>(&()).description("Any JSON value.").into_meta()
    }
}

impl<S: ScalarValue> GraphQLValue<S> for Json {
    type Context = ();
    type TypeInfo = ();

    fn type_name(&self, info: &()) -> Option<ArcStr> {
        <Self as GraphQLType<S>>::name(info)
    }

    fn resolve(&self, _: &(), _: Option<&[Selection<S>]>, _: &Executor<(), S>) -> ExecutionResult<S> {
        Ok(to_graphql(&self.0))
    }
}

impl<S: ScalarValue + Send + Sync> GraphQLValueAsync<S> for Json {
    fn resolve_async<'a>(
        &'a self,
        info: &'a (),
        selection: Option<&'a [Selection<S>]>,
        executor: &'a Executor<(), S>,
    ) -> BoxFuture<'a, ExecutionResult<S>> {
        Box::pin(futures::future::ready(self.resolve(info, selection, executor)))
    }
}

impl<S: ScalarValue> IsOutputType<S> for Json {}

impl<S> reflect::WrappedType<S> for Json {
    const VALUE: reflect::WrappedValue = 1;
}

impl<S> reflect::BaseType<S> for Json {
    const NAME: reflect::Type = "JSON";
}

impl<S> reflect::BaseSubTypes<S> for Json {
    const NAMES: reflect::Types = &[<Self as reflect::BaseType<S>>::NAME];
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Json;

    #[test]
    fn keys_turn_camel_case_at_every_depth_and_values_stay_as_they_are() {
        let value = json!({ "price_cents": 5, "seats": [{ "learner_id": "a_b" }], "Cancelled": { "refund_due": true }, "id": 1 });
        let expected = json!({ "priceCents": 5, "seats": [{ "learnerId": "a_b" }], "Cancelled": { "refundDue": true }, "id": 1 });
        assert_eq!(Json::camel_case(value).0, expected);
    }
}
