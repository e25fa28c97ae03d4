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
}

/// Parses `query` once for the depth limit, the GET rule and the metrics' operation label;
/// `None` if it does not parse (juniper then reports the parse error itself).
pub fn inspect(query: &str, operation: Option<&str>) -> Option<QueryShape> {
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
    Some(QueryShape {
        depth,
        operation_name: chosen.and_then(name_of).or_else(|| operation.map(str::to_owned)),
        is_mutation: matches!(chosen, Some(Op::Mutation(_))),
    })
}

fn document_depth(document: &graphql_parser::query::Document<'_, String>) -> usize {
    let fragments: HashMap<&str, &FragmentDefinition<String>> = document
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            Definition::Operation(_) => None,
        })
        .collect();
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
        inspect(query, None).map(|shape| shape.depth)
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
            inspect("query A { stats { members } } mutation B { login(email: \"a\", password: \"b\") { token } }", Some("B")).unwrap();
        assert_eq!((shape.operation_name.as_deref(), shape.is_mutation), (Some("B"), true));
        let shape = inspect("{ stats { members } }", None).unwrap();
        assert_eq!((shape.operation_name, shape.is_mutation), (None, false));
    }

    #[test]
    fn cyclic_fragments_do_not_loop_and_unparsable_queries_are_left_to_juniper() {
        assert!(query_depth("{ me { ...A } } fragment A on Member { ...A }").is_some());
        assert_eq!(query_depth("{ me { "), None);
    }
}
