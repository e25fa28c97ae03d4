//! The pages a person opens: `GET /` (a redirect), `/graphiql` and `/console`, with headers that
//! keep them from being framed, sniffed, or made to load anything from another origin.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::assets;

/// Everything from this server only; WebSocket to it is `'self'` too. GraphiQL's editor sets
/// inline styles, so its page allows them; the console does not need to.
const CONSOLE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
                              connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const GRAPHIQL_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                               font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
                               frame-ancestors 'none'";

/// Mounts the pages and their files.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(front_door))
        .route("/graphiql", web::get().to(graphiql))
        .route("/console", web::get().to(console))
        .route("/console/", web::get().to(console))
        .route("/assets/{path:.+}", web::get().to(assets::serve));
}

async fn front_door() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/graphiql")).finish()
}

async fn graphiql(request: HttpRequest) -> HttpResponse {
    page(&request, "graphiql/index.html", GRAPHIQL_POLICY)
}

async fn console(request: HttpRequest) -> HttpResponse {
    page(&request, "console/index.html", CONSOLE_POLICY)
}

fn page(request: &HttpRequest, path: &str, policy: &'static str) -> HttpResponse {
    let Some((index, asset)) = assets::find(path) else {
        return HttpResponse::InternalServerError().body("a page is missing from the binary");
    };
    let mut response = assets::respond(request, index, asset);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(policy));
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    response
}
