//! The logs of the real binary: text lines that requests cannot forge, and lines the
//! writer drops when stderr stalls, counted and then said.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{Client, Proto, fixture};

/// `serve` on loopback with the pair in `dir`, logging in `format`; its stderr piped.
fn serve(dir: &std::path::Path, format: &str) -> Child {
    support::serve_command_logging(dir, format)
        .args(["--metrics-addr", "127.0.0.1:0", "--drain-seconds", "0"])
        .env("RUST_LOG", "info")
        .spawn()
        .expect("spawn")
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ibgu-logs-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    support::bundle().write(&dir).expect("certs");
    dir
}

/// The lines of `stderr`, read on a thread.
fn lines(stderr: ChildStderr) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The value of `key=` in a text line, read field by field from the start (so that a
/// quoted value holding `key=` is not taken for the field): a quoted value unescaped as
/// Rust writes `{:?}` of a string, a bare one as it stands.
fn field(line: &str, key: &str) -> Option<String> {
    let mut chars = line.chars().peekable();
    loop {
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c == ' ' || c == '=' {
                break;
            }
            word.push(c);
            chars.next();
        }
        match chars.next() {
            None => return None,
            Some(' ') => continue,
            _ => {}
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            unquote(&mut chars)?
        } else {
            chars.by_ref().take_while(|c| *c != ' ').collect()
        };
        if word == key {
            return Some(value);
        }
    }
}

/// A quoted value after its opening quote, through its closing one.
fn unquote(chars: &mut impl Iterator<Item = char>) -> Option<String> {
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// What a forger would put in a value: a newline and a whole line after it, a carriage
/// return, an ANSI colour and quotes.
const FORGED: &str = "x\n2026-01-01T00:00:00Z  INFO admission: admission uid=forged operation=\"DELETE\" decision=\"allowed\"\r\x1b[31m'\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_escape_what_requests_send() {
    let dir = scratch("text");
    let ca = std::fs::read_to_string(dir.join("ca.crt")).expect("ca");
    let mut child = serve(&dir, "text");
    let rx = lines(child.stderr.take().expect("stderr"));
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("starts");
        if let Some(a) = field(&line, "addr") {
            break a.parse().expect("addr");
        }
    };
    let client = Client::new(addr, &[&ca], Proto::H1);

    // A CREATE whose uid, namespace and name carry the forgery, one whose object has it
    // in a field path (so the denied rules name it), and a body that is not a review
    // whose decoder's message quotes it.
    let uid = &FORGED[..100];
    let mut create: serde_json::Value =
        serde_json::from_slice(&fixture("validate-rule1-doc-example-allowed")).expect("json");
    create["request"]["uid"] = uid.into();
    create["request"]["namespace"] = FORGED.into();
    create["request"]["name"] = FORGED.into();
    create["request"]["object"]["metadata"]["name"] = FORGED.into();
    let mut malformed = create.clone();
    malformed["request"]["uid"] = "malformed".into();
    malformed["request"]["object"]["spec"]["clusterLabelSelectors"] =
        serde_json::json!([{ "matchLabels": { FORGED: 5 } }]);
    let mut not_a_review = create.clone();
    not_a_review["request"]["operation"] = FORGED.into();
    let mut said = Vec::new();
    for (path, body) in [
        ("/mutate", &create),
        ("/validate", &malformed),
        ("/validate", &not_a_review),
    ] {
        let a = client
            .post_json(path, &serde_json::to_vec(body).expect("json"))
            .await
            .expect("answer");
        said.push(a.json());
    }
    assert_eq!(
        said[2]["error"]
            .as_str()
            .map(|e| e.contains("unknown variant")),
        Some(true)
    );

    // Every line the server wrote since is one whole line of its own.
    let mut logged = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    let done = |logged: &[String]| {
        logged
            .iter()
            .filter(|l| l.contains("INFO ibgu_webhook::server::routes: admission "))
            .count()
            >= 2
            && logged.iter().any(|l| l.contains("refused a body"))
    };
    while !done(&logged) && Instant::now() < until {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            logged.push(line);
        }
    }
    kill(child);
    for line in &logged {
        assert!(
            line.starts_with("20"),
            "a line not started by the server: {line:?}"
        );
        assert!(
            !line.contains(['\r', '\x1b']),
            "a raw control character: {line:?}"
        );
    }
    let admissions: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("INFO ibgu_webhook::server::routes: admission "))
        .collect();
    assert_eq!(admissions.len(), 2, "one line per admission: {logged:#?}");
    let (created, refused_object) = (admissions[0], admissions[1]);
    assert_eq!(field(created, "uid").as_deref(), Some(uid), "{created}");
    assert_eq!(
        field(created, "namespace").as_deref(),
        Some(FORGED),
        "{created}"
    );
    assert_eq!(field(created, "name").as_deref(), Some(FORGED), "{created}");
    let annotations = &said[0]["response"]["auditAnnotations"];
    for key in ["decision", "denied", "warned", "patch"] {
        assert_eq!(
            field(created, key).unwrap_or_default(),
            annotations[key].as_str().unwrap_or(""),
            "{key} in {created}"
        );
    }
    let denied = field(refused_object, "denied").expect("denied");
    assert!(denied.contains(FORGED), "{denied:?}");
    assert_eq!(
        denied,
        said[1]["response"]["auditAnnotations"]["denied"]
            .as_str()
            .unwrap_or("")
    );
    let warned: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("refused a body"))
        .collect();
    assert_eq!(warned.len(), 1, "{logged:#?}");
    let error = field(warned[0], "error").expect("error");
    assert_eq!(
        Some(error.as_str()),
        said[2]["error"].as_str(),
        "{}",
        warned[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_dropped_while_stderr_stalls_are_counted_and_said() {
    let dir = scratch("stalled");
    let ca = std::fs::read_to_string(dir.join("ca.crt")).expect("ca");
    let mut child = serve(&dir, "json");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // Read up to the line naming the addresses, then nothing: the pipe fills, the
    // writer blocks, its queue fills.
    let (addr, metrics) = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("read") > 0,
            "server exited"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let (Some(a), Some(m)) = (v["addr"].as_str(), v["metrics"].as_str()) {
            break (
                a.parse::<SocketAddr>().expect("addr"),
                m.parse::<SocketAddr>().expect("metrics"),
            );
        }
    };
    let client = Client::new(addr, &[&ca], Proto::H1);
    let body = fixture("validate-rule1-doc-example-allowed");
    // 12,000 admissions, as the issue sent: more than the 8,192 lines the queue holds
    // plus what the pipe and the writer's buffer take.
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, body) = (client.clone(), body.clone());
            tokio::spawn(async move {
                let mut conn = client.connect().await.expect("connect");
                let mut ok = 0;
                for _ in 0..1_500 {
                    let a = conn
                        .send("POST", "/validate", Some("application/json"), body.clone())
                        .await
                        .expect("answer");
                    ok += usize::from(a.status == 200);
                }
                ok
            })
        })
        .collect();
    let mut answered = 0;
    for w in workers {
        answered += w.await.expect("worker");
    }
    assert_eq!(answered, 12_000, "a stalled log never costs an answer");
    let scrape = |metrics| async move {
        let tcp = tokio::net::TcpStream::connect(metrics)
            .await
            .expect("metrics");
        let text = support::raw_get(tcp, "/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix("ibgu_webhook_log_lines_dropped_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .expect("the counter")
    };
    let dropped = scrape(metrics).await;
    assert!(dropped >= 1_000, "only {dropped} lines counted as dropped");

    // Stderr flows again: the writer catches up, and says what it lost.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            rest.push_str(&String::from_utf8_lossy(&buf[..n]));
            while let Some(i) = rest.find('\n') {
                let _ = tx.send(rest[..i].to_owned());
                rest.drain(..=i);
            }
        }
    });
    let until = Instant::now() + Duration::from_secs(10);
    let said = loop {
        assert!(Instant::now() < until, "no line said how many were dropped");
        let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("log lines dropped"))
        {
            break v;
        }
    };
    let total = said["dropped_total"].as_u64().expect("dropped_total");
    assert!(total >= dropped, "said {total}, counted {dropped} before");
    assert_eq!(
        said["dropped"].as_u64(),
        Some(total),
        "the first report counts them all"
    );
    kill(child);
    eprintln!(
        "logs: 12,000 admissions with stderr stalled: {dropped} lines dropped and counted, \
         {total} said once stderr flowed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
