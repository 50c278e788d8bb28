//! What the policy decides on: the change admitted and the server's options.

use serde::Serialize;

use crate::model::ImageBasedGroupUpgrade;

/// The `maxConcurrency` given to a first step that has none, unless configured.
pub const DEFAULT_MAX_CONCURRENCY: i64 = 10;

/// The server's policy options (the same flags on `serve`, `review` and `check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `maxConcurrency` for a step that has none and no step before it.
    pub default_max_concurrency: i64,
    /// The seed pull secret injected on CREATE, if any.
    pub seed_pull_secret: Option<String>,
    /// Deny, rather than warn, when a named pull secret is missing or unusable.
    pub require_pull_secret: bool,
    /// Whether `/mutate` also refuses what validating the mutated object would refuse.
    pub validate_on_mutate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_max_concurrency: DEFAULT_MAX_CONCURRENCY,
            seed_pull_secret: None,
            require_pull_secret: false,
            validate_on_mutate: true,
        }
    }
}

/// What is being admitted.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new object.
    Create(&'a ImageBasedGroupUpgrade<'a>),
    /// A change to a stored object.
    Update {
        /// The stored object, with TALM's status (or, before merge, the manifest it was
        /// applied from: see [`Old`]).
        old: &'a ImageBasedGroupUpgrade<'a>,
        /// The object as it would be stored.
        new: &'a ImageBasedGroupUpgrade<'a>,
        /// What `old` is known to be.
        old_as: Old,
    },
}

/// What an UPDATE's old object is known to be. The webhook always has the object as
/// stored; a pre-merge check may have only the manifest git holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Old {
    /// The object as the apiserver stores it, TALM's status included: every rule is
    /// judged.
    #[default]
    Stored,
    /// A manifest (no `resourceVersion`, `uid`, `generation` or status): what git can
    /// tell is judged, and the checks that read TALM's live status ([`Rule::live`]) are
    /// not.
    ///
    /// [`Rule::live`]: super::rule::Rule::live
    Manifest,
}

impl<'a> Change<'a> {
    /// The object as it would be stored.
    pub fn new_object(&self) -> &'a ImageBasedGroupUpgrade<'a> {
        match self {
            Change::Create(new) | Change::Update { new, .. } => new,
        }
    }

    /// The stored object, on UPDATE.
    pub fn old_object(&self) -> Option<&'a ImageBasedGroupUpgrade<'a>> {
        match self {
            Change::Create(_) => None,
            Change::Update { old, .. } => Some(old),
        }
    }
}

/// Who asks: `request.userInfo.username`, as the apiserver authenticated it (empty when
/// the review has none). Only validating rule 13 reads it, on a DELETE and on the UPDATE
/// that removes a deleting object's last finalizer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requester<'a> {
    /// The username, such as `system:serviceaccount:kube-system:namespace-controller`.
    pub username: &'a str,
}
