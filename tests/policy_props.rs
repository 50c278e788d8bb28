//! Properties of the decision the server makes (`admission::parse`, then
//! `admission::review`), over random AdmissionReviews. `mutation_props.rs` covers the
//! mutating patch itself; these cover the verdicts:
//!
//! 1. Deciding is deterministic and does not depend on JSON key order: the same bytes
//!    give the same reply bytes, and the same review written with every object's keys in
//!    another order (reversed, or shuffled at random, at every level: envelope, `object`,
//!    `oldObject`, `status`, unknown fields) gives the same verdict, status code, causes,
//!    message and warnings, and a patch that yields the same object. For CREATE and
//!    UPDATE, valid and invalid objects (one wrong-typed field at most: with two, which one
//!    serde meets first is a matter of order, and the reply names that one).
//! 2. Rule 2 on CREATE: a random plan, otherwise valid, is allowed exactly when it is one
//!    of the 26 upstream plans, read from the vendored CRD (`support/upstream.rs`). The
//!    generator favours supported plans and near misses (a supported plan with one step
//!    changed, added, removed, or two swapped), over random junk.
//! 3. Rule 3 on UPDATE of a finished plan (status as TALM writes it once every step is
//!    done, some clusters possibly failed): appending steps so that the whole plan is
//!    supported upstream is allowed; then changing one existing step (its actions, its
//!    `maxConcurrency` or `timeout`, removing it, or swapping it with another step) is
//!    denied, and the denial names that step's field path.
//! 4. Ratcheting never lets an unsupported plan in. A stored plan of any shape (supported,
//!    a near miss, junk: stored before the webhook or the CRD's rule), finished, with zero
//!    to two steps appended (upstream steps or junk): an admitted update leaves the plan
//!    unchanged or makes it one of the 26, by `/validate` and by `/mutate` alike; and an
//!    update that changes a stored plan outside the 26 is refused, saying it has no
//!    continuation.

#[path = "support/upstream.rs"]
mod upstream;

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::model::action::Action;
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::{Facts, FoundSecret, SecretLookup};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use upstream::{Plan, upstream_plans};

/// The oracle, read once per test binary.
static UPSTREAM: LazyLock<Vec<Plan>> = LazyLock::new(upstream_plans);
static UPSTREAM_SET: LazyLock<HashSet<Plan>> = LazyLock::new(|| UPSTREAM.iter().cloned().collect());

/// Every distinct step of an upstream plan: near misses swap one of these in.
static UPSTREAM_STEPS: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut steps: Vec<Vec<String>> = Vec::new();
    for step in UPSTREAM.iter().flatten() {
        if !steps.contains(step) {
            steps.push(step.clone());
        }
    }
    steps
});

/// (old, new): both upstream plans, old a proper prefix of new.
static CONTINUATIONS: LazyLock<Vec<(Plan, Plan)>> = LazyLock::new(|| {
    let mut pairs = Vec::new();
    for old in UPSTREAM.iter() {
        for new in UPSTREAM.iter() {
            if new.len() > old.len() && new.starts_with(old) {
                pairs.push((old.clone(), new.clone()));
            }
        }
    }
    pairs
});

const UNKNOWN_ACTION: &str = "Bogus";
const SECRET_NAMES: [&str; 3] = ["seed-pull-secret", "other", "gone"];

// ---------------------------------------------------------------------------------------
// The decision, as the server makes it, and its reply as the apiserver reads it.

/// What the apiserver reads in a reply, decoded from the bytes on the wire.
#[derive(Debug, Clone, PartialEq)]
struct Reply {
    allowed: bool,
    code: Option<u64>,
    message: Option<String>,
    /// (field, reason, message) of each cause, in order.
    causes: Vec<(String, String, String)>,
    warnings: Vec<String>,
    patch: Option<json_patch::Patch>,
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

/// Parses and decides `body` the way the server does; the reply as sent (JSON text, so
/// that a difference shows as text).
fn decide(
    body: &[u8],
    mode: Endpoint,
    config: &Config,
    hub: &Facts,
) -> Result<String, TestCaseError> {
    let admission = admission::parse(body).map_err(|e| fail(format!("parse: {e}")))?;
    let response = admission::review(&admission, mode, config, hub);
    prop_assert!(
        response.check_wire(mode).is_ok(),
        "reply breaks the wire rules: {:?}",
        response.check_wire(mode)
    );
    String::from_utf8(response.to_review_json()).map_err(fail)
}

fn read_reply(text: &str) -> Result<Reply, TestCaseError> {
    let wire: Value = serde_json::from_str(text).map_err(fail)?;
    let r = &wire["response"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let causes = r["status"]["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (text(&c["field"]), text(&c["reason"]), text(&c["message"])))
        .collect();
    let warnings = r["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let patch = match r["patch"].as_str() {
        None => None,
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(fail)?;
            Some(serde_json::from_slice(&bytes).map_err(fail)?)
        }
    };
    Ok(Reply {
        allowed: r["allowed"].as_bool().ok_or_else(|| fail("no allowed"))?,
        code: r["status"]["code"].as_u64(),
        message: r["status"]["message"].as_str().map(str::to_owned),
        causes,
        warnings,
        patch,
    })
}

/// Decides and reads the reply.
fn judge(
    body: &[u8],
    mode: Endpoint,
    config: &Config,
    hub: &Facts,
) -> Result<Reply, TestCaseError> {
    read_reply(&decide(body, mode, config, hub)?)
}

fn review(op: &str, object: &Value, old: Option<&Value>) -> Value {
    let mut request = json!({
        "uid": "7e570000-0000-4000-8000-0000000000aa",
        "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
        "resource": {"group": "lcm.openshift.io", "version": "v1alpha1", "resource": "imagebasedgroupupgrades"},
        "requestKind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
        "requestResource": {"group": "lcm.openshift.io", "version": "v1alpha1", "resource": "imagebasedgroupupgrades"},
        "name": object["metadata"]["name"].as_str().unwrap_or_default(),
        "namespace": "ztp-group",
        "operation": op,
        "userInfo": {"username": "system:serviceaccount:openshift-gitops:argocd-application-controller",
                     "groups": ["system:serviceaccounts", "system:authenticated"]},
        "object": object,
        "dryRun": false,
        "options": {"kind": format!("{}Options", if op == "CREATE" { "Create" } else { "Update" }),
                    "apiVersion": "meta.k8s.io/v1", "fieldManager": "argocd-controller"},
    });
    if let (Some(old), Value::Object(r)) = (old, &mut request) {
        r.insert("oldObject".into(), old.clone());
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

// ---------------------------------------------------------------------------------------
// Writing JSON with keys in another order. Written by hand, not through serde_json, whose
// `Map` may sort its keys on output (without `preserve_order`), which would undo a shuffle.

/// SplitMix64: a tiny deterministic generator, seeded by proptest so failures replay.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How to order each object's keys.
enum Order {
    /// Each object's keys reversed: every object with two keys or more changes.
    Reversed,
    /// Each object's keys shuffled (Fisher-Yates).
    Shuffled(SplitMix),
}

fn write_json(v: &Value, order: &mut Order, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            match order {
                Order::Reversed => entries.reverse(),
                Order::Shuffled(rng) => {
                    for i in (1..entries.len()).rev() {
                        entries.swap(i, rng.below(i + 1));
                    }
                }
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(k.as_str()).to_string());
                out.push(':');
                write_json(v, order, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, order, out);
            }
            out.push(']');
        }
        leaf => out.push_str(&leaf.to_string()),
    }
}

fn reordered(v: &Value, mut order: Order) -> Vec<u8> {
    let mut out = String::new();
    write_json(v, &mut order, &mut out);
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Plans: supported, near misses, junk.

fn action_name() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => prop::sample::select(Action::NAMES.to_vec()).prop_map(str::to_owned),
        1 => Just(UNKNOWN_ACTION.to_owned()),
    ]
}

/// A step of 0 to 5 actions, repeats allowed.
fn random_step() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(action_name(), 0..=5)
}

/// A step for a near miss: one of the upstream steps, or any step.
fn other_step() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![prop::sample::select(UPSTREAM_STEPS.clone()), random_step(),]
}

/// A supported plan with one edit: a step replaced, added or removed, or two swapped.
/// Some edits give back a supported plan; the oracle decides, not the generator.
fn near_miss() -> impl Strategy<Value = Plan> {
    (
        prop::sample::select(UPSTREAM.clone()),
        0..5u8,
        any::<Index>(),
        any::<Index>(),
        other_step(),
    )
        .prop_map(|(mut plan, edit, i, j, step)| {
            let n = plan.len();
            match edit {
                2 if n < 7 => plan.insert(i.index(n + 1), step),
                3 if n > 1 => {
                    plan.remove(i.index(n));
                }
                4 if n > 1 => plan.swap(i.index(n), j.index(n)),
                _ => plan[i.index(n)] = step,
            }
            plan
        })
}

/// Plans of 1 to 7 steps: a quarter supported, half near misses, a quarter random.
fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        1 => prop::sample::select(UPSTREAM.clone()),
        2 => near_miss(),
        1 => prop::collection::vec(random_step(), 1..=7),
    ]
}

/// One step edit away from some supported plan (same length, one step differs).
fn one_step_from_supported(plan: &Plan) -> bool {
    UPSTREAM
        .iter()
        .any(|p| p.len() == plan.len() && p.iter().zip(plan).filter(|(a, b)| a != b).count() == 1)
}

// ---------------------------------------------------------------------------------------
// Random ImageBasedGroupUpgrade objects, valid or not, with unknown fields everywhere.

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        "[a-z ~/.]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fields the model does not name.
fn extras() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x-[a-z]{1,4}", any_json(), 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn object_of(pairs: Vec<(&str, Option<Value>)>, extra: Map<String, Value>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        if let Some(v) = v {
            m.insert(k.to_owned(), v);
        }
    }
    for (k, v) in extra {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

/// A rollout strategy: usually valid, sometimes missing fields or with values under 1.
fn rollout() -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.9,
        (
            prop::option::weighted(0.9, prop_oneof![6 => 1i64..300, 1 => -2i64..1]),
            prop::option::weighted(0.8, prop_oneof![6 => 1i64..500, 1 => -2i64..1]),
            extras(),
        )
            .prop_map(|(m, t, x)| {
                object_of(
                    vec![
                        ("maxConcurrency", m.map(Value::from)),
                        ("timeout", t.map(Value::from)),
                    ],
                    x,
                )
            }),
    )
}

fn plan_json() -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(
        0.95,
        plan().prop_flat_map(|plan| {
            let n = plan.len();
            (
                Just(plan),
                prop::collection::vec((rollout(), extras()), n..=n),
            )
                .prop_map(|(plan, rest)| {
                    let steps = plan
                        .into_iter()
                        .zip(rest)
                        .map(|(actions, (rs, x))| {
                            object_of(
                                vec![("actions", Some(json!(actions))), ("rolloutStrategy", rs)],
                                x,
                            )
                        })
                        .collect();
                    Value::Array(steps)
                })
        }),
    )
}

/// An `oadpContent` or `extraManifests` entry, sometimes missing a key.
fn reference() -> impl Strategy<Value = Value> {
    (
        prop::option::weighted(0.9, "[a-z]{1,8}"),
        prop::option::weighted(0.9, "[a-z-]{1,12}"),
        extras(),
    )
        .prop_map(|(n, ns, x)| {
            object_of(
                vec![
                    ("name", n.map(Value::from)),
                    ("namespace", ns.map(Value::from)),
                ],
                x,
            )
        })
}

fn ibu_spec() -> impl Strategy<Value = Option<Value>> {
    let seed = (
        prop::option::weighted(
            0.9,
            prop::sample::select(vec![
                "quay.io/seed/image:4.20.0-rc.1",
                "oci://registry.example.com:5000/seed@sha256:0123",
                "not an image",
                "",
            ]),
        ),
        prop::option::weighted(0.9, prop::sample::select(vec!["4.20.0", "4.20.0-rc.1", ""])),
        prop::option::of(prop::sample::select(SECRET_NAMES.to_vec())),
        extras(),
    )
        .prop_map(|(image, version, secret, x)| {
            object_of(
                vec![
                    ("image", image.map(Value::from)),
                    ("version", version.map(Value::from)),
                    ("pullSecretRef", secret.map(|s| json!({ "name": s }))),
                ],
                x,
            )
        });
    prop::option::weighted(
        0.9,
        (
            prop::option::weighted(0.85, seed),
            prop::option::of(prop::collection::vec(reference(), 0..3)),
            prop::option::of(prop::collection::vec(reference(), 0..3)),
            extras(),
        )
            .prop_map(|(seed, oadp, extra_manifests, x)| {
                object_of(
                    vec![
                        ("seedImageRef", seed),
                        ("oadpContent", oadp.map(Value::from)),
                        ("extraManifests", extra_manifests.map(Value::from)),
                    ],
                    x,
                )
            }),
    )
}

fn label_selectors() -> impl Strategy<Value = Option<Value>> {
    let expression = (
        "[a-z]{1,5}",
        prop::sample::select(vec!["In", "NotIn", "Exists"]),
        prop::collection::vec("[a-z0-9]{1,6}", 0..3),
    )
        .prop_map(|(key, op, values)| json!({"key": key, "operator": op, "values": values}));
    let selector = (
        prop::option::of(prop::collection::btree_map(
            "[a-z./]{1,8}",
            "[a-z0-9]{0,5}",
            0..3,
        )),
        prop::option::of(prop::collection::vec(expression, 0..3)),
        extras(),
    )
        .prop_map(|(labels, exprs, x)| {
            object_of(
                vec![
                    ("matchLabels", labels.map(|l| json!(l))),
                    ("matchExpressions", exprs.map(Value::from)),
                ],
                x,
            )
        });
    prop::option::weighted(
        0.7,
        prop::collection::vec(selector, 0..3).prop_map(Value::from),
    )
}

fn metadata() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        6 => "[a-z][a-z0-9-]{0,20}",
        1 => (225usize..235).prop_map(|n| "u".repeat(n)),
    ];
    (
        name,
        prop::option::weighted(0.1, "[a-z]{1,230}"),
        prop::collection::btree_map("[a-z./-]{1,12}", "[a-z0-9]{0,6}", 0..3),
        prop::collection::btree_map("[a-z./-]{1,12}", "[a-z0-9 ]{0,10}", 0..3),
        extras(),
    )
        .prop_map(|(name, generate_name, labels, annotations, x)| {
            // generateName replaces name, as on a `kubectl create` with generateName.
            let (name, generate_name) = match generate_name {
                Some(g) => (None, Some(Value::from(g))),
                None => (Some(Value::from(name)), None),
            };
            object_of(
                vec![
                    ("name", name),
                    ("generateName", generate_name),
                    ("namespace", Some("ztp-group".into())),
                    ("labels", Some(json!(labels))),
                    ("annotations", Some(json!(annotations))),
                ],
                x,
            )
        })
}

/// TALM's status, in any state: running, progressing, done, failed.
fn status() -> impl Strategy<Value = Option<Value>> {
    let entry = || {
        prop::collection::vec(
            (
                prop::sample::select(Action::NAMES.to_vec()),
                prop::option::of("[a-z ]{0,8}"),
            )
                .prop_map(|(a, m)| {
                    object_of(
                        vec![("action", Some(a.into())), ("message", m.map(Value::from))],
                        Map::new(),
                    )
                }),
            0..3,
        )
    };
    let cluster = (
        "spoke[0-9]{1,3}",
        prop::option::of(entry()),
        prop::option::weighted(0.2, prop::sample::select(Action::NAMES.to_vec())),
        prop::option::weighted(0.3, entry()),
        extras(),
    )
        .prop_map(|(name, done, current, failed, x)| {
            object_of(
                vec![
                    ("name", Some(name.into())),
                    ("completedActions", done.map(Value::from)),
                    ("currentAction", current.map(|a| json!({ "action": a }))),
                    ("failedActions", failed.map(Value::from)),
                ],
                x,
            )
        });
    let condition = (
        prop::sample::select(vec!["Progressing", "Ready"]),
        prop::sample::select(vec!["True", "False"]),
        prop::sample::select(vec!["InProgress", "Completed"]),
    )
        .prop_map(|(t, s, r)| {
            json!({"type": t, "status": s, "reason": r, "message": "",
                   "lastTransitionTime": "2026-11-20T11:00:00Z"})
        });
    prop::option::weighted(
        0.7,
        (
            prop::option::of(prop::collection::vec(cluster, 0..5)),
            prop::option::of(prop::collection::vec(condition, 0..3)),
            extras(),
        )
            .prop_map(|(clusters, conditions, x)| {
                object_of(
                    vec![
                        ("clusters", clusters.map(Value::from)),
                        ("conditions", conditions.map(Value::from)),
                    ],
                    x,
                )
            }),
    )
}

/// Every JSON pointer under `v` (its own included), for the wrong-type injection.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// `v` with the value at one pointer under `/spec` or `/metadata` replaced by one of
/// another JSON type.
fn with_one_wrong_type(mut v: Value, which: Index) -> Value {
    let mut all = Vec::new();
    pointers(&v, String::new(), &mut all);
    all.retain(|p| p.starts_with("/spec") || p.starts_with("/metadata/name"));
    if all.is_empty() {
        return v;
    }
    let p = &all[which.index(all.len())];
    if let Some(slot) = v.pointer_mut(p) {
        *slot = match slot {
            Value::String(_) => json!(7),
            Value::Number(_) | Value::Bool(_) => json!("seven"),
            Value::Array(_) => json!({"x": 1}),
            Value::Object(_) => json!(["x"]),
            Value::Null => json!(false),
        };
    }
    v
}

/// An ImageBasedGroupUpgrade as a client would send it: valid or not, at most one field
/// of the wrong JSON type.
fn ibgu() -> impl Strategy<Value = Value> {
    (
        metadata(),
        plan_json(),
        ibu_spec(),
        label_selectors(),
        extras(),
        extras(),
        prop::option::weighted(0.1, any::<Index>()),
    )
        .prop_map(|(meta, plan, ibu, selectors, spec_x, top_x, wrong)| {
            let spec = object_of(
                vec![
                    ("plan", plan),
                    ("ibuSpec", ibu),
                    ("clusterLabelSelectors", selectors),
                ],
                spec_x,
            );
            let object = object_of(
                vec![
                    ("apiVersion", Some("lcm.openshift.io/v1alpha1".into())),
                    ("kind", Some("ImageBasedGroupUpgrade".into())),
                    ("metadata", Some(meta)),
                    ("spec", Some(spec)),
                ],
                top_x,
            );
            match wrong {
                Some(i) => with_one_wrong_type(object, i),
                None => object,
            }
        })
}

fn stored(mut object: Value, status: Option<Value>) -> Value {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("uid".into(), "6b1f0a52-3c4d-4e8f-9a10-2b3c4d5e6f70".into());
        meta.insert("resourceVersion".into(), "48213".into());
        meta.insert("generation".into(), 1.into());
        meta.insert("creationTimestamp".into(), "2026-11-20T10:00:00Z".into());
    }
    if let (Some(status), Value::Object(m)) = (status, &mut object) {
        m.insert("status".into(), status);
    }
    object
}

/// (new, old) for an UPDATE: unrelated objects, a metadata-only change, steps appended
/// to the stored plan, or `ibuSpec` changed; the stored object has a status, often
/// copied into the new one as the apiserver does.
fn update() -> impl Strategy<Value = (Value, Value)> {
    (
        ibgu(),
        ibgu(),
        status(),
        0..4u8,
        any::<Index>(),
        any::<bool>(),
    )
        .prop_map(|(new, other, status, how, cut, copy_status)| {
            let old = match how {
                0 => other,
                1 => new.clone(),
                2 => {
                    let mut old = new.clone();
                    if let Some(Value::Array(plan)) = old.pointer_mut("/spec/plan") {
                        plan.truncate(cut.index(plan.len() + 1));
                    }
                    old
                }
                _ => {
                    let mut old = new.clone();
                    if let (Some(slot), Some(ibu)) = (
                        old.pointer_mut("/spec/ibuSpec"),
                        other.pointer("/spec/ibuSpec"),
                    ) {
                        *slot = ibu.clone();
                    }
                    old
                }
            };
            let old = stored(old, status.clone());
            let new = stored(new, if copy_status { status } else { None });
            (new, old)
        })
}

fn config() -> impl Strategy<Value = Config> {
    (
        1i64..500,
        prop::option::of(prop::sample::select(SECRET_NAMES.to_vec())),
        any::<bool>(),
    )
        .prop_map(|(m, seed, strict)| Config {
            default_max_concurrency: m,
            seed_pull_secret: seed.map(str::to_owned),
            require_pull_secret: strict,
            validate_on_mutate: strict,
        })
}

fn hub() -> impl Strategy<Value = Facts> {
    let lookup = prop_oneof![
        Just(SecretLookup::Found(FoundSecret::usable())),
        Just(SecretLookup::Found(FoundSecret::without_docker_config())),
        Just(SecretLookup::Missing),
        Just(SecretLookup::Unknown("timed out".into())),
    ];
    prop_oneof![
        Just(Facts::Offline),
        prop::collection::vec(lookup, SECRET_NAMES.len()..=SECRET_NAMES.len()).prop_map(|l| {
            Facts::Secrets(
                SECRET_NAMES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .zip(l)
                    .collect::<BTreeMap<_, _>>(),
            )
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Property 1: determinism and key order.

/// The object a reply's patch makes of `object` (itself when there is no patch).
fn patched(object: &Value, reply: &Reply) -> Result<Value, TestCaseError> {
    let mut out = object.clone();
    if let Some(p) = &reply.patch {
        json_patch::patch(&mut out, p).map_err(|e| fail(format!("patch does not apply: {e}")))?;
    }
    Ok(out)
}

fn check_order_independence(
    review: &Value,
    config: &Config,
    hub: &Facts,
    seed: u64,
) -> Result<(), TestCaseError> {
    let body = serde_json::to_vec(review).map_err(fail)?;
    let variants = [
        ("reversed", reordered(review, Order::Reversed)),
        (
            "shuffled",
            reordered(review, Order::Shuffled(SplitMix(seed))),
        ),
    ];
    for mode in [Endpoint::Validate, Endpoint::Mutate] {
        let first = decide(&body, mode, config, hub)?;
        let again = decide(&body, mode, config, hub)?;
        prop_assert_eq!(
            &first,
            &again,
            "{} twice on the same bytes: different replies",
            mode
        );
        let want = read_reply(&first)?;
        let want_object = patched(&review["request"]["object"], &want)?;
        for (how, bytes) in &variants {
            // The variant must really be the same review.
            let same: Value = serde_json::from_slice(bytes).map_err(fail)?;
            prop_assert_eq!(&same, review);
            let got_text = decide(bytes, mode, config, hub)?;
            prop_assert_eq!(&got_text, &decide(bytes, mode, config, hub)?);
            let got = read_reply(&got_text)?;
            prop_assert_eq!(got.allowed, want.allowed, "{} {}: verdict", mode, how);
            prop_assert_eq!(got.code, want.code, "{} {}: code", mode, how);
            prop_assert_eq!(&got.causes, &want.causes, "{} {}: causes", mode, how);
            prop_assert_eq!(&got.message, &want.message, "{} {}: message", mode, how);
            prop_assert_eq!(&got.warnings, &want.warnings, "{} {}: warnings", mode, how);
            prop_assert_eq!(
                &patched(&same["request"]["object"], &got)?,
                &want_object,
                "{} {}: patched object",
                mode,
                how
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Property 3: finished plans, appended and edited.

/// A plan with a rollout strategy (maxConcurrency, timeout) per step.
type Steps = Vec<(Vec<String>, (i64, i64))>;

fn steps_json(steps: &Steps) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|(a, (m, t))| json!({"actions": a, "rolloutStrategy": {"maxConcurrency": m, "timeout": t}}))
            .collect(),
    )
}

/// The object, stored or new, with `steps` as its plan.
fn upgrade(steps: &Steps, status: Option<&Value>) -> Value {
    let mut o = json!({
        "apiVersion": "lcm.openshift.io/v1alpha1",
        "kind": "ImageBasedGroupUpgrade",
        "metadata": {"name": "upgrade-4-20", "namespace": "ztp-group",
                     "labels": {"app.kubernetes.io/managed-by": "argocd"}},
        "spec": {
            "clusterLabelSelectors": [{"matchExpressions": [{"key": "name", "operator": "In",
                                                              "values": ["spoke1", "spoke4", "spoke6"]}]}],
            "ibuSpec": {
                "seedImageRef": {"image": "quay.io/seed/image:4.20.0-rc.1", "version": "4.20.0-rc.1",
                                 "pullSecretRef": {"name": "seed-pull-secret"}},
                "oadpContent": [{"name": "oadp-cm", "namespace": "openshift-adp"}]
            },
            "plan": steps_json(steps)
        }
    });
    if let (Some(s), Value::Object(m)) = (status, &mut o) {
        m.insert("status".into(), s.clone());
    }
    o
}

/// The status TALM writes once every step of `plan` is done: each cluster completed every
/// action, or failed one (and completed those before it); `Progressing` is False with
/// reason `Completed`; no cluster has a `currentAction`.
fn finished_status(plan: &Plan, failures: &[Option<Index>]) -> Value {
    let actions: Vec<&String> = plan.iter().flatten().collect();
    let clusters: Vec<Value> = failures
        .iter()
        .enumerate()
        .map(|(i, failure)| {
            let failed_at = failure.map(|f| f.index(actions.len()));
            let done = &actions[..failed_at.unwrap_or(actions.len())];
            let mut c = Map::new();
            c.insert("name".into(), format!("spoke{}", i + 1).into());
            if !done.is_empty() {
                c.insert(
                    "completedActions".into(),
                    done.iter().map(|a| json!({ "action": a })).collect(),
                );
            }
            if let Some(f) = failed_at {
                c.insert(
                    "failedActions".into(),
                    json!([{"action": actions[f], "message": "pod lca-prep failed: image pull back-off"}]),
                );
            }
            Value::Object(c)
        })
        .collect();
    json!({
        "clusters": clusters,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "Completed",
                        "message": "", "lastTransitionTime": "2026-11-20T11:00:00Z"}]
    })
}

/// An edit of an existing step.
#[derive(Debug, Clone)]
enum Edit {
    Actions(Vec<String>),
    MaxConcurrency(i64),
    Timeout(i64),
    Remove,
    SwapWith(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        prop_oneof![
            prop::sample::select(UPSTREAM_STEPS.clone()),
            prop::sample::subsequence(Action::NAMES.to_vec(), 1..=4)
                .prop_shuffle()
                .prop_map(|a| a.into_iter().map(str::to_owned).collect()),
        ]
        .prop_map(Edit::Actions),
        (1i64..100).prop_map(Edit::MaxConcurrency),
        (1i64..100).prop_map(Edit::Timeout),
        Just(Edit::Remove),
        any::<Index>().prop_map(Edit::SwapWith),
    ]
}

/// A finished plan and the steps appended to it: (stored steps, new steps, status).
fn finished_and_appended() -> impl Strategy<Value = (Steps, Steps, Value, bool)> {
    prop::sample::select(CONTINUATIONS.clone()).prop_flat_map(|(old, new)| {
        let n = new.len();
        (
            Just((old, new)),
            prop::collection::vec((1i64..=300, 1i64..=600), n..=n),
            prop::collection::vec(prop::option::weighted(0.2, any::<Index>()), 0..6),
            any::<bool>(),
        )
            .prop_map(|((old, new), rollouts, failures, copy_status)| {
                let status = finished_status(&old, &failures);
                let steps: Steps = new.into_iter().zip(rollouts).collect();
                (steps[..old.len()].to_vec(), steps, status, copy_status)
            })
    })
}

fn check_append_then_edit(
    old_steps: &Steps,
    new_steps: &Steps,
    status: &Value,
    copy_status: bool,
    target: Index,
    edit: &Edit,
) -> Result<(), TestCaseError> {
    let (config, hub) = (Config::default(), Facts::Offline);
    let old = stored(upgrade(old_steps, None), Some(status.clone()));
    let update = |steps: &Steps| {
        let new = stored(upgrade(steps, None), copy_status.then(|| status.clone()));
        serde_json::to_vec(&review("UPDATE", &new, Some(&old)))
    };

    // Appending a continuation the upstream table supports: allowed.
    let plan = |s: &Steps| s.iter().map(|(a, _)| a.clone()).collect::<Plan>();
    prop_assert!(
        UPSTREAM_SET.contains(&plan(old_steps)) && UPSTREAM_SET.contains(&plan(new_steps))
    );
    let appended = judge(
        &update(new_steps).map_err(fail)?,
        Endpoint::Validate,
        &config,
        &hub,
    )?;
    prop_assert!(
        appended.allowed,
        "appending {:?} to finished {:?} denied: {:?}",
        plan(new_steps),
        plan(old_steps),
        appended.message
    );

    // Then one existing step edited: denied, naming the step.
    let i = target.index(old_steps.len());
    let mut edited = new_steps.clone();
    let (fields, at): (&[&str], usize) = match edit {
        Edit::Actions(a) => {
            prop_assume!(*a != edited[i].0);
            edited[i].0 = a.clone();
            (&["actions"], i)
        }
        Edit::MaxConcurrency(d) => {
            edited[i].1.0 += d;
            (&["rolloutStrategy"], i)
        }
        Edit::Timeout(d) => {
            edited[i].1.1 += d;
            (&["rolloutStrategy"], i)
        }
        Edit::Remove => {
            // Adjacent steps of an upstream plan never have the same actions, so the
            // step that moves into slot i differs from the one removed.
            prop_assert_ne!(&new_steps[i].0, &new_steps[i + 1].0);
            edited.remove(i);
            (&["actions"], i)
        }
        Edit::SwapWith(j) => {
            // Any other step, appended ones included.
            let j = j.index(edited.len() - 1);
            let j = if j >= i { j + 1 } else { j };
            prop_assume!(edited[i] != edited[j]);
            edited.swap(i, j);
            let at = i.min(j);
            // Whatever differs at the first of the two slots is named.
            if edited[at].0 != new_steps[at].0 {
                (&["actions"], at)
            } else {
                (&["rolloutStrategy"], at)
            }
        }
    };
    let denied = judge(
        &update(&edited).map_err(fail)?,
        Endpoint::Validate,
        &config,
        &hub,
    )?;
    prop_assert!(
        !denied.allowed,
        "{edit:?} of step {i} allowed: {:?}",
        plan(&edited)
    );
    prop_assert_eq!(denied.code, Some(403));
    let want: Vec<String> = fields
        .iter()
        .map(|f| format!("spec.plan[{at}].{f}"))
        .collect();
    prop_assert!(
        denied
            .causes
            .iter()
            .any(|(field, reason, _)| want.contains(field) && reason == "FieldValueForbidden"),
        "{edit:?} of step {i}: no Forbidden cause at {want:?}: {:?}",
        denied.causes
    );
    let message = denied.message.unwrap_or_default();
    prop_assert!(
        want.iter()
            .any(|w| message.contains(&format!("{w}: Forbidden"))),
        "message does not name {want:?}: {message}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Property 4: any stored plan, appended.

fn check_append_to_any_stored_plan(
    stored_plan: &Plan,
    appended: &[Vec<String>],
    rollouts: &[(i64, i64)],
    failures: &[Option<Index>],
) -> Result<(), TestCaseError> {
    let (config, hub) = (Config::default(), Facts::Offline);
    let mut plan = stored_plan.clone();
    plan.extend(appended.iter().cloned());
    let steps = |p: &Plan| -> Steps { p.iter().cloned().zip(rollouts.iter().copied()).collect() };
    // A failure needs an action to fail at.
    let any_action = stored_plan.iter().any(|s| !s.is_empty());
    let status = finished_status(stored_plan, if any_action { failures } else { &[] });
    let old = stored(upgrade(&steps(stored_plan), None), Some(status.clone()));
    let new = stored(upgrade(&steps(&plan), None), Some(status));
    let body = serde_json::to_vec(&review("UPDATE", &new, Some(&old))).map_err(fail)?;
    let stored_supported = UPSTREAM_SET.contains(stored_plan);
    for mode in [Endpoint::Validate, Endpoint::Mutate] {
        let reply = judge(&body, mode, &config, &hub)?;
        if reply.allowed {
            prop_assert!(
                appended.is_empty() || UPSTREAM_SET.contains(&plan),
                "{mode:?} admitted {plan:?} appended to stored {stored_plan:?}: {:?}",
                reply.warnings
            );
        }
        if !appended.is_empty() && !stored_supported {
            let message = reply.message.unwrap_or_default();
            prop_assert!(
                message.contains("is not one TALM supports, so it has no continuation"),
                "{mode:?}: {appended:?} appended to unsupported {stored_plan:?}: {message}"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------

/// The CREATE review for `plan` with everything but the plan valid.
fn create_plan(plan: &Plan, rollouts: &[(i64, i64)]) -> Result<Vec<u8>, TestCaseError> {
    let steps: Steps = plan.iter().cloned().zip(rollouts.iter().copied()).collect();
    serde_json::to_vec(&review("CREATE", &upgrade(&steps, None), None)).map_err(fail)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Property 1, CREATE.
    #[test]
    fn create_is_deterministic_and_independent_of_key_order(
        object in ibgu(), config in config(), hub in hub(), seed in any::<u64>(),
    ) {
        check_order_independence(&review("CREATE", &object, None), &config, &hub, seed)?;
    }

    /// Property 1, UPDATE.
    #[test]
    fn update_is_deterministic_and_independent_of_key_order(
        (new, old) in update(), config in config(), hub in hub(), seed in any::<u64>(),
    ) {
        check_order_independence(&review("UPDATE", &new, Some(&old)), &config, &hub, seed)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Property 2.
    #[test]
    fn create_allows_a_plan_exactly_when_upstream_lists_it(
        plan in plan(), rollouts in prop::collection::vec((1i64..=500, 1i64..=1440), 7),
    ) {
        let reply = judge(&create_plan(&plan, &rollouts)?, Endpoint::Validate, &Config::default(), &Facts::Offline)?;
        let supported = UPSTREAM_SET.contains(&plan);
        prop_assert_eq!(
            reply.allowed, supported,
            "plan {:?}: allowed={}, upstream lists it: {}; {:?}", plan, reply.allowed, supported, reply.message
        );
        if !reply.allowed {
            // Everything but the plan is valid, so every violation is in the plan.
            prop_assert_eq!(reply.code, Some(403));
            prop_assert!(!reply.causes.is_empty());
            prop_assert!(
                reply.causes.iter().all(|(f, _, _)| f.starts_with("spec.plan")),
                "a violation outside the plan: {:?}", reply.causes
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Property 3.
    #[test]
    fn appending_to_a_finished_plan_is_allowed_and_editing_a_step_is_named(
        (old, new, status, copy_status) in finished_and_appended(),
        target in any::<Index>(),
        edit in edit(),
    ) {
        check_append_then_edit(&old, &new, &status, copy_status, target, &edit)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Property 4.
    #[test]
    fn no_update_admits_an_unsupported_changed_plan(
        stored_plan in plan(),
        appended in prop::collection::vec(other_step(), 0..=2),
        rollouts in prop::collection::vec((1i64..=500, 1i64..=1440), 9),
        failures in prop::collection::vec(prop::option::weighted(0.2, any::<Index>()), 0..4),
    ) {
        check_append_to_any_stored_plan(&stored_plan, &appended, &rollouts, &failures)?;
    }
}

/// The plan generator is not mostly junk: supported plans and near misses (unsupported,
/// one step from a supported plan) each make up a good share.
#[test]
fn plan_generator_favours_supported_plans_and_near_misses() {
    let mut runner = TestRunner::deterministic();
    let strategy = plan();
    let (mut supported, mut near, mut other, total) = (0, 0, 0, 4000);
    for _ in 0..total {
        let p = strategy.new_tree(&mut runner).expect("a plan").current();
        assert!((1..=7).contains(&p.len()), "{p:?}");
        if UPSTREAM_SET.contains(&p) {
            supported += 1;
        } else if one_step_from_supported(&p) {
            near += 1;
        } else {
            other += 1;
        }
    }
    eprintln!(
        "plans: {supported} supported, {near} one step from supported, {other} other, of {total}"
    );
    assert!(supported * 5 >= total, "{supported} supported of {total}");
    assert!(near * 5 >= total, "{near} near misses of {total}");
    assert!(other * 10 >= total, "{other} others of {total}");
}

#[test]
fn the_oracle_and_its_continuations() {
    assert_eq!(UPSTREAM_SET.len(), 26);
    // Every plan but the 1-step ones has a supported prefix it continues.
    assert!(CONTINUATIONS.len() >= 26 - 8, "{}", CONTINUATIONS.len());
    assert!(
        CONTINUATIONS
            .iter()
            .all(|(o, n)| UPSTREAM_SET.contains(o) && UPSTREAM_SET.contains(n))
    );
}
