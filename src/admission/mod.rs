//! AdmissionReview v1 in and out, around the pure [`policy`](crate::policy).
//!
//! [`parse`] reads a request body into a [`Request`] (the objects decoded into the
//! [model](crate::model), strings borrowed from the body); [`review`] answers it with a
//! [`Response`], which [`Response::check_wire`] holds to the rules the apiserver applies
//! to webhook replies.
//!
//! ```
//! use ibgu_webhook::admission::{self, Endpoint};
//! use ibgu_webhook::policy::{Config, facts::Facts};
//!
//! let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
//!   "request":{"uid":"42","kind":{"group":"lcm.openshift.io","version":"v1alpha1",
//!   "kind":"ImageBasedGroupUpgrade"},"operation":"CREATE","namespace":"ztp","name":"u",
//!   "object":{"metadata":{"name":"u"},"spec":{"plan":[{"actions":["Prep"],
//!   "rolloutStrategy":{"maxConcurrency":1,"timeout":60}},{"actions":["Rollback"],
//!   "rolloutStrategy":{"maxConcurrency":1,"timeout":60}}],
//!   "ibuSpec":{"seedImageRef":{"image":"quay.io/s:4.20","version":"4.20.0"}}}}}}"#;
//! let response = admission::review_body(body, Endpoint::Validate, &Config::default(), &Facts::Offline).unwrap();
//! assert!(!response.allowed);
//! assert_eq!(response.uid, "42");
//! let status = response.status.as_ref().unwrap();
//! assert_eq!(status.code, 403);
//! assert!(status.message.contains("spec.plan[1].actions: Unsupported value: [\"Rollback\"]"));
//! ```

pub mod audit;
pub mod bound;
mod endpoint;
mod response;

use kube::core::admission::Operation;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::field::{ErrorList, FieldError};
use crate::model::plan::removes_last_finalizer;
use crate::model::text::Text;
use crate::model::{self as ibgu, ImageBasedGroupUpgrade, Stored};
use crate::policy::facts::Facts;
use crate::policy::{self, Change, Config, Old, Requester, Verdict, Webhooks};

pub use self::bound::{MAX_ERROR_BYTES, MAX_FIELD_BYTES, MAX_NAME_BYTES, MAX_REPLY_BYTES};
pub use self::endpoint::{API_VERSION, Endpoint, KIND};
pub use self::response::{
    MAX_WARNING_CHARS, MAX_WARNINGS, PatchType, Refusal, Response, WireError,
};

/// The longest `request.uid` answered. The apiserver sends a UUID (36 characters); the
/// reply echoes the uid whole, so its length bounds the reply's.
pub const MAX_UID_BYTES: usize = 128;

/// Why a body is not an AdmissionReview this webhook can answer. There is no uid to
/// answer to, so the server turns these into an HTTP 400 rather than a review.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Not JSON, or not shaped like an AdmissionReview.
    #[error("body is not an AdmissionReview: {0}")]
    Malformed(serde_json::Error),
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
    /// A `request.uid` longer than [`MAX_UID_BYTES`]: no apiserver sends one.
    #[error("request.uid is longer than {MAX_UID_BYTES} bytes")]
    LongUid,
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
struct Review<'a, R> {
    #[serde(borrow)]
    api_version: Option<Text<'a>>,
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    request: Option<R>,
}

/// The request as sent: its objects typed (`N`, `O`: the model) on the fast path, or raw
/// when that failed and the field at fault is to be named.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields<'a, N, O> {
    #[serde(borrow)]
    uid: Text<'a>,
    #[serde(borrow)]
    kind: Gvk<'a>,
    #[serde(borrow)]
    sub_resource: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    operation: Operation,
    #[serde(borrow)]
    user_info: Option<UserInfo<'a>>,
    object: Option<N>,
    old_object: Option<O>,
    dry_run: Option<bool>,
}

/// `request.userInfo`: only the username is read (validating rule 13).
#[derive(Deserialize)]
struct UserInfo<'a> {
    #[serde(borrow)]
    username: Option<Text<'a>>,
}

/// `request.kind`: the group, version and kind of the object.
#[derive(Deserialize)]
struct Gvk<'a> {
    #[serde(borrow)]
    group: Text<'a>,
    #[serde(borrow)]
    version: Text<'a>,
    #[serde(borrow)]
    kind: Text<'a>,
}

/// A parsed admission request: who asks, and what there is to judge.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The request's uid, echoed in the response.
    pub uid: Text<'a>,
    /// The object's name, as given by the request or else the object (the stored one on
    /// DELETE; empty with `generateName`).
    pub name: Text<'a>,
    /// The object's namespace.
    pub namespace: Text<'a>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Whether this is `--dry-run=server`: decided the same way, as nothing here has side effects.
    pub dry_run: bool,
    /// `userInfo.username`: who asks (empty when unset).
    pub username: Text<'a>,
    /// What is to be judged.
    pub subject: Subject<'a>,
}

impl Request<'_> {
    /// The operation as the apiserver spells it, for logs and metric labels.
    pub fn operation_name(&self) -> &'static str {
        match self.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    /// The change to hand to the policy, when there is one (a DELETE is not a change:
    /// it has no new object).
    pub fn change(&self) -> Option<Change<'_>> {
        match &self.subject {
            Subject::Create(new) => Some(Change::Create(new)),
            Subject::Update { old, new } => Some(Change::Update {
                old,
                new,
                old_as: Old::Stored,
            }),
            Subject::Delete(_) | Subject::Skip(_) | Subject::Malformed(_) => None,
        }
    }

    /// How a denial words the refusal: a DELETE, and an UPDATE that removes a deleting
    /// object's last finalizer (the object then goes), are kept from happening; anything
    /// else is an object refused.
    pub fn refusal(&self) -> Refusal {
        match &self.subject {
            Subject::Delete(_) => Refusal::Forbidden,
            Subject::Update { old, new } if removes_last_finalizer(old, new) => Refusal::Forbidden,
            _ => Refusal::Invalid,
        }
    }

    /// Who asks, for the policy.
    pub fn requester(&self) -> Requester<'_> {
        Requester {
            username: &self.username,
        }
    }
}

/// What a request asks this webhook to judge.
#[derive(Debug, Clone)]
pub enum Subject<'a> {
    /// Not judged; allowed untouched, without a patch. The text says why.
    Skip(&'static str),
    /// A DELETE of the stored object (`oldObject`), judged by validating rule 13 only.
    Delete(Box<ImageBasedGroupUpgrade<'a>>),
    /// The object could not be decoded as an ImageBasedGroupUpgrade.
    Malformed(FieldError),
    /// A new object.
    Create(Box<ImageBasedGroupUpgrade<'a>>),
    /// A change to a stored object.
    Update {
        /// The stored object, with TALM's status.
        old: Box<ImageBasedGroupUpgrade<'a>>,
        /// The object as it would be stored.
        new: Box<ImageBasedGroupUpgrade<'a>>,
    },
}

/// Parses a request body. Errors mean there is nothing to answer (HTTP 400).
///
/// The body is read once, straight into the model. Only when that fails (an object of a
/// kind this webhook does not judge whose fields clash with the model's, or a malformed
/// one) is it read again with the objects kept raw, to tell the two apart and to name
/// the malformed field.
pub fn parse(body: &[u8]) -> Result<Request<'_>, ReviewError> {
    // UTF-8 is checked once here, not again for every string borrowed from the body
    // (docs/performance.md, "Tunings in the code").
    let body = std::str::from_utf8(body).map_err(ReviewError::NotUtf8)?;
    if let Ok(review) =
        serde_json::from_str::<Review<RequestFields<ImageBasedGroupUpgrade<'_>, Stored<'_>>>>(body)
    {
        let (head, mut request) = head(review)?;
        let new = request.object.take().map(Ok);
        let old = request.old_object.take().map(|o| Ok(o.0));
        return Ok(head.with(subject(&request, new, old)?));
    }
    let review: Review<RequestFields<&RawValue, &RawValue>> =
        serde_json::from_str(body).map_err(ReviewError::Malformed)?;
    let (head, request) = head(review)?;
    let new = request
        .object
        .map(|raw| ImageBasedGroupUpgrade::from_json(raw.get()));
    let old = request.old_object.map(|raw| {
        ImageBasedGroupUpgrade::stored_from_json(raw.get()).map_err(|e| FieldError {
            detail: format!("stored object (oldObject): {}", e.detail),
            ..e
        })
    });
    let subject = subject(&request, new, old)?;
    Ok(head.with(subject))
}

/// The request's fields other than its objects.
struct Head<'a> {
    uid: Text<'a>,
    name: Text<'a>,
    namespace: Text<'a>,
    operation: Operation,
    dry_run: bool,
    username: Text<'a>,
}

impl<'a> Head<'a> {
    fn with(self, subject: Subject<'a>) -> Request<'a> {
        // A deletecollection sends no `request.name`: each object's DELETE is named by
        // its stored object.
        let name = match (&subject, self.name.is_empty()) {
            (Subject::Create(o) | Subject::Update { new: o, .. } | Subject::Delete(o), true) => {
                Text::from(o.name().to_owned())
            }
            _ => self.name,
        };
        Request {
            uid: self.uid,
            name,
            namespace: self.namespace,
            operation: self.operation,
            dry_run: self.dry_run,
            username: self.username,
            subject,
        }
    }
}

fn head<'a, N, O>(
    review: Review<'a, RequestFields<'a, N, O>>,
) -> Result<(Head<'a>, RequestFields<'a, N, O>), ReviewError> {
    match review.api_version.as_deref() {
        Some(API_VERSION) => {}
        other => return Err(ReviewError::Version(other.unwrap_or("").to_owned())),
    }
    match review.kind.as_deref() {
        Some(KIND) => {}
        other => return Err(ReviewError::Kind(other.unwrap_or("").to_owned())),
    }
    let mut request = review.request.ok_or(ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    if request.uid.len() > MAX_UID_BYTES {
        return Err(ReviewError::LongUid);
    }
    let head = Head {
        uid: std::mem::take(&mut request.uid),
        name: request.name.take().unwrap_or_default(),
        namespace: request.namespace.take().unwrap_or_default(),
        operation: request.operation.clone(),
        dry_run: request.dry_run.unwrap_or(false),
        username: request
            .user_info
            .take()
            .and_then(|u| u.username)
            .unwrap_or_default(),
    };
    Ok((head, request))
}

type Decoded<'a> = Option<Result<ImageBasedGroupUpgrade<'a>, FieldError>>;

/// Decides what the request asks to judge: only CREATE, UPDATE and DELETE of the IBGU's
/// served version, never a subresource (TALM's status writes).
fn subject<'a, N, O>(
    request: &RequestFields<'_, N, O>,
    new: Decoded<'a>,
    old: Decoded<'a>,
) -> Result<Subject<'a>, ReviewError> {
    let gvk = &request.kind;
    if gvk.group.as_str() != ibgu::GROUP || gvk.kind.as_str() != ibgu::KIND {
        return Ok(Subject::Skip("not an ImageBasedGroupUpgrade"));
    }
    if gvk.version.as_str() != ibgu::VERSION {
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
        Operation::Delete => return Ok(delete(old)),
        Operation::Connect => return Ok(Subject::Skip("a CONNECT")),
    };
    let missing = |field| ReviewError::MissingObject { operation, field };
    let new = match new.ok_or_else(|| missing("object"))? {
        Ok(new) => new,
        Err(e) => return Ok(Subject::Malformed(e)),
    };
    if !needs_old {
        return Ok(Subject::Create(Box::new(new)));
    }
    match old.ok_or_else(|| missing("oldObject"))? {
        Ok(old) => Ok(Subject::Update {
            old: Box::new(old),
            new: Box::new(new),
        }),
        Err(e) => Ok(Subject::Malformed(e)),
    }
}

/// A DELETE: its stored object, judged by rule 13. A DELETE is never refused for want of
/// an object to read: without `oldObject` (apiservers before 1.15), or with one that
/// cannot be decoded, it is not judged.
fn delete(old: Decoded<'_>) -> Subject<'_> {
    match old {
        Some(Ok(old)) => Subject::Delete(Box::new(old)),
        None => Subject::Skip("a DELETE without oldObject"),
        Some(Err(_)) => Subject::Skip("a DELETE whose stored object cannot be decoded"),
    }
}

/// Answers a parsed request with the hub facts gathered for it.
pub fn review(
    request: &Request<'_>,
    endpoint: Endpoint,
    config: &Config,
    facts: &Facts,
) -> Response {
    let uid = request.uid.as_str();
    let change = match (&request.subject, request.change(), endpoint) {
        (Subject::Malformed(e), _, _) => {
            let errors: ErrorList = std::iter::once(e.clone()).collect();
            return Response::deny(uid, &request.name, Refusal::Invalid, &errors)
                .with_audit(audit::unreadable(e.field.as_str()));
        }
        (Subject::Delete(old), _, Endpoint::Validate) => {
            let verdict = policy::validate_delete(config, old, request.requester());
            return answer(uid, &request.name, request.refusal(), &verdict, None);
        }
        (Subject::Skip(why), _, _) => return Response::allow(uid).with_audit(audit::skipped(why)),
        (_, None, _) => {
            let verdict = Verdict::default();
            return answer(uid, &request.name, request.refusal(), &verdict, None);
        }
        (_, Some(change), _) => change,
    };
    let webhooks = match endpoint {
        Endpoint::Validate => Webhooks::Validating,
        Endpoint::Mutate => Webhooks::Mutating,
    };
    let by = request.requester();
    let admission = policy::admit(webhooks, config, change, facts, by, |_| true);
    let (name, refusal) = (&request.name, request.refusal());
    match admission.mutation {
        Some(mutation) if admission.verdict.as_ref().is_none_or(Verdict::allowed) => {
            let added = Verdict {
                findings: mutation.findings,
                ..Verdict::default()
            };
            answer(uid, name, refusal, &added, Some(mutation.patch))
        }
        // /validate's verdict, or /mutate's refusal of the mutated object, with the
        // warnings /validate would give: nothing defaulted is stored.
        _ => answer(
            uid,
            name,
            refusal,
            &admission.verdict.unwrap_or_default(),
            None,
        ),
    }
}

/// The answer to a verdict, with the patch of an allowed /mutate: one [`bound::Report`]
/// makes the message, the causes and the audit annotations (which the log line repeats).
fn answer(
    uid: &str,
    name: &str,
    refusal: Refusal,
    verdict: &Verdict,
    patch: Option<json_patch::Patch>,
) -> Response {
    let report = bound::Report::new(&verdict.findings);
    let patch = patch.filter(|p| !p.0.is_empty());
    let (response, decision) = match &patch {
        _ if !verdict.allowed() => (Response::deny(uid, name, refusal, &report.errors), "denied"),
        Some(_) => (Response::allow(uid), "patched"),
        None => (Response::allow(uid), "allowed"),
    };
    let mut response = response
        .with_warnings(&verdict.warnings())
        .with_audit(audit::judged(decision, &report, patch.as_ref()));
    if let Some(patch) = patch {
        response.patch = Some(patch);
        response.patch_type = Some(PatchType::JsonPatch);
    }
    response
}

/// Parses and answers one review body: what `ibgu-webhook review` does.
pub fn review_body(
    body: &[u8],
    endpoint: Endpoint,
    config: &Config,
    facts: &Facts,
) -> Result<Response, ReviewError> {
    Ok(review(&parse(body)?, endpoint, config, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_reply_stays_under_its_bound_whatever_the_request_holds() {
        use crate::model::field::{Path, Warning};
        use crate::policy::rules::by_id;
        use crate::policy::{Finding, Found};
        // Every string far over its cap, made of control characters, which JSON writes
        // as 6 bytes each: the worst case MAX_REPLY_BYTES is argued for.
        let junk = |n: usize| "\u{1}".repeat(n);
        let field = |i: usize| Path::new(&junk(2_000)).index(i);
        let error = |i: usize| FieldError::invalid(field(i), junk(10_000), junk(10_000));
        let rule = by_id("references");
        let findings: Vec<Finding> = (0..5_000)
            .map(|i| Found::Denied(error(i)))
            .chain((0..1_000).map(|i| Found::Warned(Warning::new(field(i), junk(10_000)))))
            .chain((0..5_000).map(|i| Found::Ratcheted(error(i))))
            .map(|found| Finding { rule, found })
            .collect();
        let verdict = Verdict {
            findings,
            unjudged: Vec::new(),
        };
        let uid = junk(MAX_UID_BYTES);
        let reply = answer(&uid, &junk(1 << 20), Refusal::Invalid, &verdict, None);
        assert!(reply.check_wire(Endpoint::Validate).is_ok());
        let json = reply.to_review_json();
        assert!(
            json.len() <= MAX_REPLY_BYTES,
            "{} bytes, over {MAX_REPLY_BYTES}",
            json.len()
        );
        let status = reply.status.expect("a denial");
        let causes = status.details.expect("details").causes;
        assert_eq!(causes.len(), bound::MAX_REPORTED + 1);
        assert!(
            causes
                .last()
                .expect("the count")
                .message
                .starts_with("Too many: 4968: ")
        );
        assert!(reply.audit_annotations["denied"].ends_with(", and 4968 more"));
        assert!(reply.audit_annotations["ratcheted"].ends_with(", and 4968 more"));
    }

    #[test]
    fn an_overlong_uid_is_refused() {
        let body = |uid: &str| {
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"{uid}",
                  "kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","object":{{}}}}}}"#
            )
        };
        assert!(parse(body(&"u".repeat(MAX_UID_BYTES)).as_bytes()).is_ok());
        let e = parse(body(&"u".repeat(MAX_UID_BYTES + 1)).as_bytes()).unwrap_err();
        assert!(matches!(e, ReviewError::LongUid), "{e}");
    }

    fn request(kind: &str, object: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"1",
              "kind":{{"group":"lcm.openshift.io","version":"v1alpha1","kind":"{kind}"}},
              "operation":"CREATE","object":{object}}}}}"#
        )
    }

    #[test]
    fn a_malformed_field_is_named_and_another_kind_skipped() {
        let bad = request("ImageBasedGroupUpgrade", r#"{"spec":{"plan":"x"}}"#);
        match parse(bad.as_bytes()).unwrap().subject {
            Subject::Malformed(e) => assert_eq!(e.field.as_str(), "spec.plan"),
            other => panic!("{other:?}"),
        }
        let other = request("Widget", r#"{"spec":{"plan":"x"}}"#);
        assert!(matches!(
            parse(other.as_bytes()).unwrap().subject,
            Subject::Skip(_)
        ));
    }
}
