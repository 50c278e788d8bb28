//! The step to write, and why it may not be placed.

/// A step to write: its actions and its whole rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewStep<'a> {
    /// The actions, in order.
    pub actions: &'a [&'a str],
    /// `rolloutStrategy.maxConcurrency`.
    pub max_concurrency: i64,
    /// `rolloutStrategy.timeout`.
    pub timeout: i64,
}

/// Why no step can be written into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The positions of the document's fields are unknown.
    #[error("the positions of its fields could not be read")]
    NoPositions,
    /// The document has no `spec.plan` with a step.
    #[error("its spec.plan has no step to follow")]
    NoPlan,
    /// A step is written in a way this module does not read.
    #[error("spec.plan[{index}] is written in a way next does not follow ({what})")]
    Unread {
        /// The step.
        index: usize,
        /// What was not understood.
        what: &'static str,
    },
}
