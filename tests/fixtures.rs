//! Runs every AdmissionReview case in `tests/fixtures/` through the same decision code
//! the server uses, in the style of Kubernetes' testdata.
//!
//! Each case is a folder named `<mode>-<rule>-<what it proves>` with:
//! - `review.json`: an AdmissionReview v1 request as kube-apiserver sends it (usable as is
//!   with `ibgu-webhook review --mode <mode> review.json`);
//! - `expect.json`: `description`, `mode`, `rule` (the id of the rule the case proves, named
//!   in the folder by its number; absent for a case about the admission pipeline itself:
//!   what is judged, patches that only add, `/mutate` validating), `allowed`, `code` (on denial), `message`
//!   (fragments the denial message must contain), `warnings` (one fragment per expected
//!   warning, in order), `patched` (mutate only: the object after the patch, or null for
//!   no patch), and optionally `config` and `hub` (Secret lookups the server would have made).
//!
//! `hub` maps a Secret's name to what the lookup found: `missing`, `unknown: <why>`, or
//! `found` followed by what is worth saying about the Secret, comma-separated:
//! `no-docker-config` (no `.dockerconfigjson` key), `type <type>`, `owned by <Kind/name>`;
//! e.g. `"found, type kubernetes.io/tls, owned by ExternalSecret/seed"`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine;
use ibgu_webhook::admission::{self, Endpoint, Response};
use ibgu_webhook::policy::Config;
use ibgu_webhook::policy::facts::{Facts, FoundSecret, SecretLookup};
use ibgu_webhook::policy::rule::{Rule, Side};
use ibgu_webhook::policy::rules;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `expect.json`; a key it does not know (a misspelt one) is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    description: String,
    mode: String,
    rule: Option<String>,
    allowed: bool,
    code: Option<u16>,
    #[serde(default)]
    message: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
    /// Mutate only: the object after the patch, or null for no patch.
    #[serde(default, deserialize_with = "present")]
    patched: Option<Value>,
    #[serde(default)]
    config: ExpectConfig,
    /// Secret name to `found[, no-docker-config][, type T][, owned by K/N]`, `missing` or
    /// `unknown: <why>`.
    hub: Option<BTreeMap<String, String>>,
    /// The reply's `auditAnnotations`, exactly, when given.
    audit: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExpectConfig {
    default_max_concurrency: Option<i64>,
    seed_pull_secret: Option<String>,
    #[serde(default)]
    require_pull_secret: bool,
    #[serde(default)]
    mutate_without_validation: bool,
}

/// A key that is present, even as `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Expect {
    fn read(dir: &Path) -> Result<Expect, String> {
        let text = fs::read(dir.join("expect.json")).map_err(|e| e.to_string())?;
        serde_json::from_slice(&text).map_err(|e| format!("expect.json: {e}"))
    }

    fn endpoint(&self) -> Result<Endpoint, String> {
        self.mode.parse()
    }

    fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(m) = self.config.default_max_concurrency {
            config.default_max_concurrency = m;
        }
        config.seed_pull_secret = self.config.seed_pull_secret.clone();
        config.require_pull_secret = self.config.require_pull_secret;
        config.validate_on_mutate = !self.config.mutate_without_validation;
        config
    }

    fn facts(&self) -> Result<Facts, String> {
        let Some(map) = &self.hub else {
            return Ok(Facts::Offline);
        };
        let secrets = map
            .iter()
            .map(|(name, v)| {
                Ok((
                    name.clone(),
                    lookup(v).map_err(|e| format!("hub {name:?}: {e}"))?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Facts::Secrets(secrets))
    }
}

/// One `hub` answer, as the file's header describes it.
fn lookup(text: &str) -> Result<SecretLookup, String> {
    if text == "missing" {
        return Ok(SecretLookup::Missing);
    }
    if let Some(why) = text.strip_prefix("unknown: ") {
        return Ok(SecretLookup::Unknown(why.to_owned()));
    }
    let mut parts = text.split(", ");
    if parts.next() != Some("found") {
        return Err(format!("{text:?}: not found..., missing or unknown: ..."));
    }
    let mut secret = FoundSecret::usable();
    for part in parts {
        if part == "no-docker-config" {
            secret.docker_config = false;
        } else if let Some(t) = part.strip_prefix("type ") {
            secret.type_ = Some(t.to_owned());
        } else if let Some(o) = part.strip_prefix("owned by ") {
            secret.owner = Some(o.to_owned());
        } else {
            return Err(format!(
                "{part:?}: not no-docker-config, type T or owned by K/N"
            ));
        }
    }
    Ok(SecretLookup::Found(secret))
}

fn decide(body: &[u8], mode: Endpoint, config: &Config, hub: &Facts) -> Result<Response, String> {
    admission::review_body(body, mode, config, hub).map_err(|e| e.to_string())
}

/// What a case showed: each rule and the sides it proves of it.
type Shown = Vec<(Rule, Side)>;

/// The rules an audit annotation names (`plan-combination at spec.plan[1].actions, ...`):
/// the rules whose findings the reply reports.
fn named_rules(response: &Response, key: &str) -> Vec<Rule> {
    let list = response
        .audit_annotations
        .get(key)
        .map_or("", String::as_str);
    list.split(", ")
        .filter_map(|item| rules::by_id(item.split(" at ").next().unwrap_or_default()))
        .collect()
}

/// Checks one case; returns what is wrong with it.
fn run_case(dir: &Path) -> Result<Shown, Vec<String>> {
    let mut problems = Vec::new();
    let body = fs::read(dir.join("review.json")).map_err(|e| vec![e.to_string()])?;
    let expect = Expect::read(dir).map_err(|e| vec![e])?;
    let review: Value =
        serde_json::from_slice(&body).map_err(|e| vec![format!("review.json: {e}")])?;
    let mode = expect.endpoint().map_err(|e| vec![e])?;
    let (config, hub) = (expect.config(), expect.facts().map_err(|e| vec![e])?);
    let response = decide(&body, mode, &config, &hub).map_err(|e| vec![e])?;

    if let Err(e) = response.check_wire(mode) {
        problems.push(e.to_string());
    }
    if response.uid != review["request"]["uid"].as_str().unwrap_or_default() {
        problems.push(format!("uid {:?} not echoed", response.uid));
    }
    if response.allowed != expect.allowed {
        problems.push(format!(
            "allowed = {}, want {}: {:?}",
            response.allowed, expect.allowed, response.status
        ));
    }
    let message = response
        .status
        .as_ref()
        .map(|s| s.message.clone())
        .unwrap_or_default();
    if let Some(code) = expect.code {
        let got = response.status.as_ref().map(|s| s.code);
        if got != Some(code) {
            problems.push(format!("status.code = {got:?}, want {code}"));
        }
    }
    for fragment in &expect.message {
        if !message.contains(fragment.as_str()) {
            problems.push(format!("message lacks {fragment:?}: {message:?}"));
        }
    }
    if response.warnings.len() != expect.warnings.len()
        || response
            .warnings
            .iter()
            .zip(&expect.warnings)
            .any(|(got, want)| !got.contains(want.as_str()))
    {
        problems.push(format!(
            "warnings {:?}, want fragments {:?}",
            response.warnings, expect.warnings
        ));
    }

    // Every reply says its decision for the audit log, and it agrees with the reply.
    let decision = response
        .audit_annotations
        .get("decision")
        .map_or("", String::as_str);
    let agrees = match (response.allowed, response.patch.is_some()) {
        (false, _) => decision == "denied",
        (true, true) => decision == "patched",
        (true, false) => decision == "allowed" || decision == "skipped",
    };
    if !agrees {
        problems.push(format!(
            "audit decision {decision:?} for allowed = {}, patch = {}",
            response.allowed,
            response.patch.is_some()
        ));
    }
    if let Some(want) = &expect.audit
        && &response.audit_annotations != want
    {
        problems.push(format!(
            "auditAnnotations {:?}, want {want:?}",
            response.audit_annotations
        ));
    }

    // The bytes on the wire: the patch must be a base64 string, never an array of numbers.
    let wire: Value =
        serde_json::from_slice(&response.to_review_json()).map_err(|e| vec![e.to_string()])?;
    let wire_patch = &wire["response"]["patch"];
    if !(wire_patch.is_null() || wire_patch.is_string()) {
        problems.push(format!(
            "patch is not a base64 string on the wire: {wire_patch}"
        ));
    }
    let has_patch = response.patch.is_some();
    match (mode, &expect.patched) {
        (Endpoint::Validate, None) => {}
        (Endpoint::Validate, Some(_)) => {
            problems.push("a validate case expects no patched object".into())
        }
        (Endpoint::Mutate, None) => {
            problems.push("a mutate case says what it patches (`patched`, null for nothing)".into())
        }
        (Endpoint::Mutate, Some(want)) => match (&response.patch, want) {
            (None, Value::Null) => {}
            (None, _) => problems.push("no patch, but a patched object is expected".into()),
            (Some(_), Value::Null) => problems.push("unexpected patch".into()),
            (Some(_), want) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(wire_patch.as_str().unwrap_or_default())
                    .map_err(|e| vec![e.to_string()])?;
                let patch: json_patch::Patch =
                    serde_json::from_slice(&bytes).map_err(|e| vec![e.to_string()])?;
                let mut object = review["request"]["object"].clone();
                match json_patch::patch(&mut object, &patch) {
                    Err(e) => problems.push(format!("patch does not apply: {e}")),
                    Ok(()) if &object != want => problems.push(format!(
                        "patched object differs: got {}",
                        serde_json::to_string(&object).unwrap_or_default()
                    )),
                    Ok(()) => {
                        // Mutating rule 3: mutating the result again yields no patch.
                        let mut again = review.clone();
                        again["request"]["object"] = object;
                        let body = serde_json::to_vec(&again).map_err(|e| vec![e.to_string()])?;
                        match decide(&body, mode, &config, &hub) {
                            Ok(r) if r.patch.is_none() => {}
                            Ok(_) => problems.push("second mutation is not empty".into()),
                            Err(e) => problems.push(e),
                        }
                    }
                }
            }
        },
    }
    // The rules that fired, as the reply names them, are credited with what they did;
    // the rule the case names, with the outcome of the reply only where it did not deny
    // or warn (allowed, quiet, patched or not).
    let (denied, warned) = (
        named_rules(&response, "denied"),
        named_rules(&response, "warned"),
    );
    let named = match expect.rule.as_deref().map(|id| (id, rules::by_id(id))) {
        Some((_, Some(rule))) => Some(rule),
        Some((id, None)) => {
            problems.push(format!("rule {id:?} is not in the registry"));
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut shown: Shown = denied.iter().map(|&r| (r, Side::Denied)).collect();
    shown.extend(warned.iter().map(|&r| (r, Side::Warned)));
    if let Some(rule) = named {
        let side = match (mode, response.allowed, has_patch) {
            (Endpoint::Validate, true, _) => Some(Side::Allowed),
            (Endpoint::Validate, false, _) => None,
            (Endpoint::Mutate, _, true) => Some(Side::Patched),
            (Endpoint::Mutate, _, false) => Some(Side::Unpatched),
        };
        shown.extend(side.map(|s| (rule, s)));
        if !warned.contains(&rule) {
            shown.push((rule, Side::Quiet));
        }
    }
    Ok(shown)
}

#[test]
fn every_admission_review_fixture() {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 50, "only {} fixture cases", dirs.len());
    let mut failures = Vec::new();
    let mut seen: BTreeMap<&str, BTreeSet<Side>> = BTreeMap::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match run_case(dir) {
            Ok(shown) => {
                for (rule, side) in shown {
                    seen.entry(rule.id()).or_default().insert(side);
                }
            }
            Err(problems) => failures.push(format!("{name}:\n    {}", problems.join("\n    "))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every rule of the registry has cases for each side it declares.
    let mut missing = Vec::new();
    for rule in rules::all() {
        let shown = seen.get(rule.id()).cloned().unwrap_or_default();
        for side in rule.covers() {
            if !shown.contains(side) {
                missing.push(format!("{rule:?}: no {side:?} case"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn a_misspelt_expectation_fails() {
    let good =
        json!({"description": "d", "mode": "validate", "rule": "plan-shape", "allowed": true});
    assert!(serde_json::from_value::<Expect>(good.clone()).is_ok());
    for (key, value) in [
        ("warning", json!([])),
        ("mesage", json!([])),
        ("patch", json!(null)),
    ] {
        let mut bad = good.clone();
        bad[key] = value;
        let err = serde_json::from_value::<Expect>(bad)
            .expect_err(key)
            .to_string();
        assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
    }
    let hub = |text: &str| {
        let mut e = good.clone();
        e["hub"] = json!({ "s": text });
        serde_json::from_value::<Expect>(e)
            .expect("an expectation")
            .facts()
    };
    let owned = FoundSecret {
        type_: Some("kubernetes.io/tls".into()),
        owner: Some("ExternalSecret/seed".into()),
        ..FoundSecret::usable()
    };
    assert_eq!(
        hub("found, type kubernetes.io/tls, owned by ExternalSecret/seed"),
        Ok(Facts::Secrets(BTreeMap::from([(
            "s".to_owned(),
            SecretLookup::Found(owned)
        )])))
    );
    for bad in [
        "found, owner ExternalSecret/seed",
        "present",
        "found,type x",
        "no-docker-config",
    ] {
        assert!(hub(bad).is_err(), "{bad}");
    }
    let mut bad = good;
    bad["config"] = json!({"seedPullSecrets": "x"});
    assert!(serde_json::from_value::<Expect>(bad).is_err());
}

#[test]
fn fixture_names_say_mode_and_rule() {
    for entry in fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let expect = Expect::read(&entry.path()).expect("expect.json");
        assert!(
            name.starts_with(&format!("{}-", expect.mode)),
            "{name} does not start with its mode"
        );
        // A case that proves a rule names it by number; one about the pipeline names none.
        let rule = expect.rule.as_deref().and_then(rules::by_id);
        let numbered = rule.map(|r| format!("{}-rule{}-", expect.mode, r.number()));
        assert_eq!(
            name.contains("-rule"),
            numbered.as_ref().is_some_and(|n| name.starts_with(n)),
            "{name} does not name its rule {rule:?}"
        );
        assert!(!expect.description.is_empty(), "{name}: no description");
    }
}

#[test]
fn other_json_shapes_get_a_clear_error_not_a_review() {
    let config = Config::default();
    for (body, want) in [
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": ""}}),
            "not an AdmissionReview",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                               "operation": "CREATE"}}),
            "request.uid is empty",
        ),
        (
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": {"uid": "1", "kind": {"group": "lcm.openshift.io", "version": "v1alpha1",
                               "kind": "ImageBasedGroupUpgrade"}, "operation": "UPDATE", "object": {}}}),
            "UPDATE request has no oldObject",
        ),
    ] {
        let body = serde_json::to_vec(&body).expect("json");
        let err = decide(&body, Endpoint::Validate, &config, &Facts::Offline)
            .expect_err("must be refused");
        assert!(err.contains(want), "{err}");
    }
}

/// The `(number, id)` rows of the table under the header line starting with `header`.
fn table(text: &str, header: &str) -> Vec<(u8, String)> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "no table headed {header:?}");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let number = cells[1].parse().unwrap_or_else(|_| panic!("row {row:?}"));
            (number, cells[2].trim_matches('`').to_owned())
        })
        .collect()
}

#[test]
fn the_docs_tables_list_exactly_the_registry() {
    let read = |f: &str| {
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).expect("the docs")
    };
    let (readme, rules_md) = (read("README.md"), read("docs/rules.md"));
    let registry = |validating: bool| {
        let mut rows: Vec<(u8, String)> = rules::all()
            .filter(|r| matches!(r, Rule::Validating(_)) == validating)
            .map(|r| (r.number(), r.id().to_owned()))
            .collect();
        rows.sort();
        rows
    };
    for (text, header, validating) in [
        (&readme, "| validating | id |", true),
        (&readme, "| mutating | id |", false),
        (&rules_md, "| # | id | rule |", true),
        (&rules_md, "| # | id | change |", false),
    ] {
        assert_eq!(table(text, header), registry(validating), "{header}");
    }
}

#[test]
fn a_case_is_credited_to_the_rules_that_fired_not_the_one_it_names() {
    // A real denial by plan-combination, its expect.json naming plan-shape instead: the
    // denial is plan-combination's, plan-shape was quiet.
    let from = fixtures_dir().join("validate-rule2-prep-then-rollback-denied");
    let dir = std::env::temp_dir().join(format!("ibgu-fixture-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("a scratch folder");
    fs::copy(from.join("review.json"), dir.join("review.json")).expect("review.json");
    let expect = fs::read_to_string(from.join("expect.json")).expect("expect.json");
    let misnamed = expect.replace(r#""rule": "plan-combination""#, r#""rule": "plan-shape""#);
    assert_ne!(misnamed, expect);
    fs::write(dir.join("expect.json"), &misnamed).expect("expect.json");
    let shown = run_case(&dir);
    fs::remove_dir_all(&dir).expect("the scratch folder goes");
    let shown = shown.expect("a passing case");
    let (combination, shape) = (rules::by_id("plan-combination"), rules::by_id("plan-shape"));
    let (combination, shape) = (combination.expect("a rule"), shape.expect("a rule"));
    assert!(shown.contains(&(combination, Side::Denied)), "{shown:?}");
    assert!(!shown.contains(&(shape, Side::Denied)), "{shown:?}");
    assert!(shown.contains(&(shape, Side::Quiet)), "{shown:?}");
}
