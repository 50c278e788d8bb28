//! Rule 6: `spec.ibuSpec` and `spec.clusterLabelSelectors` never change after CREATE.
//!
//! Upstream's `self == oldSelf` rules only run when the field exists in both objects, so
//! adding or removing the whole field passes upstream. Here it does not.

use serde::Serialize;

use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::ImageBasedGroupUpgrade;

/// Rule 6, reporting what changed so the user can find it in a long diff.
pub fn validate(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    let spec = Path::new("spec");
    let (o, n) = (old.ibu_spec(), new.ibu_spec());
    if o != n {
        errors.push(immutable(spec.child("ibuSpec"), o, n));
    }
    fn selectors(x: &ImageBasedGroupUpgrade) -> Option<&crate::ibgu::RawJson> {
        x.spec.as_ref()?.cluster_label_selectors.as_ref()
    }
    let (o, n) = (selectors(old), selectors(new));
    if o != n {
        errors.push(immutable(spec.child("clusterLabelSelectors"), o, n));
    }
    errors
}

fn immutable<T: Serialize>(path: Path, old: Option<&T>, new: Option<&T>) -> FieldError {
    let what = match (old, new) {
        (None, _) => "it cannot be added".to_owned(),
        (_, None) => "it cannot be removed".to_owned(),
        (Some(o), Some(n)) => first_change(o, n),
    };
    FieldError::forbidden(
        path,
        format!("field is immutable: {what}; create a new ImageBasedGroupUpgrade instead"),
    )
}

/// Names the first difference, e.g. `seedImageRef.version changed`.
fn first_change<T: Serialize>(old: &T, new: &T) -> String {
    let (Ok(o), Ok(n)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return "it changed".to_owned();
    };
    let diff = json_patch::diff(&o, &n);
    let Some(op) = diff.0.first() else {
        return "it changed".to_owned();
    };
    let (verb, pointer) = match op {
        json_patch::PatchOperation::Add(a) => ("added", &a.path),
        json_patch::PatchOperation::Remove(r) => ("removed", &r.path),
        json_patch::PatchOperation::Replace(r) => ("changed", &r.path),
        json_patch::PatchOperation::Move(m) => ("moved", &m.path),
        json_patch::PatchOperation::Copy(c) => ("copied", &c.path),
        json_patch::PatchOperation::Test(t) => ("changed", &t.path),
    };
    // Numeric tokens are rendered as indexes: the only lists here are arrays of
    // selectors and refs, and numeric map keys are not valid label keys.
    let mut field = String::new();
    for token in pointer.tokens() {
        let t = token.decoded();
        if t.parse::<usize>().is_ok() {
            field.push_str(&format!("[{t}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&t);
        }
    }
    if field.is_empty() {
        "it changed".to_owned()
    } else {
        format!("{field} {verb}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibgu(spec: &str) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(&format!(r#"{{"spec":{spec}}}"#)).unwrap()
    }

    #[test]
    fn changes_adds_and_removes_are_forbidden() {
        let a = ibgu(r#"{"ibuSpec":{"seedImageRef":{"image":"i","version":"4.19"}}}"#);
        let b = ibgu(r#"{"ibuSpec":{"seedImageRef":{"image":"i","version":"4.20"}}}"#);
        assert_eq!(
            validate(&a, &b).aggregate(),
            "spec.ibuSpec: Forbidden: field is immutable: seedImageRef.version changed; create a new ImageBasedGroupUpgrade instead"
        );
        let none = ibgu("{}");
        assert!(
            validate(&none, &a)
                .aggregate()
                .contains("it cannot be added")
        );
        let sel = ibgu(r#"{"clusterLabelSelectors":[{"matchLabels":{"a":"b"}}]}"#);
        assert!(validate(&sel, &none).aggregate().contains(
            "spec.clusterLabelSelectors: Forbidden: field is immutable: it cannot be removed"
        ));
        let sel2 = ibgu(r#"{"clusterLabelSelectors":[{"matchLabels":{"a":"c"}}]}"#);
        assert!(
            validate(&sel, &sel2)
                .aggregate()
                .contains("[0].matchLabels.a changed"),
            "{}",
            validate(&sel, &sel2).aggregate()
        );
        assert!(validate(&a, &a).is_empty());
    }
}
