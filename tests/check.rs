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
    let out = check(&[&root("tests/data/docs-examples/first-api.yaml").to_string_lossy()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "first-api.yaml:27:3: error: strict decoding error: unknown field \"spec.actions\" [decoding]"
        ),
        "{text}"
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
    let out = check(&[&file]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{file}:19:5: error: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        )),
        "{text}"
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

/// An IBGU manifest whose rollout strategy is written `strategy` (YAML flow).
fn manifest(head: &str, strategy: &str) -> String {
    format!(
        "{head}metadata: {{name: u, namespace: ztp}}
spec:
  ibuSpec:
    seedImageRef: {{image: quay.io/s:4.20, version: 4.20.0}}
  plan:
  - actions: [Prep, Upgrade, FinalizeUpgrade]
    rolloutStrategy: {strategy}
"
    )
}

const HEAD: &str = "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\n";

#[test]
fn numbers_in_every_yaml_spelling_are_the_integers_kubectl_sends() {
    // kubectl reads YAML 1.1 (go-yaml v2) and sends a whole float as an integer; the
    // apiserver admits each of these where the schema wants an integer.
    for (i, strategy) in [
        "{maxConcurrency: 1.0, timeout: 60.0}",
        "{maxConcurrency: 5., timeout: 1e3}",
        "{maxConcurrency: !!float 5, timeout: 6E1}",
        "{maxConcurrency: 010, timeout: 0777}",
        "{maxConcurrency: 08, timeout: 0_1}",
        "{maxConcurrency: 0x0A, timeout: 1_000}",
        "{maxConcurrency: +2, timeout: 0b1111}",
    ]
    .into_iter()
    .enumerate()
    {
        let file = scratch(&format!("numbers-{i}.yaml"), &manifest(HEAD, strategy));
        let (code, report) = json(&[&file]);
        assert_eq!(errors(&report, 0), [], "{strategy}");
        assert_eq!(code, Some(0), "{strategy}");
    }
    let file = scratch(
        "numbers.json",
        r#"{"apiVersion": "lcm.openshift.io/v1alpha1", "kind": "ImageBasedGroupUpgrade",
 "metadata": {"name": "u", "namespace": "ztp"},
 "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}},
  "plan": [{"actions": ["Prep", "Upgrade", "FinalizeUpgrade"],
   "rolloutStrategy": {"maxConcurrency": 1.0, "timeout": 6e1}}]}}"#,
    );
    let (code, report) = json(&[&file]);
    assert_eq!((code, errors(&report, 0)), (Some(0), vec![]));
    // Not whole: still a float, refused where the schema wants an integer.
    let file = scratch("half.yaml", &manifest(HEAD, "{maxConcurrency: 1.5}"));
    let (code, report) = json(&[&file]);
    assert_eq!(code, Some(1));
    assert_eq!(
        errors(&report, 0),
        owned(&[(
            "schema",
            "spec.plan[0].rolloutStrategy.maxConcurrency",
            9,
            23
        )])
    );
}

#[test]
fn yaml_1_1_booleans_are_booleans_where_a_string_is_wanted() {
    let text = manifest(HEAD, "{maxConcurrency: 1}").replace("version: 4.20.0", "version: yes");
    let (code, report) = json(&[&scratch("yes.yaml", &text)]);
    assert_eq!(code, Some(1));
    let e = &report["objects"][0]["errors"][0];
    assert_eq!(e["stage"], "schema");
    assert_eq!(
        e["message"],
        "spec.ibuSpec.seedImageRef.version: Invalid value: \"boolean\": \
         spec.ibuSpec.seedImageRef.version in body must be of type string: \"boolean\""
    );
    assert_eq!(
        (
            e["position"]["line"].as_u64(),
            e["position"]["column"].as_u64()
        ),
        (Some(6), Some(43))
    );
    // Quoted, it is the string it looks like.
    let quoted = text.replace("version: yes", "version: \"yes\"");
    let (code, _) = json(&[&scratch("yes-quoted.yaml", &quoted)]);
    assert_eq!(code, Some(0));
}

#[test]
fn look_alikes_are_denied_in_kubectls_words_at_their_line() {
    let mapping = |gv: &str, kind: &str| {
        format!(
            "resource mapping not found for name: \"u\" namespace: \"ztp\" from \"{{file}}\": \
             no matches for kind \"{kind}\" in version \"{gv}\"; ensure CRDs are installed first"
        )
    };
    let cases: Vec<(&str, String, &str, String, u64)> = vec![
        (
            "v1alpha2",
            "apiVersion: lcm.openshift.io/v1alpha2\nkind: ImageBasedGroupUpgrade\n".into(),
            "apiVersion",
            mapping("lcm.openshift.io/v1alpha2", "ImageBasedGroupUpgrade"),
            1,
        ),
        (
            "v1",
            "apiVersion: lcm.openshift.io/v1\nkind: ImageBasedGroupUpgrade\n".into(),
            "apiVersion",
            mapping("lcm.openshift.io/v1", "ImageBasedGroupUpgrade"),
            1,
        ),
        (
            "lca",
            "kind: ImageBasedGroupUpgrade\napiVersion: lca.openshift.io/v1alpha1\n".into(),
            "apiVersion",
            mapping("lca.openshift.io/v1alpha1", "ImageBasedGroupUpgrade"),
            2,
        ),
        (
            "lowercase",
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: imagebasedgroupupgrade\n".into(),
            "kind",
            mapping("lcm.openshift.io/v1alpha1", "imagebasedgroupupgrade"),
            2,
        ),
        (
            "plural",
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrades\n".into(),
            "kind",
            mapping("lcm.openshift.io/v1alpha1", "ImageBasedGroupUpgrades"),
            2,
        ),
        (
            "no-api-version",
            "kind: ImageBasedGroupUpgrade\n".into(),
            "kind",
            mapping("", "ImageBasedGroupUpgrade"),
            1,
        ),
    ];
    for (name, head, field, message, line) in cases {
        let file = scratch(
            &format!("look-alike-{name}.yaml"),
            &manifest(&head, "{maxConcurrency: 1}"),
        );
        let (code, report) = json(&[&file]);
        assert_eq!(code, Some(1), "{name}");
        assert_eq!(report["skipped"], 0, "{name}");
        let e = &report["objects"][0]["errors"][0];
        assert_eq!(e["stage"], "reading", "{name}");
        assert_eq!(e["field"], field, "{name}");
        assert_eq!(e["message"], message.replace("{file}", &file), "{name}");
        assert_eq!(
            (
                e["position"]["line"].as_u64(),
                e["position"]["column"].as_u64()
            ),
            (Some(line), Some(1)),
            "{name}"
        );
        assert_eq!(
            report["objects"][0]["errors"].as_array().map(Vec::len),
            Some(1),
            "{name}"
        );
    }
    // No kind: kubectl quotes the document as it would send it.
    let file = scratch(
        "look-alike-no-kind.yaml",
        "apiVersion: lcm.openshift.io/v1alpha1\nmetadata: {name: u}\nspec: {ibuSpec: {}}\n",
    );
    let out = check(&[&file]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "{file}:1:1: error: unable to decode \"{file}\": Object 'Kind' is missing in \
             '{{\"apiVersion\":\"lcm.openshift.io/v1alpha1\",\"metadata\":{{\"name\":\"u\"}},\"spec\":{{\"ibuSpec\":{{}}}}}}' [kubectl]"
        )),
        "{text}"
    );
    assert!(
        text.contains("1 checked, 1 denied, 0 other documents skipped"),
        "{text}"
    );
    // A top-level sequence of IBGUs, from stdin.
    let listed: String = manifest(HEAD, "{maxConcurrency: 1}")
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { "- " } else { "  " }))
        .collect();
    let out = run(
        bin().args(["check", "--output", "json", "-"]),
        Some(listed.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let e = &report["objects"][0]["errors"][0];
    assert_eq!(
        e["message"],
        "unable to decode \"STDIN\": json: cannot unmarshal array into Go value of type unstructured.detector"
    );
    assert_eq!(
        (
            e["field"].as_str(),
            e["position"]["line"].as_u64(),
            e["position"]["column"].as_u64()
        ),
        (Some("[0].kind"), Some(2), Some(3))
    );
    // Other kinds, a kustomization without a kind among them, are still skipped.
    let others = scratch(
        "others.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\nresources: [ibgu.yaml]\n---\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
    );
    let (code, report) = json(&[&others]);
    assert_eq!((code, report["skipped"].as_u64()), (Some(0), Some(3)));
}

#[test]
fn documents_kubectl_cannot_read_are_refused_and_the_last_duplicate_key_wins() {
    for (name, head) in [
        ("yaml", "%YAML 1.1\n---\n"),
        ("tag", "%TAG ! tag:example.com,2000:\n---\n"),
    ] {
        let file = scratch(
            &format!("directive-{name}.yaml"),
            &format!("{head}{}", manifest(HEAD, "{maxConcurrency: 1}")),
        );
        let out = check(&[&file]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{file}: invalid YAML: line 1 column 1: did not find expected <document start>"
            )),
            "{name}: {err}"
        );
    }
    // go-yaml v2 keeps the last of duplicate keys; the finding points at that one.
    let text = manifest(HEAD, "\n      maxConcurrency: 2\n      maxConcurrency: 0");
    let (code, report) = json(&[&scratch("duplicate.yaml", &text)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        errors(&report, 0),
        owned(&[(
            "validating",
            "spec.plan[0].rolloutStrategy.maxConcurrency",
            11,
            7
        )])
    );
    let text = manifest(HEAD, "\n      maxConcurrency: 0\n      maxConcurrency: 2");
    let (code, _) = json(&[&scratch("duplicate-ok.yaml", &text)]);
    assert_eq!(code, Some(0));
}
