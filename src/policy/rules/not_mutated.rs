//! Mutating rule 12, what is mutated: the same requests as validating rule 12; anything
//! else is answered without a patch. The admission layer decides this.

use crate::policy::rule::{Rule, Side};

/// The rule.
pub const RULE: Rule = Rule {
    number: 12,
    name: "what is mutated",
    covers: &[Side::Unpatched],
    ..Rule::MUTATING
};
