//! Runs every AdmissionReview case in `tests/fixtures/` through the same decision code
//! the server uses, in the style of Kubernetes' testdata.
//!
//! Each case is a folder named `<mode>-<rule>-<what it proves>` with:
//! - `review.json`: an AdmissionReview v1 request as kube-apiserver sends it (usable as is
//!   with `ibgu-webhook review --mode <mode> review.json`);
//! - `expect.json`: `description`, `mode`, `rule`, `allowed`, `code` (on denial), `message`
//!   (fragments the denial message must contain), `warnings` (one fragment per expected
//!   warning, in order), `patched` (mutate only: the object after the patch, or null for
//!   no patch), and optionally `config` and `hub` (Secret lookups the server would have made).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint, Response};
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::{Facts, SecretLookup};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn config(expect: &Value) -> Config {
    let c = &expect["config"];
    let mut config = Config::default();
    if let Some(m) = c["defaultMaxConcurrency"].as_i64() {
        config.default_max_concurrency = m;
    }
    config.seed_pull_secret = c["seedPullSecret"].as_str().map(str::to_owned);
    config.require_pull_secret = c["requirePullSecret"].as_bool().unwrap_or(false);
    config
}

fn hub(expect: &Value) -> Facts {
    let Some(map) = expect["hub"].as_object() else {
        return Facts::Offline;
    };
    let secrets = map
        .iter()
        .map(|(name, v)| {
            let v = v.as_str().unwrap_or_default();
            let lookup = match v {
                "found" => SecretLookup::Found {
                    docker_config: true,
                },
                "no-docker-config" => SecretLookup::Found {
                    docker_config: false,
                },
                "missing" => SecretLookup::Missing,
                other => SecretLookup::Unknown(
                    other.strip_prefix("unknown: ").unwrap_or(other).to_owned(),
                ),
            };
            (name.clone(), lookup)
        })
        .collect::<BTreeMap<_, _>>();
    Facts::Secrets(secrets)
}

fn decide(body: &[u8], mode: Endpoint, config: &Config, hub: &Facts) -> Result<Response, String> {
    admission::review_body(body, mode, config, hub).map_err(|e| e.to_string())
}

/// Checks one case; returns what is wrong with it.
fn run_case(dir: &Path) -> Result<(String, String, bool, bool, bool), Vec<String>> {
    let mut problems = Vec::new();
    let body = fs::read(dir.join("review.json")).map_err(|e| vec![e.to_string()])?;
    let expect: Value = serde_json::from_slice(
        &fs::read(dir.join("expect.json")).map_err(|e| vec![e.to_string()])?,
    )
    .map_err(|e| vec![format!("expect.json: {e}")])?;
    let review: Value =
        serde_json::from_slice(&body).map_err(|e| vec![format!("review.json: {e}")])?;
    let mode: Endpoint = expect["mode"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e: String| vec![e])?;
    let (config, hub) = (config(&expect), hub(&expect));
    let response = decide(&body, mode, &config, &hub).map_err(|e| vec![e])?;

    if let Err(e) = response.check_wire(mode) {
        problems.push(e.to_string());
    }
    if response.uid != review["request"]["uid"].as_str().unwrap_or_default() {
        problems.push(format!("uid {:?} not echoed", response.uid));
    }
    let want_allowed = expect["allowed"].as_bool().unwrap_or(false);
    if response.allowed != want_allowed {
        problems.push(format!(
            "allowed = {}, want {want_allowed}: {:?}",
            response.allowed, response.status
        ));
    }
    let message = response
        .status
        .as_ref()
        .map(|s| s.message.clone())
        .unwrap_or_default();
    if let Some(code) = expect["code"].as_u64() {
        let got = response.status.as_ref().map(|s| u64::from(s.code));
        if got != Some(code) {
            problems.push(format!("status.code = {got:?}, want {code}"));
        }
    }
    for fragment in expect["message"].as_array().into_iter().flatten() {
        let fragment = fragment.as_str().unwrap_or_default();
        if !message.contains(fragment) {
            problems.push(format!("message lacks {fragment:?}: {message:?}"));
        }
    }
    let want_warnings: Vec<&str> = expect["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if response.warnings.len() != want_warnings.len()
        || response
            .warnings
            .iter()
            .zip(&want_warnings)
            .any(|(got, want)| !got.contains(want))
    {
        problems.push(format!(
            "warnings {:?}, want fragments {want_warnings:?}",
            response.warnings
        ));
    }

    // The bytes on the wire: the patch must be a base64 string, never an array of numbers.
    let wire: Value =
        serde_json::from_slice(&response.to_review_json()).map_err(|e| vec![e.to_string()])?;
    let wire_patch = &wire["response"]["patch"];
    if !(wire_patch.is_null() || wire_patch.is_string()) {
        problems.push(format!(
            "patch is not a base64 string on the wire: {wire_patch}"
        ));
    }
    let has_patch = response.patch.is_some();
    match mode {
        Endpoint::Validate => {}
        Endpoint::Mutate => {
            let want = &expect["patched"];
            match (&response.patch, want) {
                (None, Value::Null) => {}
                (None, _) => problems.push("no patch, but a patched object is expected".into()),
                (Some(_), Value::Null) => problems.push("unexpected patch".into()),
                (Some(_), want) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(wire_patch.as_str().unwrap_or_default())
                        .map_err(|e| vec![e.to_string()])?;
                    let patch: json_patch::Patch =
                        serde_json::from_slice(&bytes).map_err(|e| vec![e.to_string()])?;
                    let mut object = review["request"]["object"].clone();
                    match json_patch::patch(&mut object, &patch) {
                        Err(e) => problems.push(format!("patch does not apply: {e}")),
                        Ok(()) if &object != want => problems.push(format!(
                            "patched object differs: got {}",
                            serde_json::to_string(&object).unwrap_or_default()
                        )),
                        Ok(()) => {
                            // Mutating rule 3: mutating the result again yields no patch.
                            let mut again = review.clone();
                            again["request"]["object"] = object;
                            let body =
                                serde_json::to_vec(&again).map_err(|e| vec![e.to_string()])?;
                            match decide(&body, mode, &config, &hub) {
                                Ok(r) if r.patch.is_none() => {}
                                Ok(_) => problems.push("second mutation is not empty".into()),
                                Err(e) => problems.push(e),
                            }
                        }
                    }
                }
            }
        }
    }
    let rule = format!(
        "{}/{}",
        expect["mode"].as_str().unwrap_or(""),
        expect["rule"]
    );
    if problems.is_empty() {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        Ok((
            rule,
            name,
            response.allowed,
            has_patch,
            !response.warnings.is_empty(),
        ))
    } else {
        Err(problems)
    }
}

#[test]
fn every_admission_review_fixture() {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 50, "only {} fixture cases", dirs.len());
    let mut failures = Vec::new();
    // (mode/rule) -> which sides were seen: allowed/denied for validate, patched/not for mutate.
    let mut sides: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match run_case(dir) {
            Ok((rule, _, allowed, patched, warned)) => {
                let side = if rule.starts_with("mutate") {
                    if patched { "patched" } else { "unpatched" }
                } else if rule == "validate/5" {
                    // Rule 5 only ever warns.
                    if warned { "warned" } else { "quiet" }
                } else if allowed {
                    "allowed"
                } else {
                    "denied"
                };
                sides.entry(rule).or_default().insert(side);
            }
            Err(problems) => failures.push(format!("{name}:\n    {}", problems.join("\n    "))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Both sides of every rule are proven by some case.
    let mut missing = Vec::new();
    for (mode, rules, wanted) in [
        ("validate", 1..=11, ["allowed", "denied"]),
        ("mutate", 1..=3, ["patched", "unpatched"]),
    ] {
        for rule in rules {
            let seen = sides
                .get(&format!("{mode}/{rule}"))
                .cloned()
                .unwrap_or_default();
            let wanted = if mode == "validate" && rule == 5 {
                ["warned", "quiet"]
            } else {
                wanted
            };
            for side in wanted {
                if !seen.contains(side) {
                    missing.push(format!("{mode} rule {rule}: no {side} case"));
                }
            }
        }
    }
    assert!(
        sides.contains_key("validate/12") && sides.contains_key("mutate/12"),
        "rule 12 uncovered"
    );
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn fixture_names_say_mode_and_rule() {
    for entry in fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let expect: Value = serde_json::from_slice(
            &fs::read(entry.path().join("expect.json")).expect("expect.json"),
        )
        .expect("json");
        let mode = expect["mode"].as_str().expect("mode");
        assert!(
            name.starts_with(&format!("{mode}-")),
            "{name} does not start with its mode"
        );
        if name.contains("-rule") {
            assert!(
                name.starts_with(&format!("{mode}-rule{}-", expect["rule"])),
                "{name} does not name its rule {}",
                expect["rule"]
            );
        }
        assert!(
            expect["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}: no description"
        );
    }
}

#[test]
fn other_json_shapes_get_a_clear_error_not_a_review() {
    let config = Config::default();
    for (body, want) in [
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ""}}),
            "not an AdmissionReview",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                               "operation": "CREATE"}}),
            "request.uid is empty",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "1", "kind": {"group": "lcm.openshift.io", "version": "v1alpha1",
                               "kind": "ImageBasedGroupUpgrade"}, "operation": "UPDATE", "object": {}}}),
            "UPDATE request has no oldObject",
        ),
    ] {
        let body = serde_json::to_vec(&body).expect("json");
        let err = decide(&body, Endpoint::Validate, &config, &Facts::Offline)
            .expect_err("must be refused");
        assert!(err.contains(want), "{err}");
    }
}
