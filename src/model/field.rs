//! Field paths and field errors, after apimachinery's `field.Path` and `field.ErrorList`.
//!
//! Kubernetes users read admission errors in one shape everywhere:
//! `spec.plan[1].actions: Unsupported value: ["Rollback"]: <what would be valid>`.
//! This module renders that shape, and the `StatusCause` a denial carries for each error,
//! so that `kubectl` users and pipelines see what they already know how to read.

use std::fmt;

use serde::Serialize;

/// A path to a field, rendered the way apimachinery renders it: `spec.plan[2].actions`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(String);

impl Path {
    /// The path of a top-level field, such as `spec`.
    pub fn new(root: &str) -> Self {
        Path(root.to_owned())
    }

    /// The path of a named child field.
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        let mut s = String::with_capacity(self.0.len() + 1 + name.len());
        s.push_str(&self.0);
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(name);
        Path(s)
    }

    /// The path of a list element.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        use fmt::Write;
        let mut s = String::with_capacity(self.0.len() + 8);
        s.push_str(&self.0);
        // Writing to a String cannot fail.
        let _ = write!(s, "[{i}]");
        Path(s)
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Path {
    fn from(s: &str) -> Self {
        Path(s.to_owned())
    }
}

/// The kind of a field error; the names and texts are apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorType {
    /// The value names something that does not exist.
    NotFound,
    /// A required value is missing.
    Required,
    /// A value appears twice where it must be unique.
    Duplicate,
    /// The value is malformed or out of range.
    Invalid,
    /// The value is not one of a known set.
    NotSupported,
    /// The change or value is not allowed.
    Forbidden,
    /// The value is too long.
    TooLong,
    /// The list has too many items.
    TooMany,
    /// The value has the wrong JSON type.
    TypeInvalid,
}

impl ErrorType {
    /// The text apimachinery prints for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }

    /// The `StatusCause.reason` apimachinery sends for this kind (`metav1.CauseType`).
    pub fn cause(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// Whether apimachinery prints the bad value for this kind.
    fn shows_value(self) -> bool {
        !matches!(
            self,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong
        )
    }
}

/// One violation: which field, what kind, the offending value and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FieldError {
    /// What kind of violation.
    #[serde(rename = "type")]
    pub kind: ErrorType,
    /// Where: `spec.plan[1].actions`.
    pub field: Path,
    /// The offending value, rendered as JSON; absent where it adds nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What would be valid, or why the value is refused.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Serialize for Path {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl FieldError {
    fn new(kind: ErrorType, field: Path, value: Option<String>, detail: impl Into<String>) -> Self {
        FieldError {
            kind,
            field,
            value,
            detail: detail.into(),
        }
    }

    /// A required value is missing.
    pub fn required(field: Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    /// The value is malformed or out of range.
    pub fn invalid(field: Path, value: impl Serialize, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, Some(render(&value)), detail)
    }

    /// The value is not one of `supported`.
    pub fn not_supported(field: Path, value: impl Serialize, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self::new(
            ErrorType::NotSupported,
            field,
            Some(render(&value)),
            format!("supported values: {}", list.join(", ")),
        )
    }

    /// The value is not supported here; `detail` says what would be.
    pub fn unsupported(field: Path, value: impl Serialize, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::NotSupported, field, Some(render(&value)), detail)
    }

    /// The value names something that does not exist.
    pub fn not_found(field: Path, value: impl Serialize, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::NotFound, field, Some(render(&value)), detail)
    }

    /// A value appears twice.
    pub fn duplicate(field: Path, value: impl Serialize) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(render(&value)), "")
    }

    /// The change or value is not allowed.
    pub fn forbidden(field: Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    /// The value is longer than `max` bytes.
    pub fn too_long(field: Path, max: usize) -> Self {
        Self::new(
            ErrorType::TooLong,
            field,
            None,
            format!("may not be more than {max} bytes"),
        )
    }

    /// The list has `actual` items, more than `max`.
    pub fn too_many(field: Path, actual: usize, max: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            Some(actual.to_string()),
            format!("must have at most {max} items"),
        )
    }

    /// `count` more errors under `field` than the `shown` a reply lists.
    pub fn more(field: Path, count: usize, shown: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            Some(count.to_string()),
            format!(
                "errors not shown (the first {shown} are); fix those and apply again to see the rest"
            ),
        )
    }

    /// The value has the wrong JSON type or shape; `detail` is the decoder's message.
    pub fn type_invalid(field: Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::TypeInvalid, field, None, detail)
    }

    /// The value, `value` as JSON text when known, is not of the type `detail` names.
    pub fn wrong_type(field: Path, value: Option<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::TypeInvalid, field, value, detail)
    }

    /// The part after the field path, as apimachinery's `ErrorBody()`.
    pub fn body(&self) -> String {
        let mut s = String::from(self.kind.as_str());
        if self.kind.shows_value()
            && let Some(v) = &self.value
        {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An error about the whole object has no path to name.
        if self.field.as_str().is_empty() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.field, self.body())
        }
    }
}

impl std::error::Error for FieldError {}

/// A warning, located like an error: `spec.plan[1]: 3 cluster(s) failed an earlier step`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Warning {
    /// Where: the field the warning is about (empty for the whole object).
    pub field: Path,
    /// What the user should know.
    pub message: String,
}

impl Warning {
    /// Kubernetes shows this many characters of a warning.
    pub const MAX_CHARS: usize = 120;
    /// [`Warning::naming`] leaves a name at least this many characters, quotes included.
    pub const NAME_ROOM: usize = 20;

    /// A warning about `field`.
    pub fn new(field: Path, message: impl Into<String>) -> Self {
        Warning {
            field,
            message: message.into(),
        }
    }

    /// A warning about `field` that says `reason` first and names `name` last, quoted:
    /// `field: reason: "name"`. When the line would be longer than [`Warning::MAX_CHARS`],
    /// the name is shortened (`"seed-pull-se..."`), not the reason, which the cut
    /// Kubernetes makes at the end of a long warning would lose. Only a reason that would
    /// leave the name under [`Warning::NAME_ROOM`] characters is cut itself, at its end
    /// (the detail of a hub error, say), so that both show.
    pub fn naming(field: Path, reason: &str, name: &str) -> Self {
        let whole = Warning::new(field, format!("{reason}: {name:?}"));
        if whole.line().chars().count() <= Self::MAX_CHARS {
            return whole;
        }
        let field_len = match whole.field.as_str() {
            "" => 0,
            f => f.chars().count() + 2,
        };
        let quoted = format!("{name:?}");
        let (q, r) = (quoted.chars().count(), reason.chars().count());
        // What `reason: name` may take, what the name gets of it, what the reason keeps.
        let room = Self::MAX_CHARS.saturating_sub(field_len);
        let name_room = room.saturating_sub(r + 2).max(q.min(Self::NAME_ROOM));
        let reason_room = room.saturating_sub(name_room + 2);
        let reason = if r > reason_room {
            let kept: String = reason.chars().take(reason_room.saturating_sub(3)).collect();
            format!("{kept}...")
        } else {
            reason.to_owned()
        };
        let name = if q > name_room {
            // The opening quote, what is kept, then `..."`.
            let kept: String = name.chars().take(name_room.saturating_sub(5)).collect();
            let quoted = format!("{kept:?}");
            let open = quoted.strip_suffix('"').unwrap_or(&quoted);
            format!("{open}...\"")
        } else {
            quoted
        };
        Warning::new(whole.field, format!("{reason}: {name}"))
    }
}

impl Warning {
    /// The warning as kubectl shows it: `field: message`, or the message alone.
    pub fn line(&self) -> String {
        let field = self.field.as_str();
        if field.is_empty() {
            return self.message.clone();
        }
        [field, ": ", &self.message].concat()
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line())
    }
}

/// Renders a bad value as compact JSON, as kubectl users read it.
fn render(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("<unprintable>"))
}

/// Every violation found in one object, in the order the rules met them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorList(Vec<FieldError>);

impl ErrorList {
    /// An empty list.
    pub fn new() -> Self {
        ErrorList(Vec::new())
    }

    /// Adds one violation.
    pub fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// Adds every violation of `other`.
    pub fn extend(&mut self, other: ErrorList) {
        self.0.extend(other.0);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many violations.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The violations, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// Keeps the violations for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&FieldError) -> bool) {
        self.0.retain(keep);
    }

    /// apimachinery's aggregate text: the one error, or `[e1, e2, ...]`.
    pub fn aggregate(&self) -> String {
        match self.0.as_slice() {
            [one] => one.to_string(),
            many => {
                let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

impl IntoIterator for ErrorList {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ErrorList {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<FieldError> for ErrorList {
    fn from_iter<I: IntoIterator<Item = FieldError>>(iter: I) -> Self {
        ErrorList(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_naming_a_long_name_shortens_the_name_not_the_reason() {
        let field = Path::new("spec.ibuSpec.seedImageRef.pullSecretRef.name");
        let short = Warning::naming(field.clone(), "the reason", "seed-pull-secret");
        assert_eq!(
            short.line(),
            r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: the reason: "seed-pull-secret""#
        );
        let long = format!("{}.{}", "s".repeat(126), "t".repeat(126));
        let w = Warning::naming(field.clone(), "the reason", &long).line();
        assert_eq!(w.chars().count(), Warning::MAX_CHARS, "{w}");
        assert!(
            w.starts_with(r#"spec.ibuSpec.seedImageRef.pullSecretRef.name: the reason: "sss"#),
            "{w}"
        );
        assert!(w.ends_with(r#"sss...""#), "{w}");
        // A name that just fits is whole; one character more and it is shortened.
        let room = Warning::MAX_CHARS - short.line().len() + "seed-pull-secret".len();
        let fits = "a".repeat(room);
        assert!(
            Warning::naming(field.clone(), "the reason", &fits)
                .line()
                .ends_with(&format!("{fits}\""))
        );
        let over = Warning::naming(field.clone(), "the reason", &format!("{fits}b")).line();
        assert_eq!(over.chars().count(), Warning::MAX_CHARS);
        assert!(over.ends_with("a...\""), "{over}");
        // A reason too long to leave the name its room is cut at its end; the name shows.
        let why = format!("not checked, hub API unreachable: {}", "e".repeat(80));
        let w = Warning::naming(field.clone(), &why, "seed-pull-secret").line();
        assert_eq!(w.chars().count(), Warning::MAX_CHARS, "{w}");
        assert!(w.starts_with("spec.ibuSpec.seedImageRef.pullSecretRef.name: not checked, hub API unreachable: eee"), "{w}");
        assert!(w.ends_with(r#"eee...: "seed-pull-secret""#), "{w}");
        let both = Warning::naming(field.clone(), &why, &"n".repeat(253)).line();
        assert_eq!(both.chars().count(), Warning::MAX_CHARS, "{both}");
        assert!(
            both.ends_with(&format!(
                r#"...: "{}...""#,
                "n".repeat(Warning::NAME_ROOM - 5)
            )),
            "{both}"
        );
        // Without a field, the message alone is the line.
        let bare = Warning::naming(Path::new(""), "r", &"n".repeat(300)).line();
        assert_eq!(bare.chars().count(), Warning::MAX_CHARS);
        assert!(bare.starts_with(r#"r: "nnn"#));
    }

    #[test]
    fn renders_like_apimachinery() {
        let p = Path::new("spec").child("plan").index(1).child("actions");
        let e = FieldError::unsupported(p, ["Rollback"], "after [Prep] a step may be [Upgrade]");
        assert_eq!(
            e.to_string(),
            r#"spec.plan[1].actions: Unsupported value: ["Rollback"]: after [Prep] a step may be [Upgrade]"#
        );
        let r = FieldError::required(Path::new("spec").child("plan"), "");
        assert_eq!(r.to_string(), "spec.plan: Required value");
        let f = FieldError::forbidden(Path::new("spec").child("ibuSpec"), "field is immutable");
        assert_eq!(f.to_string(), "spec.ibuSpec: Forbidden: field is immutable");
        let n = FieldError::not_supported(Path::new("x"), "Prepp", &["Prep", "Abort"]);
        assert_eq!(
            n.to_string(),
            r#"x: Unsupported value: "Prepp": supported values: "Prep", "Abort""#
        );
        let t = FieldError::too_many(Path::new("spec.plan"), 7, 6);
        assert_eq!(
            t.to_string(),
            "spec.plan: Too many: 7: must have at most 6 items"
        );
    }

    #[test]
    fn aggregates_like_apimachinery() {
        let mut list = ErrorList::new();
        list.push(FieldError::required(Path::new("a"), ""));
        assert_eq!(list.aggregate(), "a: Required value");
        list.push(FieldError::required(Path::new("b"), "why"));
        assert_eq!(
            list.aggregate(),
            "[a: Required value, b: Required value: why]"
        );
    }

    #[test]
    fn error_about_the_whole_object_has_no_path() {
        let e =
            FieldError::type_invalid(Path::new(""), "invalid type: sequence, expected an object");
        assert_eq!(
            e.to_string(),
            "Invalid value: invalid type: sequence, expected an object"
        );
    }

    #[test]
    fn long_values_are_printed_as_apimachinery_prints_them() {
        // apimachinery's ErrorBody prints a bad value in full (it shortens nothing) and
        // omits it for Required, Forbidden and Too long; so does this.
        let long = "q".repeat(5_000);
        let e = FieldError::invalid(Path::new("f"), &long, "why");
        assert_eq!(e.to_string(), format!("f: Invalid value: \"{long}\": why"));
        let mut t = FieldError::too_long(Path::new("f"), 63);
        t.value = Some(long);
        assert_eq!(t.to_string(), "f: Too long: may not be more than 63 bytes");
    }

    #[test]
    fn root_child_has_no_leading_dot() {
        assert_eq!(Path::new("").child("spec").as_str(), "spec");
    }
}
