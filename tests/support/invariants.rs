//! What must hold for *any* input, checked the same way by the fuzz targets (`fuzz/`) and
//! by the regression test that replays what they found (`tests/fuzz_regressions.rs`).
//!
//! For an AdmissionReview body that parses, every decision (both endpoints, several
//! policy configurations, several hub states) must give a reply the apiserver accepts:
//! the wire rules hold, it encodes to JSON that reads back with the uid echoed, and a
//! mutating patch decodes from base64, only adds, applies to the request object without
//! changing anything that was there, and mutating the patched object again gives no
//! patch. For a manifest, `check` must read it or refuse it, never panic, and never fail
//! to apply its own defaults.
//!
//! Included with `#[path = ".../tests/support/invariants.rs"] mod invariants;` so the fuzz
//! crate (its own workspace) and the tests share one copy. Every check returns what is
//! wrong instead of panicking, so the test can name the input and the fuzzer can panic.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint, Request, Response, Subject};
use ibgu_webhook::cli::check::{self, Input, Stage};
use ibgu_webhook::cli::schema::Schema;
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::{Facts, FoundSecret, SecretLookup};
use serde_json::Value;

/// Policy configurations every input is decided under: the default, a strict one that
/// injects a seed pull secret with the smallest concurrency, and the largest concurrency
/// the command line accepts.
pub fn configs() -> Vec<Config> {
    vec![
        Config::default(),
        Config {
            default_max_concurrency: 1,
            seed_pull_secret: Some("seed-pull".to_owned()),
            require_pull_secret: true,
            validate_on_mutate: true,
        },
        Config {
            default_max_concurrency: i64::MAX,
            seed_pull_secret: Some("a/b~c".to_owned()),
            require_pull_secret: false,
            validate_on_mutate: false,
        },
    ]
}

/// The hub states an input is decided against: no hub access, and every Secret that
/// matters for this object answering the same way, picked by `pick` so that each input
/// gets one of the five answers without multiplying the cost per input.
pub fn hubs(config: &Config, admission: &Request<'_>, pick: usize) -> Vec<Facts> {
    let Some(change) = admission.change() else {
        return vec![Facts::Offline];
    };
    let answer = match pick % 5 {
        0 => SecretLookup::Found(FoundSecret::usable()),
        1 => SecretLookup::Found(FoundSecret::without_docker_config()),
        2 => SecretLookup::Found(FoundSecret {
            type_: Some("kubernetes.io/tls".to_owned()),
            owner: Some("ExternalSecret/seed".to_owned()),
            ..FoundSecret::usable()
        }),
        3 => SecretLookup::Missing,
        _ => SecretLookup::Unknown("timed out".to_owned()),
    };
    let secrets: BTreeMap<String, SecretLookup> =
        ibgu_webhook::policy::secrets_needed(config, change)
            .into_iter()
            .map(|name| (name, answer.clone()))
            .collect();
    vec![Facts::Offline, Facts::Secrets(secrets)]
}

/// Checks every decision on `body`. `Ok(false)` when the body is not an AdmissionReview
/// this webhook answers (the server's 400), `Ok(true)` when every invariant held.
pub fn check_admission(body: &[u8]) -> Result<bool, String> {
    let Ok(admission) = admission::parse(body) else {
        return Ok(false);
    };
    // The request as JSON, for applying patches. A body whose unknown fields hold numbers
    // serde_json's `Value` cannot represent (such as 1e999) is still answered, but its
    // patch cannot be applied here; the apiserver, which sent it, would not send that.
    let request: Option<Value> = serde_json::from_slice(body).ok();
    for config in configs() {
        for hub in hubs(&config, &admission, body.len()) {
            for mode in [Endpoint::Validate, Endpoint::Mutate] {
                let response = admission::review(&admission, mode, &config, &hub);
                check_response(&admission, &response, mode)
                    .map_err(|e| format!("{mode} with {config:?}, {hub:?}: {e}"))?;
                if mode == Endpoint::Mutate {
                    check_mutating_refusal(&admission, &response, &config, &hub)
                        .map_err(|e| format!("mutate with {config:?}, {hub:?}: {e}"))?;
                }
                if let (Endpoint::Mutate, Some(request)) = (mode, &request) {
                    check_patch(request, &response, &config, &hub)
                        .map_err(|e| format!("mutate with {config:?}, {hub:?}: {e}"))?;
                }
            }
        }
    }
    Ok(true)
}

/// A mutating refusal of an object that decodes is validation's: only
/// with validation on, and with it off the same request is allowed.
fn check_mutating_refusal(
    admission: &Request<'_>,
    response: &Response,
    config: &Config,
    hub: &Facts,
) -> Result<(), String> {
    if response.allowed || matches!(admission.subject, Subject::Malformed(_)) {
        return Ok(());
    }
    if !config.validate_on_mutate {
        return Err(format!(
            "mutation denied with validation off: {:?}",
            response.status
        ));
    }
    let off = Config {
        validate_on_mutate: false,
        ..config.clone()
    };
    let without = admission::review(admission, Endpoint::Mutate, &off, hub);
    if !without.allowed {
        return Err(format!(
            "mutation denied without validation: {:?}",
            without.status
        ));
    }
    Ok(())
}

/// The reply alone: wire rules, encoding, uid.
pub fn check_response(
    admission: &Request<'_>,
    response: &Response,
    mode: Endpoint,
) -> Result<(), String> {
    response
        .check_wire(mode)
        .map_err(|e| format!("{e}: {response:?}"))?;
    if response.uid != admission.uid.as_str() {
        return Err(format!(
            "uid {:?} is not the request's {:?}",
            response.uid, admission.uid
        ));
    }
    if let (Subject::Skip(_), false) = (&admission.subject, response.allowed) {
        return Err("a request that is not judged was denied".to_owned());
    }
    let wire: Value = serde_json::from_slice(&response.to_review_json())
        .map_err(|e| format!("reply is not JSON: {e}"))?;
    if wire["apiVersion"] != admission::API_VERSION || wire["kind"] != admission::KIND {
        return Err(format!("reply envelope: {wire}"));
    }
    let out = &wire["response"];
    if out["uid"].as_str() != Some(admission.uid.as_str()) {
        return Err(format!("uid not echoed on the wire: {}", out["uid"]));
    }
    if out["allowed"].as_bool() != Some(response.allowed) {
        return Err(format!("allowed on the wire: {}", out["allowed"]));
    }
    match (&response.patch, &out["patch"]) {
        (None, Value::Null) => Ok(()),
        (Some(patch), Value::String(b64)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("patch is not base64: {e}"))?;
            let sent: json_patch::Patch = serde_json::from_slice(&decoded)
                .map_err(|e| format!("patch on the wire is not a JSON Patch: {e}"))?;
            if &sent != patch {
                return Err("patch on the wire is not the patch decided".to_owned());
            }
            if out["patchType"] != "JSONPatch" {
                return Err(format!("patchType {}", out["patchType"]));
            }
            Ok(())
        }
        (_, other) => Err(format!("patch on the wire: {other}")),
    }
}

/// A mutating reply's patch: parses as RFC 6902, only adds, applies to the request's
/// object without changing what was there, and mutating the result again gives no patch.
pub fn check_patch(
    request: &Value,
    response: &Response,
    config: &Config,
    hub: &Facts,
) -> Result<(), String> {
    match &response.patch {
        Some(p) => check_patch_bytes(
            request,
            &serde_json::to_vec(p).map_err(|e| e.to_string())?,
            config,
            hub,
        ),
        None => Ok(()),
    }
}

/// [`check_patch`] on patch bytes, as sent.
pub fn check_patch_bytes(
    request: &Value,
    bytes: &[u8],
    config: &Config,
    hub: &Facts,
) -> Result<(), String> {
    let patch: json_patch::Patch = serde_json::from_slice(bytes)
        .map_err(|e| format!("patch does not parse as a JSON Patch: {e}"))?;
    if patch.0.is_empty() {
        return Err("an empty patch is sent; no patch should be".to_owned());
    }
    if let Some(op) = patch
        .0
        .iter()
        .find(|op| !matches!(op, json_patch::PatchOperation::Add(_)))
    {
        return Err(format!("patch does more than add: {op:?}"));
    }
    let object = &request["request"]["object"];
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| {
        format!(
            "patch {} does not apply to the request object: {e}",
            String::from_utf8_lossy(bytes)
        )
    })?;
    if !kept(object, &patched) {
        return Err(format!(
            "patch {} removed or changed a value",
            String::from_utf8_lossy(bytes)
        ));
    }
    let mut again = request.clone();
    again["request"]["object"] = patched;
    let body = serde_json::to_vec(&again).map_err(|e| e.to_string())?;
    let second = admission::review_body(&body, Endpoint::Mutate, config, hub)
        .map_err(|e| format!("the patched request is refused: {e}"))?;
    if let Some(p) = &second.patch {
        return Err(format!(
            "second mutation is not empty: {} after {}",
            serde_json::to_string(p).unwrap_or_default(),
            String::from_utf8_lossy(bytes)
        ));
    }
    Ok(())
}

/// Whether everything in `before` is still in `after`, unchanged (arrays keep their
/// length: a patch that appends a plan step would be an edit, not a default). A member
/// whose value is `null` is unset, as the apiserver's decoding makes it, so a default may
/// replace it; it must not disappear.
pub fn kept(before: &Value, after: &Value) -> bool {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => b
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|w| v.is_null() || kept(v, w))),
        (Value::Array(b), Value::Array(a)) => {
            b.len() == a.len() && b.iter().zip(a).all(|(v, w)| kept(v, w))
        }
        (b, a) => b == a,
    }
}

/// `ibgu-webhook check` on a manifest file's text: read as YAML or JSON, then each
/// object checked as a CREATE under every configuration, and as an UPDATE of the file's
/// own objects (each read as `check::reading` tells) under the default one. It must never fail to apply the defaults it
/// computed itself. `Ok(false)` when the text is refused as a file (invalid YAML or JSON).
///
/// The UPDATE runs once only because YAML aliases let a document expand to up to 100
/// times its own nodes (go-yaml's limit, which check applies as kubectl does): every
/// extra run multiplies that under the fuzzer's sanitizer.
pub fn check_manifest(text: &str) -> Result<bool, String> {
    fn schema() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| Schema::vendored("v1alpha1").expect("the vendored CRD"))
    }
    let Ok(input) = Input::parse("fuzz.yaml", text) else {
        return Ok(false);
    };
    let inputs = [input];
    let documents = inputs[0].documents.len();
    let of_the_kind = |d: &Value| {
        d.get("kind").and_then(Value::as_str) == Some("ImageBasedGroupUpgrade")
            && d.get("apiVersion").and_then(Value::as_str) == Some("lcm.openshift.io/v1alpha1")
    };
    let runs = configs()
        .into_iter()
        .map(|c| (c, &[][..]))
        .chain(std::iter::once((Config::default(), &inputs[..])));
    for (config, old) in runs {
        let report = check::run(&config, schema(), &inputs, old, None, "default");
        if report.objects.len() + report.skipped != documents {
            return Err(format!(
                "{documents} documents, {} checked and {} skipped",
                report.objects.len(),
                report.skipped
            ));
        }
        for o in &report.objects {
            // Checked: an ImageBasedGroupUpgrade, or a look-alike kubectl refuses, alone.
            let refused = o.errors.iter().any(|e| e.stage == Stage::Reading);
            let doc = o
                .document
                .checked_sub(1)
                .and_then(|i| inputs[0].documents.get(i));
            if refused && (o.errors.len() != 1 || o.allowed) {
                return Err(format!("{}: a kubectl refusal with other findings", o.name));
            }
            if !refused && !doc.is_some_and(of_the_kind) {
                return Err(format!("document {}: checked, not of the kind", o.document));
            }
            if o.allowed != o.errors.is_empty() {
                return Err(format!("{}: verdict and errors disagree", o.name));
            }
            // Told apart by where it comes from, not by words a value may also hold.
            if let Some(e) = o.errors.iter().find(|e| {
                e.stage == Stage::Mutating
                    && e.rule.is_none()
                    && e.detail.starts_with("defaults could not be applied")
            }) {
                return Err(format!("with {config:?}: {}", e.message));
            }
        }
        let _ = report.to_text();
        serde_json::to_string(&report).map_err(|e| format!("report as JSON: {e}"))?;
    }
    Ok(true)
}

/// The structured admission input: a JSON stream of one object (a CREATE) or an object
/// and the stored object (an UPDATE), wrapped in the envelope kube-apiserver sends.
/// `None` when the bytes are not such a stream.
pub fn review_of_objects(data: &[u8]) -> Option<Vec<u8>> {
    let mut values = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let object = values.next()?.ok()?;
    let old = match values.next() {
        None => None,
        Some(v) => Some(v.ok()?),
    };
    if values.next().is_some() {
        return None;
    }
    let operation = if old.is_some() { "UPDATE" } else { "CREATE" };
    let mut request = serde_json::json!({
        "uid": "0b5f1a9e-fuzz",
        "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
        "resource": {"group": "lcm.openshift.io", "version": "v1alpha1", "resource": "imagebasedgroupupgrades"},
        "namespace": "ztp",
        "operation": operation,
        "userInfo": {"username": "fuzz"},
        "object": object,
        "dryRun": false,
    });
    if let Some(old) = old {
        request["oldObject"] = old;
    }
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": admission::API_VERSION,
        "kind": admission::KIND,
        "request": request,
    }))
    .ok()
}
