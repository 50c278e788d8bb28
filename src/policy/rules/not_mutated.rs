//! Mutating rule 12, what is mutated: CREATE and UPDATE of what validating rule 12
//! judges; anything else, DELETE included, is answered without a patch and never
//! refused. The admission layer decides this.

use crate::policy::rule::{Rule, Side};

/// The rule.
pub const RULE: Rule = Rule {
    number: 12,
    name: "what is mutated",
    covers: &[Side::Unpatched],
    ..Rule::MUTATING
};
