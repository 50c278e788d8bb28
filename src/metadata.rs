//! Rule 8: `metadata.name` shorter than 230 characters (upstream's CEL rule, which keeps
//! the names TALM derives from it, such as ManifestWorkReplicaSet names, within limits).

use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::ImageBasedGroupUpgrade;

/// The longest name upstream accepts.
pub const MAX_NAME: usize = 229;
/// How many random characters the apiserver appends to `generateName`.
const GENERATED_SUFFIX: usize = 5;

/// Rule 8. With `generateName` (the name is still empty when mutating webhooks run),
/// the prefix plus the apiserver's suffix must fit.
pub fn validate(ibgu: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    let meta = ibgu.metadata.as_ref();
    let name = meta.and_then(|m| m.name.as_deref());
    let generate_name = meta.and_then(|m| m.generate_name.as_deref());
    match (name, generate_name) {
        (Some(name), _) if name.chars().count() > MAX_NAME => {
            errors.push(FieldError::too_long(
                Path::new("metadata").child("name"),
                MAX_NAME,
            ));
        }
        (None | Some(""), Some(prefix)) if prefix.chars().count() + GENERATED_SUFFIX > MAX_NAME => {
            errors.push(FieldError::too_long(
                Path::new("metadata").child("generateName"),
                MAX_NAME - GENERATED_SUFFIX,
            ));
        }
        _ => {}
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(field: &str, len: usize) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(&format!(
            r#"{{"metadata":{{"{field}":"{}"}}}}"#,
            "a".repeat(len)
        ))
        .unwrap()
    }

    #[test]
    fn name_limit_is_229() {
        assert!(validate(&named("name", 229)).is_empty());
        assert_eq!(
            validate(&named("name", 230)).aggregate(),
            "metadata.name: Too long: may not be more than 229 bytes"
        );
        assert!(validate(&named("generateName", 224)).is_empty());
        assert_eq!(validate(&named("generateName", 225)).len(), 1);
    }
}
