//! Certificate rotation the way kubelet does it for a Secret volume: the files are
//! symlinks through `..data`, which is swapped atomically to a new timestamped folder.
//! Requests keep running on new connections throughout; none may fail, new connections
//! must see the new certificate, and a bad pair must be refused while the good one serves.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ibgu_webhook::server::tls::{CertFiles, CertStore};
use ibgu_webhook::server::{Options, Server};
use support::{Client, Proto, bundle, der, fixture};

/// Writes a pair into `dir/..<version>` and points `dir/..data` at it atomically.
fn project(dir: &Path, version: &str, cert: &str, key: &str) {
    let data = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("tls.crt"), cert).expect("write");
    std::fs::write(data.join("tls.key"), key).expect("write");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("atomic swap");
    for name in ["tls.crt", "tls.key"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).expect("symlink");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_seen_by_the_directory_watch_loses_no_request() {
    // Polling once an hour: only the watch can notice the swap in time.
    rotate(Duration::from_secs(3600), true, "watch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_seen_by_polling_alone_loses_no_request() {
    rotate(Duration::from_millis(100), false, "poll").await;
}

async fn rotate(interval: Duration, watch: bool, tag: &str) {
    let dir = std::env::temp_dir().join(format!("ibgu-rotation-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (a, b) = (bundle(), bundle());
    project(&dir, "2026_11_24_a", &a.cert_pem, &a.key_pem);
    let files = CertFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    let store = Arc::new(CertStore::new(files.load().expect("first pair")));
    let mut options = Options::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    options.cert_files = Some(files);
    options.reload_interval = interval;
    options.watch_cert_dir = watch;
    options.drain = Duration::from_millis(100);
    let server = Server::bind(options, store.clone()).await.expect("bind");
    let addr = server.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));

    // Clients trust both CAs, as a caBundle does during a rotation.
    let client = Client::new(addr, &[&a.ca_pem, &b.ca_pem], Proto::H1);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let body = fixture("validate-rule1-doc-example-allowed");
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop, ok, failed, body) = (
                client.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
                body.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // A new connection per request: each handshake picks the current pair.
                    match client.post_json("/validate", &body).await {
                        Ok(r) if r.json()["response"]["allowed"] == true => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(r) => panic!(
                            "unexpected answer {}: {:?}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ),
                        Err(e) => {
                            eprintln!("request failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    project(&dir, "2026_11_24_b", &b.cert_pem, &b.key_pem);
    let seen_new = wait_for_cert(&client, &der(&b.cert_pem)).await;
    assert!(seen_new, "new connections never saw the new certificate");
    assert!(store.reloads() >= 1);

    // A bad pair (garbage certificate) is refused; the good one keeps serving.
    let failures_before = store.failures();
    project(&dir, "2026_11_24_c", "not a certificate", &a.key_pem);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.failures() > failures_before, "bad pair not refused");
    let answer = client
        .post_json("/validate", &body)
        .await
        .expect("still serving");
    assert_eq!(answer.peer_cert, der(&b.cert_pem));
    let ready = client
        .send("GET", "/readyz", None, vec![])
        .await
        .expect("readyz");
    assert_eq!(ready.status, hyper::StatusCode::OK);

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    let _ = stop_tx.send(());
    running.await.expect("server");
    let _ = std::fs::remove_dir_all(&dir);
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 20, "only {ok} requests answered");
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during rotation",
        ok + failed
    );
}

async fn wait_for_cert(client: &Client, want: &[u8]) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(a) = client.send("GET", "/healthz", None, vec![]).await
            && a.peer_cert == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
