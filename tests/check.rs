//! `check` as the whole pre-merge gate, run as a pipeline runs it: the CRD's structural
//! schema, object metadata and the webhook's rules, every finding located in its file.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

#[path = "support/command.rs"]
mod command;
use command::{bin, run};

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn check(args: &[&str]) -> Output {
    run(bin().arg("check").args(args), None)
}

fn json(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let out = check(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.code(), report)
}

/// A file written for one test, under cargo's scratch directory.
fn scratch(name: &str, text: &str) -> String {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write a scratch file");
    path.to_string_lossy().into_owned()
}

/// `(stage, field, line, column)` of each error of object `i`.
fn errors(report: &Value, i: usize) -> Vec<(String, String, u64, u64)> {
    report["objects"][i]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            let at = |k: &str| e["position"][k].as_u64().unwrap_or(0);
            let s = |k: &str| e[k].as_str().unwrap_or("").to_owned();
            (s("stage"), s("field"), at("line"), at("column"))
        })
        .collect()
}

/// Asserts that `check FILE`'s text report has a finding at `line` (`line:column: ...`).
fn text_has(file: &str, line: &str) {
    let out = check(&[file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("{file}:{line}")), "{text}");
}

fn owned(v: &[(&str, &str, u64, u64)]) -> Vec<(String, String, u64, u64)> {
    v.iter()
        .map(|(s, f, l, c)| ((*s).to_owned(), (*f).to_owned(), *l, *c))
        .collect()
}

#[test]
fn the_docs_examples_get_the_apiservers_verdict() {
    // The end-to-end test puts the same files to a real kube-apiserver with the webhook.
    let cases: [(&str, &[(&str, &str)]); 7] = [
        (
            "published.yaml",
            &[
                ("metadata", "metadata.name"),
                ("validating", "spec.ibuSpec.seedImageRef.pullSecretRef.name"),
            ],
        ),
        (
            "named.yaml",
            &[("validating", "spec.ibuSpec.seedImageRef.pullSecretRef.name")],
        ),
        (
            "first-api.yaml",
            &[
                ("decoding", "spec.actions"),
                ("schema", "spec.plan"),
                ("validating", "spec.plan"),
            ],
        ),
        ("filled.yaml", &[]),
        ("plan-a.yaml", &[]),
        ("plan-b.yaml", &[]),
        ("plan-c.yaml", &[]),
    ];
    for (file, want) in cases {
        let path = root("tests/data/docs-examples").join(file);
        let (code, report) = json(&[&path.to_string_lossy()]);
        let got: Vec<(String, String)> = errors(&report, 0)
            .into_iter()
            .map(|(s, f, ..)| (s, f))
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(s, f)| ((*s).to_owned(), (*f).to_owned()))
            .collect();
        assert_eq!(got, want, "{file}");
        assert_eq!(code, Some(if want.is_empty() { 0 } else { 1 }), "{file}");
    }
    text_has(
        &root("tests/data/docs-examples/first-api.yaml").to_string_lossy(),
        "27:3: error: strict decoding error: unknown field \"spec.actions\" [decoding]",
    );
}

#[test]
fn findings_carry_line_and_column_in_multi_document_files_and_lists() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: v1
kind: List
items:
- apiVersion: lcm.openshift.io/v1alpha1
  kind: ImageBasedGroupUpgrade
  metadata: {name: good, namespace: ztp}
  spec:
    ibuSpec: {seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}}
    plan:
    - actions: [Prep, Upgrade, FinalizeUpgrade]
      rolloutStrategy: {maxConcurrency: 10}
- apiVersion: lcm.openshift.io/v1alpha1
  kind: ImageBasedGroupUpgrade
  metadata:
    name: Bad_Name
    namespace: ztp
  spec:
    ibuSpec:
      seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}
    plan:
    - actions: [Prep]
      rolloutStrategy:
        maxConcurrency: ten
        batchSize: 5
---
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata: {name: third, namespace: ztp}
spec:
  ibuSpec:
    seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}
  plan:
  - actions: [Prep]
    rolloutStrategy: {maxConcurrency: 0}
  - actions: [Rollback]
";
    let file = scratch("located.yaml", text);
    let (code, report) = json(&[&file]);
    assert_eq!(code, Some(1));
    assert_eq!(report["skipped"], 1);
    let documents: Vec<u64> = report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["document"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(documents, [2, 3, 4]);
    assert_eq!(errors(&report, 0), []);
    assert_eq!(
        errors(&report, 1),
        owned(&[
            ("decoding", "spec.plan[0].rolloutStrategy.batchSize", 28, 9),
            (
                "schema",
                "spec.plan[0].rolloutStrategy.maxConcurrency",
                27,
                9
            ),
            ("metadata", "metadata.name", 19, 5),
        ])
    );
    let third = errors(&report, 2);
    assert_eq!(
        third,
        owned(&[
            ("validating", "spec.plan[1].actions", 39, 5),
            (
                "validating",
                "spec.plan[0].rolloutStrategy.maxConcurrency",
                38,
                23
            ),
        ])
    );
    // The text report leads each finding with file:line:column, as compilers do.
    text_has(
        &file,
        "19:5: error: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain",
    );
}

#[test]
fn the_hubs_crd_given_with_crd_changes_the_verdict() {
    let plan_a = root("tests/data/docs-examples/plan-a.yaml");
    let plan_a = plan_a.to_string_lossy();
    let (code, _) = json(&[&plan_a]);
    assert_eq!(code, Some(0), "allowed under the vendored CRD");
    // A hub whose CRD caps maxConcurrency at 100 refuses the docs' 200.
    let vendored = std::fs::read_to_string(root("tests/data/upstream/ibgu-crd.yaml"))
        .expect("the vendored CRD");
    let capped = vendored.replacen(
        "maxConcurrency:\n                          type: integer",
        "maxConcurrency:\n                          maximum: 100\n                          type: integer",
        1,
    );
    assert_ne!(capped, vendored, "the CRD's maxConcurrency schema moved");
    let crd = scratch("capped-crd.yaml", &capped);
    let (code, report) = json(&["--crd", &crd, &plan_a]);
    assert_eq!(code, Some(1));
    let e = &report["objects"][0]["errors"][0];
    assert_eq!(e["stage"], "schema");
    assert_eq!(
        e["message"],
        "spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: 200: \
         spec.plan[0].rolloutStrategy.maxConcurrency in body should be less than or equal to 100"
    );
    assert_eq!(e["position"]["line"], 30);
    // A CRD that is not this one, or no CRD at all, is a clear error (exit 2).
    let other = scratch(
        "other-crd.yaml",
        "kind: CustomResourceDefinition\nmetadata: {name: x.example.com}\n",
    );
    for (crd, says) in [
        (
            other.as_str(),
            "not the imagebasedgroupupgrades.lcm.openshift.io CRD",
        ),
        ("/nonexistent/crd.yaml", "reading /nonexistent/crd.yaml"),
    ] {
        let out = check(&["--crd", crd, &plan_a]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn object_metadata_as_the_apiserver_validates_it() {
    let text = "\
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
  name: upgrade
  namespace: ztp
  labels:
    app.kubernetes.io/name: ibgu
    du-profile: \"4.20 GA\"
  annotations:
    Example.COM/Key: fine
    bad key: x
  ownerReferences:
  - {apiVersion: v1, kind: ConfigMap, name: a, uid: \"1\", controller: true}
  - {apiVersion: v1, kind: Secret, name: b, controller: true}
  finalizers: [lcm.openshift.io/ibgu, cleanup, orphan, foregroundDeletion]
spec:
  ibuSpec:
    seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}
  plan:
  - actions: [Prep]
    rolloutStrategy: {maxConcurrency: 5, timeout: 60}
";
    let file = scratch("object-meta.yaml", text);
    let (code, report) = json(&[&file]);
    assert_eq!(code, Some(1), "{report}");
    // In the apiserver's order: labels, annotations, owner references, finalizers.
    assert_eq!(
        errors(&report, 0),
        owned(&[
            ("metadata", "metadata.labels", 6, 3),
            ("metadata", "metadata.annotations", 9, 3),
            ("metadata", "metadata.ownerReferences.uid", 12, 3),
            ("metadata", "metadata.ownerReferences", 12, 3),
            ("metadata", "metadata.finalizers", 15, 3),
        ])
    );
    let messages: Vec<&str> = report["objects"][0]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["message"].as_str().unwrap_or(""))
        .collect();
    assert!(
        messages[0].starts_with(
            "metadata.labels: Invalid value: \"4.20 GA\": a valid label must be an empty string"
        ),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with(
            "metadata.annotations: Invalid value: \"bad key\": name part must consist of"
        ),
        "{messages:?}"
    );
    assert_eq!(
        messages[2],
        "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"
    );
    assert!(
        messages[3].ends_with(
            "Only one reference can have Controller set to true. Found \"true\" in references \
             for ConfigMap/a and Secret/b"
        ),
        "{messages:?}"
    );
    assert_eq!(
        messages[4],
        "metadata.finalizers: Invalid value: \
         [\"lcm.openshift.io/ibgu\",\"cleanup\",\"orphan\",\"foregroundDeletion\"]: \
         finalizer orphan and foregroundDeletion cannot be both set"
    );
    // A finalizer without a domain is the apiserver's warning, not an error.
    let warnings: Vec<&str> = report["objects"][0]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["stage"] == "metadata")
        .map(|w| w["message"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        warnings,
        [
            "metadata.finalizers: \"cleanup\": prefer a domain-qualified finalizer name to avoid \
          accidental conflicts with other finalizer writers"
        ]
    );
    // The text report points each at its line.
    text_has(
        &file,
        "12:3: error: metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty [object metadata]",
    );
}
