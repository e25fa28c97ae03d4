//! Query depth as the contract counts it: nested selection sets after fragments are inlined,
//! with introspection (`__schema`, `__type`) exempt so GraphiQL and code generators keep working.
//! Measured before execution because juniper's own limit counts fragment spreads.

use std::collections::{HashMap, HashSet};

use graphql_parser::query::{Definition, FragmentDefinition, OperationDefinition, Selection, SelectionSet};

/// What the server needs to know of a query before executing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryShape {
    /// The deepest operation's depth.
    pub depth: usize,
    /// The operation to run: the one named, or the first.
    pub operation_name: Option<String>,
    pub is_mutation: bool,
    /// A query (not a mutation or subscription) whose root fields, fragments inlined, are all
    /// among `read_model_fields`: its answer depends on the read models and the caller only.
    pub reads_read_models_only: bool,
}

/// Parses `query` once for the depth limit, the GET rule, the metrics' operation label and
/// whether its answer may be kept (root fields all in `read_model_fields`); `None` if it does not
/// parse (juniper then reports the parse error itself).
pub fn inspect(query: &str, operation: Option<&str>, read_model_fields: &[&str]) -> Option<QueryShape> {
    use graphql_parser::query::OperationDefinition as Op;
    let document = graphql_parser::parse_query::<String>(query).ok()?;
    let depth = document_depth(&document);
    let operations = document.definitions.iter().filter_map(|d| match d {
        Definition::Operation(operation) => Some(operation),
        Definition::Fragment(_) => None,
    });
    let name_of = |op: &Op<String>| match op {
        Op::SelectionSet(_) => None,
        Op::Query(q) => q.name.clone(),
        Op::Mutation(m) => m.name.clone(),
        Op::Subscription(s) => s.name.clone(),
    };
    let mut chosen = None;
    for candidate in operations {
        if operation.is_none() || name_of(candidate).as_deref() == operation {
            chosen = Some(candidate);
            break;
        }
    }
    let fragments = fragments_of(&document);
    let reads_read_models_only = match chosen {
        Some(Op::Query(graphql_parser::query::Query { selection_set: set, .. }) | Op::SelectionSet(set)) => {
            let mut root_fields = Vec::new();
            collect_fields(&set.items, &fragments, &mut HashSet::new(), &mut root_fields);
            root_fields.iter().all(|field| read_model_fields.contains(field))
        }
        _ => false,
    };
    Some(QueryShape {
        depth,
        operation_name: chosen.and_then(name_of).or_else(|| operation.map(str::to_owned)),
        is_mutation: matches!(chosen, Some(Op::Mutation(_))),
        reads_read_models_only,
    })
}

fn fragments_of<'a, 'd>(document: &'a graphql_parser::query::Document<'d, String>) -> HashMap<&'a str, &'a FragmentDefinition<'d, String>> {
    document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect()
}

/// The names of the fields a selection set selects at its own level, fragments inlined.
fn collect_fields<'a>(
    items: &'a [Selection<String>],
    fragments: &HashMap<&str, &'a FragmentDefinition<String>>,
    visiting: &mut HashSet<&'a str>,
    fields: &mut Vec<&'a str>,
) {
    for item in items {
        match item {
            Selection::Field(field) => fields.push(&field.name),
            Selection::InlineFragment(inline) => collect_fields(&inline.selection_set.items, fragments, visiting, fields),
            Selection::FragmentSpread(spread) => {
                let name = spread.fragment_name.as_str();
                if let Some(fragment) = fragments.get(name).filter(|_| visiting.insert(name)) {
                    collect_fields(&fragment.selection_set.items, fragments, visiting, fields);
                    visiting.remove(name);
                }
            }
        }
    }
}

fn document_depth(document: &graphql_parser::query::Document<'_, String>) -> usize {
    let fragments = fragments_of(document);
    let depths = document.definitions.iter().filter_map(|d| match d {
        Definition::Operation(operation) => Some(operation_depth(operation, &fragments)),
        Definition::Fragment(_) => None,
    });
    depths.max().unwrap_or(0)
}

fn operation_depth(operation: &OperationDefinition<String>, fragments: &HashMap<&str, &FragmentDefinition<String>>) -> usize {
    let set = match operation {
        OperationDefinition::SelectionSet(set) => set,
        OperationDefinition::Query(q) => &q.selection_set,
        OperationDefinition::Mutation(m) => &m.selection_set,
        OperationDefinition::Subscription(s) => &s.selection_set,
    };
    set_depth(set, fragments, &mut HashSet::new())
}

fn set_depth<'a>(
    set: &'a SelectionSet<String>,
    fragments: &HashMap<&str, &'a FragmentDefinition<String>>,
    visiting: &mut HashSet<&'a str>,
) -> usize {
    1 + items_depth(&set.items, fragments, visiting)
}

/// The deepest nesting below a list of selections, fragments inlined (they add no level).
fn items_depth<'a>(
    items: &'a [Selection<String>],
    fragments: &HashMap<&str, &'a FragmentDefinition<String>>,
    visiting: &mut HashSet<&'a str>,
) -> usize {
    items
        .iter()
        .map(|item| match item {
            Selection::Field(field) if field.name == "__schema" || field.name == "__type" => 0,
            Selection::Field(field) if field.selection_set.items.is_empty() => 0,
            Selection::Field(field) => set_depth(&field.selection_set, fragments, visiting),
            Selection::InlineFragment(inline) => items_depth(&inline.selection_set.items, fragments, visiting),
            Selection::FragmentSpread(spread) => {
                let name = spread.fragment_name.as_str();
                // A cycle is a validation error juniper reports; here it must only not loop.
                match fragments.get(name) {
                    Some(fragment) if visiting.insert(name) => {
                        let depth = items_depth(&fragment.selection_set.items, fragments, visiting);
                        visiting.remove(name);
                        depth
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::inspect;

    fn query_depth(query: &str) -> Option<usize> {
        inspect(query, None, &[]).map(|shape| shape.depth)
    }

    #[test]
    fn each_nested_selection_set_is_one_level() {
        assert_eq!(query_depth("{ stats { members } }"), Some(2));
        assert_eq!(query_depth("{ me { teaching { edges { node { id } } } } }"), Some(5));
    }

    #[test]
    fn fragments_are_inlined_without_adding_a_level() {
        let query = "query { me { ...M } } fragment M on Member { teaching { ...C } } fragment C on CourseConnection { totalCount }";
        assert_eq!(query_depth(query), Some(3));
        assert_eq!(query_depth("{ me { ... on Member { teaching { totalCount } } } }"), Some(3));
    }

    #[test]
    fn introspection_is_exempt() {
        let query = "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
        assert_eq!(query_depth(query), Some(1));
    }

    #[test]
    fn the_chosen_operation_is_named_and_typed() {
        let shape =
            inspect("query A { stats { members } } mutation B { login(email: \"a\", password: \"b\") { token } }", Some("B"), &[]).unwrap();
        assert_eq!((shape.operation_name.as_deref(), shape.is_mutation), (Some("B"), true));
        let shape = inspect("{ stats { members } }", None, &[]).unwrap();
        assert_eq!((shape.operation_name, shape.is_mutation), (None, false));
    }

    #[test]
    fn only_a_query_of_listed_root_fields_reads_read_models_only() {
        let listed = ["stats", "me"];
        let reads_only = |query: &str| inspect(query, None, &listed).map(|shape| shape.reads_read_models_only);
        assert_eq!(reads_only("{ stats { members } me { id } }"), Some(true));
        assert_eq!(reads_only("query Q { ...R } fragment R on Query { ... on Query { stats { members } } }"), Some(true));
        assert_eq!(reads_only("{ stats { members } events { position } }"), Some(false));
        assert_eq!(reads_only("query Q { ...R } fragment R on Query { projections { name } }"), Some(false));
        assert_eq!(reads_only("mutation { stats }"), Some(false), "a mutation never");
        assert_eq!(reads_only("subscription { stats }"), Some(false), "a subscription never");
    }

    #[test]
    fn cyclic_fragments_do_not_loop_and_unparsable_queries_are_left_to_juniper() {
        assert!(query_depth("{ me { ...A } } fragment A on Member { ...A }").is_some());
        assert_eq!(query_depth("{ me { "), None);
    }
}
