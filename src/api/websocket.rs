//! Subscriptions over WebSocket with the graphql-transport-ws protocol; the bearer token comes in
//! the `connection_init` payload as `{"authorization": "Bearer <token>"}`.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use juniper_graphql_ws::ConnectionConfig;

use super::http::{caller_from_init, ApiState};
use super::Context;

pub(super) async fn serve(request: HttpRequest, payload: web::Payload, state: ApiState) -> HttpResponse {
    let app = state.app.clone();
    let init = move |params: juniper::Variables| async move {
        let caller = caller_from_init(&app, &params)?;
        Ok::<_, crate::app::AppError>(ConnectionConfig::new(Context::new(app, caller)).with_keep_alive_interval(Duration::from_secs(15)))
    };
    match juniper_actix::subscriptions::graphql_transport_ws_handler(request, payload, state.schema.clone(), init).await {
        Ok(response) => response,
        Err(error) => error.error_response(),
    }
}
