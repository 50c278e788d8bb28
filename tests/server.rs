//! The HTTPS server, started in-process on an ephemeral loopback port and called with a
//! client that verifies the CA and the service DNS name, over HTTP/1.1 and HTTP/2.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use ibgu_webhook::cli::certs::Bundle;
use ibgu_webhook::server::tls::{CertStore, LoadedCert};
use ibgu_webhook::server::{Options, Server};
use support::{Client, Proto, SERVICE_NAME, bundle, fixture};
use tokio::sync::oneshot;

struct Running {
    addr: SocketAddr,
    metrics: SocketAddr,
    bundle: Bundle,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(configure: impl FnOnce(&mut Options)) -> Running {
    let bundle = bundle();
    let cert =
        LoadedCert::from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes()).expect("cert");
    let mut options = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.metrics_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.drain = Duration::from_millis(200);
    configure(&mut options);
    let server = Server::bind(options, Arc::new(CertStore::new(cert)))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let metrics = server.metrics_addr().expect("metrics addr");
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        metrics,
        bundle,
        stop: Some(tx),
        done,
    }
}

impl Running {
    fn client(&self, proto: Proto) -> Client {
        Client::new(self.addr, &[&self.bundle.ca_pem], proto)
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.done)
            .await
            .expect("server stops in time")
            .expect("server task");
    }
}

#[tokio::test]
async fn allowed_denied_and_mutated_over_http1_and_http2() {
    let server = start(|_| {}).await;
    for proto in [Proto::H1, Proto::H2] {
        let client = server.client(proto);
        let mut conn = client.connect().await.expect("connect");
        // Several requests on one kept-alive connection.
        let denied = conn
            .send(
                "POST",
                "/validate?timeout=10s",
                Some("application/json"),
                fixture("validate-rule2-prep-then-rollback-denied"),
            )
            .await
            .expect("validate");
        assert_eq!(denied.status, StatusCode::OK);
        let v = denied.json();
        assert_eq!(v["response"]["allowed"], false, "{proto:?}: {v}");
        assert_eq!(v["response"]["status"]["code"], 403);
        assert!(v["response"]["patch"].is_null());

        let allowed = conn
            .send(
                "POST",
                "/validate",
                Some("application/json"),
                fixture("validate-rule1-doc-example-allowed"),
            )
            .await
            .expect("validate");
        assert_eq!(allowed.json()["response"]["allowed"], true);

        let mutated = conn
            .send(
                "POST",
                "/mutate?timeout=5s",
                Some("application/json; charset=utf-8"),
                fixture("mutate-rule1-default-whole-strategy"),
            )
            .await
            .expect("mutate");
        let v = mutated.json();
        assert_eq!(v["response"]["patchType"], "JSONPatch", "{proto:?}: {v}");
        assert!(
            v["response"]["patch"]
                .as_str()
                .is_some_and(|p| !p.is_empty())
        );
        assert_eq!(
            mutated
                .headers
                .get("content-type")
                .and_then(|h| h.to_str().ok()),
            Some("application/json")
        );
        assert!(conn.is_open());
        let health = conn
            .send("GET", "/healthz", None, vec![])
            .await
            .expect("healthz");
        assert_eq!(
            (health.status, health.body.as_slice()),
            (StatusCode::OK, &b"ok"[..])
        );
        let ready = conn
            .send("GET", "/readyz", None, vec![])
            .await
            .expect("readyz");
        assert_eq!(ready.status, StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test]
async fn the_certificate_is_verified_for_the_service_name() {
    let server = start(|_| {}).await;
    // A client that trusts another CA refuses the server.
    let stranger = bundle();
    let client = Client::new(server.addr, &[&stranger.ca_pem], Proto::H1);
    let err = client.connect().await.err().expect("must not verify");
    assert!(err.starts_with("tls:"), "{err}");
    server.stop().await;
}

/// An input a webhook must survive, and the status it must get.
struct Bad {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    want: StatusCode,
}

fn bad(
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    want: StatusCode,
) -> Bad {
    Bad {
        what,
        method,
        path,
        content_type,
        body,
        want,
    }
}

fn bad_inputs() -> Vec<Bad> {
    let review = |request: &str| {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#
        )
        .into_bytes()
    };
    let gvk = r#""kind":{"group":"lcm.openshift.io","version":"v1alpha1","kind":"ImageBasedGroupUpgrade"}"#;
    let json = Some("application/json");
    vec![
        bad(
            "wrong method",
            "GET",
            "/validate",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        bad(
            "wrong method on a probe",
            "POST",
            "/healthz",
            json,
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        bad(
            "unknown path",
            "POST",
            "/admit",
            json,
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
        ),
        bad(
            "no content type",
            "POST",
            "/validate",
            None,
            fixture("validate-rule1-doc-example-allowed"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        bad(
            "text content type",
            "POST",
            "/mutate",
            Some("text/plain"),
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        bad(
            "empty body",
            "POST",
            "/validate",
            json,
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "truncated JSON",
            "POST",
            "/validate",
            json,
            {
                let mut f = fixture("validate-rule1-doc-example-allowed");
                f.truncate(f.len() / 2);
                f
            },
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "not UTF-8",
            "POST",
            "/validate",
            json,
            vec![b'{', 0xff, 0xfe, b'}'],
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "JSON null",
            "POST",
            "/mutate",
            json,
            b"null".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "JSON array",
            "POST",
            "/validate",
            json,
            b"[1,2,3]".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "wrongly typed uid",
            "POST",
            "/validate",
            json,
            review(&format!(
                r#"{{"uid":5,{gvk},"operation":"CREATE","object":{{}}}}"#
            )),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "v1beta1 review",
            "POST",
            "/validate",
            json,
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "not a review",
            "POST",
            "/validate",
            json,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "no request",
            "POST",
            "/validate",
            json,
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "empty uid",
            "POST",
            "/mutate",
            json,
            review(&format!(
                r#"{{"uid":"",{gvk},"operation":"CREATE","object":{{}}}}"#
            )),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "UPDATE without oldObject",
            "POST",
            "/validate",
            json,
            review(&format!(
                r#"{{"uid":"u",{gvk},"operation":"UPDATE","object":{{}}}}"#
            )),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "unknown operation",
            "POST",
            "/validate",
            json,
            review(&format!(
                r#"{{"uid":"u",{gvk},"operation":"PATCH","object":{{}}}}"#
            )),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "deeply nested",
            "POST",
            "/validate",
            json,
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        bad(
            "body over 7 MiB",
            "POST",
            "/validate",
            json,
            vec![b' '; 7 * 1024 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ]
}

#[tokio::test]
async fn bad_inputs_get_a_4xx_json_error_and_the_server_keeps_answering() {
    let server = start(|_| {}).await;
    let client = server.client(Proto::H1);
    let cases = bad_inputs();
    assert!(cases.len() >= 15);
    for Bad {
        what,
        method,
        path,
        content_type,
        body,
        want,
    } in cases
    {
        let answer = client
            .send(method, path, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        assert_eq!(
            answer.status,
            want,
            "{what}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(
            answer.json()["error"].is_string(),
            "{what}: body {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        let health = client
            .send("GET", "/healthz", None, vec![])
            .await
            .expect("healthz");
        assert_eq!(health.status, StatusCode::OK, "after {what}");
    }
    // An unreadable ?timeout= falls back to the default deadline; the review is answered.
    let answer = client
        .post_json(
            "/validate?timeout=banana",
            &fixture("validate-rule1-doc-example-allowed"),
        )
        .await
        .expect("answer");
    assert_eq!(answer.json()["response"]["allowed"], true);
    // A malformed IBGU object is a decision (denied), not a transport error.
    let malformed = String::from(
        r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"m","kind":{"group":"lcm.openshift.io","version":"v1alpha1","kind":"ImageBasedGroupUpgrade"},"operation":"CREATE","object":{"spec":{"plan":"x"}}}}"#,
    );
    let answer = client
        .post_json("/validate", malformed.as_bytes())
        .await
        .expect("answer");
    assert_eq!(answer.json()["response"]["allowed"], false);
    server.stop().await;
}

/// `GET /metrics` over plain HTTP/1.1 on the metrics port.
async fn scrape(addr: SocketAddr) -> String {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect metrics");
    support::raw_get(tcp, "/metrics").await
}

#[tokio::test]
async fn metrics_count_requests_by_endpoint_operation_and_verdict() {
    let server = start(|_| {}).await;
    let client = server.client(Proto::H2);
    client
        .post_json(
            "/validate",
            &fixture("validate-rule2-prep-then-rollback-denied"),
        )
        .await
        .expect("denied");
    client
        .post_json("/mutate", &fixture("mutate-rule1-default-whole-strategy"))
        .await
        .expect("mutated");
    client.post_json("/validate", b"{").await.expect("refused");
    let text = scrape(server.metrics).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in [
        r#"ibgu_webhook_admission_requests_total{endpoint="validate",operation="CREATE",verdict="denied"} 1"#,
        r#"ibgu_webhook_admission_requests_total{endpoint="mutate",operation="CREATE",verdict="allowed"} 1"#,
        r#"ibgu_webhook_admission_requests_total{endpoint="validate",operation="unknown",verdict="refused"} 1"#,
        r#"ibgu_webhook_admission_duration_seconds_count{endpoint="validate"} 2"#,
        "ibgu_webhook_admission_in_flight 0",
        "ibgu_webhook_certificate_expiry_timestamp_seconds ",
        "ibgu_webhook_certificate_reloads_total 0",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // A wrong method on the metrics port: a 405 with a JSON error, like every error.
    let mut tcp = tokio::net::TcpStream::connect(server.metrics)
        .await
        .expect("connect metrics");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("write");
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).await.expect("read");
    assert!(reply.starts_with("HTTP/1.1 405"), "{reply}");
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    assert!(body["error"].is_string(), "{reply}");
    server.stop().await;
}

/// A client certificate signed by `ca`, as an apiserver would present.
fn client_identity() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut leaf = CertificateParams::new(vec!["kube-apiserver".to_owned()]).expect("params");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .expect("leaf");
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    (ca_cert.pem(), cert.der().clone(), key_der)
}

#[tokio::test]
async fn client_ca_requires_a_client_certificate_signed_by_it() {
    let (client_ca, cert, key) = client_identity();
    let server = start(|o| o.client_ca = Some(client_ca.into_bytes())).await;
    // Without a client certificate the handshake (or the first read) fails.
    let anonymous = server.client(Proto::H1);
    let refused = match anonymous.connect().await {
        Err(_) => true,
        Ok(mut conn) => conn.send("GET", "/healthz", None, vec![]).await.is_err(),
    };
    assert!(refused, "a client without certificate was served");
    // With one signed by the CA it is served.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            rustls::pki_types::pem::PemObject::from_pem_slice(server.bundle.ca_pem.as_bytes())
                .expect("ca"),
        )
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![cert], key)
    .expect("client auth");
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("tcp");
    let name = rustls::pki_types::ServerName::try_from(SERVICE_NAME).expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("mutual TLS handshake");
    let out = support::raw_get(tls, "/healthz").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    server.stop().await;
}
