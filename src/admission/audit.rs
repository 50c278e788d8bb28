//! The reply's `auditAnnotations`: why a write was allowed, changed or refused. The
//! apiserver records each in its audit log (at level Metadata and above) as
//! `<webhook name>/<key>`, e.g. `validate.ibgu.lcm.openshift.io/denied`; the server logs
//! the same at info.
//!
//! | key | value |
//! |---|---|
//! | `decision` | `allowed`, `denied`, `patched` (/mutate added something) or `skipped` |
//! | `skipped` | why the request was not judged (another kind, a subresource, ...) |
//! | `denied`, `warned`, `ratcheted` | the rules and fields, in the order the rules met them: `rollout-numbers at spec.plan[0].rolloutStrategy.maxConcurrency, ...` (each rule by its id); `unreadable object at FIELD` for an object that does not decode |
//! | `patch` | the paths the patch adds: `/spec/plan/0/rolloutStrategy, ...` |

use std::collections::BTreeMap;

use super::bound::{MAX_FIELD_BYTES, MAX_REPORTED, Named, Report};
use crate::model::text::shorten;
use crate::policy::Effect;

/// The annotations, keyed as the apiserver takes them (a qualified name's name part).
pub type Annotations = BTreeMap<String, String>;

/// What a judged request's annotations say: its decision, the rules' findings and the
/// patch's paths, as far as `report` names them (each list ends in `and K more` when it
/// left some out; each field is cut to [`MAX_FIELD_BYTES`]). Keys with nothing to say
/// are left out.
pub fn judged(decision: &str, report: &Report, patch: Option<&json_patch::Patch>) -> Annotations {
    let mut out = Annotations::new();
    out.insert("decision".into(), decision.into());
    for (key, effect) in [
        ("denied", Effect::Denied),
        ("warned", Effect::Warned),
        ("ratcheted", Effect::Ratcheted),
    ] {
        let named: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.effect == effect)
            .map(named)
            .collect();
        if let Some(list) = listed(named, report.omitted.of(effect)) {
            out.insert(key.into(), list);
        }
    }
    let ops = patch.map_or(&[][..], |p| p.0.as_slice());
    let paths: Vec<String> = ops
        .iter()
        .take(MAX_REPORTED)
        .map(|op| shorten(op.path().as_str(), MAX_FIELD_BYTES).into_owned())
        .collect();
    if let Some(list) = listed(paths, ops.len().saturating_sub(MAX_REPORTED)) {
        out.insert("patch".into(), list);
    }
    out
}

/// `rollout-numbers at FIELD`, the field cut to [`MAX_FIELD_BYTES`].
fn named(f: &Named) -> String {
    let rule = f.rule.id();
    match f.field.as_str() {
        "" => rule.to_owned(),
        field => format!("{rule} at {}", shorten(field, MAX_FIELD_BYTES)),
    }
}

/// `a, b, c`, then `, and K more` when `more` were left out; `None` for nothing at all.
fn listed(names: Vec<String>, more: usize) -> Option<String> {
    if names.is_empty() && more == 0 {
        return None;
    }
    let mut list = names.join(", ");
    if more > 0 {
        if !list.is_empty() {
            list.push_str(", ");
        }
        list.push_str(&format!("and {more} more"));
    }
    Some(list)
}

/// An object that does not decode: denied, naming the field.
pub fn unreadable(field: &str) -> Annotations {
    Annotations::from([
        ("decision".to_owned(), "denied".to_owned()),
        (
            "denied".to_owned(),
            format!("unreadable object at {}", shorten(field, MAX_FIELD_BYTES)),
        ),
    ])
}

/// A request not judged: why.
pub fn skipped(why: &str) -> Annotations {
    Annotations::from([
        ("decision".to_owned(), "skipped".to_owned()),
        ("skipped".to_owned(), why.to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Endpoint, review_body};
    use crate::policy::Config;
    use crate::policy::facts::Facts;

    fn review(operation: &str, old: &str, new: &str, endpoint: Endpoint) -> Annotations {
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"1",
              "kind":{{"group":"lcm.openshift.io","version":"v1alpha1","kind":"ImageBasedGroupUpgrade"}},
              "operation":"{operation}","namespace":"ztp","name":"u","oldObject":{old},"object":{new}}}}}"#
        );
        let r = review_body(
            body.as_bytes(),
            endpoint,
            &Config::default(),
            &Facts::Offline,
        )
        .expect("an AdmissionReview it answers");
        assert!(r.check_wire(endpoint).is_ok());
        r.audit_annotations
    }

    fn ibgu(plan: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"u","namespace":"ztp","generation":1}},"spec":{{"plan":{plan},
              "ibuSpec":{{"seedImageRef":{{"image":"quay.io/s:4.20","version":"4.20.0"}}}}}},
              "status":{{"observedGeneration":1,"clusters":[{{"name":"a","completedActions":[{{"action":"Prep"}}]}}]}}}}"#
        )
    }

    #[test]
    fn every_finding_is_named_in_order_with_its_rule_and_field() {
        let stored =
            ibgu(r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":0,"timeout":60}}]"#);
        // The stored maxConcurrency 0 is let through; the appended step's is not, and its
        // timeout is refused too.
        let appended = ibgu(
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":0,"timeout":60}},
               {"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":0,"timeout":0}}]"#,
        );
        let a = review("UPDATE", &stored, &appended, Endpoint::Validate);
        assert_eq!(a["decision"], "denied");
        assert_eq!(
            a["denied"],
            "rollout-numbers at spec.plan[1].rolloutStrategy.maxConcurrency, \
             rollout-numbers at spec.plan[1].rolloutStrategy.timeout"
        );
        assert_eq!(
            a["ratcheted"],
            "rollout-numbers at spec.plan[0].rolloutStrategy.maxConcurrency"
        );
        assert!(!a.contains_key("patch"));
    }

    #[test]
    fn a_mutation_names_what_it_added() {
        let new = ibgu(r#"[{"actions":["Prep","Upgrade"]}]"#);
        let a = review("CREATE", "null", &new, Endpoint::Mutate);
        assert_eq!(a["decision"], "patched");
        assert_eq!(a["patch"], "/spec/plan/0/rolloutStrategy");
        assert_eq!(
            a["warned"],
            "rollout-defaults at spec.plan[0].rolloutStrategy"
        );
        // Nothing left to add: allowed, and no patch named.
        let complete = ibgu(
            r#"[{"actions":["Prep","Upgrade"],"rolloutStrategy":{"maxConcurrency":5,"timeout":60}}]"#,
        );
        let a = review("CREATE", "null", &complete, Endpoint::Mutate);
        assert_eq!(
            a,
            Annotations::from([("decision".into(), "allowed".into())])
        );
    }

    #[test]
    fn unreadable_and_skipped_requests_say_why() {
        let a = review(
            "CREATE",
            "null",
            r#"{"spec":{"plan":"x"}}"#,
            Endpoint::Validate,
        );
        assert_eq!(a["decision"], "denied");
        assert_eq!(a["denied"], "unreadable object at spec.plan");
        assert_eq!(skipped("a subresource")["skipped"], "a subresource");
    }
}
