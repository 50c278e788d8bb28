//! Which endpoint answers, and the AdmissionReview version both serve.

use std::fmt;
use std::str::FromStr;

/// The only AdmissionReview version served (`admissionReviewVersions: [v1]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The AdmissionReview kind.
pub const KIND: &str = "AdmissionReview";

/// Which endpoint answers: `/validate` (a verdict, never a patch) or `/mutate` (a patch,
/// or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/validate`.
    Validate,
    /// `/mutate`.
    Mutate,
}

impl Endpoint {
    /// The endpoint's name, as in its path and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "validate" => Ok(Endpoint::Validate),
            "mutate" => Ok(Endpoint::Mutate),
            other => Err(format!(
                "unknown endpoint {other:?}: use validate or mutate"
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
