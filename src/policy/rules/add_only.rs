//! Mutating rule 3: patches only add what is missing. They never remove or change a value
//! the user set, applying one to the request object always succeeds, and mutating an
//! already mutated object yields no patch (safe under `reinvocationPolicy: IfNeeded`).
//! Every mutation here is written that way ([`crate::policy::patch::PatchBuilder`] only
//! adds); the fixtures and the fuzz targets hold the whole endpoint to it.

use crate::policy::rule::Rule;

/// The rule.
pub const RULE: Rule = Rule {
    number: 3,
    name: "patches only add",
    ..Rule::MUTATING
};
