//! Validating rule 10: every `extraManifests[]` and `oadpContent[]` entry names its
//! ConfigMap and the namespace it is in on the managed cluster.

use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::{ConfigMapRef, ImageBasedGroupUpgrade};
use crate::policy::rule::{Context, Findings, Rule};

/// The rule.
pub const RULE: Rule = Rule {
    number: 10,
    name: "ConfigMap references",
    ratchets: true,
    object: Some(check),
    ..Rule::VALIDATING
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    let Some(ibu) = ibgu.ibu_spec() else {
        return errors.into();
    };
    refs(ibu.extra_manifests.as_deref(), "spec.ibuSpec.extraManifests", &mut errors);
    refs(ibu.oadp_content.as_deref(), "spec.ibuSpec.oadpContent", &mut errors);
    errors.into()
}

fn refs(refs: Option<&[ConfigMapRef<'_>]>, list: &str, errors: &mut ErrorList) {
    for (i, r) in refs.unwrap_or_default().iter().enumerate() {
        let at = |field| Path::from(list).index(i).child(field);
        if r.name.as_deref().unwrap_or("").is_empty() {
            errors.push(FieldError::required(at("name"), "the ConfigMap's name"));
        }
        if r.namespace.as_deref().unwrap_or("").is_empty() {
            errors.push(FieldError::required(
                at("namespace"),
                "the ConfigMap's namespace on the managed cluster",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_object;

    #[test]
    fn config_map_refs_need_name_and_namespace() {
        let ibgu = ImageBasedGroupUpgrade::from_json(
            r#"{"spec":{"ibuSpec":{"oadpContent":[{"name":"a","namespace":"b"},{"name":"c"}],"extraManifests":[{}]}}}"#,
        )
        .unwrap();
        let e: Vec<String> = run_object(10, &ibgu).errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            [
                "spec.ibuSpec.extraManifests[0].name: Required value: the ConfigMap's name",
                "spec.ibuSpec.extraManifests[0].namespace: Required value: the ConfigMap's namespace on the managed cluster",
                "spec.ibuSpec.oadpContent[1].namespace: Required value: the ConfigMap's namespace on the managed cluster",
            ]
        );
    }
}
