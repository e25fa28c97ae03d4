//! The HTTP surface besides POST: GraphiQL, liveness, queries over GET, and introspection.

use serde_json::{json, Value};

use super::harness::{assert_code, TestServer};

#[actix_rt::test]
async fn graphiql_health_and_queries_over_get_are_served_and_mutations_over_get_are_refused() {
    let server = TestServer::start().await;
    server.register("member@example.org", "Member").await;
    server.wait_settled().await;

    let (status, content_type, page) = server.get("/graphiql").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.to_lowercase().contains("graphiql"));
    let (status, _, _) = server.get("/health").await;
    assert_eq!(status, 200);

    let (status, content_type, body) = server.get("/graphql?query=%7Bstats%7Bmembers%7D%7D").await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body, json!({ "data": { "stats": { "members": 1 } } }));

    let with_variables = "/graphql?query=query(%24n%3AInt)%7Bcourses(first%3A%24n)%7BtotalCount%7D%7D&variables=%7B%22n%22%3A5%7D";
    let (status, _, body) = server.get(with_variables).await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).expect("JSON")), (200, json!({ "data": { "courses": { "totalCount": 0 } } })));

    let mutation = "/graphql?query=mutation%7BrebuildProjection(name%3A%22stats%22)%7Bname%7D%7D";
    let (status, _, body) = server.get(mutation).await;
    assert_eq!(status, 200, "a GraphQL-level error: {body}");
    assert_code(&serde_json::from_str(&body).expect("JSON"), "BAD_INPUT");
    let (status, _, body) = server.get("/graphql").await;
    assert_eq!(status, 400, "GET without a query: {body}");
    assert_code(&serde_json::from_str(&body).expect("JSON"), "BAD_INPUT");
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery`, deep type refs).
const INTROSPECTION: &str = "
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}";

#[actix_rt::test]
async fn answers_list_fields_in_the_order_they_were_asked_for() {
    let server = TestServer::start().await;
    // `{ stats { members coursesPublished } courses { totalCount } }`, and reversed. (juniper puts
    // a `__typename` first wherever it was asked.)
    for (query, order) in [
        ("%7Bstats%7Bmembers%20coursesPublished%7D%20courses%7BtotalCount%7D%7D", ["stats", "members", "coursesPublished", "courses"]),
        ("%7Bcourses%7BtotalCount%7D%20stats%7BcoursesPublished%20members%7D%7D", ["courses", "stats", "coursesPublished", "members"]),
    ] {
        let (status, _, body) = server.get(&format!("/graphql?query={query}")).await;
        assert_eq!(status, 200, "{body}");
        let at = |field: &str| body.find(&format!("\"{field}\"")).unwrap_or_else(|| panic!("{field} in {body}"));
        assert!(order.windows(2).all(|pair| at(pair[0]) < at(pair[1])), "{body}");
    }
}

#[actix_rt::test]
async fn graphiqls_deep_introspection_query_is_not_refused_by_the_depth_limit() {
    let server = TestServer::start().await;
    let response = server.graphql(INTROSPECTION, json!({}), None).await;
    assert!(response.get("errors").is_none(), "{:#}", response["errors"]);
    let schema = &response["data"]["__schema"];
    assert_eq!(
        (schema["queryType"]["name"].clone(), schema["mutationType"]["name"].clone(), schema["subscriptionType"]["name"].clone()),
        (json!("Query"), json!("Mutation"), json!("Subscription"))
    );
    let types: Vec<&str> = schema["types"].as_array().expect("a list").iter().filter_map(|t| t["name"].as_str()).collect();
    for name in ["Booking", "Course", "Member", "RecordedEvent", "ProjectionStatus", "JSON", "DateTime"] {
        assert!(types.contains(&name), "{name} is missing from {types:?}");
    }
    let by_type = "{ __type(name: \"Booking\") { fields { name type { kind ofType { kind ofType { kind ofType { name } } } } } } }";
    assert!(server.graphql(by_type, json!({}), None).await.get("errors").is_none(), "`__type` is exempt too");
}
