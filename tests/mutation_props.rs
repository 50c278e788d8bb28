//! Properties of the mutating webhook over random ImageBasedGroupUpgrade objects: the
//! patch applies to the request object, only adds (it never removes or changes a value
//! that was there, including fields the model does not know), and
//! mutating the result again yields no patch. Also: the typed model reads the fields the
//! rules read, whatever unknown fields surround them.

#[path = "support/invariants.rs"]
mod invariants;

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::model::ImageBasedGroupUpgrade;
use ibgu_webhook::model::action::Action;
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::Facts;
use invariants::kept;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Every action name, and one TALM does not know.
fn action_names() -> Vec<&'static str> {
    let mut names = Action::NAMES.to_vec();
    names.push("Bogus");
    names
}

/// Arbitrary JSON without nulls (the apiserver prunes nulls from CRD objects).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z~/ .]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z~/]{1,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Unknown fields to sprinkle into an object: keys the model does not name.
fn extras() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x-[a-z~/]{1,4}", any_json(), 0..2)
        .prop_map(|m| m.into_iter().collect())
}

fn with_extras(mut v: Value, extra: Map<String, Value>) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, x) in extra {
            m.entry(k).or_insert(x);
        }
    }
    v
}

fn rollout() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(
        (
            prop::option::of(-2i64..300),
            prop::option::of(-2i64..500),
            extras(),
        )
            .prop_map(|(m, t, x)| {
                let mut rs = Map::new();
                if let Some(m) = m {
                    rs.insert("maxConcurrency".into(), m.into());
                }
                if let Some(t) = t {
                    rs.insert("timeout".into(), t.into());
                }
                with_extras(Value::Object(rs), x)
            }),
    )
}

fn step() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(prop::sample::select(action_names()), 0..4),
        rollout(),
        extras(),
    )
        .prop_map(|(actions, rs, x)| {
            let mut s = Map::new();
            s.insert("actions".into(), json!(actions));
            if let Some(rs) = rs {
                s.insert("rolloutStrategy".into(), rs);
            }
            with_extras(Value::Object(s), x)
        })
}

fn seed_image_ref() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(
        (prop::option::of("[a-z]{1,8}"), extras()).prop_map(|(secret, x)| {
            let mut s = Map::new();
            s.insert("image".into(), "quay.io/seed:4.20".into());
            s.insert("version".into(), "4.20.0".into());
            if let Some(name) = secret {
                s.insert("pullSecretRef".into(), json!({ "name": name }));
            }
            with_extras(Value::Object(s), x)
        }),
    )
}

fn ibgu() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(step(), 0..7),
        seed_image_ref(),
        extras(),
        extras(),
        extras(),
    )
        .prop_map(|(plan, seed, spec_x, meta_x, top_x)| {
            let mut ibu = Map::new();
            if let Some(seed) = seed {
                ibu.insert("seedImageRef".into(), seed);
            }
            let spec = with_extras(
                json!({ "plan": plan, "ibuSpec": Value::Object(ibu) }),
                spec_x,
            );
            let meta = with_extras(json!({ "name": "u", "namespace": "ztp" }), meta_x);
            with_extras(
                json!({
                    "apiVersion": "lcm.openshift.io/v1alpha1",
                    "kind": "ImageBasedGroupUpgrade",
                    "metadata": meta,
                    "spec": spec,
                }),
                top_x,
            )
        })
}

fn config() -> impl Strategy<Value = Config> {
    (1i64..500, prop::option::of("[a-z]{1,8}")).prop_map(|(m, seed)| Config {
        default_max_concurrency: m,
        seed_pull_secret: seed,
        require_pull_secret: false,
        // These properties are about the patch; /mutate's refusals have their own.
        validate_on_mutate: false,
    })
}

fn review(object: &Value, old: Option<&Value>) -> Vec<u8> {
    let op = if old.is_some() { "UPDATE" } else { "CREATE" };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "p", "operation": op, "namespace": "ztp", "name": "u",
            "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
            "object": object, "oldObject": old,
        }
    }))
    .unwrap_or_default()
}

/// The mutating webhook's patch for `object`, decoded from the wire form.
fn mutate(
    config: &Config,
    object: &Value,
    old: Option<&Value>,
) -> Result<Option<json_patch::Patch>, TestCaseError> {
    let response = admission::review_body(
        &review(object, old),
        Endpoint::Mutate,
        config,
        &Facts::Offline,
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(response.check_wire(Endpoint::Mutate).is_ok());
    prop_assert!(
        response.allowed,
        "mutation denied a well-typed object: {:?}",
        response.status
    );
    let wire: Value = serde_json::from_slice(&response.to_review_json())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    match wire["response"]["patch"].as_str() {
        None => Ok(None),
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            Ok(Some(
                serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?,
            ))
        }
    }
}

fn check_mutation(
    config: &Config,
    object: &Value,
    old: Option<&Value>,
) -> Result<(), TestCaseError> {
    let Some(patch) = mutate(config, object, old)? else {
        return Ok(());
    };
    prop_assert!(
        patch
            .0
            .iter()
            .all(|op| matches!(op, json_patch::PatchOperation::Add(_))),
        "only add operations: {patch:?}"
    );
    let mut patched = object.clone();
    let applied = json_patch::patch(&mut patched, &patch);
    prop_assert!(applied.is_ok(), "patch does not apply: {applied:?}");
    prop_assert!(kept(object, &patched), "patch removed or changed a value");
    prop_assert!(
        mutate(config, &patched, old)?.is_none(),
        "second mutation is not empty"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn create_patch_applies_only_adds_and_is_idempotent(config in config(), object in ibgu()) {
        check_mutation(&config, &object, None)?;
    }

    #[test]
    fn update_patch_applies_only_adds_and_is_idempotent(config in config(), object in ibgu(), old in ibgu()) {
        check_mutation(&config, &object, Some(&old))?;
    }

    #[test]
    fn update_against_itself_changes_nothing_once_mutated(config in config(), object in ibgu()) {
        // The stored object of a later UPDATE is the mutated CREATE.
        let mut stored = object.clone();
        if let Some(p) = mutate(&config, &object, None)? {
            prop_assert!(json_patch::patch(&mut stored, &p).is_ok());
        }
        prop_assert!(mutate(&config, &stored, Some(&stored))?.is_none());
    }

    #[test]
    fn typed_model_reads_its_fields_among_unknown_ones(object in ibgu()) {
        let typed = ImageBasedGroupUpgrade::from_value(&object).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(typed.name(), object["metadata"]["name"].as_str().unwrap_or(""));
        let steps = object["spec"]["plan"].as_array().cloned().unwrap_or_default();
        prop_assert_eq!(typed.plan().len(), steps.len());
        for (step, json) in typed.plan().iter().zip(&steps) {
            let names: Vec<&str> = step.actions().iter().map(|a| a.as_str()).collect();
            let want: Vec<&str> = json["actions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            prop_assert_eq!(names, want);
            let rs = step.rollout_strategy.unwrap_or_default();
            prop_assert_eq!(rs.max_concurrency, json["rolloutStrategy"]["maxConcurrency"].as_i64());
            prop_assert_eq!(rs.timeout, json["rolloutStrategy"]["timeout"].as_i64());
        }
        let seed = &object["spec"]["ibuSpec"]["seedImageRef"];
        let typed_seed = typed.seed_image_ref();
        prop_assert_eq!(typed_seed.and_then(|s| s.image.as_deref()), seed["image"].as_str());
        prop_assert_eq!(typed_seed.and_then(|s| s.version.as_deref()), seed["version"].as_str());
    }
}
