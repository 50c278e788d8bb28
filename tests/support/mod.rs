//! A real HTTPS client for the server tests: verifies the server's certificate against a
//! given CA for the service DNS name, and speaks HTTP/1.1 or HTTP/2 as ALPN settles.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The name the serving certificate is made for, as in a cluster.
pub const SERVICE_NAME: &str = "ibgu-webhook.ibgu-system.svc";

/// Which protocol to offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 only.
    H1,
    /// HTTP/2 only.
    H2,
}

/// A client trusting `ca_pems`.
#[derive(Clone)]
pub struct Client {
    connector: TlsConnector,
    addr: SocketAddr,
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
    /// The DER of the certificate the server presented.
    pub peer_cert: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A connection, for several requests on one keep-alive connection.
pub enum Conn {
    H1(
        hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        Vec<u8>,
    ),
    H2(
        hyper::client::conn::http2::SendRequest<Full<Bytes>>,
        Vec<u8>,
    ),
}

/// A CA and a serving certificate for [`SERVICE_NAME`] and 127.0.0.1, valid 30 days.
pub fn bundle() -> ibgu_webhook::cli::certs::Bundle {
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    ibgu_webhook::cli::certs::generate(&[SERVICE_NAME.into()], &[ip], 30).expect("certs")
}

/// The real binary's `serve` on an ephemeral loopback port with the pair in `dir`,
/// logging JSON to a piped stderr; callers add their own flags before spawning.
pub fn serve_command(dir: &std::path::Path) -> std::process::Command {
    serve_command_logging(dir, "json")
}

/// [`serve_command`] with the log in `format` (`json` or `text`).
pub fn serve_command_logging(dir: &std::path::Path, format: &str) -> std::process::Command {
    use std::process::Stdio;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ibgu-webhook"));
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--log-format", format])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The DER bytes of the first certificate in `pem`.
pub fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .as_ref()
        .to_vec()
}

/// A rustls client configuration trusting `ca_pems`, offering `alpn`.
pub fn tls_client_config(ca_pems: &[&str], alpn: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("CA");
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config
}

impl Client {
    pub fn new(addr: SocketAddr, ca_pems: &[&str], proto: Proto) -> Self {
        let alpn: &[u8] = match proto {
            Proto::H1 => b"http/1.1",
            Proto::H2 => b"h2",
        };
        let mut config = tls_client_config(ca_pems, alpn);
        // Full handshakes only: a resumed session presents no certificate, and the tests
        // look at which certificate each new connection sees.
        config.resumption = rustls::client::Resumption::disabled();
        Client {
            connector: TlsConnector::from(Arc::new(config)),
            addr,
        }
    }

    /// Opens a verified TLS connection and starts HTTP on it.
    pub async fn connect(&self) -> Result<Conn, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from(SERVICE_NAME).map_err(|e| e.to_string())?;
        let tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        let (_, session) = tls.get_ref();
        let peer = session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        match alpn.as_deref() {
            Some(b"h2") => {
                let (send, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                        .await
                        .map_err(|e| format!("h2 handshake: {e}"))?;
                tokio::spawn(conn);
                Ok(Conn::H2(send, peer))
            }
            Some(b"http/1.1") => {
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .map_err(|e| format!("h1 handshake: {e}"))?;
                tokio::spawn(conn);
                Ok(Conn::H1(send, peer))
            }
            other => Err(format!("ALPN settled on {other:?}")),
        }
    }

    /// One request on a new connection.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        self.connect()
            .await?
            .send(method, path, content_type, body)
            .await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &[u8]) -> Result<Answer, String> {
        self.send("POST", path, Some("application/json"), body.to_vec())
            .await
    }
}

impl Conn {
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("https://{SERVICE_NAME}{path}"))
            .header("host", SERVICE_NAME);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let (response, peer) = match self {
            Conn::H1(send, peer) => {
                send.ready()
                    .await
                    .map_err(|e| format!("h1 not ready: {e}"))?;
                (send.send_request(req).await, peer.clone())
            }
            Conn::H2(send, peer) => {
                send.ready()
                    .await
                    .map_err(|e| format!("h2 not ready: {e}"))?;
                (send.send_request(req).await, peer.clone())
            }
        };
        let response = response.map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Answer {
            status,
            headers,
            body,
            peer_cert: peer,
        })
    }

    /// Whether the connection can take another request.
    pub fn is_open(&self) -> bool {
        match self {
            Conn::H1(s, _) => !s.is_closed(),
            Conn::H2(s, _) => !s.is_closed(),
        }
    }
}

/// `GET path` as raw HTTP/1.1 over any stream (plain or TLS); the whole reply as text.
pub async fn raw_get<S>(mut stream: S, path: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("read");
    out
}

/// A fixture's review body.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
            .join("review.json"),
    )
    .expect("fixture")
}
