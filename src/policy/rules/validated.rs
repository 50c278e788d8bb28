//! Mutating rule 4: `/mutate` refuses what validating the mutated object would refuse,
//! with the same message and code, unless `--mutate-without-validation` is set.
//!
//! The apiserver runs a CRD's schema and CEL rules after the mutating webhooks and before
//! the validating ones. On every hub that runs TALM's IBGU CRD (OpenShift 4.16 and later,
//! Kubernetes 1.29 and later), an unsupported combination is refused by the CRD's own rule
//! ("invalid combinations of actions in the plan") before `/validate` sees it, and the
//! user never learns which step is wrong and what may follow. Refused here, the user gets
//! the precise message first. `/validate` stays as the check after every mutation (a
//! later webhook may change the object). [`crate::policy::mutate`] runs it.

use crate::policy::rule::Rule;

/// The rule.
pub const RULE: Rule = Rule {
    number: 4,
    name: "mutated object validated",
    ..Rule::MUTATING
};
