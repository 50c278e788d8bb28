//! Validating rule 9: `spec.ibuSpec` is present, and whenever a step prepares or upgrades,
//! `seedImageRef.image` and `.version` are set and the image matches upstream's pattern.

use crate::model::ImageBasedGroupUpgrade;
use crate::model::action::Action;
use crate::model::field::{ErrorList, FieldError, Path};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};

/// The pattern upstream's CRD puts on `seedImageRef.image`.
pub const IMAGE_PATTERN: &str = r"^([a-z0-9]+://)?[\S]+$";

/// The rule.
pub const RULE: Validating = Validating {
    id: "seed-image",
    number: 9,
    name: "seed image",
    ratchet: Ratchet::PerField,
    object: Some(check),
    ..Validating::NEW
};

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

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    let Some(ibu) = ibgu.ibu_spec() else {
        errors.push(FieldError::required(
            Path::from("spec.ibuSpec"),
            "the seed image and version to upgrade to",
        ));
        return errors.into();
    };
    let seed_path = |field| Path::from("spec.ibuSpec.seedImageRef").child(field);
    let needs_seed = ibgu.has_action(Action::Prep) || ibgu.has_action(Action::Upgrade);
    let seed = ibu.seed_image_ref.as_ref();
    // Blank (only whitespace) is as good as missing: the seed is needed, not a space.
    let blank = |v: Option<&str>| v.is_none_or(|v| v.trim().is_empty());
    match seed.and_then(|s| s.image.as_deref()) {
        image if needs_seed && blank(image) => errors.push(FieldError::required(
            seed_path("image"),
            "Prep and Upgrade need the seed image's pull spec",
        )),
        Some(image) if !image_matches(image) => errors.push(FieldError::invalid(
            seed_path("image"),
            image,
            format!("must match {IMAGE_PATTERN}: a pull spec without whitespace"),
        )),
        _ => {}
    }
    if needs_seed && blank(seed.and_then(|s| s.version.as_deref())) {
        errors.push(FieldError::required(
            seed_path("version"),
            "the OpenShift version of the seed image, e.g. 4.20.0",
        ));
    }
    errors.into()
}

#[cfg(test)]
mod tests {
    use super::image_matches;
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_object;

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
        let ibgu = ImageBasedGroupUpgrade::from_json(json).unwrap();
        run_object("seed-image", &ibgu)
            .errors
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
    fn blank_is_missing() {
        let e = msgs(
            r#"{"spec":{"ibuSpec":{"seedImageRef":{"image":" \t","version":"  "}},"plan":[{"actions":["Upgrade"]}]}}"#,
        );
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].starts_with("spec.ibuSpec.seedImageRef.image: Required value"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("spec.ibuSpec.seedImageRef.version: Required value"),
            "{}",
            e[1]
        );
        // Without Prep or Upgrade a blank image is still not a pull spec.
        let e = msgs(
            r#"{"spec":{"ibuSpec":{"seedImageRef":{"image":" "}},"plan":[{"actions":["Abort"]}]}}"#,
        );
        assert!(
            e[0].starts_with("spec.ibuSpec.seedImageRef.image: Invalid value"),
            "{e:#?}"
        );
    }
}
