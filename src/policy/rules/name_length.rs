//! Validating rule 8: `metadata.name` shorter than 230 characters (upstream's CEL rule,
//! which keeps the names TALM derives from it, such as ManifestWorkReplicaSet names,
//! within limits). With `generateName` (the name is still empty when mutating webhooks
//! run), the prefix plus the apiserver's 5-character suffix must fit.

use crate::model::field::{FieldError, Path};
use crate::model::ImageBasedGroupUpgrade;
use crate::policy::rule::{Context, Findings, Rule};

/// The longest name upstream accepts.
pub const MAX_NAME: usize = 229;
/// How many random characters the apiserver appends to `generateName`.
const GENERATED_SUFFIX: usize = 5;

/// The rule.
pub const RULE: Rule = Rule {
    number: 8,
    name: "name length",
    ratchets: true,
    object: Some(check),
    ..Rule::VALIDATING
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let meta = ibgu.metadata.as_ref();
    let name = meta.and_then(|m| m.name.as_deref());
    let generate_name = meta.and_then(|m| m.generate_name.as_deref());
    let at = Path::new("metadata");
    match (name, generate_name) {
        (Some(name), _) if name.chars().count() > MAX_NAME => {
            FieldError::too_long(at.child("name"), MAX_NAME).into()
        }
        (None | Some(""), Some(prefix)) if prefix.chars().count() + GENERATED_SUFFIX > MAX_NAME => {
            FieldError::too_long(at.child("generateName"), MAX_NAME - GENERATED_SUFFIX).into()
        }
        _ => Findings::default(),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_object;

    fn errors(field: &str, len: usize) -> Vec<String> {
        let json = format!(r#"{{"metadata":{{"{field}":"{}"}}}}"#, "a".repeat(len));
        let ibgu = ImageBasedGroupUpgrade::from_json(&json).unwrap();
        run_object(8, &ibgu).errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn name_limit_is_229() {
        assert!(errors("name", 229).is_empty());
        assert_eq!(errors("name", 230), ["metadata.name: Too long: may not be more than 229 bytes"]);
        assert!(errors("generateName", 224).is_empty());
        assert_eq!(errors("generateName", 225).len(), 1);
    }
}
