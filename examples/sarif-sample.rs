//! `check`'s findings as SARIF, until `check --output sarif` exists: runs `check` on the
//! files given, locates each finding with `cli::position` and prints the SARIF log
//! (`cli::sarif`) on stdout, for `tests/sarif/run.sh` to hand to real SARIF consumers.
//!
//! ```text
//! cargo run --example sarif-sample -- FILE...
//! ```
//!
//! The report has no rule ids yet, so a finding's rule here is its kind: the field error's
//! `StatusCause` reason (`FieldValueInvalid`, ...) for an error, `Warning` for a warning.

use std::process::ExitCode;

use ibgu_webhook::cli::check::{self, Input};
use ibgu_webhook::cli::position::{self, Positions};
use ibgu_webhook::cli::sarif::{self, Finding, Level, Rule};
use ibgu_webhook::model::field::ErrorType;
use ibgu_webhook::policy::Config;

const KINDS: [ErrorType; 9] = [
    ErrorType::NotFound,
    ErrorType::Required,
    ErrorType::Duplicate,
    ErrorType::Invalid,
    ErrorType::NotSupported,
    ErrorType::Forbidden,
    ErrorType::TooLong,
    ErrorType::TooMany,
    ErrorType::TypeInvalid,
];

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: sarif-sample FILE...");
        return ExitCode::from(2);
    }
    let mut inputs = Vec::new();
    let mut positions: Vec<Vec<Positions>> = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        match Input::parse(file, &text) {
            Ok(input) => inputs.push(input),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
        positions.push(position::index(&text));
    }
    let report = check::run(&Config::default(), &inputs, &[], "default");

    let mut rules: Vec<Rule> = KINDS
        .iter()
        .map(|k| Rule {
            id: k.cause().to_owned(),
            name: k.as_str().replace(' ', ""),
            description: format!("{}: the apiserver would deny the object", k.as_str()),
        })
        .collect();
    rules.push(Rule {
        id: "Warning".to_owned(),
        name: "Warning".to_owned(),
        description: "The apiserver would admit the object with this warning".to_owned(),
    });

    let mut findings = Vec::new();
    for o in &report.objects {
        let Some(file_index) = files.iter().position(|f| *f == o.file) else {
            continue;
        };
        // `document` counts from 1, after List expansion, as `position::index` does.
        let doc = o
            .document
            .checked_sub(1)
            .and_then(|i| positions[file_index].get(i));
        let at = |field: &str| doc.and_then(|d| d.of(field));
        for e in &o.errors {
            findings.push(Finding {
                rule_id: e.error.kind.cause().to_owned(),
                level: Level::Error,
                message: e.message.clone(),
                file: o.file.clone(),
                position: at(e.error.field.as_str()),
            });
        }
        for w in &o.warnings {
            // A warning's text starts with its field path: `spec.plan[0]: ...`.
            let field = w.split_once(": ").map_or("", |(field, _)| field);
            findings.push(Finding {
                rule_id: "Warning".to_owned(),
                level: Level::Warning,
                message: w.clone(),
                file: o.file.clone(),
                position: at(field),
            });
        }
    }
    let log = match sarif::log(&rules, &findings) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("sarif-sample: {e}");
            return ExitCode::from(2);
        }
    };
    match serde_json::to_string_pretty(&log) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sarif-sample: {e}");
            ExitCode::from(2)
        }
    }
}
