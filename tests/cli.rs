//! The `review` and `check` commands, run as a user or a pipeline would run them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rustls::pki_types::pem::PemObject;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ibgu-webhook"))
}

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("IBGU_SEED_PULL_SECRET")
        .env_remove("IBGU_DEFAULT_MAX_CONCURRENCY")
        .spawn()
        .expect("spawn ibgu-webhook");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn review_answers_a_denial_with_exit_0() {
    let out = run(
        bin().args(["review", "--mode", "validate"]).arg(root(
            "tests/fixtures/validate-rule2-prep-then-rollback-denied/review.json",
        )),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["status"]["code"], 403);
}

#[test]
fn review_reads_stdin_and_takes_policy_flags() {
    let body = std::fs::read(root(
        "tests/fixtures/mutate-rule2-inject-seed-pull-secret/review.json",
    ))
    .expect("fixture");
    let out = run(
        bin().args([
            "review",
            "--mode",
            "mutate",
            "--seed-pull-secret",
            "seed-pull-secret",
        ]),
        Some(&body),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    assert_eq!(v["response"]["patchType"], "JSONPatch");
    assert!(v["response"]["patch"].is_string());
    // Without the flag nothing is injected.
    let out = run(bin().args(["review", "--mode", "mutate", "-"]), Some(&body));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    assert!(v["response"]["patch"].is_null(), "{v}");
}

#[test]
fn review_refuses_what_is_not_an_admission_review() {
    for input in [&b"{not json"[..], b"{\"kind\":\"Pod\"}", b"", b"\xff\xfe"] {
        let out = run(bin().args(["review", "--mode", "validate"]), Some(input));
        assert_eq!(out.status.code(), Some(2), "input {input:?}");
        assert!(out.stdout.is_empty());
        assert!(
            text(&out.stderr).starts_with("ibgu-webhook: error: "),
            "{}",
            text(&out.stderr)
        );
    }
    let out = run(
        bin().args(["review", "--mode", "validate", "/nonexistent/review.json"]),
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("reading /nonexistent/review.json"));
    let out = run(bin().args(["review", "--mode", "judge"]), None);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

#[test]
fn check_passes_a_good_manifest_and_skips_other_kinds() {
    let out = run(
        bin()
            .arg("check")
            .arg(root("examples/manifests/ibgu-upgrade.yaml")),
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "document 1: ImageBasedGroupUpgrade ztp-group/upgrade-4-20 (CREATE): allowed"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 checked, 0 denied, 1 other documents skipped"),
        "{stdout}"
    );
}

#[test]
fn check_with_old_applies_update_rules_and_exits_1() {
    let out = run(
        bin()
            .arg("check")
            .arg(root("examples/manifests/ibgu-upgrade-edited.yaml"))
            .arg("--old")
            .arg(root("examples/manifests/ibgu-upgrade.yaml")),
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for want in [
        "(UPDATE): DENIED",
        "error: spec.plan[0].rolloutStrategy: Forbidden: the rollout strategy of an ongoing plan's step cannot change",
        "error: spec.plan[1].actions: Unsupported value: [\"Rollback\"]: after [Prep, Upgrade] a step may be [FinalizeUpgrade], [AbortOnFailure]",
        "error: spec.ibuSpec: Forbidden: field is immutable: seedImageRef.image changed",
        "warning: spec.plan[1].rolloutStrategy: defaulted maxConcurrency 100 (step 0), timeout 240",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // Without --old the same manifest is a CREATE: only the combination is wrong.
    let out = run(
        bin()
            .arg("check")
            .arg(root("examples/manifests/ibgu-upgrade-edited.yaml")),
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout.contains("(CREATE): DENIED") && !stdout.contains("immutable"),
        "{stdout}"
    );
}

#[test]
fn check_json_output_is_for_machines() {
    let yaml = std::fs::read(root("examples/manifests/ibgu-upgrade-edited.yaml")).expect("example");
    let out = run(bin().args(["check", "-", "--output", "json"]), Some(&yaml));
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let obj = &v["objects"][0];
    assert_eq!(obj["file"], "-");
    assert_eq!(obj["allowed"], false);
    assert_eq!(obj["errors"][0]["field"], "spec.plan[1].actions");
    assert_eq!(obj["errors"][0]["type"], "NotSupported");
    assert!(
        obj["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("spec.plan[1].actions: Unsupported value"))
    );
    assert_eq!(obj["patch"][0]["path"], "/spec/plan/1/rolloutStrategy");
}

#[test]
fn check_reports_unreadable_input_with_exit_2() {
    let out = run(bin().args(["check", "-"]), Some(b"a: [1, 2\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("-: invalid YAML"),
        "{}",
        text(&out.stderr)
    );
    let out = run(bin().args(["check", "-", "--old", "-"]), Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("stdin (-) can be read only once"));
    // A wrongly typed field is a denial naming its path, not a crash.
    let doc = b"apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: x}\nspec:\n  plan: [{actions: Prep}]\n";
    let out = run(bin().args(["check", "-"]), Some(doc));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("error: spec.plan[0].actions: Invalid value: invalid type: string \"Prep\", expected a sequence"), "{}", text(&out.stdout));
}

#[test]
fn hostile_input_gets_an_answer_or_a_clear_error_never_a_crash() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let review = |object: String| {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u",
            "kind":{{"group":"lcm.openshift.io","version":"v1alpha1","kind":"ImageBasedGroupUpgrade"}},
            "operation":"CREATE","object":{object}}}}}"#
        )
    };
    for (object, mode) in [
        // Deep nesting in a field the model keeps raw, in one it compares, and as the object.
        (
            format!(r#"{{"metadata":{{"x":{}}}}}"#, deep(100_000)),
            "validate",
        ),
        (
            format!(
                r#"{{"spec":{{"clusterLabelSelectors":{}}}}}"#,
                deep(100_000)
            ),
            "mutate",
        ),
        (deep(100_000), "validate"),
    ] {
        let out = run(
            bin().args(["review", "--mode", mode]),
            Some(review(object).as_bytes()),
        );
        assert!(out.status.code().is_some(), "killed by a signal");
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
            assert_eq!(v["response"]["uid"], "u");
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        }
    }
    // A root that is not an object is a denial without an empty path.
    let out = run(
        bin().args(["review", "--mode", "validate"]),
        Some(review("[1]".into()).as_bytes()),
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    let message = v["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.ends_with(
            r#""" is invalid: Invalid value: invalid type: sequence, expected an object"#
        ),
        "{message}"
    );
    // A YAML alias bomb and a deeply nested document are refused, not expanded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    for doc in [bomb, format!("spec: {{plan: {}}}\n", deep(100_000))] {
        let out = run(bin().args(["check", "-"]), Some(doc.as_bytes()));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("-: invalid YAML"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn certs_writes_a_ca_and_a_serving_pair_with_every_name() {
    let dir = std::env::temp_dir().join(format!("ibgu-certs-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(
        bin().args(["certs", "--out"]).arg(&dir).args([
            "--dns",
            "ibgu-webhook.ibgu-system.svc",
            "--dns",
            "ibgu-webhook",
            "--ip",
            "127.0.0.1",
            "--days",
            "7",
        ]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let read = |f: &str| std::fs::read(dir.join(f)).expect("file written");
    let (ca, cert, key) = (read("ca.crt"), read("tls.crt"), read("tls.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("tls.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
    }
    let loaded = ibgu_webhook::tls::LoadedCert::from_pem(&cert, &key).expect("a valid pair");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        (loaded.not_after() - now - 7 * 86_400).abs() < 3600,
        "valid 7 days"
    );
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&cert).expect("pem");
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).expect("x509");
    let san = format!(
        "{:?}",
        parsed
            .subject_alternative_name()
            .expect("ext")
            .expect("SAN")
            .value
    );
    for want in [
        "ibgu-webhook.ibgu-system.svc",
        "\"ibgu-webhook\"",
        "127.0.0.1",
    ] {
        assert!(
            san.contains(want) || san.contains(&want.replace('.', ", ")),
            "SAN lacks {want}: {san}"
        );
    }
    assert!(String::from_utf8_lossy(&ca).starts_with("-----BEGIN CERTIFICATE-----"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(bin().args(["certs", "--out"]).arg(&dir), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("at least one --dns name or --ip address"),
        "{}",
        text(&out.stderr)
    );
}
