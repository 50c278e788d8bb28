//! The floor server: the webhook's stack with no policy, for the load benchmark.
//!
//! Same crates, allocator and protocol handling as `ibgu-webhook serve` (tokio, rustls with ring,
//! TLS 1.3/1.2, hyper-util serving HTTP/1.1 and HTTP/2 by ALPN, axum routing), but each
//! `POST /validate` or `POST /mutate` only parses the AdmissionReview JSON (every byte is
//! checked, nothing is kept but the uid) and answers `allowed: true` with that uid. No
//! limits, no metrics, no logging (nor its cost), no decision: no webhook on this stack can answer
//! faster, so `benches/load.py` reports the webhook's figures as ratios against it.
//!
//! ```text
//! cargo run --release --example floor -- ADDR CERT.pem KEY.pem
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Only the uid is kept; serde skims every other field (syntax checked, nothing built).
#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow)]
    request: Request<'a>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    uid: std::borrow::Cow<'a, str>,
}

async fn allow(body: Bytes) -> Response {
    match serde_json::from_slice::<Review>(&body) {
        Ok(review) => {
            let reply = serde_json::json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": { "uid": review.request.uid, "allowed": true },
            });
            (
                [(header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
                .into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No logging, and no cost for it: without a subscriber, the events hyper and h2 emit
    // fall back to the `log` crate on every request (about 9k instructions per HTTP/2
    // request, callgrind); a subscriber that wants nothing turns them off at the call site.
    tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())?;
    let mut args = std::env::args().skip(1);
    let usage = "usage: floor ADDR CERT.pem KEY.pem";
    let addr: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let certs =
        CertificateDer::pem_file_iter(args.next().ok_or(usage)?)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(args.next().ok_or(usage)?)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let app = Router::new()
        .route("/validate", post(allow))
        .route("/mutate", post(allow))
        .route("/readyz", get(|| async { "ok" }));

    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = TcpListener::bind(addr).await?;
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, app, builder) = (acceptor.clone(), app.clone(), builder.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let service = TowerToHyperService::new(app);
                    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                }
            });
        }
    })
}
