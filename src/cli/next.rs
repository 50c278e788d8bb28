//! `ibgu-webhook next`: what may be appended to a live plan now ([`policy::next`]), for
//! people (text) and scripts (JSON), with the `kubectl patch` that appends each
//! continuation the webhook would admit.
//!
//! With the manifest in git that holds the object (GitOps ZTP), it also proposes the step
//! for the manifest, as text in the file's own style ([`git_manifest`](super::git_manifest)).
//!
//! The patch is a JSON Patch: an `add` to `/spec/plan/-` appends one step (a merge patch
//! would replace the whole plan). When the object read has a `resourceVersion`, a `test`
//! of it comes first: the apiserver applies the whole patch to the object as stored, so
//! the append fails, and nothing changes, if the object changed since it was read.
//!
//! ```
//! use ibgu_webhook::cli::next::{self, Report};
//! use ibgu_webhook::policy::Config;
//!
//! let object = serde_json::json!({
//!     "apiVersion": "lcm.openshift.io/v1alpha1", "kind": "ImageBasedGroupUpgrade",
//!     "metadata": {"name": "u", "namespace": "ztp", "generation": 1, "resourceVersion": "7"},
//!     "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/seed:4.20", "version": "4.20.0"}},
//!              "plan": [{"actions": ["Prep"], "rolloutStrategy": {"maxConcurrency": 5, "timeout": 60}}]},
//!     "status": {"observedGeneration": 1, "clusters": [
//!         {"name": "sno2", "failedActions": [{"action": "Prep", "message": "timed out"}]}]}});
//! let report = Report::of(&Config::default(), &object).expect("a readable IBGU");
//! assert_eq!(report.exit_code(), 0);
//! let abort = report.proposals.iter().find(|p| p.actions == ["AbortOnFailure"]).expect("an AbortOnFailure proposal");
//! assert_eq!(
//!     abort.command,
//!     r#"kubectl patch ibgu u -n ztp --type=json -p '[{"op":"test","path":"/metadata/resourceVersion","value":"7"},{"op":"add","path":"/spec/plan/-","value":{"actions":["AbortOnFailure"],"rolloutStrategy":{"maxConcurrency":5,"timeout":240}}}]'"#
//! );
//! ```

use std::fmt::Write as _;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, TestOperation};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::check::{Input, is_ibgu};
use crate::cli::git_manifest::{Edit, Manifest, ManifestError, PlanMatch};
use crate::cli::plan_text::NewStep;
use crate::model::field::FieldError;
use crate::model::{self as ibgu, ImageBasedGroupUpgrade};
use crate::policy::Config;
use crate::policy::next::{self, Continuation, Live, Next, Reach, Said, State};
use crate::policy::rule::Rule;
use crate::policy::rules::append_when_idle;

/// Why `next` cannot judge its input.
#[derive(Debug, thiserror::Error)]
pub enum NextError {
    /// The input holds no ImageBasedGroupUpgrade, or several.
    #[error(
        "{file}: holds {count} ImageBasedGroupUpgrades; give exactly one, as `kubectl get ibgu NAME -o yaml` prints it"
    )]
    NotOne {
        /// The file, as named on the command line.
        file: String,
        /// How many it holds.
        count: usize,
    },
    /// The object has a field of the wrong type.
    #[error("{file}: {error}")]
    Unreadable {
        /// The file.
        file: String,
        /// The field at fault.
        error: FieldError,
    },
    /// The manifest cannot be used.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `--actions` names no continuation.
    #[error(
        "--actions {wanted}: not a step that may follow the plan; the continuations are {continuations}"
    )]
    NotAContinuation {
        /// What was asked for, as given.
        wanted: String,
        /// The continuations, as `--actions` takes them.
        continuations: String,
    },
}

/// The one ImageBasedGroupUpgrade of `input` (a `List` with one item counts).
pub fn the_one(input: &Input) -> Result<&Value, NextError> {
    let found: Vec<&Value> = input.documents.iter().filter(|d| is_ibgu(d)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(NextError::NotOne {
            file: input.file.clone(),
            count: found.len(),
        }),
    }
}

/// A continuation the webhook would admit, and how to append it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proposal {
    /// The step's actions.
    pub actions: Vec<&'static str>,
    /// The JSON Patch that appends it.
    pub patch: Patch,
    /// The `kubectl patch` command that sends it, quoted for a POSIX shell.
    pub command: String,
    /// With a manifest whose plan is the hub's: the text that appends the step to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Edit>,
}

/// What `next --manifest` says of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReport {
    /// The manifest file, as named on the command line.
    pub file: String,
    /// The document holding the live object, from 1.
    pub document: usize,
    /// How its plan stands to the hub's.
    pub plan: PlanMatch,
    /// What `next` proposes for it.
    pub outcome: Outcome,
    /// Why nothing is proposed, when nothing is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The step proposed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Vec<&'static str>>,
    /// Its text and where it goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edit: Option<Edit>,
    /// With several continuations admitted and no `--actions`: the ones to choose from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choose: Vec<Vec<&'static str>>,
    /// Whether the step was written into the file (`--write`).
    pub written: bool,
}

/// What `next` proposes for a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// One step, the only continuation admitted or the one `--actions` names.
    Proposed,
    /// Several continuations would be admitted: `--actions` says which.
    Choose,
    /// Git's plan is not the hub's: nothing can be proposed for it.
    PlanDiffers,
    /// Not now (state `wait`).
    NotNow,
    /// Nothing may be appended (state `complete` or `blocked`), or the webhook would deny
    /// the step `--actions` names.
    Nothing,
}

/// What `next` prints: the decision, and the proposals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The decision.
    #[serde(flatten)]
    pub next: Next,
    /// `metadata.resourceVersion` of the object read, which each patch tests first.
    pub resource_version: Option<String>,
    /// One per continuation the webhook would admit, in the same order.
    pub proposals: Vec<Proposal>,
    /// With `--manifest`: what it proposes for the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReport>,
}

impl Report {
    /// Decides on a stored object's JSON value.
    pub fn of(config: &Config, object: &Value) -> Result<Report, FieldError> {
        let live = Live::from_value(object)?;
        let next = next::next(config, &live);
        let resource_version = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let proposals = next
            .allowed()
            .map(|c| {
                let patch = patch(resource_version.as_deref(), c);
                Proposal {
                    actions: c.actions.clone(),
                    command: command(&next.name, &next.namespace, &patch),
                    patch,
                    manifest: None,
                }
            })
            .collect();
        Ok(Report {
            next,
            resource_version,
            proposals,
            manifest: None,
        })
    }

    /// Adds what to propose for `manifest`, the file in git holding `live` (the object
    /// this report is of): when its plan is the hub's, each proposal's text for it, and
    /// the one step to write, `wanted` (`--actions`) or the only continuation admitted.
    pub fn with_manifest(
        &mut self,
        config: &Config,
        live: &Value,
        manifest: &Manifest<'_>,
        wanted: Option<&[String]>,
    ) -> Result<(), NextError> {
        let doc = manifest.find(&self.next.name, &self.next.namespace)?;
        let stored = ImageBasedGroupUpgrade::stored_from_value(live).map_err(|error| {
            NextError::Unreadable {
                file: manifest.file.to_owned(),
                error,
            }
        })?;
        let (plan, differs) = manifest.compare(config, &stored, doc)?;
        let mut report = ManifestReport {
            file: manifest.file.to_owned(),
            document: doc + 1,
            plan,
            outcome: Outcome::PlanDiffers,
            why: differs,
            step: None,
            edit: None,
            choose: Vec::new(),
            written: false,
        };
        if plan == PlanMatch::Same {
            for (p, c) in self.proposals.iter_mut().zip(self.next.allowed()) {
                let step = NewStep {
                    actions: &c.actions,
                    max_concurrency: c.rollout_strategy.max_concurrency.unwrap_or_default(),
                    timeout: c.rollout_strategy.timeout.unwrap_or_default(),
                };
                p.manifest = Some(manifest.edit(doc, &step)?);
            }
            self.choose(&mut report, wanted)?;
        }
        self.manifest = Some(report);
        Ok(())
    }

    /// The step for a manifest whose plan is the hub's.
    fn choose(&self, m: &mut ManifestReport, wanted: Option<&[String]>) -> Result<(), NextError> {
        let n = &self.next;
        let as_flag = |a: &[&str]| a.join(",");
        let chosen = match wanted {
            Some(w) if !n.continuations.is_empty() => Some(
                n.continuations
                    .iter()
                    .find(|c| c.actions == w)
                    .ok_or_else(|| NextError::NotAContinuation {
                        wanted: w.join(","),
                        continuations: n
                            .continuations
                            .iter()
                            .map(|c| as_flag(&c.actions))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?,
            ),
            _ => None,
        };
        let (outcome, why) = match (n.state, chosen) {
            (State::Wait, _) => (Outcome::NotNow, n.why.clone()),
            (State::Complete | State::Blocked, _) => (Outcome::Nothing, n.why.clone()),
            (State::Ready, Some(c)) if !c.allowed => (
                Outcome::Nothing,
                Some(format!(
                    "the webhook would deny [{}]: {}",
                    c.actions.join(", "),
                    c.errors
                        .iter()
                        .map(|e| e.line.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            ),
            (State::Ready, Some(c)) => {
                m.step = Some(c.actions.clone());
                (Outcome::Proposed, None)
            }
            (State::Ready, None) => match self.proposals.as_slice() {
                [one] => {
                    m.step = Some(one.actions.clone());
                    (Outcome::Proposed, None)
                }
                several => {
                    m.choose = several.iter().map(|p| p.actions.clone()).collect();
                    let flags: Vec<String> = several
                        .iter()
                        .map(|p| format!("--actions {}", as_flag(&p.actions)))
                        .collect();
                    let why = format!(
                        "{} continuations would be admitted: say which goes into the manifest with {}",
                        several.len(),
                        flags.join(", ")
                    );
                    (Outcome::Choose, Some(why))
                }
            },
        };
        m.outcome = outcome;
        m.why = why;
        m.edit = m.step.as_ref().and_then(|step| {
            self.proposals
                .iter()
                .find(|p| &p.actions == step)
                .and_then(|p| p.manifest.clone())
        });
        Ok(())
    }

    /// Reads the one object of `input` and decides on it.
    pub fn of_input(config: &Config, input: &Input) -> Result<Report, NextError> {
        let object = the_one(input)?;
        Report::of(config, object).map_err(|error| NextError::Unreadable {
            file: input.file.clone(),
            error,
        })
    }

    /// The exit code a script branches on: 0 a step may be appended now, 3 not now (wait
    /// and run again), 4 nothing may be appended (the plan is complete, or the webhook
    /// would deny every continuation for a reason waiting does not cure).
    /// With a manifest: 5 when its plan is not the hub's, 4 when the step `--actions`
    /// names would be denied.
    pub fn exit_code(&self) -> u8 {
        match self.manifest.as_ref().map(|m| m.outcome) {
            Some(Outcome::PlanDiffers) => return 5,
            Some(Outcome::Nothing) if self.next.state == State::Ready => return 4,
            _ => {}
        }
        match self.next.state {
            State::Ready => 0,
            State::Wait => 3,
            State::Complete | State::Blocked => 4,
        }
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let n = &self.next;
        let mut s = String::new();
        let steps: Vec<String> = n
            .plan
            .iter()
            .map(|a| format!("[{}]", a.join(", ")))
            .collect();
        let _ = writeln!(s, "{} {}/{}", ibgu::KIND, n.namespace, n.name);
        let seen = match (n.generation, n.observed_generation) {
            (Some(g), Some(o)) => format!(" (generation {g}; TALM has seen generation {o})"),
            (Some(g), None) => format!(" (generation {g}; no status.observedGeneration)"),
            _ => String::new(),
        };
        let _ = writeln!(s, "plan: {}{seen}", steps.join(", "));
        let allowed = self.proposals.len();
        let why = n.why.as_deref().unwrap_or("");
        let _ = match n.state {
            State::Ready => writeln!(
                s,
                "may append now: {allowed} of {} continuation(s) would be admitted",
                n.continuations.len()
            ),
            State::Wait => writeln!(s, "not now: {why}"),
            State::Complete | State::Blocked => writeln!(s, "nothing may be appended: {why}"),
        };
        if !n.running.is_empty() {
            let step = n
                .running_step
                .and_then(|i| Some((i, n.plan.get(i)?)))
                .map(|(i, a)| format!("step {i} [{}]", a.join(", ")))
                .unwrap_or_else(|| "a step".to_owned());
            let names: Vec<String> = n
                .running
                .iter()
                .map(|r| format!("{} ({})", r.cluster, r.action))
                .collect();
            let _ = writeln!(
                s,
                "running: {step} on {} cluster(s): {}",
                n.running.len(),
                names.join(", ")
            );
        }
        if !n.continuations.is_empty() {
            let _ = writeln!(s, "continuations:");
        }
        let mut proposals = self.proposals.iter();
        for c in &n.continuations {
            continuation_text(&mut s, c, n.state == State::Wait);
            if c.allowed
                && let Some(p) = proposals.next()
            {
                let _ = writeln!(s, "    {}", p.command);
            }
        }
        if !n.unreached.is_empty() {
            let _ = writeln!(
                s,
                "no continuation acts on {} listed cluster(s):",
                n.unreached.len()
            );
            for u in &n.unreached {
                let _ = writeln!(s, "  {}: {}", u.cluster, u.why);
            }
        }
        if let (Some(rv), true) = (&self.resource_version, allowed > 0) {
            let _ = writeln!(
                s,
                "Each patch first tests resourceVersion {rv}: it fails, changing nothing, if the object changed since it was read; then run next again."
            );
        }
        if let Some(m) = &self.manifest {
            manifest_text(&mut s, m);
        }
        s
    }
}

/// What `next` proposes for the manifest, for people.
fn manifest_text(s: &mut String, m: &ManifestReport) {
    let _ = write!(s, "manifest {}, document {}: ", m.file, m.document);
    let why = m.why.as_deref().unwrap_or("see above");
    match (m.outcome, &m.step, &m.edit) {
        (Outcome::Proposed, Some(step), Some(edit)) => {
            let _ = writeln!(
                s,
                "its plan is the hub's; [{}] goes in at {}:{}:{}:",
                step.join(", "),
                m.file,
                edit.line,
                edit.column
            );
            let shown = edit.text.replace("\r\n", "\n").replace('\r', "\n");
            let shown = shown.strip_prefix('\n').unwrap_or(&shown);
            s.push_str(shown);
            if !shown.ends_with('\n') {
                s.push('\n');
            }
            let _ = if m.written {
                writeln!(s, "wrote {}: commit it", m.file)
            } else {
                writeln!(
                    s,
                    "--write writes it into {}, changing nothing else",
                    m.file
                )
            };
        }
        (Outcome::Choose, ..) => {
            let _ = writeln!(s, "its plan is the hub's; {why}");
        }
        (Outcome::NotNow, ..) => {
            let _ = writeln!(s, "its plan is the hub's; not now, nothing written");
        }
        _ => {
            let _ = writeln!(s, "{why}; nothing written");
        }
    }
}

/// One continuation; in `wait`, rule 4's error saying so is said once, above.
fn continuation_text(s: &mut String, c: &Continuation, waiting: bool) {
    let rs = &c.rollout_strategy;
    let strategy = format!(
        "maxConcurrency {}, timeout {}",
        rs.max_concurrency.unwrap_or_default(),
        rs.timeout.unwrap_or_default()
    );
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    let reach = match &c.acts_on {
        Reach::EverySelected { listed } => format!(
            "every selected cluster; {} listed: {}",
            listed.len(),
            list(listed)
        ),
        Reach::EverySelectedExcept { except, listed } => {
            let not = if except.is_empty() {
                String::new()
            } else {
                format!("; not {}", except.join(", "))
            };
            format!(
                "every selected cluster that did not complete Upgrade; {} listed: {}{not}",
                listed.len(),
                list(listed)
            )
        }
        Reach::Only { clusters } => format!("{} cluster(s): {}", clusters.len(), list(clusters)),
    };
    let actions: Vec<&str> = c.actions.clone();
    let errors: Vec<&Said> = c
        .errors
        .iter()
        .filter(|e| !waiting || e.rule.map(Rule::id) != Some(append_when_idle::RULE.id))
        .collect();
    let verdict = match (c.allowed, errors.is_empty()) {
        (true, _) => "",
        (false, true) => " (not now)",
        (false, false) => " (would be denied)",
    };
    let _ = writeln!(
        s,
        "  [{}] ({strategy}){verdict}: acts on {reach}",
        actions.join(", ")
    );
    for e in errors {
        let _ = writeln!(s, "    error: {e}");
    }
    for w in &c.warnings {
        let _ = writeln!(s, "    warning: {w}");
    }
}

/// The JSON Patch appending `c`: a test of `resource_version` when known, then the `add`.
pub fn patch(resource_version: Option<&str>, c: &Continuation) -> Patch {
    let mut ops = Vec::new();
    if let Some(rv) = resource_version {
        ops.push(PatchOperation::Test(TestOperation {
            path: PointerBuf::from_tokens(["metadata", "resourceVersion"]),
            value: Value::from(rv),
        }));
    }
    let actions: Vec<&str> = c.actions.clone();
    ops.push(PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(["spec", "plan", "-"]),
        value: json!({"actions": actions, "rolloutStrategy": c.rollout_strategy}),
    }));
    Patch(ops)
}

/// `kubectl patch` sending `patch` to the object, every word quoted for a POSIX shell.
pub fn command(name: &str, namespace: &str, patch: &Patch) -> String {
    // Serialising a Patch of strings and numbers cannot fail.
    let body = serde_json::to_string(patch).unwrap_or_default();
    let mut words = vec!["kubectl patch ibgu".to_owned(), shell_quote(name)];
    if !namespace.is_empty() {
        words.push(format!("-n {}", shell_quote(namespace)));
    }
    words.push("--type=json -p".to_owned());
    words.push(shell_quote(&body));
    words.join(" ")
}

/// `s` as one POSIX shell word: as it is when it has only characters no shell treats
/// specially, else in single quotes, each `'` written `'\''`.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_a_shell() {
        assert_eq!(shell_quote("upgrade-4.20"), "upgrade-4.20");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("a b$c"), "'a b$c'");
        // A shell reads each back as the one word it was.
        for word in [
            "it's",
            "a b$c",
            "`x`",
            "'",
            "\"q\"",
            "[{\"op\":\"add\"}]",
            "x\ny",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(word)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), word);
        }
    }
}
