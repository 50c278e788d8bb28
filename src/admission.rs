//! AdmissionReview v1 in and out, around the pure [`policy`](crate::policy).
//!
//! The request side reuses kube-core's [`Operation`] and [`GroupVersionKind`]; the objects
//! are borrowed as raw JSON and decoded once into the typed model. The response side is
//! this crate's own, because kube-core 5's `AdmissionResponse` has three traps the
//! apiserver does not forgive (`rules.md`, wire protocol): it serialises the patch as an
//! array of numbers instead of a base64 string (kube-rs #1781), `deny()` leaves
//! `status.code` at 0 (which the apiserver turns into 400), and `invalid()` answers with
//! an empty uid (which the apiserver rejects outright). [`Response::check_wire`] holds
//! every reply to the apiserver's rules before it is sent.
//!
//! ```
//! use ibgu_webhook::admission::{self, Mode};
//! use ibgu_webhook::{hub::Hub, policy::Config};
//!
//! let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
//!   "request":{"uid":"42","kind":{"group":"lcm.openshift.io","version":"v1alpha1",
//!   "kind":"ImageBasedGroupUpgrade"},"operation":"CREATE","namespace":"ztp","name":"u",
//!   "object":{"metadata":{"name":"u"},"spec":{"plan":[{"actions":["Prep"],
//!   "rolloutStrategy":{"maxConcurrency":1,"timeout":60}},{"actions":["Rollback"],
//!   "rolloutStrategy":{"maxConcurrency":1,"timeout":60}}],
//!   "ibuSpec":{"seedImageRef":{"image":"quay.io/s:4.20","version":"4.20.0"}}}}}}"#;
//! let response = admission::review(body, Mode::Validate, &Config::default(), &Hub::Offline).unwrap();
//! assert!(!response.allowed);
//! assert_eq!(response.uid, "42");
//! let status = response.status.as_ref().unwrap();
//! assert_eq!(status.code, 403);
//! assert!(status.message.contains("spec.plan[1].actions: Unsupported value: [\"Rollback\"]"));
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use kube::core::admission::Operation;
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use kube::core::{GroupVersionKind, Status};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::field::{ErrorList, FieldError};
use crate::hub::Hub;
use crate::ibgu::{self, ImageBasedGroupUpgrade};
use crate::patch::JsonPatch;
use crate::policy::{self, Change, Config};

/// The only AdmissionReview version served (`admissionReviewVersions: [v1]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The AdmissionReview kind.
pub const KIND: &str = "AdmissionReview";
/// Kubernetes keeps this many characters of each warning.
pub const MAX_WARNING_CHARS: usize = 120;
/// At most this many warnings are sent; the last one says how many were left out.
pub const MAX_WARNINGS: usize = 16;

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `/validate`: a verdict, never a patch.
    Validate,
    /// `/mutate`: a patch, or none.
    Mutate,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "validate" => Ok(Mode::Validate),
            "mutate" => Ok(Mode::Mutate),
            other => Err(format!("unknown mode {other:?}: use validate or mutate")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Validate => "validate",
            Mode::Mutate => "mutate",
        })
    }
}

/// Why a body is not an AdmissionReview this webhook can answer. There is no uid to
/// answer to, so the server turns these into an HTTP 400 rather than a review.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not shaped like an AdmissionReview.
    #[error("body is not an AdmissionReview: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Not UTF-8, so not JSON.
    #[error("body is not an AdmissionReview: not UTF-8 ({0})")]
    NotUtf8(std::str::Utf8Error),
    /// Another apiVersion, such as `admission.k8s.io/v1beta1`.
    #[error("AdmissionReview apiVersion {0:?} is not served: only {API_VERSION} is")]
    Version(String),
    /// Another kind.
    #[error("kind {0:?} is not {KIND}")]
    Kind(String),
    /// No `request` (a response, or an empty review).
    #[error("AdmissionReview has no request")]
    NoRequest,
    /// An empty `request.uid`: the answer could not be matched.
    #[error("request.uid is empty")]
    NoUid,
    /// A CREATE without `object`, or an UPDATE without `object` or `oldObject`.
    #[error("{operation} request has no {field}")]
    MissingObject {
        /// The operation.
        operation: &'static str,
        /// `object` or `oldObject`.
        field: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(bound(deserialize = "N: Deserialize<'de>, O: Deserialize<'de>"))]
struct ReviewIn<N, O> {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<RequestIn<N, O>>,
}

/// An admission request as sent, with its objects of types `N` (new) and `O` (stored):
/// decoded straight into the model on the fast path, or kept as raw JSON on the fallback
/// path.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(bound(deserialize = "N: Deserialize<'de>, O: Deserialize<'de>"))]
struct RequestIn<N, O> {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    #[serde(default = "none")]
    object: Option<N>,
    #[serde(default = "none")]
    old_object: Option<O>,
    #[serde(default)]
    dry_run: Option<bool>,
}

fn none<O>() -> Option<O> {
    None
}

/// A request's object, however far it was decoded.
trait Object {
    fn decode(self) -> Result<ImageBasedGroupUpgrade, FieldError>;
}

impl Object for ImageBasedGroupUpgrade {
    fn decode(self) -> Result<ImageBasedGroupUpgrade, FieldError> {
        Ok(self)
    }
}

impl Object for ibgu::Incoming {
    fn decode(self) -> Result<ImageBasedGroupUpgrade, FieldError> {
        Ok(self.0)
    }
}

impl Object for &RawValue {
    fn decode(self) -> Result<ImageBasedGroupUpgrade, FieldError> {
        ImageBasedGroupUpgrade::from_json(self.get())
    }
}

/// A parsed admission request: who asks, and what there is to judge.
#[derive(Debug, Clone)]
pub struct Admission {
    /// The request's uid, echoed in the response.
    pub uid: String,
    /// The object's name, as given by the request or the object (empty with `generateName`).
    pub name: String,
    /// The object's namespace.
    pub namespace: String,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Whether this is `--dry-run=server`: decided the same way, as nothing here has side effects.
    pub dry_run: bool,
    /// What is to be judged.
    pub subject: Subject,
}

impl Admission {
    /// The operation as the apiserver spells it, for logs and metric labels.
    pub fn operation_name(&self) -> &'static str {
        match self.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// What a request asks this webhook to judge.
#[derive(Debug, Clone)]
pub enum Subject {
    /// Not judged; allowed untouched. The text says why.
    Skip(&'static str),
    /// The object could not be decoded as an ImageBasedGroupUpgrade.
    Malformed(FieldError),
    /// A new object.
    Create(Box<ImageBasedGroupUpgrade>),
    /// A change to a stored object.
    Update {
        /// The stored object.
        old: Box<ImageBasedGroupUpgrade>,
        /// The object as it would be stored.
        new: Box<ImageBasedGroupUpgrade>,
    },
}

impl Subject {
    /// The change to hand to the policy, when there is one.
    pub fn change(&self) -> Option<Change<'_>> {
        match self {
            Subject::Create(new) => Some(Change::Create(new)),
            Subject::Update { old, new } => Some(Change::Update { old, new }),
            Subject::Skip(_) | Subject::Malformed(_) => None,
        }
    }
}

/// Parses a request body. Errors mean there is nothing to answer (HTTP 400).
///
/// The body is read once, with the objects decoded straight into the model. Only when
/// that fails (an object of another kind whose fields clash with the model's, or a
/// malformed one) is it read again with the objects kept raw, to tell a kind this webhook
/// does not judge from a malformed IBGU, and to name the malformed field's path.
pub fn parse(body: &[u8]) -> Result<Admission, ReviewError> {
    // UTF-8 is checked once here, rather than again for every string and raw value kept
    // (from_slice checks each: 11% of a decision, against 2% for the whole body at once).
    let body = std::str::from_utf8(body).map_err(ReviewError::NotUtf8)?;
    if let Ok(review) =
        serde_json::from_str::<ReviewIn<ibgu::Incoming, ImageBasedGroupUpgrade>>(body)
    {
        return admission(review);
    }
    let review: ReviewIn<&RawValue, &RawValue> = serde_json::from_str(body)?;
    admission(review)
}

fn admission<N: Object, O: Object>(review: ReviewIn<N, O>) -> Result<Admission, ReviewError> {
    match review.api_version.as_deref() {
        Some(API_VERSION) => {}
        other => return Err(ReviewError::Version(other.unwrap_or("").to_owned())),
    }
    match review.kind.as_deref() {
        Some(KIND) => {}
        other => return Err(ReviewError::Kind(other.unwrap_or("").to_owned())),
    }
    let request = review.request.ok_or(ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    let (uid, name, namespace) = (
        request.uid.clone(),
        request.name.clone().unwrap_or_default(),
        request.namespace.clone().unwrap_or_default(),
    );
    let (operation, dry_run) = (request.operation.clone(), request.dry_run.unwrap_or(false));
    let subject = subject(request)?;
    let name = match (&subject, name.is_empty()) {
        (Subject::Create(o) | Subject::Update { new: o, .. }, true) => o.name().to_owned(),
        _ => name,
    };
    Ok(Admission {
        uid,
        name,
        namespace,
        operation,
        dry_run,
        subject,
    })
}

/// Decides what the request asks to judge (rule 12 decides what is skipped).
fn subject<N: Object, O: Object>(request: RequestIn<N, O>) -> Result<Subject, ReviewError> {
    let gvk = &request.kind;
    if gvk.group != ibgu::GROUP || gvk.kind != ibgu::KIND {
        return Ok(Subject::Skip("not an ImageBasedGroupUpgrade"));
    }
    if gvk.version != ibgu::VERSION {
        return Ok(Subject::Skip(
            "an ImageBasedGroupUpgrade version this webhook does not know",
        ));
    }
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Ok(Subject::Skip("a subresource write"));
    }
    let (operation, needs_old) = match request.operation {
        Operation::Create => ("CREATE", false),
        Operation::Update => ("UPDATE", true),
        Operation::Delete | Operation::Connect => {
            return Ok(Subject::Skip("not a CREATE or UPDATE"));
        }
    };
    let new = request.object.ok_or(ReviewError::MissingObject {
        operation,
        field: "object",
    })?;
    let new = match new.decode() {
        Ok(o) => o,
        Err(e) => return Ok(Subject::Malformed(e)),
    };
    if !needs_old {
        return Ok(Subject::Create(Box::new(new)));
    }
    let old = request.old_object.ok_or(ReviewError::MissingObject {
        operation,
        field: "oldObject",
    })?;
    match old.decode() {
        Ok(old) => Ok(Subject::Update {
            old: Box::new(old),
            new: Box::new(new),
        }),
        Err(e) => Ok(Subject::Malformed(FieldError {
            detail: format!("stored object (oldObject): {}", e.detail),
            ..e
        })),
    }
}

/// The `patchType` of a mutating answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PatchType {
    /// RFC 6902 JSON Patch, the only type the apiserver accepts.
    #[serde(rename = "JSONPatch")]
    JsonPatch,
}

/// An AdmissionResponse as the apiserver expects it on the wire.
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
    /// The JSON Patch, sent base64-encoded. Only [`crate::patch::PatchBuilder`] makes
    /// one, so it is well-formed by construction and the server need not re-read it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "base64_bytes"
    )]
    pub patch: Option<JsonPatch>,
    /// `JSONPatch` exactly when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
    /// Shown by kubectl as `Warning: ...`; short, at most [`MAX_WARNINGS`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn base64_bytes<S: Serializer>(patch: &Option<JsonPatch>, s: S) -> Result<S::Ok, S::Error> {
    match patch {
        Some(p) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(p.as_bytes())),
        None => s.serialize_none(),
    }
}

/// A reply that breaks a rule the apiserver enforces on webhook responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reply would be rejected by the apiserver: {0}")]
pub struct WireError(pub &'static str);

/// The review as serde writes it: what [`Response::to_review_json`] must equal.
#[cfg(test)]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<R> {
    api_version: &'static str,
    kind: &'static str,
    response: R,
}

impl Response {
    fn allow(uid: &str) -> Self {
        Response {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
        }
    }

    /// A denial: HTTP 403, reason `Forbidden`, the message
    /// `<Kind>.<group> "<name>" is invalid: <errors>`, and one cause per error.
    ///
    /// Not 422 `Invalid`: for that, kubectl prints only the causes, as
    /// `The imagebasedgroupupgrades "x" is invalid: ...`, and drops the apiserver's
    /// `admission webhook "..." denied the request` prefix, so the user cannot tell which
    /// component refused. With 403 kubectl shows the whole message, prefix included; API
    /// clients still get the causes in `details`.
    fn deny(uid: &str, name: &str, errors: &ErrorList) -> Self {
        let causes = errors
            .iter()
            .map(|e| StatusCause {
                reason: e.kind.cause().to_owned(),
                message: e.body(),
                field: e.field.to_string(),
            })
            .collect();
        let status = Status {
            status: Some(StatusSummary::Failure),
            code: 403,
            message: format!(
                "{}.{} {name:?} is invalid: {}",
                ibgu::KIND,
                ibgu::GROUP,
                errors.aggregate()
            ),
            metadata: None,
            reason: "Forbidden".to_owned(),
            details: Some(StatusDetails {
                name: name.to_owned(),
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

    fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.warnings = shorten_warnings(warnings);
        self
    }

    /// How many operations the patch holds (for logs).
    pub fn patch_ops(&self) -> usize {
        self.patch.as_ref().map_or(0, JsonPatch::len)
    }

    /// Checks the rules the apiserver applies to a webhook's reply (`rules.md`).
    pub fn check_wire(&self, mode: Mode) -> Result<(), WireError> {
        if self.uid.is_empty() {
            return Err(WireError("response.uid is empty"));
        }
        match mode {
            Mode::Validate if self.patch.is_some() || self.patch_type.is_some() => {
                return Err(WireError("a validating webhook must not return a patch"));
            }
            Mode::Mutate if self.patch.is_some() != self.patch_type.is_some() => {
                return Err(WireError("patch and patchType go together"));
            }
            _ => {}
        }
        // The patch itself is well-formed by construction (`JsonPatch`); the tests and
        // the fuzz targets check that on the wire.
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
        if self.warnings.len() > MAX_WARNINGS || self.warnings.iter().any(|w| !fits_a_warning(w)) {
            return Err(WireError(
                "warnings too many, too long, or with control characters",
            ));
        }
        Ok(())
    }

    /// The full AdmissionReview JSON to send: the same document as serialising the
    /// review, written faster. Strings without a character JSON must escape (nearly all:
    /// the uid, the warnings, the base64 patch) are copied in whole rather than through
    /// serde's byte-by-byte escape scan; a denial's status is serialised by serde.
    pub fn to_review_json(&self) -> Vec<u8> {
        let patch_len = self
            .patch
            .as_ref()
            .map_or(0, |p| p.as_bytes().len().div_ceil(3) * 4);
        let warnings_len: usize = self.warnings.iter().map(|w| w.len() + 3).sum();
        let mut out = Vec::with_capacity(160 + self.uid.len() + warnings_len + patch_len);
        out.extend_from_slice(br#"{"apiVersion":"#);
        push_json_str(&mut out, API_VERSION);
        out.extend_from_slice(br#","kind":"#);
        push_json_str(&mut out, KIND);
        out.extend_from_slice(br#","response":{"uid":"#);
        push_json_str(&mut out, &self.uid);
        out.extend_from_slice(if self.allowed {
            br#","allowed":true"#
        } else {
            br#","allowed":false"#
        });
        if let Some(status) = &self.status {
            out.extend_from_slice(br#","status":"#);
            // Plain strings and numbers into a Vec: this cannot fail.
            let _ = serde_json::to_writer(&mut out, status);
        }
        if let Some(patch) = &self.patch {
            out.extend_from_slice(br#","patch":""#);
            let start = out.len();
            out.resize(start + patch_len, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(patch.as_bytes(), &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            out.push(b'"');
        }
        if self.patch_type.is_some() {
            out.extend_from_slice(br#","patchType":"JSONPatch""#);
        }
        if !self.warnings.is_empty() {
            out.extend_from_slice(br#","warnings":["#);
            for (i, w) in self.warnings.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_str(&mut out, w);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// Appends `s` as a JSON string, quotes included, as serde_json writes it.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    crate::patch::push_json_chars(out, s);
    out.push(b'"');
}

/// Whether `w` is one line of at most [`MAX_WARNING_CHARS`] characters. Runs on every
/// reply, so it looks at bytes: only a string with a byte that may start a control
/// character (ASCII below 0x20 or DEL, or 0xC2 which starts U+0080..U+009F) or longer
/// than the limit in bytes is looked at character by character.
fn fits_a_warning(w: &str) -> bool {
    // No early exit: the loop then compiles to vector instructions (18 -> 1 instruction
    // per byte, callgrind).
    let plain = !w.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == 0x7f) | (b == 0xc2)
    });
    if plain && w.len() <= MAX_WARNING_CHARS {
        return true;
    }
    !w.chars().any(char::is_control) && w.chars().count() <= MAX_WARNING_CHARS
}

/// Keeps warnings within what Kubernetes shows: one line, at most [`MAX_WARNING_CHARS`]
/// characters each, at most [`MAX_WARNINGS`] of them.
fn shorten_warnings(warnings: Vec<String>) -> Vec<String> {
    let total = warnings.len();
    let mut out: Vec<String> = warnings
        .into_iter()
        .map(|w| {
            // Most warnings already fit: kept as they are, without a copy.
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
        .take(MAX_WARNINGS)
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

/// Decides a parsed request with the hub facts gathered for it.
pub fn decide(admission: &Admission, mode: Mode, config: &Config, hub: &Hub) -> Response {
    let uid = admission.uid.as_str();
    let change = match &admission.subject {
        Subject::Skip(_) => return Response::allow(uid),
        Subject::Malformed(e) => {
            let errors: ErrorList = std::iter::once(e.clone()).collect();
            return Response::deny(uid, &admission.name, &errors);
        }
        subject => match subject.change() {
            Some(c) => c,
            None => return Response::allow(uid),
        },
    };
    match mode {
        Mode::Validate => {
            let verdict = policy::validate(config, change, hub);
            let response = if verdict.allowed() {
                Response::allow(uid)
            } else {
                Response::deny(uid, &admission.name, &verdict.errors)
            };
            response.with_warnings(verdict.warnings)
        }
        Mode::Mutate => {
            let mutation = policy::mutate(config, change, hub);
            let mut response = Response::allow(uid).with_warnings(mutation.warnings);
            if !mutation.patch.is_empty() {
                response.patch = Some(mutation.patch);
                response.patch_type = Some(PatchType::JsonPatch);
            }
            response
        }
    }
}

/// Parses and decides one review body: what `ibgu-webhook review` does.
pub fn review(
    body: &[u8],
    mode: Mode,
    config: &Config,
    hub: &Hub,
) -> Result<Response, ReviewError> {
    Ok(decide(&parse(body)?, mode, config, hub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_goes_out_as_base64_string() {
        let mut r = Response::allow("u");
        r.patch = Some(JsonPatch::default());
        r.patch_type = Some(PatchType::JsonPatch);
        let json: serde_json::Value = serde_json::from_slice(&r.to_review_json()).unwrap();
        assert_eq!(json["response"]["patch"], "W10=");
        assert_eq!(json["response"]["patchType"], "JSONPatch");
        assert_eq!(json["apiVersion"], API_VERSION);
        assert!(r.check_wire(Mode::Mutate).is_ok());
        assert!(r.check_wire(Mode::Validate).is_err());
    }

    #[test]
    fn review_json_is_the_serialised_review() {
        let mut list = ErrorList::new();
        list.push(FieldError::required(crate::field::Path::new("spec"), ""));
        let mut cases = vec![Response::allow("a\"b"), Response::deny("x", "n", &list)];
        for n in 0..8 {
            let mut r = Response::allow("u");
            let mut patch = crate::patch::PatchBuilder::new();
            for i in 0..n {
                patch.add(["a", &"~/\"".repeat(i)], &"x".repeat(i));
            }
            r.patch = Some(patch.build());
            r.patch_type = Some(PatchType::JsonPatch);
            r.warnings = (0..n % 3).map(|i| format!("w\"{i}\u{7}")).collect();
            cases.push(r);
        }
        for r in cases {
            let reference = ReviewOut {
                api_version: API_VERSION,
                kind: KIND,
                response: &r,
            };
            let want = serde_json::to_value(&reference).expect("serialise");
            let got: serde_json::Value =
                serde_json::from_slice(&r.to_review_json()).expect("reply JSON");
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn wire_check_catches_apiserver_traps() {
        let mut r = Response::allow("");
        assert!(r.check_wire(Mode::Validate).is_err());
        r.uid = "x".into();
        r.allowed = false;
        assert!(
            r.check_wire(Mode::Validate).is_err(),
            "denial without status"
        );
        let mut list = ErrorList::new();
        list.push(FieldError::required(crate::field::Path::new("spec"), ""));
        let d = Response::deny("x", "n", &list);
        assert!(d.check_wire(Mode::Validate).is_ok());
        let mut zero = d.clone();
        zero.status.as_mut().unwrap().code = 0;
        assert!(zero.check_wire(Mode::Validate).is_err());
    }

    #[test]
    fn warnings_are_shortened_and_capped() {
        let long = "x".repeat(500);
        let w = shorten_warnings(vec![long; 40]);
        assert_eq!(w.len(), MAX_WARNINGS);
        assert!(w.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS));
        assert_eq!(w[MAX_WARNINGS - 1], "25 more warnings not shown");
        assert_eq!(shorten_warnings(vec!["a\nb".into()]), ["a b"]);
        assert_eq!(shorten_warnings(vec!["a\u{85}b".into()]), ["a b"]);
        assert_eq!(shorten_warnings(vec!["café".into()]), ["café"]);
        // 120 characters but more bytes: kept whole.
        let accented = "é".repeat(MAX_WARNING_CHARS);
        assert_eq!(shorten_warnings(vec![accented.clone()]), [accented]);
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        for (body, want) in [
            (&b"nope"[..], "not an AdmissionReview"),
            (
                br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
                "not served",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
                "is not AdmissionReview",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "no request",
            ),
        ] {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
