//! Hub Secret lookups against a kube client whose transport answers from test data:
//! a present Secret, a missing one, one without `.dockerconfigjson`, an owned one, one of
//! another type, a forbidden one, an API that does not answer in time; the cache; the
//! answers reaching kubectl's user through the server, and no lookup on UPDATE.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use ibgu_webhook::cli::certs;
use ibgu_webhook::policy::facts::{Facts, FoundSecret, SecretLookup};
use ibgu_webhook::server::lookup::SecretLookups;
use ibgu_webhook::server::tls::{CertStore, LoadedCert};
use ibgu_webhook::server::{Options, Server};
use kube::client::Body;
use support::{Client, Proto, SERVICE_NAME, fixture};

fn secret(name: &str, keys: &[&str]) -> String {
    let data: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .map(|k| ((*k).to_owned(), "c2VjcmV0".into()))
        .collect();
    serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ztp-group"},
                       "type": "kubernetes.io/dockerconfigjson", "data": data})
    .to_string()
}

/// A pull secret an ExternalSecret made: it has ownerReferences.
fn owned_secret() -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&secret("owned", &[".dockerconfigjson"])).expect("json");
    v["metadata"]["ownerReferences"] = serde_json::json!([
        {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "seed",
         "uid": "5d0c3c1e-0000-4000-8000-000000000001", "controller": true},
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "second",
         "uid": "5d0c3c1e-0000-4000-8000-000000000002"}
    ]);
    v.to_string()
}

/// A TLS Secret that also holds the key: found, of another type.
fn tls_secret() -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&secret("tls", &[".dockerconfigjson", "tls.crt", "tls.key"]))
            .expect("json");
    v["type"] = "kubernetes.io/tls".into();
    v.to_string()
}

fn status(code: u16, reason: &str) -> String {
    serde_json::json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": reason,
                       "reason": reason, "code": code})
    .to_string()
}

/// A kube client answering from test data; counts the requests it serves.
fn mock_client(calls: Arc<AtomicUsize>) -> kube::Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let path = req.uri().path().to_owned();
            let (code, body) = match path.rsplit('/').next().unwrap_or_default() {
                "seed-pull-secret" | "present" => (200, secret("present", &[".dockerconfigjson"])),
                "no-key" => (200, secret("no-key", &["token"])),
                "owned" => (200, owned_secret()),
                "tls" => (200, tls_secret()),
                "forbidden" => (403, status(403, "Forbidden")),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    (200, secret("slow", &[".dockerconfigjson"]))
                }
                _ => (404, status(404, "NotFound")),
            };
            let response = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(body.into_bytes()))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(response)
        }
    });
    kube::Client::new(service, "default")
}

/// What a lookup finds of [`secret`]'s Secrets.
fn found(docker_config: bool) -> SecretLookup {
    SecretLookup::Found(FoundSecret {
        docker_config,
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        owner: None,
    })
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn lookups_answer_each_case_and_never_hang() {
    let calls = Arc::new(AtomicUsize::new(0));
    let lookups = SecretLookups::with_limits(
        mock_client(calls.clone()),
        Duration::from_millis(300),
        Duration::from_secs(60),
    );
    let started = Instant::now();
    let hub = lookups
        .look_up(
            "ztp-group",
            &names(&[
                "present",
                "missing",
                "no-key",
                "owned",
                "tls",
                "forbidden",
                "slow",
            ]),
            Duration::from_secs(5),
        )
        .await;
    // Concurrent and bounded: the slow one costs its timeout once, not per Secret.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(hub.secret("present"), found(true));
    assert_eq!(hub.secret("missing"), SecretLookup::Missing);
    assert_eq!(hub.secret("no-key"), found(false));
    assert_eq!(
        hub.secret("owned"),
        SecretLookup::Found(FoundSecret {
            docker_config: true,
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            owner: Some("ExternalSecret/seed".into()),
        }),
        "the first owner is named"
    );
    assert_eq!(
        hub.secret("tls"),
        SecretLookup::Found(FoundSecret {
            type_: Some("kubernetes.io/tls".into()),
            ..FoundSecret::usable()
        })
    );
    assert!(
        matches!(hub.secret("forbidden"), SecretLookup::Unknown(ref why) if why.contains("403")),
        "{hub:?}"
    );
    assert!(
        matches!(hub.secret("slow"), SecretLookup::Unknown(ref why) if why.contains("did not answer within 300ms")),
        "{hub:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 7);

    // Definite answers are cached; failures are asked again.
    let again = lookups
        .look_up(
            "ztp-group",
            &names(&["present", "missing", "forbidden"]),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(again.secret("present"), found(true));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        8,
        "only the forbidden one is asked again"
    );
    // The request's own budget bounds a lookup too.
    let tight = lookups
        .look_up("ztp-group", &names(&["slow"]), Duration::from_millis(50))
        .await;
    assert!(
        matches!(tight.secret("slow"), SecretLookup::Unknown(ref why) if why.contains("50ms")),
        "{tight:?}"
    );
}

#[tokio::test]
async fn cache_expires() {
    let calls = Arc::new(AtomicUsize::new(0));
    let lookups = SecretLookups::with_limits(
        mock_client(calls.clone()),
        Duration::from_secs(1),
        Duration::from_millis(100),
    );
    lookups
        .look_up("ns", &names(&["present"]), Duration::from_secs(1))
        .await;
    lookups
        .look_up("ns", &names(&["present"]), Duration::from_secs(1))
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    lookups
        .look_up("ns", &names(&["present"]), Duration::from_secs(1))
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        matches!(lookups.look_up("ns", &[], Duration::from_secs(1)).await, Facts::Secrets(m) if m.is_empty())
    );
}

/// A review of an IBGU with Prep whose pullSecretRef names `secret`.
fn review_naming(secret: &str) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("validate-rule11-missing-secret-warns")).expect("fixture");
    v["request"]["object"]["spec"]["ibuSpec"]["seedImageRef"]["pullSecretRef"]["name"] =
        secret.into();
    serde_json::to_vec(&v).expect("json")
}

#[tokio::test]
async fn the_server_turns_lookups_into_warnings_injections_and_strict_denials() {
    let bundle = certs::generate(&[SERVICE_NAME.into()], &[IpAddr::from([127, 0, 0, 1])], 30)
        .expect("certs");
    let start = |strict: bool| {
        let bundle = bundle.clone();
        async move {
            let cert = LoadedCert::from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes())
                .expect("cert");
            let mut options = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
            options.drain = Duration::from_millis(50);
            options.hub = Some(mock_client(Arc::new(AtomicUsize::new(0))));
            options.policy.seed_pull_secret = Some("seed-pull-secret".into());
            options.policy.require_pull_secret = strict;
            let server = Server::bind(options, Arc::new(CertStore::new(cert)))
                .await
                .expect("bind");
            let addr = server.local_addr().expect("addr");
            tokio::spawn(server.run(std::future::pending()));
            Client::new(addr, &[&bundle.ca_pem], Proto::H1)
        }
    };
    let client = start(false).await;
    let warned = client
        .post_json("/validate?timeout=10s", &review_naming("missing"))
        .await
        .expect("answer");
    let v = warned.json();
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert!(
        v["response"]["warnings"][0].as_str().is_some_and(
            |w| w.ends_with(r#"no such Secret in this namespace, Prep would fail: "missing""#)
        ),
        "{v}"
    );
    let unsure = client
        .post_json("/validate", &review_naming("slow"))
        .await
        .expect("answer");
    assert!(
        unsure.json()["response"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("not checked")),
        "{}",
        unsure.json()
    );
    // The seed pull secret exists on the hub: injected.
    let injected = client
        .post_json("/mutate", &fixture("mutate-rule2-inject-seed-pull-secret"))
        .await
        .expect("answer");
    assert_eq!(
        injected.json()["response"]["patchType"],
        "JSONPatch",
        "{}",
        injected.json()
    );

    let strict = start(true).await;
    let denied = strict
        .post_json("/validate", &review_naming("no-key"))
        .await
        .expect("answer");
    let v = denied.json();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("has no .dockerconfigjson key")),
        "{v}"
    );
}

#[tokio::test]
async fn an_update_looks_no_secret_up_and_is_not_refused_for_one() {
    let bundle = certs::generate(&[SERVICE_NAME.into()], &[IpAddr::from([127, 0, 0, 1])], 30)
        .expect("certs");
    let cert =
        LoadedCert::from_pem(bundle.cert_pem.as_bytes(), bundle.key_pem.as_bytes()).expect("cert");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut options = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.drain = Duration::from_millis(50);
    options.hub = Some(mock_client(calls.clone()));
    options.policy.seed_pull_secret = Some("seed-pull-secret".into());
    options.policy.require_pull_secret = true;
    let server = Server::bind(options, Arc::new(CertStore::new(cert)))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.run(std::future::pending()));
    let client = Client::new(addr, &[&bundle.ca_pem], Proto::H1);
    // A label added after Prep started, naming a Secret the hub no longer has.
    let mut update: serde_json::Value =
        serde_json::from_slice(&fixture("validate-rule11-update-secret-deleted-allowed"))
            .expect("fixture");
    for object in ["object", "oldObject"] {
        update["request"][object]["spec"]["ibuSpec"]["seedImageRef"]["pullSecretRef"]["name"] =
            "missing".into();
    }
    let body = serde_json::to_vec(&update).expect("json");
    for endpoint in ["/validate", "/mutate"] {
        let answer = client.post_json(endpoint, &body).await.expect("answer");
        let v = answer.json();
        assert_eq!(v["response"]["allowed"], true, "{endpoint}: {v}");
        assert!(v["response"]["warnings"].is_null(), "{endpoint}: {v}");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no Secret looked up on UPDATE"
    );
    // The same object created: looked up, and refused.
    update["request"]["operation"] = "CREATE".into();
    update["request"]["oldObject"] = serde_json::Value::Null;
    let body = serde_json::to_vec(&update).expect("json");
    let v = client
        .post_json("/validate", &body)
        .await
        .expect("answer")
        .json();
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
