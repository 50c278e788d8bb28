//! Validating rule 11: on CREATE, the `pullSecretRef` of a plan with Prep names a Secret
//! that exists in the IBGU's namespace on the hub and has a `.dockerconfigjson` key.
//!
//! When a step contains Prep, TALM copies that Secret into the Prep manifests (into
//! `openshift-lifecycle-agent` on every spoke), where lifecycle-agent reads the key. If
//! the Secret is missing TALM only logs, and Prep then fails on every cluster: the
//! webhook says so at `kubectl apply` time instead. Problems are warnings, or errors with
//! `--require-pull-secret`; a failed lookup is a warning saying what was not checked.
//!
//! Only on CREATE: TALM reads the Secret once, when it first creates the Prep step's
//! ManifestWorkReplicaSet, and never again. Prep can only be in the first step (rule 2)
//! and `ibuSpec` never changes (rule 6), so what it reads is fixed at CREATE; checking
//! on UPDATE would refuse TALM's own metadata writes and finalizer removal once the
//! Secret is deleted after Prep started.
//!
//! Two things are only warned about, even with `--require-pull-secret`, as the copy may
//! still work: `ownerReferences` (TALM copies the metadata, and on a spoke, where the
//! owner does not exist, the garbage collector deletes the copy), and a `type` that does
//! not carry `.dockerconfigjson` (lifecycle-agent reads the key, whatever the type).

use crate::model::ImageBasedGroupUpgrade;
use crate::model::action::Action;
use crate::model::field::{ErrorList, FieldError, Path, Warning};
use crate::model::name::dns1123_subdomain;
use crate::model::plan::pull_secret_path as path;
use crate::policy::change::{Change, Config};
use crate::policy::facts::{FoundSecret, SecretLookup};
use crate::policy::rule::{Context, Findings, Side, Validating};

/// The Secret key lifecycle-agent reads.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";
/// The Secret type that carries [`DOCKER_CONFIG_KEY`]; `Opaque` (or unset) may hold it too.
pub const DOCKER_CONFIG_TYPE: &str = "kubernetes.io/dockerconfigjson";

/// The rule.
pub const RULE: Validating = Validating {
    id: "pull-secret",
    number: 11,
    name: "pull secret",
    secrets: Some(named),
    covers: &[Side::Allowed, Side::Denied, Side::Warned],
    create: Some(check),
    ..Validating::NEW
};

/// The Secret a new object names, when a step pulls the seed image (Prep).
fn named(_: &Config, change: Change<'_>) -> Vec<String> {
    match change {
        Change::Create(new) => reference(new).map(str::to_owned).into_iter().collect(),
        Change::Update { .. } => Vec::new(),
    }
}

/// The Secret to look up; none for a name no Secret can have, which rule 10 refuses (the
/// hub cannot even be asked about it).
fn reference<'o>(new: &'o ImageBasedGroupUpgrade<'_>) -> Option<&'o str> {
    if !new.has_action(Action::Prep) {
        return None;
    }
    new.seed_image_ref()?
        .pull_secret_ref
        .as_ref()?
        .name
        .as_deref()
        .filter(|name| dns1123_subdomain(name).is_empty())
}

fn check(new: &ImageBasedGroupUpgrade<'_>, ctx: &Context<'_>) -> Findings {
    let mut found = Findings::default();
    let Some(name) = reference(new) else {
        return found;
    };
    let field = path().child("name");
    // The error in apimachinery's words (printed whole), and the warning's reason: a
    // warning says it before the name, which may be 253 characters long (Kubernetes
    // shows 120 of a warning).
    let problem = match ctx.facts.secret(name) {
        SecretLookup::NotChecked => None,
        SecretLookup::Missing => Some((
            FieldError::not_found(
                field.clone(),
                name,
                format!(
                    "no such Secret in namespace {:?}: Prep would fail",
                    new.namespace()
                ),
            ),
            "no such Secret in this namespace, Prep would fail".to_owned(),
        )),
        SecretLookup::Found(secret) => {
            found.warnings.extend(caveats(&field, &secret));
            let no_key = format!("the Secret has no {DOCKER_CONFIG_KEY} key");
            (!secret.docker_config)
                .then(|| (FieldError::invalid(field.clone(), name, &no_key), no_key))
        }
        SecretLookup::Unknown(why) => {
            let reason = format!("not checked, {why}");
            found.warnings.push(Warning::naming(field, &reason, name));
            None
        }
    };
    match problem {
        Some((e, _)) if ctx.config.require_pull_secret => {
            found.errors = ErrorList::from_iter([e]);
        }
        Some((e, reason)) => found.warnings.push(Warning::naming(e.field, &reason, name)),
        None => {}
    }
    found
}

/// What may make the copies on the spokes fail although the Secret exists: warnings
/// only, each its reason first (Kubernetes shows 120 characters of a warning).
fn caveats(field: &Path, secret: &FoundSecret) -> Vec<Warning> {
    let mut out = Vec::new();
    if let Some(owner) = &secret.owner {
        out.push(Warning::naming(
            field.clone(),
            "owned, so spokes garbage-collect TALM's copies",
            owner,
        ));
    }
    match secret.type_.as_deref() {
        None | Some("" | "Opaque" | DOCKER_CONFIG_TYPE) => {}
        Some(other) => out.push(Warning::naming(
            field.clone(),
            &format!("type is not {DOCKER_CONFIG_TYPE}"),
            other,
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::change::Old;
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
        let found = check(
            new,
            &Context {
                config: &config,
                facts,
                by: Default::default(),
            },
        );
        let warnings = found.warnings.iter().map(ToString::to_string).collect();
        let errors = if found.errors.is_empty() {
            String::new()
        } else {
            found.errors.aggregate()
        };
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
            [
                r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: no such Secret in this namespace, Prep would fail: "s""#
            ]
        );
        let (e, _) = run(true, &facts("s", SecretLookup::Missing), &new);
        assert!(e.starts_with(
            r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: Not found: "s": no such Secret"#
        ));
        let no_key = SecretLookup::Found(FoundSecret::without_docker_config());
        let (e, _) = run(true, &facts("s", no_key.clone()), &new);
        assert_eq!(
            e,
            r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: Invalid value: "s": the Secret has no .dockerconfigjson key"#
        );
        let (e, w) = run(false, &facts("s", no_key), &new);
        assert!(e.is_empty());
        assert_eq!(
            w,
            [
                r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: the Secret has no .dockerconfigjson key: "s""#
            ]
        );
        let (e, w) = run(
            true,
            &facts("s", SecretLookup::Unknown("timeout".into())),
            &new,
        );
        assert!(e.is_empty());
        assert!(
            w[0].ends_with(r#"name: not checked, timeout: "s""#),
            "{w:?}"
        );
        let (e, w) = run(true, &Facts::Offline, &new);
        assert!(e.is_empty() && w.is_empty());
        assert_eq!(named(&Config::default(), Change::Create(&new)), ["s"]);
        // TALM reads the Secret once, at Prep's start: an UPDATE asks for no lookup.
        let update = Change::Update {
            old: &new,
            new: &new,
            old_as: Old::Stored,
        };
        assert!(named(&Config::default(), update).is_empty());
    }

    #[test]
    fn owner_and_type_only_warn_even_when_strict() {
        let text = json(r#"{"image":"i","version":"v","pullSecretRef":{"name":"s"}}"#);
        let new = ibgu(&text);
        let owned = FoundSecret {
            owner: Some("ExternalSecret/seed".into()),
            ..FoundSecret::usable()
        };
        let (e, w) = run(true, &facts("s", SecretLookup::Found(owned)), &new);
        assert!(e.is_empty());
        assert_eq!(
            w,
            [
                r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: owned, so spokes garbage-collect TALM's copies: "ExternalSecret/seed""#
            ]
        );
        for (type_, warns) in [
            ("kubernetes.io/tls", true),
            ("kubernetes.io/dockercfg", true),
            ("kubernetes.io/basic-auth", true),
            ("Opaque", false),
            ("", false),
            (DOCKER_CONFIG_TYPE, false),
        ] {
            let typed = FoundSecret {
                type_: Some(type_.into()),
                ..FoundSecret::usable()
            };
            let (e, w) = run(true, &facts("s", SecretLookup::Found(typed)), &new);
            assert!(e.is_empty(), "{type_}: {e}");
            let want = format!("type is not kubernetes.io/dockerconfigjson: {type_:?}");
            assert_eq!(
                w.iter().any(|w| w.ends_with(&want)),
                warns,
                "{type_}: {w:?}"
            );
            assert_eq!(w.len(), usize::from(warns), "{type_}: {w:?}");
        }
        let (e, w) = run(
            true,
            &facts("s", SecretLookup::Found(FoundSecret::usable())),
            &new,
        );
        assert!(e.is_empty() && w.is_empty());
    }

    #[test]
    fn a_253_character_name_is_shortened_and_the_reason_kept() {
        // The longest name a Secret can have: four DNS labels, 253 characters.
        let name = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(name.len(), 253);
        let text = json(&format!(
            r#"{{"image":"i","version":"v","pullSecretRef":{{"name":"{name}"}}}}"#
        ));
        let new = ibgu(&text);
        let owned = FoundSecret {
            owner: Some(format!("ExternalSecret/{name}")),
            type_: Some("kubernetes.io/tls".into()),
            ..FoundSecret::without_docker_config()
        };
        let field = "spec.ibuSpec.seedImageRef.pullSecretRef.name: ";
        for (lookup, reasons) in [
            (
                SecretLookup::Missing,
                &["no such Secret in this namespace, Prep would fail"][..],
            ),
            (
                SecretLookup::Found(owned),
                &[
                    "owned, so spokes garbage-collect TALM's copies",
                    "type is not kubernetes.io/dockerconfigjson",
                    "the Secret has no .dockerconfigjson key",
                ][..],
            ),
            (
                SecretLookup::Unknown("hub API did not answer within 2000ms".into()),
                &["not checked, hub API did not answer within 2000ms"][..],
            ),
        ] {
            let (e, w) = run(false, &facts(&name, lookup), &new);
            assert!(e.is_empty(), "{e}");
            assert_eq!(w.len(), reasons.len(), "{w:?}");
            for (w, reason) in w.iter().zip(reasons) {
                assert!(w.starts_with(&format!("{field}{reason}: \"")), "{w}");
                assert!(
                    w.chars().count() <= Warning::MAX_CHARS,
                    "{} chars: {w}",
                    w.chars().count()
                );
                // The type is named whole; the Secret and its owner, shortened.
                let whole = reason.starts_with("type");
                assert_eq!(w.ends_with("...\""), !whole, "{w}");
            }
        }
        // With --require-pull-secret the error is apimachinery's, the name whole.
        let (e, _) = run(true, &facts(&name, SecretLookup::Missing), &new);
        assert!(
            e.contains(&format!("Not found: \"{name}\": no such Secret")),
            "{e}"
        );
    }
}
