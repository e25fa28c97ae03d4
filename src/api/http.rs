//! The HTTP door: `/graphql` (POST, GET, WebSocket; CORS for the configured origins), the pages
//! (`pages.rs`), `/health`, `/ready`, `/metrics`, `/console/overview`. Transport errors
//! (oversized or malformed bodies) are answered here in the contract's JSON error shape; every
//! GraphQL-level error is HTTP 200 with `extensions.code`.

use actix_cors::Cors;
use actix_web::http::StatusCode;
use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt;
use juniper::http::GraphQLRequest;
use juniper::{DefaultScalarValue, InputValue};
use serde_json::json;
use tracing::Instrument;

use super::answers::Transport;
use super::prepared::{Answered, Refused};
use super::state::ApiState;
use super::{errors, Context};
use crate::app::{AppError, Caller};

/// A request as it came: how, and its exact text (the body, or the query string), which is
/// what a kept answer is found by.
struct Incoming {
    transport: Transport,
    text: web::Bytes,
}

/// Mounts the routes; shared by the server and the tests.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config: &mut web::ServiceConfig| {
        if !state.app.node().serves_api() {
            // A node without the `api` role runs reactions only: it answers probes and metrics.
            config
                .app_data(web::Data::new(state))
                .route("/health", web::get().to(health))
                .route("/ready", web::get().to(ready))
                .route("/metrics", web::get().to(metrics_text));
            return;
        }
        let cors = cors(&state.app.limits().cors_allowed_origins);
        config
            .app_data(web::Data::new(state))
            .service(web::resource("/graphql").wrap(cors).route(web::post().to(post_graphql)).route(web::get().to(get_graphql)))
            .configure(super::pages::configure)
            .route("/console/overview", web::get().to(super::overview::serve))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics_text));
    }
}

/// Browsers on the listed origins may call `/graphql` (preflight included); others get no CORS
/// headers, so their pages cannot read an answer. A request from a page of this server itself
/// carries its own origin and is served as any other.
fn cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    origins.iter().map(|origin| origin.trim()).filter(|origin| !origin.is_empty()).fold(cors, |cors, origin| cors.allowed_origin(origin))
}

/// A transport-level error in the contract's shape.
fn transport_error(state: &ApiState, status: StatusCode, error: &AppError) -> HttpResponse {
    let body = json!({ "errors": [errors::entry(error)] });
    state.request_metrics.record("none", status.as_u16(), &[error.code().to_owned()], std::time::Duration::ZERO);
    HttpResponse::build(status).json(body)
}

fn authorization(request: &HttpRequest) -> Option<&str> {
    request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok())
}

async fn read_body(
    state: &ApiState,
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, HttpResponse> {
    let too_large = || {
        let error = AppError::Limit(format!("the request body is larger than {limit} bytes"));
        transport_error(state, StatusCode::PAYLOAD_TOO_LARGE, &error)
    };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| transport_error(state, StatusCode::BAD_REQUEST, &AppError::BadInput(format!("could not read the body: {e}"))))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn post_graphql(request: HttpRequest, payload: web::Payload, state: web::Data<ApiState>) -> HttpResponse {
    let started = std::time::Instant::now();
    let limit = state.app.limits().body_limit_bytes;
    let body = match read_body(&state, &request, payload, limit).await {
        Ok(body) => body.freeze(),
        Err(response) => return response,
    };
    let incoming = Incoming { transport: Transport::Post, text: body };
    let caller = state.app.authenticate(authorization(&request));
    if let Some(response) = kept_answer(&request, &state, &caller, &incoming, started) {
        return response;
    }
    let graphql: GraphQLRequest<DefaultScalarValue> = match serde_json::from_slice(&incoming.text) {
        Ok(graphql) => graphql,
        Err(error) => {
            let message = format!("the body must be JSON with a `query` string (and optional `variables`, `operationName`): {error}");
            return transport_error(&state, StatusCode::BAD_REQUEST, &AppError::BadInput(message));
        }
    };
    run(&request, &state, caller, graphql, incoming, started).await
}

async fn get_graphql(request: HttpRequest, payload: web::Payload, state: web::Data<ApiState>) -> HttpResponse {
    if request.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return super::websocket::serve(request, payload, state.get_ref().clone()).await;
    }
    let started = std::time::Instant::now();
    let incoming = Incoming { transport: Transport::Get, text: web::Bytes::copy_from_slice(request.query_string().as_bytes()) };
    let caller = state.app.authenticate(authorization(&request));
    if let Some(response) = kept_answer(&request, &state, &caller, &incoming, started) {
        return response;
    }
    let parameters = match web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string()) {
        Ok(parameters) => parameters.into_inner(),
        Err(error) => return transport_error(&state, StatusCode::BAD_REQUEST, &AppError::BadInput(format!("bad query string: {error}"))),
    };
    let Some(query) = parameters.get("query").cloned() else {
        return transport_error(&state, StatusCode::BAD_REQUEST, &AppError::BadInput("GET /graphql needs a `query` parameter".into()));
    };
    let variables = match parameters.get("variables").map(|v| serde_json::from_str::<InputValue<DefaultScalarValue>>(v)).transpose() {
        Ok(variables) => variables,
        Err(error) => {
            return transport_error(&state, StatusCode::BAD_REQUEST, &AppError::BadInput(format!("`variables` is not JSON: {error}")))
        }
    };
    let graphql = GraphQLRequest::new(query, parameters.get("operationName").cloned(), variables);
    run(&request, &state, caller, graphql, incoming, started).await
}

/// The kept answer to this very request of this caller, if the read models have not moved since
/// it was computed; the rate limit applies to it as to any request. Only for a valid token: a
/// bad one is answered by `run`, in its order.
fn kept_answer(
    request: &HttpRequest,
    state: &ApiState,
    caller: &Result<Caller, AppError>,
    incoming: &Incoming,
    started: std::time::Instant,
) -> Option<HttpResponse> {
    let caller = *caller.as_ref().ok()?;
    let version = state.app.read_models().version.current();
    let answer = state.answers.get(caller, incoming.transport, &incoming.text, version)?;
    if let Err(error) = check_rate(request, state, caller) {
        return Some(respond(state, &answer.operation, Err(error), started).http);
    }
    state.request_metrics.record_reused(&answer.operation, started.elapsed());
    Some(HttpResponse::Ok().content_type(header::ContentType::json()).body(answer.body))
}

/// Takes one request from the caller's rate; an anonymous caller is known by its address.
fn check_rate(request: &HttpRequest, state: &ApiState, caller: Caller) -> Result<(), AppError> {
    state.rate.check(caller, request.peer_addr().map(|peer| peer.ip()))
}

async fn run(
    request: &HttpRequest,
    state: &ApiState,
    caller: Result<Caller, AppError>,
    graphql: GraphQLRequest<DefaultScalarValue>,
    incoming: Incoming,
    started: std::time::Instant,
) -> HttpResponse {
    // A client over its rate costs no parsing: it is refused before its document is read.
    if let Err(error) = caller.as_ref().map_or(Ok(()), |caller| check_rate(request, state, *caller)) {
        return respond(state, graphql.operation_name.as_deref().unwrap_or("anonymous"), Err(error), started).http;
    }
    let max_depth = state.app.limits().max_query_depth;
    let read_only = incoming.transport == Transport::Get;
    let prepared = state.operations.prepare(&graphql.query, graphql.operation_name.as_deref(), max_depth, read_only);
    let operation = match &prepared {
        Ok(prepared) => prepared.operation_name(),
        Err(refused) => refused.operation_name.as_deref(),
    }
    .unwrap_or("anonymous")
    .to_owned();
    let span = tracing::info_span!("graphql", operation = %operation);
    // Read before executing: a change committed meanwhile makes this answer never match again.
    let version = state.app.read_models().version.current();
    let (outcome, keep) = async {
        // A bad token is answered first, whatever the document.
        match (caller, prepared) {
            (Err(error), _) | (_, Err(Refused { error, .. })) => (Err(error), None),
            (Ok(caller), Ok(prepared)) => {
                let outcome = prepared.execute(&graphql.variables(), &Context::new(state.app.clone(), caller)).await;
                (outcome, prepared.reads_read_models_only().then_some(caller))
            }
        }
    }
    .instrument(span)
    .await;
    let response = respond(state, &operation, outcome, started);
    if let (Some(caller), Some(body)) = (keep, response.answered_without_errors) {
        state.answers.keep(caller, incoming.transport, incoming.text, version, &operation, body);
    }
    response.http
}

/// An HTTP answer, and its body when it holds no error (the only kind of answer that is kept).
struct Responded {
    http: HttpResponse,
    answered_without_errors: Option<web::Bytes>,
}

/// The HTTP answer to a GraphQL request: HTTP 200, errors (if any) with their codes.
fn respond(state: &ApiState, operation: &str, outcome: Result<Answered, AppError>, started: std::time::Instant) -> Responded {
    let Answered { body, error_codes } = outcome.unwrap_or_else(|error| Answered::refused(&error));
    state.request_metrics.record(operation, 200, &error_codes, started.elapsed());
    let body = web::Bytes::from(body);
    let http = HttpResponse::Ok().content_type(header::ContentType::json()).body(body.clone());
    Responded { http, answered_without_errors: error_codes.is_empty().then_some(body) }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    match state.app.readiness().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(unready) => HttpResponse::ServiceUnavailable().json(json!({ "status": "unready", "reasons": unready.reasons })),
    }
}

async fn metrics_text(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.app.render_metrics().await)
}
