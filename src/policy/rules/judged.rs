//! Validating rule 12, what is judged: CREATE, UPDATE and DELETE of
//! `lcm.openshift.io/v1alpha1` ImageBasedGroupUpgrades. A DELETE is judged by rule 13
//! only (the CREATE and UPDATE rules do not apply to an object going away). Other kinds
//! and versions, subresource writes (TALM's status updates), CONNECT, and a DELETE
//! without a readable `oldObject` are allowed untouched, so that a mis-registration
//! never blocks a cluster. The admission layer decides this before any rule runs.

use crate::policy::rule::{Rule, Side};

/// The rule.
pub const RULE: Rule = Rule {
    number: 12,
    name: "what is judged",
    covers: &[Side::Allowed],
    ..Rule::VALIDATING
};
