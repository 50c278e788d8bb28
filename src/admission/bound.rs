//! How much of a decision one reply reports. The policy finds every violation (`check`
//! lists them all for a file); a reply names the first [`MAX_REPORTED`] errors and
//! findings of each kind, then one entry with the count of the rest. The message, the
//! causes, the audit annotations and the log line are all made from one [`Report`], so
//! they cannot disagree; warnings have their own, smaller cap
//! ([`MAX_WARNINGS`](super::MAX_WARNINGS)). The strings a reply echoes are cut to the
//! sizes below, so that a reply's size has a bound ([`MAX_REPLY_BYTES`]).
//!
//! Without the bound, 40,000 bad `extraManifests` entries in one 1.35 MB CREATE made a
//! 58.6 MB reply, and a few such requests at once took the pod past its memory limit.

use crate::model::field::{ErrorList, FieldError, Path};
use crate::policy::rule::Rule;
use crate::policy::{Effect, Finding};

/// Errors, and findings of each effect, named per reply: a reader fixes the first few
/// dozen and applies again; the rest only cost memory and bytes on the wire.
pub const MAX_REPORTED: usize = 32;

/// The longest name a denial repeats (Kubernetes names have at most 253 characters; a
/// CREATE reaches the webhooks before the apiserver has checked its name).
pub const MAX_NAME_BYTES: usize = 253;
/// The longest error a denial's message and causes carry: the value a user sent is
/// echoed, and one value may be megabytes.
pub const MAX_ERROR_BYTES: usize = 512;
/// The longest field path a cause names.
pub const MAX_FIELD_BYTES: usize = 256;
/// The largest reply without a patch. Worst case, with every string at its cap and made
/// of control characters (which JSON writes as 6 bytes each): the message, 253 + 33 x 514
/// bytes, 104 KB escaped; 33 causes of 512 + 256 + ~90 bytes, 170 KB; 16 warnings of 120
/// characters, 8 KB; the audit annotations, 3 x 33 findings of up to 280 bytes, 166 KB;
/// the uid, at most 128 bytes, and the envelope, 2 KB: about 450 KB. The usual denial is
/// 1 to 20 KB. A patch (an allowed /mutate) comes on top: one operation per plan step at
/// most, so it is bounded by the request's body.
pub const MAX_REPLY_BYTES: usize = 512 * 1024;

/// What one reply reports of a decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The first [`MAX_REPORTED`] errors, then one counting the rest.
    pub errors: ErrorList,
    /// The first [`MAX_REPORTED`] findings of each effect that a rule made, in their
    /// order, by rule and field.
    pub findings: Vec<Named>,
    /// How many findings of each effect were left out.
    pub omitted: Omitted,
}

/// A finding as the audit annotations and the log name it: its rule and field.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    /// The rule.
    pub rule: Rule,
    /// What it did.
    pub effect: Effect,
    /// The field; empty for the whole object.
    pub field: Path,
}

/// How many findings of each effect a [`Report`] left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Omitted {
    /// Errors.
    pub denied: usize,
    /// Warnings.
    pub warned: usize,
    /// Stored violations let through.
    pub ratcheted: usize,
}

impl Omitted {
    /// How many findings of `effect` were left out.
    pub fn of(&self, effect: Effect) -> usize {
        match effect {
            Effect::Denied => self.denied,
            Effect::Warned => self.warned,
            Effect::Ratcheted => self.ratcheted,
        }
    }

    fn count(&mut self, effect: Effect) {
        match effect {
            Effect::Denied => self.denied += 1,
            Effect::Warned => self.warned += 1,
            Effect::Ratcheted => self.ratcheted += 1,
        }
    }
}

impl Report {
    /// The report of a decision's findings.
    pub fn new(findings: &[Finding]) -> Self {
        let errors: Vec<&FieldError> = findings.iter().filter_map(Finding::error).collect();
        let mut kept: ErrorList = errors.iter().take(MAX_REPORTED).copied().cloned().collect();
        if errors.len() > MAX_REPORTED {
            let rest: Vec<&Path> = errors.iter().skip(MAX_REPORTED).map(|e| &e.field).collect();
            kept.push(FieldError::more(
                common_parent(&rest),
                rest.len(),
                MAX_REPORTED,
            ));
        }
        let mut shown = Omitted::default();
        let mut omitted = Omitted::default();
        let findings = findings
            .iter()
            .filter_map(|f| {
                let (rule, effect) = (f.rule?, f.effect());
                if shown.of(effect) >= MAX_REPORTED {
                    omitted.count(effect);
                    return None;
                }
                shown.count(effect);
                Some(Named {
                    rule,
                    effect,
                    field: f.field().clone(),
                })
            })
            .collect();
        Report {
            errors: kept,
            findings,
            omitted,
        }
    }
}

/// The deepest field that holds every one of `paths`: `spec.ibuSpec.extraManifests` for
/// `...extraManifests[40].name` and `...extraManifests[41].namespace`; empty for the
/// whole object.
fn common_parent(paths: &[&Path]) -> Path {
    let Some((first, rest)) = paths.split_first() else {
        return Path::new("");
    };
    let first = first.as_str();
    let mut len = first.len();
    for p in rest {
        let common = first
            .bytes()
            .zip(p.as_str().bytes())
            .take_while(|(a, b)| a == b)
            .count();
        len = len.min(common);
    }
    // Back to a field boundary that every path shares: the prefix must end where each
    // path ends or goes on with `.` or `[`.
    let at_boundary = |n: usize| {
        paths
            .iter()
            .all(|p| matches!(p.as_str().as_bytes().get(n), None | Some(b'.' | b'[')))
    };
    while len > 0 && !(first.is_char_boundary(len) && at_boundary(len)) {
        len -= 1;
    }
    Path::new(&first[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::field::Warning;
    use crate::policy::Found;
    use crate::policy::rules::by_id;

    fn bad_entry(i: usize) -> FieldError {
        let at = Path::from("spec.ibuSpec.extraManifests")
            .index(i)
            .child("name");
        FieldError::invalid(at, format!("Bad_{i}"), "a lowercase RFC 1123 subdomain")
    }

    fn finding(effect: Effect, i: usize) -> Finding {
        let found = match effect {
            Effect::Denied => Found::Denied(bad_entry(i)),
            Effect::Warned => Found::Warned(Warning::new(bad_entry(i).field, "w")),
            Effect::Ratcheted => Found::Ratcheted(bad_entry(i)),
        };
        Finding {
            rule: by_id("references"),
            found,
        }
    }

    fn denied(errors: &ErrorList) -> Vec<Finding> {
        errors
            .iter()
            .map(|e| Finding {
                rule: by_id("references"),
                found: Found::Denied(e.clone()),
            })
            .collect()
    }

    #[test]
    fn the_first_errors_then_one_counting_the_rest() {
        let errors: ErrorList = (0..40_000).map(bad_entry).collect();
        let report = Report::new(&denied(&errors));
        assert_eq!(report.errors.len(), MAX_REPORTED + 1);
        let kept: Vec<&FieldError> = report.errors.iter().take(MAX_REPORTED).collect();
        assert!(kept.iter().zip(errors.iter()).all(|(k, e)| *k == e));
        let last = report.errors.iter().last().expect("the count");
        assert_eq!(
            last.to_string(),
            "spec.ibuSpec.extraManifests: Too many: 39968: errors not shown \
             (the first 32 are); fix those and apply again to see the rest"
        );
        // At the bound exactly, nothing is counted.
        let errors: ErrorList = (0..MAX_REPORTED).map(bad_entry).collect();
        assert_eq!(Report::new(&denied(&errors)).errors, errors);
    }

    #[test]
    fn findings_are_bounded_per_effect() {
        let mut findings: Vec<Finding> = (0..100).map(|i| finding(Effect::Denied, i)).collect();
        findings.extend((0..3).map(|i| finding(Effect::Warned, i)));
        findings.extend((0..50).map(|i| finding(Effect::Ratcheted, i)));
        let report = Report::new(&findings);
        let count = |e| report.findings.iter().filter(|f| f.effect == e).count();
        assert_eq!(count(Effect::Denied), MAX_REPORTED);
        assert_eq!(count(Effect::Warned), 3);
        assert_eq!(count(Effect::Ratcheted), MAX_REPORTED);
        assert_eq!(
            report.omitted,
            Omitted {
                denied: 100 - MAX_REPORTED,
                warned: 0,
                ratcheted: 50 - MAX_REPORTED
            }
        );
        assert_eq!(report.findings[0].field, *findings[0].field());
    }

    #[test]
    fn the_count_stands_at_the_field_holding_the_rest() {
        let p = |s: &str| Path::from(s);
        let (a, b) = (
            p("spec.plan[10].actions"),
            p("spec.plan[11].rolloutStrategy"),
        );
        assert_eq!(common_parent(&[&a, &b]).as_str(), "spec.plan");
        let (c, d) = (p("spec.ibuSpec"), p("spec.plan[1]"));
        assert_eq!(common_parent(&[&c, &d]).as_str(), "spec");
        // `spec.plan` is not a parent of `spec.planX`.
        let (e, f) = (p("spec.plan"), p("spec.planX"));
        assert_eq!(common_parent(&[&e, &f]).as_str(), "spec");
        let (g, h) = (p("metadata.name"), p("spec.plan"));
        assert_eq!(common_parent(&[&g, &h]).as_str(), "");
        assert_eq!(common_parent(&[&a]).as_str(), "spec.plan[10].actions");
    }
}
