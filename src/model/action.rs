//! The seven actions a plan step can name, and how they are written.

use std::fmt;

/// A stage transition that TALM drives on the selected clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Move to the Prep stage: pull the seed image, prepare the new stateroot.
    Prep,
    /// Move to the Upgrade stage: pivot to the new stateroot.
    Upgrade,
    /// Move back to Idle after a successful upgrade.
    FinalizeUpgrade,
    /// Move to the Rollback stage on upgraded clusters.
    Rollback,
    /// Move back to Idle after a rollback.
    FinalizeRollback,
    /// Cancel on clusters that are not yet upgraded.
    Abort,
    /// Cancel on clusters that failed Prep or Upgrade.
    AbortOnFailure,
}

impl Action {
    /// All actions, in the order the documentation lists them.
    pub const ALL: [Action; 7] = [
        Action::Prep,
        Action::Upgrade,
        Action::FinalizeUpgrade,
        Action::Rollback,
        Action::FinalizeRollback,
        Action::AbortOnFailure,
        Action::Abort,
    ];

    /// All names, for "supported values" messages.
    pub const NAMES: [&'static str; 7] = [
        "Prep",
        "Upgrade",
        "FinalizeUpgrade",
        "Rollback",
        "FinalizeRollback",
        "AbortOnFailure",
        "Abort",
    ];

    /// The name as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Prep => "Prep",
            Action::Upgrade => "Upgrade",
            Action::FinalizeUpgrade => "FinalizeUpgrade",
            Action::Rollback => "Rollback",
            Action::FinalizeRollback => "FinalizeRollback",
            Action::Abort => "Abort",
            Action::AbortOnFailure => "AbortOnFailure",
        }
    }

    /// Parses a name exactly as TALM compares it (case-sensitive).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes a step the way the documentation does: `[Prep, Upgrade]`.
pub fn step_text(step: &[Action]) -> String {
    let names: Vec<&str> = step.iter().map(|a| a.as_str()).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert!(Action::NAMES.contains(&a.as_str()));
        }
        assert_eq!(Action::parse("prep"), None);
        assert_eq!(
            step_text(&[Action::Prep, Action::Upgrade]),
            "[Prep, Upgrade]"
        );
    }
}
