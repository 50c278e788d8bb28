//! `next --manifest`: the manifest in git that holds the live IBGU (GitOps ZTP). Which of
//! its documents that is, whether its plan is the hub's, and the step `next` proposes
//! written into its text in the file's own style ([`plan_text`]).
//!
//! The edit only inserts. Before it is offered, the text with it is read again as `check`
//! reads files and must give exactly the manifest's documents with the step appended to
//! the plan; anything else is an error and nothing is written.

use serde::Serialize;
use serde_json::{Value, json};

use super::check::{Input, is_ibgu};
use super::plan_text::{self, NewStep, PlaceError};
use crate::model::field::FieldError;
use crate::model::{ImageBasedGroupUpgrade, Step};
use crate::policy::facts::Facts;
use crate::policy::{self, Change, Config, Old, Requester};

/// Why `next --manifest` cannot use the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// No document is the live object.
    #[error(
        "{file}: holds no ImageBasedGroupUpgrade {namespace}/{name} (the live object){}",
        holds_text(.holds)
    )]
    NotThere {
        /// The manifest file.
        file: String,
        /// The live object's name.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The IBGUs the file holds, `namespace/name` (`name` when it names no namespace).
        holds: Vec<String>,
    },
    /// Several documents are.
    #[error("{file}: holds {count} ImageBasedGroupUpgrades named {name}; keep one per object")]
    Several {
        /// The manifest file.
        file: String,
        /// The name.
        name: String,
        /// How many.
        count: usize,
    },
    /// The document has a field of the wrong type.
    #[error("{file}: {error}")]
    Unreadable {
        /// The manifest file.
        file: String,
        /// The field at fault.
        error: FieldError,
    },
    /// The step cannot be written into the text.
    #[error(
        "{file}: cannot write the step into document {document}: {why}; add it to spec.plan by hand: {step}"
    )]
    Place {
        /// The manifest file.
        file: String,
        /// The document, from 1.
        document: usize,
        /// What went wrong.
        why: String,
        /// The step, as JSON (which YAML reads too).
        step: Value,
    },
}

fn holds_text(holds: &[String]) -> String {
    match holds {
        [] => "; it holds no ImageBasedGroupUpgrade".to_owned(),
        _ => format!("; it holds {}", holds.join(", ")),
    }
}

/// A manifest file: its name, its text and its documents as `check` reads them.
#[derive(Debug, Clone, Copy)]
pub struct Manifest<'a> {
    /// The file, as named on the command line.
    pub file: &'a str,
    /// Its text.
    pub text: &'a str,
    /// Its documents, read from `text`.
    pub input: &'a Input,
}

impl Manifest<'_> {
    /// The index of the document that is the live object `name` in `namespace` (a
    /// document naming no namespace is in any: Argo CD gives it the Application's).
    pub fn find(&self, name: &str, namespace: &str) -> Result<usize, ManifestError> {
        let ibgus: Vec<(usize, &Value)> = self
            .input
            .documents
            .iter()
            .enumerate()
            .filter(|(_, d)| is_ibgu(d))
            .collect();
        let meta = |d: &Value, f: &str| {
            d.pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let found: Vec<usize> = ibgus
            .iter()
            .filter(|(_, d)| {
                meta(d, "name").as_deref() == Some(name)
                    && meta(d, "namespace").is_none_or(|ns| ns == namespace)
            })
            .map(|(i, _)| *i)
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ManifestError::NotThere {
                file: self.file.to_owned(),
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                holds: ibgus
                    .iter()
                    .map(|(_, d)| {
                        let name = meta(d, "name").unwrap_or_default();
                        match meta(d, "namespace") {
                            Some(ns) => format!("{ns}/{name}"),
                            None => name,
                        }
                    })
                    .collect(),
            }),
            more => Err(ManifestError::Several {
                file: self.file.to_owned(),
                name: name.to_owned(),
                count: more.len(),
            }),
        }
    }

    /// How document `doc`'s plan stands to the live one: read as the apiserver would
    /// store it over `live` (mutating rule 1 gives a step's omitted rollout fields their
    /// stored values), step by step.
    pub fn compare(
        &self,
        config: &Config,
        live: &ImageBasedGroupUpgrade<'_>,
        doc: usize,
    ) -> Result<(PlanMatch, Option<String>), ManifestError> {
        let value = &self.input.documents[doc];
        let object = ImageBasedGroupUpgrade::from_value(value).map_err(|error| {
            ManifestError::Unreadable {
                file: self.file.to_owned(),
                error,
            }
        })?;
        let stored = policy::mutate(
            config,
            Change::Update {
                old: live,
                new: &object,
                old_as: Old::Stored,
            },
            &Facts::Offline,
            Requester::default(),
        )
        .object;
        Ok(compare_plans(stored.plan(), live.plan()))
    }

    /// The edit appending `step` to document `doc`'s plan, checked: the text with it reads
    /// as the documents with the step appended, and nothing else.
    pub fn edit(&self, doc: usize, step: &NewStep<'_>) -> Result<Edit, ManifestError> {
        let value = json!({
            "actions": step.actions,
            "rolloutStrategy": {"maxConcurrency": step.max_concurrency, "timeout": step.timeout},
        });
        let place = |why: String| ManifestError::Place {
            file: self.file.to_owned(),
            document: doc + 1,
            why,
            step: value.clone(),
        };
        let ins = plan_text::insertion(self.text, &self.input.positions, doc, step)
            .map_err(|e: PlaceError| place(e.to_string()))?;
        let edit = Edit::at(self.text, ins.offset, ins.text);
        let written = edit.apply(self.text);
        let read = Input::parse(self.file, &written)
            .map_err(|e| place(format!("the text with it would not read: {}", e.message)))?;
        let mut want = self.input.documents.clone();
        let plan = want[doc]
            .pointer_mut("/spec/plan")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| place("it has no spec.plan".to_owned()))?;
        plan.push(value.clone());
        if read.documents != want {
            return Err(place(
                "the text with it would not read as the manifest with the step appended".to_owned(),
            ));
        }
        Ok(edit)
    }
}

/// How git's plan stands to the hub's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanMatch {
    /// The same steps.
    Same,
    /// Git has the hub's steps and more: the hub has not taken git's last commit.
    Ahead,
    /// The hub has git's steps and more: a step was appended on the hub, not in git.
    Behind,
    /// A step differs.
    Differs,
}

/// How `git`'s plan (as the hub would store it) stands to `hub`'s, and why when not the
/// same.
pub fn compare_plans(git: &[Step<'_>], hub: &[Step<'_>]) -> (PlanMatch, Option<String>) {
    let same = git.iter().zip(hub).take_while(|(g, h)| g == h).count();
    let steps = |n: usize| format!("{n} step(s)");
    match (same == git.len(), same == hub.len()) {
        (true, true) => (PlanMatch::Same, None),
        (false, true) => (
            PlanMatch::Ahead,
            Some(format!(
                "git is ahead of the hub: the manifest has {}, the hub {}; the hub has not taken spec.plan[{same}] {} yet (not synced, or its sync was refused: see the sync's result); run next again once it has",
                steps(git.len()),
                steps(hub.len()),
                step_text(&git[same]),
            )),
        ),
        (true, false) => (
            PlanMatch::Behind,
            Some(format!(
                "git is behind the hub: the hub has {}, the manifest {}; add spec.plan[{same}] {} to git first (applying the manifest as it is would remove it, which the webhook refuses: validating rule 3)",
                steps(hub.len()),
                steps(git.len()),
                step_text(&hub[same]),
            )),
        ),
        (false, false) => (
            PlanMatch::Differs,
            Some(format!(
                "spec.plan[{same}] differs: the manifest has {}, the hub {}; make git's plan the hub's first (the webhook refuses editing a step: validating rule 3)",
                step_text(&git[same]),
                step_text(&hub[same]),
            )),
        ),
    }
}

/// `[Prep] (maxConcurrency 5, timeout 240)`, with what the step has.
fn step_text(step: &Step<'_>) -> String {
    let rs = step.rollout_strategy.unwrap_or_default();
    let fields: Vec<String> = [
        ("maxConcurrency", rs.max_concurrency),
        ("timeout", rs.timeout),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some(format!("{k} {}", v?)))
    .collect();
    let actions = step.actions_text();
    match fields.as_slice() {
        [] => actions,
        _ => format!("{actions} ({})", fields.join(", ")),
    }
}

/// Text inserted into a file, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edit {
    /// The byte offset it goes at.
    pub offset: usize,
    /// That offset's line, from 1.
    pub line: usize,
    /// Its column, from 1, in characters.
    pub column: usize,
    /// The text, with the file's line endings.
    pub text: String,
}

impl Edit {
    fn at(file_text: &str, offset: usize, text: String) -> Edit {
        let before = &file_text[..offset];
        let breaks = before.matches('\n').count() + before.matches('\r').count()
            - before.matches("\r\n").count();
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        Edit {
            offset,
            line: breaks + 1,
            column: before[line_start..].chars().count() + 1,
            text,
        }
    }

    /// `file_text` with the edit made.
    pub fn apply(&self, file_text: &str) -> String {
        let (before, after) = file_text.split_at(self.offset);
        let mut out = String::with_capacity(file_text.len() + self.text.len());
        out.push_str(before);
        out.push_str(&self.text);
        out.push_str(after);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = r#"{"apiVersion":"lcm.openshift.io/v1alpha1","kind":"ImageBasedGroupUpgrade",
        "metadata":{"name":"u","namespace":"ztp","generation":1},
        "spec":{"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":240}}]}}"#;

    fn manifest_of(text: &str) -> Input {
        Input::parse("m.yaml", text).expect("parses")
    }

    #[test]
    fn finds_the_live_object_by_name_in_any_namespace_it_names_none_of() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\n---\napiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: other, namespace: ztp}\n---\napiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: u}\n";
        let input = manifest_of(text);
        let m = Manifest {
            file: "m.yaml",
            text,
            input: &input,
        };
        assert_eq!(m.find("u", "ztp").ok(), Some(2));
        let err = m.find("v", "ztp").expect_err("not there").to_string();
        assert_eq!(
            err,
            "m.yaml: holds no ImageBasedGroupUpgrade ztp/v (the live object); it holds ztp/other, u"
        );
        let elsewhere = text.replace(
            "metadata: {name: u}\n",
            "metadata: {name: u, namespace: a}\n",
        );
        let input = manifest_of(&elsewhere);
        let m = Manifest {
            file: "m.yaml",
            text: &elsewhere,
            input: &input,
        };
        assert!(m.find("u", "ztp").is_err());
        assert_eq!(m.find("u", "a").ok(), Some(2));
    }

    #[test]
    fn a_plan_is_the_hubs_with_omitted_rollout_fields_taking_the_stored_values() {
        let live: Value = serde_json::from_str(LIVE).expect("json");
        let live = ImageBasedGroupUpgrade::stored_from_value(&live).expect("typed");
        let head = "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: u}\nspec:\n  plan:\n";
        for (plan, want) in [
            ("  - actions: [Prep]\n", PlanMatch::Same),
            (
                "  - actions: [Prep]\n    rolloutStrategy: {maxConcurrency: 5}\n",
                PlanMatch::Same,
            ),
            (
                "  - actions: [Prep]\n    rolloutStrategy: {timeout: 60}\n",
                PlanMatch::Differs,
            ),
            ("  - actions: [Upgrade]\n", PlanMatch::Differs),
            (
                "  - actions: [Prep]\n  - actions: [Upgrade]\n",
                PlanMatch::Ahead,
            ),
        ] {
            let text = format!("{head}{plan}");
            let input = manifest_of(&text);
            let m = Manifest {
                file: "m.yaml",
                text: &text,
                input: &input,
            };
            let (got, why) = m.compare(&Config::default(), &live, 0).expect("readable");
            assert_eq!(got, want, "{plan}");
            assert_eq!(why.is_none(), want == PlanMatch::Same, "{why:?}");
        }
        let (got, why) = compare_plans(&[], live.plan());
        assert_eq!(got, PlanMatch::Behind);
        assert!(
            why.as_deref().is_some_and(|w| w
                .contains("add spec.plan[0] [Prep] (maxConcurrency 5, timeout 240) to git first")),
            "{why:?}"
        );
    }

    #[test]
    fn an_edit_that_would_read_otherwise_is_refused() {
        // A step after a block scalar whose text looks like a comment: the line-based
        // placement puts the step inside the scalar's reach, and reading it back says so.
        let text = "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\nmetadata: {name: u}\nspec:\n  plan:\n  - actions: [Prep]\n    note: |\n      text\n      # not a comment\n";
        let input = manifest_of(text);
        let m = Manifest {
            file: "m.yaml",
            text,
            input: &input,
        };
        let step = NewStep {
            actions: &["Upgrade"],
            max_concurrency: 5,
            timeout: 240,
        };
        let err = m.edit(0, &step).expect_err("refused").to_string();
        assert!(
            err.starts_with("m.yaml: cannot write the step into document 1: the text with it would not read as the manifest with the step appended; add it to spec.plan by hand: {"),
            "{err}"
        );
    }
}
