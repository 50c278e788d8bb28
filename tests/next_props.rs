//! Properties of `next` over live objects shaped as TALM writes them (a stored plan that
//! is a prefix of an upstream plan, or junk; clusters that completed a prefix of its
//! actions, failed the next, run it, recovered with AbortOnFailure, or never ran;
//! `Progressing` as TALM sets it; a current, stale or missing `observedGeneration`; or no
//! status at all):
//!
//! 1. Every proposal, applied as the JSON Patch the command sends to the object's JSON,
//!    is admitted by the webhook as the apiserver would run it: the UPDATE through
//!    `/mutate` (allowed), its patch applied, then through `/validate` (allowed), both
//!    read from AdmissionReview bytes; and its rollout strategy is what `/mutate` gives
//!    the bare step.
//! 2. The continuations are exactly those the upstream CRD's table allows after the stored
//!    plan (read from the vendored CRD, not the webhook's table), and "may append" holds
//!    exactly when there is a proposal; the state is `complete` exactly when the table
//!    allows nothing after the plan.
//! 3. On a well-formed object, the state is `wait` exactly when rule 4's conditions hold
//!    (a cluster runs, `Progressing` is True, TALM's generation is behind, no status yet),
//!    and otherwise "may append" holds exactly when the table allows a continuation.
//! 4. The listed clusters no continuation acts on, by TALM's label rules as written here
//!    from its `getLabelSelectorForPlanItem` and `ensureClusterLabels`: one a later step
//!    of an upstream plan selects is `reached by` that step, after the fewest steps that
//!    do not, on a path the upstream table has; "no continuation selects it" only where no
//!    step of any upstream plan after the stored one selects it; a running one is said to
//!    run; and every other listed cluster is acted on by a continuation.
//! 5. `next --manifest`'s edit of a manifest in git, over manifests generated in varied
//!    styles (block or flow plans, block or flow values, indentation, `- ` offsets,
//!    quoting, key order, spacing in flow collections, JSON pretty or minified, CRLF, no
//!    final line ending, comments, other keys and documents around the plan): the file
//!    with the edit is byte for byte what the generator writes for the plan with the new
//!    step, so every other byte is as it was, and it reads as the manifest plus the step.

#[path = "support/upstream.rs"]
mod upstream;

use std::sync::LazyLock;

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::cli::check::Input;
use ibgu_webhook::cli::git_manifest::Manifest;
use ibgu_webhook::cli::next::Report;
use ibgu_webhook::cli::plan_text::NewStep;
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::Facts;
use ibgu_webhook::policy::next::{Next, State};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use upstream::{Plan, upstream_plans};

static UPSTREAM: LazyLock<Vec<Plan>> = LazyLock::new(upstream_plans);

/// Every proper prefix of an upstream plan (the empty one excluded: the CRD requires a
/// step), each once.
static PREFIXES: LazyLock<Vec<Plan>> = LazyLock::new(|| {
    let mut out: Vec<Plan> = Vec::new();
    for p in UPSTREAM.iter() {
        for k in 1..=p.len() {
            if !out.contains(&p[..k].to_vec()) {
                out.push(p[..k].to_vec());
            }
        }
    }
    out
});

/// What the upstream table allows right after `plan`, in table order, each once.
fn upstream_continuations(plan: &Plan) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for p in UPSTREAM.iter() {
        if p.len() > plan.len() && p.starts_with(plan) && !out.contains(&p[plan.len()]) {
            out.push(p[plan.len()].clone());
        }
    }
    out
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

/// How one cluster's history stands after the stored plan's actions, in order.
#[derive(Debug, Clone)]
enum History {
    /// Completed the first `n` actions.
    Done(usize),
    /// Completed `n`, failed the next.
    Failed(usize),
    /// Completed `n`, runs the next.
    Running(usize),
    /// Failed Prep, then completed AbortOnFailure.
    Recovered,
    /// Listed by name only: its batch never began.
    NeverRan,
}

fn history() -> impl Strategy<Value = History> {
    prop_oneof![
        4 => (0usize..6).prop_map(History::Done),
        2 => (0usize..6).prop_map(History::Failed),
        1 => (0usize..6).prop_map(History::Running),
        1 => Just(History::Recovered),
        1 => Just(History::NeverRan),
    ]
}

/// Whether TALM selects cluster status entry `c` for a step starting with `first`, by the
/// labels it keeps from the status: `-completed` and `-failed` per action, all removed
/// once Abort, AbortOnFailure, FinalizeUpgrade or FinalizeRollback completed.
fn selects(first: &str, c: &Value) -> bool {
    let has = |list: &str, a: &str| {
        c[list]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["action"] == a))
    };
    let cleared = [
        "Abort",
        "AbortOnFailure",
        "FinalizeUpgrade",
        "FinalizeRollback",
    ]
    .iter()
    .any(|a| has("completedActions", a));
    let label = |list: &str, a: &str| !cleared && has(list, a);
    match first {
        "Prep" => true,
        "Abort" => !label("completedActions", "Upgrade"),
        "Upgrade" => label("completedActions", "Prep"),
        "FinalizeUpgrade" | "Rollback" => label("completedActions", "Upgrade"),
        "FinalizeRollback" => label("completedActions", "Rollback"),
        "AbortOnFailure" => label("failedActions", "Prep") || label("failedActions", "Upgrade"),
        _ => false,
    }
}

/// The fewest steps after `plan`, in any upstream plan, before one that selects `c`
/// (0: a continuation does); `None` when no upstream step after `plan` selects it.
fn fewest_before(plan: &Plan, c: &Value) -> Option<usize> {
    UPSTREAM
        .iter()
        .filter(|p| p.len() > plan.len() && p.starts_with(plan))
        .filter_map(|p| p[plan.len()..].iter().position(|s| selects(&s[0], c)))
        .min()
}

/// Claim 4, for every listed cluster.
fn check_unreached(case: &Case, next: &Next) -> Result<(), TestCaseError> {
    let clusters = case
        .object
        .pointer("/status/clusters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut unreached = 0;
    for c in &clusters {
        let name = c["name"].as_str().unwrap_or_default();
        let entry = next.unreached.iter().find(|u| u.cluster == name);
        let fewest = fewest_before(&case.plan, c);
        if fewest == Some(0) {
            prop_assert!(entry.is_none(), "{} is acted on, yet {:?}", name, entry);
            continue;
        }
        unreached += 1;
        let u = entry.ok_or_else(|| fail(format!("{name} is not listed as unreached")))?;
        match (c.get("currentAction").is_some(), fewest) {
            (true, _) => {
                prop_assert!(u.why.starts_with("running "), "{:?}", u);
                prop_assert!(u.reached_by.is_none(), "{:?}", u);
            }
            (false, Some(k)) => {
                let later = u
                    .reached_by
                    .as_ref()
                    .ok_or_else(|| fail(format!("{name}: a step {k} later selects it: {u:?}")))?;
                prop_assert_eq!(later.after.len(), k, "{:?}", u);
                prop_assert!(u.why.starts_with("reached by "), "{:?}", u);
                let owned = |s: &Vec<&str>| s.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
                let mut path = case.plan.clone();
                path.extend(later.after.iter().map(owned));
                path.push(owned(&later.step));
                prop_assert!(UPSTREAM.iter().any(|p| p.starts_with(&path)), "{:?}", path);
                prop_assert!(selects(later.step[0], c), "{:?}", u);
                prop_assert!(later.after.iter().all(|s| !selects(s[0], c)), "{:?}", u);
            }
            (false, None) => {
                prop_assert!(u.reached_by.is_none(), "{:?}", u);
                prop_assert!(!u.why.starts_with("reached by "), "{:?}", u);
            }
        }
    }
    prop_assert_eq!(next.unreached.len(), unreached);
    Ok(())
}

/// One `status.clusters` entry as TALM writes it.
fn cluster(i: usize, actions: &[String], h: &History) -> Value {
    let mut c = Map::new();
    c.insert("name".into(), format!("spoke{}", i + 1).into());
    let list = |a: &[String]| -> Value { a.iter().map(|a| json!({ "action": a })).collect() };
    let upto = |n: usize| n.min(actions.len());
    match h {
        History::Done(n) => {
            if upto(*n) > 0 {
                c.insert("completedActions".into(), list(&actions[..upto(*n)]));
            }
        }
        History::Failed(n) | History::Running(n) if upto(*n) < actions.len() => {
            if upto(*n) > 0 {
                c.insert("completedActions".into(), list(&actions[..upto(*n)]));
            }
            let next = &actions[upto(*n)];
            if matches!(h, History::Failed(_)) {
                c.insert(
                    "failedActions".into(),
                    json!([{"action": next, "message": format!("{next} failed:\npod lca-{} exited 1", next.to_lowercase())}]),
                );
            } else {
                c.insert("currentAction".into(), json!({ "action": next }));
            }
        }
        History::Recovered => {
            c.insert(
                "completedActions".into(),
                list(&["AbortOnFailure".to_owned()]),
            );
            c.insert(
                "failedActions".into(),
                json!([{"action": "Prep", "message": "timed out\nwaiting for the stateroot"}]),
            );
        }
        // Failing or running past the plan's end: done with every action.
        History::Failed(_) | History::Running(_) => {
            if !actions.is_empty() {
                c.insert("completedActions".into(), list(actions));
            }
        }
        History::NeverRan => {}
    }
    Value::Object(c)
}

/// A live object and what the generator put in it.
#[derive(Debug, Clone)]
struct Case {
    object: Value,
    plan: Plan,
    /// Seed set, short name, readable status: nothing but rule 4 can refuse an append.
    well_formed: bool,
    /// Rule 4's conditions, as the generator made them.
    busy: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![
            9 => prop::sample::select(PREFIXES.clone()),
            1 => prop::sample::select(PREFIXES.clone()).prop_map(|mut p| {
                p.push(vec!["Bogus".to_owned()]);
                p
            }),
        ],
        prop::collection::vec((1i64..=300, 1i64..=600), 6),
        prop::sample::select(vec![12usize, 12, 12, 50, 60]),
        prop::bool::weighted(0.9),
        prop::option::of("[1-9][0-9]{0,5}"),
        (1i64..5, 0u8..4),
        prop::option::weighted(0.9, prop::collection::vec(history(), 0..7)),
        prop::option::weighted(0.85, prop::bool::weighted(0.2)),
    )
        .prop_map(|(plan, rollouts, name_len, seed, rv, (generation, seen), histories, progressing)| {
            let steps: Vec<Value> = plan
                .iter()
                .zip(&rollouts)
                .map(|(a, (m, t))| json!({"actions": a, "rolloutStrategy": {"maxConcurrency": m, "timeout": t}}))
                .collect();
            let mut meta = json!({
                "name": "u".repeat(name_len),
                "namespace": "ztp-group",
                "generation": generation,
                "uid": "6b1f0a52-3c4d-4e8f-9a10-2b3c4d5e6f70",
                "creationTimestamp": "2026-11-20T10:00:00Z",
            });
            if let Some(rv) = rv {
                meta["resourceVersion"] = rv.into();
            }
            let ibu = if seed {
                json!({"seedImageRef": {"image": "quay.io/seed/image:4.20.0", "version": "4.20.0"}})
            } else {
                json!({})
            };
            let mut object = json!({
                "apiVersion": "lcm.openshift.io/v1alpha1",
                "kind": "ImageBasedGroupUpgrade",
                "metadata": meta,
                "spec": {
                    "clusterLabelSelectors": [{"matchLabels": {"upgrade": "4.20"}}],
                    "ibuSpec": ibu,
                    "plan": steps,
                },
            });
            // A cluster that did not fail is not selected by AbortOnFailure: it goes on
            // with the plan's other actions (recovery is `History::Recovered`).
            let actions: Vec<String> = plan
                .iter()
                .flatten()
                .filter(|a| *a != "AbortOnFailure")
                .cloned()
                .collect();
            let busy = if let Some(histories) = &histories {
                let clusters: Vec<Value> = histories
                    .iter()
                    .enumerate()
                    .map(|(i, h)| cluster(i, &actions, h))
                    .collect();
                let running = clusters.iter().any(|c| c.get("currentAction").is_some());
                // Drawn apart from the clusters: a currentAction can briefly sit next to
                // Progressing False, and a TALM that has not reconciled has no condition.
                let progressing_true = progressing == Some(true);
                let mut status = json!({ "clusters": clusters });
                if progressing.is_some() {
                    status["conditions"] = json!([if progressing_true {
                        json!({"type": "Progressing", "status": "True", "reason": "InProgress",
                               "message": "Plan step is in progress"})
                    } else {
                        json!({"type": "Progressing", "status": "False", "reason": "Completed",
                               "message": "All plan steps are completed"})
                    }]);
                }
                // 0: caught up; 1: one generation behind; 2: not written; 3: caught up.
                let observed = match seen {
                    1 => Some(generation - 1),
                    2 => None,
                    _ => Some(generation),
                };
                if let Some(o) = observed {
                    status["observedGeneration"] = o.into();
                }
                object["status"] = status;
                running || progressing_true || observed.is_some_and(|o| o < generation)
            } else {
                true // no status yet
            };
            let known = plan.iter().flatten().all(|a| a != "Bogus");
            Case {
                object,
                plan,
                well_formed: seed && name_len <= 12 && known,
                busy,
            }
        })
}

fn config() -> impl Strategy<Value = Config> {
    (1i64..500, any::<bool>()).prop_map(|(m, validate_on_mutate)| Config {
        default_max_concurrency: m,
        seed_pull_secret: None,
        require_pull_secret: false,
        validate_on_mutate,
    })
}

fn review(object: &Value, old: &Value) -> Result<Vec<u8>, TestCaseError> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "7e570000-0000-4000-8000-0000000000ab", "operation": "UPDATE",
            "namespace": "ztp-group", "name": object["metadata"]["name"],
            "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
            "resource": {"group": "lcm.openshift.io", "version": "v1alpha1", "resource": "imagebasedgroupupgrades"},
            "userInfo": {"username": "kube:admin"},
            "object": object, "oldObject": old,
        }
    }))
    .map_err(fail)
}

/// One endpoint's answer, read back from the wire: (allowed, message, patch).
fn answer(
    endpoint: Endpoint,
    config: &Config,
    object: &Value,
    old: &Value,
) -> Result<(bool, String, Option<json_patch::Patch>), TestCaseError> {
    let response = admission::review_body(&review(object, old)?, endpoint, config, &Facts::Offline)
        .map_err(fail)?;
    let wire: Value = serde_json::from_slice(&response.to_review_json()).map_err(fail)?;
    let r = &wire["response"];
    let patch = match r["patch"].as_str() {
        None => None,
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(fail)?;
            Some(serde_json::from_slice(&bytes).map_err(fail)?)
        }
    };
    Ok((
        r["allowed"].as_bool().unwrap_or(false),
        r["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        patch,
    ))
}

/// The object as stored after the apiserver admits `object`: /mutate, patch, /validate.
fn admit(config: &Config, object: &Value, old: &Value) -> Result<Value, TestCaseError> {
    let (allowed, message, patch) = answer(Endpoint::Mutate, config, object, old)?;
    prop_assert!(allowed, "/mutate refused: {message}");
    let mut mutated = object.clone();
    if let Some(p) = patch {
        json_patch::patch(&mut mutated, &p).map_err(fail)?;
    }
    let (allowed, message, _) = answer(Endpoint::Validate, config, &mutated, old)?;
    prop_assert!(allowed, "/validate refused: {message}");
    Ok(mutated)
}

fn check(config: &Config, case: &Case) -> Result<(), TestCaseError> {
    let report = Report::of(config, &case.object).map_err(fail)?;
    let next = &report.next;

    // 2. The continuations are the upstream table's; "may append" is a proposal.
    let listed: Vec<Vec<String>> = next
        .continuations
        .iter()
        .map(|c| c.actions.iter().map(|a| (*a).to_owned()).collect())
        .collect();
    let expected = upstream_continuations(&case.plan);
    prop_assert_eq!(&listed, &expected);
    prop_assert_eq!(next.state == State::Ready, !report.proposals.is_empty());
    prop_assert_eq!(next.state == State::Complete, expected.is_empty());
    let admitted: Vec<&Vec<&str>> = next.allowed().map(|c| &c.actions).collect();
    let proposed: Vec<&Vec<&str>> = report.proposals.iter().map(|p| &p.actions).collect();
    prop_assert_eq!(admitted, proposed);

    // 3. Rule 4's conditions decide waiting, on a well-formed object.
    if case.well_formed && !expected.is_empty() {
        let want = if case.busy { State::Wait } else { State::Ready };
        prop_assert_eq!(next.state, want, "{:?}", next.why);
    }

    // 4. Which later step reaches the clusters no continuation acts on.
    if !expected.is_empty() {
        check_unreached(case, next)?;
    }

    // 1. Every proposal is admitted, applied as its patch to the object read.
    for p in &report.proposals {
        let mut new = case.object.clone();
        json_patch::patch(&mut new, &p.patch).map_err(|e| fail(format!("{e}: {:?}", p.patch)))?;
        let stored = admit(config, &new, &case.object)?;
        let plan = stored["spec"]["plan"].as_array().map(Vec::len);
        prop_assert_eq!(plan, Some(case.plan.len() + 1));
        // Its strategy is what /mutate gives the bare step.
        let mut bare = case.object.clone();
        if let Some(Value::Array(steps)) = bare.pointer_mut("/spec/plan") {
            steps.push(json!({ "actions": p.actions }));
        }
        let (_, _, defaults) = answer(Endpoint::Mutate, config, &bare, &case.object)?;
        let mut defaulted = bare.clone();
        if let Some(d) = defaults {
            json_patch::patch(&mut defaulted, &d).map_err(fail)?;
        }
        let at = format!("/spec/plan/{}/rolloutStrategy", case.plan.len());
        prop_assert_eq!(stored.pointer(&at), defaulted.pointer(&at));
        // A test of the resourceVersion read comes first when there is one.
        let rv = case.object.pointer("/metadata/resourceVersion");
        let tests = p
            .patch
            .0
            .iter()
            .filter(|op| matches!(op, json_patch::PatchOperation::Test(_)))
            .count();
        prop_assert_eq!(tests, usize::from(rv.is_some()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn next_proposes_only_what_the_webhook_admits(config in config(), case in case()) {
        check(&config, &case)?;
    }
}

#[test]
fn the_generator_reaches_every_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    let mut why = std::collections::BTreeSet::new();
    for _ in 0..400 {
        let case = case().new_tree(&mut runner).expect("a case").current();
        let report = Report::of(&Config::default(), &case.object).expect("readable");
        seen.insert(format!("{:?}", report.next.state));
        for u in &report.next.unreached {
            why.insert(
                u.why
                    .split([' ', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["Blocked", "Complete", "Ready", "Wait"]
    );
    // Claim 4 meets every reason a cluster is unreached.
    assert_eq!(
        why.into_iter().collect::<Vec<_>>(),
        ["completed", "never", "no", "reached", "running"]
    );
}

/// How a generated manifest writes its steps and what surrounds them.
#[derive(Debug, Clone)]
struct Look {
    /// JSON instead of YAML: pretty (`true`) or minified.
    json: Option<bool>,
    /// A flow plan: an item a line (`true`) or all on one line.
    flow_plan: Option<bool>,
    width: usize,
    /// The plan's `-` one level right of `plan:` (else at its column, as kubectl writes).
    dash_in: bool,
    gap: usize,
    item_flow: bool,
    actions_flow: bool,
    actions_in: bool,
    rollout_flow: bool,
    pad: bool,
    tight: bool,
    key: char,
    value: char,
    actions_first: bool,
    max_first: bool,
    crlf: bool,
    final_newline: bool,
    followed: bool,
    comments: bool,
    before: bool,
    after: bool,
}

fn look() -> impl Strategy<Value = Look> {
    let quote = prop::sample::select(vec![' ', ' ', '\'', '"']);
    (
        prop::option::weighted(0.2, any::<bool>()),
        prop::option::weighted(0.3, any::<bool>()),
        (
            prop::sample::select(vec![2usize, 4]),
            any::<bool>(),
            1usize..4,
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>(), quote.clone(), quote),
        (any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                json,
                flow_plan,
                (width, dash_in, gap),
                (item_flow, actions_flow, actions_in, rollout_flow),
                (pad, tight, key, value),
                (actions_first, max_first),
                (crlf, final_newline, followed, comments),
                (before, after),
            )| {
                // A flow collection holds only flow ones.
                let flow = flow_plan.is_some() || item_flow;
                Look {
                    json,
                    flow_plan,
                    width,
                    dash_in,
                    gap,
                    item_flow,
                    actions_flow: actions_flow || flow,
                    actions_in,
                    rollout_flow: rollout_flow || flow,
                    pad,
                    tight,
                    key,
                    value,
                    actions_first,
                    max_first,
                    crlf,
                    final_newline,
                    followed,
                    comments,
                    before,
                    after,
                }
            },
        )
}

/// A step as the generator writes it: actions, maxConcurrency, timeout.
type GenStep = (Vec<&'static str>, i64, i64);

fn gen_step() -> impl Strategy<Value = GenStep> {
    (
        prop::sample::select(vec![
            vec!["Prep"],
            vec!["Upgrade"],
            vec!["Upgrade", "FinalizeUpgrade"],
            vec!["AbortOnFailure"],
            vec!["Prep", "Upgrade", "FinalizeUpgrade"],
        ]),
        1i64..=500,
        1i64..=2400,
    )
}

impl Look {
    fn quoted(q: char, s: &str) -> String {
        match q {
            ' ' => s.to_owned(),
            q => format!("{q}{s}{q}"),
        }
    }

    fn k(&self, s: &str) -> String {
        Look::quoted(self.key, s)
    }

    fn v(&self, s: &str) -> String {
        Look::quoted(self.value, s)
    }

    fn comma(&self) -> &'static str {
        if self.tight { "," } else { ", " }
    }

    fn flow(&self, open: char, entries: &[String], close: char) -> String {
        let pad = if self.pad { " " } else { "" };
        format!("{open}{pad}{}{pad}{close}", entries.join(self.comma()))
    }

    fn flow_actions(&self, step: &GenStep) -> String {
        let items: Vec<String> = step.0.iter().map(|a| self.v(a)).collect();
        self.flow('[', &items, ']')
    }

    fn flow_rollout(&self, step: &GenStep) -> String {
        let mut e = vec![
            format!("{}: {}", self.k("maxConcurrency"), step.1),
            format!("{}: {}", self.k("timeout"), step.2),
        ];
        if !self.max_first {
            e.reverse();
        }
        self.flow('{', &e, '}')
    }

    fn flow_item(&self, step: &GenStep) -> String {
        let mut e = vec![
            format!("{}: {}", self.k("actions"), self.flow_actions(step)),
            format!("{}: {}", self.k("rolloutStrategy"), self.flow_rollout(step)),
        ];
        if !self.actions_first {
            e.reverse();
        }
        self.flow('{', &e, '}')
    }

    /// A block item's entries, the first one on the `- ` line, the rest at `col`.
    fn block_item(&self, step: &GenStep, col: usize) -> String {
        let pad = |n: usize| " ".repeat(n);
        let actions = if self.actions_flow {
            format!("{}: {}\n", self.k("actions"), self.flow_actions(step))
        } else {
            let indent = if self.actions_in { self.width } else { 0 };
            let items: String = step
                .0
                .iter()
                .map(|a| format!("{}- {}\n", pad(col + indent), self.v(a)))
                .collect();
            format!("{}:\n{items}", self.k("actions"))
        };
        let rollout = if self.rollout_flow {
            format!(
                "{}: {}\n",
                self.k("rolloutStrategy"),
                self.flow_rollout(step)
            )
        } else {
            let mut e = [("maxConcurrency", step.1), ("timeout", step.2)]
                .map(|(k, n)| format!("{}{}: {n}\n", pad(col + self.width), self.k(k)));
            if !self.max_first {
                e.reverse();
            }
            format!("{}:\n{}", self.k("rolloutStrategy"), e.concat())
        };
        let (first, second) = if self.actions_first {
            (actions, rollout)
        } else {
            (rollout, actions)
        };
        format!("{first}{}{second}", pad(col))
    }

    /// `plan:` and its steps, the key at column `w`.
    fn plan(&self, steps: &[GenStep]) -> String {
        let w = self.width;
        let pad = |n: usize| " ".repeat(n);
        let key = self.k("plan");
        match self.flow_plan {
            Some(false) => {
                let items: Vec<String> = steps.iter().map(|s| self.flow_item(s)).collect();
                format!("{}{key}: {}\n", pad(w), self.flow('[', &items, ']'))
            }
            Some(true) => {
                let items: Vec<String> = steps
                    .iter()
                    .map(|s| format!("{}{}", pad(2 * w), self.flow_item(s)))
                    .collect();
                format!("{}{key}: [\n{}\n{}]\n", pad(w), items.join(",\n"), pad(w))
            }
            None => {
                let dash = if self.dash_in { 2 * w } else { w };
                let col = dash + 1 + self.gap;
                let mut out = format!("{}{key}:\n", pad(w));
                if self.comments {
                    out.push_str(&format!("{}# the steps, in order\n", pad(dash)));
                }
                for s in steps {
                    out.push_str(&format!("{}-{}", pad(dash), pad(self.gap)));
                    if self.item_flow {
                        out.push_str(&self.flow_item(s));
                        out.push('\n');
                    } else {
                        out.push_str(&self.block_item(s, col));
                    }
                }
                out
            }
        }
    }

    fn yaml(&self, steps: &[GenStep]) -> String {
        let w = " ".repeat(self.width);
        // A flow mapping that shows the file's spacing even where the steps do not.
        let seed = self.flow(
            '{',
            &[
                "image: quay.io/s:4.20".to_owned(),
                "version: 4.20.0".to_owned(),
            ],
            '}',
        );
        let ibu = format!("{w}ibuSpec:\n{w}{w}seedImageRef: {seed}\n");
        let mut out = String::new();
        if self.comments {
            out.push_str("# the fleet's upgrade\n");
        }
        if self.before {
            out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n");
        }
        out.push_str(&format!(
            "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata:\n{w}name: u\nspec:\n"
        ));
        if !self.followed {
            out.push_str(&ibu);
        }
        out.push_str(&self.plan(steps));
        if self.comments {
            out.push_str(&format!("{w}# more steps as the rollout goes\n\n"));
        }
        if self.followed {
            out.push_str(&ibu);
        }
        if self.after {
            out.push_str("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
        }
        if self.crlf {
            out = out.replace('\n', "\r\n");
        }
        if !self.final_newline {
            out.truncate(out.trim_end_matches(['\r', '\n']).len());
        }
        out
    }

    fn json(&self, pretty: bool, steps: &[GenStep]) -> String {
        let plan: Vec<Value> = steps
            .iter()
            .map(|(a, m, t)| json!({"actions": a, "rolloutStrategy": {"maxConcurrency": m, "timeout": t}}))
            .collect();
        let object = json!({
            "apiVersion": "lcm.openshift.io/v1alpha1", "kind": "ImageBasedGroupUpgrade",
            "metadata": {"name": "u"},
            "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}}, "plan": plan},
        });
        let other = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let mut docs = Vec::new();
        if self.before {
            docs.push(other("a"));
        }
        docs.push(object);
        if self.after {
            docs.push(other("b"));
        }
        let text: Vec<String> = docs
            .iter()
            .map(|d| {
                if pretty {
                    serde_json::to_string_pretty(d)
                } else {
                    serde_json::to_string(d)
                }
                .expect("JSON")
            })
            .collect();
        text.join("\n")
    }

    fn write(&self, steps: &[GenStep]) -> String {
        match self.json {
            Some(pretty) => self.json(pretty, steps),
            None => self.yaml(steps),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_step_written_into_a_manifest_is_what_its_style_writes(
        look in look(),
        steps in prop::collection::vec(gen_step(), 1..4),
        new in gen_step(),
    ) {
        let text = look.write(&steps);
        let input = Input::parse("m", &text).map_err(|e| fail(format!("{e}\n{text}")))?;
        let doc = usize::from(look.before);
        let manifest = Manifest { file: "m", text: &text, input: &input };
        let step = NewStep { actions: &new.0, max_concurrency: new.1, timeout: new.2 };
        // `edit` has read the result back as the manifest plus the step, or failed.
        let edit = manifest.edit(doc, &step).map_err(|e| fail(format!("{e}\n{text}")))?;
        let mut all = steps.clone();
        all.push(new);
        prop_assert_eq!(edit.apply(&text), look.write(&all), "{}", text);
    }
}
