//! The files behind `/graphiql` and `/console`, compiled into the binary from `web/`, so the
//! server needs nothing beside itself and no page asks another host for anything.
//!
//! `include_bytes!` over one list rather than a crate such as `rust-embed`: the files are a
//! dozen and known by name, a missing one is a compile error, and no proc macro or directory
//! walk is added to the build. A new file is one line in [`FILES`].

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// A file served under `/assets/<path>`.
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal) => {
        Asset { path: $path, bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)) }
    };
}

/// Every file under `web/` the server serves.
pub const FILES: &[Asset] = &[
    asset!("vendor/graphiql.min.js"),
    asset!("vendor/graphiql.min.css"),
    asset!("vendor/react.production.min.js"),
    asset!("vendor/react-dom.production.min.js"),
    asset!("vendor/LICENSE.graphiql"),
    asset!("vendor/LICENSE.react"),
    asset!("vendor/LICENSE.react-dom"),
    asset!("vendor/VERSIONS"),
    asset!("graphiql/index.html"),
    asset!("graphiql/start.js"),
    asset!("graphiql/graphiql.css"),
    asset!("console/index.html"),
    asset!("console/console.css"),
    asset!("console/app.js"),
    asset!("console/api.js"),
    asset!("console/ui.js"),
    asset!("console/log.js"),
    asset!("console/stream.js"),
    asset!("console/flow.js"),
    asset!("console/subscribers.js"),
    asset!("console/overview.js"),
];

pub fn find(path: &str) -> Option<(usize, &'static Asset)> {
    FILES.iter().enumerate().find(|(_, asset)| asset.path == path)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// A strong validator per file, so a browser revalidates instead of downloading GraphiQL again.
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|asset| {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                asset.bytes.hash(&mut hasher);
                format!("\"{:016x}\"", hasher.finish())
            })
            .collect()
    });
    &tags[index]
}

/// The file, or 304 when the browser holds it already.
pub fn respond(request: &HttpRequest, index: usize, asset: &'static Asset) -> HttpResponse {
    let tag = etag(index);
    let fresh = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == tag);
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .content_type(content_type(asset.path));
    if fresh {
        response.finish()
    } else {
        response.body(asset.bytes)
    }
}

/// `GET /assets/{path}`.
pub async fn serve(request: HttpRequest, path: web::Path<String>) -> HttpResponse {
    match find(&path) {
        Some((index, asset)) => respond(&request, index, asset),
        None => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("no such file\n"),
    }
}
