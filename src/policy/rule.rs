//! What a rule is: its id, number and name, what it reads, and its checks. Each rule
//! module declares one [`Validating`] or [`Mutating`] rule; [`super::rules`] lists them,
//! and the policy, the server's hub lookups and the fixture coverage test all read that
//! list.

use crate::model::ImageBasedGroupUpgrade;
use crate::model::field::{ErrorList, FieldError, Warning};

use super::change::{Change, Config, Requester};
use super::facts::Facts;
use super::patch::Additions;

/// Which webhook: rule numbers count within each, as in `docs/rules.md`; an admission
/// says which one gives its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `/validate`: errors deny, warnings are shown.
    Validating,
    /// `/mutate`: adds what is missing.
    Mutating,
}

/// An outcome a rule's fixtures must show, so that both sides of it are proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// A review the rule lets through.
    Allowed,
    /// A review the rule denies.
    Denied,
    /// A review it warns about.
    Warned,
    /// A review it has nothing to say about.
    Quiet,
    /// A review it patches.
    Patched,
    /// A review it leaves unpatched.
    Unpatched,
}

/// What the checks read besides the objects.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The server's options.
    pub config: &'a Config,
    /// What the hub said.
    pub facts: &'a Facts,
    /// Who asks.
    pub by: Requester<'a>,
}

/// What a validating check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// Violations: any denies the request.
    pub errors: ErrorList,
    /// Shown to the user whatever the verdict.
    pub warnings: Vec<Warning>,
}

impl From<ErrorList> for Findings {
    fn from(errors: ErrorList) -> Self {
        Findings {
            errors,
            warnings: Vec::new(),
        }
    }
}

impl From<FieldError> for Findings {
    fn from(e: FieldError) -> Self {
        Findings::from(std::iter::once(e).collect::<ErrorList>())
    }
}

impl From<Warning> for Findings {
    fn from(w: Warning) -> Self {
        Findings {
            errors: ErrorList::new(),
            warnings: vec![w],
        }
    }
}

impl From<Option<Warning>> for Findings {
    fn from(w: Option<Warning>) -> Self {
        Findings {
            errors: ErrorList::new(),
            warnings: w.into_iter().collect(),
        }
    }
}

/// A check of one object: the new one on CREATE and UPDATE (and the stored one, to ratchet).
pub type ObjectCheck = fn(&ImageBasedGroupUpgrade<'_>, &Context<'_>) -> Findings;
/// A check of an update: the stored object, then the new one.
pub type UpdateCheck =
    fn(&ImageBasedGroupUpgrade<'_>, &ImageBasedGroupUpgrade<'_>, &Context<'_>) -> Findings;
/// A check of a DELETE: the stored object (who deletes it is [`Context::by`]).
pub type DeleteCheck = fn(&ImageBasedGroupUpgrade<'_>, &Context<'_>) -> Findings;
/// A mutation: adds what is missing (to the patch and the mutated copy at once), and
/// says what it filled in.
pub type Mutation = for<'a> fn(Change<'a>, &Context<'_>, &mut Additions<'a>) -> Vec<Warning>;
/// Whether the stored and new objects agree on the part a rule judges as a whole.
pub type Unchanged = fn(&ImageBasedGroupUpgrade<'_>, &ImageBasedGroupUpgrade<'_>) -> bool;

/// How a rule's object check ratchets on UPDATE, as Kubernetes ratchets CRD validation.
#[derive(Debug, Clone, Copy)]
pub enum Ratchet {
    /// Every violation is enforced.
    Never,
    /// A violation the stored object already had (the same field, value and finding) is
    /// not enforced.
    PerField,
    /// As [`Ratchet::PerField`], but only while this part of the object is unchanged: a
    /// rule that judges a whole (the plan's combination) cannot judge a change step by
    /// step, since an appended step makes a stored violation's step part of a new plan.
    WhileUnchanged(Unchanged),
}

/// The Secrets (in the IBGU's namespace) the rule reads for this change: each rule says
/// on which operations, as TALM reads a Secret only at some points of an IBGU's life.
pub type SecretsNeeded = fn(&Config, Change<'_>) -> Vec<String>;

/// A validating rule, declared once. It has no mutation: `/validate` never patches.
#[derive(Clone, Copy)]
pub struct Validating {
    /// Its id, from its module's name: `plan-combination`, as SARIF, the audit
    /// annotations and the docs name it.
    pub id: &'static str,
    /// Its number in `docs/rules.md`.
    pub number: u8,
    /// A short name, as in the docs' table.
    pub name: &'static str,
    /// Whether and how its object check ratchets on UPDATE.
    pub ratchet: Ratchet,
    /// The hub facts it reads.
    pub secrets: Option<SecretsNeeded>,
    /// The outcomes its fixtures must show.
    pub covers: &'static [Side],
    /// Its check of one object: the new one on CREATE and UPDATE.
    pub object: Option<ObjectCheck>,
    /// Its check of a new object, on CREATE only.
    pub create: Option<ObjectCheck>,
    /// Its check of an update.
    pub update: Option<UpdateCheck>,
    /// Its check of an update that reads TALM's live status (the stored object's
    /// `status`): judged only when the old object is as stored ([`Old::Stored`]), since a
    /// manifest from git has none.
    ///
    /// [`Old::Stored`]: super::change::Old::Stored
    pub live: Option<UpdateCheck>,
    /// Its check of a DELETE.
    pub delete: Option<DeleteCheck>,
}

impl Validating {
    /// A validating rule with no checks yet, covering allowed and denied reviews.
    pub const NEW: Validating = Validating {
        id: "",
        number: 0,
        name: "",
        ratchet: Ratchet::Never,
        secrets: None,
        covers: &[Side::Allowed, Side::Denied],
        object: None,
        create: None,
        update: None,
        live: None,
        delete: None,
    };
}

/// A mutating rule, declared once: its mutation, and nothing to check.
#[derive(Clone, Copy)]
pub struct Mutating {
    /// Its id, from its module's name: `rollout-defaults`.
    pub id: &'static str,
    /// Its number in `docs/rules.md`.
    pub number: u8,
    /// A short name, as in the docs' table.
    pub name: &'static str,
    /// The hub facts it reads.
    pub secrets: Option<SecretsNeeded>,
    /// The outcomes its fixtures must show.
    pub covers: &'static [Side],
    /// Its mutation.
    pub mutate: Mutation,
}

/// Any rule of the registry.
#[derive(Clone, Copy)]
pub enum Rule {
    /// A `/validate` rule.
    Validating(&'static Validating),
    /// A `/mutate` rule.
    Mutating(&'static Mutating),
}

impl Rule {
    /// Its id: `plan-combination`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::Validating(r) => r.id,
            Rule::Mutating(r) => r.id,
        }
    }

    /// Its number in `docs/rules.md`, within its kind.
    pub fn number(self) -> u8 {
        match self {
            Rule::Validating(r) => r.number,
            Rule::Mutating(r) => r.number,
        }
    }

    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Validating(r) => r.name,
            Rule::Mutating(r) => r.name,
        }
    }

    /// The outcomes its fixtures must show.
    pub fn covers(self) -> &'static [Side] {
        match self {
            Rule::Validating(r) => r.covers,
            Rule::Mutating(r) => r.covers,
        }
    }

    /// The hub facts it reads.
    pub fn secrets(self) -> Option<SecretsNeeded> {
        match self {
            Rule::Validating(r) => r.secrets,
            Rule::Mutating(r) => r.secrets,
        }
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Rule {}

/// How people read a rule: `validating rule 4`, the label of the text report and the
/// webhook's messages.
impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Rule::Validating(_) => "validating",
            Rule::Mutating(_) => "mutating",
        };
        write!(f, "{kind} rule {}", self.number())
    }
}

/// In reports, a rule is its label: `"validating rule 4"`.
impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self} ({})", self.id())
    }
}
