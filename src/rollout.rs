//! `spec.plan[].rolloutStrategy`: rule 7 (sane numbers), the batch-timeout warning, and
//! mutation 1 (defaults).
//!
//! TALM batches a step's clusters `maxConcurrency` at a time and shares the step's
//! `timeout` (minutes) across the batches: remaining time over remaining batches. It
//! treats `maxConcurrency <= 0` as "every cluster at once", which is never what a fleet
//! rollout wants, so the webhook asks for at least 1.
//!
//! Defaulting is stable: on UPDATE an existing step with a field left out gets the value
//! stored for it, so re-applying a manifest that relied on defaults never reads as an
//! edit of an ongoing step (rule 3), even if the server's default changed meanwhile.

use serde::Serialize;

use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::{DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, RolloutStrategy};
use crate::patch::PatchBuilder;

fn path(step: usize) -> Path {
    crate::plan::path().index(step).child("rolloutStrategy")
}

/// Rule 1 (a strategy per step) and rule 7 (`maxConcurrency >= 1`, `timeout >= 1`).
pub fn validate(ibgu: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    for (i, step) in ibgu.plan().iter().enumerate() {
        // Paths are built only for an error: most objects have none.
        let path = || path(i);
        let Some(rs) = &step.rollout_strategy else {
            errors.push(FieldError::required(
                path(),
                "each step needs maxConcurrency (clusters per batch) and timeout (minutes)",
            ));
            continue;
        };
        match rs.max_concurrency {
            None => errors.push(FieldError::required(
                path().child("maxConcurrency"),
                "how many clusters each batch takes",
            )),
            Some(m) if m < 1 => errors.push(FieldError::invalid(
                path().child("maxConcurrency"),
                m,
                "must be greater than or equal to 1 (TALM would take every cluster in one batch)",
            )),
            Some(_) => {}
        }
        if let Some(t) = rs.timeout.filter(|t| *t < 1) {
            errors.push(FieldError::invalid(
                path().child("timeout"),
                t,
                "must be greater than or equal to 1 (minutes for the whole step)",
            ));
        }
    }
    errors
}

/// Warns when an appended step's timeout, shared across its batches, leaves under a
/// minute per batch. Only known on UPDATE, where the stored status counts the clusters.
pub fn warnings(old_steps: usize, new: &ImageBasedGroupUpgrade, clusters: usize) -> Vec<String> {
    let clusters = i64::try_from(clusters).unwrap_or(i64::MAX);
    if clusters == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, step) in new.plan().iter().enumerate().skip(old_steps) {
        let Some(RolloutStrategy {
            max_concurrency: Some(m),
            timeout,
            ..
        }) = &step.rollout_strategy
        else {
            continue;
        };
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        if *m < 1 || timeout < 1 {
            continue;
        }
        let batches = clusters.saturating_add(m - 1) / m;
        if timeout < batches {
            out.push(format!(
                "spec.plan[{i}].rolloutStrategy: timeout {timeout}m over {batches} batches of {m} leaves under 1m per batch"
            ));
        }
    }
    out
}

/// Mutation 1: fills a missing `rolloutStrategy`, or its missing fields, with the value
/// stored for that step (UPDATE), else `timeout: 240` and the previous step's
/// `maxConcurrency`, else `default_max_concurrency`. Returns one warning per step filled.
pub fn default(
    old: Option<&ImageBasedGroupUpgrade>,
    new: &ImageBasedGroupUpgrade,
    default_max_concurrency: i64,
    patch: &mut PatchBuilder,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut previous: Option<i64> = None;
    for (i, step) in new.plan().iter().enumerate() {
        let stored = old
            .and_then(|o| o.plan().get(i))
            .filter(|s| s.actions() == step.actions())
            .and_then(|s| s.rollout_strategy.as_ref());
        let (max, max_from) = match (stored.and_then(|r| r.max_concurrency), previous) {
            (Some(m), _) => (m, MaxFrom::Stored),
            (None, Some(p)) => (p, MaxFrom::Step(i - 1)),
            (None, None) => (default_max_concurrency, MaxFrom::ServerDefault),
        };
        let timeout = stored
            .and_then(|r| r.timeout)
            .unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        let mut idx = itoa::Buffer::new();
        let idx = idx.format(i);
        let filled = match &step.rollout_strategy {
            None => {
                let filled = Filled {
                    max_concurrency: Some(max),
                    timeout: Some(timeout),
                };
                patch.add(["spec", "plan", idx, "rolloutStrategy"], &filled);
                filled
            }
            Some(rs) => {
                let filled = Filled {
                    max_concurrency: rs.max_concurrency.is_none().then_some(max),
                    timeout: rs.timeout.is_none().then_some(timeout),
                };
                if let Some(m) = filled.max_concurrency {
                    patch.add(
                        ["spec", "plan", idx, "rolloutStrategy", "maxConcurrency"],
                        &m,
                    );
                }
                if let Some(t) = filled.timeout {
                    patch.add(["spec", "plan", idx, "rolloutStrategy", "timeout"], &t);
                }
                filled
            }
        };
        let effective = step
            .rollout_strategy
            .as_ref()
            .and_then(|r| r.max_concurrency)
            .unwrap_or(max);
        // An invalid value is reported by rule 7; it is not passed on to later steps.
        previous = (effective >= 1).then_some(effective).or(previous);
        if filled.max_concurrency.is_none() && filled.timeout.is_none() {
            continue;
        }
        // One string written in place: this runs for every defaulted step of every
        // mutating request (format! twice over was a third of the mutation's work).
        let mut w = String::with_capacity(96);
        let mut num = itoa::Buffer::new();
        w.push_str("spec.plan[");
        w.push_str(idx);
        w.push_str("].rolloutStrategy: defaulted ");
        if let Some(m) = filled.max_concurrency {
            w.push_str("maxConcurrency ");
            w.push_str(num.format(m));
            w.push_str(" (");
            max_from.write_to(&mut w);
            w.push(')');
        }
        if let Some(t) = filled.timeout {
            if filled.max_concurrency.is_some() {
                w.push_str(", ");
            }
            w.push_str("timeout ");
            w.push_str(num.format(t));
        }
        warnings.push(w);
    }
    warnings
}

/// What defaulting filled in for one step; serialised as the `rolloutStrategy` added.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Filled {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_concurrency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<i64>,
}

/// Where a defaulted `maxConcurrency` came from, for the warning.
#[derive(Clone, Copy)]
enum MaxFrom {
    Stored,
    Step(usize),
    ServerDefault,
}

impl MaxFrom {
    fn write_to(self, w: &mut String) {
        match self {
            MaxFrom::Stored => w.push_str("stored"),
            MaxFrom::Step(i) => {
                w.push_str("step ");
                w.push_str(itoa::Buffer::new().format(i));
            }
            MaxFrom::ServerDefault => w.push_str("server default"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibgu(plan: &str) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(&format!(r#"{{"spec":{{"plan":{plan}}}}}"#)).unwrap()
    }

    fn patch_of(old: Option<&ImageBasedGroupUpgrade>, new: &ImageBasedGroupUpgrade) -> String {
        let mut p = PatchBuilder::new();
        default(old, new, 7, &mut p);
        String::from_utf8(p.build().into_bytes()).unwrap()
    }

    #[test]
    fn inherits_from_previous_step_else_default() {
        let new = ibgu(
            r#"[{"actions":["Prep"]},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":50}},{"actions":["FinalizeUpgrade"]}]"#,
        );
        assert_eq!(
            patch_of(None, &new),
            r#"[{"op":"add","path":"/spec/plan/0/rolloutStrategy","value":{"maxConcurrency":7,"timeout":240}},{"op":"add","path":"/spec/plan/1/rolloutStrategy/timeout","value":240},{"op":"add","path":"/spec/plan/2/rolloutStrategy","value":{"maxConcurrency":50,"timeout":240}}]"#
        );
    }

    #[test]
    fn update_keeps_stored_values() {
        let old =
            ibgu(r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":3,"timeout":60}}]"#);
        let new = ibgu(r#"[{"actions":["Prep"]},{"actions":["Upgrade"]}]"#);
        assert_eq!(
            patch_of(Some(&old), &new),
            r#"[{"op":"add","path":"/spec/plan/0/rolloutStrategy","value":{"maxConcurrency":3,"timeout":60}},{"op":"add","path":"/spec/plan/1/rolloutStrategy","value":{"maxConcurrency":3,"timeout":240}}]"#
        );
    }

    #[test]
    fn invalid_numbers_are_reported() {
        let e = validate(&ibgu(
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":0,"timeout":-5}},{"actions":["Upgrade"]}]"#,
        ));
        let e: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(e[0].starts_with(
            "spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: 0: must be greater"
        ));
        assert!(e[1].starts_with("spec.plan[0].rolloutStrategy.timeout: Invalid value: -5"));
        assert!(e[2].starts_with("spec.plan[1].rolloutStrategy: Required value"));
    }

    #[test]
    fn warns_when_batches_outnumber_minutes() {
        let clusters: Vec<String> = (0..50).map(|i| format!(r#"{{"name":"c{i}"}}"#)).collect();
        let old = ImageBasedGroupUpgrade::from_json(&format!(
            r#"{{"spec":{{"plan":[{{"actions":["Prep"],"rolloutStrategy":{{"maxConcurrency":1}}}}]}},"status":{{"clusters":[{}]}}}}"#,
            clusters.join(",")
        ))
        .unwrap();
        let new = ibgu(
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":1}},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":2,"timeout":20}}]"#,
        );
        let clusters = old.progress().unwrap().clusters;
        assert_eq!(
            warnings(old.plan().len(), &new, clusters),
            [
                "spec.plan[1].rolloutStrategy: timeout 20m over 25 batches of 2 leaves under 1m per batch"
            ]
        );
    }
}
