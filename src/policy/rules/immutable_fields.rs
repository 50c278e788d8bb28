//! Validating rule 6: `spec.ibuSpec` and `spec.clusterLabelSelectors` never change after
//! CREATE. Upstream's `self == oldSelf` rules only run when the field exists in both
//! objects, so adding or removing the whole field passes upstream; here it does not.

use serde::Serialize;

use crate::model::ImageBasedGroupUpgrade;
use crate::model::field::{ErrorList, FieldError, Path};
use crate::policy::rule::{Context, Findings, Validating};

/// The rule.
pub const RULE: Validating = Validating {
    id: "immutable-fields",
    number: 6,
    name: "immutable fields",
    update: Some(check),
    ..Validating::NEW
};

/// Reports what changed, so the user can find it in a long diff.
fn check(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    let mut errors = ErrorList::new();
    let spec = Path::new("spec");
    let (o, n) = (old.ibu_spec(), new.ibu_spec());
    if o != n {
        errors.push(immutable(spec.child("ibuSpec"), o, n));
    }
    let (o, n) = (old.cluster_label_selectors(), new.cluster_label_selectors());
    if o != n {
        errors.push(immutable(spec.child("clusterLabelSelectors"), o, n));
    }
    errors.into()
}

fn immutable<T: Serialize + ?Sized>(path: Path, old: Option<&T>, new: Option<&T>) -> FieldError {
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
fn first_change<T: Serialize + ?Sized>(old: &T, new: &T) -> String {
    let (Ok(o), Ok(n)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return "it changed".to_owned();
    };
    let Some(op) = json_patch::diff(&o, &n).0.into_iter().next() else {
        return "it changed".to_owned();
    };
    use json_patch::PatchOperation as Op;
    let (verb, pointer) = match &op {
        Op::Add(a) => ("added", &a.path),
        Op::Remove(r) => ("removed", &r.path),
        Op::Replace(r) => ("changed", &r.path),
        Op::Move(m) => ("moved", &m.path),
        Op::Copy(c) => ("copied", &c.path),
        Op::Test(t) => ("changed", &t.path),
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
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_update;

    fn errors(old: &str, new: &str) -> String {
        let (o, n) = (
            format!(r#"{{"spec":{old}}}"#),
            format!(r#"{{"spec":{new}}}"#),
        );
        let (o, n) = (
            ImageBasedGroupUpgrade::stored_from_json(&o).unwrap(),
            ImageBasedGroupUpgrade::from_json(&n).unwrap(),
        );
        let errors = run_update("immutable-fields", &o, &n).errors;
        if errors.is_empty() {
            String::new()
        } else {
            errors.aggregate()
        }
    }

    #[test]
    fn changes_adds_and_removes_are_forbidden() {
        let a = r#"{"ibuSpec":{"seedImageRef":{"image":"i","version":"4.19"}}}"#;
        let b = r#"{"ibuSpec":{"seedImageRef":{"image":"i","version":"4.20"}}}"#;
        assert_eq!(
            errors(a, b),
            "spec.ibuSpec: Forbidden: field is immutable: seedImageRef.version changed; create a new ImageBasedGroupUpgrade instead"
        );
        assert!(errors("{}", a).contains("it cannot be added"));
        let sel = r#"{"clusterLabelSelectors":[{"matchLabels":{"a":"b"}}]}"#;
        assert!(errors(sel, "{}").contains(
            "spec.clusterLabelSelectors: Forbidden: field is immutable: it cannot be removed"
        ));
        let sel2 = r#"{"clusterLabelSelectors":[{"matchLabels":{"a":"c"}}]}"#;
        assert!(
            errors(sel, sel2).contains("[0].matchLabels.a changed"),
            "{}",
            errors(sel, sel2)
        );
        assert!(errors(a, a).is_empty());
        // Key order and escapes are not changes.
        let reordered = r#"{"ibuSpec":{"seedImageRef":{"version":"4.19","image":"\u0069"}}}"#;
        assert!(errors(a, reordered).is_empty());
    }
}
