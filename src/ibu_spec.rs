//! `spec.ibuSpec`, the lifecycle-agent ImageBasedUpgrade spec TALM sends to each cluster:
//! rule 9 (a seed image whenever a step prepares or upgrades) and rule 10 (every
//! ConfigMap reference names its ConfigMap and namespace).

use crate::action::Action;
use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::{ConfigMapRef, ImageBasedGroupUpgrade};
use crate::plan;

/// The pattern upstream's CRD puts on `seedImageRef.image`.
pub const IMAGE_PATTERN: &str = r"^([a-z0-9]+://)?[\S]+$";

/// Whether `image` matches [`IMAGE_PATTERN`] (RE2 semantics, as the apiserver uses).
///
/// The optional scheme group adds nothing a match could need (`[\S]+` alone matches any
/// text without whitespace), so the pattern holds exactly when the text is non-empty and
/// has none of RE2's `\s` characters: tab, newline, form feed, carriage return, space.
pub fn image_matches(image: &str) -> bool {
    !image.is_empty()
        && !image
            .chars()
            .any(|c| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' '))
}

/// Rules 9 and 10.
pub fn validate(ibgu: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    // Paths are built only for an error: most objects have none.
    let path = || Path::new("spec").child("ibuSpec");
    let seed_path = || path().child("seedImageRef");
    let Some(ibu) = ibgu.ibu_spec() else {
        errors.push(FieldError::required(
            path(),
            "the seed image and version to upgrade to",
        ));
        return errors;
    };
    let needs_seed =
        plan::has_action(ibgu, Action::Prep) || plan::has_action(ibgu, Action::Upgrade);
    let seed = ibu.seed_image_ref.as_ref();
    match seed.and_then(|s| s.image.as_deref()) {
        None | Some("") if needs_seed => errors.push(FieldError::required(
            seed_path().child("image"),
            "Prep and Upgrade need the seed image's pull spec",
        )),
        Some(image) if !image_matches(image) => errors.push(FieldError::invalid(
            seed_path().child("image"),
            image,
            format!("must match {IMAGE_PATTERN}: a pull spec without whitespace"),
        )),
        _ => {}
    }
    if needs_seed
        && seed
            .and_then(|s| s.version.as_deref())
            .unwrap_or("")
            .is_empty()
    {
        errors.push(FieldError::required(
            seed_path().child("version"),
            "the OpenShift version of the seed image, e.g. 4.20.0",
        ));
    }
    config_map_refs(
        &ibu.extra_manifests,
        || path().child("extraManifests"),
        &mut errors,
    );
    config_map_refs(
        &ibu.oadp_content,
        || path().child("oadpContent"),
        &mut errors,
    );
    errors
}

fn config_map_refs(
    refs: &Option<Vec<ConfigMapRef>>,
    path: impl Fn() -> Path,
    errors: &mut ErrorList,
) {
    for (i, r) in refs.iter().flatten().enumerate() {
        if r.name.as_deref().unwrap_or("").is_empty() {
            errors.push(FieldError::required(
                path().index(i).child("name"),
                "the ConfigMap's name",
            ));
        }
        if r.namespace.as_deref().unwrap_or("").is_empty() {
            errors.push(FieldError::required(
                path().index(i).child("namespace"),
                "the ConfigMap's namespace on the managed cluster",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pattern_is_re2s() {
        for ok in ["quay.io/a/b:4.20", "docker://x", "x", "é"] {
            assert!(image_matches(ok), "{ok}");
        }
        for bad in ["", "a b", "a\tb", "a\n", "\r"] {
            assert!(!image_matches(bad), "{bad:?}");
        }
    }

    fn msgs(json: &str) -> Vec<String> {
        validate(&ImageBasedGroupUpgrade::from_json(json).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn seed_required_only_for_prep_or_upgrade() {
        let e = msgs(r#"{"spec":{"ibuSpec":{},"plan":[{"actions":["Prep"]}]}}"#);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].starts_with("spec.ibuSpec.seedImageRef.image: Required value"));
        assert!(e[1].starts_with("spec.ibuSpec.seedImageRef.version: Required value"));
        assert!(msgs(r#"{"spec":{"ibuSpec":{},"plan":[{"actions":["Abort"]}]}}"#).is_empty());
        assert_eq!(
            msgs(r#"{"spec":{"plan":[{"actions":["Abort"]}]}}"#).len(),
            1
        );
    }

    #[test]
    fn config_map_refs_need_name_and_namespace() {
        let e = msgs(
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
}
