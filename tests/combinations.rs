//! Rule 2, exhaustively: exactly the 26 upstream plans are accepted.
//!
//! The oracle is upstream's own text: the CEL rule "invalid combinations of actions in the
//! plan" of the vendored CRD (`tests/data/upstream/ibgu-crd.yaml`), whose literal list of
//! plans is parsed by `support/upstream.rs`, not the webhook's table.

#[path = "support/upstream.rs"]
mod upstream;

use std::collections::HashSet;

use ibgu_webhook::admission::{self, Endpoint};
use ibgu_webhook::model::{ImageBasedGroupUpgrade, RolloutStrategy, Spec, Step, Text};
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::Facts;
use ibgu_webhook::policy::rule::Context;
use ibgu_webhook::policy::rules::VALIDATING;
use serde_json::{Value, json};
use upstream::{Plan, upstream_plans};

const ACTIONS: [&str; 7] = [
    "Prep",
    "Upgrade",
    "FinalizeUpgrade",
    "Rollback",
    "FinalizeRollback",
    "Abort",
    "AbortOnFailure",
];

fn ibgu(plan: &Plan) -> ImageBasedGroupUpgrade<'_> {
    let steps = plan
        .iter()
        .map(|actions| Step {
            actions: Some(actions.iter().map(|a| Text::from(a.as_str())).collect()),
            rollout_strategy: Some(RolloutStrategy {
                max_concurrency: Some(10),
                timeout: Some(60),
            }),
        })
        .collect();
    ImageBasedGroupUpgrade::new(
        None,
        Some(Spec {
            plan: Some(steps),
            ..Default::default()
        }),
    )
}

#[test]
fn the_oracle_has_26_distinct_plans() {
    let plans = upstream_plans();
    assert_eq!(plans.len(), 26);
    assert_eq!(plans.iter().collect::<HashSet<_>>().len(), 26);
}

#[test]
fn every_upstream_plan_is_allowed_through_the_whole_admission_path() {
    for plan in upstream_plans() {
        let steps: Vec<Value> = plan
            .iter()
            .map(
                |a| json!({"actions": a, "rolloutStrategy": {"maxConcurrency": 10, "timeout": 60}}),
            )
            .collect();
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "operation": "CREATE", "namespace": "ztp", "name": "p",
                "kind": {"group": "lcm.openshift.io", "version": "v1alpha1", "kind": "ImageBasedGroupUpgrade"},
                "object": {
                    "apiVersion": "lcm.openshift.io/v1alpha1", "kind": "ImageBasedGroupUpgrade",
                    "metadata": {"name": "p", "namespace": "ztp"},
                    "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}},
                             "plan": steps}
                }
            }
        });
        let body = serde_json::to_vec(&review).expect("json");
        let r = admission::review_body(
            &body,
            Endpoint::Validate,
            &Config::default(),
            &Facts::Offline,
        )
        .expect("review");
        assert!(r.allowed, "{plan:?} denied: {:?}", r.status);
    }
}

/// Every plan of 1 to `max_steps` steps whose steps are drawn from `steps`, in order.
fn for_each_plan(steps: &[Vec<String>], max_steps: usize, mut f: impl FnMut(&Plan)) {
    let mut idx: Vec<usize> = Vec::with_capacity(max_steps);
    let mut plan: Plan = Vec::with_capacity(max_steps);
    for len in 1..=max_steps {
        idx.clear();
        idx.resize(len, 0);
        loop {
            plan.clear();
            plan.extend(idx.iter().map(|&i| steps[i].clone()));
            f(&plan);
            // Odometer increment.
            let mut k = len;
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < steps.len() {
                    break;
                }
                idx[k] = 0;
                if k == 0 {
                    k = usize::MAX;
                    break;
                }
            }
            if k == usize::MAX {
                break;
            }
        }
    }
}

/// Whether validating rules 1 (plan shape) and 2 (combinations) allow the plan.
fn plan_rules_allow(ibgu: &ImageBasedGroupUpgrade<'_>) -> bool {
    let (config, facts) = (Config::default(), Facts::Offline);
    let ctx = Context {
        config: &config,
        facts: &facts,
        by: Default::default(),
    };
    VALIDATING
        .iter()
        .filter(|r| matches!(r.id, "plan-shape" | "plan-combination"))
        .filter_map(|r| r.object)
        .all(|check| check(ibgu, &ctx).errors.is_empty())
}

/// Checks the verdict of rules 1 and 2 against membership in the upstream list for
/// every plan built from `steps`, on two threads; returns how many plans were checked.
fn exhaust(steps: &[Vec<String>], max_steps: usize) -> usize {
    let upstream: HashSet<Plan> = upstream_plans().into_iter().collect();
    // The upstream plans that lie inside the enumerated space must all come out allowed.
    let reachable = upstream
        .iter()
        .filter(|p| p.len() <= max_steps && p.iter().all(|s| steps.contains(s)))
        .count();
    let (first_half, second_half) = steps.split_at(steps.len() / 2);
    let (checked, allowed) = std::thread::scope(|scope| {
        let workers: Vec<_> = [first_half, second_half]
            .into_iter()
            .map(|firsts| {
                let upstream = &upstream;
                scope.spawn(move || {
                    let (mut checked, mut allowed) = (0usize, 0usize);
                    // Plans whose first step is in `firsts`: that step, then any steps.
                    for first in firsts {
                        let mut check = |p: &Plan| {
                            let ok = plan_rules_allow(&ibgu(p));
                            assert_eq!(
                                ok,
                                upstream.contains(p),
                                "plan {p:?}: validator says allowed={ok}"
                            );
                            checked += 1;
                            allowed += usize::from(ok);
                        };
                        check(&vec![first.clone()]);
                        for_each_plan(steps, max_steps - 1, |rest| {
                            let mut p = Vec::with_capacity(rest.len() + 1);
                            p.push(first.clone());
                            p.extend_from_slice(rest);
                            check(&p);
                        });
                    }
                    (checked, allowed)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    assert_eq!(
        allowed, reachable,
        "every upstream plan in this space is allowed"
    );
    checked
}

#[test]
fn every_other_plan_of_up_to_5_steps_with_1_or_2_actions_per_step_is_denied() {
    // Steps of one action, or two different actions (written in the order of ACTIONS;
    // reversed pairs are covered below).
    let mut steps: Vec<Vec<String>> = ACTIONS.iter().map(|a| vec![(*a).to_owned()]).collect();
    for (i, a) in ACTIONS.iter().enumerate() {
        for b in &ACTIONS[i + 1..] {
            steps.push(vec![(*a).to_owned(), (*b).to_owned()]);
        }
    }
    assert_eq!(steps.len(), 28);
    let checked = exhaust(&steps, 5);
    assert_eq!(
        checked,
        28 + 28usize.pow(2) + 28usize.pow(3) + 28usize.pow(4) + 28usize.pow(5)
    );
}

#[test]
fn every_ordering_and_repeat_of_two_actions_is_judged_by_order_up_to_4_steps() {
    // All 49 ordered pairs (repeats included) and the 7 singles: the CEL rule compares
    // lists, so [Upgrade, Prep] is not [Prep, Upgrade].
    let mut steps: Vec<Vec<String>> = ACTIONS.iter().map(|a| vec![(*a).to_owned()]).collect();
    for a in ACTIONS {
        for b in ACTIONS {
            steps.push(vec![a.to_owned(), b.to_owned()]);
        }
    }
    assert_eq!(steps.len(), 56);
    let checked = exhaust(&steps, 4);
    assert_eq!(
        checked,
        56 + 56usize.pow(2) + 56usize.pow(3) + 56usize.pow(4)
    );
}
