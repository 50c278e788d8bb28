//! The upstream oracle for rule 2, shared by the tests that need it: the 26 supported
//! plans, read from the CEL rule "invalid combinations of actions in the plan" of the
//! vendored upstream CRD (`tests/data/upstream/ibgu-crd.yaml`), not from the webhook's
//! own table, so a mistake in that table cannot hide behind itself.
//!
//! Included with `#[path = "support/upstream.rs"] mod upstream;` rather than through
//! `support/mod.rs`, so the tests that need only this do not build the HTTPS client.

use std::path::Path;

use serde_json::Value;

/// A plan: its steps, each the list of its action names.
pub type Plan = Vec<Vec<String>>;

/// The 26 plans, read from the CRD's CEL rule: `[[['Prep']], ...].exists(x, x==self.map(...))`.
pub fn upstream_plans() -> Vec<Plan> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/upstream/ibgu-crd.yaml");
    let text = std::fs::read_to_string(path).expect("vendored CRD");
    let crd: Value = serde_saphyr::from_str(&text).expect("CRD is YAML");
    let rules = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["plan"]["x-kubernetes-validations"];
    let rule = rules
        .as_array()
        .expect("plan validations")
        .iter()
        .find(|r| r["message"] == "invalid combinations of actions in the plan")
        .and_then(|r| r["rule"].as_str())
        .expect("the combination rule");
    let list = &rule[..rule.find(".exists(").expect("an exists() call")];
    // The CEL list literal is JSON once its single quotes are double quotes.
    serde_json::from_str(&list.replace('\'', "\"")).expect("a list of plans")
}
