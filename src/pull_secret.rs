//! The seed image pull secret: mutation 2 (inject the configured reference) and rule 11
//! (warn, or deny when strict, when the named Secret is missing or unusable).
//!
//! When a step contains Prep and `spec.ibuSpec.seedImageRef.pullSecretRef` names a Secret
//! that exists in the IBGU's namespace on the hub, TALM copies it into the Prep manifests
//! (into `openshift-lifecycle-agent` on every spoke), where lifecycle-agent reads its
//! `.dockerconfigjson` key. If the Secret is missing TALM only logs, and Prep then fails
//! on every cluster: the webhook says so at `kubectl apply` time instead.

use serde::Serialize;

use crate::action::Action;
use crate::field::{ErrorList, FieldError, Path};
use crate::hub::{Hub, SecretLookup};
use crate::ibgu::ImageBasedGroupUpgrade;
use crate::patch::PatchBuilder;
use crate::plan;
use crate::policy::Config;

/// The Secret key lifecycle-agent reads.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

const TOKENS: [&str; 4] = ["spec", "ibuSpec", "seedImageRef", "pullSecretRef"];

fn path() -> Path {
    Path::new("spec")
        .child("ibuSpec")
        .child("seedImageRef")
        .child("pullSecretRef")
}

/// Mutation 2. On CREATE, when a step contains Prep, `seedImageRef` has no
/// `pullSecretRef` and a seed pull secret is configured that the hub does not report
/// missing, sets `pullSecretRef.name` to it.
///
/// On UPDATE a `pullSecretRef` that the stored object has and the new one lacks is put
/// back: it was most likely injected here, and a GitOps re-apply of the original manifest
/// must not read as an edit of the immutable `ibuSpec`.
pub fn inject(
    config: &Config,
    old: Option<&ImageBasedGroupUpgrade>,
    new: &ImageBasedGroupUpgrade,
    hub: &Hub,
    patch: &mut PatchBuilder,
) -> Vec<String> {
    let Some(seed) = new.seed_image_ref() else {
        return Vec::new();
    };
    if seed.pull_secret_ref.is_some() {
        return Vec::new();
    }
    if let Some(old) = old {
        let stored = old
            .seed_image_ref()
            .and_then(|s| s.pull_secret_ref.as_ref());
        if let Some(stored) = stored {
            patch.add(TOKENS, stored);
        }
        return Vec::new();
    }
    let Some(name) = &config.seed_pull_secret else {
        return Vec::new();
    };
    if !plan::has_action(new, Action::Prep) {
        return Vec::new();
    }
    match hub.secret(name) {
        SecretLookup::Missing => vec![format!(
            "{}: not set: seed pull secret {name:?} not found in namespace {:?}",
            path(),
            new.namespace()
        )],
        _ => {
            patch.add(TOKENS, &NameRef { name });
            vec![format!("{}.name: set to {name:?} (server default)", path())]
        }
    }
}

/// The `pullSecretRef` injected: a LocalObjectReference.
#[derive(Serialize)]
struct NameRef<'a> {
    name: &'a str,
}

/// Rule 11: the `pullSecretRef` of a plan with Prep names a Secret that exists and has a
/// `.dockerconfigjson` key. Problems are warnings, or errors with
/// [`Config::require_pull_secret`]; a failed lookup is a warning saying what was not checked.
pub fn validate(
    config: &Config,
    new: &ImageBasedGroupUpgrade,
    hub: &Hub,
) -> (ErrorList, Vec<String>) {
    let mut errors = ErrorList::new();
    let mut warnings = Vec::new();
    if !plan::has_action(new, Action::Prep) {
        return (errors, warnings);
    }
    let Some(name) = new
        .seed_image_ref()
        .and_then(|s| s.pull_secret_ref.as_ref())
        .and_then(|p| p.name.as_deref())
    else {
        return (errors, warnings);
    };
    let field = path().child("name");
    let problem = match hub.secret(name) {
        SecretLookup::NotChecked
        | SecretLookup::Found {
            docker_config: true,
        } => None,
        SecretLookup::Missing => Some(FieldError::not_found(
            field.clone(),
            name,
            format!(
                "no such Secret in namespace {:?}: Prep would fail",
                new.namespace()
            ),
        )),
        SecretLookup::Found {
            docker_config: false,
        } => Some(FieldError::invalid(
            field.clone(),
            name,
            format!("the Secret has no {DOCKER_CONFIG_KEY} key"),
        )),
        SecretLookup::Unknown(why) => {
            warnings.push(format!("{field}: Secret {name:?} not checked: {why}"));
            None
        }
    };
    if let Some(e) = problem {
        if config.require_pull_secret {
            errors.push(e);
        } else {
            warnings.push(e.to_string());
        }
    }
    (errors, warnings)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ibgu(seed: &str) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(&format!(
            r#"{{"metadata":{{"namespace":"ztp"}},"spec":{{"ibuSpec":{{"seedImageRef":{seed}}},"plan":[{{"actions":["Prep"]}}]}}}}"#
        ))
        .unwrap()
    }

    fn config(seed: Option<&str>, strict: bool) -> Config {
        Config {
            seed_pull_secret: seed.map(str::to_owned),
            require_pull_secret: strict,
            ..Config::default()
        }
    }

    fn hub(name: &str, lookup: SecretLookup) -> Hub {
        Hub::Secrets(BTreeMap::from([(name.to_owned(), lookup)]))
    }

    #[test]
    fn injects_unless_hub_says_missing() {
        let new = ibgu(r#"{"image":"i","version":"v"}"#);
        let mut p = PatchBuilder::new();
        let w = inject(
            &config(Some("seed"), false),
            None,
            &new,
            &Hub::Offline,
            &mut p,
        );
        assert_eq!(p.build().len(), 1);
        assert_eq!(
            w,
            [r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: set to "seed" (server default)"#]
        );
        let mut p = PatchBuilder::new();
        let w = inject(
            &config(Some("seed"), false),
            None,
            &new,
            &hub("seed", SecretLookup::Missing),
            &mut p,
        );
        assert!(p.build().is_empty());
        assert!(w[0].contains("not found in namespace \"ztp\""), "{w:?}");
    }

    #[test]
    fn update_restores_stored_reference() {
        let old = ibgu(r#"{"image":"i","version":"v","pullSecretRef":{"name":"seed"}}"#);
        let new = ibgu(r#"{"image":"i","version":"v"}"#);
        let mut p = PatchBuilder::new();
        inject(
            &config(None, false),
            Some(&old),
            &new,
            &Hub::Offline,
            &mut p,
        );
        assert_eq!(
            String::from_utf8(p.build().into_bytes()).unwrap(),
            r#"[{"op":"add","path":"/spec/ibuSpec/seedImageRef/pullSecretRef","value":{"name":"seed"}}]"#
        );
    }

    #[test]
    fn missing_secret_warns_or_denies() {
        let new = ibgu(r#"{"image":"i","version":"v","pullSecretRef":{"name":"s"}}"#);
        let (e, w) = validate(&config(None, false), &new, &hub("s", SecretLookup::Missing));
        assert!(e.is_empty());
        assert_eq!(w.len(), 1);
        let (e, _) = validate(&config(None, true), &new, &hub("s", SecretLookup::Missing));
        assert!(e.aggregate().starts_with(
            r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: Not found: "s": no such Secret"#
        ));
        let (e, _) = validate(
            &config(None, true),
            &new,
            &hub(
                "s",
                SecretLookup::Found {
                    docker_config: false,
                },
            ),
        );
        assert!(e.aggregate().contains("has no .dockerconfigjson key"));
        let (e, w) = validate(
            &config(None, true),
            &new,
            &hub("s", SecretLookup::Unknown("timeout".into())),
        );
        assert!(e.is_empty());
        assert!(w[0].ends_with("not checked: timeout"));
        let (e, w) = validate(&config(None, true), &new, &Hub::Offline);
        assert!(e.is_empty() && w.is_empty());
    }
}
