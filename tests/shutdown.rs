//! SIGTERM during a burst of requests, on the real binary: every request the server
//! accepted gets its answer, responses during the drain say `Connection: close`, and the
//! process exits 0.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::{Client, Proto, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_every_accepted_request_and_exits_0() {
    let dir = std::env::temp_dir().join(format!("ibgu-shutdown-{}", std::process::id()));
    let bundle = support::bundle();
    bundle.write(&dir).expect("write certs");
    let mut child = support::serve_command(&dir)
        .args(["--drain-seconds", "1"])
        .spawn()
        .expect("spawn");
    // Read the log on a thread; the first "serving" line names the bound address.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr: SocketAddr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server starts");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(a) = v["addr"].as_str() {
            break a.parse().expect("addr");
        }
    };

    let client = Client::new(addr, &[&bundle.ca_pem], Proto::H1);
    let body = fixture("validate-rule1-doc-example-allowed");
    let (sent, answered, lost, closes) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let refused = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, body) = (client.clone(), body.clone());
            let (sent, answered, lost, closes, refused) = (
                sent.clone(),
                answered.clone(),
                lost.clone(),
                closes.clone(),
                refused.clone(),
            );
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_secs(15);
                'connections: while Instant::now() < until {
                    // A refused connection means the listener has closed: the burst ends.
                    let Ok(mut conn) = client.connect().await else {
                        refused.store(true, Ordering::Relaxed);
                        break;
                    };
                    // Keep-alive, as the apiserver does, until the server asks to close.
                    while conn.is_open() {
                        sent.fetch_add(1, Ordering::Relaxed);
                        match conn
                            .send(
                                "POST",
                                "/validate?timeout=10s",
                                Some("application/json"),
                                body.clone(),
                            )
                            .await
                        {
                            Ok(a) if a.json()["response"]["allowed"] == true => {
                                answered.fetch_add(1, Ordering::Relaxed);
                                if a.headers.get("connection").is_some_and(|v| v == "close") {
                                    closes.fetch_add(1, Ordering::Relaxed);
                                    continue 'connections;
                                }
                            }
                            Ok(a) => panic!("unexpected answer {}", a.status),
                            Err(e) if e.starts_with("h1 not ready") => continue 'connections,
                            Err(e) => {
                                eprintln!("lost: {e}");
                                lost.fetch_add(1, Ordering::Relaxed);
                                continue 'connections;
                            }
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = answered.load(Ordering::Relaxed);
    assert!(before > 0, "no request answered before SIGTERM");
    let pid = child.id().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    for w in workers {
        w.await.expect("worker");
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    let _ = std::fs::remove_dir_all(&dir);
    let (sent, answered, lost, closes) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
        closes.load(Ordering::Relaxed),
    );
    eprintln!(
        "sent {sent}, answered {answered} ({before} before SIGTERM), lost {lost}, Connection: close {closes}"
    );
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    assert_eq!(lost, 0, "{lost} accepted requests got no answer");
    assert!(answered > before, "nothing answered during the drain");
    assert!(
        closes > 0,
        "no response asked the client to close during the drain"
    );
    assert!(refused.load(Ordering::Relaxed), "the listener never closed");
}
