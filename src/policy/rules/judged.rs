//! Validating rule 12, what is judged: CREATE and UPDATE of `lcm.openshift.io/v1alpha1`
//! ImageBasedGroupUpgrades. Other kinds and versions, subresource writes (TALM's status
//! updates) and DELETE are allowed untouched, so that a mis-registration never blocks a
//! cluster. The admission layer decides this before any rule runs.

use crate::policy::rule::{Rule, Side};

/// The rule.
pub const RULE: Rule = Rule {
    number: 12,
    name: "what is judged",
    covers: &[Side::Allowed],
    ..Rule::VALIDATING
};
