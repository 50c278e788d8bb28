//! The `review` and `check` commands, run as a user or a pipeline would run them.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rustls::pki_types::pem::PemObject;
use serde_json::Value;

#[path = "support/command.rs"]
mod command;
use command::{bin, run, text};

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
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
    // A wrongly typed field is a denial naming its path in the apiserver's words, not a crash.
    let doc = b"apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: x}\nspec:\n  plan: [{actions: Prep}]\n";
    let out = run(bin().args(["check", "-"]), Some(doc));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains(
            "error: spec.plan[0].actions: Invalid value: \"string\": spec.plan[0].actions in body must be of type array: \"string\" [CRD schema]"
        ),
        "{}",
        text(&out.stdout)
    );
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
        message.ends_with(r#""" is invalid: Invalid value: must be of type object, not array"#),
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
    let loaded =
        ibgu_webhook::server::tls::LoadedCert::from_pem(&cert, &key).expect("a valid pair");
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

/// Every environment variable `serve` reads, as its help lists them.
fn serve_env_names() -> Vec<String> {
    let out = run(bin().args(["serve", "--help"]), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    let names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|s| s.split_once('=').map(|(name, _)| name.to_owned()))
        .collect();
    assert!(
        names.len() >= 15,
        "too few variables in the help: {names:?}"
    );
    assert!(
        help.contains("An empty value means the option is not set"),
        "{help}"
    );
    names
}

#[test]
fn empty_variables_mean_not_set_on_every_command() {
    let names = serve_env_names();
    let body = std::fs::read(root(
        "tests/fixtures/mutate-rule1-default-whole-strategy/review.json",
    ))
    .expect("fixture");
    let mut review = bin();
    review.args(["review", "--mode", "mutate"]);
    let mut serve = bin();
    // The two addresses as flags (a free port each); every other setting empty.
    serve.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    for name in &names {
        review.env(name, "");
        serve.env(name, "");
    }
    let out = run(&mut review, Some(&body));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON response");
    let warnings = v["response"]["warnings"].to_string();
    assert!(
        warnings.contains("defaulted maxConcurrency 10 (server default), timeout 240"),
        "{v}"
    );

    let mut child = serve
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let serving = loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap_or(0) == 0 {
            break false;
        }
        seen.push_str(&line);
        if line.contains("serving HTTPS") {
            break true;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        serving,
        "serve with {} empty variables: {seen}",
        names.len()
    );
}

#[test]
fn a_bad_variable_is_one_line_naming_it() {
    let cases: &[(&str, &str, &str)] = &[
        ("IBGU_DEFAULT_MAX_CONCURRENCY", "ten", "invalid digit"),
        ("IBGU_DEFAULT_MAX_CONCURRENCY", "0", "0 is not in 1.."),
        ("IBGU_REQUIRE_PULL_SECRET", "maybe", "not a boolean"),
        ("IBGU_LOG_FORMAT", "xml", "possible values: text, json"),
        ("IBGU_MAX_CONNECTIONS", "-1", "invalid"),
    ];
    for (name, value, why) in cases {
        let out = run(bin().arg("serve").env(name, value), None);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}={value}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}={value}: {err}");
        for fragment in [
            "ibgu-webhook: error: ",
            &format!("'{value}'"),
            &format!("(from {name})"),
            why,
        ] {
            assert!(
                err.contains(fragment),
                "{name}={value}: [{fragment}] in {err}"
            );
        }
    }
    // The same value as a flag is named as the flag.
    let out = run(
        bin().args(["serve", "--default-max-concurrency", "ten"]),
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("(from "), "{err}");
    // Boolean variables take the usual spellings.
    for value in ["1", "yes", "on", "true", "0", "no", "off", "false"] {
        let body = std::fs::read(root(
            "tests/fixtures/validate-rule2-prep-then-rollback-denied/review.json",
        ))
        .expect("fixture");
        let out = run(
            bin()
                .args(["review", "--mode", "validate"])
                .env("IBGU_REQUIRE_PULL_SECRET", value),
            Some(&body),
        );
        assert!(out.status.success(), "{value}: {}", text(&out.stderr));
    }
}

#[test]
fn startup_errors_are_one_line_with_each_cause_once() {
    let out = run(
        bin().args([
            "serve",
            "--tls-cert",
            "/nonexistent/tls.crt",
            "--tls-key",
            "/nonexistent/tls.key",
        ]),
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(
        err.trim(),
        "ibgu-webhook: error: loading the serving certificate: reading /nonexistent/tls.crt: \
         No such file or directory (os error 2)"
    );
    let out = run(bin().arg("serve").env("RUST_LOG", "info,x=loud"), None);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("ibgu-webhook: error: RUST_LOG=\"info,x=loud\" is not a log filter"),
        "{err}"
    );
    // In a pod a development certificate would be trusted by nothing: refused.
    let out = run(
        bin()
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .env("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        None,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no serving certificate: in a pod"), "{err}");
}

#[test]
fn a_development_certificate_in_a_pod_only_when_asked_for() {
    let dir = std::env::temp_dir().join(format!("ibgu-cli-dev-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ca = dir.join("ca.crt");
    let mut child = bin()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .arg("--dev-ca-out")
        .arg(&ca)
        .arg("--kubeconfig")
        .arg(root("tests/data/no-such-kubeconfig"))
        .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let status = child.wait().expect("wait");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    // Past the certificate (the CA was written) to the next setting, the kubeconfig.
    assert!(ca.exists(), "{err}");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("reading kubeconfig"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
