//! Mutating rule 2: on CREATE, when a step contains Prep, `seedImageRef` has no
//! `pullSecretRef` and a seed pull secret is configured that the hub does not report
//! missing, `pullSecretRef.name` is set to it, so that TALM carries the Secret into the
//! Prep manifests.
//!
//! On UPDATE a `pullSecretRef` that the stored object has and the new one lacks is put
//! back: it was most likely injected here, and a GitOps re-apply of the original manifest
//! must not read as an edit of the immutable `ibuSpec`.

use crate::model::PullSecretRef;
use crate::model::action::Action;
use crate::model::field::Warning;
use crate::policy::change::{Change, Config};
use crate::policy::facts::SecretLookup;
use crate::policy::patch::Additions;
use crate::policy::rule::{Context, Mutating, Side};

use crate::model::plan::pull_secret_path as path;

/// The rule.
pub const RULE: Mutating = Mutating {
    id: "seed-pull-secret",
    number: 2,
    name: "seed pull secret",
    secrets: Some(configured),
    covers: &[Side::Patched, Side::Unpatched],
    mutate: inject,
};

/// The configured seed pull secret, on CREATE when it would be injected: a step pulls
/// the seed image (Prep) and `seedImageRef` names no Secret. An UPDATE only puts back
/// what is stored, and reads no Secret.
fn configured(config: &Config, change: Change<'_>) -> Vec<String> {
    let (Some(seed), Change::Create(new)) = (&config.seed_pull_secret, change) else {
        return Vec::new();
    };
    let unnamed = new
        .seed_image_ref()
        .is_some_and(|s| s.pull_secret_ref.is_none());
    if unnamed && new.has_action(Action::Prep) {
        vec![seed.clone()]
    } else {
        Vec::new()
    }
}

fn inject<'a>(change: Change<'a>, ctx: &Context<'_>, add: &mut Additions<'a>) -> Vec<Warning> {
    let new = change.new_object();
    let Some(seed) = new.seed_image_ref() else {
        return Vec::new();
    };
    if seed.pull_secret_ref.is_some() {
        return Vec::new();
    }
    if let Some(old) = change.old_object() {
        if let Some(stored) = old
            .seed_image_ref()
            .and_then(|s| s.pull_secret_ref.as_ref())
        {
            add.pull_secret_ref(stored.clone());
        }
        return Vec::new();
    }
    let Some(name) = &ctx.config.seed_pull_secret else {
        return Vec::new();
    };
    if !new.has_action(Action::Prep) {
        return Vec::new();
    }
    match ctx.facts.secret(name) {
        SecretLookup::Missing => vec![Warning::new(
            path(),
            format!(
                "not set: seed pull secret {name:?} not found in namespace {:?}",
                new.namespace()
            ),
        )],
        _ => {
            add.pull_secret_ref(PullSecretRef {
                name: Some(name.clone().into()),
            });
            vec![Warning::new(
                path().child("name"),
                format!("set to {name:?} (server default)"),
            )]
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::change::Old;
    use crate::policy::facts::Facts;
    use crate::policy::patch::Additions;

    fn json(seed: &str) -> String {
        format!(
            r#"{{"metadata":{{"namespace":"ztp"}},"spec":{{"ibuSpec":{{"seedImageRef":{seed}}},"plan":[{{"actions":["Prep"]}}]}}}}"#
        )
    }

    fn run(seed: Option<&str>, change: Change<'_>, facts: &Facts) -> (String, Vec<String>) {
        let config = Config {
            seed_pull_secret: seed.map(str::to_owned),
            ..Config::default()
        };
        let mut add = Additions::new(change.new_object());
        let warnings = inject(
            change,
            &Context {
                config: &config,
                facts,
                by: Default::default(),
            },
            &mut add,
        );
        let patch = serde_json::to_string(&add.finish().0).unwrap();
        (patch, warnings.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn injects_unless_the_hub_says_missing() {
        let text = json(r#"{"image":"i","version":"v"}"#);
        let new = ImageBasedGroupUpgrade::from_json(&text).unwrap();
        let (patch, w) = run(Some("seed"), Change::Create(&new), &Facts::Offline);
        assert_eq!(
            patch,
            r#"[{"op":"add","path":"/spec/ibuSpec/seedImageRef/pullSecretRef","value":{"name":"seed"}}]"#
        );
        assert_eq!(
            w,
            [r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: set to "seed" (server default)"#]
        );
        let missing = Facts::Secrets(BTreeMap::from([("seed".to_owned(), SecretLookup::Missing)]));
        let (patch, w) = run(Some("seed"), Change::Create(&new), &missing);
        assert_eq!(patch, "[]");
        assert!(w[0].contains("not found in namespace \"ztp\""), "{w:?}");
        // Looked up only when it would be injected.
        let config = Config {
            seed_pull_secret: Some("seed".into()),
            ..Config::default()
        };
        assert_eq!(configured(&config, Change::Create(&new)), ["seed"]);
        let named = json(r#"{"image":"i","version":"v","pullSecretRef":{"name":"mine"}}"#);
        let named = ImageBasedGroupUpgrade::from_json(&named).unwrap();
        assert!(configured(&config, Change::Create(&named)).is_empty());
        let update = Change::Update {
            old: &new,
            new: &new,
            old_as: Old::Stored,
        };
        assert!(configured(&config, update).is_empty());
    }

    #[test]
    fn update_restores_the_stored_reference() {
        let old = json(r#"{"image":"i","version":"v","pullSecretRef":{"name":"seed"}}"#);
        let new = json(r#"{"image":"i","version":"v"}"#);
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).unwrap();
        let new = ImageBasedGroupUpgrade::from_json(&new).unwrap();
        let (patch, _) = run(
            None,
            Change::Update {
                old: &old,
                new: &new,
                old_as: Old::Stored,
            },
            &Facts::Offline,
        );
        assert_eq!(
            patch,
            r#"[{"op":"add","path":"/spec/ibuSpec/seedImageRef/pullSecretRef","value":{"name":"seed"}}]"#
        );
    }
}
