//! Replays what the fuzz targets (`fuzz/`, run by `fuzz/run.sh`) check, without libFuzzer:
//! every input kept under `tests/data/fuzz-regressions/<target>/` goes through the same
//! invariants as in the target of that name (`tests/support/invariants.rs`). A crash the
//! fuzzer finds is fixed in the library and its input lands there, so it stays fixed.
//! The fixtures and example manifests (the fuzzers' seeds) go through them too, and the
//! invariant checks are shown to catch broken replies, so a check that passes everything
//! cannot hide here.

#[path = "support/invariants.rs"]
mod invariants;

use std::fs;
use std::path::{Path, PathBuf};

use ibgu_webhook::admission::{self, Endpoint, PatchType, Response};
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::Facts;
use ibgu_webhook::policy::patch::PatchBuilder;
use serde_json::json;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs one kept input through its target's invariants; `Ok(true)` when it got as far as
/// a decision (or a check report).
fn replay(target: &str, data: &[u8]) -> Result<bool, String> {
    match target {
        "admission" => invariants::check_admission(data),
        "admission_objects" => match invariants::review_of_objects(data) {
            Some(body) => invariants::check_admission(&body),
            None => Ok(false),
        },
        "check_yaml" => match std::str::from_utf8(data) {
            Ok(text) => invariants::check_manifest(text),
            Err(_) => Ok(false),
        },
        other => Err(format!("no fuzz target named {other}")),
    }
}

#[test]
fn every_kept_fuzz_input_holds_the_invariants() {
    let dir = root().join("tests/data/fuzz-regressions");
    let mut failures = Vec::new();
    for target in ["admission", "admission_objects", "check_yaml"] {
        let inputs = files(&dir.join(target));
        assert!(!inputs.is_empty(), "no kept inputs for {target}");
        let mut decided = 0;
        for path in inputs {
            let data = fs::read(&path).expect("readable");
            match replay(target, &data) {
                Ok(d) => decided += usize::from(d),
                Err(e) => failures.push(format!("{}: {e}", path.display())),
            }
        }
        assert!(decided > 0, "no kept {target} input reaches a decision");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_and_example_holds_the_invariants() {
    let mut reviews: Vec<PathBuf> = fs::read_dir(root().join("tests/fixtures"))
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path().join("review.json"))
        .collect();
    reviews.extend(
        files(&root().join("tests/data/bench"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json")),
    );
    reviews.sort();
    assert!(reviews.len() >= 50);
    for path in &reviews {
        let body = fs::read(path).expect("review");
        assert_eq!(
            invariants::check_admission(&body),
            Ok(true),
            "{}",
            path.display()
        );
        let review: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let request = &review["request"];
        if !request["object"].is_null() {
            let mut stream = serde_json::to_vec(&request["object"]).expect("json");
            if !request["oldObject"].is_null() {
                stream.push(b'\n');
                stream.extend(serde_json::to_vec(&request["oldObject"]).expect("json"));
            }
            let checked = replay("admission_objects", &stream);
            assert!(checked.is_ok(), "{}: {checked:?}", path.display());
        }
    }
    for path in files(&root().join("examples/manifests")) {
        let text = fs::read_to_string(&path).expect("manifest");
        assert_eq!(
            invariants::check_manifest(&text),
            Ok(true),
            "{}",
            path.display()
        );
    }
}

/// A CREATE's body and its JSON, for building broken replies to it.
fn create() -> (Vec<u8>, serde_json::Value) {
    let request = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u-1", "operation": "CREATE", "namespace": "ztp", "name": "u",
            "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
            "object": {"metadata": {"name": "u", "namespace": "ztp"},
                       "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}},
                                "plan": [{"actions": ["Prep"]}]}}
        }
    });
    let body = serde_json::to_vec(&request).expect("json");
    (body, request)
}

/// A reply to the CREATE with its uid replaced and a patch that adds `value` at `path`.
fn with_patch(uid: &str, path: [&str; 5], value: serde_json::Value) -> Response {
    let mut r = admission::review_body(
        &serde_json::to_vec(&create().1).expect("json"),
        Endpoint::Validate,
        &Config::default(),
        &Facts::Offline,
    )
    .expect("decided");
    r.uid = uid.to_owned();
    r.allowed = true;
    r.status = None;
    r.warnings.clear();
    let mut patch = PatchBuilder::new();
    patch.add(path, value);
    r.patch = Some(patch.build());
    r.patch_type = Some(PatchType::JsonPatch);
    r
}

#[test]
fn the_invariant_checks_catch_broken_replies() {
    let (body, request) = create();
    let admission = admission::parse(&body).expect("a CREATE");
    let config = Config::default();
    let hub = Facts::Offline;
    let fine = admission::review(&admission, Endpoint::Mutate, &config, &hub);
    assert!(fine.patch.is_some(), "the CREATE needs defaults");
    assert_eq!(
        invariants::check_response(&admission, &fine, Endpoint::Mutate),
        Ok(())
    );
    assert_eq!(
        invariants::check_patch(&request, &fine, &config, &hub),
        Ok(())
    );

    let path = ["spec", "plan", "0", "rolloutStrategy", "timeout"];
    // A patch on the validating endpoint; a uid that is not the request's.
    let patched = with_patch("u-1", path, json!(240));
    assert!(invariants::check_response(&admission, &patched, Endpoint::Validate).is_err());
    let other_uid = with_patch("u-2", path, json!(240));
    assert!(invariants::check_response(&admission, &other_uid, Endpoint::Mutate).is_err());
    for (patch, why) in [
        (
            r#"[{"op":"remove","path":"/spec/plan"}]"#,
            "does more than add",
        ),
        (
            r#"[{"op":"add","path":"/spec/nope/x","value":1}]"#,
            "does not apply",
        ),
        (
            r#"[{"op":"add","path":"/metadata/name","value":"v"}]"#,
            "removed or changed",
        ),
        (
            r#"[{"op":"add","path":"/spec/plan/0/rolloutStrategy","value":{"maxConcurrency":1}}]"#,
            "second mutation is not empty",
        ),
        ("[]", "empty patch"),
    ] {
        let err = invariants::check_patch_bytes(&request, patch.as_bytes(), &config, &hub)
            .expect_err(patch);
        assert!(err.contains(why), "{patch}: {err}");
    }
    assert!(invariants::kept(
        &json!({"a": [1, 2]}),
        &json!({"a": [1, 2], "b": 3})
    ));
    assert!(!invariants::kept(
        &json!({"a": [1, 2]}),
        &json!({"a": [1, 2, 3]})
    ));
    // A null member is unset: a default may replace it, but not remove it or change a
    // value beside it.
    assert!(invariants::kept(
        &json!({"a": null, "b": 1}),
        &json!({"a": 2, "b": 1})
    ));
    assert!(!invariants::kept(&json!({"a": null}), &json!({})));
    assert!(!invariants::kept(
        &json!({"a": null, "b": 1}),
        &json!({"a": 2, "b": 3})
    ));
    assert!(!invariants::kept(&json!([null]), &json!([1])));
    assert_eq!(invariants::check_admission(b"not json"), Ok(false));
    assert_eq!(invariants::check_manifest("a: [1"), Ok(false));
}
