//! The HTTP side: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`.
//!
//! Each admission request is held to the limits a webhook in the apiserver's write path
//! needs: `Content-Type: application/json`, a 7 MiB body cap (413 beyond), the
//! apiserver's `?timeout=` as a deadline for reading the body and answering, and a cap
//! on requests decided at once. Bodies that are not an AdmissionReview get a 4xx with a
//! JSON error, never a panic; every reply is checked against the apiserver's wire rules
//! before it is sent.
//!
//! Memory under overload: request bodies are buffered whole (the decision needs the
//! whole review), so the bytes buffered at once are bounded by a global budget
//! ([`AppState::body_budget`], `serve --max-buffered-body-mib`, 40 MiB by default), a
//! semaphore counting bytes. A request reserves its `Content-Length` before a byte of its
//! body is read (the largest body when the length is not declared, the rest given back
//! once read), and holds the reservation until its reply is sent, growing it first when
//! the reply is the larger (a denial of a small request can be tens of KB; at most
//! [`admission::MAX_REPLY_BYTES`]). Without it, 1024 connections could each buffer 7 MiB.
//! When the budget cannot be had within [`QUEUE_WAIT`] (and well inside the deadline) the
//! request gets a quick 503: the apiserver's failure policy then decides at once, instead
//! of after its whole timeout, and its client can retry. tower's concurrency limit and
//! load shedding (5 requests at once for the same 40 MiB) fail `tests/faults.rs`'s
//! overload test: a shed request's unread body resets its connection and the 503 is lost,
//! and a pinned budget sheds at once rather than after the queue wait (docs/performance.md).
//! Decisions take no slot of their own: a decision never
//! yields (a hub lookup, which waits on the network, comes before it), so no more run at
//! once than there are worker threads, and a slow hub API cannot starve requests that
//! need no lookup.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::util::MapResponseLayer;

use super::lookup::SecretLookups;
use super::metrics::{Metrics, Outcome};
use super::tls::CertStore;
use crate::admission::{self, Endpoint};
use crate::model::text::shorten;
use crate::policy::facts::Facts;
use crate::policy::{self, Config};

/// The largest body accepted: two objects of up to 3 MiB each plus the envelope.
pub const MAX_BODY_BYTES: usize = 7 * 1024 * 1024;
/// The deadline when the apiserver sends no `?timeout=` (its own default is 10 s).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// The longest deadline honoured (the apiserver's maximum webhook timeout).
pub const MAX_DEADLINE: Duration = Duration::from_secs(30);
/// The default budget of request body bytes buffered at once, across all connections:
/// it keeps peak memory under overload 20% inside the Deployment's 128Mi.
pub const DEFAULT_BODY_BUDGET: usize = 40 * 1024 * 1024;
/// How long a request may wait for body budget before a 503: long
/// enough to ride out a burst (a 7 MiB body is read in milliseconds on a pod network),
/// short enough that the apiserver hears "busy" well before its own timeout.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);
/// Time kept back, after waiting, to decide and answer before the deadline.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The policy options.
    pub policy: Config,
    /// The serving certificate (for readiness).
    pub certs: Arc<CertStore>,
    /// False once shutdown starts.
    pub ready: AtomicBool,
    /// True once shutdown starts: responses then carry `Connection: close`.
    pub draining: AtomicBool,
    /// Request body and reply bytes held at once (one permit per byte); at least
    /// [`MAX_BODY_BYTES`], so that any accepted body fits.
    pub body_budget: Arc<Semaphore>,
    /// What is recorded for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Secret lookups on the hub, when the server has hub access.
    pub hub: Option<Arc<SecretLookups>>,
}

/// The router. While draining, every response asks HTTP/1.1 clients to close: the
/// apiserver's kept-alive connections stick to a pod, and must move to another one
/// before this one exits. (A plain response map, not a boxed middleware: it runs on
/// every request.)
pub fn router(state: Arc<AppState>) -> Router {
    let draining = state.clone();
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(MapResponseLayer::new(move |mut response: Response| {
            if draining.draining.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }))
        .with_state(state)
}

/// The longest error text a 4xx or 5xx body carries: a decoder's message can quote
/// what the client sent.
const MAX_ERROR_TEXT: usize = 1024;

/// A JSON error body: `{"error": "..."}`, the text cut to [`MAX_ERROR_TEXT`].
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    let body = serde_json::json!({ "error": shorten(&message, MAX_ERROR_TEXT) });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: POST /validate, POST /mutate, GET /healthz, GET /readyz",
    )
}

/// Every error body is JSON, a wrong method's included (axum's own 405 has an empty body).
async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: POST /validate, POST /mutate, GET /healthz, GET /readyz",
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if !state.ready.load(Ordering::Relaxed) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    if !state.certs.valid_now() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no valid serving certificate",
        );
    }
    "ok".into_response()
}

async fn validate(State(s): State<Arc<AppState>>, request: Request) -> Response {
    review(&s, Endpoint::Validate, request).await
}

async fn mutate(State(s): State<Arc<AppState>>, request: Request) -> Response {
    review(&s, Endpoint::Mutate, request).await
}

/// The apiserver's `?timeout=` (how long it waits for this webhook), if given and valid:
/// the first `timeout` parameter decides.
fn timeout_param(query: Option<&str>) -> Option<Duration> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "timeout")
        .and_then(|(_, v)| parse_go_duration(&v))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// One admission request: read, reviewed, answered, counted.
async fn review(state: &AppState, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let _in_flight = state.metrics.in_flight();
    let (parts, body) = request.into_parts();
    let deadline = timeout_param(parts.uri.query())
        .unwrap_or(DEFAULT_DEADLINE)
        .min(MAX_DEADLINE);
    let (response, outcome, operation) =
        reply(state, endpoint, deadline, &parts.headers, body, started).await;
    state
        .metrics
        .record(endpoint, operation, outcome, started.elapsed());
    response
}

/// The reply to one admission request, how it ended, and the operation it was about.
async fn reply(
    state: &AppState,
    endpoint: Endpoint,
    deadline: Duration,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
) -> (Response, Outcome, &'static str) {
    let refused = |r: Response| (r, Outcome::refused, "unknown");
    if !is_json(headers) {
        return refused(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let mut body = body;
    let left = deadline.saturating_sub(started.elapsed());
    let read = tokio::time::timeout(left, read_body(state, &mut body, deadline, started)).await;
    let (bytes, mut budget) = match read {
        Err(_) => {
            return refused(error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive before the deadline",
            ));
        }
        Ok(Err(refusal)) => {
            discard(body, deadline.saturating_sub(started.elapsed()));
            let (response, outcome) = *refusal;
            return (response, outcome, "unknown");
        }
        Ok(Ok(read)) => read,
    };
    // No slot is taken for the decision: from here to the reply it runs without yielding
    // (a hub lookup is the only wait), so no more decisions run at once than there are
    // worker threads, whatever the load. What bounds work under overload is the body
    // budget above and the connection caps.
    let request = match admission::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let e = e.to_string();
            let text = shorten(&e, MAX_ERROR_TEXT);
            tracing::warn!(%endpoint, error = %text, "refused a body that is not an AdmissionReview");
            return refused(error(StatusCode::BAD_REQUEST, e));
        }
    };
    let operation = request.operation_name();
    let facts = hub_facts(state, &request, deadline.saturating_sub(started.elapsed())).await;
    let response = admission::review(&request, endpoint, &state.policy, &facts);
    if let Err(e) = response.check_wire(endpoint) {
        tracing::error!(uid = %request.uid, error = %e, "refusing to send an invalid reply");
        let r = error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        return (r, Outcome::failed, operation);
    }
    // Every admission at info, with what its audit annotations say (the rules and fields
    // that denied, warned or were let through under ratcheting, and the paths patched):
    // an operator reads why each IBGU write was allowed, changed or refused. The text
    // format escapes every value (`logs::EscapedFields`); names are cut as replies cut them.
    let said = |key: &str| {
        response
            .audit_annotations
            .get(key)
            .map_or("", String::as_str)
    };
    tracing::info!(
        uid = %request.uid,
        %endpoint,
        operation,
        namespace = %shorten(&request.namespace, admission::MAX_NAME_BYTES),
        name = %shorten(&request.name, admission::MAX_NAME_BYTES),
        decision = said("decision"),
        denied = said("denied"),
        warned = said("warned"),
        ratcheted = said("ratcheted"),
        patch = said("patch"),
        skipped = said("skipped"),
        dry_run = request.dry_run,
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "admission"
    );
    let outcome = if response.allowed {
        Outcome::allowed
    } else {
        Outcome::denied
    };
    let json = response.to_review_json();
    drop((response, request));
    drop(bytes);
    // The reply is held to the body budget too, until it is sent: a reply larger than
    // its request reserves the difference (a denial is at most
    // [`admission::MAX_REPLY_BYTES`]).
    if let Some(more) = json
        .len()
        .checked_sub(budget.num_permits())
        .filter(|n| *n > 0)
    {
        match reserve(state, more, deadline, started).await {
            Ok(extra) => budget.merge(extra),
            Err(refusal) => return (refusal.0, Outcome::failed, operation),
        }
    }
    // The body holds the reservation: given back once hyper has sent the bytes and
    // dropped it.
    let body = Full::new(Bytes::from(json)).map_frame(move |frame| {
        let _held = &budget;
        frame
    });
    let reply = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::new(body),
    )
        .into_response();
    (reply, outcome, operation)
}

/// Looks up the Secrets the rules read for this request, leaving time to answer.
async fn hub_facts(
    state: &AppState,
    request: &admission::Request<'_>,
    remaining: Duration,
) -> Facts {
    let (Some(lookups), Some(change)) = (&state.hub, request.change()) else {
        return Facts::Offline;
    };
    let names = policy::secrets_needed(&state.policy, change);
    if names.is_empty() {
        return Facts::Offline;
    }
    let namespace = if request.namespace.is_empty() {
        change.new_object().namespace()
    } else {
        &request.namespace
    };
    let budget = remaining.saturating_sub(ANSWER_MARGIN);
    lookups.look_up(namespace, &names, budget).await
}

/// A 503 for a request the server is too busy to take now.
fn busy(what: &str) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("server busy: {what}; try again"),
    )
}

/// How long a request may still wait in a queue: [`QUEUE_WAIT`], and never so long that
/// no time is left to answer before the deadline.
fn queue_wait(deadline: Duration, started: Instant) -> Duration {
    deadline
        .saturating_sub(started.elapsed())
        .saturating_sub(ANSWER_MARGIN)
        .min(QUEUE_WAIT)
}

/// Why a body was not read: the reply, and how it counts (`refused` when the request is
/// at fault, `failed` when the server was too busy).
type Refusal = Box<(Response, Outcome)>;

fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads and drops what is left of a refused request's body, in the background, for at
/// most `within` and [`MAX_BODY_BYTES`]: an HTTP/1.1 connection closed with unread bytes
/// is reset, and the reset can destroy the refusal on its way to the client. Nothing is
/// kept, so this costs no memory; only refusals pay for the task.
fn discard(mut body: Body, within: Duration) {
    tokio::spawn(async move {
        let drain = async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, Bytes::len);
                if seen > MAX_BODY_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(within, drain).await;
    });
}

/// Reserves `n` bytes of the body budget, waiting within [`queue_wait`].
async fn reserve(
    state: &AppState,
    n: usize,
    deadline: Duration,
    started: Instant,
) -> Result<OwnedSemaphorePermit, Refusal> {
    // n <= MAX_BODY_BYTES, far below u32::MAX.
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    if let Ok(permit) = state.body_budget.clone().try_acquire_many_owned(n) {
        return Ok(permit);
    }
    match tokio::time::timeout(
        queue_wait(deadline, started),
        state.body_budget.clone().acquire_many_owned(n),
    )
    .await
    {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Box::new((
            busy("too many request bytes buffered"),
            Outcome::failed,
        ))),
    }
}

/// Reads the whole body within the body budget: its declared length (`Content-Length`,
/// which hyper gives as the body's exact size) is reserved before reading, an undeclared
/// one as [`MAX_BODY_BYTES`] and the rest given back once read. More than the limit is a
/// 413 (before reading a byte when declared), a broken stream a 400, no budget in time a
/// 503. The reservation is returned with the bytes and must be held as long as they are.
async fn read_body(
    state: &AppState,
    body: &mut Body,
    deadline: Duration,
    started: Instant,
) -> Result<(Bytes, OwnedSemaphorePermit), Refusal> {
    let declared = body
        .size_hint()
        .exact()
        .and_then(|n| usize::try_from(n).ok());
    let bad = |response| Box::new((response, Outcome::refused));
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(bad(too_large()));
    }
    let limit = declared.unwrap_or(MAX_BODY_BYTES);
    let mut reserved = reserve(state, limit, deadline, started).await?;
    let mut body = Limited::new(body, limit);
    // Copied chunk by chunk into one buffer of the declared size: collecting the chunks
    // first would hold the body twice while it is joined.
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            bad(if e.is::<LengthLimitError>() {
                too_large()
            } else {
                error(StatusCode::BAD_REQUEST, format!("reading the body: {e}"))
            })
        })?;
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
        }
    }
    if let Some(rest) = reserved.num_permits().checked_sub(buf.len()) {
        let _ = reserved.split(rest);
    }
    Ok((Bytes::from(buf), reserved))
}

/// The plain-HTTP metrics router: `GET /metrics` only.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.encode(),
                )
            }),
        )
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET /metrics is served here",
            )
        })
        .fallback(|| async { error(StatusCode::NOT_FOUND, "only GET /metrics is served here") })
        .with_state(metrics)
}

/// Parses a Go `time.Duration` string as the apiserver writes `?timeout=` (`10s`, `1m0s`,
/// `1.5s`, `500ms`). Returns `None` for anything else.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    // Whole seconds (`10s`, what the apiserver sends): no floating point.
    if let Some(digits) = rest.strip_suffix('s')
        && (1..=5).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let secs: u64 = digits.parse().ok()?;
        return (secs < 86_400).then(|| Duration::from_secs(secs));
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = tail;
    }
    (0.0..86_400.0)
        .contains(&total)
        .then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_apiservers_timeouts() {
        let (secs, ms) = (Duration::from_secs, Duration::from_millis);
        for (text, want) in [
            ("10s", Some(secs(10))),
            ("1m0s", Some(secs(60))),
            ("1.5s", Some(ms(1500))),
            ("500ms", Some(ms(500))),
            ("0s", Some(Duration::ZERO)),
            ("86399s", Some(secs(86_399))),
            ("86400s", None),
            (" 7s ", Some(secs(7))),
        ] {
            assert_eq!(parse_go_duration(text), want, "{text:?}");
        }
        for (query, want) in [
            (Some("timeout=10s"), Some(secs(10))),
            (
                Some("a=b&timeout=250%C2%B5s"),
                Some(Duration::from_micros(250)),
            ),
            (Some("timeout=soon"), None),
            (Some("timeout"), None),
            (Some("&a&timeout=30s&timeout=1s"), Some(secs(30))),
            (Some("x=%41&timeout=1m30s"), Some(secs(90))),
            (None, None),
        ] {
            assert_eq!(timeout_param(query), want, "{query:?}");
        }
        for bad in ["", "10", "s", "10x", "-1s", "1e9s", "99999999h"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
