//! Validating rule 10: the ConfigMaps and the Secret the IBGU refers to are named as such
//! objects can be. Every `extraManifests[]` and `oadpContent[]` entry names its ConfigMap
//! (a DNS-1123 subdomain) and the namespace it is in on the managed cluster (a DNS-1123
//! label); `seedImageRef.pullSecretRef.name`, when set, is a DNS-1123 subdomain. The
//! docs' own example ships the placeholder `"<seed_pull_secret>"`, which the CRD takes:
//! TALM then only logs that the Secret is missing, and Prep fails on every spoke.

use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::name::{dns1123_label, dns1123_subdomain};
use crate::model::{ConfigMapRef, ImageBasedGroupUpgrade, Text};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};

/// The rule.
pub const RULE: Validating = Validating {
    id: "references",
    number: 10,
    name: "ConfigMap and Secret references",
    ratchet: Ratchet::PerField,
    object: Some(check),
    ..Validating::NEW
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    let Some(ibu) = ibgu.ibu_spec() else {
        return errors.into();
    };
    let secret = ibu
        .seed_image_ref
        .as_ref()
        .and_then(|s| s.pull_secret_ref.as_ref())
        .and_then(|r| r.name.as_ref());
    if let Some(name) = secret {
        let at = || Path::from("spec.ibuSpec.seedImageRef.pullSecretRef.name");
        if name.is_empty() {
            errors.push(FieldError::required(at(), "the seed pull Secret's name"));
        }
        named(name, dns1123_subdomain, at, &mut errors);
    }
    refs(
        ibu.extra_manifests.as_deref(),
        "spec.ibuSpec.extraManifests",
        &mut errors,
    );
    refs(
        ibu.oadp_content.as_deref(),
        "spec.ibuSpec.oadpContent",
        &mut errors,
    );
    errors.into()
}

fn refs(refs: Option<&[ConfigMapRef<'_>]>, list: &str, errors: &mut ErrorList) {
    for (i, r) in refs.unwrap_or_default().iter().enumerate() {
        let at = |field| Path::from(list).index(i).child(field);
        match r.name.as_ref().filter(|n| !n.is_empty()) {
            None => errors.push(FieldError::required(at("name"), "the ConfigMap's name")),
            Some(name) => named(name, dns1123_subdomain, || at("name"), errors),
        }
        match r.namespace.as_ref().filter(|n| !n.is_empty()) {
            None => errors.push(FieldError::required(
                at("namespace"),
                "the ConfigMap's namespace on the managed cluster",
            )),
            Some(ns) => named(ns, dns1123_label, || at("namespace"), errors),
        }
    }
}

/// One `Invalid value` per problem `syntax` finds, as apimachinery reports a bad name.
fn named(
    name: &Text<'_>,
    syntax: fn(&str) -> Vec<String>,
    at: impl Fn() -> Path,
    errors: &mut ErrorList,
) {
    if name.is_empty() {
        return;
    }
    for problem in syntax(name) {
        errors.push(FieldError::invalid(at(), name.as_str(), problem));
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_object;

    fn errors(json: &str) -> Vec<String> {
        let ibgu = ImageBasedGroupUpgrade::from_json(json).expect("a readable object");
        run_object("references", &ibgu)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn config_map_refs_need_name_and_namespace() {
        let e = errors(
            r#"{"spec":{"ibuSpec":{"oadpContent":[{"name":"a","namespace":"b"},{"name":"c"}],"extraManifests":[{}]}}}"#,
        );
        assert_eq!(
            e,
            [
                "spec.ibuSpec.extraManifests[0].name: Required value: the ConfigMap's name",
                "spec.ibuSpec.extraManifests[0].namespace: Required value: the ConfigMap's namespace on the managed cluster",
                "spec.ibuSpec.oadpContent[1].namespace: Required value: the ConfigMap's namespace on the managed cluster",
            ]
        );
    }

    #[test]
    fn names_are_dns1123() {
        let e = errors(
            r#"{"spec":{"ibuSpec":{"seedImageRef":{"pullSecretRef":{"name":"<seed_pull_secret>"}},
                "oadpContent":[{"name":"oadp_cm","namespace":"openshift.adp"}],
                "extraManifests":[{"name":"example-extra-manifests","namespace":"openshift-lifecycle-agent"}]}}}"#,
        );
        let at: Vec<&str> = e
            .iter()
            .map(|e| e.split(": ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            at,
            [
                "spec.ibuSpec.seedImageRef.pullSecretRef.name",
                "spec.ibuSpec.oadpContent[0].name",
                "spec.ibuSpec.oadpContent[0].namespace",
            ]
        );
        assert!(
            e[0].starts_with(
                "spec.ibuSpec.seedImageRef.pullSecretRef.name: Invalid value: \"<seed_pull_secret>\": a lowercase RFC 1123 subdomain"
            ),
            "{}",
            e[0]
        );
        assert!(e[2].contains("RFC 1123 label"), "{}", e[2]);
    }

    #[test]
    fn an_empty_pull_secret_name_is_required() {
        let e = errors(r#"{"spec":{"ibuSpec":{"seedImageRef":{"pullSecretRef":{"name":""}}}}}"#);
        assert_eq!(
            e,
            [
                "spec.ibuSpec.seedImageRef.pullSecretRef.name: Required value: the seed pull Secret's name"
            ]
        );
    }
}
