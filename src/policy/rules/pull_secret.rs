//! Validating rule 11: the `pullSecretRef` of a plan with Prep names a Secret that exists
//! in the IBGU's namespace on the hub and has a `.dockerconfigjson` key.
//!
//! When a step contains Prep, TALM copies that Secret into the Prep manifests (into
//! `openshift-lifecycle-agent` on every spoke), where lifecycle-agent reads the key. If
//! the Secret is missing TALM only logs, and Prep then fails on every cluster: the
//! webhook says so at `kubectl apply` time instead. Problems are warnings, or errors with
//! `--require-pull-secret`; a failed lookup is a warning saying what was not checked.

use crate::model::action::Action;
use crate::model::field::{ErrorList, FieldError, Path, Warning};
use crate::model::ImageBasedGroupUpgrade;
use crate::policy::change::Config;
use crate::policy::facts::SecretLookup;
use crate::policy::rule::{Context, Findings, Rule};

/// The Secret key lifecycle-agent reads.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// The rule.
pub const RULE: Rule = Rule {
    number: 11,
    name: "pull secret",
    secrets: Some(named),
    object: Some(check),
    ..Rule::VALIDATING
};

/// `spec.ibuSpec.seedImageRef.pullSecretRef`.
pub fn path() -> Path {
    Path::new("spec").child("ibuSpec").child("seedImageRef").child("pullSecretRef")
}

/// The Secret the object names, when a step pulls the seed image (Prep).
fn named(_: &Config, new: &ImageBasedGroupUpgrade<'_>) -> Vec<String> {
    reference(new).map(str::to_owned).into_iter().collect()
}

fn reference<'o>(new: &'o ImageBasedGroupUpgrade<'_>) -> Option<&'o str> {
    if !new.has_action(Action::Prep) {
        return None;
    }
    new.seed_image_ref()?.pull_secret_ref.as_ref()?.name.as_deref()
}

fn check(new: &ImageBasedGroupUpgrade<'_>, ctx: &Context<'_>) -> Findings {
    let mut found = Findings::default();
    let Some(name) = reference(new) else {
        return found;
    };
    let field = path().child("name");
    let problem = match ctx.facts.secret(name) {
        SecretLookup::NotChecked | SecretLookup::Found { docker_config: true } => None,
        SecretLookup::Missing => Some(FieldError::not_found(
            field.clone(),
            name,
            format!("no such Secret in namespace {:?}: Prep would fail", new.namespace()),
        )),
        SecretLookup::Found { docker_config: false } => Some(FieldError::invalid(
            field.clone(),
            name,
            format!("the Secret has no {DOCKER_CONFIG_KEY} key"),
        )),
        SecretLookup::Unknown(why) => {
            found
                .warnings
                .push(Warning::new(field, format!("Secret {name:?} not checked: {why}")));
            None
        }
    };
    match problem {
        Some(e) if ctx.config.require_pull_secret => found.errors = ErrorList::from_iter([e]),
        Some(e) => found.warnings.push(Warning::new(e.field.clone(), e.body())),
        None => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::facts::Facts;

    fn ibgu(json: &str) -> ImageBasedGroupUpgrade<'_> {
        ImageBasedGroupUpgrade::from_json(json).unwrap()
    }

    fn json(seed: &str) -> String {
        format!(
            r#"{{"metadata":{{"namespace":"ztp"}},"spec":{{"ibuSpec":{{"seedImageRef":{seed}}},"plan":[{{"actions":["Prep"]}}]}}}}"#
        )
    }

    fn run(strict: bool, facts: &Facts, new: &ImageBasedGroupUpgrade<'_>) -> (String, Vec<String>) {
        let config = Config {
            require_pull_secret: strict,
            ..Config::default()
        };
        let found = check(new, &Context { config: &config, facts });
        let warnings = found.warnings.iter().map(ToString::to_string).collect();
        let errors = if found.errors.is_empty() { String::new() } else { found.errors.aggregate() };
        (errors, warnings)
    }

    fn facts(name: &str, lookup: SecretLookup) -> Facts {
        Facts::Secrets(BTreeMap::from([(name.to_owned(), lookup)]))
    }

    #[test]
    fn missing_secret_warns_or_denies() {
        let text = json(r#"{"image":"i","version":"v","pullSecretRef":{"name":"s"}}"#);
        let new = ibgu(&text);
        let (e, w) = run(false, &facts("s", SecretLookup::Missing), &new);
        assert!(e.is_empty());
        assert_eq!(
            w,
            [r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: Not found: "s": no such Secret in namespace "ztp": Prep would fail"#]
        );
        let (e, _) = run(true, &facts("s", SecretLookup::Missing), &new);
        assert!(e.starts_with(r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: Not found: "s": no such Secret"#));
        let (e, _) = run(true, &facts("s", SecretLookup::Found { docker_config: false }), &new);
        assert!(e.contains("has no .dockerconfigjson key"));
        let (e, w) = run(true, &facts("s", SecretLookup::Unknown("timeout".into())), &new);
        assert!(e.is_empty());
        assert!(w[0].ends_with("not checked: timeout"));
        let (e, w) = run(true, &Facts::Offline, &new);
        assert!(e.is_empty() && w.is_empty());
        assert_eq!(named(&Config::default(), &new), ["s"]);
    }
}
