//! Validating rule 8: names TALM can use.
//!
//! `metadata.name` is shorter than 230 characters (upstream's CEL rule). And TALM names
//! the ClusterGroupUpgrade of plan step `i` `<IBGU name>-<the step's actions, lower-cased,
//! joined by '-'>-<i>` (`getCGUNameForPlanItem`) and puts that name in a label of every
//! ManifestWork it creates for the step; a label value has at most 63 characters, so a
//! name too long for a step fails that step on every reconcile, though the CRD took it.
//! With `generateName` (the name is still empty when the webhooks run), the prefix plus
//! the apiserver's 5-character suffix is counted.
//!
//! The CGU names are checked on CREATE for every step and on UPDATE for appended steps
//! only: stored steps are TALM's history (rule 3 keeps them a prefix), and are never
//! judged again.

use crate::model::field::{FieldError, Path};
use crate::model::{ImageBasedGroupUpgrade, Step};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};

use crate::model::plan::path;

/// The longest name upstream accepts.
pub const MAX_NAME: usize = 229;
/// The longest label value, and so the longest CGU name TALM can label its work with.
pub const MAX_CGU_NAME: usize = 63;
/// How many random characters the apiserver appends to `generateName`.
const GENERATED_SUFFIX: usize = 5;

/// The rule.
pub const RULE: Validating = Validating {
    id: "name-length",
    number: 8,
    name: "name length",
    ratchet: Ratchet::PerField,
    object: Some(check),
    create: Some(cgu_names_on_create),
    update: Some(cgu_names_on_update),
    ..Validating::NEW
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let meta = ibgu.metadata.as_ref();
    let name = meta.and_then(|m| m.name.as_deref());
    let generate_name = meta.and_then(|m| m.generate_name.as_deref());
    let at = Path::new("metadata");
    match (name, generate_name) {
        (Some(name), _) if name.chars().count() > MAX_NAME => {
            FieldError::too_long(at.child("name"), MAX_NAME).into()
        }
        (None | Some(""), Some(prefix)) if prefix.chars().count() + GENERATED_SUFFIX > MAX_NAME => {
            FieldError::too_long(at.child("generateName"), MAX_NAME - GENERATED_SUFFIX).into()
        }
        _ => Findings::default(),
    }
}

/// The name TALM will see: the name, or the prefix with a stand-in for the random suffix.
#[derive(Debug, Clone, Copy)]
enum Name<'a> {
    Given(&'a str),
    Generated(&'a str),
}

impl Name<'_> {
    fn of<'a>(ibgu: &'a ImageBasedGroupUpgrade<'_>) -> Option<Name<'a>> {
        let meta = ibgu.metadata.as_ref()?;
        match (meta.name.as_deref(), meta.generate_name.as_deref()) {
            (Some(name), _) if !name.is_empty() => Some(Name::Given(name)),
            (_, Some(prefix)) if !prefix.is_empty() => Some(Name::Generated(prefix)),
            _ => None,
        }
    }

    /// Its length in bytes, as Go's `len` counts a label value.
    fn len(self) -> usize {
        match self {
            Name::Given(name) => name.len(),
            Name::Generated(prefix) => prefix.len() + GENERATED_SUFFIX,
        }
    }

    /// The longest name or prefix within `max` characters for the name, as the user writes it.
    fn allowed(self, max: usize) -> String {
        match self {
            Name::Given(_) => format!("an IBGU name of at most {max} characters"),
            Name::Generated(_) => format!(
                "a generateName of at most {} characters (the apiserver adds {GENERATED_SUFFIX})",
                max.saturating_sub(GENERATED_SUFFIX)
            ),
        }
    }
}

impl std::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Given(name) => f.write_str(name),
            Name::Generated(prefix) => write!(f, "{prefix}{}", "x".repeat(GENERATED_SUFFIX)),
        }
    }
}

/// What TALM appends to the IBGU's name for step `i`: `-prep-upgrade-0`.
fn cgu_suffix(step: &Step<'_>, i: usize) -> String {
    let actions: Vec<String> = step.actions().iter().map(|a| a.to_lowercase()).collect();
    format!("-{}-{i}", actions.join("-"))
}

/// The length of [`cgu_suffix`] without building it: the check runs on every CREATE
/// (docs/performance.md, "Tunings in the code").
fn cgu_suffix_len(step: &Step<'_>, i: usize) -> usize {
    let actions = step.actions();
    let lowered: usize = actions
        .iter()
        .map(|a| {
            if a.is_ascii() {
                a.len()
            } else {
                a.to_lowercase().len()
            }
        })
        .sum();
    let digits = i.checked_ilog10().map_or(1, |d| d as usize + 1);
    1 + lowered + actions.len().saturating_sub(1) + 1 + digits
}

/// The longest name with which every step of `steps` (numbered from `first`) fits.
fn longest_name(steps: &[Step<'_>], first: usize) -> usize {
    steps
        .iter()
        .enumerate()
        .map(|(k, step)| MAX_CGU_NAME.saturating_sub(cgu_suffix_len(step, first + k)))
        .min()
        .unwrap_or(MAX_CGU_NAME)
}

/// An error for each step of `steps` (numbered from `first`) whose CGU name is too long.
/// The error is at the step, not `metadata.name`: the step is what gets the CGU, and on
/// UPDATE the name cannot change, so the step is what the user can change.
fn cgu_names(ibgu: &ImageBasedGroupUpgrade<'_>, first: usize, fix: &str) -> Findings {
    let Some(name) = Name::of(ibgu) else {
        return Findings::default();
    };
    let steps = ibgu.plan().get(first..).unwrap_or(&[]);
    steps
        .iter()
        .enumerate()
        .filter(|(k, step)| name.len() + cgu_suffix_len(step, first + k) > MAX_CGU_NAME)
        .map(|(k, step)| (first + k, cgu_suffix(step, first + k)))
        .map(|(i, suffix)| {
            let detail = format!(
                "TALM would name this step's ClusterGroupUpgrade \"{name}{suffix}\" ({} characters) and label its ManifestWorks with it, but a label value may have at most {MAX_CGU_NAME}: {fix} {}",
                name.len() + suffix.len(),
                name.allowed(longest_name(steps, first)),
            );
            FieldError::forbidden(path().index(i), detail)
        })
        .collect::<crate::model::field::ErrorList>()
        .into()
}

fn cgu_names_on_create(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    cgu_names(ibgu, 0, "this plan needs")
}

fn cgu_names_on_update(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    // The name cannot change: a step with fewer actions, or a new IBGU, is the way out.
    cgu_names(
        new,
        old.plan().len(),
        "the name cannot change, so append steps with fewer actions, or plan them in a new IBGU; the appended steps need",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffix_length_is_that_of_the_suffix() {
        let json = r#"{"spec":{"plan":[{"actions":["Prep","Upgrade"]},{"actions":[]},{"actions":["ÀBC"]}]}}"#;
        let ibgu = crate::model::ImageBasedGroupUpgrade::from_json(json).unwrap();
        for (k, step) in ibgu.plan().iter().enumerate() {
            for i in [k, 9, 10, 123] {
                assert_eq!(
                    super::cgu_suffix_len(step, i),
                    super::cgu_suffix(step, i).len(),
                    "{step:?} {i}"
                );
            }
        }
    }

    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::{run_create, run_object, run_update};

    fn errors(field: &str, len: usize) -> Vec<String> {
        let json = format!(r#"{{"metadata":{{"{field}":"{}"}}}}"#, "a".repeat(len));
        let ibgu = ImageBasedGroupUpgrade::from_json(&json).unwrap();
        run_object("name-length", &ibgu)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn name_limit_is_229() {
        assert!(errors("name", 229).is_empty());
        assert_eq!(
            errors("name", 230),
            ["metadata.name: Too long: may not be more than 229 bytes"]
        );
        assert!(errors("generateName", 224).is_empty());
        assert_eq!(errors("generateName", 225).len(), 1);
    }

    fn ibgu(meta: &str, plan: &str) -> String {
        format!(r#"{{"metadata":{{{meta}}},"spec":{{"plan":{plan}}}}}"#)
    }

    fn on_create(meta: &str, plan: &str) -> Vec<String> {
        let json = ibgu(meta, plan);
        let new = ImageBasedGroupUpgrade::from_json(&json).unwrap();
        run_create("name-length", &new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const ONE_STEP: &str = r#"[{"actions":["Prep","Upgrade","FinalizeUpgrade"]}]"#;

    #[test]
    fn a_name_fits_when_every_cgu_name_has_at_most_63_characters() {
        // 63 - len("-prep-upgrade-finalizeupgrade-0") = 32.
        let fits = format!(r#""name":"{}""#, "u".repeat(32));
        assert!(on_create(&fits, ONE_STEP).is_empty());
        let over = format!(r#""name":"{}""#, "u".repeat(33));
        assert_eq!(
            on_create(&over, ONE_STEP),
            [format!(
                r#"spec.plan[0]: Forbidden: TALM would name this step's ClusterGroupUpgrade "{}-prep-upgrade-finalizeupgrade-0" (64 characters) and label its ManifestWorks with it, but a label value may have at most 63: this plan needs an IBGU name of at most 32 characters"#,
                "u".repeat(33)
            )]
        );
    }

    #[test]
    fn every_step_is_named_on_create_with_the_bound_of_the_whole_plan() {
        let plan = r#"[{"actions":["Prep"]},{"actions":["Upgrade","FinalizeUpgrade"]}]"#;
        // Step 1's suffix "-upgrade-finalizeupgrade-1" (26) bounds the name at 37.
        let name = format!(r#""name":"{}""#, "u".repeat(40));
        let e = on_create(&name, plan);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("spec.plan[1]: Forbidden: "), "{}", e[0]);
        assert!(e[0].ends_with("at most 37 characters"), "{}", e[0]);
        let name = format!(r#""name":"{}""#, "u".repeat(60));
        assert_eq!(on_create(&name, plan).len(), 2);
    }

    #[test]
    fn generate_name_counts_the_random_suffix() {
        let prefix = format!(r#""generateName":"{}""#, "u".repeat(27));
        assert!(on_create(&prefix, ONE_STEP).is_empty());
        let prefix = format!(r#""generateName":"{}""#, "u".repeat(28));
        let e = on_create(&prefix, ONE_STEP);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains(&format!(
                "\"{}xxxxx-prep-upgrade-finalizeupgrade-0\" (64 characters)",
                "u".repeat(28)
            )),
            "{}",
            e[0]
        );
        assert!(
            e[0].ends_with("a generateName of at most 27 characters (the apiserver adds 5)"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn on_update_only_appended_steps_are_judged() {
        let name = format!(r#""name":"{}""#, "u".repeat(45));
        // Stored: "-prep-0" fits (52); appended "-upgrade-finalizeupgrade-1" does not (71).
        let old = ibgu(&name, r#"[{"actions":["Prep"]}]"#);
        let new = ibgu(
            &name,
            r#"[{"actions":["Prep"]},{"actions":["Upgrade","FinalizeUpgrade"]}]"#,
        );
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).unwrap();
        let new = ImageBasedGroupUpgrade::from_json(&new).unwrap();
        let e: Vec<String> = run_update("name-length", &old, &new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with("spec.plan[1]: Forbidden: "), "{}", e[0]);
        assert!(e[0].contains("the name cannot change"), "{}", e[0]);
        assert!(
            e[0].ends_with("the appended steps need an IBGU name of at most 37 characters"),
            "{}",
            e[0]
        );
        // A stored step too long for the name is history: an update that appends nothing passes.
        let long = format!(r#""name":"{}""#, "u".repeat(60));
        let stored = ibgu(&long, ONE_STEP);
        let stored = ImageBasedGroupUpgrade::stored_from_json(&stored).unwrap();
        let same = ibgu(&long, ONE_STEP);
        let same = ImageBasedGroupUpgrade::from_json(&same).unwrap();
        assert!(run_update("name-length", &stored, &same).errors.is_empty());
    }
}
