//! `check` as the whole pre-merge gate, run as a pipeline runs it: the CRD's structural
//! schema, object metadata and the webhook's rules, every finding located in its file.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

#[path = "support/command.rs"]
mod command;
use command::{bin, run};
#[path = "support/flow.rs"]
mod flow;
use flow::{FLOW, SEED, manifest};

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
                ("mutating", "spec.ibuSpec.seedImageRef.pullSecretRef.name"),
                ("metadata", "metadata.name"),
            ],
        ),
        (
            "named.yaml",
            &[("mutating", "spec.ibuSpec.seedImageRef.pullSecretRef.name")],
        ),
        (
            "first-api.yaml",
            &[
                ("decoding", "spec.actions"),
                ("mutating", "spec.plan"),
                ("schema", "spec.plan"),
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
            ("mutating", "spec.plan[1].actions", 39, 5),
            (
                "mutating",
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

/// The same object as `kubectl get ibgu -o yaml` prints it: what the apiserver writes on
/// every stored object, and TALM's status.
fn stored(steps: &[&str], status: &str) -> String {
    let text = manifest(SEED, steps).replacen(
        "metadata:\n",
        "metadata:\n  creationTimestamp: \"2026-11-20T10:00:00Z\"\n  generation: 1\n  resourceVersion: \"48213\"\n  uid: 6b1f0a52-3c4d-4e8f-9a10-2b3c4d5e6f70\n",
        1,
    );
    format!("{text}{status}")
}

/// Prep running on spoke1, as TALM writes it.
const PREP_RUNNING: &str = "status:
  clusters:
  - currentAction: {action: Prep}
    name: spoke1
  conditions:
  - {type: Progressing, status: \"True\", reason: InProgress, message: Plan step 0 is in progress}
  observedGeneration: 1
";

const LEFT_TO_HUB: &str =
    "left to the hub: validating rules 4, 5, 7 and 13 read TALM's live status";

/// `check NEW --old OLD [extra...]`, both written as scratch files: the exit code, the
/// text report, and the JSON report.
fn update(name: &str, new: &str, old: &str, extra: &[&str]) -> (Option<i32>, String, Value) {
    let new = scratch(&format!("{name}-new.yaml"), new);
    let old = scratch(&format!("{name}-old.yaml"), old);
    let mut args = vec![new.as_str(), "--old", old.as_str()];
    args.extend_from_slice(extra);
    let out = check(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, report) = json(&args);
    assert_eq!(
        code,
        out.status.code(),
        "text and JSON agree on the exit code"
    );
    (out.status.code(), text, report)
}

#[test]
fn each_append_of_the_documented_flow_passes_against_the_previous_manifest() {
    for k in 1..FLOW.len() {
        let (old, new) = (manifest(SEED, &FLOW[..k]), manifest(SEED, &FLOW[..=k]));
        let (code, text, report) = update(&format!("flow-{k}"), &new, &old, &[]);
        assert_eq!(code, Some(0), "step {k}:\n{text}");
        assert!(text.contains("(UPDATE): allowed"), "step {k}:\n{text}");
        assert_eq!(text.matches(LEFT_TO_HUB).count(), 1, "said once:\n{text}");
        let object = &report["objects"][0];
        assert_eq!(object["old"], "manifest", "step {k}");
        assert_eq!(
            object["unjudged"],
            serde_json::json!([
                "validating rule 4",
                "validating rule 5",
                "validating rule 7",
                "validating rule 13"
            ])
        );
        let note = report["left_to_hub"].as_str().expect("left_to_hub");
        assert!(note.starts_with(LEFT_TO_HUB), "{note}");
        assert!(
            note.contains("--old <(kubectl get ibgu upgrade-4-20 -n ztp-group -o yaml)")
                && note.contains("ibgu-webhook next"),
            "{note}"
        );
    }
    // A re-apply of the same manifest (a sync of an unchanged commit) passes too.
    let same = manifest(SEED, &FLOW);
    let (code, text, _) = update("flow-same", &same, &same, &[]);
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn bad_commits_are_stopped_with_the_old_manifest() {
    let zero = "{actions: [AbortOnFailure], rolloutStrategy: {maxConcurrency: 0, timeout: 30}}";
    let rollback = "{actions: [Rollback], rolloutStrategy: {maxConcurrency: 2, timeout: 30}}";
    let cases: [(&str, String, String, &str); 4] = [
        (
            "a step removed",
            manifest(SEED, &FLOW[..3]),
            manifest(SEED, &[FLOW[0], FLOW[2]]),
            "spec.plan[2]: Forbidden: steps cannot be removed from an ongoing plan: it had 3 steps, now 2",
        ),
        (
            "the seed image changed",
            manifest(SEED, &FLOW[..1]),
            manifest("quay.io/seed/image:4.20.1", &FLOW[..2]),
            "spec.ibuSpec: Forbidden: field is immutable: seedImageRef.image changed",
        ),
        (
            "Rollback appended after FinalizeUpgrade",
            manifest(SEED, &FLOW),
            manifest(SEED, &[&FLOW[..], &[rollback]].concat()),
            "spec.plan[5].actions: Unsupported value: [\"Rollback\"]",
        ),
        (
            "maxConcurrency 0",
            manifest(SEED, &FLOW[..1]),
            manifest(SEED, &[FLOW[0], zero]),
            "spec.plan[1].rolloutStrategy.maxConcurrency: Invalid value: 0: must be greater than or equal to 1",
        ),
    ];
    for (i, (what, old, new, says)) in cases.iter().enumerate() {
        let (code, text, report) = update(&format!("bad-{i}"), new, old, &[]);
        assert_eq!(code, Some(1), "{what}:\n{text}");
        assert!(text.contains("(UPDATE): DENIED"), "{what}:\n{text}");
        assert!(text.contains(says), "{what}: missing {says:?} in:\n{text}");
        assert_eq!(report["objects"][0]["old"], "manifest", "{what}");
        // What stops it is what git can tell, never the missing status.
        assert!(!text.contains("no status yet"), "{what}:\n{text}");
    }
}

#[test]
fn an_old_object_as_stored_keeps_every_rule() {
    let new = manifest(SEED, &FLOW[..2]);
    // As `kubectl get -o yaml` prints it while Prep runs: rule 4 refuses the append.
    let running = stored(&FLOW[..1], PREP_RUNNING);
    let (code, text, report) = update("stored-running", &new, &running, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("spec.plan[1]: Forbidden: steps can be added only once earlier steps have completed or failed: 1 cluster(s) still running an action: spoke1 (Prep) [validating rule 4]"),
        "{text}"
    );
    assert!(!text.contains("left to the hub"), "{text}");
    assert_eq!(report["objects"][0]["old"], "stored");
    assert!(report["objects"][0].get("unjudged").is_none(), "{report}");
    assert!(report.get("left_to_hub").is_none(), "{report}");
    // Stored, before TALM wrote any status: that refusal, from the stored object.
    let (code, text, _) = update("stored-no-status", &new, &stored(&FLOW[..1], ""), &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("the stored object has no status yet"),
        "{text}"
    );
    // --old-as forces either reading.
    let (code, text, report) = update(
        "as-stored",
        &new,
        &manifest(SEED, &FLOW[..1]),
        &["--old-as", "stored"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("the stored object has no status yet; try again once TALM has written it [validating rule 4]"), "{text}");
    assert_eq!(report["objects"][0]["old"], "stored");
    let (code, text, report) = update("as-manifest", &new, &running, &["--old-as", "manifest"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.matches(LEFT_TO_HUB).count(), 1, "{text}");
    assert_eq!(report["objects"][0]["old"], "manifest");
    // The default reads each old document as what it is.
    let (code, text, _) = update("as-auto", &new, &running, &["--old-as", "auto"]);
    assert_eq!(code, Some(1), "{text}");
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

/// An IBGU manifest whose rollout strategy is written `strategy` (YAML flow).
fn with_strategy(head: &str, strategy: &str) -> String {
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
        let file = scratch(&format!("numbers-{i}.yaml"), &with_strategy(HEAD, strategy));
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
    let file = scratch("half.yaml", &with_strategy(HEAD, "{maxConcurrency: 1.5}"));
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
    let text =
        with_strategy(HEAD, "{maxConcurrency: 1}").replace("version: 4.20.0", "version: yes");
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
            "one-letter-case",
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImagebasedGroupUpgrade\n".into(),
            "kind",
            mapping("lcm.openshift.io/v1alpha1", "ImagebasedGroupUpgrade"),
            2,
        ),
        (
            "trailing-blank",
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: 'ImageBasedGroupUpgrade '\n".into(),
            "kind",
            mapping("lcm.openshift.io/v1alpha1", "ImageBasedGroupUpgrade "),
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
            &with_strategy(&head, "{maxConcurrency: 1}"),
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
    // The kind all in lower case is mapped by kubectl and admitted: checked as an IBGU.
    let file = scratch(
        "lower-case-kind.yaml",
        &with_strategy(
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: imagebasedgroupupgrade\n",
            "{maxConcurrency: 0}",
        ),
    );
    let (code, report) = json(&[&file]);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(
        report["objects"][0]["errors"][0]["field"], "spec.plan[0].rolloutStrategy.maxConcurrency",
        "{report}"
    );
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
    let listed: String = with_strategy(HEAD, "{maxConcurrency: 1}")
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
            &format!("{head}{}", with_strategy(HEAD, "{maxConcurrency: 1}")),
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
    let text = with_strategy(HEAD, "\n      maxConcurrency: 2\n      maxConcurrency: 0");
    let (code, report) = json(&[&scratch("duplicate.yaml", &text)]);
    assert_eq!(code, Some(1));
    assert_eq!(
        errors(&report, 0),
        owned(&[(
            "mutating",
            "spec.plan[0].rolloutStrategy.maxConcurrency",
            11,
            7
        )])
    );
    let text = with_strategy(HEAD, "\n      maxConcurrency: 0\n      maxConcurrency: 2");
    let (code, _) = json(&[&scratch("duplicate-ok.yaml", &text)]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_document_kubectl_cannot_decode_stops_the_file() {
    for (i, (text, what, line)) in [
        ("a: 1\n---\njust a string\n", "string", 3),
        ("42\n", "number", 1),
        ("- {kind: ConfigMap, apiVersion: v1}\n", "array", 1),
    ]
    .into_iter()
    .enumerate()
    {
        let file = scratch(&format!("undecodable-{i}.yaml"), text);
        let out = check(&[&file]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{file}: line {line}: unable to decode \"{file}\": json: cannot unmarshal {what} \
                 into Go value of type unstructured.detector"
            )),
            "{what}: {stderr}"
        );
    }
}
