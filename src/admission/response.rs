//! The AdmissionResponse, as the apiserver expects it on the wire.
//!
//! This crate's own rather than kube-core 5's `AdmissionResponse`, which has three traps
//! the apiserver does not forgive: it serialises the patch as an array of numbers instead
//! of a base64 string (kube-rs #1781), `deny()` leaves `status.code` at 0 (which the
//! apiserver turns into 400), and `invalid()` answers with an empty uid (which the
//! apiserver rejects outright).

use base64::Engine;
use kube::core::Status;
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use std::collections::BTreeMap;

use super::audit::Annotations;
use super::bound::{MAX_ERROR_BYTES, MAX_FIELD_BYTES, MAX_NAME_BYTES};
use super::endpoint::{API_VERSION, Endpoint, KIND};
use crate::model::field::{ErrorList, Warning};
use crate::model::text::shorten;
use crate::model::{self as ibgu};

/// Kubernetes keeps this many characters of each warning.
pub const MAX_WARNING_CHARS: usize = Warning::MAX_CHARS;
/// At most this many warnings are sent; the last one says how many were left out.
pub const MAX_WARNINGS: usize = 16;

/// The `patchType` of a mutating answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PatchType {
    /// RFC 6902 JSON Patch, the only type the apiserver accepts.
    #[serde(rename = "JSONPatch")]
    JsonPatch,
}

/// How a denial's message words the refusal, as apimachinery's errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An object refused on CREATE or UPDATE: `NewInvalid`'s `"<name>" is invalid`.
    Invalid,
    /// An object kept from going (a DELETE, or the UPDATE that removes a deleting
    /// object's last finalizer): `NewForbidden`'s `"<name>" is forbidden`.
    Forbidden,
}

impl Refusal {
    fn words(self) -> &'static str {
        match self {
            Refusal::Invalid => "is invalid",
            Refusal::Forbidden => "is forbidden",
        }
    }
}

/// An AdmissionResponse.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The request's uid.
    pub uid: String,
    /// The verdict.
    pub allowed: bool,
    /// On denial: code 403, reason `Forbidden`, the message and one cause per violation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The JSON Patch, sent as the base64 of its JSON text.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "base64_json"
    )]
    pub patch: Option<json_patch::Patch>,
    /// `JSONPatch` exactly when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
    /// Shown by kubectl as `Warning: ...`; short, at most [`MAX_WARNINGS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the write was allowed, changed or refused, for the apiserver's audit log.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: Annotations,
}

fn base64_json<S: Serializer>(patch: &Option<json_patch::Patch>, s: S) -> Result<S::Ok, S::Error> {
    let json = serde_json::to_vec(patch).map_err(serde::ser::Error::custom)?;
    // Base64 never needs escaping: written as a raw JSON string, serde_json's escape scan
    // of each byte is skipped (docs/performance.md, "Tunings in the code").
    let mut quoted = String::with_capacity(json.len() * 4 / 3 + 6);
    quoted.push('"');
    base64::engine::general_purpose::STANDARD.encode_string(json, &mut quoted);
    quoted.push('"');
    RawValue::from_string(quoted)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// The review sent back.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: &'a Response,
}

/// A reply that breaks a rule the apiserver enforces on webhook responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reply would be rejected by the apiserver: {0}")]
pub struct WireError(pub &'static str);

impl Response {
    pub(super) fn allow(uid: &str) -> Self {
        Response {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
            audit_annotations: Annotations::new(),
        }
    }

    /// A denial: HTTP 403, reason `Forbidden`, the message
    /// `<Kind>.<group> "<name>" is invalid: <errors>` (`is forbidden` for a
    /// [`Refusal::Forbidden`]), and one cause per error.
    ///
    /// Not 422 `Invalid`: for that, kubectl prints only the causes, as
    /// `The imagebasedgroupupgrades "x" is invalid: ...`, and drops the apiserver's
    /// `admission webhook "..." denied the request` prefix, so the user cannot tell which
    /// component refused. With 403 kubectl shows the whole message, prefix included; API
    /// clients still get the causes in `details`.
    ///
    /// Each error is cut to [`MAX_ERROR_BYTES`], each cause's field to
    /// [`MAX_FIELD_BYTES`], the name to [`MAX_NAME_BYTES`]; how many errors there are is
    /// the caller's to bound ([`Report`](super::bound::Report)).
    pub(super) fn deny(uid: &str, name: &str, refusal: Refusal, errors: &ErrorList) -> Self {
        let name = shorten(name, MAX_NAME_BYTES);
        let causes = errors
            .iter()
            .map(|e| StatusCause {
                reason: e.kind.cause().to_owned(),
                message: shorten(&e.body(), MAX_ERROR_BYTES).into_owned(),
                field: shorten(e.field.as_str(), MAX_FIELD_BYTES).into_owned(),
            })
            .collect();
        let status = Status {
            status: Some(StatusSummary::Failure),
            code: 403,
            message: format!(
                "{}.{} {name:?} {}: {}",
                ibgu::KIND,
                ibgu::GROUP,
                refusal.words(),
                aggregate(errors)
            ),
            metadata: None,
            reason: "Forbidden".to_owned(),
            details: Some(StatusDetails {
                name: name.into_owned(),
                group: ibgu::GROUP.to_owned(),
                kind: ibgu::KIND.to_owned(),
                uid: String::new(),
                causes,
                retry_after_seconds: 0,
            }),
        };
        Response {
            allowed: false,
            status: Some(status),
            ..Response::allow(uid)
        }
    }

    pub(super) fn with_warnings(mut self, warnings: &[Warning]) -> Self {
        self.warnings = shorten_warnings(warnings.iter().map(Warning::line), warnings.len());
        self
    }

    pub(super) fn with_audit(mut self, annotations: Annotations) -> Self {
        self.audit_annotations = annotations;
        self
    }

    /// The AdmissionReview JSON to send.
    pub fn to_review_json(&self) -> Vec<u8> {
        let review = ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response: self,
        };
        // Sized for the usual reply (a /mutate one with its patch and warnings is about
        // 1 KB), so that writing it does not grow the buffer again and again.
        let mut out = Vec::with_capacity(2048);
        // Strings, numbers and a patch of plain values into a Vec: this cannot fail.
        let _ = serde_json::to_writer(&mut out, &review);
        out
    }

    /// Checks the rules the apiserver applies to a webhook's reply.
    pub fn check_wire(&self, endpoint: Endpoint) -> Result<(), WireError> {
        if self.uid.is_empty() {
            return Err(WireError("response.uid is empty"));
        }
        match endpoint {
            Endpoint::Validate if self.patch.is_some() || self.patch_type.is_some() => {
                return Err(WireError("a validating webhook must not return a patch"));
            }
            Endpoint::Mutate if self.patch.is_some() != self.patch_type.is_some() => {
                return Err(WireError("patch and patchType go together"));
            }
            _ => {}
        }
        if self.patch.is_some() && !self.allowed {
            return Err(WireError("a denial carries no patch"));
        }
        if !self.allowed {
            let Some(status) = &self.status else {
                return Err(WireError("a denial needs a status"));
            };
            if status.code < 400 {
                return Err(WireError("a denial's status.code must be 400 or more"));
            }
            if status.message.is_empty() {
                return Err(WireError("a denial needs a status.message"));
            }
        }
        if !self.audit_annotations.keys().all(|k| is_annotation_name(k)) {
            return Err(WireError(
                "an audit annotation key is not the name part of a qualified name",
            ));
        }
        if self.warnings.len() > MAX_WARNINGS || self.warnings.iter().any(|w| !fits_a_warning(w)) {
            return Err(WireError(
                "warnings too many, too long, or with control characters",
            ));
        }
        Ok(())
    }
}

/// Whether `k` is what the apiserver takes as an audit annotation key (it prefixes the
/// webhook's name and a slash): the name part of a qualified name.
fn is_annotation_name(k: &str) -> bool {
    let b = k.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    (1..=63).contains(&b.len())
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Whether `w` is one line of at most [`MAX_WARNING_CHARS`] characters.
fn fits_a_warning(w: &str) -> bool {
    // Warnings are nearly always short ASCII: one look at the bytes settles those. A fold
    // without an early exit, which the compiler vectorises (docs/performance.md).
    let printable_ascii = w.bytes().fold(true, |ok, b| ok & (0x20..0x7f).contains(&b));
    if w.len() <= MAX_WARNING_CHARS && printable_ascii {
        return true;
    }
    !w.chars().any(char::is_control) && w.chars().count() <= MAX_WARNING_CHARS
}

/// apimachinery's aggregate text of `errors` (the one error, or `[e1, e2, ...]`), each
/// cut to [`MAX_ERROR_BYTES`].
fn aggregate(errors: &ErrorList) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let text = e.to_string();
            match shorten(&text, MAX_ERROR_BYTES) {
                std::borrow::Cow::Borrowed(_) => text,
                std::borrow::Cow::Owned(cut) => cut,
            }
        })
        .collect();
    match parts.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Keeps warnings within what Kubernetes shows: one line, at most [`MAX_WARNING_CHARS`]
/// characters each, at most [`MAX_WARNINGS`] of them. Only those shown are made of the
/// `total` given.
fn shorten_warnings(warnings: impl Iterator<Item = String>, total: usize) -> Vec<String> {
    let mut out: Vec<String> = warnings
        .take(MAX_WARNINGS)
        .map(|w| {
            if fits_a_warning(&w) {
                return w;
            }
            let w: String = w
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            if w.chars().count() <= MAX_WARNING_CHARS {
                w
            } else {
                let mut s: String = w.chars().take(MAX_WARNING_CHARS - 3).collect();
                s.push_str("...");
                s
            }
        })
        .collect();
    if total > MAX_WARNINGS {
        out.truncate(MAX_WARNINGS - 1);
        out.push(format!(
            "{} more warnings not shown",
            total - (MAX_WARNINGS - 1)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::field::{FieldError, Path};

    #[test]
    fn patch_goes_out_as_base64_string() {
        let mut r = Response::allow("u");
        r.patch = Some(json_patch::Patch::default());
        r.patch_type = Some(PatchType::JsonPatch);
        let json: serde_json::Value = serde_json::from_slice(&r.to_review_json()).unwrap();
        assert_eq!(json["response"]["patch"], "W10=");
        assert_eq!(json["response"]["patchType"], "JSONPatch");
        assert_eq!(json["apiVersion"], API_VERSION);
        assert!(r.check_wire(Endpoint::Mutate).is_ok());
        assert!(r.check_wire(Endpoint::Validate).is_err());
    }

    #[test]
    fn wire_check_catches_apiserver_traps() {
        let mut r = Response::allow("");
        assert!(r.check_wire(Endpoint::Validate).is_err());
        r.uid = "x".into();
        r.allowed = false;
        assert!(
            r.check_wire(Endpoint::Validate).is_err(),
            "denial without status"
        );
        let list: ErrorList = [FieldError::required(Path::new("spec"), "")]
            .into_iter()
            .collect();
        let d = Response::deny("x", "n", Refusal::Invalid, &list);
        assert!(d.check_wire(Endpoint::Validate).is_ok());
        let mut zero = d.clone();
        zero.status.as_mut().unwrap().code = 0;
        assert!(zero.check_wire(Endpoint::Validate).is_err());
        // The apiserver prefixes `<webhook name>/`: a key must be a name part alone.
        for bad in ["", "a/b", "-a", "a-", &"a".repeat(64)] {
            let mut keyed = d.clone();
            keyed.audit_annotations.insert(bad.to_owned(), "v".into());
            assert!(keyed.check_wire(Endpoint::Validate).is_err(), "{bad:?}");
        }
        let mut fine = d.clone();
        fine.audit_annotations
            .insert("denied".into(), "validating rule 2".into());
        assert!(fine.check_wire(Endpoint::Validate).is_ok());
    }

    #[test]
    fn warnings_are_shortened_and_capped() {
        let long = "x".repeat(500);
        let w = shorten_warnings(vec![long; 40].into_iter(), 40);
        assert_eq!(w.len(), MAX_WARNINGS);
        assert!(w.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS));
        assert_eq!(w[MAX_WARNINGS - 1], "25 more warnings not shown");
        assert_eq!(
            shorten_warnings(vec!["a\nb".to_owned()].into_iter(), 1),
            ["a b"]
        );
        assert_eq!(
            shorten_warnings(vec!["a\u{85}b".to_owned()].into_iter(), 1),
            ["a b"]
        );
        assert_eq!(
            shorten_warnings(vec!["café".to_owned()].into_iter(), 1),
            ["café"]
        );
        // 120 characters but more bytes: kept whole.
        let accented = "é".repeat(MAX_WARNING_CHARS);
        assert_eq!(
            shorten_warnings(vec![accented.clone()].into_iter(), 1),
            [accented]
        );
    }
}
