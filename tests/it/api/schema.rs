//! The served schema against the contract: every type, field, argument, input field and enum
//! value of the contract must be served with the same type; the server may add more, as long as
//! what it adds asks nothing more of the frontend.
//!
//! The contract ships in the repository as `docs/schema.graphql`; where `shared/` is checked out
//! beside the repository, its `api/schema.graphql` must be the same file.

use std::collections::BTreeMap;
use std::path::Path;

use graphql_parser::schema::{Definition, Document, InputValue, Type, TypeDefinition, TypeExtension};

type Schema = Document<'static, String>;

/// `docs/schema.graphql`, checked against the shared contract where that is present.
fn contract() -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = manifest.join("docs/schema.graphql");
    let copied = std::fs::read_to_string(&copy).expect("docs/schema.graphql");
    if let Ok(shared) = std::fs::read_to_string(manifest.join("../shared/api/schema.graphql")) {
        assert_eq!(copied, shared, "docs/schema.graphql is stale: copy shared/api/schema.graphql over it");
    }
    copied
}

#[test]
fn the_contract_in_the_repository_is_the_shared_one() {
    assert!(contract().contains("type Query"));
}

fn parse(text: &str, what: &str) -> Schema {
    graphql_parser::parse_schema::<String>(text).unwrap_or_else(|e| panic!("{what} does not parse: {e}")).into_static()
}

/// The schema with the fields of each `extend type` moved into the type it extends, so what a
/// contract adds in an extension is compared like the rest.
fn with_extensions(mut schema: Schema) -> Schema {
    let mut added: Vec<(String, Vec<graphql_parser::schema::Field<'static, String>>)> = Vec::new();
    schema.definitions.retain(|definition| match definition {
        Definition::TypeExtension(TypeExtension::Object(extension)) => {
            added.push((extension.name.clone(), extension.fields.clone()));
            false
        }
        _ => true,
    });
    for (name, fields) in added {
        for definition in &mut schema.definitions {
            if let Definition::TypeDefinition(TypeDefinition::Object(object)) = definition {
                if object.name == name {
                    object.fields.extend(fields.iter().cloned());
                }
            }
        }
    }
    schema
}

fn types(schema: &Schema) -> BTreeMap<&str, &TypeDefinition<'static, String>> {
    schema
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::TypeDefinition(t) => Some(t),
            _ => None,
        })
        .map(|t| (type_name(t), t))
        .collect()
}

fn type_name<'a>(definition: &'a TypeDefinition<'static, String>) -> &'a str {
    match definition {
        TypeDefinition::Scalar(t) => &t.name,
        TypeDefinition::Object(t) => &t.name,
        TypeDefinition::Interface(t) => &t.name,
        TypeDefinition::Union(t) => &t.name,
        TypeDefinition::Enum(t) => &t.name,
        TypeDefinition::InputObject(t) => &t.name,
    }
}

fn kind(definition: &TypeDefinition<'static, String>) -> &'static str {
    match definition {
        TypeDefinition::Scalar(_) => "scalar",
        TypeDefinition::Object(_) => "type",
        TypeDefinition::Interface(_) => "interface",
        TypeDefinition::Union(_) => "union",
        TypeDefinition::Enum(_) => "enum",
        TypeDefinition::InputObject(_) => "input",
    }
}

/// The root operation types, `Query`/`Mutation`/`Subscription` unless a schema block says otherwise.
fn roots(schema: &Schema) -> [Option<String>; 3] {
    let block = schema.definitions.iter().find_map(|d| match d {
        Definition::SchemaDefinition(s) => Some(s),
        _ => None,
    });
    match block {
        Some(s) => [s.query.clone(), s.mutation.clone(), s.subscription.clone()],
        None => ["Query", "Mutation", "Subscription"].map(|name| types(schema).contains_key(name).then(|| name.to_owned())),
    }
}

/// An addition the frontend need not know of: nullable or with a default.
fn optional(value: &InputValue<'static, String>) -> bool {
    !matches!(value.value_type, Type::NonNullType(_)) || value.default_value.is_some()
}

/// Compares input values (arguments or input fields) of `owner`.
fn compare_inputs(
    owner: &str,
    contract: &[InputValue<'static, String>],
    served: &[InputValue<'static, String>],
    problems: &mut Vec<String>,
) {
    for expected in contract {
        match served.iter().find(|s| s.name == expected.name) {
            None => problems.push(format!("{owner}({}: {}) is missing", expected.name, expected.value_type)),
            Some(found) if found.value_type != expected.value_type => {
                problems.push(format!("{owner}({}) is {} instead of {}", expected.name, found.value_type, expected.value_type))
            }
            Some(found) => {
                if let (Some(want), Some(have)) = (&expected.default_value, &found.default_value) {
                    if want.to_string() != have.to_string() {
                        problems.push(format!("{owner}({}) defaults to {have} instead of {want}", expected.name));
                    }
                }
            }
        }
    }
    for extra in served.iter().filter(|s| !contract.iter().any(|c| c.name == s.name)) {
        if !optional(extra) {
            problems.push(format!("{owner}({}: {}) is an added required input", extra.name, extra.value_type));
        }
    }
}

/// Everything the contract has that the served schema lacks or serves differently.
fn differences(contract: &Schema, served: &Schema) -> Vec<String> {
    let mut problems = Vec::new();
    if roots(contract) != roots(served) {
        problems.push(format!("the root types are {:?} instead of {:?}", roots(served), roots(contract)));
    }
    let served_types = types(served);
    for (name, expected) in types(contract) {
        let Some(found) = served_types.get(name) else {
            problems.push(format!("{} {name} is missing", kind(expected)));
            continue;
        };
        if kind(found) != kind(expected) {
            problems.push(format!("{name} is a {} instead of a {}", kind(found), kind(expected)));
            continue;
        }
        match (expected, found) {
            (TypeDefinition::Object(want), TypeDefinition::Object(have)) => {
                for field in &want.fields {
                    match have.fields.iter().find(|f| f.name == field.name) {
                        None => problems.push(format!("{name}.{}: {} is missing", field.name, field.field_type)),
                        Some(served_field) => {
                            if served_field.field_type != field.field_type {
                                problems
                                    .push(format!("{name}.{} is {} instead of {}", field.name, served_field.field_type, field.field_type));
                            }
                            let owner = format!("{name}.{}", field.name);
                            compare_inputs(&owner, &field.arguments, &served_field.arguments, &mut problems);
                        }
                    }
                }
            }
            (TypeDefinition::InputObject(want), TypeDefinition::InputObject(have)) => {
                compare_inputs(name, &want.fields, &have.fields, &mut problems);
            }
            (TypeDefinition::Enum(want), TypeDefinition::Enum(have)) => {
                for value in &want.values {
                    if !have.values.iter().any(|v| v.name == value.name) {
                        problems.push(format!("enum value {name}.{} is missing", value.name));
                    }
                }
            }
            (TypeDefinition::Union(want), TypeDefinition::Union(have)) => {
                for member in &want.types {
                    if !have.types.contains(member) {
                        problems.push(format!("union member {name} = {member} is missing"));
                    }
                }
            }
            _ => {}
        }
    }
    problems
}

#[test]
fn the_served_schema_serves_everything_the_contract_promises() {
    let contract = with_extensions(parse(&contract(), "the contract"));
    let served = with_extensions(parse(&konnektid::api::sdl(), "the served schema"));
    let problems = differences(&contract, &served);
    assert!(problems.is_empty(), "the served schema differs from the contract:\n  {}", problems.join("\n  "));
}

#[test]
fn fields_of_an_extension_are_compared_like_the_others() {
    let contract = with_extensions(parse("type Query { a: Int } extend type Query { b: Int }", "a contract"));
    let served = with_extensions(parse("type Query { a: Int }", "a served schema"));
    assert_eq!(differences(&contract, &served), ["Query.b: Int is missing"]);
}

#[test]
fn the_comparison_notices_what_is_missing_or_different() {
    let contract = parse("type Query { a(first: Int = 20): [String!]! b: Int } enum E { X Y } input I { k: ID! }", "a contract");
    let served =
        parse("type Query { a(first: Int = 10, extra: Int!): [String]! } enum E { X } input I { k: ID, more: String! }", "a served schema");
    let problems = differences(&contract, &served);
    assert_eq!(
        problems,
        [
            "enum value E.Y is missing",
            "I(k) is ID instead of ID!",
            "I(more: String!) is an added required input",
            "Query.a is [String]! instead of [String!]!",
            "Query.a(first) defaults to 10 instead of 20",
            "Query.a(extra: Int!) is an added required input",
            "Query.b: Int is missing",
        ]
    );
}
