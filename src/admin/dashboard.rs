//! The dashboard: one page (`/`, with `#overview`, `#positions`, `#trades`, `#decisions`) and
//! its script and style, embedded in the binary (no CDN, no network), reading only the JSON
//! API ([`super::api`]) and the live stream ([`super::live`]).
//!
//! The page, script and style hold no data, so they load without the token; everything they
//! show comes from `/api/v1/`, which needs it off loopback (the page asks for it once and keeps
//! it in `sessionStorage`, sending `Authorization: Bearer`). Every answer here carries a strict
//! `Content-Security-Policy`: scripts and styles only from this origin, no inline script, no
//! `eval`, images only from this origin and `blob:` (the chart), connections only to this
//! origin, no framing. The script writes text with `textContent` only, never HTML, so a market
//! id or reason holding `<script>` shows as text.
//!
//! The chart is the SVG `report --chart` draws (the one chart module), fetched with the token
//! and shown through a `blob:` URL in an `<img>`, where an SVG cannot run script: no chart
//! library to vendor, and the dashboard and the CLI draw the same picture.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Every dashboard answer's policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The page's paths; they need no token (they hold no data).
pub const PAGE_PATHS: [&str; 3] = ["/", "/assets/app.js", "/assets/app.css"];

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response();
    secure(response.headers_mut());
    response
}

/// The security headers every dashboard and API answer carries.
pub fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
