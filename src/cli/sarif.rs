//! `check`'s findings as SARIF 2.1.0, the OASIS format code-scanning UIs read to annotate
//! a pull request's lines.
//!
//! Only the parts used are modelled: one run, its tool's rules, and results with a level,
//! a message and the file, line and column they are about. Columns count Unicode code
//! points ([`Position`] counts characters), which the run says in `columnKind`.
//!
//! Every finding's rule must be in the rules given: its `ruleIndex` points into them, and a
//! result whose rule is not described would be shown without a name. A finding with an
//! unknown rule is an [`Error::UnknownRule`], not a rule made up on the fly, so that a
//! mapping that forgets a rule fails its tests instead of shipping a nameless one.

use serde::Serialize;

use super::position::Position;

/// The schema GitHub's code scanning documents for uploads.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A rule findings can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A stable identifier (`ruleId`), such as `plan-shape`.
    pub id: String,
    /// A name a user reads, such as `PlanShape` (left out of the log when it is the id).
    pub name: String,
    /// One sentence saying what the rule checks.
    pub description: String,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The apiserver would deny the object.
    Error,
    /// The object would be admitted with a warning.
    Warning,
}

/// One finding, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's `id`.
    pub rule_id: String,
    /// Error or warning.
    pub level: Level,
    /// The whole message, as the text report prints it.
    pub message: String,
    /// The file as named on the command line (`-` for stdin).
    pub file: String,
    /// Where in the file, when known.
    pub position: Option<Position>,
}

/// Findings that cannot be written as SARIF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A finding names a rule that is not among the rules given.
    #[error("finding {index} names rule {rule_id:?}, which is not among the rules described")]
    UnknownRule {
        /// The finding's index in the findings given.
        index: usize,
        /// The rule it names.
        rule_id: String,
    },
    /// Two rules have the same id, so a `ruleIndex` could not say which.
    #[error("rule {0:?} is described twice")]
    DuplicateRule(String),
}

/// A SARIF log (`sarifLog`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    column_kind: &'static str,
    results: Vec<ResultObject>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Tool {
    driver: Driver,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    information_uri: Option<&'static str>,
    rules: Vec<ReportingDescriptor>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: String,
    // SARIF §3.49.7: a name identical to the id must be left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    short_description: Message,
    // GitHub code scanning requires both; the description is all there is to say.
    full_description: Message,
    help: Message,
}

#[derive(Debug, Clone, Serialize)]
struct Message {
    text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultObject {
    rule_id: String,
    rule_index: usize,
    level: Level,
    message: Message,
    locations: Vec<Location>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Debug, Clone, Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    start_column: u32,
}

/// The SARIF log of `findings`, in their order, with `rules` as the tool's rules.
pub fn log(rules: &[Rule], findings: &[Finding]) -> Result<Log, Error> {
    for (i, r) in rules.iter().enumerate() {
        if rules[..i].iter().any(|earlier| earlier.id == r.id) {
            return Err(Error::DuplicateRule(r.id.clone()));
        }
    }
    let results = findings
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let rule_index = rules
                .iter()
                .position(|r| r.id == f.rule_id)
                .ok_or_else(|| Error::UnknownRule {
                    index,
                    rule_id: f.rule_id.clone(),
                })?;
            Ok(ResultObject {
                rule_id: f.rule_id.clone(),
                rule_index,
                level: f.level,
                message: Message {
                    text: f.message.clone(),
                },
                locations: vec![Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(&f.file) },
                        region: f.position.map(|p| Region {
                            start_line: p.line,
                            start_column: p.column,
                        }),
                    },
                }],
            })
        })
        .collect::<Result<_, Error>>()?;
    let repository = env!("CARGO_PKG_REPOSITORY");
    Ok(Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "ibgu-webhook",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: (!repository.is_empty()).then_some(repository),
                    rules: rules
                        .iter()
                        .map(|r| ReportingDescriptor {
                            id: r.id.clone(),
                            name: (r.name != r.id).then(|| r.name.clone()),
                            short_description: Message {
                                text: r.description.clone(),
                            },
                            full_description: Message {
                                text: r.description.clone(),
                            },
                            help: Message {
                                text: r.description.clone(),
                            },
                        })
                        .collect(),
                },
            },
            column_kind: "unicodeCodePoints",
            results,
        }],
    })
}

/// The artifact URI of a file named on the command line: the path as given with forward
/// slashes and without a leading `./` (code scanning matches it against the repository's
/// paths), percent-encoded where a URI needs it; `file://` for an absolute path; `stdin`
/// for `-`.
pub fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".to_owned();
    }
    let mut path = file.replace('\\', "/");
    while let Some(rest) = path.strip_prefix("./") {
        path = rest.to_owned();
    }
    let absolute = path.starts_with('/');
    let mut out = String::with_capacity(path.len() + 8);
    if absolute {
        out.push_str("file://");
    }
    for b in path.bytes() {
        // RFC 3986's unreserved characters and the separator; ':' is escaped so that a
        // first segment such as `c:` is not read as a scheme.
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rules() -> Vec<Rule> {
        vec![
            Rule {
                id: "plan-shape".into(),
                name: "PlanShape".into(),
                description: "The plan is one TALM supports.".into(),
            },
            Rule {
                id: "rollout-strategy".into(),
                name: "RolloutStrategy".into(),
                description: "Every step says how many clusters at once.".into(),
            },
        ]
    }

    fn finding(rule: &str, level: Level, file: &str, position: Option<(u32, u32)>) -> Finding {
        Finding {
            rule_id: rule.into(),
            level,
            message: format!("{rule} says so"),
            file: file.into(),
            position: position.map(|(line, column)| Position { line, column }),
        }
    }

    fn json_of(log: &Log) -> Value {
        serde_json::to_value(log).expect("a log serializes")
    }

    #[test]
    fn the_log_has_the_shape_code_scanning_reads() {
        let findings = [
            finding(
                "rollout-strategy",
                Level::Warning,
                "deploy/a.yaml",
                Some((9, 7)),
            ),
            finding("plan-shape", Level::Error, "-", None),
        ];
        let v = json_of(&log(&rules(), &findings).expect("known rules"));
        assert_eq!(v["$schema"], SCHEMA);
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(v["runs"].as_array().map(Vec::len), Some(1));
        assert_eq!(run["columnKind"], "unicodeCodePoints");
        let driver = &run["tool"]["driver"];
        assert_eq!(driver["name"], "ibgu-webhook");
        assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
        assert!(
            driver.get("informationUri").is_none(),
            "no project URL in Cargo.toml"
        );
        assert_eq!(
            driver["rules"][1],
            json!({"id": "rollout-strategy", "name": "RolloutStrategy",
                   "shortDescription": {"text": "Every step says how many clusters at once."},
                   "fullDescription": {"text": "Every step says how many clusters at once."},
                   "help": {"text": "Every step says how many clusters at once."}})
        );
        assert_eq!(
            run["results"][0],
            json!({
                "ruleId": "rollout-strategy",
                "ruleIndex": 1,
                "level": "warning",
                "message": {"text": "rollout-strategy says so"},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": "deploy/a.yaml"},
                    "region": {"startLine": 9, "startColumn": 7}
                }}]
            })
        );
        let second = &run["results"][1];
        assert_eq!(second["ruleIndex"], 0);
        assert_eq!(second["level"], "error");
        let place = &second["locations"][0]["physicalLocation"];
        assert_eq!(place["artifactLocation"]["uri"], "stdin");
        assert!(place.get("region").is_none(), "no position, no region");
    }

    #[test]
    fn a_name_identical_to_the_id_is_left_out() {
        let same = [Rule {
            id: "Warning".into(),
            name: "Warning".into(),
            description: "d".into(),
        }];
        let v = json_of(&log(&same, &[]).expect("one rule"));
        let rule = &v["runs"][0]["tool"]["driver"]["rules"][0];
        assert_eq!(rule["id"], "Warning");
        assert!(rule.get("name").is_none(), "{rule}");
    }

    #[test]
    fn no_findings_is_an_empty_results_list() {
        let v = json_of(&log(&rules(), &[]).expect("no findings"));
        assert_eq!(v["runs"][0]["results"], json!([]));
    }

    #[test]
    fn a_finding_of_an_unknown_rule_is_an_error() {
        let findings = [
            finding("plan-shape", Level::Error, "a.yaml", None),
            finding("made-up", Level::Error, "a.yaml", None),
        ];
        let e = log(&rules(), &findings).expect_err("made-up is not a rule");
        assert_eq!(
            e,
            Error::UnknownRule {
                index: 1,
                rule_id: "made-up".into()
            }
        );
        assert!(e.to_string().contains("\"made-up\""), "{e}");
    }

    #[test]
    fn a_rule_described_twice_is_an_error() {
        let mut twice = rules();
        twice.push(twice[0].clone());
        let e = log(&twice, &[]).expect_err("plan-shape twice");
        assert_eq!(e, Error::DuplicateRule("plan-shape".into()));
    }

    #[test]
    fn uris_are_relative_paths_with_forward_slashes() {
        assert_eq!(uri("deploy/ibgu.yaml"), "deploy/ibgu.yaml");
        assert_eq!(uri("./deploy/ibgu.yaml"), "deploy/ibgu.yaml");
        assert_eq!(uri("deploy\\win\\ibgu.yaml"), "deploy/win/ibgu.yaml");
        assert_eq!(uri("my plans/é.yaml"), "my%20plans/%C3%A9.yaml");
        assert_eq!(uri("c:/x.yaml"), "c%3A/x.yaml");
        assert_eq!(uri("/tmp/a#b.yaml"), "file:///tmp/a%23b.yaml");
        assert_eq!(uri("-"), "stdin");
    }
}
